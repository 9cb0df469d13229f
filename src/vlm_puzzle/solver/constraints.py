"""Puzzle constraints as python-constraint ``Constraint`` subclasses.

One module (over 400 lines) because both faces of each constraint below, the library's check and
the bitmask propagator, must agree value for value: they are read and changed side by side.

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

``propagate(dom, deadline)`` raises :class:`DeadlinePassed` once ``time.perf_counter()``
is past ``deadline``; the support enumerations of big cages check it every few
thousand steps, so no cage of any size can hold a search past its time limit.
"""
from __future__ import annotations

import time
from functools import lru_cache
from itertools import combinations
from itertools import product as iter_product
from math import comb, prod
from typing import Sequence

from constraint import Constraint
from constraint.domain import Unassigned


_MAX_COMBOS = 2000
_CHECK_EVERY = 1024  # support-enumeration steps between deadline checks (~1 ms)


class DeadlinePassed(Exception):
    """The search's deadline passed during propagation (caught by the search)."""


def check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.perf_counter() > deadline:
        raise DeadlinePassed


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

EXACT_LIMIT = 200  # enumerate a cage's tuples once its domains allow at most this many
EXACT_LIMIT_DISTINCT = 32  # killer cages: digit sets already do most of that work
MEMO_LIMIT = 4096  # remembered domain tuples per cage before the memo starts over (memory)


class _CagePropagator:
    """A cage's reasoning depends only on its own cells' domains, and the search
    meets the same domain tuples again and again (after every backtrack), so
    ``narrow`` is memoised on them. ``narrow(doms)`` narrows the list in place and
    returns the digits the cage is sure to hold, or None on a wipe-out."""

    def __init__(self, cells, target):
        self.cells = tuple(cells)
        self.target = target
        self.clashes = ()  # pairs of cage positions that must differ (same row...)
        # Per permutation group meeting the cage: (cage positions in it, its other cells).
        self.unit_parts: tuple = ()
        self.memo: dict = {}

    def set_clashes(self, pairs) -> None:
        self.clashes = tuple(pairs)

    def set_units(self, groups) -> None:
        """Tell the cage the permutation groups (cell sets) it meets."""
        parts = []
        for group in groups:
            positions = tuple(i for i, c in enumerate(self.cells) if c in group)
            rest = tuple(sorted(group.difference(self.cells)))
            if positions and rest:
                parts.append((positions, rest))
        self.unit_parts = tuple(parts)

    def narrow(self, doms: list[int], deadline: float | None = None):
        """Narrow ``doms`` in place; return per unit part the digits its cage cells
        are sure to hold (or a falsy value for none), or None on a wipe-out."""
        raise NotImplementedError

    def propagate(self, dom, deadline: float | None = None):
        cells = self.cells
        key = tuple([dom[c] for c in cells])
        hit = self.memo.get(key)
        if hit is None:
            doms = list(key)
            required = self.narrow(doms, deadline)  # DeadlinePassed: nothing memoised
            hit = False if required is None else (tuple(doms), required)
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()
            self.memo[key] = hit
        if hit is False:
            return None
        new, required = hit
        changed = []
        for c, old, d in zip(cells, key, new):
            if d != old:
                dom[c] = d
                changed.append(c)
        if required:
            # Digits the cage's cells in a group must hold leave the rest of the group.
            for (_, rest), need in zip(self.unit_parts, required):
                if need:
                    for c in rest:
                        d = dom[c]
                        if d & need:
                            d &= ~need
                            if not d:
                                return None
                            dom[c] = d
                            changed.append(c)
        return changed


class _SumPropagator(_CagePropagator):
    """Bounds first (the other cells must be able to make up the rest); then, for a
    KenKen cage, the sums the other cells can reach; for a distinct (killer) cage,
    the digit sets that still fit; once few tuples remain, each one is tried."""

    def __init__(self, cells, target, distinct, digits):
        super().__init__(cells, target)
        self.distinct = distinct
        many = comb(len(digits), len(self.cells)) > _MAX_COMBOS  # big 16x16 cages: skip
        self.combos = None if many or not distinct else _digit_sets(tuple(digits), len(self.cells), target)

    def set_clashes(self, pairs) -> None:
        n = len(self.cells)
        self.clashes = tuple((i, j) for i in range(n) for j in range(i + 1, n)) if self.distinct \
            else tuple(pairs)

    def _holds(self, values) -> bool:
        return sum(values) == self.target

    def narrow(self, doms, deadline=None):
        target = self.target
        lows = [_low(d) for d in doms]
        highs = [_high(d) for d in doms]
        smin, smax = sum(lows), sum(highs)
        if not smin <= target <= smax:
            return None
        for i, d in enumerate(doms):
            doms[i] = d & _range_mask(target - (smax - highs[i]), target - (smin - lows[i]))
            if not doms[i]:
                return None
        limit = EXACT_LIMIT_DISTINCT if self.distinct else EXACT_LIMIT
        if _tuple_count(doms, limit) <= limit:
            return _exact_filter(doms, self._holds, self.clashes, self.unit_parts)
        if not self.distinct:
            return () if _narrow_to(doms, _sum_support(doms, target, deadline)) else None
        if self.combos is None:
            return ()
        allowed, required = 0, -1
        for m in self.combos:  # a set fits if every cell can take one of it and it is covered
            cover = 0
            for d in doms:
                x = d & m
                if not x:
                    break
                cover |= x
            else:
                if cover == m:
                    allowed |= m
                    required &= m
        if not allowed or not _narrow_to(doms, [d & allowed for d in doms]):
            return None
        whole = len(doms)
        return tuple(required if len(positions) == whole else 0 for positions, _ in self.unit_parts)


