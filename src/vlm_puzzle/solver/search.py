"""A python-constraint ``Solver`` that propagates to a fixpoint at every node.

The library's own solvers forward-check only the constraints of the variable
just assigned, once. Here, after every decision, the consequences are chased
until nothing changes:

* *naked single* -- a cell down to one value removes it from all its peers
  (cells sharing an all-different group or distinct cage with it);
* *hidden single* -- a value with one place left in a permutation group
  (row, column, box...) goes there;
* *cage propagators* (sums, products, differences, quotients) narrow their cells.

Domains are bitmask ints (bit ``v`` set while value ``v`` is possible): copying the
81 ints of a Sudoku at each decision is cheaper than python-constraint's
push/pop of list domains. Branching takes the cell with fewest values (MRV).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from constraint import Solver

from .constraints import AllDifferentGroup, FunctionPropagator, mask_of

_CACHE_LIMIT = 64
_TIME_CHECK_EVERY = 64  # decisions between deadline checks


@dataclass
class SearchStats:
    """What the search did (filled in while it runs)."""

    nodes: int = 0         # decisions tried (cell := value)
    backtracks: int = 0    # decisions refuted by propagation
    solutions: int = 0
    max_depth: int = 0
    timed_out: bool = False


@dataclass
class Network:
    """The constraint network compiled to cell indices (shared by puzzles of one layout)."""

    variables: tuple
    peers: list[tuple[int, ...]]          # per cell: cells that must differ from it
    groups: list[tuple[int, ...]]         # permutation groups (hidden singles apply)
    group_full: list[int]                 # per group: the mask of the values it holds
    cell_groups: list[tuple[int, ...]]    # per cell: ids of its permutation groups
    props: list = field(default_factory=list)  # cage / other propagators
    cell_props: list[tuple[int, ...]] = field(default_factory=list)


_networks: dict = {}


def compile_network(variables: list, constraints: list[tuple]) -> Network:
    """Index the cells and sort the constraints into peers, permutation groups and
    propagators; networks of python-constraint's own constraint classes are cached."""
    key = _network_key(variables, constraints)
    if key is not None and key in _networks:
        return _networks[key]
    index = {v: i for i, v in enumerate(variables)}
    n = len(variables)
    peers: list[set] = [set() for _ in range(n)]
    groups, group_full, props = [], [], []
    for constraint, vs in constraints:
        cells = [index[v] for v in vs]
        if isinstance(constraint, AllDifferentGroup):
            for c in cells:
                peers[c].update(cells)
            if constraint.values is not None and len(constraint.values) == len(cells):
                groups.append(tuple(cells))
                group_full.append(mask_of(constraint.values))
        elif hasattr(constraint, "propagator"):
            props.append(constraint.propagator(cells))
        else:
            props.append(FunctionPropagator(cells, constraint, list(vs)))
    cell_groups = [[] for _ in range(n)]
    for g, cells in enumerate(groups):
        for c in cells:
            cell_groups[c].append(g)
    cell_props = [[] for _ in range(n)]
    for k, prop in enumerate(props):
        for c in prop.cells:
            cell_props[c].append(k)
    net = Network(
        variables=tuple(variables),
        peers=[tuple(sorted(p - {i})) for i, p in enumerate(peers)],
        groups=groups, group_full=group_full,
        cell_groups=[tuple(g) for g in cell_groups],
        props=props, cell_props=[tuple(p) for p in cell_props],
    )
    if key is not None:
        if len(_networks) >= _CACHE_LIMIT:
            _networks.pop(next(iter(_networks)))
        _networks[key] = net
    return net


def _network_key(variables, constraints):
    parts = []
    for constraint, vs in constraints:
        k = getattr(constraint, "key", None)
        if k is None:
            return None  # a constraint we cannot identify structurally: compile afresh
        parts.append((k, tuple(vs)))
    return tuple(variables), tuple(parts)


def fixpoint(dom: list[int], net: Network, singles: list[int], gq: set, pq: set) -> bool:
    """Propagate until nothing changes; False on a contradiction.

    ``singles``: cells newly down to one value; ``gq``: permutation groups to scan
    for hidden singles; ``pq``: propagators to run. All three are consumed."""
    peers, cell_groups, cell_props = net.peers, net.cell_groups, net.cell_props
    groups, group_full, props = net.groups, net.group_full, net.props
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
                    gq.update(cell_groups[p])
                    if cell_props[p]:
                        pq.update(cell_props[p])
        if pq:
            changed = props[pq.pop()].propagate(dom)
            if changed is None:
                return False
            for c in changed:
                d = dom[c]
                if not d & (d - 1):
                    singles.append(c)
                gq.update(cell_groups[c])
                pq.update(cell_props[c])
            continue
        if not gq:
            return True
        # Hidden singles: values seen in exactly one cell of the group.
        g = gq.pop()
        cells = groups[g]
        once = twice = fixed = 0
        for c in cells:
            d = dom[c]
            twice |= once & d
            once |= d
            if not d & (d - 1):
                fixed |= d
        if once != group_full[g]:
            return False  # some value has no place left
        hidden = once & ~twice & ~fixed
        if hidden:
            for c in cells:
                h = dom[c] & hidden
                if h:
                    if h & (h - 1):
                        return False  # two values both need this one cell
                    dom[c] = h
                    singles.append(c)
                    gq.update(cell_groups[c])
                    if cell_props[c]:
                        pq.update(cell_props[c])


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


class PropagatingSolver(Solver):
    """python-constraint solver: full propagation at each node, MRV branching.

    ``deadline`` is a ``time.perf_counter()`` value; past it the search stops and
    ``stats.timed_out`` is set. Domains must hold non-negative ints.
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
        stats = self.stats = SearchStats()
        deadline = self.deadline
        singles = [c for c, d in enumerate(dom) if not d & (d - 1)]
        if not all(dom) or not fixpoint(dom, net, singles, set(range(len(net.groups))),
                                        set(range(len(net.props)))):
            return
        cell = choose_cell(dom)
        if cell < 0:
            stats.solutions += 1
            yield dom
            return
        cell_groups, cell_props = net.cell_groups, net.cell_props
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
            if deadline is not None and not stats.nodes % _TIME_CHECK_EVERY \
                    and time.perf_counter() > deadline:
                stats.timed_out = True
                return
            if not fixpoint(child, net, [cell], set(cell_groups[cell]), set(cell_props[cell])):
                stats.backtracks += 1
                continue
            nxt = choose_cell(child)
            if nxt < 0:
                stats.solutions += 1
                yield child
                continue
            stack.append([child, nxt, child[nxt]])
            if len(stack) > stats.max_depth:
                stats.max_depth = len(stack)


def _domain_mask(variable, domain) -> int:
    try:
        return mask_of(domain)
    except (TypeError, ValueError):
        raise TypeError(f"PropagatingSolver needs non-negative integer values; variable {variable!r} "
                        f"has domain {list(domain)!r}") from None
