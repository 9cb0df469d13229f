"""The CSP solver: correctness on hard Sudokus, exact solution counts against a
brute-force enumeration on small puzzles, cage arithmetic, statuses, timeouts."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from constraint import BacktrackingSolver, Problem

from vlm_puzzle.solver import count_solutions, solve, violations
from vlm_puzzle.solver.constraints import (AllDifferentGroup, CageDifference, CageProduct,
                                           CageQuotient, CageSum)
from vlm_puzzle.solver.model import build_problem
from vlm_puzzle.solver.search import PropagatingSolver
from vlm_puzzle.spec import Cage, PuzzleSpec

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("VLM_PUZZLE_DATASETS", ROOT.parent / "shared" / "datasets"))
SUDOKU_TEXT = DATASETS / "sudoku-text"


def read_lines(name: str) -> list[str]:
    path = SUDOKU_TEXT / name
    if not path.is_file():
        pytest.skip(f"shared dataset {path} is missing (set VLM_PUZZLE_DATASETS)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


# ---- brute force: every Latin square, filtered by the spec ---------------------

def latin_squares(n: int):
    """All n x n Latin squares, row by row (576 for n=4)."""
    from itertools import permutations
    rows = list(permutations(range(1, n + 1)))
    grid: list[tuple] = []

    def extend():
        if len(grid) == n:
            yield [list(r) for r in grid]
            return
        for row in rows:
            if all(row[c] != prev[c] for prev in grid for c in range(n)):
                grid.append(row)
                yield from extend()
                grid.pop()

    yield from extend()


def brute_count(spec: PuzzleSpec) -> int:
    return sum(1 for grid in latin_squares(spec.size) if not violations(spec, grid))


def random_partition(n: int, rng: random.Random, max_size: int) -> list[list[tuple]]:
    """Grid cells split into connected cages of 1..max_size cells."""
    free = {(r, c) for r in range(n) for c in range(n)}
    cages = []
    while free:
        cell = min(free)
        cage = [cell]
        free.discard(cell)
        want = rng.randint(1, max_size)
        while len(cage) < want:
            options = [(r + dr, c + dc) for r, c in cage for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
                       if (r + dr, c + dc) in free]
            if not options:
                break
            nxt = rng.choice(sorted(options))
            cage.append(nxt)
            free.discard(nxt)
        cages.append(cage)
    return cages


def kenken_cage(cells, grid, rng: random.Random) -> Cage:
    vals = [grid[r][c] for r, c in cells]
    if len(cells) == 1:
        return Cage(tuple(cells), None, vals[0], distinct=False)
    ops = ["add", "mul"]
    if len(cells) == 2:
        lo, hi = sorted(vals)
        ops += ["sub"] + (["div"] if hi % lo == 0 else [])
    op = rng.choice(ops)
    target = {"add": sum(vals), "mul": _prod(vals), "sub": max(vals) - min(vals),
              "div": max(vals) // min(vals)}[op]
    if target < 1:  # a zero difference cannot be a clue; use the sum
        op, target = "add", sum(vals)
    return Cage(tuple(cells), op, target, distinct=False)


def _prod(vals):
    p = 1
    for v in vals:
        p *= v
    return p


def random_solved_grid(n: int, rng: random.Random, box=None) -> list[list[int]]:
    spec = PuzzleSpec.sudoku([[0] * n] * n) if box else PuzzleSpec.kenken(
        n, [Cage(((r, c),), None, 1 + (r + c) % n, distinct=False) for r in range(n) for c in range(n)])
    if box:
        squares = [g for g in latin_squares(n) if not violations(spec, g)]
    else:
        squares = list(latin_squares(n))
    grid = rng.choice(squares)
    perm = list(range(1, n + 1))
    rng.shuffle(perm)  # relabel digits for variety
    return [[perm[v - 1] for v in row] for row in grid]


# ---- hard Sudokus ---------------------------------------------------------------

def test_top95_and_hardest_solved_unique_and_valid():
    lines = read_lines("top95.txt") + read_lines("hardest.txt")
    for line in lines:
        spec = PuzzleSpec.from_line(line)
        out = solve(spec)
        assert out.status == "solved", line
        assert out.solutions_found == 1
        assert violations(spec, out.solution) == [], line


def test_sudoku17_sample_solved():
    lines = read_lines("sudoku17.txt")
    for line in random.Random(17).sample(lines, 60):
        spec = PuzzleSpec.from_line(line)
        out = solve(spec)
        assert out.status == "solved" and violations(spec, out.solution) == []


# ---- exact counts against brute force ---------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_4x4_sudoku_counts_match_brute_force(seed):
    rng = random.Random(seed)
    grid = random_solved_grid(4, rng, box=(2, 2))
    keep = rng.randint(0, 7)
    cells = rng.sample([(r, c) for r in range(4) for c in range(4)], keep)
    givens = [[grid[r][c] if (r, c) in cells else 0 for c in range(4)] for r in range(4)]
    if seed % 3 == 0 and cells:  # sometimes a wrong given: zero solutions, or a different set
        r, c = cells[0]
        givens[r][c] = givens[r][c] % 4 + 1
    spec = PuzzleSpec.sudoku(givens)
    assert count_solutions(spec, limit=10_000) == brute_count(spec)


@pytest.mark.parametrize("n,seed", [(3, s) for s in range(6)] + [(4, s) for s in range(10)])
def test_kenken_counts_match_brute_force(n, seed):
    rng = random.Random(100 + seed)
    grid = random_solved_grid(n, rng)
    cages = [kenken_cage(cells, grid, rng) for cells in random_partition(n, rng, max_size=3)]
    spec = PuzzleSpec.kenken(n, cages)
    expected = brute_count(spec)
    assert expected >= 1  # the grid we built the cages from
    assert count_solutions(spec, limit=10_000) == expected
    out = solve(spec)
    assert out.status == ("solved" if expected == 1 else "multiple")
    assert violations(spec, out.solution) == []


@pytest.mark.parametrize("seed", range(8))
def test_small_killer_counts_match_brute_force(seed):
    rng = random.Random(200 + seed)
    grid = random_solved_grid(4, rng, box=(2, 2))
    cages = []
    for cells in random_partition(4, rng, max_size=3):
        vals = [grid[r][c] for r, c in cells]
        # A cage that repeats a digit in the grid we drew cannot be distinct.
        cages.append(Cage(tuple(cells), "sum", sum(vals), distinct=len(set(vals)) == len(vals)))
    spec = PuzzleSpec.killer(cages, size=4)
    assert count_solutions(spec, limit=10_000) == brute_count(spec) >= 1


def test_count_solutions_of_empty_4x4_sudoku_is_288():
    assert count_solutions(PuzzleSpec.sudoku([[0] * 4] * 4)) == 288


# ---- statuses ---------------------------------------------------------------------

def test_contradictory_givens_have_no_solution():
    line = read_lines("top95.txt")[0]
    givens = [list(r) for r in PuzzleSpec.from_line(line).givens]
    # Two 5s in row 0 (the puzzle's first row is 4.....8.5).
    assert givens[0][0] == 4 and givens[0][8] == 5
    givens[0][1] = 5
    out = solve(PuzzleSpec.sudoku(givens))
    assert out.status == "no_solution" and out.solution is None and out.solutions_found == 0


def test_cell_without_candidates_has_no_solution():
    # No two givens clash, yet cell (0, 0) sees 1..8 in its row and 9 in its column.
    givens = [[0] * 9 for _ in range(9)]
    givens[0] = [0, 1, 2, 3, 4, 5, 6, 7, 8]
    givens[5][0] = 9
    out = solve(PuzzleSpec.sudoku(givens))
    assert out.status == "no_solution"


def test_under_constrained_is_multiple():
    line = read_lines("top95.txt")[0]
    spec = PuzzleSpec.from_line(line)
    givens = [list(r) for r in spec.givens]
    clues = [(r, c) for r in range(9) for c in range(9) if givens[r][c]]
    out = solve(spec)
    for r, c in clues:  # drop clues until the answer opens up
        givens[r][c] = 0
        out = solve(PuzzleSpec.sudoku(givens))
        if out.status != "solved":
            break
    assert out.status == "multiple" and out.solutions_found == 2
    assert violations(PuzzleSpec.sudoku(givens), out.solution) == []
    assert solve(PuzzleSpec.sudoku(givens), unique=False).status == "solved"


def test_empty_16x16_is_multiple_and_valid():
    spec = PuzzleSpec.sudoku([[0] * 16] * 16)
    out = solve(spec, timeout_s=20)
    assert out.status == "multiple"
    assert violations(spec, out.solution) == []


def test_timeout_reports_timeout_not_hang():
    spec = PuzzleSpec.sudoku([[0] * 9] * 9)
    with pytest.raises(TimeoutError):
        count_solutions(spec, limit=10 ** 12, timeout_s=0.3)
    out = solve(PuzzleSpec.sudoku([[0] * 16] * 16), timeout_s=0.0)
    assert out.status == "timeout"
    assert out.stats.time_s < 5


def test_outcome_to_dict():
    out = solve(PuzzleSpec.sudoku([[0] * 4] * 4), unique=False)
    d = out.to_dict()
    assert d["status"] == "solved" and len(d["solution"]) == 4 and d["stats"]["nodes"] >= 1


def test_given_against_fixed_cage_is_no_solution():
    cages = [Cage(((r, c),), None, 1 + (r + c) % 3, distinct=False) for r in range(3) for c in range(3)]
    givens = [[2, 0, 0], [0, 0, 0], [0, 0, 0]]  # cage says (0,0) is 1
    assert solve(PuzzleSpec.kenken(3, cages, givens=givens)).status == "no_solution"


# ---- cage arithmetic ----------------------------------------------------------------

def _pairs_allowed(constraint, n=6):
    """Values of the pair (a, b) python-constraint's own solver accepts."""
    p = Problem(BacktrackingSolver())
    p.addVariables(["a", "b"], range(1, n + 1))
    p.addConstraint(constraint, ["a", "b"])
    return sorted((s["a"], s["b"]) for s in p.getSolutions())


