"""The wide style space (``random_style(..., wide=True)`` and the Style fields it draws):
each style family renders with the geometry it promises, measured on the pixels."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vlm_puzzle.render.draw import cage_label, symbol
from vlm_puzzle.render.rendered import render_puzzle
from vlm_puzzle.render.style import Style, random_style, wide_side
from vlm_puzzle.spec import Cage, PuzzleSpec

BASE = Style(font="DejaVuSans", clue_font="DejaVuSans", ink=(0, 0, 0), line_color=(0, 0, 0))
EMPTY9 = PuzzleSpec.sudoku([[0] * 9 for _ in range(9)])


def kenken4() -> PuzzleSpec:
    # Cages: two 2-cell rows on top, then a 2x2 block, a column pair and two singles.
    cages = [Cage(((0, 0), (0, 1)), "add", 3, False), Cage(((0, 2), (0, 3)), "mul", 12, False),
             Cage(((1, 0), (1, 1), (2, 0), (2, 1)), "add", 10, False), Cage(((1, 2), (2, 2)), "sub", 1, False),
             Cage(((1, 3), (2, 3)), "div", 2, False), Cage(((3, 0), (3, 1)), "sub", 1, False),
             Cage(((3, 2),), None, 4, False), Cage(((3, 3),), None, 1, False)]
    return PuzzleSpec.kenken(4, cages)


def grey(shot) -> np.ndarray:
    return shot.image.astype(int).mean(axis=2)


def run_width(profile: np.ndarray, centre: int, dark: float = 128) -> int:
    """Length of the run of dark pixels through ``centre`` of a 1-D profile."""
    lo = hi = centre
    while lo > 0 and profile[lo - 1] < dark:
        lo -= 1
    while hi + 1 < len(profile) and profile[hi + 1] < dark:
        hi += 1
    return hi - lo + 1 if profile[centre] < dark else 0


@pytest.mark.parametrize("thin,thick", [(1.0, 1.5), (3.0, 9.0), (6.0, 12.0)])
def test_line_widths_in_pixels(thin, thick):
    style = replace(BASE, thin_px=thin, thick_px=thick, antialias=False)
    shot = render_puzzle(EMPTY9, seed=1, style=style, size_px=600)
    g, lat = grey(shot), np.asarray(shot.truth["lattice"])
    row = g[int(lat[4, 0, 1] + lat[5, 0, 1]) // 2]           # a row through the middle of cell row 4
    xs = lat[0, :, 0]
    # Hard-edged polygons cover whole pixels: a fractional width rounds either way.
    assert abs(run_width(row, int(round(xs[1]))) - thin) <= 1.5    # a cell line
    assert abs(run_width(row, int(round(xs[3]))) - thick) <= 1.5   # a box line
    assert shot.truth["style"]["thin_px"] == thin and shot.truth["style"]["thick_px"] == thick


def test_hard_edged_has_no_grey_edges_and_antialiased_has():
    spec = kenken4()
    style = replace(BASE, thin_px=2.3, thick_px=6.7)
    hard = grey(render_puzzle(spec, seed=1, style=replace(style, antialias=False), size_px=400))
    soft = grey(render_puzzle(spec, seed=1, style=style, size_px=400))
    between = lambda g: int(((g > 20) & (g < 235)).sum())  # noqa: E731
    assert between(hard) == 0
    assert between(soft) > 500


@pytest.mark.parametrize("margin", [0.0, 0.2, -0.01])
def test_margins_none_wide_and_cut(margin):
    shot = render_puzzle(EMPTY9, seed=1, style=replace(BASE, margin=margin), size_px=500)
    x0 = shot.corners[0, 0]
    assert x0 == pytest.approx(margin * 500, abs=0.5)
    if margin < 0:  # the grid's outer line lies outside the picture
        assert (shot.corners < 0).any() and (shot.corners > 500).any()


def _mid_edge(g, lat, r, c, vertical: bool, half: int = 2) -> float:
    """Mean grey along the middle third of the cell edge right of (vertical) or below cell (r, c)."""
    if vertical:
        x = int(round(lat[r, c + 1, 0]))
        y0, y1 = lat[r, c + 1, 1], lat[r + 1, c + 1, 1]
        ys = slice(int(y0 + (y1 - y0) / 3), int(y1 - (y1 - y0) / 3))
        return float(g[ys, x - half:x + half + 1].min(axis=1).mean())
    y = int(round(lat[r + 1, c, 1]))
    x0, x1 = lat[r + 1, c, 0], lat[r + 1, c + 1, 0]
    xs = slice(int(x0 + (x1 - x0) / 3), int(x1 - (x1 - x0) / 3))
    return float(g[y - half:y + half + 1, xs].min(axis=0).mean())


def test_kenken_cages_only_without_cell_lines():
    shot = render_puzzle(kenken4(), seed=1, style=replace(BASE, cell_lines=False, thin_px=2, thick_px=6), size_px=400)
    g, lat = grey(shot), np.asarray(shot.truth["lattice"])
    assert _mid_edge(g, lat, 0, 0, vertical=True) > 240    # inside the cage at the top left: no line
    assert _mid_edge(g, lat, 0, 1, vertical=True) < 40     # between two cages: a thick line


def test_faint_cell_lines_dark_borders_same_width():
    style = replace(BASE, thin_px=3, thick_px=3, thin_color=(180, 180, 180), antialias=False)
    shot = render_puzzle(kenken4(), seed=1, style=style, size_px=400)
    g, lat = grey(shot), np.asarray(shot.truth["lattice"])
    assert _mid_edge(g, lat, 0, 0, vertical=True, half=0) == pytest.approx(180, abs=2)
    assert _mid_edge(g, lat, 0, 1, vertical=True, half=0) < 5
    row = g[int((lat[0, 0, 1] + lat[1, 0, 1]) / 2)]
    assert run_width(row, int(round(lat[0, 1, 0])), dark=230) == run_width(row, int(round(lat[0, 2, 0]))) == 3


def test_solid_killer_cages_and_no_box_lines():
    cages = [Cage(((r, c), (r, c + 1)), "sum", 3) for r in range(4) for c in (0, 2)]
    spec = PuzzleSpec.killer(cages, size=4)
    shot = render_puzzle(spec, seed=1, style=replace(BASE, killer_solid=True, thin_px=2, thick_px=8,
                                                       antialias=False), size_px=400)
    g, lat = grey(shot), np.asarray(shot.truth["lattice"])
    row = g[int((lat[0, 0, 1] + lat[1, 0, 1]) / 2)]
    assert run_width(row, int(round(lat[0, 2, 0]))) == 8     # cage border (also a box line)
    col = g[:, int((lat[0, 0, 0] + lat[0, 1, 0]) / 2)]
    assert run_width(col, int(round(lat[2, 0, 1]))) == 8     # cage border between rows 1 and 2
    assert run_width(col, int(round(lat[1, 0, 1]))) == 8
    # A dashed inset outline would leave dark pixels inside the cells; a solid-cage style has none.
    cell = shot.truth["cell_px"]
    inner = g[int(lat[0, 0, 1] + 0.06 * cell):int(lat[0, 0, 1] + 0.14 * cell),
              int(lat[0, 0, 0] + 0.4 * cell):int(lat[0, 1, 0] - 0.1 * cell)]
    assert inner.min() > 200


def test_clue_size_offset_and_colour():
    style = replace(BASE, clue_scale=0.4, clue_offset=(0.1, 0.08), clue_ink=(200, 0, 0), antialias=False)
    shot = render_puzzle(kenken4(), seed=1, style=style, size_px=400)
    img, lat = shot.image.astype(int), np.asarray(shot.truth["lattice"])
    cell = shot.truth["cell_px"]
    x0, y0 = lat[0, 0]
    patch = img[int(y0):int(y0 + cell), int(x0):int(x0 + cell)]
    red = (patch[..., 0] > 150) & (patch[..., 1] < 60)
    ys, xs = np.nonzero(red)
    assert len(ys) > 50
    assert (ys.max() - ys.min() + 1) / cell == pytest.approx(0.4, abs=0.05)   # "3+": digit height
    assert ys.min() / cell == pytest.approx(0.08, abs=0.05) and xs.min() / cell == pytest.approx(0.1, abs=0.05)


def test_operator_glyphs_and_single_cells():
    style = replace(BASE, op_glyphs=("+", "-", "*", ":"))
    assert cage_label(Cage(((0, 0), (0, 1)), "mul", 12, False), style) == "12*"
    assert cage_label(Cage(((0, 0), (0, 1)), "div", 2, False), style) == "2:"
    assert cage_label(Cage(((0, 0),), None, 4, False), style) == "4"
    unicode = replace(BASE, op_glyphs=("+", "\u2212", "\u00d7", "\u00f7"))
    assert cage_label(Cage(((0, 0), (0, 1)), "div", 2, False), unicode) == "2\u00f7"


@pytest.mark.parametrize("notation,expect,twelve", [
    ("numeric", ["1", "9", "10", "16"], "12"), ("hex0", ["0", "8", "9", "F"], "12"),
    ("hexA", ["1", "9", "A", "G"], "C"), ("hexa", ["1", "9", "a", "g"], "c")])
def test_12x12_and_16x16_notations(notation, expect, twelve):
    style = replace(BASE, notation=notation)
    assert [symbol(v, style, 16) for v in (1, 9, 10, 16)] == expect
    assert symbol(12, style, 12) == twelve        # 0-F is a 16x16 notation only
    assert symbol(9, style, 9) == "9"


def test_killer_sum_inside_an_unbroken_outline():
    cages = [Cage(((r, c), (r, c + 1)), "sum", 13) for r in range(4) for c in (0, 2)]
    spec = PuzzleSpec.killer(cages, size=4)
    style = replace(BASE, thin_px=2, thick_px=6, clue_scale=0.2, clue_offset=(0.05, 0.05), clue_ink=(200, 0, 0),
                    cage_color=(0, 0, 0), antialias=False)
    for sum_gap in (True, False):
        shot = render_puzzle(spec, seed=1, style=replace(style, sum_gap=sum_gap), size_px=400)
        img, lat = shot.image.astype(int), np.asarray(shot.truth["lattice"])
        cell = shot.truth["cell_px"]
        x0, y0 = int(lat[0, 0, 0] + 4), int(lat[0, 0, 1] + 4)      # inside the border line
        patch = img[y0:int(y0 + 0.5 * cell), x0:int(x0 + 0.6 * cell)]
        ys, xs = np.nonzero((patch[..., 0] > 150) & (patch[..., 1] < 60))   # the red sum
        box = patch[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        outline = int((box.max(axis=2) < 80).sum())                          # black: the dashed outline
        assert (outline > 0) == (not sum_gap)


def test_numeric_16x16_draws_two_digit_numbers_inside_their_cells():
    rows = [[0] * 16 for _ in range(16)]
    rows[0][0], rows[5][7] = 16, 11
    shot = render_puzzle(PuzzleSpec.sudoku(rows), seed=1, style=replace(BASE, notation="numeric"), size_px=640)
    g, lat = grey(shot), np.asarray(shot.truth["lattice"])
    for r, c in ((0, 0), (5, 7)):
        x0, y0 = lat[r, c]
        x1, y1 = lat[r + 1, c + 1]
        inner = g[int(y0) + 4:int(y1) - 3, int(x0) + 4:int(x1) - 3]
        ink_cols = np.nonzero((inner < 128).any(axis=0))[0]
        # Two glyphs side by side: a gap between two runs of ink columns.
        assert len(ink_cols) and (np.diff(ink_cols) > 1).any()


def test_wide_random_styles_cover_the_space_and_default_draws_are_unchanged():
    fonts = ["DejaVuSans", "DejaVuSerif"]
    old = random_style(np.random.default_rng(3), fonts)
    assert old == random_style(np.random.default_rng(3), fonts, wide=False)
    assert old.thin_px is None and old.antialias and old.notation == ""
    styles = [random_style(np.random.default_rng(s), fonts, wide=True) for s in range(300)]
    thin = np.array([s.thin_px for s in styles])
    ratio = np.array([s.thick_px / s.thin_px for s in styles])
    assert thin.min() >= 1.0 and thin.max() <= 6.0 and thin.max() > 5.0
    assert ((ratio >= 1.5) & (ratio <= 5.0) | (ratio == 1.0)).all() and (ratio == 1.0).any() and ratio.max() > 4.5
    margins = np.array([s.margin for s in styles])
    assert (margins == 0).any() and (margins < 0).any() and (margins > 0.15).any()
    assert {s.notation for s in styles} == {"numeric", "hex0", "hexA", "hexa"}
    assert not all(s.sum_gap for s in styles) and any(s.sum_gap for s in styles)
    assert not all(s.antialias for s in styles) and not all(s.cell_lines for s in styles)
    assert any(s.killer_solid for s in styles) and any(s.clue_ink for s in styles)
    scales = [s.clue_scale for s in styles]
    assert min(scales) >= 0.15 and max(scales) <= 0.45
    glyphs = {g for s in styles for g in s.op_glyphs}
    assert {"+", "-", "\u2212", "x", "\u00d7", "*", "/", "\u00f7", ":"} <= glyphs
    assert Style.from_dict(styles[0].to_dict()) == styles[0]
    sides = [wide_side(np.random.default_rng(s)) for s in range(300)]
    assert min(sides) >= 250 and max(sides) <= 2500 and min(sides) < 300 and max(sides) > 2000
