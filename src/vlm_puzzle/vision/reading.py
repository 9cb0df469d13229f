"""Immutable geometry and cell-reading types of perception.

:class:`GridGeometry` is where the grid is (corners, rectified image, line
positions); :class:`CellReading` what the digit network read in each cell (value
probabilities, the likeliest values). :class:`~vlm_puzzle.vision.state.GridState`
puts them together with the variant marks and the checking stage's verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlm_puzzle.vision.grid import GridLocation
from vlm_puzzle.vision.labels import value_probs

EMPTY_THRESHOLD = 0.5     # a cell is a digit when P(empty) falls below this


@dataclass(frozen=True)
class GridGeometry:
    """Where the grid is. ``corners`` (4x2 float32, TL TR BR BL of the upright grid,
    in the pixels of the image read); ``warped`` (the rectified grid, gray uint8,
    upright); in warped pixels, ``rows_y`` / ``cols_x`` ((N+1,) line positions),
    ``h_lines`` / ``v_lines`` ((N+1, N): line k's position at the middle of each cell
    it bounds, following page curvature) and ``h_weight`` / ``v_weight`` ((N+1,) ink
    mass of each line: thick box and cage borders weigh more). ``rotation``: k such
    that the grid appeared rotated k * 90 degrees counter-clockwise in the picture."""

    size: int
    box: tuple[int, int] | None
    corners: np.ndarray
    warped: np.ndarray
    rows_y: np.ndarray
    cols_x: np.ndarray
    h_lines: np.ndarray
    v_lines: np.ndarray
    h_weight: np.ndarray
    v_weight: np.ndarray
    rotation: int = 0
    location: GridLocation | None = field(default=None, repr=False)

    @classmethod
    def of(cls, loc: GridLocation, scale: float = 1.0, rotation: int = 0) -> "GridGeometry":
        lat = loc.lattice
        return cls(size=lat.size, box=lat.box, corners=(loc.corners / scale).astype(np.float32),
                   warped=loc.warped, rows_y=lat.rows_y, cols_x=lat.cols_x, h_lines=lat.h_lines,
                   v_lines=lat.v_lines, h_weight=lat.h_thick, v_weight=lat.v_thick, rotation=rotation,
                   location=loc)

    def cell_rect(self, r: int, c: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of cell (r, c) in ``warped`` pixels."""
        return (float(self.v_lines[c, r]), float(self.h_lines[r, c]),
                float(self.v_lines[c + 1, r]), float(self.h_lines[r + 1, c]))


@dataclass(frozen=True)
class CellReading:
    """What the digit network read. ``givens`` (N x N int, 0 empty: the likeliest value,
    empty only with P(empty) >= EMPTY_THRESHOLD); ``probs`` (N x N x (N+1) float32,
    index 0 = empty); ``labels`` (the symbol printed for each value index, e.g. "A"
    for 10 in a 16x16 grid); ``confidence`` (N x N, probability of the chosen value);
    ``patches`` / ``symbols``: the cell images and the network's raw symbol
    probabilities (for reading them again turned or without diagonal lines)."""

    givens: np.ndarray
    probs: np.ndarray
    labels: tuple[str, ...]
    notation: str
    confidence: np.ndarray
    patches: np.ndarray | None = field(default=None, repr=False)
    symbols: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_symbols(cls, n: int, patches: np.ndarray | None, sym: np.ndarray,
                     notation: str | None = None) -> "CellReading":
        """The reading of symbol probabilities ``sym`` under the notation that explains
        them best, or under ``notation`` (see :func:`~vlm_puzzle.vision.labels.notations`)."""
        probs, labels, notation = value_probs(sym.reshape(n, n, -1), n, notation)
        # Empty wins only with enough probability; otherwise the likeliest digit.
        digit_best = probs[:, :, 1:].argmax(axis=2) + 1
        givens = np.where(probs[:, :, 0] >= EMPTY_THRESHOLD, 0, digit_best).astype(np.int64)
        confidence = np.take_along_axis(probs, givens[:, :, None], axis=2)[:, :, 0].astype(np.float32)
        return cls(givens, probs, labels, notation, confidence, patches, sym)

    @classmethod
    def certain(cls, givens) -> "CellReading":
        """Givens known for sure (ground truth, tests): probability 1 on each value."""
        g = np.asarray(givens, dtype=np.int64)
        n = g.shape[0]
        probs = np.zeros((n, n, n + 1), np.float32)
        probs[np.arange(n)[:, None], np.arange(n)[None, :], g] = 1.0
        labels = tuple([""] + [str(v) for v in range(1, n + 1)])
        return cls(g, probs, labels, "digits", np.ones((n, n), np.float32))


__all__ = ["GridGeometry", "CellReading", "EMPTY_THRESHOLD"]
