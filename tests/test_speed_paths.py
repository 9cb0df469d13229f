"""Shortcuts taken for speed give what the long way gives: the incremental conflict test of
the givens repair, and the clue reader leaving bare strips and blank readings undecoded."""
from __future__ import annotations

import numpy as np
import pytest

from vlm_puzzle.check.givens import conflicts, conflicts_after
from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.render.rendered import render_puzzle
from vlm_puzzle.render.style import Style
from vlm_puzzle.spec import PuzzleSpec
from vlm_puzzle.vision import clues as C
from vlm_puzzle.vision.gray import to_gray
from vlm_puzzle.vision.grid import locate_grid
from vlm_puzzle.vision.ink import ink_map, paper_map


@pytest.mark.parametrize("spec", [
    PuzzleSpec(kind="sudoku", size=16, givens=[[0] * 16] * 16, box=(4, 4)),
    PuzzleSpec(kind="x-sudoku", size=9, givens=[[0] * 9] * 9, box=(3, 3), diagonals=True),
])
def test_conflicts_after_a_few_changes_equals_a_full_scan(spec):
    n = spec.size
    rng = np.random.default_rng(5)
    for _ in range(300):
        givens = rng.integers(0, n + 1, (n, n)) * (rng.random((n, n)) < 0.3)
        test = conflicts_after(spec, givens)
        for _ in range(5):
            cells = [tuple(int(x) for x in rng.integers(0, n, 2)) for _ in range(rng.integers(1, 4))]
            cand = givens.copy()
            for r, c in cells:
                cand[r, c] = rng.integers(0, n + 1)
            assert test(cand, cells) == conflicts(spec, cand)


def test_bare_strip_is_lines_only():
    strip = np.zeros((C.STRIP_H, C.STRIP_W), np.float32)
    strip[:2, :] = 1.0                       # the grid line above the cell and its blur
    strip[2, :] = 0.5
    strip[:, :3] = 1.0                       # a thick cage border on its left
    assert C.bare_strip(strip)
    glyph = strip.copy()
    glyph[6:16, 8] = 1.0                     # a small 1 beside the border
    assert not C.bare_strip(glyph)
    faint = strip.copy()
    faint[8:12, 20:24] = 0.3                 # faint ink counts too
    assert not C.bare_strip(faint)


def test_clues_read_as_if_every_strip_were_read(monkeypatch):
    spec, _ = generate_puzzle("kenken", 6, seed=21)
    shot = render_puzzle(spec, seed=21, style=Style(font="DejaVuSans", clue_font="DejaVuSans"), size_px=700)
    loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    lat = loc.lattice
    gray = to_gray(loc.warped)
    cell = float(min(np.diff(lat.cols_x).mean(), np.diff(lat.rows_y).mean()))
    ink = ink_map(gray, cell, paper_map(gray, cell))
    boxes = [lat.cell_rect(r, c) for r in range(6) for c in range(6)]
    asked = []
    real = C.ClueReader.column_probs

    def counted(self, strips):
        asked.append(len(strips))
        return real(self, strips)
    monkeypatch.setattr(C.ClueReader, "column_probs", counted)
    quick = C.read_clues(ink, boxes, cell, both=True)
    skipped = asked[0]
    monkeypatch.setattr(C, "bare_strip", lambda strip: False)
    full = C.read_clues(ink, boxes, cell, both=True)
    assert skipped < asked[-1] == 36          # some strips were left unread...
    assert quick == full                     # ...and every clue reads the same
    assert sum(k.text != "" for k in quick[0]) == len(spec.cages)


def test_kenken_cage_test_rejects_only_what_the_template_rejects():
    from dataclasses import replace
    from itertools import combinations

    from vlm_puzzle.check.clues import _kenken_cages_ok, clue_changes, with_changes
    from vlm_puzzle.check.templates import repair_template
    from vlm_puzzle.pipeline import read_state
    from vlm_puzzle.rules.geometry import decide
    from vlm_puzzle.vision.clues import parse_clue

    spec, _ = generate_puzzle("kenken", 5, seed=8)
    shot = render_puzzle(spec, seed=8, style=Style(font="DejaVuSans", clue_font="DejaVuSans"), size_px=600)
    state = read_state(np.ascontiguousarray(shot.image[..., ::-1]))
    decision = decide(state.size, state.box, state.variants)
    v = state.variants
    multi = [i for i, k in enumerate(v.cages) if len(k.cells) > 1][:2]
    cages = list(v.cages)
    for i in multi:   # doubtful clues whose alternatives reach too far, lose the operator or the digits
        old = cages[i].clue
        alts = [(("9", 0.2), ("", 0.1))] * (len(old.text) - 1) + [(("", 0.3), ("x", 0.1))]
        cages[i] = replace(cages[i], clue=replace(parse_clue(list(old.text), [0.6] * len(old.text), alts),
                                                  extent=old.extent))
    variants = replace(v, cages=tuple(cages))
    changes = clue_changes(variants.cages, 20.0, state.size)
    test = _kenken_cages_ok(variants)
    verdicts = []
    for k in (1, 2, 3):
        for chosen in combinations(changes, k):
            if len({(c[1], c[2]) for c in chosen}) < k:
                continue
            chosen = list(chosen)
            template = repair_template(state, decision, with_changes(variants, chosen))
            passes = template is not None and template.kind == "kenken"
            verdicts.append((test(chosen), passes))
            assert test(chosen) or not passes, chosen
    assert any(not t for t, _ in verdicts) and any(t for t, _ in verdicts)


def test_clearable_needs_a_change_in_every_repeated_pair():
    from vlm_puzzle.check.givens import clearable
    a, b, c, d = (0, 0), (0, 5), (3, 3), (4, 3)
    assert clearable([], set(), 0)
    assert clearable([(a, b)], {b}, 1) and not clearable([(a, b)], {c}, 3)
    assert not clearable([(a, b), (c, d)], {a, c}, 1) and clearable([(a, b), (c, d)], {a, c}, 2)
    assert clearable([(a, b), (a, c)], {a}, 1)          # one cell in both pairs
    assert not clearable([(a, b), (c, d)], {a, b}, 3)   # nothing may change c or d


def test_repair_that_cannot_clear_a_repeat_fails_as_the_full_search_does(monkeypatch):
    from vlm_puzzle.check import givens as G
    spec = PuzzleSpec(kind="sudoku", size=4, givens=[[0] * 4] * 4, box=(2, 2))
    givens = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    probs = np.full((4, 4, 5), 1e-9)
    for r in range(4):
        for c in range(4):
            probs[r, c, givens[r, c]] = 1.0
    probs[1, 1, 2] = 0.5      # doubts only where no change clears the two 1s of row 0
    quick = G.repair_givens(spec, givens, probs)
    monkeypatch.setattr(G, "clearable", lambda *a: True)
    full = G.repair_givens(spec, givens, probs)
    assert quick.status == full.status == "failed" and quick.solver_status == full.solver_status
    assert (quick.givens == full.givens).all() and quick.tried == 0 < full.tried
