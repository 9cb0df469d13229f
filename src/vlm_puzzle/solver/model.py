"""PuzzleSpec -> python-constraint ``Problem``: one variable per cell ``(row, col)``,
domain 1..N (or the given), one constraint per group and per cage, plus the sums
and products that the groups imply for caged puzzles (the killer "45 rule")."""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import factorial, prod

from constraint import Constraint, Problem, Solver

from ..spec import Cage, Cell, PuzzleSpec
from .constraints import (AllDifferentGroup, CageDifference, CageProduct, CageQuotient, CageSum,
                          mask_of, values_of)


def cell_domains(spec: PuzzleSpec) -> dict[Cell, list[int]]:
    """Each cell's starting values: its given, or 1..N, narrowed by single-cell cages.
    A list can be empty (a given that contradicts its fixed cage)."""
    n = spec.size
    full = list(range(1, n + 1))
    domains = {(r, c): ([v] if v else full) for r, row in enumerate(spec.givens) for c, v in enumerate(row)}
    for cage in spec.cages:
        if len(cage.cells) == 1:
            cell = cage.cells[0]
            domains[cell] = [v for v in domains[cell] if _single_cell_ok(cage, v)]
    return domains


def _single_cell_ok(cage: Cage, v: int) -> bool:
    # One cell: sum, product and "no op" all mean the cell equals the target.
    return v == cage.target if cage.op in (None, "sum", "add", "mul") else False


def cage_constraints(cage: Cage, n: int) -> list:
    """The python-constraint constraints of a cage of two or more cells."""
    digits = range(1, n + 1)
    out = []
    if cage.op in ("sum", "add"):
        out.append(CageSum(cage.target, distinct=cage.distinct, digits=digits))
    elif cage.op == "mul":
        out.append(CageProduct(cage.target))
    elif cage.op == "sub":
        out.append(CageDifference(cage.target))
    elif cage.op == "div":
        out.append(CageQuotient(cage.target))
    if cage.distinct:
        out.append(AllDifferentGroup())
    return out


def build_problem(spec: PuzzleSpec, solver: Solver | None = None) -> Problem | None:
    """The puzzle as a python-constraint Problem, or ``None`` when some cell has no
    possible value at all (python-constraint refuses empty domains)."""
    domains = cell_domains(spec)
    if not all(domains.values()):
        return None
    problem = Problem(solver)
    for cell, values in domains.items():
        problem.addVariable(cell, values)
    for constraint, cells in layout_constraints(spec.size, spec.groups, spec.cages):
        problem.addConstraint(constraint, cells)
    for constraint, cells in implied_cages(spec):
        problem.addConstraint(constraint, cells)
    return problem


@lru_cache(maxsize=256)
def layout_constraints(size: int, groups: tuple, cages: tuple) -> tuple:
    """(constraint, cells) for every group and cage. They hold no search state, so
    puzzles sharing a layout (every 9x9 sudoku) share them: building them is a
    good part of solving an easy puzzle."""
    values = range(1, size + 1)
    out = [(AllDifferentGroup(values), list(group)) for group in groups]
    for cage in cages:
        if len(cage.cells) > 1:
            out += [(constraint, list(cage.cells)) for constraint in cage_constraints(cage, size)]
    return tuple(out)


MAX_IMPLIED_CELLS = 4  # longer implied cages prune too little to pay for themselves


