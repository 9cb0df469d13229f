"""Find the puzzle grid in a picture, rectify it and locate its cell lines.

:func:`locate_grid` chains the coarse outline and warp (:mod:`~vlm_puzzle.vision.outline`)
with the lattice (:mod:`~vlm_puzzle.vision.lattice`), refines the outline from the
lattice's outer lines (:func:`border_quad`) and maps them back to corners in the
original image.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vlm_puzzle.errors import GridNotFoundError
from vlm_puzzle.vision.gray import to_gray
from vlm_puzzle.vision.lattice import Lattice, _components, _grid_line_masks, find_lattice, regular_spacing
from vlm_puzzle.vision.outline import (WARP_MARGIN, candidate_quads, ink_mask, opened_quads, paper_level,
                                       smooth_warp, warp_quad)

DETECT_MAX_SIDE = 800    # px; detection runs on a copy at most this large
# Lines running off one side of the picture that make it a grid cut at its border.
CUT_LINES = 3
# Least ratio of the narrowest to the widest spacing of those lines (cell lines are even).
CUT_EVEN = 0.6


@dataclass(frozen=True)
class GridLocation:
    """Where the grid is: corners in the original image, warp and lattice."""

    corners: np.ndarray          # (4, 2) float32, TL TR BR BL, original image pixels
    homography: np.ndarray       # 3x3, original image -> warped square
    warped: np.ndarray           # (WARP_SIZE, WARP_SIZE) uint8 gray, rectified
    lattice: Lattice


def locate_grid(image: np.ndarray) -> GridLocation:
    """Find, rectify and measure the grid in a BGR/gray uint8 image.

    Detection runs on a copy scaled to at most DETECT_MAX_SIDE px; the warp
    samples the full-resolution image. Candidate outlines are warped and
    searched for a lattice, biggest first; a grid cut off at the picture's border
    is located on a border line put back along the cut sides (:func:`cut_sides`);
    last, outlines of ink blobs with thin arms cut off (:func:`_opened`).
    Corners are in ``image`` pixels (outside the picture where it is cut).
    """
    gray = to_gray(image)
    h, w = gray.shape[:2]
    if min(h, w) < 32:
        raise GridNotFoundError(f"image of {w}x{h} px is too small to hold a readable grid")
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else gray
    try:
        loc, full = _locate(gray, small, scale)
    except GridNotFoundError:
        loc, full = None, False
    if not full and any(cut := cut_sides(small)):
        # Cell lines run off the picture: the grid is cut at its border (or printed
        # without a margin). Its border is put back as a line along the cut sides.
        framed = _framed(gray, small, scale, cut)
        if framed is not None:
            return framed
    if not full:
        opened = _opened(gray, small, scale)
        if opened is not None:
            return opened
    if loc is None:
        raise GridNotFoundError("no grid found: no outline in the image holds evenly spaced cell lines")
    return loc


def _locate(gray: np.ndarray, small: np.ndarray, scale: float) -> tuple[GridLocation, bool]:
    """:func:`locate_grid` on ``gray`` and its detection copy ``small`` (``scale`` of it),
    and whether the grid fills its outline with evenly spaced lines."""
    # Biggest outline first. A lattice that fills its outline and is evenly spaced
    # is self-consistent and taken at once; otherwise every candidate is measured
    # and the best wins: self-consistent first, then more cells, then bigger (a
    # text block merged with the grid holds a partial lattice; a solution grid is
    # smaller; a page's side rules around a grid full of cage lines make a
    # lattice of more, uneven cells).
    quads = sorted(candidate_quads(small), key=lambda q: -cv2.contourArea(q))
    best, best_key = None, None
    paper = paper_level(gray) if quads else None
    found = []
    for quad in quads:
        try:
            loc = _refine(gray, quad / scale, paper)
        except GridNotFoundError:
            continue
        area = cv2.contourArea(loc.corners.astype(np.float32))
        full = _fills(loc, quad / scale)
        if full and best is None:
            return loc, True
        found.append((loc, full))
        key = (full, loc.lattice.size, area)
        if best_key is None or key > best_key:
            best, best_key = loc, key
    if best_key is not None and best_key[0]:
        # A grid that fills its outline may be one box of a bigger grid found, evenly
        # spaced, in an outline too big for it (the page's): the bigger grid wins.
        for loc, full in found:
            if not full and loc.lattice.size > best.lattice.size and regular_spacing(loc.lattice) \
                    and _is_block(best, loc):
                return loc, True
    if best is None:
        raise GridNotFoundError("no grid found: no outline in the image holds evenly spaced cell lines")
    return best, best_key[0]


def _opened(gray: np.ndarray, small: np.ndarray, scale: float) -> GridLocation | None:
    """The grid in an outline of :func:`opened_quads` (ink blobs filled solid and opened:
    a grid whose border line runs on into a shadow's or a page's edge loses that edge),
    when one holds a whole, evenly spaced grid; else None."""
    quads = opened_quads(small)
    paper = paper_level(gray) if quads else None
    for quad in quads:
        try:
            loc = _refine(gray, quad / scale, paper)
        except GridNotFoundError:
            continue
        if _fills(loc, quad / scale):
            return loc
    return None


def _fills(loc: GridLocation, quad: np.ndarray) -> bool:
    """Whether ``loc``'s lattice fills the outline ``quad`` (80% of its area) and is evenly spaced."""
    area = cv2.contourArea(loc.corners.astype(np.float32))
    return area >= 0.8 * cv2.contourArea(quad.astype(np.float32)) and regular_spacing(loc.lattice)


