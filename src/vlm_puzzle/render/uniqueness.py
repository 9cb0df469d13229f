"""Random complete grids, bounded solution counting and rule checks.

The generator asks the project's solver "is this unique?" (it is faster), and
uses this module for what the solver does not offer: random complete grids and
a second solution to compare with a known one.

The puzzle becomes an exact cover: columns are "cell (r, c) is filled" and
"group g holds digit d" (every group has exactly N cells, so each digit appears
exactly once); rows are single-cell digits or, for cells in a cage, one whole
valid digit tuple for the cage. Givens become forced rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Iterator

import numpy as np

from vlm_puzzle.render.exact_cover import ExactCover, SearchLimit
from vlm_puzzle.spec import Cage, Cell, PuzzleSpec

Grid = list[list[int]]


@dataclass(frozen=True)
class Count:
    """The outcome of a bounded search: ``solutions`` found (at most the limit asked
    for) and whether the node limit cut the search short (then the count is a floor)."""

    solutions: tuple[tuple[tuple[int, ...], ...], ...]
    exhausted: bool

    @property
    def unique(self) -> bool:
        return len(self.solutions) == 1 and not self.exhausted


def cage_options(cage: Cage, n: int, same_group: set[tuple[int, int]]) -> list[tuple[int, ...]]:
    """Every digit tuple (in ``cage.cells`` order) meeting the cage's clue.

    ``same_group`` holds index pairs (i, j), i < j, of cage cells that share an
    all-different group and so must differ even when the cage itself allows repeats.
    """
    k, t, op = len(cage.cells), cage.target, cage.op
    if op is None:
        return [(t,)] if 1 <= t <= n else []
    if op in ("sub", "div"):
        out = []
        for a in range(1, n + 1):
            for b in range(1, n + 1):
                hi, lo = max(a, b), min(a, b)
                ok = hi - lo == t if op == "sub" else hi == lo * t
                if ok and not (a == b and (0, 1) in same_group):
                    out.append((a, b))
        return out
    must_differ = [[j for j in range(i) if cage.distinct or (j, i) in same_group] for i in range(k)]
    out: list[tuple[int, ...]] = []
    vals: list[int] = []

    def feasible(i: int, acc: int) -> bool:
        left = k - i
        if op in ("sum", "add"):
            return acc + left <= t <= acc + left * n
        return t % acc == 0 and acc * 1 <= t <= acc * n ** left  # mul

    def rec(i: int, acc: int) -> None:
        if i == k:
            if acc == t:
                out.append(tuple(vals))
            return
        for v in range(1, n + 1):
            if any(vals[j] == v for j in must_differ[i]):
                continue
            nxt = acc + v if op in ("sum", "add") else acc * v
            if feasible(i + 1, nxt):
                vals.append(v)
                rec(i + 1, nxt)
                vals.pop()

    rec(0, 0 if op in ("sum", "add") else 1)
    return out


def _cover_for(n: int, groups, cages=(), givens=None) -> ExactCover:
    """Columns: ("cell", r, c), ("g", group, digit) and ("cage", i). A caged cell
    is filled only by its cage's rows, each a whole valid digit tuple (so the cage
    clue prunes as strongly as the groups do)."""
    groups_of: dict[Cell, list[int]] = {}
    for g, group in enumerate(groups):
        for cell in group:
            groups_of.setdefault(cell, []).append(g)
    givens = givens or [[0] * n for _ in range(n)]

    def cols(cell: Cell, d: int) -> list:
        return [("g", g, d) for g in groups_of.get(cell, ())]

    rows: dict[tuple, list] = {}
    caged: set[Cell] = set()
    for ci, cage in enumerate(cages):
        caged.update(cage.cells)
        same = {(i, j) for i in range(len(cage.cells)) for j in range(i + 1, len(cage.cells))
                if set(groups_of.get(cage.cells[i], ())) & set(groups_of.get(cage.cells[j], ()))}
        for oi, digits in enumerate(cage_options(cage, n, same)):
            if any(givens[r][c] not in (0, d) for (r, c), d in zip(cage.cells, digits)):
                continue
            cover = [("cage", ci)] + [("cell", r, c) for r, c in cage.cells]
            for cell, d in zip(cage.cells, digits):
                cover += cols(cell, d)
            rows[(1, ci, oi) + digits] = cover
    for r in range(n):
        for c in range(n):
            if (r, c) in caged:
                continue
            for d in range(1, n + 1):
                rows[(0, r, c, d)] = [("cell", r, c)] + cols((r, c), d)
    return ExactCover(rows)


def latin_groups(n: int) -> tuple[tuple[Cell, ...], ...]:
    """Rows then columns of an N x N grid: the groups of a latin square."""
    return tuple(tuple((r, c) for c in range(n)) for r in range(n)) + \
        tuple(tuple((r, c) for r in range(n)) for c in range(n))


def _decode(rows: list[tuple], n: int, cage_cells: dict) -> tuple[tuple[int, ...], ...]:
    grid = [[0] * n for _ in range(n)]
    for key in rows:
        if key[0] == 0:
            _, r, c, d = key
            grid[r][c] = d
        else:
            for (r, c), d in zip(cage_cells[key[1]], key[3:]):
                grid[r][c] = d
    return tuple(tuple(row) for row in grid)


def _forced_rows(spec: PuzzleSpec) -> list[tuple]:
    caged = {cell for cage in spec.cages for cell in cage.cells}
    return [(0, r, c, v) for r, row in enumerate(spec.givens) for c, v in enumerate(row)
            if v and (r, c) not in caged]


def count_solutions(spec: PuzzleSpec, *, limit: int = 2, node_limit: int = 200_000) -> Count:
    """Up to ``limit`` solutions of ``spec`` (givens and cages included)."""
    cover = _cover_for(spec.size, spec.groups, spec.cages, spec.givens)
    cage_cells = {ci: cage.cells for ci, cage in enumerate(spec.cages)}
    try:
        found = cover.search(limit=limit, node_limit=node_limit, forced=_forced_rows(spec))
        exhausted = False
    except SearchLimit:
        found, exhausted = [], True
    return Count(tuple(_decode(s, spec.size, cage_cells) for s in found), exhausted)


def random_solution(n: int, groups, rng: np.random.Generator, *,
                    node_limit: int | None = None, attempts: int = 80) -> Grid | None:
    """A random complete N x N grid in which every group holds 1..N, or None if
    the search found none within ``attempts`` restarts of ``node_limit`` nodes.

    Random-order search has a heavy tail (an early bad digit can cost 10^5 nodes),
    so many short restarts beat one long search: default 4*N*N nodes each."""
    node_limit = node_limit or max(400, 4 * n * n)
    cover = _cover_for(n, groups)
    for _ in range(attempts):
        try:
            found = cover.search(limit=1, node_limit=node_limit, rng=rng)
        except SearchLimit:
            continue
        if not found:
            return None  # the groups admit no grid at all
        return [list(row) for row in _decode(found[0], n, {})]
    return None


def iter_differences(a: tuple[tuple[int, ...], ...], b: tuple[tuple[int, ...], ...]) -> Iterator[Cell]:
    """Cells where two grids differ, in reading order."""
    for r, (ra, rb) in enumerate(zip(a, b)):
        for c, (x, y) in enumerate(zip(ra, rb)):
            if x != y:
                yield (r, c)


def check_solution(spec: PuzzleSpec, grid) -> list[str]:
    """Every rule of ``spec`` that ``grid`` breaks (empty list: it is a solution)."""
    n = spec.size
    problems = []
    for r, row in enumerate(spec.givens):
        for c, v in enumerate(row):
            if v and grid[r][c] != v:
                problems.append(f"cell ({r}, {c}) is {grid[r][c]}, the given is {v}")
    full = set(range(1, n + 1))
    for g, group in enumerate(spec.groups):
        if {grid[r][c] for r, c in group} != full:
            problems.append(f"group {g} starting at {group[0]} does not hold 1..{n}")
    for i, cage in enumerate(spec.cages):
        vals = [grid[r][c] for r, c in cage.cells]
        if cage.distinct and cage.op is not None and len(set(vals)) != len(vals):
            problems.append(f"cage {i} repeats a digit")
        if cage_value(cage.op, vals) != cage.target:
            problems.append(f"cage {i} at {cage.cells[0]} misses its target {cage.target}")
    return problems


def cage_value(op: str | None, vals: list[int]) -> int | None:
    """What a cage's digits make under ``op`` (None if they cannot, e.g. an inexact ÷)."""
    if op is None:
        return vals[0] if len(vals) == 1 else None
    if op in ("sum", "add"):
        return sum(vals)
    if op == "mul":
        return prod(vals)
    hi, lo = max(vals), min(vals)
    if op == "sub":
        return hi - lo
    return hi // lo if hi % lo == 0 else None
