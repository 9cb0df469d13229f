"""Puzzle constraints as python-constraint ``Constraint`` subclasses.

Each class works two ways:

* through python-constraint's own protocol (``__call__`` with forward checking),
  so any of the library's solvers can use it;
* through ``propagator(index)``, which compiles it for :class:`PropagatingSolver`
  (see ``search.py``) into a bitmask propagator: a domain is an int whose bit ``v``
  is set while value ``v`` is still possible, and ``propagate(dom)`` prunes the
  domains of the constraint's cells in place.

``propagate`` returns the list of cell indices whose domain it narrowed, or
``None`` when the constraint can no longer hold (a wipe-out).

Cage reasoning, cheapest first: bounds (a sum's other cells must be able to make
up the rest; a product's value must divide the target); for distinct (killer)
cages, the digit sets that still fit, and digits every fitting set needs leave
the rest of any row/column/box holding the cage; once a cage's domains allow at
most EXACT_LIMIT tuples, exact support by enumerating them (cells sharing a
row or column must differ even in a KenKen cage).
"""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from itertools import product as iter_product
from math import comb, prod
from typing import Sequence

from constraint import Constraint
from constraint.domain import Unassigned


_MAX_COMBOS = 2000


def mask_of(values) -> int:
    """The bitmask with bit ``v`` set for each value ``v``."""
    m = 0
    for v in values:
        m |= 1 << v
    return m


def values_of(mask: int) -> list[int]:
    """The values whose bits are set in ``mask``, ascending."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def _low(d: int) -> int:
    return (d & -d).bit_length() - 1


def _high(d: int) -> int:
    return d.bit_length() - 1


def _range_mask(lo: int, hi: int) -> int:
    """Bits lo..hi inclusive (empty when hi < lo)."""
    lo = max(lo, 0)
    if hi < lo:
        return 0
    return ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1)


class _PuzzleConstraint(Constraint):
    """Shared python-constraint plumbing: check what is assigned, forward-check
    the last free variable with the library's generic helper."""

    def holds(self, values: Sequence[int]) -> bool:  # all cells assigned
        raise NotImplementedError

    def partial_ok(self, values: Sequence[int]) -> bool:  # some cells assigned
        return True

    def __call__(self, variables, domains, assignments, forwardcheck=False, _unassigned=Unassigned):
        values = [assignments.get(v, _unassigned) for v in variables]
        assigned = [v for v in values if v is not _unassigned]
        if len(assigned) == len(values):
            return self.holds(values)
        if not self.partial_ok(assigned):
            return False
        if forwardcheck and len(values) - len(assigned) == 1:
            return self.forwardCheck(variables, domains, assignments)
        return True


class AllDifferentGroup(_PuzzleConstraint):
    """The cells hold pairwise different values (a row, column, box, region,
    diagonal, window, or a killer cage).

    With ``values`` (as many as cells: a row of a Sudoku holds 1..N) the group is
    a permutation, every value appears once, so the search also applies *hidden
    singles*: a value with one possible place goes there.
    """

    def __init__(self, values: Sequence[int] | None = None):
        self.values = tuple(sorted(set(values))) if values is not None else None
        self.key = ("alldiff", self.values)

    def holds(self, values):
        if self.values is not None:
            return len(values) == len(self.values) and set(values) == set(self.values)
        return len(set(values)) == len(values)

    def partial_ok(self, values):
        ok = len(set(values)) == len(values)
        return ok and (self.values is None or set(values) <= set(self.values))

    def __call__(self, variables, domains, assignments, forwardcheck=False, _unassigned=Unassigned):
        seen = set()
        for v in variables:
            value = assignments.get(v, _unassigned)
            if value is not _unassigned:
                if value in seen:
                    return False
                seen.add(value)
        if forwardcheck:  # naked singles: an assigned value leaves every other domain
            for v in variables:
                if v not in assignments:
                    domain = domains[v]
                    for value in seen:
                        if value in domain:
                            domain.hideValue(value)
                            if not domain:
                                return False
        return True


class CageSum(_PuzzleConstraint):
    """The cells add up to ``target`` (killer cage, KenKen '+'); ``distinct``
    cages also need different digits, which makes their digit sets enumerable."""

    def __init__(self, target: int, distinct: bool = False, digits: Sequence[int] | None = None):
        self.target = target
        self.distinct = distinct
        # The digits a distinct cage draws from (1..N in a puzzle); default 0..target.
        self.digits = tuple(sorted(set(digits))) if digits is not None else tuple(range(target + 1))
        self.key = ("sum", target, distinct, self.digits)

    def holds(self, values):
        return sum(values) == self.target and (not self.distinct or len(set(values)) == len(values))

    def partial_ok(self, values):
        return sum(values) <= self.target and (not self.distinct or len(set(values)) == len(values))

    def propagator(self, index):
        return _SumPropagator(index, self.target, self.distinct, self.digits)


