"""Cell crops of a rectified grid, normalised for the digit classifier.

The classifier sees each cell as a ``PATCH x PATCH`` uint8 "ink" image: 0 is
paper, 255 is the darkest ink of the grid. Ink is measured against the local
paper level (a grey dilation), so shadows and uneven light do not matter, and
scaled by the grid's own line darkness, so faint print and dark print look
alike. Training (``training/``) builds its patches with these same functions.
"""
from __future__ import annotations

import cv2
import numpy as np

from vlm_puzzle.vision.outline import percentile_u8

PATCH = 32            # px side of a classifier input
INSET = 0.08          # fraction of the cell side trimmed on each side (drops most line ink)


def ink_image(warped: np.ndarray, cell_px: float) -> np.ndarray:
    """uint8 ink map of a gray grid image: paper -> 0, the grid's dark ink -> 255.

    ``cell_px``: approximate cell side in px; the paper level is estimated over
    windows of about half a cell, wider than any digit stroke.
    """
    radius = max(5, int(cell_px / 4))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))
    paper = cv2.dilate(warped, kernel)
    dark = cv2.subtract(paper, warped)
    # Reference ink level: the darkest 1% of the image is mostly grid lines and digits.
    ref = max(percentile_u8(dark, 99.0), 24.0)
    return cv2.convertScaleAbs(dark, alpha=255.0 / ref)


