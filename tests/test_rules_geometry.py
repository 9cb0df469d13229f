"""Geometry rule inference: kind decisions with evidence, specs, consistency checks, bad input."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vlm_puzzle.findings import codes
from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.check import infer_rules, repair_template
from vlm_puzzle.rules.geometry import DOUBTFUL, aligned_box, consistency_problems, decide, reachable
from vlm_puzzle.spec import Cage, PuzzleSpec
from vlm_puzzle.verdict import Repair
from vlm_puzzle.vision.variants import read_variants

from test_variants import STYLE, cage_set, partition, rendered_state, with_probs, with_verdict


def rules_for_repair(st, variants):
    """The rules the checking stage would repair ``st``'s givens against, with these marks."""
    return repair_template(st, decide(st.size, st.box, variants), variants)


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
    assert {"cage_unreachable", "killer_total"} <= set(codes(problems))


def test_consistency_flags_given_that_breaks_a_cage():
    spec, solution = generate_puzzle("kenken", 4, seed=2)
    cage = next(c for c in spec.cages if c.op == "add")
    givens = [[0] * 4 for _ in range(4)]
    for r, c in cage.cells:
        givens[r][c] = 1 if solution[r][c] != 1 else 2
    wrong = spec.with_givens(givens)
    assert "cage_givens" in codes(consistency_problems(wrong))


# ---- from images --------------------------------------------------------------------------

@pytest.mark.parametrize("kind,size,evidence", [
    ("jigsaw", 9, "irregular_regions"),
    ("killer", 6, "dashed_cages"),
    ("kenken", 6, "thick_cages"),
    ("x-sudoku", 9, "diagonals_marked"),
    ("windoku", 9, "windows_shaded"),
    ("sudoku", 9, "no_marks"),
])
def test_infer_rules_from_rendered_images(kind, size, evidence):
    spec, solution = generate_puzzle(kind, size, seed=11)
    hints, got = infer_rules(rendered_state(spec, seed=11))
    assert hints.kind == kind, hints.evidence
    assert hints.source == "geometry"
    assert evidence in codes(hints.evidence), hints.evidence
    assert got is not None and got.kind == kind
    assert hints.confidence >= 0.7
    if kind == "jigsaw":
        assert partition(got.regions) == partition(spec.regions)
    assert cage_set(got) == cage_set(spec)


def test_unreadable_clue_gives_no_spec_and_low_confidence():
    spec, _ = generate_puzzle("kenken", 6, seed=4)
    st = rendered_state(spec, seed=4)
    # Wipe the clue of one cage: paper over its top-left corner, inside the lines.
    r, c = min(spec.cages[0].cells)
    x0, y0, x1, y1 = st.cell_rect(r, c)
    cell = x1 - x0
    warped = st.warped.copy()
    warped[int(y0 + 0.1 * cell):int(y0 + 0.45 * cell), int(x0 + 0.1 * cell):int(x1 - 0.1 * cell)] = \
        int(np.median(warped))
    st = replace(st, geometry=replace(st.geometry, warped=warped))
    hints, got = infer_rules(st, read_variants(st.geometry))
    assert got is None
    assert hints.confidence <= 0.3
    assert "clue_unreadable" in codes(hints.evidence), hints.evidence


def test_plain_grid_without_thick_lines_is_uncertain():
    spec = PuzzleSpec.sudoku([[0] * 9 for _ in range(9)])
    st = rendered_state(spec, seed=0, style=replace(STYLE, thick=STYLE.thin))
    hints, got = infer_rules(st)
    assert hints.kind == "sudoku"
    assert hints.confidence <= 0.5
    assert "boxes_assumed" in codes(hints.evidence)


def test_wrong_cage_total_is_flagged_not_trusted():
    """A killer whose sums cannot total the grid: built, but with a low confidence."""
    spec, _ = generate_puzzle("killer", 6, seed=12)
    st = rendered_state(spec, seed=12)
    v = read_variants(st.geometry)
    cages = list(v.cages)
    k = next(i for i, cg in enumerate(cages) if len(cg.cells) == 2)
    bad_clue = replace(cages[k].clue, target=cages[k].clue.target + 1)
    cages[k] = replace(cages[k], clue=bad_clue)
    hints, got = infer_rules(st, replace(v, cages=tuple(cages)))
    assert got is not None and hints.confidence <= 0.3
    assert "killer_total" in codes(hints.problems)


