"""PuzzleSpec -> python-constraint ``Problem``: one variable per cell ``(row, col)``,
domain 1..N (or the given), one constraint per group and per cage."""
from __future__ import annotations

from constraint import Problem, Solver

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
    values = range(1, spec.size + 1)
    for group in spec.groups:
        problem.addConstraint(AllDifferentGroup(values), list(group))
    for cage in spec.cages:
        if len(cage.cells) > 1:
            for constraint in cage_constraints(cage, spec.size):
                problem.addConstraint(constraint, list(cage.cells))
    return problem
