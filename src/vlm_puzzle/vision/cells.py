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

from vlm_puzzle.vision.grid import percentile_u8

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


def erase_diagonal(patch: np.ndarray, anti: bool, half_width: float = 2.0) -> np.ndarray:
    """``patch`` with a thin line along its diagonal (top-left to bottom-right, or
    top-right to bottom-left when ``anti``) removed: an x-sudoku's drawn diagonal,
    which the classifier would take for a 1 or a 7.

    A pixel within ``half_width`` of the diagonal keeps the ink that continues on
    both sides of the band along some direction (vertical, horizontal or across the
    diagonal: the smaller of the two samples just outside the band, the larger over
    the directions). A line no wider than the band continues along none and vanishes;
    a digit stroke crossing it is kept."""
    p = patch.shape[-1]
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float32)
    dist = ((p - 1 - xx) - yy if anti else xx - yy) / np.sqrt(2.0)
    band = np.abs(dist) <= half_width
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
    out = patch.copy()
    out[band] = np.minimum(patch, kept)[band]
    return out