# ---- the solver's verdict and the repair rules --------------------------------------------

def test_box_measured_flag_follows_the_thick_lines():
    spec, _ = generate_puzzle("sudoku", 9, seed=21)
    hints, _ = infer_rules(rendered_state(spec, seed=21))
    assert hints.box == (3, 3) and hints.box_measured
    thin = replace(STYLE, thick=STYLE.thin)   # no thick box lines drawn: the box is assumed
    hints, _ = infer_rules(rendered_state(spec, seed=21, style=thin))
    assert hints.box == (3, 3) and not hints.box_measured


def _shaded_x_sudoku_state():
    """A read shaded x-sudoku whose extractor found its digits unique as an x-sudoku."""
    spec, _ = generate_puzzle("x-sudoku", 9, seed=33)
    st = rendered_state(spec, seed=33, style=replace(STYLE, diagonal="shade"))
    v = read_variants(st.geometry)
    return with_verdict(st, "x-sudoku", "not_needed", "solved"), v


def test_solver_verdict_under_the_inferred_rules_feeds_confidence():
    st, v = _shaded_x_sudoku_state()
    sure, _ = infer_rules(st, v)
    assert sure.kind == "x-sudoku" and sure.confidence > DOUBTFUL
    failed = with_verdict(st, "x-sudoku", "failed", "no_solution")
    hints, got = infer_rules(failed, v)
    assert got is not None and hints.confidence <= DOUBTFUL
    assert "givens_no_solution" in codes(hints.problems)
    # A verdict under other rules (plain sudoku) says nothing about these.
    hints, _ = infer_rules(with_verdict(st, "sudoku", "failed", "no_solution"), v)
    assert hints.confidence == sure.confidence
    assert "givens_no_solution" not in codes(hints.evidence)


def test_rules_that_fail_the_checks_are_not_repaired_against():
    spec, _ = generate_puzzle("killer", 6, seed=36)
    st = rendered_state(spec, seed=36)
    v = read_variants(st.geometry)
    template = rules_for_repair(st, v)
    assert template is not None and template.kind == "killer" and template.n_givens == 0
    assert cage_set(template) == cage_set(spec)
    # One clue misread as a target no cage of its size can make (confidently, so the
    # killer total does not fix it): the cages are not repaired against, only the
    # sudoku under them (rules a killer surely has).
    k = next(i for i, c in enumerate(v.cages) if len(c.cells) >= 2)
    bad_clue = replace(v.cages[k].clue, text="99", target=99, confidence=0.99)
    bad = replace(v, cages=v.cages[:k] + (replace(v.cages[k], clue=bad_clue),) + v.cages[k + 1:])
    relaxed = rules_for_repair(st, bad)
    assert relaxed == PuzzleSpec.sudoku([[0] * 6 for _ in range(6)], box=(2, 3))
    hints, got = infer_rules(with_verdict(st, "sudoku", "failed", "multiple"), bad)
    assert got is not None and hints.kind == "killer" and hints.confidence <= DOUBTFUL
    assert "givens_not_checked_under_rules" in codes(hints.evidence)
    assert "cage_unreachable" in codes(hints.problems)


def test_kenken_cages_that_do_not_tile_give_no_repair_rules():
    spec, _ = generate_puzzle("kenken", 4, seed=37)
    st = rendered_state(spec, seed=37)
    v = read_variants(st.geometry)
    template = rules_for_repair(st, v)
    assert template is not None and template.kind == "kenken" and cage_set(template) == cage_set(spec)
    short = replace(v, cages=v.cages[1:])   # a cage lost: the rest do not tile the grid
    assert rules_for_repair(st, short) is None
    hints, _ = infer_rules(with_verdict(st, None, "skipped", None), short)
    assert hints.confidence <= DOUBTFUL
    assert "givens_not_checked_under_rules" in codes(hints.evidence)