class _ProductPropagator(_CagePropagator):
    """Divisors, then bounds (``target / v`` must be reachable by the others), then
    the partial products the others can reach; once few tuples remain, each one
    is tried."""

    def __init__(self, cells, target):
        super().__init__(cells, target)
        self.divisors = mask_of(v for v in range(1, min(target, 4096) + 1) if target % v == 0)

    def _holds(self, values) -> bool:
        return prod(values) == self.target

    def narrow(self, doms, deadline=None):
        target = self.target
        for i, d in enumerate(doms):
            doms[i] = d & self.divisors
            if not doms[i]:
                return None
        lows = [_low(d) for d in doms]
        highs = [_high(d) for d in doms]
        pmin, pmax = prod(lows), prod(highs)
        if not pmin <= target <= pmax:
            return None
        for i, d in enumerate(doms):
            rest_min, rest_max = pmin // lows[i], pmax // highs[i]
            nd = 0
            for v in values_of(d):
                if rest_min <= target // v <= rest_max:
                    nd |= 1 << v
            if not nd:
                return None
            doms[i] = nd
        if _tuple_count(doms, EXACT_LIMIT) <= EXACT_LIMIT:
            return _exact_filter(doms, self._holds, self.clashes, self.unit_parts)
        return () if _narrow_to(doms, _product_support(doms, target, deadline)) else None


def _tuple_count(doms: list[int], limit: int) -> int:
    """The number of value tuples the domains allow, stopping past ``limit``."""
    size = 1
    for d in doms:
        size *= d.bit_count()
        if size > limit:
            break
    return size


def _exact_filter(doms: list[int], holds, clashes, unit_parts=()):
    """Keep only values that occur in some tuple satisfying ``holds`` in which no two
    clashing cells (sharing a row, column...) are equal. Returns, per unit part,
    the digits every such tuple puts in that part's cells; None on a wipe-out."""
    support = [0] * len(doms)
    required = [-1] * len(unit_parts)
    for t in iter_product(*[values_of(d) for d in doms]):
        if holds(t) and all(t[i] != t[j] for i, j in clashes):
            for i, v in enumerate(t):
                support[i] |= 1 << v
            for k, (positions, _) in enumerate(unit_parts):
                part = 0
                for i in positions:
                    part |= 1 << t[i]
                required[k] &= part
    if not _narrow_to(doms, support):
        return None
    # A lone cell's own value is no news (naked singles handle it).
    return tuple(0 if len(positions) == 1 else need
                 for (positions, _), need in zip(unit_parts, required))


def _narrow_to(doms: list[int], supports: list[int]) -> bool:
    """Intersect each domain with its support; False on a wipe-out."""
    for i, s in enumerate(supports):
        doms[i] &= s
        if not doms[i]:
            return False
    return True


def _shift_sum(sums: int, values: int) -> int:
    """The sums reachable by adding one of ``values`` to one of ``sums`` (both bitmasks)."""
    out = 0
    while values:
        low = values & -values
        out |= sums << (low.bit_length() - 1)
        values ^= low
    return out


def _sum_support(doms: list[int], target: int, deadline: float | None = None) -> list[int]:
    """Per cell, the values that the other cells' domains can complete to ``target``
    (reachable sums kept as bitmasks, built from both ends)."""
    k = len(doms)
    prefix = [1]  # bit s: sum s reachable by the cells before i
    for d in doms[:-1]:
        prefix.append(_shift_sum(prefix[-1], d))
    supports = [0] * k
    suffix = 1
    for i in range(k - 1, -1, -1):
        check_deadline(deadline)
        a, b = prefix[i], suffix
        if a.bit_count() > b.bit_count():
            a, b = b, a
        others = _shift_sum(b, a)
        for v in values_of(doms[i]):
            if v <= target and others >> (target - v) & 1:
                supports[i] |= 1 << v
        suffix = _shift_sum(suffix, doms[i])
    return supports


def _product_support(doms: list[int], target: int, deadline: float | None = None) -> list[int]:
    """Per cell, the values that the other cells' domains can complete to the
    product ``target`` (reachable partial products that divide it, as sets).
    A big cage's sets hold up to every divisor of the target (hundreds of thousands
    for 81 cells): the loops check ``deadline`` as they go."""
    k = len(doms)
    vals = [[v for v in values_of(d) if v and target % v == 0] for d in doms]
    prefix = [{1}]
    for vs in vals[:-1]:
        prefix.append(_extend_products(prefix[-1], vs, target, deadline))
    supports = [0] * k
    suffix = {1}
    for i in range(k - 1, -1, -1):
        pre = prefix[i]
        small, large = (pre, suffix) if len(pre) <= len(suffix) else (suffix, pre)
        for v in vals[i]:
            rest = target // v
            steps = 0
            for p in small:
                steps += 1
                if not steps % _CHECK_EVERY:
                    check_deadline(deadline)
                if rest % p == 0 and rest // p in large:
                    supports[i] |= 1 << v
                    break
        suffix = _extend_products(suffix, vals[i], target, deadline)
    return supports


def _extend_products(products: set, values: list[int], target: int, deadline: float | None) -> set:
    """The products ``p * v`` (``p`` in ``products``, ``v`` in ``values``) that divide ``target``."""
    out = set()
    steps = 0
    for p in products:
        steps += 1
        if not steps % _CHECK_EVERY:
            check_deadline(deadline)
        for v in values:
            q = p * v
            if target % q == 0:
                out.add(q)
    return out


@lru_cache(maxsize=4096)
def _digit_sets(digits: tuple[int, ...], k: int, target: int) -> list[int]:
    """Masks of the k-subsets of ``digits`` that add up to ``target``."""
    return [mask_of(c) for c in combinations(digits, k) if sum(c) == target]


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

    def propagate(self, dom, deadline=None):
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

    def propagate(self, dom, deadline=None):
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
