"""Real test pictures for the end-to-end tests: puzzles drawn by the project's renderer
(default style) and saved with their ground truth (``.json`` next to the image)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "data" / "photos"


def render_to(out_dir: Path, kind: str = "sudoku", size: int = 9, seed: int = 7) -> Path:
    """Render a generated ``kind`` puzzle into ``out_dir``; returns the image path."""
    from vlm_puzzle.render.generate import generate_puzzle
    from vlm_puzzle.render.rendered import render_puzzle, save_rendered
    from vlm_puzzle.render.style import Style

    spec, solution = generate_puzzle(kind, size, seed=seed)
    img, _ = save_rendered(render_puzzle(spec, seed=seed, style=Style(), solution=solution, size_px=640),
                           Path(out_dir) / f"{kind}_{size}_{seed}")
    return img
