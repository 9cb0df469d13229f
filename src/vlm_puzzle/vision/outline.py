"""The grid's coarse outline in a picture and the perspective warp to a square.

:func:`candidate_quads`: plausible quadrilaterals among the contours of an adaptive
threshold (fallback: extreme points of the largest ink blob), corners TL TR BR BL
in pixels of the given image; :func:`warp_quad`: a perspective warp of one (plus a
margin, so a coarse outline that cut the border off still shows it) to a square.
"""
from __future__ import annotations

import cv2
import numpy as np

WARP_SIZE = 576          # px side of the rectified grid; 576 = 9*64 = 16*36 = 12*48
WARP_MARGIN = 24         # px of context kept around the coarse outline when warping
OPEN_FRACTION = 0.1      # opened_quads: opening square, of a blob's bounding box short side
# smooth_warp: a grid over AA_SHRINK**2 times its warped size in the picture is area-averaged
# down to AA_SHRINK times that size before the warp.
AA_SHRINK = 1.5


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
        for contour in _big_blobs(mask, min_area, per_mask):
            quad = _blob_quad(contour, min_area)
            if quad is not None and not any(np.abs(quad - q).max() < 0.02 * max(h, w) for q in quads):
                quads.append(quad)
    return quads


def _big_blobs(mask: np.ndarray, min_area: float, count: int) -> list[np.ndarray]:
    """Contours of the ``count`` biggest blobs of ``mask`` by convex hull area, at least ``min_area``."""
    # All contours, not just outer ones: a grid printed on a page photographed
    # against a dark table sits inside the page's own outline.
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    # Plain int product: np.prod costs more than boundingRect over thousands of specks.
    boxes = [c for c in contours if len(c) >= 4 and _box_area(cv2.boundingRect(c)) >= min_area]
    areas = [(cv2.contourArea(cv2.convexHull(c)), c) for c in boxes]
    return [c for _, c in sorted([a for a in areas if a[0] >= min_area], key=lambda a: -a[0])[:count]]


def opened_quads(gray: np.ndarray, min_area_frac: float = 0.04, count: int = 4) -> list[np.ndarray]:
    """Outlines of the biggest ink blobs with thin arms cut off: each blob filled solid
    and opened by a square OPEN_FRACTION of its bounding box's short side, then its
    biggest part's outline. A grid whose border line runs on into a shadow's or a
    page's edge is one blob with that edge; the solid grid survives the opening, the
    edge does not. Corners TL TR BR BL as :func:`candidate_quads` gives them."""
    h, w = gray.shape[:2]
    min_area = min_area_frac * h * w
    quads = []
    for contour in _big_blobs(ink_mask(gray), min_area, count):
        x, y, bw, bh = cv2.boundingRect(contour)
        solid = np.zeros((bh, bw), np.uint8)
        cv2.drawContours(solid, [contour], -1, 255, cv2.FILLED, offset=(-x, -y))
        k = max(5, int(OPEN_FRACTION * min(bw, bh)))
        opened = cv2.morphologyEx(solid, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        parts, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not parts:
            continue
        quad = _blob_quad(max(parts, key=cv2.contourArea) + np.array([x, y], np.int32), min_area)
        if quad is not None:
            quads.append(quad)
    return quads


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


def smooth_warp(gray: np.ndarray, H: np.ndarray, size: int = WARP_SIZE,
                margin: int = WARP_MARGIN, scale: int = 1) -> np.ndarray | None:
    """The warp of :func:`warp_quad` (homography ``H``, picture to warped square) from an
    area-averaged copy of ``gray``, when the warp shrinks the grid over ``AA_SHRINK**2``
    times; else None. A linear warp samples the picture: shrunk that far, a thin line
    between two samples vanishes and a thick one reads thin, so line widths are measured
    on this one (the edge classifier learnt the sampled look and keeps it). ``scale``:
    the warp drawn ``scale`` times larger (warped pixel x at ``scale * x``), nearer the
    picture's own resolution, where lines a pixel or two wide keep their width ratio; it
    is made when the reading's warp shrinks the grid over AA_SHRINK times."""
    m, e = float(margin), float(size - 1 - margin)
    inner = np.array([[m, m], [e, m], [e, e], [m, e]], np.float64).reshape(-1, 1, 2)
    quad = cv2.perspectiveTransform(inner, np.linalg.inv(H)).reshape(4, 2)
    side = max(float(np.linalg.norm(quad[(i + 1) % 4] - quad[i])) for i in range(4))
    f = AA_SHRINK * (e - m) / max(side, 1.0)
    if f >= (1.0 if scale > 1 else 1.0 / AA_SHRINK):
        return None
    f *= scale
    small = gray if f >= 1.0 else cv2.resize(
        gray, (max(1, round(gray.shape[1] * f)), max(1, round(gray.shape[0] * f))), interpolation=cv2.INTER_AREA)
    S = np.diag([small.shape[1] / gray.shape[1], small.shape[0] / gray.shape[0], 1.0])
    up = np.diag([float(scale), float(scale), 1.0])
    return cv2.warpPerspective(small, up @ H @ np.linalg.inv(S), (size * scale, size * scale),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=paper_level(gray))
