"""The cell lines in a warped square, from projection profiles of morphologically
extracted horizontal / vertical strokes: grid size N, line positions, line
thickness (thick lines give the box shape) and, per cell, the local position of
each line so that slightly curved pages still give the right cells."""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import cv2
import numpy as np

from vlm_puzzle.errors import GridNotFoundError
from vlm_puzzle.vision.outline import WARP_MARGIN, ink_mask

# Sizes a grid may have: sudoku sizes plus KenKen 3..9.
GRID_SIZES = (3, 4, 5, 6, 7, 8, 9, 12, 16)
# Least ratio of a rectified lattice's narrowest to widest row or column: below it
# the lattice is taken as doubtful (the 160 real photos and development renders:
# 0.76 and up; a page's side rules plus a killer's dashed cage lines gave 0.63).
REGULAR_SPACING = 0.7
# Second fit of a photo's lines (find_lattice): a stroke within MID_CELL of a cell's
# width of the cell's middle and weaker than MID_WEAK x the lattice's mean line is
# not a line (digits written one above the other line up like one).
MID_CELL = 0.12
MID_WEAK = 0.75
# A line is darker than the paper RIDGE_REACH px either side of it, by RIDGE_DARK
# gray levels; a shadow's edge is dark on one side only.
RIDGE_REACH = 8
RIDGE_DARK = 8
# A grid drawn with its cage borders only (no cell lines; or cell lines too faint to
# survive the warp) is read from its stroke segments (:func:`segment_lattice`): every
# segment at least SEG_LONG of a cell long lies on a line of the lattice and starts
# and ends at crossings, within SEG_TOL of a cell. Sizes: KenKen's and killer's.
SEG_SIZES = (3, 4, 5, 6, 7, 8, 9)
SEG_LONG = 0.7
SEG_TOL = 0.2


