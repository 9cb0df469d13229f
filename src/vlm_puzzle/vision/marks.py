"""Marks that add groups without changing borders: diagonals (x-sudoku) and shaded windows (windoku).

Both are read from a warped square grid (see :mod:`vlm_puzzle.vision.borders`):

* *shading*: each cell's paper brightness (the median of
  :func:`~vlm_puzzle.vision.borders.paper_map` over the cell interior, so digits
  do not count), compared by ratio with its unshaded neighbours, so a lighting
  gradient or a shadow across a photo is not mistaken for shading; faint diagonal
  shading counts when every boundary pair agrees on it.
* *diagonal lines*: mean ink sampled along each diagonal cell's diagonal, away from
  its centre (where the digit is), against the same cell's other diagonal.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vlm_puzzle.findings import Finding, uncertain
from vlm_puzzle.spec import Cell

# Shading must be this much darker (fraction of the paper brightness) than the other
# cells, and this many times their spread.
MIN_SHADE = 0.035
SHADE_SIGMAS = 4.0
# Window score (in units of MIN_SHADE) above which windows count as shaded.
WINDOW_MIN = 0.5
# A diagonal line adds at least this much ink (0..1) along the diagonals.
MIN_LINE_INK = 0.08
# Faint shading (renders go down to ~2 % darker than the paper) still counts when it
# is consistent: its median gap must pass SHADE_FLOOR and be SHADE_CONSISTENCY times
# the spread of the gaps. Lighting noise spreads as much as it shifts (median/spread
# <= 1 on unmarked photos), real shading shifts every pair alike (>= 2).
SHADE_FLOOR = 0.02
SHADE_CONSISTENCY = 1.5


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
    notes: tuple[Finding, ...] = ()


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


def boundary_gaps(paper_cells: np.ndarray, pattern: np.ndarray | None) -> np.ndarray:
    """``1 - inside / outside`` brightness for every pair of 4-neighbours across the
    boundary of ``pattern`` (empty when there is no boundary). Light, dimness and
    shadows multiply both cells of a pair alike, so the ratio sees only the shading."""
    if pattern is None or not pattern.any() or pattern.all():
        return np.zeros(0)
    b = np.maximum(paper_cells.astype(np.float64), 1.0)
    n_r, n_c = b.shape
    gaps = []
    for r, c in zip(*np.nonzero(pattern)):
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < n_r and 0 <= cc < n_c and not pattern[rr, cc]:
                gaps.append(1.0 - b[r, c] / b[rr, cc])
    return np.array(gaps)


def pattern_score(paper_cells: np.ndarray, pattern: np.ndarray | None) -> float:
    """How clearly the cells of ``pattern`` are shaded: margin over MIN_SHADE (> 1 = shaded).

    The median of :func:`boundary_gaps` (so the few pairs a shadow edge runs
    between do not count), scaled down when fewer than 75 % of the pairs agree.
    """
    gaps = boundary_gaps(paper_cells, pattern)
    if not len(gaps):
        return 0.0
    agree = float(np.mean(gaps > MIN_SHADE / 2))
    return float(np.median(gaps)) / MIN_SHADE * min(1.0, agree / 0.75)


def consistent_shade_score(paper_cells: np.ndarray, pattern: np.ndarray | None) -> float:
    """Margin (> 1 = shaded) of shading too faint for :func:`pattern_score` but the same
    across the whole boundary: the median gap over SHADE_FLOOR and over
    SHADE_CONSISTENCY times the gaps' robust spread, whichever is smaller."""
    gaps = boundary_gaps(paper_cells, pattern)
    if len(gaps) < 8:
        return 0.0
    med = float(np.median(gaps))
    spread = 1.4826 * float(np.median(np.abs(gaps - med)))
    if med <= 0:
        return 0.0
    return min(med / SHADE_FLOOR, med / max(SHADE_CONSISTENCY * spread, 1e-9))


def window_shade_score(paper_cells: np.ndarray, pattern: np.ndarray | None) -> float:
    """How clearly the windows are shaded, in :func:`pattern_score` units (> WINDOW_MIN =
    shaded): the larger of :func:`pattern_score` and :func:`consistent_shade_score`
    scaled onto the same bar.

    :func:`pattern_score` counts only pairs with a gap over MIN_SHADE / 2, which for
    windows is the decision bar itself: shading that darkens every pair alike by just
    under it (a 4-level shade on pale paper) would score 0, far below the doubt band,
    instead of just under the bar. The consistency term scores such shading by its
    median gap (and its spread), so the score stays continuous there."""
    return max(pattern_score(paper_cells, pattern),
               WINDOW_MIN * consistent_shade_score(paper_cells, pattern))


def relative_darkness(cell_paper_: np.ndarray) -> np.ndarray:
    """Each cell's shading as a fraction of the local paper brightness: 1 - B / (the
    brightest cell within two cells); for the ``shaded`` overview only (a shadow edge
    can fool it; decisions use :func:`pattern_score`)."""
    b = cell_paper_.astype(np.float32)
    local = cv2.dilate(b, np.ones((5, 5), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return 1.0 - b / np.maximum(local, 1.0)


def read_marks(paper: np.ndarray, ink: np.ndarray, xs, ys) -> Marks:
    """Diagonals and windows of a grid from its paper and ink maps (see borders)."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    n = len(xs) - 1
    cells = cell_paper(paper, xs, ys)
    shaded = shaded_cells(relative_darkness(cells))
    diag = diagonal_cells(n)
    d_shade = max(pattern_score(cells, diag), consistent_shade_score(cells, diag))
    w_shade = window_shade_score(cells, window_cells(n))
    d_line = diagonal_line_score(ink, xs, ys)
    notes = []
    diagonals = max(d_shade, d_line) > 1.0
    style = ("shade" if d_shade >= d_line else "line") if diagonals else None
    # 48 window-boundary pairs are more evidence than a diagonal's: a lower bar.
    windows = w_shade > WINDOW_MIN
    d_best = max(d_shade, d_line)
    for name, score, bar in (("diagonal mark", d_best, 1.0), ("window shading", w_shade, WINDOW_MIN)):
        if 0.7 * bar < score < 1.3 * bar:
            notes.append(uncertain("mark_borderline", f"{name} is borderline (score {score:.2f}, threshold {bar})"))
    return Marks(diagonals=diagonals, windows=windows, shaded=shaded,
                 diagonal_score=max(d_shade, d_line), window_score=w_shade,
                 diagonal_style=style, notes=tuple(notes))
