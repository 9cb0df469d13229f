"""Find the puzzle grid in a picture, rectify it and locate its cell lines.

Three steps, each a pure function over numpy arrays:

1. :func:`find_quad` - a coarse outline: the largest plausible quadrilateral
   among the contours of an adaptive threshold (fallback: extreme points of
   the largest ink blob). Corners in pixels of the given image, TL TR BR BL.
2. :func:`warp_quad` - a perspective warp of that quad (plus a margin, so a
   coarse outline that cut the border off still shows it) to a square.
3. :func:`find_lattice` - the cell lines in the warped square, from projection
   profiles of morphologically extracted horizontal / vertical strokes: grid
   size N, line positions, line thickness (thick lines give the box shape) and,
   per cell, the local position of each line so that slightly curved pages
   still give the right cells.

:func:`locate_grid` chains them and maps the refined outer lines back to
corners in the original image.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import cv2
import numpy as np

from vlm_puzzle.errors import GridNotFoundError

# Sizes a grid may have: sudoku sizes plus KenKen 3..9.
GRID_SIZES = (3, 4, 5, 6, 7, 8, 9, 12, 16)
WARP_SIZE = 576          # px side of the rectified grid; 576 = 9*64 = 16*36 = 12*48
WARP_MARGIN = 24         # px of context kept around the coarse outline when warping
DETECT_MAX_SIDE = 800    # px; detection runs on a copy at most this large
# Least ratio of a rectified lattice's narrowest to widest row or column: below it
# the lattice is taken as doubtful (the 160 real photos and development renders:
# 0.76 and up; a page's side rules plus a killer's dashed cage lines gave 0.63).
REGULAR_SPACING = 0.7


@dataclass(frozen=True)
class Lattice:
    """Cell lines of a grid in the warped square (all positions in warped pixels).

    ``rows_y`` / ``cols_x``: (N+1,) global positions of the horizontal / vertical
    lines. ``h_lines[k, c]``: y of horizontal line k at the middle of column c;
    ``v_lines[k, r]``: x of vertical line k at the middle of row r; both (N+1, N),
    following the page's curvature. ``h_thick`` / ``v_thick``: (N+1,) median
    stroke thickness of each line, px. ``box``: (rows, cols) of the boxes read
    from the thick lines, or None when the thick lines show no regular boxes.
    """

    size: int
    rows_y: np.ndarray
    cols_x: np.ndarray
    h_lines: np.ndarray
    v_lines: np.ndarray
    h_thick: np.ndarray
    v_thick: np.ndarray
    box: tuple[int, int] | None
    support: float

    def cell_rect(self, r: int, c: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of cell (r, c) in the warped square, from the local lines."""
        y0 = self.h_lines[r, c]
        y1 = self.h_lines[r + 1, c]
        x0 = self.v_lines[c, r]
        x1 = self.v_lines[c + 1, r]
        return float(x0), float(y0), float(x1), float(y1)


@dataclass(frozen=True)
class GridLocation:
    """Where the grid is: corners in the original image, warp and lattice."""

    corners: np.ndarray          # (4, 2) float32, TL TR BR BL, original image pixels
    homography: np.ndarray       # 3x3, original image -> warped square
    warped: np.ndarray           # (WARP_SIZE, WARP_SIZE) uint8 gray, rectified
    lattice: Lattice


# ---- 1. coarse outline ------------------------------------------------------------

def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 single-channel view of a BGR / BGRA / gray uint8 image."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image[:, :, 0]