def test_repairs_under_assumed_boxes_are_doubtful():
    spec, _ = generate_puzzle("sudoku", 9, seed=21)
    thin = replace(STYLE, thick=STYLE.thin)   # no box lines: 3x3 boxes are assumed
    for style, measured in ((STYLE, True), (thin, False)):
        st = rendered_state(spec, seed=21, style=style)
        g = np.array(spec.givens)
        r, c = map(int, np.argwhere(g > 0)[0])
        other = 1 + g[r, c] % 9
        probs = st.probs.copy()
        probs[r, c, other] = probs[r, c, g[r, c]] = 0.5    # a likely repair: only the boxes are in question
        st = with_verdict(with_probs(st, probs), "sudoku", "repaired", "solved", [Repair((r, c), other, int(g[r, c]))])
        hints, got = infer_rules(st)
        assert got is not None and hints.box_measured is measured
        assert (hints.confidence <= DOUBTFUL) is not measured, hints.evidence
        assert "givens_repaired" in codes(hints.evidence)


def test_doubtful_marks_are_settled_by_the_givens():
    # A plain sudoku whose windows read as shaded, but only just (a shadow): under
    # windoku rules its givens have no solution, under plain sudoku rules exactly
    # one, so it is a sudoku; sure windows are not second-guessed.
    spec, _ = generate_puzzle("sudoku", 9, seed=21)
    st = rendered_state(spec, seed=21)
    v = read_variants(st.geometry)
    assert not v.windows and not v.diagonals
    doubt = replace(v, windows=True, marks=replace(v.marks, windows=True, window_score=0.55))
    assert rules_for_repair(st, doubt).kind == "sudoku"
    sure = replace(doubt, marks=replace(doubt.marks, window_score=3.0))
    assert rules_for_repair(st, sure).kind == "windoku"
    hints, got = infer_rules(st, doubt)       # a state the checking stage did not check: decided here
    assert hints.kind == got.kind == "sudoku"
    st = with_verdict(st, "sudoku", "not_needed", "solved")
    hints, got = infer_rules(st, doubt)
    assert hints.kind == got.kind == "sudoku" and not got.windows
    assert "marks_settled_by_givens" in codes(hints.evidence), hints.evidence
    hints, got = infer_rules(st, sure)            # the extractor's verdict does not override sure marks
    assert hints.kind == "windoku" and hints.problems == ()


def test_problems_are_a_typed_field():
    st, v = _shaded_x_sudoku_state()
    hints, _ = infer_rules(st, v)
    assert hints.problems == () and not hints.has_problems
    hints, _ = infer_rules(with_verdict(st, "x-sudoku", "failed", "no_solution"), v)
    assert hints.has_problems and hints.problems[0].code == "givens_no_solution"
    # The human notes say the same, prefixed.
    assert str(hints.problems[0]) == f"problem: {hints.problems[0].text}"


def test_unlikely_repairs_make_the_reading_doubtful():
    # The solver changed a given to a value the reader gave almost no chance: one
    # unique grid is no proof (a misread 1 "repaired" to another digit than 1).
    spec, _ = generate_puzzle("sudoku", 9, seed=21)
    st = rendered_state(spec, seed=21)
    g = np.array(spec.givens)
    r, c = map(int, np.argwhere(g > 0)[0])
    probs = np.full((9, 9, 10), 1e-4, np.float32)
    probs[np.arange(9)[:, None], np.arange(9)[None, :], g] = 0.99
    other = 1 + g[r, c] % 9
    st = with_verdict(st, "sudoku", "repaired", "solved", [Repair((r, c), other, int(g[r, c]))])
    probs[r, c, other] = 0.6                      # read as `other`, the true value a close second
    probs[r, c, g[r, c]] = 0.3
    likely, _ = infer_rules(with_probs(st, probs.copy()))
    assert likely.confidence > DOUBTFUL
    probs[r, c, g[r, c]] = 0.001                  # the reader gave the new value 1 in 600
    unlikely, _ = infer_rules(with_probs(st, probs))
    assert unlikely.confidence <= DOUBTFUL
    assert "unlikely_repair" in codes(unlikely.evidence)


