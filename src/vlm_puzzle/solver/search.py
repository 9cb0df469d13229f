"""A python-constraint ``Solver`` that propagates to a fixpoint at every node.

The library's own solvers forward-check only the constraints of the variable
just assigned, once. Here, after every decision, the consequences are chased
until nothing changes:

* *naked single* -- a cell down to one value removes it from all its peers
  (cells sharing an all-different group or distinct cage with it);
* *hidden single* -- a value with one place left in a permutation group
  (row, column, box...) goes there;
* *naked pairs* -- two cells of a group left with the same two values take
  both, so the group's other cells lose them;
* *locked candidates* -- when a group's places for a value all lie where it
  overlaps another group (a box and a row), the rest of the other group loses it;
* *cage propagators* (sums, products, differences, quotients; see constraints.py)
  narrow their cells.

Domains are bitmask ints (bit ``v`` set while value ``v`` is possible): copying the
81 ints of a Sudoku at each decision is cheaper than python-constraint's
push/pop of list domains. Branching takes the cell with fewest values (MRV).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from constraint import Solver

from .constraints import DeadlinePassed, check_deadline, mask_of
from .network import Network, compile_network


@dataclass
class SearchStats:
    """What the search did (filled in while it runs)."""

    nodes: int = 0         # decisions tried (cell := value)
    backtracks: int = 0    # decisions refuted by propagation
    solutions: int = 0
    max_depth: int = 0
    timed_out: bool = False


def fixpoint(dom: list[int], net: Network, singles: list[int], gq: int, pq: int,
             deadline: float | None = None) -> bool:
    """Propagate until nothing changes; False on a contradiction.

    ``singles``: cells newly down to one value (consumed); ``gq``: bitmask of the
    permutation groups to scan; ``pq``: bitmask of the propagators to run.
    Raises DeadlinePassed when a propagator finds ``deadline`` passed."""
    peers, cell_gmask, cell_pmask = net.peers, net.cell_gmask, net.cell_pmask
    groups, group_full, props = net.groups, net.group_full, net.props
    inters, group_imask = net.inters, net.group_imask
    iq = 0
    while True:
        # Naked singles: a decided cell's value leaves all its peers.
        while singles:
            c = singles.pop()
            b = dom[c]
            for p in peers[c]:
                d = dom[p]
                if d & b:
                    d ^= b
                    if not d:
                        return False
                    dom[p] = d
                    if not d & (d - 1):
                        singles.append(p)
                    gq |= cell_gmask[p]
                    pq |= cell_pmask[p]
        if pq:
            low = pq & -pq
            pq ^= low
            changed = props[low.bit_length() - 1].propagate(dom, deadline)
            if changed is None:
                return False
            for c in changed:
                d = dom[c]
                if not d & (d - 1):
                    singles.append(c)
                gq |= cell_gmask[c]
                pq |= cell_pmask[c]
            continue
        if gq:
            # Hidden singles: values seen in exactly one cell of the group.
            low = gq & -gq
            gq ^= low
            g = low.bit_length() - 1
            iq |= group_imask[g]
            cells = groups[g]
            once = twice = fixed = 0
            pair = 0
            bivalue = []
            for c in cells:
                d = dom[c]
                twice |= once & d
                once |= d
                x = d & (d - 1)
                if not x:
                    fixed |= d
                elif not x & (x - 1):
                    if d in bivalue:
                        pair |= d
                    else:
                        bivalue.append(d)
            if once != group_full[g]:
                return False  # some value has no place left
            hidden = once & ~twice & ~fixed
            if pair and not hidden:
                # Naked pairs: two cells holding the same two values own them.
                for c in cells:
                    d = dom[c]
                    if d & pair and d & (d - 1):
                        if d.bit_count() == 2 and d & pair == d:
                            continue
                        nd = d & ~pair
                        if not nd:
                            return False
                        dom[c] = nd
                        if not nd & (nd - 1):
                            singles.append(c)
                        gq |= cell_gmask[c]
                        pq |= cell_pmask[c]
                continue
            if hidden:
                for c in cells:
                    h = dom[c] & hidden
                    if h:
                        if h & (h - 1):
                            return False  # two values both need this one cell
                        dom[c] = h
                        singles.append(c)
                        gq |= cell_gmask[c]
                        pq |= cell_pmask[c]
            continue
        if not iq:
            return True
        # Locked candidates: if A's places for a value all lie in A & B,
        # the rest of B cannot hold it (and the other way round).
        low = iq & -iq
        iq ^= low
        shared, arest, brest = inters[low.bit_length() - 1]
        mi = ma = mb = 0
        for c in shared:
            mi |= dom[c]
        for c in arest:
            ma |= dom[c]
        for c in brest:
            mb |= dom[c]
        for rest, drop in ((brest, mi & ~ma & mb), (arest, mi & ~mb & ma)):
            if drop:
                for c in rest:
                    d = dom[c]
                    if d & drop:
                        d &= ~drop
                        if not d:
                            return False
                        dom[c] = d
                        if not d & (d - 1):
                            singles.append(c)
                        gq |= cell_gmask[c]
                        pq |= cell_pmask[c]


def choose_cell(dom: list[int]) -> int:
    """The undecided cell with the fewest values (MRV), or -1 if all are decided."""
    best, best_count = -1, 1 << 30
    for c, d in enumerate(dom):
        if d & (d - 1):
            k = d.bit_count()
            if k < best_count:
                best, best_count = c, k
                if k == 2:
                    break
    return best


def choose_cell_by_degree(dom: list[int], peers: list[tuple[int, ...]]) -> int:
    """MRV, ties broken by the most undecided peers (whose decision reaches furthest).
    Measured: on caged puzzles this cuts nodes by a third and pays; on plain
    Sudoku it halves the nodes but costs more time than it saves."""
    best_count, ties = 1 << 30, []
    for c, d in enumerate(dom):
        if d & (d - 1):
            k = d.bit_count()
            if k < best_count:
                best_count, ties = k, [c]
            elif k == best_count:
                ties.append(c)
    if len(ties) < 2:
        return ties[0] if ties else -1
    best, best_degree = -1, -1
    for c in ties:
        degree = 0
        for p in peers[c]:
            d = dom[p]
            if d & (d - 1):
                degree += 1
        if degree > best_degree:
            best, best_degree = c, degree
    return best


class PropagatingSolver(Solver):
    """python-constraint solver: full propagation at each node, MRV branching.

    ``deadline`` is a ``time.perf_counter()`` value; past it the search stops and
    ``stats.timed_out`` is set: it is checked before the first propagation (a deadline
    already passed means no search), at every decision and inside big cages'
    propagation. Domains must hold non-negative ints.
    """

    requires_pickling = False

    def __init__(self, deadline: float | None = None):
        self.deadline = deadline
        self.stats = SearchStats()

    def getSolution(self, domains, constraints, vconstraints):  # noqa: D102 (library API)
        return next(self.getSolutionIter(domains, constraints, vconstraints), None)

    def getSolutions(self, domains, constraints, vconstraints):  # noqa: D102
        return list(self.getSolutionIter(domains, constraints, vconstraints))

    def getSolutionIter(self, domains, constraints, vconstraints):  # noqa: D102
        variables = list(domains)
        net = compile_network(variables, constraints)
        dom = [_domain_mask(v, domains[v]) for v in variables]
        for dom_out in self.search(net, dom):
            yield {v: d.bit_length() - 1 for v, d in zip(variables, dom_out)}

    def search(self, net: Network, dom: list[int]):
        """Yield every solution (as a list of single-bit masks) by depth-first search."""
        self.stats = SearchStats()
        try:
            yield from self._search(net, dom)
        except DeadlinePassed:
            self.stats.timed_out = True

    def _search(self, net: Network, dom: list[int]):
        stats = self.stats
        deadline = self.deadline
        check_deadline(deadline)
        singles = [c for c, d in enumerate(dom) if not d & (d - 1)]
        everything = (1 << len(net.groups)) - 1, (1 << len(net.props)) - 1
        if not all(dom) or not fixpoint(dom, net, singles, *everything, deadline):
            return
        if net.props:
            choose = partial(choose_cell_by_degree, peers=net.peers)
        else:
            choose = choose_cell
        cell = choose(dom)
        if cell < 0:
            stats.solutions += 1
            yield dom
            return
        cell_gmask, cell_pmask = net.cell_gmask, net.cell_pmask
        # Each frame: [domains before the decision, cell, values still to try].
        stack = [[dom, cell, dom[cell]]]
        while stack:
            frame = stack[-1]
            parent, cell, rest = frame
            bit = rest & -rest
            rest ^= bit
            if rest:
                frame[2] = rest
                child = parent[:]
            else:  # last value: reuse the parent's domains, nothing to restore
                stack.pop()
                child = parent
            child[cell] = bit
            stats.nodes += 1
            check_deadline(deadline)  # ~0.1 us against tens of us a node
            if not fixpoint(child, net, [cell], cell_gmask[cell], cell_pmask[cell], deadline):
                stats.backtracks += 1
                continue
            nxt = choose(child)
            if nxt < 0:
                stats.solutions += 1
                yield child
                continue
            stack.append([child, nxt, child[nxt]])
            if len(stack) > stats.max_depth:
                stats.max_depth = len(stack)


_masks: dict[tuple, int] = {}


def _domain_mask(variable, domain) -> int:
    key = tuple(domain)
    mask = _masks.get(key)
    if mask is not None:
        return mask
    try:
        mask = mask_of(domain)
    except (TypeError, ValueError):
        raise TypeError(f"PropagatingSolver needs non-negative integer values; variable {variable!r} "
                        f"has domain {list(domain)!r}") from None
    if len(_masks) < 4096:
        _masks[key] = mask
    return mask