def _pairs_propagated(constraint, n=6):
    """Values of the pair that survive our propagator + search."""
    p = Problem(PropagatingSolver())
    p.addVariables(["a", "b"], range(1, n + 1))
    p.addConstraint(constraint, ["a", "b"])
    return sorted((s["a"], s["b"]) for s in p.getSolutions())


@pytest.mark.parametrize("constraint,expected", [
    (CageDifference(2), [(a, b) for a in range(1, 7) for b in range(1, 7) if abs(a - b) == 2]),
    (CageQuotient(2), [(1, 2), (2, 1), (2, 4), (3, 6), (4, 2), (6, 3)]),
    (CageQuotient(3), [(1, 3), (2, 6), (3, 1), (6, 2)]),
    (CageProduct(12), [(2, 6), (3, 4), (4, 3), (6, 2)]),
    (CageSum(7), [(a, 7 - a) for a in range(1, 7)]),
    (CageSum(4, distinct=True, digits=range(1, 7)), [(1, 3), (3, 1)]),
])
def test_two_cell_cage_arithmetic_either_order(constraint, expected):
    assert _pairs_allowed(constraint) == expected
    assert _pairs_propagated(constraint) == expected


def test_three_cell_product_and_sum_match_library_solver():
    for constraint in (CageProduct(12), CageSum(9), CageSum(9, distinct=True, digits=range(1, 7))):
        solutions = {}
        for solver in (BacktrackingSolver(), PropagatingSolver()):
            p = Problem(solver)
            p.addVariables("abc", range(1, 7))
            p.addConstraint(constraint, list("abc"))
            solutions[type(solver).__name__] = sorted(tuple(s[v] for v in "abc") for s in p.getSolutions())
        assert solutions["BacktrackingSolver"] == solutions["PropagatingSolver"]
        assert solutions["PropagatingSolver"]


