"""KenKen clue readings pruned by arithmetic (``check.clues.kenken_readings``) and the
best-first search over them (``kenken_repairs``), on hand-built cages: no picture needed."""
from __future__ import annotations

from dataclasses import dataclass

from vlm_puzzle.check.clues import changed_clue, kenken_readings, kenken_repairs, with_changes
from vlm_puzzle.vision.clues import parse_clue
from vlm_puzzle.vision.variants import CageRead


def _clue(text: str, probs, alts):
    return parse_clue(list(text), list(probs), [tuple(a) for a in alts])


def test_readings_keep_only_what_the_cage_can_meet():
    # Two cells in a row of a 4x4: "31" (no operator) cannot be, nor "37" or "81"; "3-" can.
    cage = CageRead(cells=((0, 0), (0, 1)), clue=_clue("31", [0.99, 0.6], [[("8", 0.01)], [("-", 0.3), ("7", 0.05)]]))
    readings = kenken_readings(0, cage, 4)
    texts = [changed_clue(cage.clue, ch).text for _, ch in readings]
    assert "31" not in texts and texts[0] == "3-"
    assert all(c >= 0 for c, _ in readings)
    # A product a 2x2 square of 1..4 can make with repeats (4*4*3*1 = 48) stays, read as is.
    square = CageRead(cells=((0, 0), (0, 1), (1, 0), (1, 1)), clue=_clue("48x", [0.9, 0.9, 0.9], [[], [], []]))
    assert kenken_readings(0, square, 4)[0] == (0.0, ())
    # One cell: no operator, a digit 1..N.
    single = CageRead(cells=((2, 2),), clue=_clue("7", [0.6], [[("1", 0.3)]]))
    assert [changed_clue(single.clue, ch).text for _, ch in kenken_readings(0, single, 4)] == ["1"]


def test_search_gives_each_cage_a_reading_it_can_meet_cheapest_first_and_keeps_sure_ones():
    sure = CageRead(cells=((0, 0), (0, 1)), clue=_clue("2/", [0.99, 0.99], [[("3", 0.005)], [("+", 0.005)]]))
    bad = CageRead(cells=((1, 0), (1, 1)), clue=_clue("71", [0.6, 0.5], [[("1", 0.35)], [("-", 0.45), ("/", 0.2)]]))
    doubt = CageRead(cells=((2, 0), (2, 1)), clue=_clue("3-", [0.55, 0.9], [[("2", 0.4)], []]))
    first = list(kenken_repairs([sure, bad, doubt], 4))
    assert first, "some reading of every cage"
    costs = [sum(c[0] for c in chosen) for chosen in first]
    assert costs == sorted(costs)
    assert all(c[1] != 0 for chosen in first for c in chosen)      # the sure cage is never changed
    assert all(any(c[1] == 1 for c in chosen) for chosen in first)  # the impossible one always is

    texts = [tuple(k.clue.text for k in with_changes(_Variants((sure, bad, doubt)), chosen).cages)
             for chosen in first[:2]]
    # "71": 7- and 1/ are out of reach on a 4x4 (a difference is at most 3, a quotient at least 2
    # and a 1 makes none), so both characters change; the doubtful "3-" first stays, then is 2-.
    assert texts == [("2/", "1-", "3-"), ("2/", "1-", "2-")]


@dataclass(frozen=True)
class _Variants:
    """The one field of VariantState that with_changes reads and replaces."""

    cages: tuple
