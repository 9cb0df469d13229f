"""Check a filled grid against a spec, independently of the solver."""
from __future__ import annotations

from math import prod
from typing import Sequence

from ..spec import Cage, PuzzleSpec


def cage_holds(cage: Cage, values: Sequence[int]) -> bool:
    """Whether the digits of a cage satisfy its clue (and distinctness)."""
    if cage.distinct and len(set(values)) != len(values):
        return False
    if cage.op in ("sum", "add"):
        return sum(values) == cage.target
    if cage.op == "mul":
        return prod(values) == cage.target
    if cage.op == "sub":
        return max(values) - min(values) == cage.target
    if cage.op == "div":
        lo, hi = min(values), max(values)
        return lo > 0 and hi == lo * cage.target
    return len(values) == 1 and values[0] == cage.target


def violations(spec: PuzzleSpec, grid: Sequence[Sequence[int]]) -> list[str]:
    """Every way ``grid`` breaks the puzzle; empty when it is a valid solution."""
    n = spec.size
    if len(grid) != n or any(len(row) != n for row in grid):
        return [f"grid is not {n}x{n}"]
    out = []
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if not 1 <= v <= n:
                out.append(f"cell ({r}, {c}) holds {v}, outside 1..{n}")
            elif spec.givens[r][c] and spec.givens[r][c] != v:
                out.append(f"cell ({r}, {c}) holds {v} but the given is {spec.givens[r][c]}")
    for group in spec.groups:
        values = [grid[r][c] for r, c in group]
        if len(set(values)) != len(values):
            out.append(f"group starting at {group[0]} repeats a value: {values}")
    for cage in spec.cages:
        values = [grid[r][c] for r, c in cage.cells]
        if not cage_holds(cage, values):
            out.append(f"cage at {cage.cells[0]} ({cage.op} {cage.target}) fails with {values}")
    return out
