"""The likeliest solution under the reader's probabilities, and the repair of many misread givens."""
from __future__ import annotations

import numpy as np
import pytest

from vlm_puzzle.check.givens import repair_givens
from vlm_puzzle.check.likeliest import likeliest_solution, reading_costs
from vlm_puzzle.eval.puzzles import make_puzzle
from vlm_puzzle.spec import PuzzleSpec


def _reader(givens: np.ndarray, misreads: dict, sure: float = 0.97) -> np.ndarray:
    """(N, N, N+1) probabilities of a reader sure of every given but ``misreads`` ((r, c) ->
    the value read there, at 0.6 against the truth's 0.35)."""
    n = givens.shape[0]
    probs = np.full((n, n, n + 1), 1e-4, np.float64)
    probs[..., 0] = np.where(givens > 0, 1e-4, 1.0)
    for r, c in zip(*np.nonzero(givens)):
        probs[r, c, givens[r, c]] = sure
        if (r, c) in misreads:
            probs[r, c, misreads[(r, c)]], probs[r, c, givens[r, c]] = 0.6, 0.35
    return (probs / probs.sum(axis=2, keepdims=True)).astype(np.float32)


def _misread(spec: PuzzleSpec, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(truth, givens as read, misreads): ``k`` givens read as another value."""
    truth = np.array(spec.givens)
    n = truth.shape[0]
    rng = np.random.default_rng(seed)
    cells = np.argwhere(truth > 0)
    misreads = {}
    for r, c in cells[rng.choice(len(cells), k, replace=False)]:
        misreads[(int(r), int(c))] = int((truth[r, c] + rng.integers(1, n)) % n or n)
    read = truth.copy()
    for (r, c), v in misreads.items():
        read[r, c] = v
    return truth, read, misreads


@pytest.fixture(scope="module")
def sudoku16():
    return make_puzzle("sudoku", 16, 5)


def test_likeliest_solution_is_a_solution_no_costlier_than_the_truth(sudoku16):
    from vlm_puzzle.solver import violations
    spec, solution = sudoku16
    truth, read, misreads = _misread(spec, 6, 1)
    probs = _reader(truth, misreads)
    best = likeliest_solution(16, spec.groups, reading_costs(read, probs, 8.0))
    assert best.proven and best.solution is not None and best.runner_up >= best.cost
    # It keeps the rules and every written cell within the bound; the truth costs what the six
    # true values lose against the misreadings (log 0.6/0.35 each): no less than it.
    open_spec = spec.with_givens(np.zeros((16, 16), int).tolist(), None)
    assert not violations(open_spec, best.solution)
    assert 0 < best.cost <= 6 * np.log(0.6 / 0.35) + 1e-6
    # Misreadings are undone (one that another solution fits may stay: the repair then asks
    # that the givens have one solution).
    kept = {(r, c) for r, c in misreads if best.solution[r][c] == read[r, c]}
    assert len(kept) < len(misreads)


def test_likeliest_solution_none_within_the_bound_and_out_of_time(sudoku16):
    spec, _ = sudoku16
    truth, read, misreads = _misread(spec, 3, 2)
    probs = _reader(truth, misreads)
    # Within 0.1 nat only the misreadings themselves are allowed: they break the rules.
    none = likeliest_solution(16, spec.groups, reading_costs(read, probs, 0.1))
    assert none.proven and none.solution is None
    # A search out of decisions says so and claims nothing.
    cut = likeliest_solution(16, spec.groups, reading_costs(read, probs, 8.0), max_nodes=0)
    assert not cut.proven


def test_repair_givens_fixes_a_big_board_with_many_misreadings(sudoku16):
    spec, _ = sudoku16
    truth, read, misreads = _misread(spec, 6, 3)
    template = PuzzleSpec.sudoku(np.zeros((16, 16), int).tolist(), box=(4, 4))
    out = repair_givens(template, read, _reader(truth, misreads), budget_s=5.0)
    assert out.status == "repaired" and out.solver_status == "solved"
    assert np.array_equal(out.givens, truth)
    assert {rp.cell for rp in out.changes} == set(misreads)


def test_repair_givens_keeps_a_board_whose_reading_the_reader_is_sure_of(sudoku16):
    spec, _ = sudoku16
    truth, read, _ = _misread(spec, 2, 4)
    # The reader is sure of the misreadings too: no likely reading has a solution.
    out = repair_givens(PuzzleSpec.sudoku(np.zeros((16, 16), int).tolist(), box=(4, 4)), read,
                        _reader(read, {}, sure=0.9999), budget_s=0.5)
    assert out.status == "failed" and np.array_equal(out.givens, read)


def test_a_near_tie_that_gives_another_unique_puzzle_is_two_readings():
    from types import SimpleNamespace

    from vlm_puzzle.check.judge import AMBIGUOUS_CLOSE, _ambiguous_givens
    from vlm_puzzle.check.templates import solver_says
    spec, _ = make_puzzle("sudoku", 4, 123)
    g = np.array(spec.givens)
    # A given whose other reading also leaves exactly one solution (a 4x4 of few givens has one).
    r, c, v = next((int(r), int(c), v) for r, c in np.argwhere(g > 0) for v in range(1, 5)
                   if v != g[r, c] and solver_says(spec, np.where((np.arange(4)[:, None] == r) &
                                                               (np.arange(4)[None, :] == c), v, g)) == "solved")

    def state(p_read: float, p_other: float):
        probs = _reader(g, {}, sure=0.999).astype(np.float64)
        probs[r, c] = 1e-4
        probs[r, c, g[r, c]], probs[r, c, v] = p_read, p_other
        return SimpleNamespace(probs=probs / probs.sum(axis=2, keepdims=True), repairs=(),
                               verdict=SimpleNamespace(solver_status="solved"))

    # Read 0.55 against 0.44 (within AMBIGUOUS_CLOSE): the picture allows both puzzles.
    assert np.log(0.55 / 0.44) < AMBIGUOUS_CLOSE
    assert f"{(r, c)}" in _ambiguous_givens(state(0.55, 0.44), spec)
    # Read 0.7 against 0.2 (1.25 nats apart, the first reading above one half): no doubt.
    assert _ambiguous_givens(state(0.7, 0.2), spec) == ""


def test_a_reading_no_repair_fits_is_repaired_under_the_marks_read_in_doubt(sudoku16):
    """A 16x16 read as an x-sudoku from a borderline diagonal score, with a misread given: no
    repair fits the x-sudoku rules, the plain sudoku's does."""
    from types import SimpleNamespace

    from vlm_puzzle.check.givens import RepairResult
    from vlm_puzzle.check.stage import _other_marks
    from vlm_puzzle.rules.geometry import Decision, build
    from vlm_puzzle.vision.marks import Marks
    from vlm_puzzle.vision.variants import VariantState
    spec, _ = sudoku16
    truth, read, misreads = _misread(spec, 1, 5)
    marks = Marks(diagonals=True, windows=False, shaded=np.zeros((16, 16), bool), diagonal_score=1.03,
                  window_score=0.0)
    variants = VariantState(size=16, edges=None, regions=None, cage_style=None, cages=(), diagonals=True,
                            windows=False, marks=marks)
    decision = Decision("x-sudoku", 16, (4, 4), True, ())
    x_rules = build(decision, variants)
    state = SimpleNamespace(variants=variants,
                            reading=SimpleNamespace(givens=read, probs=_reader(truth, misreads)))
    failed = RepairResult(read, "failed", "no_solution")
    rules, checked = _other_marks(x_rules, state, decision, failed, 1.0)
    assert rules.kind == "sudoku" and checked.status == "repaired" and np.array_equal(checked.givens, truth)
    # A diagonal read for sure leaves no other kind to try.
    sure = _with_diagonal_score(variants, 3.0)
    assert _other_marks(x_rules, SimpleNamespace(variants=sure, reading=state.reading), decision, failed, 1.0) \
        == (x_rules, failed)


def _with_diagonal_score(variants, score: float):
    from dataclasses import replace
    return replace(variants, marks=replace(variants.marks, diagonal_score=score))


def test_misreadings_past_the_narrowest_bound_are_repaired_by_the_wider_ones(sudoku16):
    from vlm_puzzle.check.givens import LIKELY_BOUNDS
    spec, _ = sudoku16
    truth, read, misreads = _misread(spec, 4, 5)
    probs = _reader(truth, {}).astype(np.float64)
    for (r, c), v in misreads.items():   # read at 0.99, the truth ~5.8 nats behind: past the first bound
        probs[r, c, :] = 1e-5
        probs[r, c, v], probs[r, c, truth[r, c]] = 0.99, 0.003
    probs /= probs.sum(axis=2, keepdims=True)
    assert LIKELY_BOUNDS[0] < np.log(0.99 / 0.003) < LIKELY_BOUNDS[-1]
    template = PuzzleSpec.sudoku(np.zeros((16, 16), int).tolist(), box=(4, 4))
    out = repair_givens(template, read, probs.astype(np.float32), budget_s=5.0)
    assert out.status == "repaired" and np.array_equal(out.givens, truth)
