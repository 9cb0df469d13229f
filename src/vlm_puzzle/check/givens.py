"""Repair misread givens with the solver, guided by the reader's probabilities.

When the read givens break a rule, or give no or several solutions, the
likeliest explanation is that one or two cells were misread. Candidate
readings change a few cells to their next most likely values; they are tried
in order of total extra loss (sum over changed cells of
``-log p(new) + log p(old)``, plus a fixed penalty per changed cell), cheapest first, and the first that gives a
rule-abiding grid with exactly one solution wins. A reading that already has
exactly one solution is never changed.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np

from vlm_puzzle.solver import solve
from vlm_puzzle.spec import PuzzleSpec, SpecError
from vlm_puzzle.verdict import Repair

MAX_CHANGES = 3          # cells changed at most
MAX_ALTERNATIVES = 40    # cheapest single-cell changes considered
PER_CONFLICT = 6         # more, of each cell that repeats a value
MAX_COST = 20.0          # nats; a change less likely than ~2e-9 relative is not a misreading
# A reading with several solutions may simply be a puzzle with several solutions:
# change it only where the reader itself was unsure (a change it gave at least
# e^-4, 1 in 55, of its first guess: the clue repair's bound, ``judge.UNLIKELY_REPAIR``).
# A sure reading is never changed just to make the puzzle unique.
MAX_COST_MULTIPLE = 4.0
MAX_SOLVES = 150         # solver calls at most
# Misreadings are rare: each changed cell costs this much on top of its
# probability loss, so one unlikely change beats several merely plausible ones.
CHANGE_PENALTY = 2.0     # nats


@dataclass(frozen=True)
class RepairResult:
    """Outcome of :func:`repair_givens`.

    ``status``: ``"not_needed"`` (the reading had exactly one solution),
    ``"repaired"``, or ``"failed"`` (no cheap change gives one solution; the
    reading is returned unchanged). ``solver_status``: the solver's verdict on
    the returned givens. ``changes``: the cells changed.
    """

    givens: np.ndarray
    status: str
    solver_status: str
    changes: tuple[Repair, ...] = ()
    cost: float = 0.0
    tried: int = 0
    solve_calls: int = 0
    time_s: float = 0.0
    solution: list[list[int]] | None = None


def _repeats(spec: PuzzleSpec, givens: np.ndarray):
    """(cell, cell) pairs of givens in one all-different group with the same value, lazily."""
    return _repeats_in(spec.groups, givens)


def _repeats_in(groups, givens: np.ndarray):
    for group in groups:
        seen: dict[int, tuple[int, int]] = {}
        for r, c in group:
            v = int(givens[r, c])
            if v and v in seen:
                yield seen[v], (r, c)
            elif v:
                seen[v] = (r, c)


def conflicts(spec: PuzzleSpec, givens: np.ndarray) -> bool:
    """True when two givens in one all-different group repeat a value."""
    return next(_repeats(spec, givens), None) is not None


def _repeat_in(group, givens: np.ndarray) -> bool:
    return next(_repeats_in((group,), givens), None) is not None


def conflicts_after(spec: PuzzleSpec, givens: np.ndarray):
    """A test ``(candidate, changed cells) -> bool`` equal to :func:`conflicts` on candidates
    that change a few cells of ``givens``: only the groups through a changed cell are
    scanned again (a 16x16 board's repair tries thousands of candidates, most of which repeat)."""
    groups = spec.groups
    through: dict[tuple[int, int], list[int]] = {}
    for k, group in enumerate(groups):
        for cell in group:
            through.setdefault(cell, []).append(k)
    bad = {k for k, group in enumerate(groups) if _repeat_in(group, givens)}

    def test(candidate: np.ndarray, cells) -> bool:
        touched = {k for cell in cells for k in through.get(cell, ())}
        return bool(bad - touched) or any(_repeat_in(groups[k], candidate) for k in touched)
    return test


def verdict(template: PuzzleSpec, givens: np.ndarray, timeout_s: float) -> tuple[str, list | None]:
    """The solver's verdict on ``givens`` under ``template``'s rules, no repair:
    (status, the solution when there is exactly one)."""
    givens = np.asarray(givens, dtype=np.int64)
    if conflicts(template, givens):
        return "no_solution", None
    return _solve(template, givens, timeout_s)


def _solve(template: PuzzleSpec, givens: np.ndarray, timeout_s: float):
    try:
        spec = template.with_givens(givens.tolist(), None)
    except SpecError:
        return "no_solution", None
    out = solve(spec, unique=True, timeout_s=timeout_s)
    return out.status, out.solution


def conflicting_cells(spec: PuzzleSpec, givens: np.ndarray) -> set[tuple[int, int]]:
    """The cells whose value another given of one of their all-different groups repeats."""
    return {cell for pair in _repeats(spec, givens) for cell in pair}


def clearable(pairs, cells, max_changes: int) -> bool:
    """Whether changing at most ``max_changes`` of ``cells`` can change a cell of each
    ((r, c), (r, c)) pair of givens that repeat a value (a candidate that leaves a pair as
    it is repeats that value)."""
    if not pairs:
        return True
    if max_changes == 0:
        return False
    return any(cell in cells and clearable([p for p in pairs if cell not in p], cells, max_changes - 1)
               for cell in pairs[0])


def _alternatives(probs: np.ndarray, givens: np.ndarray, max_cost: float = MAX_COST,
                  must: set[tuple[int, int]] = frozenset()) -> list[tuple[float, int, int, int]]:
    """(cost, r, c, value) of the single-cell changes cheaper than MAX_COST, cheapest first:
    the MAX_ALTERNATIVES cheapest, and besides them up to PER_CONFLICT of each cell in
    ``must`` (givens that repeat a value in a group, one of which a repair has to change):
    on a 16x16 board many doubtful cells that break no rule (a lowercase b read half as d)
    would crowd them out."""
    n = givens.shape[0]
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-12))
    out = []
    for r in range(n):
        for c in range(n):
            cur = int(givens[r, c])
            for v in range(probs.shape[2]):
                if v == cur:
                    continue
                cost = float(logp[r, c, cur] - logp[r, c, v]) + CHANGE_PENALTY
                if cost < max_cost + CHANGE_PENALTY:
                    out.append((cost, r, c, v))
    out.sort()
    per_cell: dict[tuple[int, int], int] = {}
    keep = out[:MAX_ALTERNATIVES]
    for a in out[MAX_ALTERNATIVES:]:
        cell = (a[1], a[2])
        if cell in must and per_cell.get(cell, 0) < PER_CONFLICT:
            per_cell[cell] = per_cell.get(cell, 0) + 1
            keep.append(a)
    return sorted(keep)


