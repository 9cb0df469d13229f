"""The likeliest solution of an all-different puzzle under the reader's probabilities.

A 16x16 board written by hand can hold five or more misread givens among its 120; changing
a few cells at a time (:func:`vlm_puzzle.check.givens.repair_givens`' search) does not reach
that far, and giving each given its likely readings as candidates leaves hundreds of
solutions. This module searches for the solution whose values the reader found likeliest in
the written cells: depth-first branch and bound over the cells' candidates (fewest first,
cheapest value first), the lower bound being each written cell's cheapest value still open.
Only groups of all-different cells (sudoku, x-sudoku, windoku, jigsaw rules); no cages.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vlm_puzzle.solver.search import choose_cell

INF = float("inf")


@dataclass(frozen=True)
class Likeliest:
    """``solution`` (N rows; None: no solution within the candidates), ``cost`` (nats the
    written cells lose against their first reading), ``proven`` (the search finished: no
    solution is cheaper), ``runner_up`` (the cost of the cheapest other solution met, INF
    when none was: a lower bound on it only when the search proved the first)."""

    solution: list[list[int]] | None
    cost: float
    proven: bool
    runner_up: float
    nodes: int


def likeliest_solution(n: int, groups, candidates: dict[tuple[int, int], dict[int, float]], *,
                       deadline: float | None = None, max_nodes: int = 50_000,
                       below: float = INF) -> Likeliest:
    """The solution of the all-different ``groups`` (cell lists) of an N-grid in which every
    cell of ``candidates`` takes one of its values (value -> cost in nats, >= 0) and the
    summed cost is least. Other cells take any value 1..N at no cost. The search stops at
    ``deadline`` (``time.perf_counter()``) or after ``max_nodes`` decisions, keeping the
    best solution found so far (``proven`` False). ``below``: only solutions cheaper than
    this are looked for (a known solution's cost)."""
    cells = n * n
    full = ((1 << (n + 1)) - 1) & ~1
    peers: list[set[int]] = [set() for _ in range(cells)]
    for group in groups:
        idx = [r * n + c for r, c in group]
        for k in idx:
            peers[k].update(idx)
    for k in range(cells):
        peers[k].discard(k)
    peer_list = [tuple(p) for p in peers]
    dom = [full] * cells
    # Written cells: their values cheapest first, and each value's cost.
    ranked: dict[int, list[tuple[float, int]]] = {}
    cost_of: dict[int, dict[int, float]] = {}
    for (r, c), values in candidates.items():
        k = r * n + c
        ok = {int(v): float(x) for v, x in values.items() if 1 <= int(v) <= n}
        ranked[k] = sorted((x, v) for v, x in ok.items())
        cost_of[k] = ok
        dom[k] = sum(1 << v for v in ok)
    written = list(ranked)
    state = {"best": None, "cost": below, "runner_up": INF, "nodes": 0, "stopped": False}

    units = [tuple(r * n + c for r, c in group) for group in groups if len(group) == n]

    unit_of: list[list[int]] = [[] for _ in range(cells)]
    for u, unit in enumerate(units):
        for k in unit:
            unit_of[k].append(u)

    def propagate(d: list[int], todo: list[int]) -> bool:
        """Naked singles, then hidden singles of the full groups whose cells changed, to a
        fixpoint; False: a contradiction."""
        dirty = {u for k in todo for u in unit_of[k]}
        while True:
            while todo:
                k = todo.pop()
                bit = d[k]
                for p in peer_list[k]:
                    if d[p] & bit:
                        rest = d[p] & ~bit
                        if not rest:
                            return False
                        d[p] = rest
                        dirty.update(unit_of[p])
                        if not rest & (rest - 1):
                            todo.append(p)
            if not dirty:
                return True
            check, dirty = dirty, set()
            for u in check:
                unit = units[u]
                once = twice = 0
                for k in unit:
                    twice |= once & d[k]
                    once |= d[k]
                if once != full:
                    return False
                alone = once & ~twice
                if not alone:
                    continue
                for k in unit:
                    dk = d[k]
                    if dk & alone and dk & (dk - 1):
                        only = dk & alone
                        if only & (only - 1):
                            return False
                        d[k] = only
                        todo.append(k)
                        dirty.update(unit_of[k])

    def bound(d: list[int]) -> float:
        total = 0.0
        for k in written:
            dk = d[k]
            for x, v in ranked[k]:
                if dk >> v & 1:
                    total += x
                    break
            else:
                return INF
        return total

    def search(d: list[int]) -> None:
        if state["stopped"]:
            return
        lb = bound(d)
        if lb >= state["cost"]:
            state["runner_up"] = min(state["runner_up"], lb) if lb < INF else state["runner_up"]
            return
        # Written cells first (their choice is what costs), fewest values first.
        best_k, best_n = -1, n + 1
        for k in written:
            dk = d[k]
            if dk & (dk - 1):
                cnt = dk.bit_count()
                if cnt < best_n:
                    best_k, best_n = k, cnt
        if best_k < 0:
            best_k = choose_cell(d)
        if best_k < 0:   # every cell decided: a solution of cost lb
            state["runner_up"] = min(state["runner_up"], state["cost"])
            state["best"], state["cost"] = list(d), lb
            return
        dk = d[best_k]
        if best_k in cost_of:
            order = [v for _, v in ranked[best_k] if dk >> v & 1]
        else:
            order = [v for v in range(1, n + 1) if dk >> v & 1]
        for v in order:
            state["nodes"] += 1
            if state["nodes"] > max_nodes or (deadline is not None and time.perf_counter() > deadline):
                state["stopped"] = True
                return
            child = list(d)
            child[best_k] = 1 << v
            if propagate(child, [best_k]):
                search(child)

    start = list(dom)
    if all(start) and propagate(start, [k for k in range(cells) if not start[k] & (start[k] - 1)]):
        search(start)
    best = state["best"]
    solution = None if best is None else [[best[r * n + c].bit_length() - 1 for c in range(n)] for r in range(n)]
    return Likeliest(solution, state["cost"], not state["stopped"], state["runner_up"], state["nodes"])


def reading_costs(givens: np.ndarray, probs: np.ndarray, bound: float) -> dict[tuple[int, int], dict[int, float]]:
    """Each written cell's values within ``bound`` nats of its reading (``givens``; ``probs``
    (N, N, N+1), index 0 empty), by their cost: how much less likely the reader found them."""
    n = givens.shape[0]
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-12))
    out = {}
    for r, c in zip(*np.nonzero(givens)):
        top = logp[r, c, givens[r, c]]
        out[(int(r), int(c))] = {v: float(top - logp[r, c, v]) for v in range(1, n + 1)
                                 if logp[r, c, v] >= top - bound}
    return out
