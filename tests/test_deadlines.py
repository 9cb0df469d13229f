"""Issue 18: the solver's ``timeout_s`` holds inside propagation, for cages of any size."""
from __future__ import annotations

import math
import time

import pytest

from vlm_puzzle.solver.solving import solve
from vlm_puzzle.spec import Cage, PuzzleSpec

# The promise is 10% (at least 50 ms), measured by experiments/bench_faults.py on a quiet machine; a
# test shares a 2-core CI machine with other work, so it allows more (before the fix: 9-60 s over).
SLACK = lambda t: max(0.5 * t, 0.2)  # noqa: E731


def kenken_one_multiply_cage(cells: int) -> PuzzleSpec:
    """A 9x9 KenKen whose first ``cells`` cells form one multiply cage (product 9!^(cells/9))."""
    grid = [(r, c) for r in range(9) for c in range(9)]
    cages = [Cage(tuple(grid[:cells]), "mul", math.factorial(9) ** (cells // 9), distinct=False)]
    cages += [Cage((cell,), None, 1 + (cell[0] + 2 * cell[1]) % 9, distinct=False) for cell in grid[cells:]]
    return PuzzleSpec.kenken(9, cages)


def killer_one_cage(distinct: bool) -> PuzzleSpec:
    cells = tuple((r, c) for r in range(16) for c in range(16))
    return PuzzleSpec.killer([Cage(cells, "sum", 16 * 136, distinct=distinct)], size=16)


@pytest.mark.parametrize("spec", [kenken_one_multiply_cage(81), kenken_one_multiply_cage(45),
                                  killer_one_cage(False)], ids=["mul81", "mul45", "sum256"])
def test_timeout_honoured_inside_big_cage_propagation(spec):
    # Before issue 18: over 60 s (mul81), 30 s (mul45), 9 s (sum256) with these limits.
    limit = 0.3
    t0 = time.perf_counter()
    out = solve(spec, timeout_s=limit)
    elapsed = time.perf_counter() - t0
    assert out.status == "timeout"
    assert elapsed <= limit + SLACK(limit), elapsed


def test_timeout_zero_means_no_search():
    spec = PuzzleSpec.from_line("1..4" "...." "...." "4..1")
    out = solve(spec, timeout_s=0)
    assert out.status == "timeout" and out.stats.nodes == 0 and out.solution is None
    assert solve(spec, timeout_s=None).status in ("solved", "multiple")
