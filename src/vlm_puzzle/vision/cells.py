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
    ref = max(float(np.percentile(dark, 99.0)), 24.0)
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