def ink_mask(gray: np.ndarray, block: int | None = None, offset: float = 7) -> np.ndarray:
    """Binary uint8 mask (255 = ink) by adaptive mean threshold; robust to shadows.

    ``block``: neighbourhood side in px (odd), default about 1/20 of the short side.
    ``offset``: how much darker than the local mean a pixel must be to count as ink.
    """
    if block is None:
        block = max(11, (min(gray.shape[:2]) // 20) | 1)
    blur = cv2.GaussianBlur(gray, (3, 3), 0)
    return cv2.adaptiveThreshold(blur, 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                 cv2.THRESH_BINARY_INV, block, offset)


def percentile_u8(a: np.ndarray, q: float) -> float:
    """``np.percentile(a, q)`` of a uint8 array, bit for bit, from a 256-bin histogram.

    Counting is O(n) where numpy partitions a float copy. When the order
    statistics around the percentile's rank are all one gray level (nearly
    always: 256 levels, 10^5 pixels) that level is the answer exactly;
    otherwise numpy itself interpolates.
    """
    n = a.size
    if n < 4 or a.dtype != np.uint8:
        return float(np.percentile(a, q))
    rank = (n - 1) * (q / 100.0)
    # Ranks one either side of numpy's virtual index absorb its rounding.
    r0, r1 = max(0, int(rank) - 1), min(n - 1, int(rank) + 2)
    counts = np.cumsum(np.bincount(a.ravel(), minlength=256))
    v0, v1 = np.searchsorted(counts, [r0, r1], side="right")
    if v0 == v1:
        return float(v0)
    return float(np.percentile(a, q))


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Four points ordered TL, TR, BR, BL (by angle around their centroid)."""
    pts = np.asarray(pts, dtype=np.float32).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]               # from -pi: TL, TR, BR, BL in image coords
    # Start at the point with the smallest x + y (top-left).
    start = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -start, axis=0)


def _quad_is_plausible(quad: np.ndarray, min_area: float) -> bool:
    if not cv2.isContourConvex(quad.reshape(-1, 1, 2).astype(np.float32)):
        return False
    area = cv2.contourArea(quad.astype(np.float32))
    if area < min_area:
        return False
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    # A grid photographed at an angle stays roughly square: opposite sides within 2.5x.
    return sides.max() < 2.5 * sides.min()


def _extreme_points_quad(contour: np.ndarray) -> np.ndarray:
    pts = contour.reshape(-1, 2).astype(np.float32)
    s = pts.sum(axis=1)
    d = pts[:, 0] - pts[:, 1]
    return np.array([pts[np.argmin(s)], pts[np.argmax(d)], pts[np.argmax(s)], pts[np.argmin(d)]])


def _blob_quad(contour: np.ndarray, min_area: float) -> np.ndarray | None:
    """A plausible quad for one blob: its simplified convex hull, else its extreme points."""
    hull = cv2.convexHull(contour)
    peri = cv2.arcLength(hull, True)
    for eps in (0.02, 0.04, 0.06):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            quad = order_corners(approx)
            if _quad_is_plausible(quad, min_area):
                return quad
            break
    quad = order_corners(_extreme_points_quad(hull))
    return quad if _quad_is_plausible(quad, min_area) else None


def _box_area(rect: tuple[int, int, int, int]) -> int:
    """Area (px) of an (x, y, w, h) rectangle."""
    return rect[2] * rect[3]


def candidate_quads(gray: np.ndarray, min_area_frac: float = 0.04, per_mask: int = 4) -> list[np.ndarray]:
    """Coarse grid outlines, most likely first: (4, 2) float32 corners TL TR BR BL.

    Candidates come from the biggest blobs of two masks: all ink (works when
    the border is intact) and long straight strokes only (works when text or
    pictures touch the grid and merge with it in the first mask).
    """
    h, w = gray.shape[:2]
    ink = ink_mask(gray)
    long_len = max(10, min(h, w) // 25)
    lines = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (long_len, 1))) | \
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, long_len)))
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    min_area = min_area_frac * h * w
    quads: list[np.ndarray] = []
    for mask in (ink, lines):
        # All contours, not just outer ones: a grid printed on a page photographed
        # against a dark table sits inside the page's own outline.
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        # Plain int product: np.prod costs more than boundingRect over thousands of specks.
        boxes = [c for c in contours if len(c) >= 4 and _box_area(cv2.boundingRect(c)) >= min_area]
        areas = [(cv2.contourArea(cv2.convexHull(c)), c) for c in boxes]
        big = sorted([a for a in areas if a[0] >= min_area], key=lambda a: -a[0])[:per_mask]
        for _, contour in big:
            quad = _blob_quad(contour, min_area)
            if quad is not None and not any(np.abs(quad - q).max() < 0.02 * max(h, w) for q in quads):
                quads.append(quad)
    return quads


# ---- 2. rectification -------------------------------------------------------------

def warp_quad(gray: np.ndarray, quad: np.ndarray, size: int = WARP_SIZE,
              margin: int = WARP_MARGIN, paper: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``quad`` to a ``size`` square whose inner ``size - 2*margin`` square is the quad.

    Returns (warped uint8, 3x3 homography from ``gray`` pixels to warped pixels).
    Pixels outside the image are filled with the paper level (the image's 90th
    percentile gray), so a grid cut off at the image edge keeps the sliver of
    its border line that is inside the picture, and gains no fake line.
    ``paper``: that level when already known (:func:`paper_level` of ``gray``).
    """
    m, e = float(margin), float(size - 1 - margin)
    dst = np.array([[m, m], [e, m], [e, e], [m, e]], dtype=np.float32)
    H = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    if paper is None:
        paper = paper_level(gray)
    warped = cv2.warpPerspective(gray, H, (size, size), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=paper)
    return warped, H


def paper_level(gray: np.ndarray) -> float:
    """Gray level of the paper: the 90th percentile of every 4th pixel (both axes)."""
    return percentile_u8(gray[::4, ::4], 90)


# ---- 3. lattice ------------------------------------------------------------------

def line_masks(warped: np.ndarray, min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical stroke masks (uint8 0/255): ink kept only where it
    runs at least ``min_len`` px straight, which removes digits and text."""
    mask = ink_mask(warped, block=(warped.shape[0] // 24) | 1, offset=5)
    horiz = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (min_len, 1)))
    vert = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, min_len)))
    # Close small gaps (broken print, glare) along the line direction.
    horiz = cv2.dilate(horiz, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 1)))
    vert = cv2.dilate(vert, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 5)))
    return horiz, vert


def darkness(gray: np.ndarray, radius: int = 7) -> np.ndarray:
    """uint8 local darkness: paper level (grey dilation over a (2r+1) square) minus gray."""
    bg = cv2.dilate(gray, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1)))
    return cv2.subtract(bg, gray)


def _profile_peaks(profile: np.ndarray, min_height: float, min_gap: int) -> np.ndarray:
    """Indices of local maxima of a 1-D profile above ``min_height``, ``min_gap`` apart."""
    p = np.convolve(profile, np.ones(3) / 3, mode="same")
    mid = p[1:-1]
    idx = np.nonzero((mid >= min_height) & (mid >= p[:-2]) & (mid > p[2:]))[0] + 1
    idx = idx[np.argsort(-p[idx], kind="stable")].tolist()    # strongest first; ties by position
    kept: list[int] = []
    for i in idx:
        if all(abs(i - k) >= min_gap for k in kept):
            kept.append(i)
    return np.array(sorted(kept), dtype=np.int64)


def _best_lattice_1d(profile: np.ndarray, peaks: np.ndarray, span_min: float,
                     sizes=GRID_SIZES) -> tuple[int, float, float, float] | None:
    """Choose (N, first, last, support) of equally spaced lines best explaining ``peaks``.

    ``profile`` is the fraction of the grid width covered by line ink per position.
    A lattice is supported when every one of its N+1 lines lands near a strong
    peak. Among supported lattices the largest N wins (a 9x9 grid also supports
    N=3 through its box lines, or through a stray rule beside the grid), then
    the widest span.
    """
    # Plain Python over a few dozen peaks: faster than numpy on such tiny arrays.
    pk = [float(p) for p in peaks]
    st = [float(profile[p]) for p in peaks]
    strong = [j for j, v in enumerate(st) if v >= 0.5]
    best = None
    for i, a in enumerate(pk):
        for b in pk[i + 1:]:
            span = b - a
            if span < span_min:
                continue
            r8 = round(span / 8)
            for n in sizes:
                if best is not None and (n, r8) < best[0][:2]:
                    continue         # its key cannot beat the best one: skip the search
                step = span / n
                if step < 12:        # px; cells narrower than this are not cells
                    continue
                tol = max(3.0, 0.2 * step)
                support, used = [], set()
                for k in range(n + 1):
                    pos = a + k * step
                    j0, j1 = bisect_left(pk, pos - tol), bisect_right(pk, pos + tol)
                    if j0 >= j1:
                        break
                    j = max(range(j0, j1), key=st.__getitem__)   # strongest nearby peak
                    if st[j] < 0.35:
                        break
                    support.append(st[j])
                    used.add(j)
                if len(support) < n + 1:
                    continue
                # Every strong line inside the span must be one of the lattice's lines:
                # this rejects N=3 on a 9x9 grid and lattices anchored on a stray rule.
                if any(j not in used and a + tol < pk[j] < b - tol for j in strong):
                    continue
                mean = sum(support) / len(support)
                key = (n, r8, mean)
                if best is None or key > best[0]:
                    best = (key, n, a, b, mean)
    if best is None:
        return None
    return best[1], best[2], best[3], best[4]


def _snap(peaks: np.ndarray, pos: np.ndarray, tol: float) -> np.ndarray:
    out = pos.astype(np.float64).copy()
    for k, p in enumerate(pos):
        d = np.abs(peaks - p)
        if len(d) and d.min() <= tol:
            out[k] = peaks[int(np.argmin(d))]
    return out


def _segment_sums(img: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """(H, N) int32 sums of each row of uint8 ``img`` over columns [x0, x1) (negated
    over [x1, x0) when x1 < x0). Running sums per row come from OpenCV's integral
    image (rows r+1 minus r), far faster than ``np.cumsum`` on uint8."""
    total = cv2.integral(img)                       # (H+1, W+1): sum over rows < y, columns < x
    run = total[1:] - total[:-1]                    # (H, W+1): per-row sums of the first x columns
    return run[:, x1] - run[:, x0]


def _local_lines(mask: np.ndarray, dark: np.ndarray, global_pos: np.ndarray, across: np.ndarray,
                 tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment positions and weight of lines running along axis 1 of ``mask``.

    ``dark``: darkness (background minus gray) image, same shape (either may be
    a transposed view). ``global_pos``: (N+1,) line positions along axis 0;
    ``across``: (N+1,) the perpendicular lines, whose consecutive pairs bound the
    N segments. Returns (pos (N+1, N), weight (N+1,)): weight is the line's ink
    mass across it (darkness summed over its width, median over segments), which
    separates thick from thin lines even when blur makes both look equally wide
    in a binary mask.
    """
    n = len(global_pos) - 1
    h, w = mask.shape
    pos = np.tile(global_pos[:, None], (1, n)).astype(np.float64)
    weight = np.zeros(n + 1)
    # Segment bounds: the middle 60% of each cell side, away from crossings.
    a = np.asarray(across, np.float64)
    inner0 = np.clip((a[:-1] + (a[1:] - a[:-1]) / 5).astype(int), 0, w - 1)
    inner1 = np.clip((a[1:] - (a[1:] - a[:-1]) / 5).astype(int), 1, w)
    widths = np.maximum(inner1 - inner0, 1)
    half = int(np.ceil(tol))
    bands = [(int(max(0, g - half)), int(min(h, g + half + 1))) for g in global_pos]
    rows = np.concatenate([np.arange(lo, max(lo, hi)) for lo, hi in bands])
    # Segment sums of every band row at once, from running sums along each row
    # (exact integers): covered fraction and mean darkness, (rows, N) per band.
    cover_all = _segment_sums((mask[rows] > 0).view(np.uint8), inner0, inner1) / widths
    prof_all = _segment_sums(np.ascontiguousarray(dark[rows]), inner0, inner1) / widths
    start = 0
    for k, (lo, hi) in enumerate(bands):
        if hi <= lo:
            continue
        # (rows, N) covered fraction / mean darkness of the band.
        cover = cover_all[start:start + hi - lo]
        prof = prof_all[start:start + hi - lo]
        start += hi - lo
        present = cover.max(axis=0) >= 0.5
        band_rows = np.arange(hi - lo)[:, None]
        on = cover >= 0.5
        first = np.where(on, band_rows, hi).min(axis=0)
        last = np.where(on, band_rows, -1).max(axis=0)
        pos[k, present] = lo + (first[present] + last[present]) / 2.0
        masses = prof.sum(axis=0) - prof.min(axis=0) * (hi - lo)
        weight[k] = float(np.median(masses[present])) if present.any() else 0.0
    # Smooth along the line: a digit touching the line must not bend it.
    if n >= 3:
        padded = np.concatenate([pos[:, :1], pos, pos[:, -1:]], axis=1)
        pos = np.median(np.stack([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]]), axis=0)
    return pos, weight


def box_from_thickness(h_thick: np.ndarray, v_thick: np.ndarray) -> tuple[int, int] | None:
    """Box shape (rows, cols) from the thickness of the lines, or None.

    Box borders are thicker than cell borders: for each axis find the period d
    (a proper divisor of N) whose lines k % d == 0 are clearly thicker than the
    rest; rows * cols must equal N.
    """
    n = len(h_thick) - 1

    def period_scores(thick: np.ndarray) -> dict[int, float]:
        scores = {}
        inner = thick[1:-1]
        for d in range(2, n):
            if n % d:
                continue
            sel = np.array([(k % d == 0) for k in range(1, n)])
            thick_l, thin_l = inner[sel], inner[~sel]
            if len(thin_l) == 0 or len(thick_l) == 0:
                continue
            # Separation: the thinnest box line against the thickest cell line.
            if thick_l.min() >= 1.1 * thin_l.max() and thick_l.mean() >= 1.35 * thin_l.mean():
                scores[d] = float(thick_l.min() / thin_l.max())
        return scores

    rows_s, cols_s = period_scores(h_thick), period_scores(v_thick)
    best = None
    for br, sr in rows_s.items():
        for bc, sc in cols_s.items():
            if br * bc == n:
                score = sr + sc
                if best is None or score > best[0]:
                    best = (score, (br, bc))
    return best[1] if best else None


def _ink_count(mask: np.ndarray, axis: int) -> np.ndarray:
    """(L,) int ink pixels of a 0/255 uint8 mask per row (``axis`` 1) or column
    (``axis`` 0): ``(mask > 0).sum(axis)``, by OpenCV's reduce (about 10x faster)."""
    sums = cv2.reduce(mask, 1 if axis == 1 else 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    return sums // 255


def _grid_line_masks(warped: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_masks` as the lattice and border finders use them."""
    return line_masks(warped, min_len=max(10, (warped.shape[0] - 2 * margin) // 24))


def find_lattice(warped: np.ndarray, margin: int = WARP_MARGIN,
                 masks: tuple[np.ndarray, np.ndarray] | None = None) -> Lattice:
    """The grid's cell lines in the warped square (see :class:`Lattice`).

    ``masks``: the square's (horizontal, vertical) line masks when already made
    (:func:`_grid_line_masks`). Raises GridNotFoundError when no equally spaced
    set of 4..17 lines spans most of the square in both directions.
    """
    size = warped.shape[0]
    inner = size - 2 * margin
    horiz, vert = masks if masks is not None else _grid_line_masks(warped, margin)
    # Fraction of the expected grid width covered by line ink, per row / column.
    # Thicken along the profile axis first, so a slightly tilted line still
    # fills whole rows (columns) of the profile.
    spread = max(3, inner // 80) | 1
    h_prof = _ink_count(cv2.dilate(horiz, np.ones((spread, 1), np.uint8)), 1) / float(inner)
    v_prof = _ink_count(cv2.dilate(vert, np.ones((1, spread), np.uint8)), 0) / float(inner)
    min_gap = max(6, inner // 40)
    h_peaks = _profile_peaks(h_prof, 0.25, min_gap)
    v_peaks = _profile_peaks(v_prof, 0.25, min_gap)
    h_fit = _best_lattice_1d(h_prof, h_peaks, 0.6 * inner)
    v_fit = _best_lattice_1d(v_prof, v_peaks, 0.6 * inner)
    if h_fit is None or v_fit is None:
        raise GridNotFoundError("no grid found: no set of evenly spaced lines spans the outline")
    n, h_fit, v_fit = _agree_size(h_fit, v_fit, h_prof, h_peaks, v_prof, v_peaks, inner)
    ya, yb = h_fit[1], h_fit[2]
    xa, xb = v_fit[1], v_fit[2]
    tol_y, tol_x = 0.2 * (yb - ya) / n, 0.2 * (xb - xa) / n
    rows_y = _snap(h_peaks, ya + np.arange(n + 1) * (yb - ya) / n, tol_y)
    cols_x = _snap(v_peaks, xa + np.arange(n + 1) * (xb - xa) / n, tol_x)
    dark = darkness(warped)
    h_lines, h_thick = _local_lines(horiz, dark, rows_y, cols_x, tol_y)
    v_lines, v_thick = _local_lines(vert.T, dark.T, cols_x, rows_y, tol_x)
    box = box_from_thickness(h_thick, v_thick)
    support = min(h_fit[3], v_fit[3])
    return Lattice(n, rows_y, cols_x, h_lines, v_lines, h_thick, v_thick, box, support)


def _agree_size(h_fit, v_fit, h_prof, h_peaks, v_prof, v_peaks, inner):
    """Rows and columns must agree on N; if not, refit both with a common N.

    Returns (n, h_fit, v_fit)."""
    if h_fit[0] == v_fit[0]:
        return h_fit[0], h_fit, v_fit
    for n in sorted({h_fit[0], v_fit[0]}, reverse=True):
        h2 = _best_lattice_1d(h_prof, h_peaks, 0.6 * inner, sizes=(n,))
        v2 = _best_lattice_1d(v_prof, v_peaks, 0.6 * inner, sizes=(n,))
        if h2 and v2:
            return n, h2, v2
    raise GridNotFoundError(f"no grid found: rows suggest {h_fit[0]} cells, columns {v_fit[0]}")


# ---- all together ------------------------------------------------------------------

def locate_grid(image: np.ndarray) -> GridLocation:
    """Find, rectify and measure the grid in a BGR/gray uint8 image.

    Detection runs on a copy scaled to at most DETECT_MAX_SIDE px; the warp
    samples the full-resolution image. Candidate outlines are warped and
    searched for a lattice, biggest first.
    Corners are in ``image`` pixels.
    """
    gray = to_gray(image)
    h, w = gray.shape[:2]
    if min(h, w) < 32:
        raise GridNotFoundError(f"image of {w}x{h} px is too small to hold a readable grid")
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else gray
    # Biggest outline first. A lattice that fills its outline and is evenly spaced
    # is self-consistent and taken at once; otherwise every candidate is measured
    # and the best wins: self-consistent first, then more cells, then bigger (a
    # text block merged with the grid holds a partial lattice; a solution grid is
    # smaller; a page's side rules around a grid full of cage lines make a
    # lattice of more, uneven cells).
    quads = sorted(candidate_quads(small), key=lambda q: -cv2.contourArea(q))
    best, best_key = None, None
    paper = paper_level(gray) if quads else None
    for quad in quads:
        try:
            loc = _refine(gray, quad / scale, paper)
        except GridNotFoundError:
            continue
        area = cv2.contourArea(loc.corners.astype(np.float32))
        full = area >= 0.8 * cv2.contourArea((quad / scale).astype(np.float32)) and regular_spacing(loc.lattice)
        if full and best is None:
            return loc
        key = (full, loc.lattice.size, area)
        if best_key is None or key > best_key:
            best, best_key = loc, key
    if best is None:
        raise GridNotFoundError("no grid found: no outline in the image holds evenly spaced cell lines")
    return best


def regular_spacing(lattice: Lattice) -> bool:
    """Whether the lattice's rows and columns are about equally wide (``REGULAR_SPACING``):
    the grid is rectified, so only lens distortion and page curl make them differ."""
    ratios = [float(np.diff(a).min() / max(float(np.diff(a).max()), 1e-6)) for a in (lattice.rows_y, lattice.cols_x)]
    return min(ratios) >= REGULAR_SPACING


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components of a uint8 mask: (labels int32, stats), as
    ``cv2.connectedComponentsWithStats`` gives them but by the GRANA algorithm,
    whose statistics cost about 1 ms on a 576 px square where the default
    algorithm's cost about 6 ms. Components are the same; only their numbering
    may differ (see :func:`_default_order`)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)
    return labels, stats


def _default_order(mask: np.ndarray, labels: np.ndarray, stats: np.ndarray, ids: list[int]) -> list[int]:
    """``ids`` (labels of :func:`_components`) sorted as the default algorithm of
    ``cv2.connectedComponents`` numbers the same components: so ties are broken
    as they always were."""
    default = cv2.connectedComponents(mask, connectivity=8)[1]

    def default_label(i: int) -> int:
        x, y, w, h = stats[i, :4]
        row = labels[y, x:x + w]                    # the component's top row holds some of its pixels
        return int(default[y, x + int(np.argmax(row == i))])
    return sorted(ids, key=default_label)


def border_quad(warped: np.ndarray, margin: int = WARP_MARGIN,
                masks: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """The grid's outer border in a (coarsely) warped square, from its four long edge lines.

    Each border is the outermost stroke component spanning at least half the
    square, fitted with a straight line; the four intersections are returned
    (TL TR BR BL, warped pixels), or None when a border is missing. Corrects a
    coarse outline that cut a corner or bent an edge. ``masks``: the square's
    line masks when already made (:func:`_grid_line_masks`).
    """
    size = warped.shape[0]
    inner = size - 2 * margin
    horiz, vert = masks if masks is not None else _grid_line_masks(warped, margin)
    lines = []
    for mask, axis in ((horiz, 0), (vert, 1)):
        labels, stats = _components(mask)
        extent = stats[1:, cv2.CC_STAT_WIDTH if axis == 0 else cv2.CC_STAT_HEIGHT]
        long_ids = [i + 1 for i in np.nonzero(extent >= inner // 2)[0]]
        if len(long_ids) < 2:
            return None
        start, extent_across = ((cv2.CC_STAT_TOP, cv2.CC_STAT_HEIGHT) if axis == 0
                                else (cv2.CC_STAT_LEFT, cv2.CC_STAT_WIDTH))
        def centres(ids):
            return [stats[i, start] + stats[i, extent_across] / 2 for i in ids]
        centre = centres(long_ids)
        if centre.count(min(centre)) > 1 or centre.count(max(centre)) > 1:
            # argmin / argmax take the first of equals: order them as before.
            long_ids = _default_order(mask, labels, stats, long_ids)
            centre = centres(long_ids)
        for i in (long_ids[int(np.argmin(centre))], long_ids[int(np.argmax(centre))]):
            x, y, w, h = stats[i, :4]
            ys, xs = np.nonzero(labels[y:y + h, x:x + w] == i)
            step = max(1, len(xs) // 300)            # a few hundred points fit a line well
            pts = np.stack([xs[::step] + x, ys[::step] + y], axis=1).astype(np.float32)
            vx, vy, x0, y0 = cv2.fitLine(pts, cv2.DIST_L2, 0, 0.01, 0.01).ravel()
            lines.append((float(vx), float(vy), float(x0), float(y0)))
    top, bottom, left, right = lines

    def cross(a, b):
        # Intersection of two lines given as (direction, point).
        A = np.array([[a[0], -b[0]], [a[1], -b[1]]])
        if abs(np.linalg.det(A)) < 1e-6:
            return None
        t = np.linalg.solve(A, np.array([b[2] - a[2], b[3] - a[3]]))[0]
        return np.array([a[2] + t * a[0], a[3] + t * a[1]])

    pts = [cross(top, left), cross(top, right), cross(bottom, right), cross(bottom, left)]
    if any(p is None for p in pts):
        return None
    quad = np.array(pts, dtype=np.float32)
    lo, hi = -0.25 * size, 1.25 * size
    if not ((quad > lo) & (quad < hi)).all() or cv2.contourArea(quad) < 0.3 * inner * inner:
        return None
    return quad


def _refine(gray: np.ndarray, quad: np.ndarray, paper: float | None = None) -> GridLocation:
    """Warp ``quad``, straighten it on the grid's border lines and measure the lattice.
    ``paper``: :func:`paper_level` of ``gray`` (computed when None)."""
    if paper is None:
        paper = paper_level(gray)
    warped, H = warp_quad(gray, quad, paper=paper)
    masks = _grid_line_masks(warped, WARP_MARGIN)
    # The outline may have cut a corner or bent an edge: rebuild it from the
    # grid's four border lines when they can be seen.
    better = border_quad(warped, masks=masks)
    attempts = []
    if better is not None:
        quad2 = cv2.perspectiveTransform(better.reshape(-1, 1, 2).astype(np.float64),
                                         np.linalg.inv(H)).reshape(4, 2).astype(np.float32)
        attempts.append(warp_quad(gray, quad2, paper=paper) + (None,))
    attempts.append((warped, H, masks))
    # The border-line outline is tried first and kept when its lattice spans it
    # edge to edge. Otherwise both are compared: more cells, then a wider
    # lattice, wins (a bent outline shows a partial lattice; a stray long line
    # taken for a border shows fewer cells).
    lattice, best_key = None, None
    full = 0.9 * (warped.shape[0] - 2 * WARP_MARGIN) ** 2
    for i, (warped_i, H_i, masks_i) in enumerate(attempts):
        try:
            lat_i = find_lattice(warped_i, masks=masks_i)
        except GridNotFoundError:
            continue
        key = (lat_i.size, _lattice_area(lat_i))
        if best_key is None or key > best_key:
            lattice, best_key, warped, H = lat_i, key, warped_i, H_i
        if i == 0 and len(attempts) > 1 and key[1] >= full:
            # Warped on its own border lines and spanning them: no second pass needed.
            return GridLocation(corners=_lattice_corners(lattice, H).astype(np.float32), homography=H,
                                warped=warped, lattice=lattice)
    if lattice is None:
        raise GridNotFoundError("no grid found: no set of evenly spaced lines spans the outline")
    # Second pass: warp the refined outer lines exactly onto the inner square so
    # the lattice is measured on an undistorted, well-centred grid.
    corners = _lattice_corners(lattice, H)
    size = warped.shape[0]
    m, e = WARP_MARGIN, size - 1 - WARP_MARGIN
    n = lattice.size
    outer = np.array([[lattice.v_lines[0, 0], lattice.h_lines[0, 0]], [lattice.v_lines[n, 0], lattice.h_lines[0, n - 1]],
                      [lattice.v_lines[n, n - 1], lattice.h_lines[n, n - 1]], [lattice.v_lines[0, n - 1], lattice.h_lines[n, 0]]])
    if np.abs(outer - np.array([[m, m], [e, m], [e, e], [m, e]])).max() <= 2.0:
        # The outline already sat on the outer lines: a second warp would change nothing.
        return GridLocation(corners=corners.astype(np.float32), homography=H, warped=warped, lattice=lattice)
    warped2, H2 = warp_quad(gray, corners, paper=paper)
    try:
        lattice2 = find_lattice(warped2)
        if lattice2.size == lattice.size:
            warped, H, lattice = warped2, H2, lattice2
            corners = _lattice_corners(lattice, H)
    except GridNotFoundError:
        pass
    return GridLocation(corners=corners.astype(np.float32), homography=H, warped=warped, lattice=lattice)


def _lattice_area(lattice: Lattice) -> float:
    return float((lattice.rows_y[-1] - lattice.rows_y[0]) * (lattice.cols_x[-1] - lattice.cols_x[0]))


def _lattice_corners(lattice: Lattice, H: np.ndarray) -> np.ndarray:
    """Outer line intersections (TL TR BR BL) mapped back to original pixels."""
    n = lattice.size
    pts = np.array([
        [lattice.v_lines[0, 0], lattice.h_lines[0, 0]],
        [lattice.v_lines[n, 0], lattice.h_lines[0, n - 1]],
        [lattice.v_lines[n, n - 1], lattice.h_lines[n, n - 1]],
        [lattice.v_lines[0, n - 1], lattice.h_lines[n, 0]],
    ], dtype=np.float64)
    back = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), np.linalg.inv(H)).reshape(4, 2)
    return back.astype(np.float32)
