"""The constraint network compiled to cell indices for :mod:`~vlm_puzzle.solver.search`:
peers, permutation groups, propagators and the groups' overlaps, as int bitmasks.
Networks of our own constraint classes are shared by puzzles of one layout."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .constraints import AllDifferentGroup, FunctionPropagator, mask_of

_CACHE_LIMIT = 64


@dataclass
class Network:
    """The constraint network compiled to cell indices (shared by puzzles of one layout).

    Work queues are int bitmasks (bit k = item k pending): or-ing a precomputed mask
    is far cheaper in CPython than updating a set."""

    variables: tuple
    peers: list[tuple[int, ...]]          # per cell: cells that must differ from it
    groups: list[tuple[int, ...]]         # permutation groups (hidden singles apply)
    group_full: list[int]                 # per group: the mask of the values it holds
    cell_gmask: list[int]                 # per cell: bitmask of its permutation groups
    props: list                           # cage / other propagators
    cell_pmask: list[int]                 # per cell: bitmask of its propagators
    # Overlaps of two permutation groups (box and row...): (shared, rest of A, rest of B).
    inters: list[tuple[tuple[int, ...], ...]] = field(default_factory=list)
    group_imask: list[int] = field(default_factory=list)  # per group: its overlaps


_networks: dict = {}


def compile_network(variables: list, constraints: list[tuple]) -> Network:
    """Index the cells and sort the constraints into peers, permutation groups and
    propagators; networks of our own constraint classes are cached by structure."""
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
    cell_gmask, cell_pmask = [0] * n, [0] * n
    for g, cells in enumerate(groups):
        for c in cells:
            cell_gmask[c] |= 1 << g
    group_sets = [frozenset(g) for g in groups]
    for prop in props:  # cages learn which of their cells clash, which groups they meet
        cells = prop.cells
        if hasattr(prop, "set_clashes"):
            prop.set_clashes((i, j) for i in range(len(cells)) for j in range(i + 1, len(cells))
                             if cells[j] in peers[cells[i]])
        if hasattr(prop, "set_units"):
            met = 0
            for c in cells:
                met |= cell_gmask[c]
            prop.set_units([group_sets[g] for g in range(len(groups)) if met >> g & 1])
    for k, prop in enumerate(props):
        for c in prop.cells:
            cell_pmask[c] |= 1 << k
    inters, group_imask = _intersections(tuple(groups))
    net = Network(variables=tuple(variables),
                  peers=[tuple(sorted(p - {i})) for i, p in enumerate(peers)],
                  groups=groups, group_full=group_full, cell_gmask=cell_gmask,
                  props=props, cell_pmask=cell_pmask, inters=inters, group_imask=group_imask)
    if key is not None:
        if len(_networks) >= _CACHE_LIMIT:
            _networks.pop(next(iter(_networks)))
        _networks[key] = net
    return net


@lru_cache(maxsize=64)
def _intersections(groups: tuple):
    """Every overlap of two permutation groups in 2+ cells (a box with a row or a
    column, a diagonal or window with a box...), and per group the mask of its overlaps."""
    inters, group_imask = [], [0] * len(groups)
    sets = [set(g) for g in groups]
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            shared = sets[a] & sets[b]
            if len(shared) >= 2 and shared != sets[a] and shared != sets[b]:
                group_imask[a] |= 1 << len(inters)
                group_imask[b] |= 1 << len(inters)
                inters.append((tuple(sorted(shared)), tuple(sorted(sets[a] - shared)),
                               tuple(sorted(sets[b] - shared))))
    return tuple(inters), tuple(group_imask)


def _network_key(variables, constraints):
    parts = []
    for constraint, vs in constraints:
        k = getattr(constraint, "key", None)
        if k is None:
            return None  # a constraint we cannot identify structurally: compile afresh
        parts.append((k, tuple(vs)))
    return tuple(variables), tuple(parts)

