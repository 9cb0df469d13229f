"""CSP solver on python-constraint: model a PuzzleSpec, propagate, search, prove uniqueness.

    from vlm_puzzle.solver import solve
    out = solve(spec)            # SolveOutcome: status, solution, solutions_found, stats
"""
from .solving import STATUSES, SolveOutcome, SolveStats, count_solutions, solve
from .verify import cage_holds, violations

__all__ = ["solve", "count_solutions", "SolveOutcome", "SolveStats", "STATUSES",
           "violations", "cage_holds"]
