"""Marks that add groups without changing borders: diagonals (x-sudoku) and shaded windows (windoku).

Both are read from a warped square grid (see :mod:`vlm_puzzle.vision.borders`):

* *shading*: each cell's paper brightness (the median of
  :func:`~vlm_puzzle.vision.borders.paper_map` over the cell interior, so digits
  do not count) with a plane fitted over the grid removed, so a lighting gradient
  across a photo is not mistaken for shading. A cell set is shaded when its cells
  are clearly darker than the rest.
* *diagonal lines*: mean ink sampled along each diagonal cell's diagonal, away from
  its centre (where the digit is), against the same cell's other diagonal.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Cell = tuple[int, int]

# Shading must be this many gray levels darker than the other cells, and this many
# times their spread.
MIN_SHADE = 6.0
SHADE_SIGMAS = 4.0
# A diagonal line adds at least this much ink (0..1) along the diagonals.
MIN_LINE_INK = 0.2


@dataclass(frozen=True)
class Marks:
    """Diagonals and windows found in a grid, with their evidence.

    ``diagonals``: the two main diagonals are marked (by ``diagonal_style``:
    ``"line"`` or ``"shade"``). ``windows``: the four windoku windows are shaded.
    ``shaded``: (N, N) bool, every cell read as shaded. ``diagonal_score`` and
    ``window_score``: margins over the decision thresholds (> 1 means present).
    """

    diagonals: bool
    windows: bool
    shaded: np.ndarray
    diagonal_score: float
    window_score: float
    diagonal_style: str | None = None
    notes: tuple[str, ...] = ()


def diagonal_cells(n: int) -> np.ndarray:
    """(N, N) bool: cells on either main diagonal."""
    m = np.eye(n, dtype=bool)
    return m | m[:, ::-1]


def window_cells(n: int) -> np.ndarray | None:
    """(N, N) bool: the windoku windows (9x9 only: rows/cols 1-3 and 5-7), else None."""
    if n != 9:
        return None
    m = np.zeros((9, 9), bool)
    for r0 in (1, 5):
        for c0 in (1, 5):
            m[r0:r0 + 3, c0:c0 + 3] = True
    return m


def cell_paper(paper: np.ndarray, xs: np.ndarray, ys: np.ndarray, inset: float = 0.2) -> np.ndarray:
    """(N, N) median paper brightness of each cell interior (``inset`` of the side cut off)."""
    n = len(xs) - 1
    out = np.zeros((n, n), np.float32)
    for r in range(n):
        for c in range(n):
            dx, dy = (xs[c + 1] - xs[c]) * inset, (ys[r + 1] - ys[r]) * inset
            patch = paper[int(ys[r] + dy):int(ys[r + 1] - dy), int(xs[c] + dx):int(xs[c + 1] - dx)]
            out[r, c] = float(np.median(patch)) if patch.size else 0.0
    return out


def detrend(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``values`` minus the least-squares plane a + b*row + c*col (fitted on ``mask`` cells)."""
    n_r, n_c = values.shape
    rr, cc = np.mgrid[0:n_r, 0:n_c]
    sel = np.ones_like(values, bool) if mask is None else mask
    a = np.column_stack([np.ones(sel.sum()), rr[sel], cc[sel]])
    coef, *_ = np.linalg.lstsq(a, values[sel].astype(np.float64), rcond=None)
    return values - (coef[0] + coef[1] * rr + coef[2] * cc)


def shade_score(darkness: np.ndarray, cells: np.ndarray) -> float:
    """How clearly ``cells`` are darker than the rest: margin / threshold (> 1 = shaded).

    ``darkness`` is detrended paper darkness (higher = darker)."""
    inside, outside = darkness[cells], darkness[~cells]
    if inside.size == 0 or outside.size == 0:
        return 0.0
    gap = float(np.median(inside) - np.median(outside))
    spread = float(np.median(np.abs(outside - np.median(outside)))) * 1.4826
    return gap / max(MIN_SHADE, SHADE_SIGMAS * spread)


