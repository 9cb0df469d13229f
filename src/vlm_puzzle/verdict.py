"""The solver's verdict on a reading, as one immutable type every stage can name.

:class:`Repair` is a read digit the checking stage changed; :class:`GivensVerdict`
what the solver said about the givens under one puzzle's rules. Both are made by
:mod:`vlm_puzzle.check` and read by the result and by people; this module imports
nothing of the project, so perception (``vision/``) can carry a verdict without
importing the solver.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# GivensVerdict.status values.
CHECK_STATUSES = ("not_needed", "repaired", "failed", "skipped")


@dataclass(frozen=True)
class Repair:
    """A read digit changed (from -> to, 0 = empty) to make the grid consistent."""

    cell: tuple[int, int]
    from_: int
    to: int

    def to_dict(self) -> dict:
        return {"cell": [int(self.cell[0]), int(self.cell[1])], "from": int(self.from_), "to": int(self.to)}

    @classmethod
    def from_dict(cls, d: dict) -> "Repair":
        return cls(cell=(int(d["cell"][0]), int(d["cell"][1])), from_=int(d["from"]), to=int(d["to"]))


@dataclass(frozen=True)
class GivensVerdict:
    """The solver's verdict on the read givens under the rules of a ``kind`` of puzzle.

    ``givens``: after any repair (N x N int, 0 empty). ``status``: ``"not_needed"``
    (exactly one solution as read), ``"repaired"``, ``"failed"`` (no cheap change
    gives one solution) or ``"skipped"`` (not checked; ``kind`` None when no rules
    were checked at all). ``solver_status``: the solver's word on ``givens``
    ("solved" = exactly one solution). ``solution``: that one solution.
    """

    kind: str | None
    givens: np.ndarray
    status: str
    solver_status: str | None
    repairs: tuple[Repair, ...] = ()
    solution: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.status not in CHECK_STATUSES:
            raise ValueError(f"verdict status must be one of {CHECK_STATUSES}, not {self.status!r}")

    @property
    def ok(self) -> bool:
        """Whether the givens abide by the rules and have exactly one solution."""
        return self.solver_status == "solved"

    @classmethod
    def unchecked(cls, givens: np.ndarray) -> "GivensVerdict":
        return cls(kind=None, givens=givens, status="skipped", solver_status=None)


def as_solution(grid) -> tuple[tuple[int, ...], ...] | None:
    return None if grid is None else tuple(tuple(int(v) for v in row) for row in grid)


__all__ = ["Repair", "GivensVerdict", "CHECK_STATUSES", "as_solution"]
