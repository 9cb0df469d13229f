"""Ink maps: how dark each pixel is against its local paper, so shadows and faded print read alike."""
from __future__ import annotations

import cv2
import numpy as np


def paper_map(gray: np.ndarray, cell_px: float) -> np.ndarray:
    """The local paper brightness (``uint8`` gray levels): a grey closing (a max
    then min filter) wider than any stroke but narrower than a cell, so lines and
    digits vanish while lighting gradients and shaded cells stay."""
    k = max(3, int(cell_px * 0.35) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    return cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel)


def ink_map(gray: np.ndarray, cell_px: float, paper: np.ndarray | None = None) -> np.ndarray:
    """Darkness relative to the local paper brightness, ``float32`` in 0..1.

    ``(paper - gray) / paper`` with the paper from :func:`paper_map`: a contrast,
    so a line in a shadow or under dim light reads as dark as the same line in full
    light, and lighting gradients and shaded cells count as paper. 1.0 is the
    grid's darkest ink (a high percentile), so faded print and black renders read
    alike.
    """
    if paper is None:
        paper = paper_map(gray, cell_px)
    dark = cv2.subtract(paper, gray).astype(np.float32)
    rel = dark / np.maximum(paper.astype(np.float32), 16.0)
    # 99.5th percentile on a subsample: the lines and digits are everywhere.
    ref = float(np.percentile(rel[::3, ::3], 99.5))
    if ref < 0.04:  # a blank image: nothing is ink
        return np.zeros(gray.shape, np.float32)
    return np.minimum(rel * (1.0 / ref), 1.0)
