"""vlm_puzzle: solve grid logic puzzles from pictures.

Importing this package is cheap: torch and transformers load only when the
Qwen-VL backend is used.
"""
from vlm_puzzle.spec import Cage, PuzzleSpec, SpecError

__version__ = "0.1.0"
__all__ = ["Cage", "PuzzleSpec", "SpecError", "__version__", "PuzzleSolver", "solve_image",
           "SolveResult", "load_image"]

# Heavier entry points load on first use (PEP 562), keeping `import vlm_puzzle` fast.
_LAZY = {"PuzzleSolver": "vlm_puzzle.pipeline", "solve_image": "vlm_puzzle.pipeline",
         "SolveResult": "vlm_puzzle.result", "load_image": "vlm_puzzle.imageio"}


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'vlm_puzzle' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