def _is_block(small: GridLocation, big: GridLocation) -> bool:
    """Whether ``small`` is one box of ``big``: big's size a multiple of small's, and
    small's corners on crossings of big's lattice (within a quarter of its cell) whose
    line numbers are multiples of small's size."""
    k, lat = small.lattice.size, big.lattice
    if lat.size % k:
        return False
    pts = cv2.perspectiveTransform(small.corners.reshape(-1, 1, 2).astype(np.float64),
                                   big.homography).reshape(4, 2)
    cell = min(float(np.diff(lat.cols_x).mean()), float(np.diff(lat.rows_y).mean()))
    for coord, lines in ((pts[:, 0], lat.cols_x), (pts[:, 1], lat.rows_y)):
        d = np.abs(coord[:, None] - lines[None, :])
        i = d.argmin(axis=1)
        if (d.min(axis=1) > 0.25 * cell).any() or (i % k).any():
            return False
    return True


def cut_sides(small: np.ndarray) -> tuple[bool, bool, bool, bool]:
    """Which sides (top, bottom, left, right) of a picture cut a grid off: at least
    ``CUT_LINES`` straight lines reach that side at right angles, evenly spaced
    (``CUT_EVEN``) at least 3% of the side apart, each a short run of ink along the
    side (a dark table or page edge is one long run; lines of text are uneven)."""
    h, w = small.shape[:2]
    ink = ink_mask(small) > 0
    depth = max(10, min(h, w) // 25)
    out = []
    for strip in (ink[:depth].T, ink[-depth:].T, ink[:, :depth], ink[:, -depth:]):
        hit = strip.all(axis=1).astype(np.int8)
        starts = np.flatnonzero(np.diff(np.concatenate([[0], hit, [0]])) == 1)
        stops = np.flatnonzero(np.diff(np.concatenate([[0], hit, [0]])) == -1)
        short = (stops - starts) <= 0.05 * len(hit)
        gaps = np.diff(starts + stops)
        out.append(bool(len(starts) >= CUT_LINES and short.all() and gaps.min() >= 0.06 * len(hit)
                        and gaps.min() >= CUT_EVEN * gaps.max()))
    return tuple(out)


def _framed(gray: np.ndarray, small: np.ndarray, scale: float, cut) -> GridLocation | None:
    """The grid located with a border line drawn just outside every cut side of the
    picture (on a paper-coloured pad), in ``gray``'s pixels; None when that shows no
    evenly spaced grid filling its outline."""
    h, w = gray.shape[:2]
    pad = max(8, round(0.03 * max(h, w)))
    paper = paper_level(gray)
    big = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=paper)
    t = max(2, round(0.004 * max(h, w)))
    top, bottom, left, right = cut
    ink = int(np.percentile(gray[::4, ::4], 1))
    y0, y1 = (pad - t if top else pad), (pad + h + t if bottom else pad + h)
    x0, x1 = (pad - t if left else pad), (pad + w + t if right else pad + w)
    for side, (ya, yb, xa, xb) in zip(cut, ((pad - t, pad, x0, x1), (pad + h, pad + h + t, x0, x1),
                                           (y0, y1, pad - t, pad), (y0, y1, pad + w, pad + w + t))):
        if side:
            big[ya:yb, xa:xb] = ink
    s = cv2.resize(big, (round(big.shape[1] * scale), round(big.shape[0] * scale)),
                   interpolation=cv2.INTER_AREA) if scale < 1.0 else big
    try:
        loc, full = _locate(big, s, scale)
    except GridNotFoundError:
        return None
    if not full:
        return None
    shift = np.array([[1, 0, pad], [0, 1, pad], [0, 0, 1]], np.float64)   # gray -> big pixels
    return GridLocation(corners=(loc.corners - pad).astype(np.float32), homography=loc.homography @ shift,
                        warped=loc.warped, lattice=loc.lattice)


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
            lat_i = lattice_of(gray, warped_i, H_i, masks_i)
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
        lattice2 = lattice_of(gray, warped2, H2)
        if lattice2.size == lattice.size:
            warped, H, lattice = warped2, H2, lattice2
            corners = _lattice_corners(lattice, H)
    except GridNotFoundError:
        pass
    return GridLocation(corners=corners.astype(np.float32), homography=H, warped=warped, lattice=lattice)


def lattice_of(gray: np.ndarray, warped: np.ndarray, H: np.ndarray, masks=None) -> Lattice:
    """:func:`find_lattice` on ``warped`` (``gray`` warped by ``H``). A grid shrunk far by the
    warp (:func:`smooth_warp`) may lose lines of a pixel or two between the warp's samples, and
    what is left may even look like a lattice of fewer cells: its lattice is measured on an
    area-averaged warp too, which keeps every line, and that one is taken when it differs and
    shows the whole frame, evenly spaced (the cells are still read from ``warped``)."""
    try:
        lattice, failed = find_lattice(warped, masks=masks), None
    except GridNotFoundError as e:
        lattice, failed = None, e
    fine = smooth_warp(gray, H)
    if fine is not None:
        try:
            smooth = find_lattice(fine)
        except GridNotFoundError:
            smooth = None
        if smooth is not None and (lattice is None or (smooth.size != lattice.size and smooth.framed
                                                        and regular_spacing(smooth))):
            return smooth
    if lattice is None:
        raise failed
    return lattice


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


def refine_quad(gray: np.ndarray, quad: np.ndarray) -> GridLocation:
    """The grid inside a given outline ``quad`` (TL TR BR BL, ``gray`` pixels): warped,
    straightened on its border lines and measured, as :func:`locate_grid` does with
    the outlines it finds. Raises GridNotFoundError."""
    return _refine(gray, np.asarray(quad, np.float32))
