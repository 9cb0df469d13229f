"""The picture a VLM is shown: the whole picture, or the located grid rectified.

A small model sees at most a few hundred pixels: a whole phone photo shrunk that far hides the
grid, while the rectified grid at the same size shows every cell, line and clue. The project's
own model (``vlm-puzzle-tiny``) is trained and asked on :func:`grid_view` of the grid the vision
stage located (training: the renderer's true corners, jittered as a locator errs); other models
get the whole picture. A checkpoint says which in its ``vlm_puzzle.json`` (``models.shipped``).
"""
from __future__ import annotations

import numpy as np

VIEWS = ("picture", "grid")
GRID_MARGIN = 0.04  # share of the view's side left around the grid: a corner a little off loses no line


def grid_view(image: np.ndarray, corners, side: int, margin: float = GRID_MARGIN) -> np.ndarray:
    """``image`` (H x W x 3, any channel order, kept) warped so the quadrilateral ``corners``
    (4 x 2, TL TR BR BL, image pixels) fills a ``side`` x ``side`` square, ``margin`` of the side
    around it. Drawn at twice the size and then averaged down, after the region is shrunk to
    about that scale, so that thin lines of a large photo survive."""
    import cv2

    q = np.asarray(corners, np.float64).reshape(4, 2)
    work = 2 * side
    m = margin * work
    dst = np.array([[m, m], [work - m, m], [work - m, work - m], [m, work - m]], np.float64)
    outer = np.array([[0, 0], [work, 0], [work, work], [0, work]], np.float64)
    back = cv2.getPerspectiveTransform(dst.astype(np.float32), q.astype(np.float32))
    src_outer = cv2.perspectiveTransform(outer[None].astype(np.float32), back)[0]
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(src_outer.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(src_outer.max(0)).astype(int) + 1, [x0 + 1, y0 + 1], [w, h])
    region = image[y0:y1, x0:x1]
    q = q - [x0, y0]
    extent = max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1]),
                 np.linalg.norm(q[3] - q[2]), np.linalg.norm(q[0] - q[3]))
    scale = min(1.0, 1.25 * (work - 2 * m) / max(extent, 1.0))
    if scale < 1.0:
        region = cv2.resize(region, (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale))),
                            interpolation=cv2.INTER_AREA)
        q = q * [region.shape[1] / (x1 - x0), region.shape[0] / (y1 - y0)]
    hom = cv2.getPerspectiveTransform(q.astype(np.float32), dst.astype(np.float32))
    big = cv2.warpPerspective(np.ascontiguousarray(region), hom, (work, work), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(big, (side, side), interpolation=cv2.INTER_AREA)

