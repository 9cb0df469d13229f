"""Geometry rule inference: kind decisions with evidence, specs, consistency checks, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.rules.geometry import aligned_box, consistency_problems, infer_rules, reachable
from vlm_puzzle.spec import Cage, PuzzleSpec
from vlm_puzzle.vision.variants import read_variants_image

from variant_images import grid_image, truth_regions


# ---- pure logic -----------------------------------------------------------------------

def test_aligned_box_finds_standard_and_rejects_jigsaw():
    boxes = np.array([[(r // 2) * 2 + c // 3 for c in range(6)] for r in range(6)])
    assert aligned_box(boxes) == (2, 3)
    spec, _ = generate_puzzle("jigsaw", 9, seed=5)
    assert aligned_box(np.array(spec.regions)) is None


@pytest.mark.parametrize("cage,n,ok", [
    (Cage(((0, 0), (0, 1)), "sum", 3), 9, True),       # 1+2
    (Cage(((0, 0), (0, 1)), "sum", 2), 9, False),      # two distinct digits make at least 3
    (Cage(((0, 0), (0, 1)), "sum", 17), 9, True),      # 8+9
    (Cage(((0, 0), (0, 1)), "sum", 18), 9, False),
    (Cage(((0, 0), (0, 1), (1, 0)), "mul", 7, distinct=False), 6, False),   # 7 is prime > 6
    (Cage(((0, 0), (0, 1), (1, 0)), "mul", 60, distinct=False), 6, True),   # 5*3*4
    (Cage(((0, 0), (0, 1)), "sub", 6), 6, False),
    (Cage(((0, 0), (0, 1)), "div", 3), 6, True),
    (Cage(((0, 0),), None, 7), 6, False),
])
def test_reachable_targets(cage, n, ok):
    assert reachable(cage, n) is ok


def test_consistency_flags_killer_total_and_impossible_cage():
    spec, _ = generate_puzzle("killer", 9, seed=3)
    assert consistency_problems(spec) == []
    cages = list(spec.cages)
    k = next(i for i, c in enumerate(cages) if len(c.cells) == 2)
    cages[k] = Cage(cages[k].cells, "sum", 2)
    bad = PuzzleSpec.killer(cages, size=9)
    problems = consistency_problems(bad)
    assert any("cannot be made with distinct digits" in p for p in problems)
    assert any("killer cage sums total" in p for p in problems)


def test_consistency_flags_given_that_breaks_a_cage():
    spec, solution = generate_puzzle("kenken", 4, seed=2)
    cage = next(c for c in spec.cages if c.op == "add")
    givens = [[0] * 4 for _ in range(4)]
    for r, c in cage.cells:
        givens[r][c] = 1 if solution[r][c] != 1 else 2
    wrong = spec.with_givens(givens)
    assert any("do not make" in p for p in consistency_problems(wrong))


# ---- from images --------------------------------------------------------------------------

class _State:
    """What the grid stage hands over: size, givens, box, warped image, line positions."""

    def __init__(self, img, xs, spec):
        self.warped, self.xs, self.ys = img, xs, xs
        self.size = spec.size
        self.givens = spec.givens
        self.box = spec.box


@pytest.mark.parametrize("kind,size,evidence", [
    ("jigsaw", 9, "9 regions of 9 cells not aligned to 3x3 boxes: jigsaw"),
    ("killer", 9, "dashed inset outlines: killer"),
    ("kenken", 6, "kenken"),
    ("x-sudoku", 9, "x-sudoku"),
    ("windoku", 9, "windoku"),
    ("sudoku", 9, "no diagonal or window marks: sudoku"),
])
def test_infer_rules_from_rendered_images(kind, size, evidence):
    spec, solution = generate_puzzle(kind, size, seed=11)
    img, xs = grid_image(spec, seed=11)
    hints, got = infer_rules(_State(img, xs, spec))
    assert hints.kind == kind, hints.evidence
    assert hints.source == "geometry"
    assert any(evidence in e for e in hints.evidence), hints.evidence
    assert got is not None and got.kind == kind
    assert hints.confidence >= 0.7
    if kind == "jigsaw":
        assert truth_regions(got) == truth_regions(spec)
    if kind in ("killer", "kenken"):
        assert sorted(got.cages, key=lambda c: c.cells) == sorted(spec.cages, key=lambda c: c.cells)


def test_unreadable_clue_gives_no_spec_and_low_confidence():
    spec, _ = generate_puzzle("kenken", 6, seed=4)
    img, xs = grid_image(spec, seed=4)
    img = img.copy()
    # Wipe the clue of the first cage: paper over its top-left corner.
    r, c = min(spec.cages[0].cells)
    cell = xs[1] - xs[0]
    x0, y0 = int(xs[c] + 0.12 * cell), int(xs[r] + 0.12 * cell)
    img[y0:y0 + int(0.35 * cell), x0:x0 + int(0.6 * cell)] = 255
    state = _State(img, xs, spec)
    hints, got = infer_rules(state, read_variants_image(img, xs, xs))
    assert got is None
    assert hints.confidence <= 0.3
    assert any("unreadable" in e or "no clue" in e for e in hints.evidence), hints.evidence


def test_plain_grid_without_thick_lines_is_uncertain():
    spec = PuzzleSpec.sudoku([[0] * 9 for _ in range(9)])
    img, xs = grid_image(spec, seed=0, thick_boxes=False)
    hints, got = infer_rules(_State(img, xs, spec))
    assert hints.kind == "sudoku"
    assert hints.confidence <= 0.5
    assert any("no thick lines" in e for e in hints.evidence)
