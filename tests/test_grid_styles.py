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


def _regions_read(kind, size, seed, style, px):
    from vlm_puzzle.vision.extract import extract_state
    spec, solution = make_puzzle(kind, size, seed)
    shot = render_puzzle(spec, seed=seed, style=style, solution=solution, size_px=px)
    state = extract_state(_bgr(shot), variants=True, rotate=False)
    return spec, state.variants


def _same_partition(a, b) -> bool:
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    return len(set(zip(a, b))) == len(set(a)) == len(set(b))


@pytest.mark.parametrize("kind,size,px,thin,thick", [
    ("jigsaw", 6, 1787, 1.53, 5.42),     # both widths under 2% of a cell: read by their ratio
    ("jigsaw", 9, 2000, 1.5, 6.0),
])
def test_large_print_thick_lines_read_by_ratio(kind, size, px, thin, thick):
    spec, variants = _regions_read(kind, size, 3, replace(BASE, thin_px=thin, thick_px=thick), px)
    assert variants.cage_style is None and variants.regions is not None
    assert _same_partition(variants.regions, spec.regions)


@pytest.mark.parametrize("kind,px,thin,thick,cells", [
    ("windoku", 385, 1.97, 8.54, False),   # heavy box lines, no cell lines
    ("x-sudoku", 292, 1.9, 5.12, True),    # small print, thin lines read thick
])
def test_box_lines_in_heavy_or_small_prints_are_boxes(kind, px, thin, thick, cells):
    _, variants = _regions_read(kind, 9, 3, replace(BASE, thin_px=thin, thick_px=thick, cell_lines=cells), px)
    assert variants.cage_style is None
    assert variants.regions is not None
    boxes = np.arange(81).reshape(9, 9)
    assert _same_partition(variants.regions, (boxes // 27) * 3 + (boxes % 9) // 3)


def test_a_cell_line_drawn_thick_does_not_make_boxes_kenken_cages():
    """Cell lines drawn as heavy as the box lines over part of their length break the
    boxes into groups without clues: still a sudoku, with the boxes the line widths show."""
    import cv2

    from vlm_puzzle import PuzzleSolver
    spec, solution = make_puzzle("x-sudoku", 9, 4)
    shot = render_puzzle(spec, seed=4, style=replace(BASE, thin_px=1.5, thick_px=5.0), solution=solution, size_px=500)
    image = _bgr(shot).copy()
    lat = np.asarray(shot.truth["lattice"])               # (10, 10, 2) line crossings, x y
    for row, c0, c1 in ((1, 0, 4), (4, 5, 9), (7, 2, 6)):  # three cell lines, under half their length
        y = int(round(lat[row, 0, 1]))
        cv2.line(image, (int(lat[row, c0, 0]), y), (int(lat[row, c1, 0]), y), (0, 0, 0), 5)
    result = PuzzleSolver(backend="geometry").solve_image(image)
    assert result.status == "solved" and result.kind == "x-sudoku"
    assert np.array_equal(np.asarray(result.solution), np.asarray(solution))


def test_numeric_16x16_two_digit_cells_read_as_one_number():
    from vlm_puzzle.vision.extract import extract_state
    spec, solution = make_puzzle("sudoku", 16, 1)
    style = replace(BASE, notation="numeric", thin_px=1.5, thick_px=4.0)
    shot = render_puzzle(spec, seed=1, style=style, solution=solution, size_px=800)
    state = extract_state(_bgr(shot))
    givens = np.asarray(spec.givens)
    assert (givens >= 10).sum() > 20                 # "10".."16" drawn in their cells
    assert state.size == 16 and np.array_equal(np.asarray(state.givens), givens)


@pytest.mark.parametrize("px,thin,thick", [(1186, 5.12, 19.99), (908, 3.1, 12.57)])
def test_heavy_jigsaw_region_lines_photographed_are_regions_not_cages(px, thin, thick):
    """Region lines four times the cell lines, photographed, read as dashed outlines:
    nine groups of nine cells are regions (no killer has them), not killer cages."""
    from vlm_puzzle import PuzzleSolver
    spec, solution = make_puzzle("jigsaw", 9, 8)
    style = replace(BASE, thin_px=thin, thick_px=thick, margin=0.0)
    shot = render_puzzle(spec, seed=8, style=style, solution=solution, size_px=px, photo=True)
    result = PuzzleSolver(backend="geometry").solve_image(_bgr(shot))
    assert result.status == "solved" and result.kind == "jigsaw"
    assert np.array_equal(np.asarray(result.solution), np.asarray(solution))


def test_box_lines_needs_exactly_two_kinds_split_along_one_box_shape():
    from vlm_puzzle.vision.borders import box_line_mask, box_lines
    on = box_line_mask(9, 3, 3)
    assert on.sum() == 2 * 2 * 9                          # two box lines each way, nine edges each
    all_thick = np.ones(len(on), bool)
    assert np.array_equal(box_lines(all_thick, on, 9), on)   # heavy box lines read dashed, the rest thick
    assert box_lines(all_thick, np.zeros(len(on), bool), 9) is None   # one kind: left as it is
    off = on.copy()
    off[0] = ~off[0]                                         # one edge off the pattern: a jigsaw or cages
    assert box_lines(all_thick, off, 9) is None
    assert box_lines(all_thick[:2 * 7 * 6], np.zeros(2 * 7 * 6, bool), 7) is None   # no boxes for 7x7
