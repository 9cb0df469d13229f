"""Regions and cages: the groups of cells that classified borders enclose."""
from __future__ import annotations

import cv2
import numpy as np

from vlm_puzzle.spec import Cell
from vlm_puzzle.vision.borders import THIN, EdgeMap


def components(n: int, join_v: np.ndarray, join_h: np.ndarray) -> np.ndarray:
    """Label cells joined across open edges; returns an (N, N) int array.

    ``join_v[r, c]`` / ``join_h[r, c]`` say whether the vertical / horizontal edge
    (same indexing as :class:`EdgeMap`) lets the two cells be in one group. Labels
    are 0.. in reading order of each group's first cell. (The cells and open edges
    are drawn in a (2N - 1)-pixel square whose 4-connected components are the groups.)
    """
    if n <= 0:
        return np.zeros((0, 0), np.int32)
    img = np.zeros((2 * n - 1, 2 * n - 1), np.uint8)
    img[::2, ::2] = 1
    img[::2, 1::2] = np.asarray(join_v).astype(bool)
    img[1::2, ::2] = np.asarray(join_h).astype(bool)
    _, labels = cv2.connectedComponents(img, connectivity=4, ltype=cv2.CV_32S)
    _, first, inverse = np.unique(labels[::2, ::2].ravel(), return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int32)
    rank[np.argsort(first)] = np.arange(len(first), dtype=np.int32)
    return rank[inverse].reshape(n, n)


def thick_regions(edges: EdgeMap) -> np.ndarray:
    """Regions (jigsaw) or KenKen cages: cells connected across thin edges."""
    return components(edges.size, edges.vertical == THIN, edges.horizontal == THIN)


def dashed_cages(edges: EdgeMap) -> np.ndarray:
    """Killer cages: cells connected across edges with no dashed cage outline."""
    return components(edges.size, ~edges.dashed_v, ~edges.dashed_h)


def groups_of(labels: np.ndarray) -> list[tuple[Cell, ...]]:
    """Cells of each label, in label order, each group in reading order."""
    n_r, n_c = labels.shape
    flat = np.asarray(labels).ravel()
    order = np.argsort(flat, kind="stable").tolist()
    cuts = np.flatnonzero(np.diff(flat[order])) + 1
    cells = [divmod(i, n_c) for i in order]
    bounds = [0, *cuts.tolist(), len(cells)]
    return [tuple(cells[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
