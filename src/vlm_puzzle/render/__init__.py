"""Puzzle generator and renderer: random puzzles with unique solutions of every
kind, drawn as clean prints or photos, with exact ground truth.

    from vlm_puzzle.render.generate import generate_puzzle
    from vlm_puzzle.render import render_puzzle, save_rendered, render_samples, available_fonts

Submodules load lazily (``import vlm_puzzle.render`` pulls in neither OpenCV nor
the solver until a function is used).
"""
from __future__ import annotations

_EXPORTS = {
    "generate_puzzle": "vlm_puzzle.render.generate",
    "GenerationError": "vlm_puzzle.render.generate",
    "render_puzzle": "vlm_puzzle.render.rendered",
    "save_rendered": "vlm_puzzle.render.rendered",
    "Rendered": "vlm_puzzle.render.rendered",
    "render_samples": "vlm_puzzle.render.samples",
    "regenerate_shipped": "vlm_puzzle.render.samples",
    "available_fonts": "vlm_puzzle.render.fonts",
    "Style": "vlm_puzzle.render.style",
    "random_style": "vlm_puzzle.render.style",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vlm_puzzle.render' has no attribute {name!r}")
