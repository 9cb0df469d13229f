"""Two helpers every vision step shares: a grayscale view and Otsu's two-group split."""
from __future__ import annotations

import cv2
import numpy as np


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 single-channel view of a BGR / BGRA / gray uint8 image."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image[:, :, 0]


def otsu_split(values: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(cut, lower group, upper group) of Otsu's two-group split of ``values`` (two or more)."""
    v = np.sort(np.asarray(values, np.float64))
    n = len(v)
    i = np.arange(1, n)
    csum = np.cumsum(v)
    mean_a = csum[:-1] / i
    mean_b = (csum[-1] - csum[:-1]) / (n - i)
    k = int(np.argmax(i * (n - i) * (mean_a - mean_b) ** 2)) + 1
    return 0.5 * (v[k - 1] + v[k]), v[:k], v[k:]
