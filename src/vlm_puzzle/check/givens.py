"""Repair misread givens with the solver, guided by the reader's probabilities.

When the read givens break a rule, or give no or several solutions, the
likeliest explanation is that one or two cells were misread. Candidate
readings change a few cells to their next most likely values; they are tried
in order of total extra loss (sum over changed cells of
``-log p(new) + log p(old)``, plus a fixed penalty per changed cell), cheapest first, and the first that gives a
rule-abiding grid with exactly one solution wins. A reading that already has
exactly one solution is never changed.

A reading that breaks the rules of a puzzle without cages can also be repaired to the
solution the reader found likeliest (:mod:`vlm_puzzle.check.likeliest`), when that solution's
values in the written cells have exactly one solution: first on big boards (a 16x16 board
written by hand can hold five or more misread cells, past the few changes tried in turn),
after that search on the others.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np

from vlm_puzzle.check.likeliest import likeliest_solution, reading_costs
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
# The likeliest solution: a written cell may take the values the reader gave within the last
# of these many nats of its reading; each narrower bound finds a solution fast whose cost
# bounds the wider searches (a misread handwritten cell's true value lies within 4 nats of
# the misreading for most of them on development boards, within 8.6 for all).
LIKELY_BOUNDS = (4.0, 6.0, 8.0)  # the 6-nat answer prunes the 8-nat search: 13,351 -> 1,704 nodes on one 16x16
BIG_BOARD = 12           # boards of this size and more try the likeliest solution first
LIKELY_LAST_S = 0.5      # seconds the likeliest solution may take after the change search failed
LIKELY_SOLVES = 40       # solver calls at most to leave the likeliest solution's givens one solution


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


def likeliest_repair(template: PuzzleSpec, givens: np.ndarray, probs: np.ndarray, *,
                     timeout_s: float, deadline: float) -> tuple[np.ndarray, list[list[int]]] | None:
    """(givens, solution): the written cells set to the likeliest solution's values (each
    within LIKELY_BOUNDS[-1] nats of its reading; searched within the narrower bounds first,
    whose answers bound the wider searches), when the search proved it likeliest before
    ``deadline`` and those givens have exactly one solution (after at most MAX_CHANGES more
    changes the reader found likely, when they have several); else None. Puzzles with
    cages: None."""
    if template.cages or not np.any(givens):
        return None
    n = givens.shape[0]
    solution, cost = None, float("inf")
    for bound in LIKELY_BOUNDS:
        # Each wider bound's likeliest: cheaper than the one found so far, if any is.
        best = likeliest_solution(n, template.groups, reading_costs(givens, probs, bound), deadline=deadline,
                                  below=cost)
        if not best.proven:
            return None
        if best.solution is not None:
            solution, cost = best.solution, best.cost
    if solution is None:
        return None
    repaired = np.where(givens > 0, np.asarray(solution, dtype=np.int64), 0)
    status, solution = _solve(template, repaired, timeout_s)
    if status == "multiple":
        # Misreadings that another solution fits were kept: a few more changes the reader
        # found likely (as for a reading with several solutions) may leave one.
        alts = _alternatives(probs, repaired, MAX_COST_MULTIPLE)
        found, _, _ = _cheapest_changes(template, repaired, alts, timeout_s, deadline, LIKELY_SOLVES)
        if found is not None:
            return found[2], found[3]
    return (repaired, solution) if status == "solved" else None


def _repaired(givens: np.ndarray, cand: np.ndarray, probs: np.ndarray, solution, tried: int, calls: int,
              t0: float) -> RepairResult:
    """The RepairResult of a repair from ``givens`` to ``cand`` (cost as the search counts it)."""
    cells = [(int(r), int(c)) for r, c in zip(*np.nonzero(cand != givens))]
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-12))
    cost = sum(float(logp[r, c, givens[r, c]] - logp[r, c, cand[r, c]]) + CHANGE_PENALTY for r, c in cells)
    changes = tuple(Repair(cell=cell, from_=int(givens[cell]), to=int(cand[cell])) for cell in cells)
    return RepairResult(cand, "repaired", "solved", changes, cost, tried, calls, time.perf_counter() - t0, solution)


def _cheapest_changes(template: PuzzleSpec, givens: np.ndarray, alts, timeout_s: float, deadline: float,
                      max_solves: int):
    """((cost, alternative indices, givens, solution) of the cheapest changes by ``alts`` (see
    :func:`_alternatives`), at most MAX_CHANGES, that give exactly one solution, or None;
    candidates tried, solver calls), searched until ``deadline`` or ``max_solves`` calls."""
    tried = calls = 0
    if not clearable(list(_repeats(template, givens)), {(a[1], a[2]) for a in alts}, MAX_CHANGES):
        # No candidate changes a cell of every repeated pair: each would repeat a value
        # (a 16x16 misreading's search went through ~100,000 of them to find that).
        return None, tried, calls
    repeats = conflicts_after(template, givens)
    for cost, idx in subsets_by_cost(alts, MAX_CHANGES):
        if calls >= max_solves or time.perf_counter() > deadline:
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
            return (cost, idx, cand, sol), tried, calls
    return None, tried, calls


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
    likely = status == "no_solution"
    if likely and givens.shape[0] >= BIG_BOARD:
        likely = False
        found = likeliest_repair(template, givens, probs, timeout_s=timeout_s, deadline=t0 + budget_s)
        if found is not None:
            return _repaired(givens, found[0], probs, found[1], 0, calls + 1, t0)
    alts = _alternatives(probs, givens, MAX_COST_MULTIPLE if status == "multiple" else MAX_COST,
                         conflicting_cells(template, givens))
    found, tried, k = _cheapest_changes(template, givens, alts, timeout_s, t0 + budget_s, MAX_SOLVES - calls)
    calls += k
    if found is not None:
        cost, idx, cand, sol = found
        changes = tuple(Repair(cell=(alts[i][1], alts[i][2]), from_=int(givens[alts[i][1], alts[i][2]]),
                               to=int(alts[i][3])) for i in sorted(idx, key=lambda i: (alts[i][1], alts[i][2])))
        return RepairResult(cand, "repaired", "solved", changes, cost, tried, calls, time.perf_counter() - t0, sol)
    if likely:
        found = likeliest_repair(template, givens, probs, timeout_s=timeout_s,
                                 deadline=max(t0 + budget_s, time.perf_counter() + LIKELY_LAST_S))
        if found is not None:
            return _repaired(givens, found[0], probs, found[1], tried, calls + 1, t0)
    return RepairResult(givens, "failed", first_status, (), 0.0, tried, calls, time.perf_counter() - t0)