class CageProduct(_PuzzleConstraint):
    """The cells multiply to ``target`` (KenKen 'x'); values are positive."""

    def __init__(self, target: int):
        self.target = target
        self.key = ("mul", target)

    def holds(self, values):
        return prod(values) == self.target

    def partial_ok(self, values):
        p = prod(values)
        return p and self.target % p == 0

    def propagator(self, index):
        return _ProductPropagator(index, self.target)


class CageDifference(_PuzzleConstraint):
    """Two cells whose difference, larger minus smaller, is ``target`` (KenKen '-')."""

    def __init__(self, target: int):
        self.target = target
        self.key = ("sub", target)

    def holds(self, values):
        a, b = values
        return abs(a - b) == self.target

    def propagator(self, index):
        return _PairPropagator(index, self.target, _difference_support)


class CageQuotient(_PuzzleConstraint):
    """Two cells whose quotient, larger over smaller, is exactly ``target`` (KenKen '/')."""

    def __init__(self, target: int):
        self.target = target
        self.key = ("div", target)

    def holds(self, values):
        a, b = sorted(values)
        return a > 0 and b == a * self.target

    def propagator(self, index):
        return _PairPropagator(index, self.target, _quotient_support)


# ---- bitmask propagators ------------------------------------------------------

class _SumPropagator:
    """Bounds reasoning: a cell's value must leave the others a reachable rest.
    Distinct cages also keep only digits of sets that still fit the domains."""

    def __init__(self, cells, target, distinct, digits):
        self.cells = tuple(cells)
        self.target = target
        self.distinct = distinct
        self.digits = digits
        self.combos = None  # digit sets (masks) of the right size and sum, built on first use
        self.unit_rests = ()  # cells of each permutation group holding the cage, minus the cage
        self.clashes = ()     # pairs of cage positions that must differ (same row...)

    def set_units(self, unit_rests) -> None:
        self.unit_rests = tuple(unit_rests) if self.distinct else ()

    def set_clashes(self, pairs) -> None:
        n = len(self.cells)
        self.clashes = tuple((i, j) for i in range(n) for j in range(i + 1, n)) if self.distinct \
            else tuple(pairs)

    def _holds(self, values) -> bool:
        return sum(values) == self.target

    def _combos(self) -> list[int]:
        return _digit_sets(self.digits, len(self.cells), self.target)

    def propagate(self, dom):
        cells, target = self.cells, self.target
        lows = [_low(dom[c]) for c in cells]
        highs = [_high(dom[c]) for c in cells]
        smin, smax = sum(lows), sum(highs)
        if not smin <= target <= smax:
            return None
        changed = []
        for i, c in enumerate(cells):
            d = dom[c]
            nd = d & _range_mask(target - (smax - highs[i]), target - (smin - lows[i]))
            if nd != d:
                if not nd:
                    return None
                dom[c] = nd
                changed.append(c)
        if _tuple_count(dom, cells, EXACT_LIMIT) <= EXACT_LIMIT:
            if not _exact_filter(dom, cells, self._holds, self.clashes, changed):
                return None
            if not self.unit_rests:
                return changed
        if self.distinct:
            if self.combos is None:
                # Too many digit sets (big cages on 16x16) costs more than it prunes.
                few = comb(len(self.digits), len(cells)) <= _MAX_COMBOS
                self.combos = self._combos() if few else False
            if self.combos is False:
                return changed
            allowed, required = 0, -1
            for m in self.combos:  # a set fits if every cell can take one of it and it is covered
                cover = 0
                for c in cells:
                    x = dom[c] & m
                    if not x:
                        break
                    cover |= x
                else:
                    if cover == m:
                        allowed |= m
                        required &= m
            if not allowed:
                return None
            # Digits in every fitting set are in this cage, so nowhere else in a
            # group that holds the whole cage.
            if required and self.unit_rests:
                for rest in self.unit_rests:
                    for c in rest:
                        d = dom[c]
                        if d & required:
                            d &= ~required
                            if not d:
                                return None
                            dom[c] = d
                            changed.append(c)
            for c in cells:
                d = dom[c]
                nd = d & allowed
                if nd != d:
                    if not nd:
                        return None
                    dom[c] = nd
                    if c not in changed:
                        changed.append(c)
        return changed


EXACT_LIMIT = 32  # enumerate a cage's tuples once its domains allow at most this many


def _tuple_count(dom, cells, limit: int) -> int:
    """The number of value tuples the cells' domains allow, stopping past ``limit``."""
    size = 1
    for c in cells:
        size *= dom[c].bit_count()
        if size > limit:
            break
    return size


