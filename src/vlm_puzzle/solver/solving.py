"""``solve(spec)``: complete a puzzle and, by looking for a second solution,
prove it unique."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from ..errors import OptionError
from ..spec import PuzzleSpec, SpecError
from .model import build_problem
from .search import PropagatingSolver

STATUSES = ("solved", "no_solution", "multiple", "timeout")


@dataclass
class SolveStats:
    """Search effort and timing of one solve."""

    nodes: int = 0          # decisions tried (cell := value)
    backtracks: int = 0     # decisions refuted by propagation
    max_depth: int = 0
    build_s: float = 0.0    # spec -> python-constraint Problem
    time_s: float = 0.0     # everything, build included


@dataclass
class SolveOutcome:
    """``status`` is one of STATUSES. ``solution`` (N rows) is the solution found,
    one of them for "multiple", the first one found (not proven unique) for a
    "timeout" that came after it, else None. ``other``: the second solution found,
    when there was one ("multiple"), else None."""

    status: str
    solution: list[list[int]] | None
    solutions_found: int
    stats: SolveStats = field(default_factory=SolveStats)
    other: list[list[int]] | None = None

    @property
    def solved(self) -> bool:
        return self.status == "solved"

    def to_dict(self) -> dict:
        return {"status": self.status, "solution": self.solution,
                "solutions_found": self.solutions_found, "stats": asdict(self.stats)}


def solve(spec: PuzzleSpec, *, unique: bool = True, timeout_s: float | None = None) -> SolveOutcome:
    """Solve ``spec``. With ``unique`` the search goes on for a second solution:
    "solved" then means exactly one, "multiple" at least two."""
    return _run(spec, limit=2 if unique else 1, timeout_s=timeout_s)


def count_solutions(spec: PuzzleSpec, limit: int = 1000, *, timeout_s: float | None = None) -> int:
    """How many solutions ``spec`` has, counting up to ``limit``.
    Raises TimeoutError when ``timeout_s`` passes before the count is done."""
    out = _run(spec, limit=limit, timeout_s=timeout_s)
    if out.status == "timeout":
        raise TimeoutError(f"counting solutions took over {timeout_s} s ({out.solutions_found} so far)")
    return out.solutions_found


def _run(spec: PuzzleSpec, *, limit: int, timeout_s: float | None) -> SolveOutcome:
    if not isinstance(spec, PuzzleSpec):
        raise SpecError(f"the solver takes a PuzzleSpec, not {type(spec).__name__}")
    if timeout_s is not None and not timeout_s >= 0:  # nan too
        raise OptionError(f"timeout_s must be a number >= 0 or None, not {timeout_s!r}")
    if limit < 1:
        raise OptionError(f"limit must be at least 1, not {limit}")
    t0 = time.perf_counter()
    deadline = None if timeout_s is None else t0 + timeout_s
    solver = PropagatingSolver(deadline=deadline)
    problem = build_problem(spec, solver)
    stats = SolveStats(build_s=time.perf_counter() - t0)
    first, other, found = None, None, 0
    if problem is not None:
        for assignment in problem.getSolutionIter():
            found += 1
            if found == 1:
                first = _grid(assignment, spec.size)
            elif found == 2:
                other = _grid(assignment, spec.size)
            if found >= limit:
                break
    s = solver.stats
    stats.nodes, stats.backtracks, stats.max_depth = s.nodes, s.backtracks, s.max_depth
    stats.time_s = time.perf_counter() - t0
    if s.timed_out:
        status = "timeout"
    elif found == 0:
        status = "no_solution"
    elif found == 1 or limit == 1:
        status = "solved"
    else:
        status = "multiple"
    return SolveOutcome(status=status, solution=first, solutions_found=found, stats=stats, other=other)


def _grid(assignment: dict, n: int) -> list[list[int]]:
    return [[assignment[(r, c)] for c in range(n)] for r in range(n)]
