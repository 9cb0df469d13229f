"""Grid location on phone photos: a border that runs on into a page's or shadow's edge,
a shadow's edge across the grid, handwritten strokes stacked in a column, one box of the
grid found on its own. Real photos (the shipped newspaper photos, edited the way phone
photos differ from them) and, where the shared data set is present, the kubiesa phone
photos whose grids these cases once lost (skipped without it)."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from vlm_puzzle.check import read_checked
from vlm_puzzle.vision import locate_grid
from vlm_puzzle.vision.gray import to_gray
from vlm_puzzle.vision.grid import _is_block, refine_quad

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "data" / "photos"
KUBIESA = ROOT / ".." / "shared" / "datasets" / "kubiesa-sudoku-photos"


def _givens(name: str) -> list[list[int]]:
    rows = [ln.split() for ln in (PHOTOS / f"{name}.dat").read_text().splitlines()[2:] if ln.strip()]
    return [[int(v) for v in r] for r in rows[:9]]


def _cell_error(found: np.ndarray, want: np.ndarray) -> float:
    """Largest corner distance in cells of a 9x9 grid."""
    side = np.linalg.norm(want - np.roll(want, -1, axis=0), axis=1).mean()
    return float(np.linalg.norm(found - want, axis=1).max() / (side / 9))


def _arm(image: np.ndarray, corners: np.ndarray, right: bool) -> np.ndarray:
    """The grid's left (right) border line drawn on past its bottom corner to the picture's
    edge, as a page's or a shadow's edge meets a grid in a phone photo."""
    out = image.copy()
    top, bottom = (corners[1], corners[2]) if right else (corners[0], corners[3])
    d = (bottom - top) / np.linalg.norm(bottom - top)
    end = bottom + d * image.shape[0]
    cv2.line(out, tuple(int(v) for v in bottom), tuple(int(v) for v in end), (40, 40, 40),
             max(3, image.shape[0] // 200))
    return out


def _shadow(image: np.ndarray, corners: np.ndarray, frac: float = 0.7) -> np.ndarray:
    """The picture darkened to 45% below a sharp wavy edge ``frac`` of the way down the grid."""
    h, w = image.shape[:2]
    y0 = corners[0, 1] + (corners[3, 1] - corners[0, 1]) * frac
    yy, xx = np.mgrid[0:h, 0:w]
    edge = y0 + 0.04 * h * np.sin(xx / w * 3.0)
    dark = 1.0 / (1.0 + np.exp(-(yy - edge) / 1.5))
    return (image.astype(np.float32) * (1 - 0.55 * dark)[..., None]).clip(0, 255).astype(np.uint8)


def _strokes(image: np.ndarray, loc, col: int, frac: float = 0.6) -> np.ndarray:
    """A vertical pen stroke ``frac`` of the cell high through the middle of every cell of
    column ``col``: handwritten 1s, 4s and 7s one above the other line up like a line."""
    out = image.copy()
    inv = np.linalg.inv(loc.homography)
    for r in range(loc.lattice.size):
        x0, y0, x1, y1 = loc.lattice.cell_rect(r, col)
        xm, ym, half = (x0 + x1) / 2, (y0 + y1) / 2, (y1 - y0) * frac / 2
        ends = cv2.perspectiveTransform(np.array([[[xm, ym - half]], [[xm, ym + half]]], np.float64), inv)
        a, b = ends.reshape(2, 2)
        cv2.line(out, tuple(int(v) for v in a), tuple(int(v) for v in b), (30, 30, 30), max(2, image.shape[0] // 200))
    return out


@pytest.mark.parametrize("name,right", [("image202", False), ("image202", True), ("image1045", True)])
def test_border_running_into_an_edge(name, right):
    image = cv2.imread(str(PHOTOS / f"{name}.jpg"))
    want = locate_grid(image).corners
    edited = _arm(image, want, right)
    loc = locate_grid(edited)
    assert loc.lattice.size == 9
    assert _cell_error(loc.corners, want) < 0.25
    assert [[int(v) for v in r] for r in read_checked(edited, rules=False).givens] == _givens(name)


@pytest.mark.parametrize("name", ["image143", "image202", "image1000"])
def test_shadow_edge_across_the_grid(name):
    image = cv2.imread(str(PHOTOS / f"{name}.jpg"))
    want = locate_grid(image).corners
    edited = _shadow(image, want)
    loc = locate_grid(edited)
    assert loc.lattice.size == 9
    assert _cell_error(loc.corners, want) < 0.25
    assert [[int(v) for v in r] for r in read_checked(edited, rules=False).givens] == _givens(name)


@pytest.mark.parametrize("name,col", [("image143", 4), ("image1000", 2), ("image202", 7)])
def test_strokes_stacked_mid_cell_are_not_a_line(name, col):
    image = cv2.imread(str(PHOTOS / f"{name}.jpg"))
    loc = locate_grid(image)
    found = locate_grid(_strokes(image, loc, col))
    assert found.lattice.size == 9
    assert _cell_error(found.corners, loc.corners) < 0.25


def test_a_box_is_one_block_of_the_grid():
    image = cv2.imread(str(PHOTOS / "image143.jpg"))
    gray = to_gray(image)
    big = locate_grid(image)
    lat, inv = big.lattice, np.linalg.inv(big.homography)

    def block(r0: int, c0: int, k: int):
        pts = np.array([[lat.cols_x[c0], lat.rows_y[r0]], [lat.cols_x[c0 + k], lat.rows_y[r0]],
                        [lat.cols_x[c0 + k], lat.rows_y[r0 + k]], [lat.cols_x[c0], lat.rows_y[r0 + k]]])
        return refine_quad(gray, cv2.perspectiveTransform(pts.reshape(-1, 1, 2), inv).reshape(4, 2))

    box = block(3, 6, 3)
    assert box.lattice.size == 3
    assert _is_block(box, big)
    # Three cells off the box lines: not a box of it.
    assert not _is_block(block(1, 2, 3), big)


def _kubiesa_corners(split: str) -> dict[str, np.ndarray]:
    with open(KUBIESA / split / "metadata.csv", newline="") as f:
        return {row["Name"]: np.array([(row[f"x_{k}_absolute"], row[f"y_{k}_absolute"])
                                       for k in ("topleft", "topright", "bottomright", "bottomleft")], np.float32)
                for row in csv.DictReader(f)}


@pytest.mark.skipif(not (KUBIESA / "val").is_dir(), reason=f"kubiesa photos not found at {KUBIESA}")
@pytest.mark.parametrize("split,name", [
    ("val", "01_04_iphone_14_1"),     # digits stacked in columns
    ("val", "01_08_iphone_14_0"),     # border runs into a shadow's edge
    ("val", "01_22_honor_view_10_0"),  # border runs into the page's edge
    ("val", "01_27_iphone_14_0"),     # one box found on its own
    ("train", "02_22_honor_view_10_1"),  # a shadow's edge across the bottom row
])
def test_kubiesa_photos_located(split, name):
    image = cv2.imread(str(KUBIESA / split / f"{name}.jpg"))
    loc = locate_grid(image)
    assert loc.lattice.size == 9
    assert _cell_error(loc.corners, _kubiesa_corners(split)[f"{name}.jpg"]) < 0.25