def shaded_cells(darkness: np.ndarray) -> np.ndarray:
    """Cells darker than the unshaded majority by more than the decision threshold."""
    base = np.median(darkness)
    spread = float(np.median(np.abs(darkness - base))) * 1.4826
    return darkness - base > max(MIN_SHADE, SHADE_SIGMAS * spread)


def diagonal_line_score(ink: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> float:
    """Mean extra ink along the diagonal direction of diagonal cells, over MIN_LINE_INK.

    Samples stay in the outer parts of each cell (t in 0.1-0.3 and 0.7-0.9 along the
    cell diagonal), where no digit is, and the ink is max-filtered by 3 px so a line
    a pixel or two off the nominal diagonal is still hit."""
    n = len(xs) - 1
    grown = cv2.dilate(ink, np.ones((5, 5), np.uint8))
    t = np.concatenate([np.linspace(0.1, 0.3, 6), np.linspace(0.7, 0.9, 6)])
    gains = []
    for i in range(n):
        for c, anti in ((i, False), (n - 1 - i, True)):
            if n % 2 and i == n // 2:
                continue  # the centre cell lies on both diagonals: no control
            x0, x1, y0, y1 = xs[c], xs[c + 1], ys[i], ys[i + 1]
            px = x0 + (1 - t if anti else t) * (x1 - x0)
            py = y0 + t * (y1 - y0)
            qx = x0 + (t if anti else 1 - t) * (x1 - x0)  # the cell's other diagonal
            on = _sample(grown, px, py)
            off = _sample(grown, qx, py)
            gains.append(on - off)
    return float(np.median(gains)) / MIN_LINE_INK if gains else 0.0


def _sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    h, w = img.shape
    xi = np.clip(np.round(x).astype(int), 0, w - 1)
    yi = np.clip(np.round(y).astype(int), 0, h - 1)
    return float(img[yi, xi].mean())


def pattern_score(shaded: np.ndarray, pattern: np.ndarray | None, darkness: np.ndarray) -> float:
    """How well the shaded cells match a pattern: the pattern's shade margin
    (:func:`shade_score`) when the shaded cells are that pattern (Jaccard >= 0.75),
    else at most 0.5 (another pattern, e.g. windows, covers part of the diagonals)."""
    if pattern is None:
        return 0.0
    union = np.count_nonzero(shaded | pattern)
    jaccard = np.count_nonzero(shaded & pattern) / union if union else 0.0
    score = shade_score(darkness, pattern)
    return score if jaccard >= 0.75 else min(score, 0.5)


def read_marks(paper: np.ndarray, ink: np.ndarray, xs, ys) -> Marks:
    """Diagonals and windows of a grid from its paper and ink maps (see borders)."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    n = len(xs) - 1
    raw = -cell_paper(paper, xs, ys)
    # Fit the lighting plane on the cells of no candidate pattern, so shading
    # (which is symmetric anyway) does not tilt it.
    diag = diagonal_cells(n)
    win = window_cells(n)
    plain = ~diag if win is None else ~(diag | win)
    darkness = detrend(raw, plain if plain.sum() >= 6 else None)
    shaded = shaded_cells(darkness)
    d_shade = pattern_score(shaded, diag, darkness)
    w_shade = pattern_score(shaded, win, darkness)
    d_line = diagonal_line_score(ink, xs, ys)
    notes = []
    diagonals = max(d_shade, d_line) > 1.0
    style = ("shade" if d_shade >= d_line else "line") if diagonals else None
    windows = w_shade > 1.0
    for name, score in (("diagonal shading", d_shade), ("diagonal lines", d_line), ("window shading", w_shade)):
        if 0.6 < score <= 1.0 or 1.0 < score < 1.4:
            notes.append(f"{name} is borderline (score {score:.2f}, threshold 1)")
    return Marks(diagonals=diagonals, windows=windows, shaded=shaded,
                 diagonal_score=max(d_shade, d_line), window_score=w_shade,
                 diagonal_style=style, notes=tuple(notes))
