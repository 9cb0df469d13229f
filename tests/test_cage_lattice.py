"""Grids drawn with their cage borders only (no cell lines), and with lines a sampled warp
loses: :func:`vlm_puzzle.vision.lattice.segment_lattice` and the area-averaged lattice of
:func:`vlm_puzzle.vision.grid.lattice_of`. Synthetic drawings, no fonts."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vlm_puzzle.errors import GridNotFoundError
from vlm_puzzle.vision.grid import locate_grid
from vlm_puzzle.vision.lattice import find_lattice
from vlm_puzzle.vision.outline import WARP_MARGIN, WARP_SIZE


def _cages(n: int, seed: int) -> np.ndarray:
    """(n, n) cage ids: random dominoes and L-trominoes grown over the grid, some single cells."""
    rng = np.random.default_rng(seed)
    ids = -np.ones((n, n), int)
    k = 0
    for r in range(n):
        for c in range(n):
            if ids[r, c] >= 0:
                continue
            ids[r, c] = k
            cells, want = [(r, c)], int(rng.integers(1, 4))
            while len(cells) < want:
                free = [(a + dr, b + dc) for a, b in cells for dr, dc in ((0, 1), (1, 0), (0, -1))
                        if 0 <= a + dr < n and 0 <= b + dc < n and ids[a + dr, b + dc] < 0]
                if not free:
                    break
                a, b = free[int(rng.integers(len(free)))]
                ids[a, b] = k
                cells.append((a, b))
            k += 1
    return ids


def _draw(ids: np.ndarray, side: int, margin: int, width: int, cell_lines: int = 0,
          cell_grey: int = 0) -> np.ndarray:
    """A white picture of the grid: frame and cage borders ``width`` px, cell lines
    ``cell_lines`` px in grey ``cell_grey`` (none when 0)."""
    n = len(ids)
    img = np.full((side + 2 * margin, side + 2 * margin), 255, np.uint8)
    at = [margin + round(k * side / n) for k in range(n + 1)]
    if cell_lines:
        for k in range(1, n):
            cv2.line(img, (at[k], at[0]), (at[k], at[n]), cell_grey, cell_lines)
            cv2.line(img, (at[0], at[k]), (at[n], at[k]), cell_grey, cell_lines)
    for r in range(n):
        for c in range(n):
            if c + 1 < n and ids[r, c] != ids[r, c + 1]:
                cv2.line(img, (at[c + 1], at[r]), (at[c + 1], at[r + 1]), 0, width)
            if r + 1 < n and ids[r, c] != ids[r + 1, c]:
                cv2.line(img, (at[c], at[r + 1]), (at[c + 1], at[r + 1]), 0, width)
    cv2.rectangle(img, (at[0], at[0]), (at[n], at[n]), 0, width)
    return img


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8, 9])
def test_cage_borders_alone_give_the_grid_size(n):
    ids = _cages(n, seed=n)
    inner = WARP_SIZE - 2 * WARP_MARGIN
    warped = _draw(ids, inner, WARP_MARGIN, width=3)
    lattice = find_lattice(warped)
    assert lattice.size == n and lattice.box is None
    assert np.allclose(lattice.cols_x, WARP_MARGIN + np.arange(n + 1) * inner / n, atol=0.1 * inner / n)


def test_cage_borders_alone_are_located_in_a_picture():
    ids = _cages(8, seed=3)
    loc = locate_grid(_draw(ids, 1400, 90, width=8))
    assert loc.lattice.size == 8
    assert np.allclose(loc.corners, [[90, 90], [1490, 90], [1490, 1490], [90, 1490]], atol=6)


@pytest.mark.parametrize("inside", [False, True], ids=["blank", "one-stray-line"])
def test_a_square_without_cage_borders_is_no_grid(inside):
    img = np.full((WARP_SIZE, WARP_SIZE), 255, np.uint8)
    e = WARP_SIZE - WARP_MARGIN
    cv2.rectangle(img, (WARP_MARGIN, WARP_MARGIN), (e, e), 0, 3)
    if inside:   # 7% across: off every lattice of 3..9 cells by over a fifth of a cell
        x = WARP_MARGIN + round(0.07 * (e - WARP_MARGIN))
        cv2.line(img, (x, WARP_MARGIN), (x, e), 0, 3)
    with pytest.raises(GridNotFoundError):
        find_lattice(img)


def test_one_pixel_lines_of_a_big_picture_are_found():
    # Faint cell lines and cage borders of one pixel, hard-edged, in a 1700 px picture: a
    # sampled warp to 576 px misses most of them; the area-averaged one keeps them all.
    ids = _cages(6, seed=1)
    loc = locate_grid(_draw(ids, 1560, 70, width=1, cell_lines=1, cell_grey=190))
    assert loc.lattice.size == 6


def test_a_dash_under_a_line_in_a_corner_cell_does_not_bend_it():
    # A clue's "-" just under a line in the first column (in the line's search band) used to
    # move that end segment's position: it has one neighbour, so the smoothing kept it.
    n, m = 6, WARP_MARGIN
    step = (WARP_SIZE - 2 * m) / n
    img = np.full((WARP_SIZE, WARP_SIZE), 255, np.uint8)
    for k in range(n + 1):
        p = int(round(m + k * step))
        cv2.line(img, (m, p), (WARP_SIZE - m, p), 0, 3)
        cv2.line(img, (p, m), (p, WARP_SIZE - m), 0, 3)
    y = int(round(m + 3 * step))
    img[y + 15:y + 19, m + 8:m + 50] = 0          # the dash, under line 3 in column 0
    lat = find_lattice(img)
    assert lat.size == n
    assert abs(lat.h_lines[3, 0] - lat.h_lines[3, 1]) <= 1.0
