"""The likeliest readings of a KenKen's doubtful clues (``check.cage_readings``) on hand-built
cages: the reader's cost of a text, the readings a cage can meet, the branch and bound that finds
the cheapest reading set with a grid, and the near tie of two reading sets (``check.clues``)."""
from __future__ import annotations

import math

import pytest

from vlm_puzzle.check.cage_readings import (CHANGE, INSERT, INSERT_OP_END, cage_readings, likeliest_readings,
                                            met, text_cost)
from vlm_puzzle.check.clues import _ambiguity
from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.vision.clues import parse_clue
from vlm_puzzle.vision.variants import CageRead

SYMBOL = {"add": "+", "sub": "-", "mul": "x", "div": "/"}


def _clue(text: str, probs=None, alts=None):
    probs = probs or [0.99] * len(text)
    alts = alts or [()] * len(text)
    return parse_clue(list(text), list(probs), [tuple(a) for a in alts])


def _board(seed: int, clues: dict):
    """(cages read, solution) of a generated 4x4 KenKen of one solution: every clue read right at
    0.99 a character, but those of ``clues`` (cage index -> Clue)."""
    spec, solution = generate_puzzle("kenken", 4, seed=seed)
    cages = [CageRead(cells=k.cells, clue=clues.get(i, _clue(f"{k.target}{SYMBOL.get(k.op, '')}")))
             for i, k in enumerate(spec.cages)]
    return cages, tuple(tuple(row) for row in solution)


def test_text_cost_is_the_readers_loss_plus_a_price_per_change():
    clue = _clue("16x", [0.5, 0.9, 0.99], [[("9", 0.4)], [("", 0.05)], []])
    assert text_cost(clue, "16x")[0] == 0.0
    cost, probs, changes = text_cost(clue, "96x")
    assert cost == pytest.approx(math.log(0.5 / 0.4) + CHANGE) and probs[0] == 0.4 and changes == 1
    assert text_cost(clue, "1x")[0] == pytest.approx(math.log(0.9 / 0.05) + CHANGE)     # a character dropped
    assert text_cost(clue, "126x")[0] == pytest.approx(INSERT + CHANGE)                # one the reader missed
    assert text_cost(_clue("12"), "12+")[0] == pytest.approx(INSERT_OP_END + CHANGE)   # an operator after


def test_readings_are_what_the_cage_can_meet_cheapest_first():
    pair = ((0, 0), (0, 1))
    readings = cage_readings(pair, _clue("9-", [0.6, 0.99], [[("2", 0.3)], [("+", 0.005)]]), 4)
    texts = [r.text for r in readings]
    assert texts[0] == "2-" and "9-" not in texts            # a difference of 9 on a 4x4: out of reach
    assert all(met(r.op, (1, 1 + r.target)) == r.target or r.op in ("mul", "div", "add") for r in readings)
    assert [r.cost for r in readings] == sorted(r.cost for r in readings)
    single = cage_readings(((2, 2),), _clue("9/", [0.46, 0.9], [[("1", 0.2), ("4", 0.15)], []]), 4)
    assert {r.op for r in single} == {None} and single[0].text == "1"   # one cell: a digit, no operator


def test_the_cheapest_reading_set_with_a_grid_is_the_truth():
    # Seed 0: cage 0 is "6x", cage 3 "2/". Read "61" (a stroke read as a 1) and "8/" (unsure).
    bad = {0: _clue("61", [0.99, 0.7], [[], [("", 0.1), ("7", 0.1)]]), 3: _clue("8/", [0.6, 0.99], [[("2", 0.3)], []])}
    cages, solution = _board(0, bad)
    options = {i: cage_readings(cages[i].cells, cages[i].clue, 4) for i in (0, 3)}
    search = likeliest_readings(cages, 4, [0, 3], options)
    best = search.found[0]
    assert {i: r.text for i, r in best.readings.items()} == {0: "6x", 3: "2/"}
    assert best.solution == solution and best.count == 1 and search.complete
    assert [f.cost for f in search.found] == sorted(f.cost for f in search.found)


def test_no_grid_within_the_budgets_finds_nothing():
    cages, _ = _board(0, {3: _clue("2/", [0.6, 0.99]), 5: _clue("3")})   # cell (2, 0) holds 4: misread, sure
    options = {3: cage_readings(cages[3].cells, cages[3].clue, 4)}
    search = likeliest_readings(cages, 4, [3], options, budgets=(4.0, 8.0))
    assert search.found == () and search.complete


def test_a_single_cell_read_two_ways_alike_is_two_puzzles():
    # Seed 10: the single cell (2, 1) holds 2; read "9" (out of reach) with 2 and 4 alike, each of which
    # gives a puzzle of one solution, another one: the solver's "one solution" decides nothing.
    cages, solution = _board(10, {5: _clue("9", [0.46], [[("4", 0.2), ("2", 0.2), ("1", 0.01)]])})
    search = likeliest_readings(cages, 4, [5], {5: cage_readings(cages[5].cells, cages[5].clue, 4)})
    unique = [f for f in search.found if f.count == 1]
    assert {f.readings[5].text for f in unique} == {"2", "4"} and solution in {f.solution for f in unique}
    assert _ambiguity(search, unique[0]) and _ambiguity(search, unique[1])
    # The reader sure of one of them: no doubt left.
    cages, _ = _board(10, {5: _clue("9", [0.46], [[("2", 0.4), ("4", 0.001)]])})
    search = likeliest_readings(cages, 4, [5], {5: cage_readings(cages[5].cells, cages[5].clue, 4)})
    assert search.found[0].readings[5].text == "2" and not _ambiguity(search, search.found[0])


def test_the_work_is_counted_not_timed():
    bad = {0: _clue("61", [0.99, 0.7], [[], [("", 0.1), ("7", 0.1)]]), 3: _clue("8/", [0.6, 0.99], [[("2", 0.3)], []])}
    cages, _ = _board(0, bad)
    options = {i: cage_readings(cages[i].cells, cages[i].clue, 4) for i in (0, 3)}
    stopped = likeliest_readings(cages, 4, [0, 3], options, max_work=0)
    assert not stopped.complete and stopped.found == ()
    again = [likeliest_readings(cages, 4, [0, 3], options, max_work=50) for _ in range(2)]
    assert again[0] == again[1]