def test_library_function_constraints_work_in_propagating_solver():
    # A plain python-constraint model with a lambda: handled by the fallback propagator.
    p = Problem(PropagatingSolver())
    p.addVariables("xyz", range(1, 5))
    p.addConstraint(AllDifferentGroup(), list("xyz"))
    p.addConstraint(lambda x, y, z: x + y == z, list("xyz"))
    got = sorted((s["x"], s["y"], s["z"]) for s in p.getSolutions())
    assert got == [(1, 2, 3), (1, 3, 4), (2, 1, 3), (3, 1, 4)]


def test_kenken_model_through_library_solver_agrees():
    rng = random.Random(7)
    grid = random_solved_grid(4, rng)
    cages = [kenken_cage(cells, grid, rng) for cells in random_partition(4, rng, max_size=3)]
    spec = PuzzleSpec.kenken(4, cages)
    lib = build_problem(spec, BacktrackingSolver())
    assert len(lib.getSolutions()) == count_solutions(spec)


def test_single_cell_cages_fix_cells():
    cages = [Cage(((r, c),), None, 1 + (r + 2 * c) % 3, distinct=False) for r in range(3) for c in range(3)]
    spec = PuzzleSpec.kenken(3, cages)
    out = solve(spec)
    assert out.status == "solved"
    assert out.solution == [[1 + (r + 2 * c) % 3 for c in range(3)] for r in range(3)]