def _exact_filter(dom, cells, holds, clashes, changed) -> bool:
    """Keep only values that occur in some tuple satisfying ``holds`` in which no two
    clashing cells (sharing a row, column...) are equal. False on a wipe-out."""
    doms = [dom[c] for c in cells]
    support = [0] * len(cells)
    for t in iter_product(*[values_of(d) for d in doms]):
        if holds(t) and all(t[i] != t[j] for i, j in clashes):
            for i, v in enumerate(t):
                support[i] |= 1 << v
            if support == doms:
                return True  # everything supported: nothing to prune
    for c, d, s in zip(cells, doms, support):
        if s != d:
            if not s:
                return False
            dom[c] = s
            if c not in changed:
                changed.append(c)
    return True


@lru_cache(maxsize=4096)
def _digit_sets(digits: tuple[int, ...], k: int, target: int) -> list[int]:
    """Masks of the k-subsets of ``digits`` that add up to ``target``."""
    return [mask_of(c) for c in combinations(digits, k) if sum(c) == target]


class _ProductPropagator:
    """Divisors and bounds: ``v`` stays only if ``target / v`` is a whole number the
    other cells can still reach; two-cell cages are filtered exactly."""

    def __init__(self, cells, target):
        self.cells = tuple(cells)
        self.target = target
        self.divisors = mask_of(v for v in range(1, min(target, 4096) + 1) if target % v == 0)
        self.clashes = ()  # pairs of cage positions that must differ (same row...)

    def propagate(self, dom):
        cells, target = self.cells, self.target
        changed = []
        if len(cells) == 2:
            a, b = cells
            da, db = dom[a] & self.divisors, dom[b] & self.divisors
            na = mask_of(v for v in values_of(da) if db >> (target // v) & 1)
            nb = mask_of(v for v in values_of(db) if na >> (target // v) & 1)
            for c, d, nd in ((a, dom[a], na), (b, dom[b], nb)):
                if nd != d:
                    if not nd:
                        return None
                    dom[c] = nd
                    changed.append(c)
            return changed
        lows = [_low(dom[c]) for c in cells]
        highs = [_high(dom[c]) for c in cells]
        pmin, pmax = prod(lows), prod(highs)
        if pmin <= 0 or not pmin <= target <= pmax:
            return None
        for i, c in enumerate(cells):
            d = dom[c]
            rest_min, rest_max = pmin // lows[i], pmax // highs[i]
            nd = 0
            for v in values_of(d & self.divisors):
                if rest_min <= target // v <= rest_max:
                    nd |= 1 << v
            if nd != d:
                if not nd:
                    return None
                dom[c] = nd
                changed.append(c)
        if _tuple_count(dom, cells, EXACT_LIMIT) <= EXACT_LIMIT:
            if not _exact_filter(dom, cells, self._holds, self.clashes, changed):
                return None
        return changed

    def _holds(self, values) -> bool:
        return prod(values) == self.target

    def set_clashes(self, pairs) -> None:
        self.clashes = tuple(pairs)


def _difference_support(other: int, t: int) -> int:
    """Values with a partner in ``other`` at distance ``t``."""
    return (other << t) | (other >> t)


def _quotient_support(other: int, t: int) -> int:
    """Values ``w * t`` or ``w / t`` for ``w`` in ``other`` (exact division only)."""
    m = 0
    for w in values_of(other):
        m |= 1 << (w * t)
        if w % t == 0:
            m |= 1 << (w // t)
    return m


class _PairPropagator:
    """Exact (arc-consistent) filtering of a two-cell relation."""

    def __init__(self, cells, target, support):
        self.cells = tuple(cells)
        self.target = target
        self.support = support

    def propagate(self, dom):
        a, b = self.cells
        da, db = dom[a], dom[b]
        na = da & self.support(db, self.target)
        nb = db & self.support(na, self.target)
        changed = []
        for c, d, nd in ((a, da, na), (b, db, nb)):
            if nd != d:
                if not nd:
                    return None
                dom[c] = nd
                changed.append(c)
        return changed


class FunctionPropagator:
    """Fallback for any other python-constraint ``Constraint``: once at most one
    of its cells is undecided, try that cell's values through ``__call__``."""

    def __init__(self, cells, constraint, variables):
        self.cells = tuple(cells)
        self.constraint = constraint
        self.variables = variables

    def propagate(self, dom):
        free = [i for i, c in enumerate(self.cells) if dom[c] & (dom[c] - 1)]
        if len(free) > 1:
            return []
        assignments = {v: _low(dom[c]) for v, c in zip(self.variables, self.cells)}
        if not free:
            return [] if self.constraint(self.variables, {}, assignments) else None
        i = free[0]
        c, var = self.cells[i], self.variables[i]
        nd = 0
        for value in values_of(dom[c]):
            assignments[var] = value
            if self.constraint(self.variables, {}, assignments):
                nd |= 1 << value
        if not nd:
            return None
        if nd != dom[c]:
            dom[c] = nd
            return [c]
        return []