def crop_patch(ink: np.ndarray, rect: tuple[float, float, float, float],
               patch: int = PATCH, inset: float = INSET) -> np.ndarray:
    """Resample the inset cell ``rect`` (x0, y0, x1, y1) of ``ink`` to ``patch`` px square."""
    x0, y0, x1, y1 = rect
    dx, dy = (x1 - x0) * inset, (y1 - y0) * inset
    src = np.float32([[x0 + dx, y0 + dy], [x1 - dx, y0 + dy], [x0 + dx, y1 - dy]])
    dst = np.float32([[0, 0], [patch, 0], [0, patch]])
    A = cv2.getAffineTransform(src, dst)
    scale = (x1 - x0 - 2 * dx) / patch
    # Pre-blur when shrinking a lot, so thin strokes are averaged, not aliased away.
    if scale > 2.0:
        sigma = 0.5 * scale
        ix0, iy0 = max(0, int(x0) - 4), max(0, int(y0) - 4)
        ix1, iy1 = min(ink.shape[1], int(x1) + 5), min(ink.shape[0], int(y1) + 5)
        roi = cv2.GaussianBlur(ink[iy0:iy1, ix0:ix1], (0, 0), sigma)
        A[:, 2] += A[:, 0] * ix0 + A[:, 1] * iy0
        return cv2.warpAffine(roi, A, (patch, patch), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.warpAffine(ink, A, (patch, patch), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def cell_patches(warped: np.ndarray, rects: list[tuple[float, float, float, float]],
                 patch: int = PATCH) -> np.ndarray:
    """(len(rects), patch, patch) uint8 ink patches, one per cell rectangle."""
    if not rects:
        return np.zeros((0, patch, patch), np.uint8)
    cell_px = float(np.median([r[2] - r[0] for r in rects]))
    ink = ink_image(warped, cell_px)
    return np.stack([crop_patch(ink, r, patch) for r in rects])


def ink_fraction(patches: np.ndarray, level: int = 96) -> np.ndarray:
    """Fraction of each patch's central area darker than ``level``: a cheap
    emptiness cue reported next to the classifier's verdict."""
    p = patches.shape[-1]
    c = patches[:, p // 6: p - p // 6, p // 6: p - p // 6]
    return (c >= level).mean(axis=(1, 2))


# Where an x-sudoku's drawn diagonal lies in a cell patch: at most this far (patch px)
# from the nominal corner-to-corner line (lattice and warp error), at most this wide.
DIAGONAL_SEARCH = 5
DIAGONAL_MAX_HALF = 4.0
# Least ink (0..255) the line must have over the patch's background to be located;
# fainter, the nominal band is erased.
DIAGONAL_MIN_INK = 24


def diagonal_lines(n: int) -> dict[int, list[bool]]:
    """The cells an x-sudoku's drawn diagonals cross: row-major cell index -> the
    diagonals through it (False: the main one, True: the anti-diagonal; both for the
    centre cell of an odd grid)."""
    lines: dict[int, list[bool]] = {}
    for i in range(n):
        lines.setdefault(i * n + i, []).append(False)
        lines.setdefault(i * n + n - 1 - i, []).append(True)
    return lines


def _diagonal_coords(p: int, anti: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xx, yy, signed distance from the diagonal) of every pixel of a ``p`` px patch."""
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float32)
    u = (p - 1 - xx) if anti else xx
    return xx, yy, (u - yy) / np.sqrt(2.0)


def diagonal_profile(patch: np.ndarray, anti: bool) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, ink) across the diagonal of ``patch`` (top-left to bottom-right, or
    top-right to bottom-left when ``anti``): the median ink (0..255) at each offset
    in px, sampled over the cell's corners only (a quarter of the patch and more from
    its centre along the diagonal, where no digit is), so that a digit stroke or a
    grid line crossing there does not count."""
    p = patch.shape[-1]
    offsets, mx, my = _PROFILE_MAPS[anti] if p == PATCH else _profile_maps(p, anti)
    samples = cv2.remap(patch, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return offsets, np.median(samples, axis=1).astype(np.float32)


def _profile_maps(p: int, anti: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, x map, y map) of :func:`diagonal_profile`'s samples: one row per offset."""
    offsets = np.arange(-DIAGONAL_SEARCH - 3, DIAGONAL_SEARCH + 4).astype(np.float32)
    corner = (p - 1) / np.sqrt(2.0)
    reach = corner - float(np.abs(offsets).max())   # every sample inside the patch
    side = np.linspace(0.25 * p, max(reach, 0.25 * p + 1.0), 12)
    along = np.concatenate([-side[::-1], side]).astype(np.float32)
    a, d = np.meshgrid(along, offsets)
    u = ((a + d) * np.sqrt(2.0) + (p - 1)) / 2.0
    y = ((a - d) * np.sqrt(2.0) + (p - 1)) / 2.0
    x = (p - 1 - u) if anti else u
    return offsets, x.astype(np.float32), y.astype(np.float32)


def _read_only(maps: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    for a in maps:
        a.setflags(write=False)
    return maps


# The maps of the classifier's patch size, made once: every x-sudoku read needs them.
_PROFILE_MAPS = {anti: _read_only(_profile_maps(PATCH, anti)) for anti in (False, True)}


def locate_diagonal(patch: np.ndarray, anti: bool, profile=None) -> tuple[float, float] | None:
    """(offset, half width) in patch px of the diagonal line drawn across ``patch``,
    or None when no line stands out of :func:`diagonal_profile`: the peak within
    ``DIAGONAL_SEARCH`` px of the nominal diagonal (lattice and warp error shift it
    off the corners), as wide as the profile keeps falling and stays above a fifth
    of the way from the background on that side to the peak (a photo blurs a 1 px
    line over 5; a shadow's edge along the line leaves the two sides at other
    levels)."""
    offsets, prof = profile if profile is not None else diagonal_profile(patch, anti)
    i = _diagonal_peak(offsets, prof)
    if i is None:
        return None
    peak = float(prof[i])
    left, right = _side_backgrounds(prof, i)
    tol = 0.05 * peak
    lo, hi = i, i
    while lo > 0 and left + 0.2 * (peak - left) < prof[lo - 1] <= prof[lo] + tol:
        lo -= 1
    while hi < len(prof) - 1 and right + 0.2 * (peak - right) < prof[hi + 1] <= prof[hi] + tol:
        hi += 1
    centre = 0.5 * (offsets[lo] + offsets[hi])
    half = min(DIAGONAL_MAX_HALF, 0.5 * (offsets[hi] - offsets[lo]) + 0.75)
    return float(centre), float(half)


def _diagonal_peak(offsets: np.ndarray, prof: np.ndarray) -> int | None:
    """Index of the line's peak in a diagonal profile, or None when it does not stand
    ``DIAGONAL_MIN_INK`` above the lower of the two sides' backgrounds."""
    inner = np.abs(offsets) <= DIAGONAL_SEARCH
    i = int(np.argmax(np.where(inner, prof, -1.0)))
    if prof[i] - min(_side_backgrounds(prof, i)) < DIAGONAL_MIN_INK:
        return None
    return i


def _side_backgrounds(prof: np.ndarray, i: int) -> tuple[float, float]:
    """(left, right) background levels of a profile around its peak ``i``: the least ink on each side."""
    left = float(prof[:i].min()) if i > 0 else float(prof[i])
    right = float(prof[i + 1:].min()) if i + 1 < len(prof) else float(prof[i])
    return left, right


def erase_diagonal(patch: np.ndarray, anti: bool, half_width: float | None = None,
                   offset: float | None = None) -> np.ndarray:
    """``patch`` with a thin line along its diagonal (top-left to bottom-right, or
    top-right to bottom-left when ``anti``) removed: an x-sudoku's drawn diagonal,
    which the classifier would take for a 1 or a 7.

    The line is found in the patch (:func:`locate_diagonal`) unless ``offset`` and
    ``half_width`` are given; when none is seen, a band of half width 2 on the
    nominal diagonal. A pixel within the band keeps the ink that continues on both
    sides of the band along some direction (vertical, horizontal or across the
    diagonal: the smaller of the two samples just outside the band, the larger over
    the directions), and at least its ink above the line's own (measured in the
    cell's corners): a line no wider than the band continues along none and
    vanishes; a digit stroke crossing it is kept, and one running along it, darker
    than the line, is only dimmed."""
    p = patch.shape[-1]
    profile = diagonal_profile(patch, anti)
    if offset is None or half_width is None:
        found = locate_diagonal(patch, anti, profile)
        off0, half0 = found if found is not None else (0.0, 2.0)
        offset = off0 if offset is None else offset
        half_width = half0 if half_width is None else half_width
    xx, yy, dist = _diagonal_coords(p, anti)
    band = np.abs(dist - offset) <= half_width
    r = np.sqrt(0.5)
    # Steps that leave the band: (half_width + 1.5) across the line; vertical and
    # horizontal steps cross it at 45 degrees, so they are sqrt(2) longer.
    across = half_width + 1.5
    steps = [(0.0, across * 2 * r), (across * 2 * r, 0.0), (across * r, across * (r if anti else -r))]
    kept = np.zeros_like(patch)
    for dx, dy in steps:
        a, b = (cv2.remap(patch, xx + s * np.float32(dx), yy + s * np.float32(dy), cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) for s in (1, -1))
        kept = np.maximum(kept, np.minimum(a, b))
    offsets, prof = profile
    i = _diagonal_peak(offsets, prof)
    if i is not None:   # a line was seen: what is darker than it in the band is a stroke
        left, right = _side_backgrounds(prof, i)
        line = np.interp(dist, offsets, np.maximum(prof - np.where(offsets < offsets[i], left, right), 0.0))
        kept = np.maximum(kept, np.clip(patch.astype(np.float32) - line, 0, 255).astype(patch.dtype))
    out = patch.copy()
    out[band] = np.minimum(patch, kept)[band]
    return out
