"""The cage-clue sequence reader (vision/clues.py) on rendered puzzles and on its parts.

Puzzles are drawn by the project's renderer with training fonts (DejaVu, present
everywhere), located by the real grid finder; the ink map is the one
``vision.variants`` computes. Held-out fonts are measured by
``experiments/eval_variants.py`` and ``training/eval_clues.py``.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from vlm_puzzle.render.draw import cage_label
from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.render.rendered import render_puzzle
from vlm_puzzle.render.style import Style
from vlm_puzzle.spec import Cage, PuzzleSpec
from vlm_puzzle.vision.gray import to_gray
from vlm_puzzle.vision.ink import ink_map, paper_map
from vlm_puzzle.vision import clues as C
from vlm_puzzle.vision.grid import locate_grid

STYLE = Style(font="DejaVuSans", clue_font="DejaVuSans")


def read_all(spec, seed, style=STYLE, photo=False):
    """{cell: Clue} for every cell of the rendered, located puzzle."""
    shot = render_puzzle(spec, seed=seed, style=style, photo=photo, size_px=800)
    loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    lat = loc.lattice
    assert lat.size == spec.size
    gray = to_gray(loc.warped)
    cell = float(min(np.diff(lat.cols_x).mean(), np.diff(lat.rows_y).mean()))
    ink = ink_map(gray, cell, paper_map(gray, cell))
    cells = [(r, c) for r in range(spec.size) for c in range(spec.size)]
    got = C.read_clues(ink, [lat.cell_rect(r, c) for r, c in cells], cell, ops=spec.kind == "kenken")
    return dict(zip(cells, got))


def check_cages(spec, got):
    anchors = {min(c.cells): c for c in spec.cages}
    for rc, clue in got.items():
        if rc in anchors:
            cage = anchors[rc]
            op = cage.op if len(cage.cells) > 1 else None
            if spec.kind == "killer":
                op = None  # a killer sum is a bare number
            assert (clue.op, clue.target) == (op, cage.target), (rc, clue, cage)
            assert clue.confidence > 0.5, (rc, clue)
        else:  # blank cell, non-first cage cell, given digit: no clue
            assert clue.text == "", (rc, clue)


@pytest.mark.parametrize("size,seed,style", [
    (6, 8, STYLE),
    (5, 9, Style(font="DejaVuSerif", clue_font="DejaVuSerif", ascii_ops=True)),
])
def test_reads_kenken_clues_and_nothing_elsewhere(size, seed, style):
    spec, _ = generate_puzzle("kenken", size, seed=seed)
    check_cages(spec, read_all(spec, seed, style))


def test_reads_kenken_clues_in_a_photo():
    spec, _ = generate_puzzle("kenken", 4, seed=12)
    check_cages(spec, read_all(spec, 12, photo=True))


def killer_with_givens():
    """A 6x6 killer whose every cage's first cell also holds its given digit, and
    a given elsewhere: a big digit under each small sum."""
    spec, solution = generate_puzzle("killer", 6, seed=36)
    givens = [[0] * 6 for _ in range(6)]
    for cage in spec.cages:
        r, c = min(cage.cells)
        givens[r][c] = solution[r][c]
    givens[5][5] = givens[5][5] or solution[5][5]
    return PuzzleSpec.killer(list(spec.cages), givens=givens, size=6)


def test_killer_sums_beside_dashes_and_above_given_digits():
    spec = killer_with_givens()
    got = read_all(spec, 36)
    check_cages(spec, got)
    # Two-digit sums come out whole (the second digit is not lost to the dashes).
    two = [min(c.cells) for c in spec.cages if c.target >= 10]
    assert two and all(len(got[rc].text) == 2 for rc in two)


def test_killer_read_allows_digits_only():
    logits = np.full((6, len(C.CLASSES)), -5.0)
    logits[:, 0] = 5.0                              # blank
    logits[1, C.CLASSES.index("1")] = 9.0
    logits[3, C.CLASSES.index("+")] = 9.0           # an operator where a killer has none...
    logits[3, C.CLASSES.index("7")] = 6.0           # ...the best digit there wins
    assert C.ctc_decode(logits, ops=True)[0] == "1+"
    assert C.ctc_decode(logits, ops=False)[0] == "17"


def test_ctc_decode_merges_repeats_and_keeps_doubled_digits():
    one, blank = C.CLASSES.index("1"), 0
    path = [blank, one, one, blank, one, blank, C.CLASSES.index("x"), blank]
    logits = np.full((len(path), len(C.CLASSES)), -4.0)
    logits[np.arange(len(path)), path] = 4.0
    text, probs, _ = C.ctc_decode(logits)
    assert text == "11x" and len(probs) == 3 and min(probs) > 0.9
    clue = C.parse_clue(text, probs)
    assert (clue.op, clue.target) == ("mul", 11)


def test_ctc_decode_gives_each_character_the_alternatives_of_its_kind_and_blank():
    blank, four, div, plus, nine = (C.CLASSES.index(ch) for ch in ("", "4", "/", "+", "9"))
    logits = np.full((6, len(C.CLASSES)), -6.0)
    logits[:, blank] = 4.0
    logits[1, four], logits[1, nine] = 5.0, 3.0       # '4', with '9' a close second
    logits[3, plus], logits[3, div] = 5.0, 4.0        # '+' read where a '/' is nearly as likely
    logits[4, div] = 4.5                              # the '/' peaks in the next column of the run
    logits[4, plus] = 5.0
    logits[3, nine] = 4.9                             # a digit there is no alternative to an operator
    text, probs, alts = C.ctc_decode(logits)
    assert text == "4+" and len(alts) == 2
    assert {"9", ""} <= set(dict(alts[0])) and all(ch.isdigit() or ch == "" for ch, _ in alts[0])
    assert [ch for ch, _ in alts[1] if ch][0] == "/" and all(not ch.isdigit() for ch, _ in alts[1])
    assert [p for _, p in alts[0]] == sorted((p for _, p in alts[0]), reverse=True)
    div_p = dict(alts[1])["/"]
    z = logits[4] - logits[4].max()
    assert abs(div_p - np.exp(z[div]) / np.exp(z).sum()) < 1e-9   # its peak over the run's columns
    clue = C.parse_clue(text, probs, alts)
    assert clue.alternatives == tuple(alts) and (clue.op, clue.target) == ("add", 4)


def test_blank_and_lines_only_cells_read_nothing():
    ink = np.zeros((300, 300), np.float32)
    ink[:, 100:103] = 1.0                           # grid lines through the strips
    ink[100:102, :] = 1.0
    got = C.read_clues(ink, [(100.0, 100.0, 200.0, 200.0), (0.0, 0.0, 100.0, 100.0)], 100.0)
    assert [k.text for k in got] == ["", ""]
    assert all(k.target is None for k in got)


def test_strip_holds_the_corner_not_the_cell_centre():
    ink = np.zeros((200, 200), np.float32)
    ink[110:125, 110:120] = 1.0                      # a clue-sized mark in the corner of cell (1, 1)
    ink[160:185, 140:160] = 1.0                      # a digit-sized mark low in the cell
    strip = C.clue_strip(ink, (100.0, 100.0, 200.0, 200.0))
    assert strip.shape == (C.STRIP_H, C.STRIP_W)
    assert strip[:, : C.STRIP_W // 4].max() > 0.9     # the corner mark is in
    assert strip[:, C.STRIP_W // 3:].max() == 0.0     # nothing from below 40 % of the cell


def test_shipped_weights_and_card():
    card = json.loads(C.WEIGHTS.with_suffix(".json").read_text())
    assert tuple(card["classes"]) == C.CLASSES and tuple(card["input_hw"]) == (C.STRIP_H, C.STRIP_W)
    assert C.WEIGHTS.stat().st_size < 600_000  # the package stays small
    assert set(card["train_families"]).isdisjoint({"LiberationSans", "NimbusSans", "FreeSans", "C059"})


def test_renderer_operators_parse():
    # Every operator the renderer draws (Unicode and ASCII) parses to its operation.
    for ascii_ops in (False, True):
        for op in ("add", "sub", "mul", "div"):
            text = cage_label(Cage(((0, 0), (0, 1)), op, 12), Style(font="DejaVuSans", ascii_ops=ascii_ops))
            clue = C.parse_clue(text, [0.99] * len(text))
            assert (clue.op, clue.target) == (op, 12)


# ---- clues in other drawing styles (vision.clues.text_box / strip_box) ----------------------

def big_clue_style(**kw):
    return Style(font="DejaVuSerif", clue_font="DejaVuSerif", antialias=True, **kw)


@pytest.mark.parametrize("scale,offset", [(0.42, (0.1, 0.1)), (0.3, (0.16, 0.16))], ids=["large", "low"])
def test_large_and_low_kenken_clues_are_read_whole(scale, offset):
    # The fixed strip (top 40% of the cell) cuts these; the strip follows the text found.
    spec, _ = generate_puzzle("kenken", 5, seed=9)
    check_cages(spec, read_all(spec, 9, big_clue_style(clue_scale=scale, clue_offset=offset)))


def test_large_clues_are_not_read_as_given_digits():
    from vlm_puzzle.vision.extract import GridReader
    spec, _ = generate_puzzle("kenken", 5, seed=9)
    shot = render_puzzle(spec, seed=9, style=big_clue_style(clue_scale=0.42, clue_offset=(0.1, 0.1)), size_px=800)
    state = GridReader().read(np.ascontiguousarray(shot.image[..., ::-1]))
    assert state.variants.cage_style == "thick"
    assert not np.any(state.givens)


def test_killer_sums_inside_an_unbroken_outline():
    # As sgt-puzzles prints them: the dashed outline runs on beside the sum.
    spec, _ = generate_puzzle("killer", 6, seed=3)
    style = Style(font="DejaVuSans", clue_font="DejaVuSans", sum_gap=False, clue_scale=0.2,
                  clue_offset=(0.15, 0.15))
    check_cages(spec, read_all(spec, 3, style))


def _cell_ink(size=100):
    ink = np.zeros((size, size), np.float32)
    ink[:3, :] = ink[:, :3] = 1.0                 # the cell's top and left grid lines
    ink[10:12, 5:95:8] = 1.0                      # a dashed outline along the top...
    ink[10:12, 6:95:8] = 1.0
    ink[12:95:8, 10:12] = ink[13:95:8, 10:12] = ink[14:95:8, 10:12] = 1.0   # ...and down the left
    return ink


def test_text_box_finds_the_clue_between_lines_and_dashes():
    ink = _cell_ink()
    ink[20:50, 22:26] = 1.0                       # a "1" 30% of the cell high...
    ink[20:24, 18:26] = 1.0
    ink[33:36, 32:47] = 1.0                       # ...and a "-" level with it
    left, top, right, bottom = C.text_box(ink, (0.0, 0.0, 100.0, 100.0))
    assert (left, top, right, bottom) == pytest.approx((0.18, 0.20, 0.47, 0.50), abs=0.011)
    box, keep = C.strip_box((0.0, 0.0, 100.0, 100.0), (left, top, right, bottom))
    # A clue 30% high is cut from a box 0.3 / TEXT_H cells high, the dashes left out.
    assert box[3] - box[1] == pytest.approx(0.3 / C.TEXT_H * 100.0, rel=0.05)
    assert keep[0] > 12


def test_a_bar_shaped_one_starts_a_clue_beside_another_character():
    # A plain sans "1" is a straight bar (like a piece of outline); a "6" stands level with it
    # but starts beyond the corner: the bar starts the clue because the 6 stands beside it.
    ink = _cell_ink()
    ink[20:44, 20:23] = 1.0                       # the bar-shaped "1"...
    ink[20:44, 28:31] = ink[20:44, 40:43] = 1.0   # ...and a ring-like "6" from 0.28 of the cell
    ink[20:23, 28:43] = ink[41:44, 28:43] = ink[31:34, 28:43] = 1.0
    left, top, right, bottom = C.text_box(ink, (0.0, 0.0, 100.0, 100.0))
    assert (left, top, right, bottom) == pytest.approx((0.20, 0.20, 0.43, 0.44), abs=0.011)
    ink = _cell_ink()
    ink[20:44, 20:23] = 1.0                       # a bar alone is no clue
    assert C.text_box(ink, (0.0, 0.0, 100.0, 100.0)) is None


def test_text_box_is_none_for_a_given_digit_or_a_blank_cell():
    assert C.text_box(_cell_ink(), (0.0, 0.0, 100.0, 100.0)) is None
    ink = _cell_ink()
    ink[35:80, 38:62] = 1.0                       # a big centred digit
    assert C.text_box(ink, (0.0, 0.0, 100.0, 100.0)) is None


def test_a_clue_that_fits_the_strip_is_cut_as_before():
    box = (0.0, 0.0, 100.0, 100.0)
    assert C.strip_box(box, (0.08, 0.08, 0.3, 0.27)) == (box, None)
    assert C.strip_box(box, None) == (box, None)


def test_blank_clue_clears_the_clue_corner_of_a_digit_patch():
    patch = np.full((32, 32), 200, np.uint8)
    out = C.blank_clue(patch, (0.1, 0.1, 0.5, 0.4), inset=0.08)
    assert out[3:12, 2:17].max() == 0 and out[20:, :].min() == 200 and out[:, 22:].min() == 200


def test_operator_clues_make_dashed_looking_cages_kenken():
    from vlm_puzzle.vision.variants import operator_clues
    groups = [((0, 0), (0, 1)), ((1, 0), (1, 1)), ((2, 0),)]
    clue = {(0, 0): C.parse_clue("3+", [0.99, 0.99]), (1, 0): C.parse_clue("2/", [0.99, 0.99]),
            (2, 0): C.parse_clue("3", [0.99])}
    assert operator_clues(groups, clue)
    # Killer sums (no operators), or one kind of operator only (a dash beside a sum read "-"): not KenKen.
    assert not operator_clues(groups, {**clue, (0, 0): C.parse_clue("13", [0.99, 0.99]),
                                       (1, 0): C.parse_clue("8", [0.99])})
    assert not operator_clues(groups, {**clue, (0, 0): C.parse_clue("3-", [0.99, 0.99]),
                                       (1, 0): C.parse_clue("2-", [0.99, 0.99])})
