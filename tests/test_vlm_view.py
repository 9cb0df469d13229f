"""The grid view the shipped model is shown (rules/view.py) and how the pipeline picks it."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vlm_puzzle.models.shipped import SHIPPED_DIR, checkpoint_view
from vlm_puzzle.rules.view import grid_view

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def _line_centres(gray: np.ndarray, axis: int) -> np.ndarray:
    """Centres of the lines across the view: runs of the mean profile darker than the paper by 25."""
    profile = gray.astype(float).mean(axis=axis)
    dark = np.flatnonzero(profile < np.median(profile) - 25)
    return np.array([g.mean() for g in np.split(dark, np.flatnonzero(np.diff(dark) > 1) + 1) if len(g)])


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_grid_view_puts_the_grid_border_at_the_margin(scale):
    # A 9x9 grid drawn with 1-px lines (3-px box lines); at 4x the picture is 4 times larger with
    # lines 4 times wider, so the view is the same picture read from a far larger photo.
    side, cell, off = 252, int(40 * scale), int(30 * scale)
    img = np.full((off * 2 + 9 * cell + 40, off * 2 + 9 * cell + 10, 3), 235, np.uint8)
    for k in range(10):
        w = int((3 if k % 3 == 0 else 1) * scale)
        p = off + k * cell
        cv2.rectangle(img, (p, off), (p + w - 1, off + 9 * cell), (20, 20, 20), -1)
        cv2.rectangle(img, (off, p), (off + 9 * cell, p + w - 1), (20, 20, 20), -1)
    corners = np.array([[off, off], [off + 9 * cell, off], [off + 9 * cell, off + 9 * cell], [off, off + 9 * cell]])
    view = grid_view(img, corners, side, margin=0.05)
    assert view.shape == (side, side, 3) and view.dtype == np.uint8
    gray = cv2.cvtColor(view, cv2.COLOR_BGR2GRAY)
    m = 0.05 * side
    for axis in (0, 1):
        # every one of the 10 lines survives the shrinking (thin ones too), evenly spaced from m to side - m
        centres = _line_centres(gray, axis)
        assert len(centres) == 10, (axis, centres)
        assert np.allclose(centres, np.linspace(m, side - m, 10), atol=2.5), (axis, centres)


def test_grid_view_of_a_cut_grid_fills_the_outside_without_error():
    img = np.full((200, 200, 3), 255, np.uint8)
    corners = np.array([[-20, -10], [210, -10], [210, 220], [-20, 220]], float)  # beyond every edge
    assert grid_view(img, corners, 112).shape == (112, 112, 3)


def test_checkpoint_view_from_its_record(tmp_path):
    (tmp_path / "vlm_puzzle.json").write_text(json.dumps({"view": "grid", "max_pixels": 300 * 300}))
    assert checkpoint_view(tmp_path) == ("grid", 280, None)  # no view_margin: rules.view.GRID_MARGIN
    (tmp_path / "vlm_puzzle.json").write_text(json.dumps({"max_pixels": 300 * 300}))
    assert checkpoint_view(tmp_path) == ("picture", 0, None)
    assert checkpoint_view(tmp_path / "absent") == ("picture", 0, None)
    record = json.loads((SHIPPED_DIR / "vlm_puzzle.json").read_text())
    assert checkpoint_view(SHIPPED_DIR)[0] == record.get("view", "picture")


def test_reading_grid_view_follows_a_smaller_shipped_copy():
    # Batch workers send back a smaller copy of the picture (picture_scale): the grid view made from it
    # is the one made from the full picture, not another part of the page.
    from dataclasses import replace

    from vlm_puzzle.pipeline import PuzzleSolver

    path = SAMPLES / "sudoku9_2024_photo.jpg"
    reading = PuzzleSolver(backend="geometry").read(str(path))
    assert reading.error is None
    full = reading.vlm_image("grid", 252).astype(float)
    truth = np.asarray(json.loads(path.with_suffix(".json").read_text())["corners"], float)
    assert np.abs(np.asarray(reading.state.corners) - truth).max() < 0.03 * np.ptp(truth[:, 0])
    img = reading.loaded.image
    small = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    reading.loaded = replace(reading.loaded, image=small)
    reading.picture_scale = small.shape[1] / img.shape[1]
    half = reading.vlm_image("grid", 252).astype(float)
    reading.picture_scale = 1.0  # as if the copy were the picture read: the corners miss the grid
    wrong = reading.vlm_image("grid", 252).astype(float)
    assert np.abs(half - full).mean() < 0.3 * np.abs(wrong - full).mean()
    reading.picture_scale = small.shape[1] / img.shape[1]
    assert reading.vlm_image().shape[:2] == small.shape[:2]  # the whole picture as before
