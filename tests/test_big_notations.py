"""12x12 and 16x16 sudokus in every notation, read from real renders: two-digit numbers
10..16 in a cell, hexadecimal 0-F, 1-9 A-G, and lowercase letters (as sgt-puzzles prints
them), the notation decided board-wide (vision.labels)."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from vlm_puzzle.pipeline import PuzzleSolver
from vlm_puzzle.render.draw import symbol
from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.render.rendered import render_puzzle
from vlm_puzzle.render.style import Style
from vlm_puzzle.vision.labels import INDEX, LABELS, value_probs

BASE = Style(font="DejaVuSans", clue_font="DejaVuSans", ink=(0, 0, 0), line_color=(0, 0, 0))
NOTATION_OF = {"numeric": "1-16", "hex0": "0-F", "hex0a": "0-F", "hexA": "1-9A-G", "hexa": "1-9A-G"}


@lru_cache(maxsize=None)
def puzzle(n: int):
    return generate_puzzle("sudoku", n, seed=5)


@lru_cache(maxsize=1)
def solver() -> PuzzleSolver:
    return PuzzleSolver(backend="geometry", keep_images=False)


def ints(rows) -> list[list[int]]:
    return [list(map(int, row)) for row in rows]


@pytest.mark.parametrize("n,notation", [(16, "numeric"), (16, "hex0"), (16, "hexA"), (16, "hex0a"),
                                        (16, "hexa"), (12, "hexa")])
def test_big_sudoku_read_and_solved_in_its_notation(n, notation):
    spec, solution = puzzle(n)
    shot = render_puzzle(spec, seed=1, style=replace(BASE, notation=notation), solution=solution, size_px=720)
    res = solver().solve_image(np.ascontiguousarray(shot.image[..., ::-1]))
    assert res.status == "solved" and res.size == n
    assert ints(res.givens) == ints(spec.givens)
    assert ints(res.solution) == ints(solution)


def test_lowercase_hex_renders_lowercase():
    style = replace(BASE, notation="hex0a")
    assert [symbol(v, style, 16) for v in (1, 10, 11, 16)] == ["0", "9", "a", "f"]


def _board(read: dict[str, list[tuple[str, float]]]) -> np.ndarray:
    """(M, K) symbol probabilities: for each true symbol, cells read as ``[(symbol, p), ...]``."""
    rows = []
    for cells in read.values():
        for dist in cells:
            p = np.full(len(LABELS), 1e-7)
            for s, q in dist:
                p[INDEX[s]] = q
            rows.append(p / p.sum())
    return np.array(rows)


def test_lowercase_letters_read_as_digits_are_letters_board_wide():
    # A 16x16 board in 1-9 A-G whose g cells the network calls 9 (letter odds e^-2..e^-1),
    # next to real 9s (letter odds e^-12): the g cells become G, the 9s stay 9.
    digits = {str(d): [[(str(d), 0.999)]] * 6 for d in range(1, 10)}
    letters = {ch: [[(ch, 0.99)]] * 6 for ch in "ABCDEF"}
    g = {"g": [[("9", 0.80), ("G", 0.15), ("E", 0.05)], [("9", 0.7), ("G", 0.2), ("A", 0.1)]] * 3}
    nine = {"9x": [[("9", 0.99999), ("G", 1e-6)]] * 2}
    sym = _board({**digits, **letters, **g, **nine})
    probs, labels, notation = value_probs(sym, 16)
    assert notation == "1-9A-G"
    values = probs[:, 1:].argmax(axis=1) + 1
    assert list(values[-8:-2]) == [16] * 6          # the g cells
    assert list(values[-2:]) == [9, 9]              # the real 9s
    assert list(values[48:54]) == [9] * 6
    # The digit it resembled stays within reach of a repair (e^4 of the first guess).
    assert np.log(probs[-8, 16] / probs[-8, 9]) < 4


def test_no_letter_split_without_a_gap():
    # Every cell reads its digit confidently: nothing is moved to a letter.
    sym = _board({str(d): [[(str(d), 0.999)]] * 8 for d in range(1, 10)})
    probs, _, _ = value_probs(sym, 16)
    assert list(probs[:, 1:].argmax(axis=1) + 1) == [d for d in range(1, 10) for _ in range(8)]


def test_repair_reaches_a_conflicting_cell_past_many_doubtful_ones():
    # A 16x16 reading with one misread given that repeats a value in its row, and 60 other
    # givens the reader doubted (a lowercase b half read as d) that break no rule: the
    # conflicting cell's change is tried first and the puzzle comes back repaired.
    from vlm_puzzle.check.givens import repair_givens
    from vlm_puzzle.check.templates import plain_template
    spec, solution = puzzle(16)
    truth = np.asarray(ints(spec.givens))
    n = 16
    probs = np.full((n, n, n + 1), 1e-6, np.float32)
    for r in range(n):
        for c in range(n):
            probs[r, c, truth[r, c]] = 1.0
    doubted = [tuple(rc) for rc in np.argwhere(truth > 0)[1:61]]
    for r, c in doubted:
        other = truth[r, c] % n + 1
        probs[r, c, truth[r, c]], probs[r, c, other] = 0.51, 0.49
    read = truth.copy()
    r, c = next((r, c) for r, c in np.argwhere(truth > 0)[61:] if (truth[r] == 1).any() and truth[r, c] != 1)
    read[r, c] = 1                                   # a repeat of the row's 1
    probs[r, c, 1], probs[r, c, truth[r, c]] = 0.9, 0.02
    out = repair_givens(plain_template(n, (4, 4)), read, probs / probs.sum(axis=2, keepdims=True), budget_s=5.0)
    assert out.status == "repaired"
    assert [(x.cell, x.to) for x in out.changes] == [((int(r), int(c)), int(truth[r, c]))]


def test_value_probs_under_a_named_notation():
    sym = _board({str(d): [[(str(d), 0.999)]] * 4 for d in range(1, 10)})
    assert value_probs(sym, 16, "0-F")[2] == "0-F"
    with pytest.raises(ValueError):
        value_probs(sym, 16, "1-9A-C")