def subsets_by_cost(alts: list[tuple[float, int, int, int]], max_size: int):
    """Index tuples of ``alts`` (ascending costs) in increasing total cost, no cell twice."""
    if not alts:
        return
    heap = [(alts[0][0], (0,))]
    seen = set()
    while heap:
        cost, idx = heapq.heappop(heap)
        if idx in seen:
            continue
        seen.add(idx)
        cells = [(alts[i][1], alts[i][2]) for i in idx]
        if len(set(cells)) == len(cells):
            yield cost, idx
        last = idx[-1]
        if last + 1 < len(alts):
            # Replace the last element by the next one; or append the next one.
            heapq.heappush(heap, (cost - alts[last][0] + alts[last + 1][0], idx[:-1] + (last + 1,)))
            if len(idx) < max_size:
                heapq.heappush(heap, (cost + alts[last + 1][0], idx + (last + 1,)))


def repair_givens(template: PuzzleSpec, givens: np.ndarray, probs: np.ndarray, *,
                  timeout_s: float = 1.0, budget_s: float = 3.0) -> RepairResult:
    """Check the read ``givens`` against ``template``'s rules and repair them if needed.

    ``probs``: (N, N, N+1) value probabilities (index 0 = empty) from the reader.
    ``timeout_s``: per solver call; ``budget_s``: for the whole search.
    """
    t0 = time.perf_counter()
    givens = np.asarray(givens, dtype=np.int64)
    calls = 0
    if conflicts(template, givens):
        status, solution = "no_solution", None
    else:
        status, solution = _solve(template, givens, timeout_s)
        calls += 1
    if status == "solved":
        return RepairResult(givens, "not_needed", status, solve_calls=calls,
                            time_s=time.perf_counter() - t0, solution=solution)
    first_status = status
    if status == "timeout":
        # The solver could not decide in time: nothing to compare repairs against.
        return RepairResult(givens, "failed", status, solve_calls=calls, time_s=time.perf_counter() - t0)
    alts = _alternatives(probs, givens, MAX_COST_MULTIPLE if status == "multiple" else MAX_COST,
                         conflicting_cells(template, givens))
    tried = 0
    repeats = conflicts_after(template, givens)
    if not clearable(list(_repeats(template, givens)), {(a[1], a[2]) for a in alts}, MAX_CHANGES):
        # No candidate changes a cell of every repeated pair: each would repeat a value
        # (a 16x16 misreading's search went through ~100,000 of them to find that).
        alts = []
    for cost, idx in subsets_by_cost(alts, MAX_CHANGES):
        if calls >= MAX_SOLVES or time.perf_counter() - t0 > budget_s:
            break
        cand = givens.copy()
        for i in idx:
            _, r, c, v = alts[i]
            cand[r, c] = v
        tried += 1
        if repeats(cand, [(alts[i][1], alts[i][2]) for i in idx]):
            continue
        calls += 1
        st, sol = _solve(template, cand, timeout_s)
        if st == "solved":
            changes = tuple(Repair(cell=(alts[i][1], alts[i][2]), from_=int(givens[alts[i][1], alts[i][2]]),
                                   to=int(alts[i][3])) for i in sorted(idx, key=lambda i: (alts[i][1], alts[i][2])))
            return RepairResult(cand, "repaired", st, changes, cost, tried, calls,
                                time.perf_counter() - t0, sol)
    return RepairResult(givens, "failed", first_status, (), 0.0, tried, calls, time.perf_counter() - t0)