def implied_cages(spec: PuzzleSpec, max_cells: int = MAX_IMPLIED_CELLS) -> list[tuple[Constraint, list[Cell]]]:
    """Redundant cage constraints from the "45 rule". A region made of whole groups
    (a row, a box, two adjacent rows...) holds each digit k times, so it sums to
    k * N(N+1)/2 and multiplies to (N!)^k. The cells it holds outside whole sum
    cages (innies) have a known sum, and likewise the cells its sum cages stick out
    with (outies); the cells outside whole product cages have a known product.
    Short ones are strong extra propagators (a KenKen row with one '-' cage in it
    learns that cage's sum too). Cell sets are int bitmasks (bit r*N+c): this runs
    for every caged puzzle, and set arithmetic on ints is cheap."""
    if not spec.cages:
        return []
    n = spec.size
    total, product = n * (n + 1) // 2, factorial(n)
    digits = range(1, n + 1)
    given = {r * n + c: v for r, row in enumerate(spec.givens) for c, v in enumerate(row) if v}
    given_mask = _mask(given)
    cage_mask = [_mask(r * n + c for r, c in cage.cells) for cage in spec.cages]
    cage_at = {r * n + c: i for i, cage in enumerate(spec.cages) for r, c in cage.cells}
    in_groups = _groups_of_cells(n, spec.groups)
    seen = {(m, "sum" if _summable(c) else c.op) for m, c in zip(cage_mask, spec.cages)}
    out = []

    def add(op: str, cells: int, target) -> None:
        if not 0 < cells.bit_count() <= max_cells or (cells, op) in seen:
            return
        seen.add((cells, op))
        members = _bits(cells)
        where = sorted((i // n, i % n) for i in members)
        if op == "sum":
            common = -1
            for i in members:
                common &= in_groups[i]
            out.append((CageSum(target, distinct=bool(common), digits=digits), where))
        elif target == int(target) and target >= 1:
            out.append((CageProduct(int(target)), where))
        else:  # the product cages cannot fit this region: make that visible
            out.append((CageProduct(0), where))

    for region, k, members in _regions(n, spec.groups):
        ids = {cage_at[i] for i in members if i in cage_at}
        inside = [i for i in ids if not cage_mask[i] & ~region]
        touching = [i for i in ids if cage_mask[i] & ~region]
        sums = [i for i in inside if _summable(spec.cages[i])]
        loose = region
        for i in sums:
            loose &= ~cage_mask[i]
        s_in = sum(spec.cages[i].target for i in sums)
        add("sum", loose & ~given_mask, k * total - s_in - _given_sum(given, loose & given_mask))
        if len(sums) == len(inside) and touching and all(_summable(spec.cages[i]) for i in touching):
            sticking = 0
            for i in touching:
                sticking |= cage_mask[i]
            if not loose & ~sticking & ~given_mask:  # every loose cell is in a touching cage or given
                outside = sticking & ~region
                rest = s_in + sum(spec.cages[i].target for i in touching) \
                    + _given_sum(given, loose & ~sticking) - k * total
                add("sum", outside & ~given_mask, rest - _given_sum(given, outside & given_mask))
        muls = [i for i in inside if _multipliable(spec.cages[i])]
        if muls:
            loose = region
            for i in muls:
                loose &= ~cage_mask[i]
            known = prod(spec.cages[i].target for i in muls) * prod(given[i] for i in _bits(loose & given_mask))
            add("mul", loose & ~given_mask, Fraction(product ** k, known))
    return out


# Cell-index sets as bitmasks: the same helpers as the constraints' value masks.
_mask = mask_of
_bits = values_of


def _given_sum(given: dict[int, int], mask: int) -> int:
    return sum(given[i] for i in _bits(mask)) if mask else 0


@lru_cache(maxsize=64)
def _groups_of_cells(n: int, groups: tuple) -> list[int]:
    """Per cell index, the bitmask of the groups holding it."""
    out = [0] * (n * n)
    for g, group in enumerate(groups):
        for r, c in group:
            out[r * n + c] |= 1 << g
    return out


@lru_cache(maxsize=64)
def _regions(n: int, groups: tuple) -> tuple:
    """(cell mask, k, cell indices): each permutation group (k=1) and bands of 2..3
    adjacent rows or columns (each digit k times)."""
    regions = [[r * n + c for r, c in group] for group in groups]
    ks = [1] * len(regions)
    for width in (2, 3):
        for start in range(0, n - width + 1):
            regions.append([r * n + c for r in range(start, start + width) for c in range(n)])
            regions.append([r * n + c for c in range(start, start + width) for r in range(n)])
            ks += [width, width]
    return tuple((_mask(cells), k, tuple(cells)) for cells, k in zip(regions, ks))


def _summable(cage: Cage) -> bool:
    return cage.op in ("sum", "add") or len(cage.cells) == 1


def _multipliable(cage: Cage) -> bool:
    return cage.op == "mul" or len(cage.cells) == 1
