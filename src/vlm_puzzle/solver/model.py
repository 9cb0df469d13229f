"""PuzzleSpec -> python-constraint ``Problem``: one variable per cell ``(row, col)``,
domain 1..N (or the given), one constraint per group and per cage, plus the sums
and products that the groups imply for caged puzzles (the killer "45 rule")."""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import factorial, prod

from constraint import Constraint, Problem, Solver

from ..spec import Cage, Cell, PuzzleSpec
from .constraints import AllDifferentGroup, CageDifference, CageProduct, CageQuotient, CageSum


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
    learns that cage's sum too)."""
    if not spec.cages:
        return []
    n = spec.size
    total, product = n * (n + 1) // 2, factorial(n)
    digits = range(1, n + 1)
    given = {(r, c): v for r, row in enumerate(spec.givens) for c, v in enumerate(row) if v}
    cage_cells = [frozenset(c.cells) for c in spec.cages]
    cage_id = {cell: i for i, cells in enumerate(cage_cells) for cell in cells}
    in_groups: dict[Cell, int] = {}  # cell -> bitmask of the groups holding it
    for g, group in enumerate(spec.groups):
        for cell in group:
            in_groups[cell] = in_groups.get(cell, 0) | 1 << g
    seen = {(cells, "sum" if _summable(c) else c.op) for cells, c in zip(cage_cells, spec.cages)}
    out = []

    def add(op: str, cells: set, target) -> None:
        key = frozenset(cells)
        if not 0 < len(key) <= max_cells or (key, op) in seen:
            return
        seen.add((key, op))
        if op == "sum":
            common = -1
            for cell in key:
                common &= in_groups[cell]
            out.append((CageSum(target, distinct=bool(common), digits=digits), sorted(key)))
        elif target == int(target) and target >= 1:
            out.append((CageProduct(int(target)), sorted(key)))
        else:  # the product cages cannot fit this region: make that visible
            out.append((CageProduct(0), sorted(key)))

    for region, k in _regions(spec):
        ids = {cage_id[c] for c in region if c in cage_id}
        inside = [i for i in ids if cage_cells[i] <= region]
        touching = [i for i in ids if not cage_cells[i] <= region]
        sums = [i for i in inside if _summable(spec.cages[i])]
        loose = region.difference(*(cage_cells[i] for i in sums))
        s_in = sum(spec.cages[i].target for i in sums)
        add("sum", {c for c in loose if c not in given}, k * total - s_in - sum(given.get(c, 0) for c in loose))
        if len(sums) == len(inside) and touching and all(_summable(spec.cages[i]) for i in touching):
            sticking = set().union(*(cage_cells[i] for i in touching))
            uncovered = loose - sticking
            if all(c in given for c in uncovered):
                outside = sticking - region
                rest = s_in + sum(spec.cages[i].target for i in touching) \
                    + sum(given[c] for c in uncovered) - k * total
                add("sum", {c for c in outside if c not in given}, rest - sum(given.get(c, 0) for c in outside))
        muls = [i for i in inside if _multipliable(spec.cages[i])]
        if muls:
            loose = region.difference(*(cage_cells[i] for i in muls))
            known = prod(spec.cages[i].target for i in muls) * prod(given.get(c, 1) for c in loose)
            add("mul", {c for c in loose if c not in given}, Fraction(product ** k, known))
    return out


def _summable(cage: Cage) -> bool:
    return cage.op in ("sum", "add") or len(cage.cells) == 1


def _multipliable(cage: Cage) -> bool:
    return cage.op == "mul" or len(cage.cells) == 1


def _regions(spec: PuzzleSpec):
    """(cells, k): each permutation group (k=1) and bands of 2..3 adjacent rows or columns."""
    n = spec.size
    for group in spec.groups:
        yield set(group), 1
    for width in (2, 3):
        for start in range(0, n - width + 1):
            yield {(r, c) for r in range(start, start + width) for c in range(n)}, width
            yield {(r, c) for c in range(start, start + width) for r in range(n)}, width
