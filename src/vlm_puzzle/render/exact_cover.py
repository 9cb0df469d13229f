"""A small exact-cover search (Knuth's Algorithm X on dicts of sets).

The generator needs two things many times per puzzle: a random complete grid,
and "does this clue set have exactly one solution?". Both are an exact-cover
search: every cell gets one digit, every all-different group of N cells holds
each digit once, every cage gets one of its valid digit tuples. Algorithm X with
the smallest-column heuristic answers a 9x9 uniqueness query in milliseconds,
which is what makes dig-until-unique affordable. The project's CSP solver
(:mod:`vlm_puzzle.solver`) independently confirms every finished puzzle.
"""
from __future__ import annotations

from typing import Hashable, Iterable

import numpy as np

Row = Hashable
Col = Hashable


class SearchLimit(Exception):
    """The search visited more nodes than allowed (answer unknown)."""


class ExactCover:
    """Exact cover over ``rows``: a mapping row key -> the columns it covers.

    Every column must be covered exactly once. The structure is mutated during
    search and restored afterwards, so one instance answers many queries.
    """

    def __init__(self, rows: dict[Row, list[Col]]):
        self.Y = rows
        self.X: dict[Col, set] = {}
        for r, cols in rows.items():
            for c in cols:
                self.X.setdefault(c, set()).add(r)

    def select(self, r: Row) -> list[set]:
        X, Y = self.X, self.Y
        removed = []
        for j in Y[r]:
            for i in X[j]:
                for k in Y[i]:
                    if k != j:
                        X[k].remove(i)
            removed.append(X.pop(j))
        return removed

    def deselect(self, r: Row, removed: list[set]) -> None:
        X, Y = self.X, self.Y
        for j in reversed(Y[r]):
            X[j] = removed.pop()
            for i in X[j]:
                for k in Y[i]:
                    if k != j:
                        X[k].add(i)

    def search(self, *, limit: int = 2, node_limit: int = 200_000,
               rng: np.random.Generator | None = None,
               forced: Iterable[Row] = ()) -> list[list[Row]]:
        """Up to ``limit`` solutions (lists of row keys, ``forced`` rows included).

        ``rng`` randomises the order in which rows are tried (for random grids).
        Raises :class:`SearchLimit` after ``node_limit`` nodes. Returns [] when
        the forced rows conflict or nothing covers a column.
        """
        taken: list[tuple[Row, list[set]]] = []
        try:
            for r in forced:
                if any(j not in self.X or r not in self.X[j] for j in self.Y[r]):
                    return []  # conflicts with an earlier forced row
                taken.append((r, self.select(r)))
            found: list[list[Row]] = []
            budget = [node_limit]
            self._solve([r for r, _ in taken], found, limit, budget, rng)
            return found
        finally:
            for r, removed in reversed(taken):
                self.deselect(r, removed)

    def _solve(self, partial: list, found: list, limit: int, budget: list[int],
               rng: np.random.Generator | None) -> None:
        X = self.X
        if not X:
            found.append(list(partial))
            return
        budget[0] -= 1
        if budget[0] < 0:
            raise SearchLimit("exact-cover search exceeded its node limit")
        col = min(X, key=lambda c: len(X[c]))
        # Sorted first: a set's order depends on its edit history, and results must
        # be reproducible from the seed alone. Row keys are comparable tuples.
        candidates = sorted(X[col])
        if rng is not None and len(candidates) > 1:
            candidates = [candidates[i] for i in rng.permutation(len(candidates))]
        for r in candidates:
            partial.append(r)
            removed = self.select(r)
            try:
                self._solve(partial, found, limit, budget, rng)
            finally:
                self.deselect(r, removed)
                partial.pop()
            if len(found) >= limit:
                return