# ---- killer reasoning is sound: implied sums hold on the true solution ----------------

def _solved_9x9() -> list[list[int]]:
    return solve(PuzzleSpec.from_line(read_lines("top95.txt")[0])).solution


def assert_implied_hold(spec: PuzzleSpec, grid) -> int:
    """Every implied cage derived for ``spec`` holds on its solution ``grid``."""
    from vlm_puzzle.solver.model import implied_cages
    implied = implied_cages(spec)
    for constraint, cells in implied:
        vals = [grid[r][c] for r, c in cells]
        if isinstance(constraint, CageSum):
            assert sum(vals) == constraint.target
            assert not constraint.distinct or len(set(vals)) == len(vals)
        else:
            assert _prod(vals) == constraint.target
    return len(implied)


@pytest.mark.parametrize("seed", range(6))
def test_implied_cages_hold_on_the_solution(seed):
    rng = random.Random(300 + seed)
    grid = _solved_9x9()
    cages = []
    for cells in random_partition(9, rng, max_size=5):
        vals = [grid[r][c] for r, c in cells]
        cages.append(Cage(tuple(cells), "sum", sum(vals), distinct=len(set(vals)) == len(vals)))
    givens = [[grid[r][c] if rng.random() < 0.1 else 0 for c in range(9)] for r in range(9)]
    spec = PuzzleSpec.killer(cages, givens=givens)
    assert assert_implied_hold(spec, grid) > 0  # a 9x9 killer always yields some
    kenken = PuzzleSpec.kenken(9, [kenken_cage(cells, grid, rng) for cells in random_partition(9, rng, 4)])
    assert_implied_hold(kenken, grid)  # may be none: cages can all straddle rows
    out = solve(spec, timeout_s=30)
    assert out.status in ("solved", "multiple")
    assert violations(spec, out.solution) == []
    if out.status == "solved":
        assert out.solution == grid
    else:
        assert_two_valid_solutions(spec)


def test_9x9_kenken_from_a_grid_is_solved_consistently():
    rng = random.Random(11)
    grid = _solved_9x9()  # a sudoku solution is also a Latin square
    cages = [kenken_cage(cells, grid, rng) for cells in random_partition(9, rng, max_size=4)]
    spec = PuzzleSpec.kenken(9, cages)
    out = solve(spec, timeout_s=30)
    assert out.status in ("solved", "multiple")
    assert violations(spec, out.solution) == []
    if out.status == "solved":
        assert out.solution == grid
    else:
        assert_two_valid_solutions(spec)


def assert_two_valid_solutions(spec: PuzzleSpec) -> None:
    """A "multiple" verdict is backed by two different valid grids."""
    grids = []
    for assignment in build_problem(spec, PropagatingSolver()).getSolutionIter():
        grids.append([[assignment[(r, c)] for c in range(spec.size)] for r in range(spec.size)])
        if len(grids) == 2:
            break
    assert len(grids) == 2 and grids[0] != grids[1]
    assert violations(spec, grids[0]) == [] and violations(spec, grids[1]) == []


def test_bad_arguments_raise_clear_errors():
    from vlm_puzzle.spec import SpecError
    with pytest.raises(SpecError, match="PuzzleSpec"):
        solve("4.....8.5")
    spec = PuzzleSpec.sudoku([[0] * 4] * 4)
    with pytest.raises(ValueError, match="timeout_s"):
        solve(spec, timeout_s=-1)
    with pytest.raises(ValueError, match="limit"):
        count_solutions(spec, limit=0)
