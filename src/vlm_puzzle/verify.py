"""An independent check of a solution against its spec (not trusting the solver)."""
from __future__ import annotations

from functools import reduce
from itertools import permutations

from vlm_puzzle.spec import Cage, PuzzleSpec


def check_solution(spec: PuzzleSpec, grid) -> list[str]:
    """Problems with ``grid`` as a solution of ``spec``; an empty list means it is valid."""
    n = spec.size
    problems: list[str] = []
    if grid is None or len(grid) != n or any(len(row) != n for row in grid):
        return [f"solution is not a {n}x{n} grid"]
    g = [[int(v) for v in row] for row in grid]
    for r in range(n):
        for c in range(n):
            if not 1 <= g[r][c] <= n:
                problems.append(f"cell ({r}, {c}) holds {g[r][c]}, outside 1..{n}")
            given = spec.givens[r][c]
            if given and given != g[r][c]:
                problems.append(f"cell ({r}, {c}) changed the given {given} to {g[r][c]}")
    for group in spec.groups:
        values = [g[r][c] for r, c in group]
        if len(set(values)) != len(values):
            problems.append(f"repeated digit in group starting at {group[0]}")
    for i, cage in enumerate(spec.cages):
        values = [g[r][c] for r, c in cage.cells]
        if cage.distinct and len(set(values)) != len(values):
            problems.append(f"cage {i} repeats a digit")
        if not cage_holds(cage, values):
            problems.append(f"cage {i} ({cage.op} {cage.target}) does not hold for {values}")
    return problems


def cage_holds(cage: Cage, values: list[int]) -> bool:
    op, t = cage.op, cage.target
    if op is None:
        return len(values) == 1 and values[0] == t
    if op in ("sum", "add"):
        return sum(values) == t
    if op == "mul":
        return reduce(lambda a, b: a * b, values, 1) == t
    if op == "sub":
        return any(a - b == t for a, b in permutations(values, 2))
    if op == "div":
        return any(b and a == t * b for a, b in permutations(values, 2))
    return False
