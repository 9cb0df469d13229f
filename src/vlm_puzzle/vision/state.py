"""What perception hands on: one picture's grid as an immutable value.

:class:`GridState` holds the :class:`~vlm_puzzle.vision.reading.GridGeometry`, the
:class:`~vlm_puzzle.vision.reading.CellReading`, the variant marks
(:class:`~vlm_puzzle.vision.variants.VariantState`) and, once the checking stage
(:mod:`vlm_puzzle.check`) has spoken, its verdict on the givens
(:class:`~vlm_puzzle.verdict.GivensVerdict`). A stage that changes something makes a
new value (``dataclasses.replace``); nothing is changed in place.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlm_puzzle.spec import DEFAULT_BOX, PuzzleSpec
from vlm_puzzle.verdict import GivensVerdict, Repair
from vlm_puzzle.vision.reading import CellReading, GridGeometry
from vlm_puzzle.vision.variants import VariantState


@dataclass(frozen=True)
class GridState:
    """One picture's grid: geometry, cell reading, variant marks (None when not read)
    and the checking stage's verdict (None before it)."""

    geometry: GridGeometry
    reading: CellReading
    variants: VariantState | None = None
    verdict: GivensVerdict | None = None
    timing: dict[str, float] = field(default_factory=dict, repr=False)   # seconds per step, never changed

    # Views used by the overlay, the result and users (README: ``extract_state``).
    @property
    def size(self) -> int:
        return self.geometry.size

    @property
    def box(self) -> tuple[int, int] | None:
        return self.geometry.box

    @property
    def corners(self) -> np.ndarray:
        return self.geometry.corners

    @property
    def warped(self) -> np.ndarray:
        return self.geometry.warped

    @property
    def rotation(self) -> int:
        return self.geometry.rotation

    def cell_rect(self, r: int, c: int) -> tuple[float, float, float, float]:
        return self.geometry.cell_rect(r, c)

    @property
    def probs(self) -> np.ndarray:
        return self.reading.probs

    @property
    def raw_givens(self) -> np.ndarray:
        """The givens as read, before any repair."""
        return self.reading.givens

    @property
    def givens(self) -> np.ndarray:
        """The givens after the checking stage's repairs (as read before it)."""
        return self.verdict.givens if self.verdict is not None else self.reading.givens

    @property
    def confidence(self) -> np.ndarray:
        """(N, N) probability the reader gave each cell's value in ``givens``."""
        if self.verdict is None:
            return self.reading.confidence
        return np.take_along_axis(self.reading.probs, self.verdict.givens[:, :, None], axis=2)[:, :, 0]

    @property
    def repairs(self) -> tuple[Repair, ...]:
        return self.verdict.repairs if self.verdict is not None else ()

    @property
    def ok(self) -> bool:
        """True when the givens abide by the checked rules and have exactly one solution."""
        return self.verdict is not None and self.verdict.ok

    def to_spec(self) -> PuzzleSpec:
        """The reading as a plain Sudoku :class:`PuzzleSpec` (with per-cell confidence).

        Raises SpecError for sizes without a Sudoku box shape."""
        box = self.box if self.box else DEFAULT_BOX.get(self.size)
        spec = PuzzleSpec.sudoku(self.givens.tolist(), box=box)
        return spec.with_givens(self.givens.tolist(), np.clip(self.confidence, 0, 1).round(4).tolist())


__all__ = ["GridState"]
