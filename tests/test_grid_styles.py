"""Grids drawn in the wide style space (other programs' and publishers' styles) are
located and measured right: real renders in pinned fonts, real OpenCV."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vlm_puzzle.eval.puzzles import make_puzzle
from vlm_puzzle.render.rendered import render_puzzle
from vlm_puzzle.render.style import Style
from vlm_puzzle.vision.grid import cut_sides, locate_grid

BASE = Style(font="DejaVuSans", clue_font="DejaVuSans", ink=(0, 0, 0), line_color=(0, 0, 0))


def _bgr(shot) -> np.ndarray:
    return np.ascontiguousarray(shot.image[..., ::-1])


@pytest.mark.parametrize("size,margin,thin,thick,faint", [
    (4, -0.008, 2.1, 9.8, None),         # cut off beyond its border, thick box lines
    (8, -0.0095, 1.1, 1.1, (157,) * 3),  # cut, faint grey cell lines as wide as the box lines
    (9, 0.0, 1.8, 1.8, (207,) * 3),      # no margin: the border half outside the picture
])
def test_grid_cut_at_the_picture_border_is_located(size, margin, thin, thick, faint):
    spec, solution = make_puzzle("sudoku", size, 5)
    style = replace(BASE, margin=margin, thin_px=thin, thick_px=thick, thin_color=faint, antialias=False)
    shot = render_puzzle(spec, seed=5, style=style, solution=solution, size_px=700)
    loc = locate_grid(_bgr(shot))
    assert loc.lattice.size == size
    cell = 700 / size
    # Corners as drawn (outside the picture where it is cut), within a fifth of a cell.
    assert np.abs(loc.corners - shot.corners).max() < 0.2 * cell


def test_cut_sides_only_where_lines_run_off():
    spec, solution = make_puzzle("sudoku", 9, 5)
    framed = render_puzzle(spec, seed=5, style=replace(BASE, margin=0.05), solution=solution, size_px=500)
    cut = render_puzzle(spec, seed=5, style=replace(BASE, margin=-0.01), solution=solution, size_px=500)
    gray = lambda shot: shot.image.mean(axis=2).astype(np.uint8)  # noqa: E731
    assert cut_sides(gray(framed)) == (False, False, False, False)
    assert cut_sides(gray(cut)) == (True, True, True, True)