def test_a_doubtful_given_whose_next_guess_also_solves_makes_the_reading_doubtful():
    # "Exactly one solution" proves nothing when the reader's second guess for a cell
    # it was unsure of gives exactly one solution too: two puzzles fit the picture.
    from vlm_puzzle.check import verdict
    spec, _ = generate_puzzle("sudoku", 9, seed=21)
    st = with_verdict(rendered_state(spec, seed=21), "sudoku", "not_needed", "solved")
    g = np.array(spec.givens)
    probs = np.full((9, 9, 10), 1e-4, np.float32)
    probs[np.arange(9)[:, None], np.arange(9)[None, :], g] = 0.99
    sure, _ = infer_rules(with_probs(st, probs.copy()))
    assert sure.confidence > DOUBTFUL

    def other_value(want: str):
        """A given cell and another value for it under which the solver says ``want``."""
        for r, c in np.argwhere(g > 0):
            for v in range(1, 10):
                alt = g.copy()
                alt[r, c] = v
                if v != g[r, c] and verdict(spec, alt, 5.0)[0] == want:
                    return int(r), int(c), v
    r, c, also = other_value("solved")
    r2, c2, fails = other_value("no_solution")
    probs[r, c, g[r, c]], probs[r, c, also] = 0.45, 0.3
    doubtful, _ = infer_rules(with_probs(st, probs.copy()))
    assert doubtful.confidence <= DOUBTFUL
    assert any(e.code == "two_readings" and f"{(r, c)} read as {g[r, c]} (0.45) or {also} (0.30)" in e.text
               for e in doubtful.evidence)
    probs[r, c, g[r, c]], probs[r, c, also] = 0.99, 1e-4
    probs[r2, c2, g[r2, c2]], probs[r2, c2, fails] = 0.45, 0.3     # a second guess that breaks the puzzle
    decided, _ = infer_rules(with_probs(st, probs))
    assert decided.confidence > DOUBTFUL
    assert "two_readings" not in codes(decided.evidence)


def test_outlines_without_any_clue_are_not_killer_cages():
    # The shipped windoku photo: the windows' shading edges beside the box lines read
    # as inset dashed outlines, nine "cages" of nine cells with no clue in any of
    # them. Every killer cage shows its sum: these are not cages, and the windows
    # and boxes decide.
    from pathlib import Path
    import cv2
    from vlm_puzzle.pipeline import read_state
    root = Path(__file__).resolve().parents[1]
    st = read_state(cv2.imread(str(root / "data" / "samples" / "windoku9_2024_photo.jpg")))
    assert st.variants.cage_style is None and st.variants.cages == ()
    assert "outlines_without_clues" in codes(st.variants.uncertainties)
    hints, spec = infer_rules(st)
    assert hints.kind == spec.kind == "windoku" and not hints.problems


def test_a_killers_one_unreadable_sum_is_set_by_the_total():
    from vlm_puzzle.rules.geometry import _sum_repaired
    spec, _ = generate_puzzle("killer", 6, seed=36)
    st = rendered_state(spec, seed=36)
    v = read_variants(st.geometry)
    assert cage_set_targets(v) == {(tuple(sorted(c.cells)), c.target) for c in spec.cages}
    k, j = [i for i, c in enumerate(v.cages) if len(c.cells) >= 2][:2]
    # One sum unreadable, another read but doubtful: the total sets the unreadable one.
    cages = list(v.cages)
    cages[k] = replace(cages[k], clue=replace(cages[k].clue, text="", target=None, confidence=0.1))
    cages[j] = replace(cages[j], clue=replace(cages[j].clue, confidence=0.5))
    fixed = _sum_repaired(replace(v, cages=tuple(cages)), 6)
    assert cage_set_targets(fixed) == cage_set_targets(v)
    assert "clue_set_by_total" in codes(fixed.uncertainties)
    # Two unreadable: nothing to go by.
    cages[j] = replace(cages[j], clue=replace(cages[j].clue, text="", target=None))
    assert _sum_repaired(replace(v, cages=tuple(cages)), 6).cages == tuple(cages)


def cage_set_targets(variants):
    return {(tuple(sorted(k.cells)), k.clue.target) for k in variants.cages}