@dataclass(frozen=True)
class Lattice:
    """Cell lines of a grid in the warped square (all positions in warped pixels).

    ``rows_y`` / ``cols_x``: (N+1,) global positions of the horizontal / vertical
    lines. ``h_lines[k, c]``: y of horizontal line k at the middle of column c;
    ``v_lines[k, r]``: x of vertical line k at the middle of row r; both (N+1, N),
    following the page's curvature. ``framed``: the grid's frame was seen whole (a
    straight stroke along most of each side). ``h_thick`` / ``v_thick``: (N+1,) median
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
    framed: bool = True

    def cell_rect(self, r: int, c: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of cell (r, c) in the warped square, from the local lines."""
        y0 = self.h_lines[r, c]
        y1 = self.h_lines[r + 1, c]
        x0 = self.v_lines[c, r]
        x1 = self.v_lines[c + 1, r]
        return float(x0), float(y0), float(x1), float(y1)


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
                     sizes=GRID_SIZES, mid_cell: float = 0.0) -> tuple[int, float, float, float] | None:
    """Choose (N, first, last, support) of equally spaced lines best explaining ``peaks``.

    ``profile`` is the fraction of the grid width covered by line ink per position.
    A lattice is supported when every one of its N+1 lines lands near a strong
    peak. Among supported lattices the largest N wins (a 9x9 grid also supports
    N=3 through its box lines, or through a stray rule beside the grid), then
    the widest span. ``mid_cell``: see :func:`find_lattice`'s second fit.
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
                mean = sum(support) / len(support)
                # Every strong line inside the span must be one of the lattice's lines:
                # this rejects N=3 on a 9x9 grid and lattices anchored on a stray rule.
                # With ``mid_cell``, a weaker stroke in the middle of a cell is let be
                # (handwritten digits stacked in a column).
                if any(j not in used and a + tol < pk[j] < b - tol
                       and not (mid_cell and st[j] < MID_WEAK * mean
                                and abs((pk[j] - a) / step % 1.0 - 0.5) <= mid_cell)
                       for j in strong):
                    continue
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


# A line's end segment off its two straight neighbours by more than this share of a cell
# follows them (_local_lines).
END_JUMP = 0.08


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
        smooth = np.median(np.stack([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]]), axis=0)
        # An end segment has one neighbour: where the next two lie straight and it is off
        # them by more than END_JUMP of a cell (a clue's dash under the line in a corner
        # cell), it follows them.
        step = END_JUMP * float(np.median(np.diff(a)))
        for end, near, far in ((0, 1, 2), (n - 1, n - 2, n - 3)):
            jump = (np.abs(pos[:, end] - pos[:, near]) > step) & (np.abs(pos[:, near] - pos[:, far]) <= 1.0)
            smooth[jump, end] = pos[jump, near]
        pos = smooth
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
    h_prof, v_prof, h_peaks, v_peaks = _profiles(horiz, vert, inner)
    h_fit = _best_lattice_1d(h_prof, h_peaks, 0.6 * inner)
    v_fit = _best_lattice_1d(v_prof, v_peaks, 0.6 * inner)
    if h_fit is None or v_fit is None or h_fit[0] != v_fit[0]:
        # Rows and columns do not fit one lattice. A photo may hold strokes that
        # look like lines: a shadow's edge across the grid, handwritten digits one
        # above the other. Fit again on the ink that is a line (darker than the
        # paper on both sides), letting weaker strokes mid-cell be; taken only when
        # rows and columns then agree.
        ridged = _profiles(horiz & _ridges(warped), vert & _ridges(warped.T).T, inner)
        h2 = _best_lattice_1d(ridged[0], ridged[2], 0.6 * inner, mid_cell=MID_CELL)
        v2 = _best_lattice_1d(ridged[1], ridged[3], 0.6 * inner, mid_cell=MID_CELL)
        if h2 is not None and v2 is not None and h2[0] == v2[0]:
            h_fit, v_fit = h2, v2
            h_prof, v_prof, h_peaks, v_peaks = ridged
    segments = _segments(horiz, vert, inner)
    cages_only = False
    n, failed = None, GridNotFoundError("no grid found: no set of evenly spaced lines spans the outline")
    if h_fit is not None and v_fit is not None:
        try:
            n, h_fit, v_fit = _agree_size(h_fit, v_fit, h_prof, h_peaks, v_prof, v_peaks, inner)
        except GridNotFoundError as e:
            failed = e
    if n is None or (segments is not None and not _segments_fit(segments, n, h_fit[1:3], v_fit[1:3])):
        # No lattice of lines spanning the grid, or cage borders off its lines (the lines
        # that span the grid were only some of its cage borders): a grid of cage borders
        # alone is read from its segments.
        seg = segment_lattice(segments)
        if seg is not None:
            n, rows, cols = seg
            cages_only = True
            h_fit, v_fit = (n, *rows, 1.0), (n, *cols, 1.0)
    if n is None:
        raise failed
    ya, yb = h_fit[1], h_fit[2]
    xa, xb = v_fit[1], v_fit[2]
    tol_y, tol_x = 0.2 * (yb - ya) / n, 0.2 * (xb - xa) / n
    rows_y = _snap(h_peaks, ya + np.arange(n + 1) * (yb - ya) / n, tol_y)
    cols_x = _snap(v_peaks, xa + np.arange(n + 1) * (xb - xa) / n, tol_x)
    dark = darkness(warped)
    h_lines, h_thick = _local_lines(horiz, dark, rows_y, cols_x, tol_y)
    v_lines, v_thick = _local_lines(vert.T, dark.T, cols_x, rows_y, tol_x)
    # Cage borders alone draw no boxes (and leave lines of no thickness).
    box = None if cages_only else box_from_thickness(h_thick, v_thick)
    support = min(h_fit[3], v_fit[3])
    return Lattice(n, rows_y, cols_x, h_lines, v_lines, h_thick, v_thick, box, support, segments is not None)


def _segments(horiz: np.ndarray, vert: np.ndarray, inner: int):
    """The straight strokes of the line masks as (horizontal, vertical, outer) where each
    stroke set is an (K, 3) array of (position across, start, stop) and ``outer`` the
    ((top, bottom), (left, right)) positions of the grid's frame: the outermost strokes
    spanning at least 80% of ``inner``. None without a frame on all four sides."""
    out, frame = [], []
    for mask, axis in ((horiz, 0), (vert, 1)):
        _, stats = _components(mask)
        if axis == 0:
            pos = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] / 2.0
            a, ext = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_WIDTH]
        else:
            pos = stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH] / 2.0
            a, ext = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_HEIGHT]
        strokes = np.stack([pos, a.astype(np.float64), (a + ext).astype(np.float64)], axis=1)[1:]
        long = strokes[strokes[:, 2] - strokes[:, 1] >= 0.8 * inner]
        if len(long) < 2:
            return None
        out.append(strokes)
        frame.append((float(long[:, 0].min()), float(long[:, 0].max())))
    return out[0], out[1], tuple(frame)


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components of a uint8 mask: (labels int32, stats), as
    ``cv2.connectedComponentsWithStats`` gives them but by the GRANA algorithm,
    whose statistics cost about 1 ms on a 576 px square where the default
    algorithm's cost about 6 ms. Components are the same; only their numbering
    may differ (see ``grid._default_order``)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)
    return labels, stats


def _segments_fit(segments, n: int, rows: tuple[float, float], cols: tuple[float, float]) -> bool:
    """Whether every long stroke of :func:`_segments` lies on a line of the n x n lattice
    whose outer rows / columns are at ``rows`` / ``cols``, from crossing to crossing (a
    lattice of a block of the grid's cells fits them too, but leaves strokes outside)."""
    horiz, vert, _ = segments
    for strokes, across, along in ((horiz, rows, cols), (vert, cols, rows)):
        step_a, step_b = (across[1] - across[0]) / n, (along[1] - along[0]) / n
        if min(step_a, step_b) <= 0:
            return False
        long = strokes[strokes[:, 2] - strokes[:, 1] >= SEG_LONG * step_b]
        if not len(long):
            continue
        off = [(long[:, 0] - across[0]) / step_a, (long[:, 1] - along[0]) / step_b,
               (long[:, 2] - along[0]) / step_b]
        if any((np.abs(o - np.round(o)) > SEG_TOL).any() or (o < -SEG_TOL).any() or (o > n + SEG_TOL).any()
               for o in off):
            return False
    return True


def segment_lattice(segments) -> tuple[int, tuple[float, float], tuple[float, float]] | None:
    """(n, (top, bottom), (left, right)) of the smallest lattice (``SEG_SIZES``) inside the
    frame of :func:`_segments` on which every long stroke lies from crossing to crossing
    (a lattice twice as fine fits them too) and whose inner lines hold n - 1 strokes or
    more; None when there is none. This finds a grid drawn with its cage borders only."""
    if segments is None:
        return None
    rows, cols = segments[2]
    for n in SEG_SIZES:
        if _segments_fit(segments, n, rows, cols) and _inner_lines(segments, n) >= n - 1:
            return n, rows, cols
    return None


def _inner_lines(segments, n: int) -> int:
    """How many of the n x n lattice's 2(n-1) inner lines hold a stroke of :func:`_segments`
    at least SEG_LONG of a cell long (a frame with nothing inside is no grid)."""
    horiz, vert, (rows, cols) = segments
    hit = 0
    for strokes, (a, b) in ((horiz, rows), (vert, cols)):
        step = (b - a) / n
        long = strokes[strokes[:, 2] - strokes[:, 1] >= SEG_LONG * step]
        k = np.round((long[:, 0] - a) / step)
        hit += len({int(i) for i in k if 0 < i < n})
    return hit


def _profiles(horiz: np.ndarray, vert: np.ndarray, inner: int):
    """(h_prof, v_prof, h_peaks, v_peaks): per row / column, the fraction of the expected
    grid width covered by line ink, and the profiles' peaks."""
    # Thicken along the profile axis first, so a slightly tilted line still
    # fills whole rows (columns) of the profile.
    spread = max(3, inner // 80) | 1
    h_prof = _ink_count(cv2.dilate(horiz, np.ones((spread, 1), np.uint8)), 1) / float(inner)
    v_prof = _ink_count(cv2.dilate(vert, np.ones((1, spread), np.uint8)), 0) / float(inner)
    min_gap = max(6, inner // 40)
    return h_prof, v_prof, _profile_peaks(h_prof, 0.25, min_gap), _profile_peaks(v_prof, 0.25, min_gap)


def _ridges(gray: np.ndarray) -> np.ndarray:
    """uint8 mask (255) of pixels on a horizontal line: ``RIDGE_DARK`` darker than the
    paper ``RIDGE_REACH`` px above and below (a shadow's edge is dark on one side
    only). Columns: pass the transpose, transpose the result."""
    r = RIDGE_REACH
    g = gray.astype(np.int16)
    side = np.full_like(g, -1)
    side[r:-r] = np.minimum(g[:-2 * r], g[2 * r:])
    mask = ((g + RIDGE_DARK) < side).astype(np.uint8) * 255
    # A line's pixels a little off its centre may miss the test: close the gap across it.
    return cv2.dilate(mask, np.ones((5, 1), np.uint8))


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


def regular_spacing(lattice: Lattice) -> bool:
    """Whether the lattice's rows and columns are about equally wide (``REGULAR_SPACING``):
    the grid is rectified, so only lens distortion and page curl make them differ."""
    ratios = [float(np.diff(a).min() / max(float(np.diff(a).max()), 1e-6)) for a in (lattice.rows_y, lattice.cols_x)]
    return min(ratios) >= REGULAR_SPACING
