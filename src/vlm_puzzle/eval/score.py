"""Scoring a reading or an answer against the truth: whether a spec was read entirely right, whether a
solution is right, a pipeline result's verdict."""
from __future__ import annotations

from vlm_puzzle.eval.truth import Truth
from vlm_puzzle.solver import solve, violations
from vlm_puzzle.spec import PuzzleSpec


def canonical(spec: PuzzleSpec) -> tuple:
    """What 'read entirely right' compares: everything but confidences and cage order."""
    return (spec.kind, spec.size, spec.box, spec.regions and _partition(spec.regions), spec.diagonals,
            tuple(sorted(map(tuple, spec.windows))),
            tuple(sorted((tuple(sorted(c.cells)), c.op, c.target) for c in spec.cages)),
            tuple(map(tuple, spec.givens)))


def _partition(regions) -> tuple:
    groups: dict[int, list] = {}
    for r, row in enumerate(regions):
        for c, v in enumerate(row):
            groups.setdefault(v, []).append((r, c))
    return tuple(sorted(tuple(g) for g in groups.values()))


def solved_right(spec: PuzzleSpec | None, truth_spec: PuzzleSpec, solution) -> bool:
    """Whether the solver's answer to the read ``spec`` is the true ``solution``, or satisfies the true
    puzzle (every benchmark puzzle has one solution, so the same)."""
    if spec is None:
        return False
    out = solve(spec, unique=False, timeout_s=10.0)
    if out.solution is None:
        return False
    got = [list(map(int, row)) for row in out.solution]
    return got == [list(map(int, r)) for r in solution] or not violations(truth_spec, got)


def solution_right(solution, truth: Truth) -> bool:
    """Whether ``solution`` (rows of digits) is the truth's solution or, where the truth has none on file
    (the .dat photos), satisfies the true puzzle (the true givens as a sudoku: it has one solution)."""
    if truth.solution is not None:
        return solution == truth.solution
    try:
        return not violations(truth.spec or PuzzleSpec.sudoku(truth.givens), solution)
    except Exception:  # a solution of the wrong shape, unreadable truth: not right
        return False


def verdict(result, truth: Truth) -> dict:
    """A pipeline result's verdicts against ``truth``: solved right, givens (all, per cell), size, kind,
    grid found."""
    n = truth.size
    read = result.givens
    size_right = read is not None and len(read) == n
    cells_right = sum(1 for a, b in zip(read, truth.givens) for x, y in zip(a, b) if x == y) if size_right else 0
    return {"solved_right": bool(result.solved) and solution_right(result.solution, truth),
            "givens_right": size_right and cells_right == n * n,
            "cells_right": cells_right, "cells": n * n, "size_right": size_right,
            "kind_right": (result.kind == truth.kind) if truth.kind else None,
            "grid_found": result.givens is not None}
