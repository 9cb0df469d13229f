"""Renderer-made training cells for the digit reader (training/render_digits.py).

Puzzles are drawn with DejaVuSans (a training family, present everywhere) and cut
through the real grid finder, as ``train_digits.py --rendered`` does.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
render_digits = pytest.importorskip("render_digits")

from vlm_puzzle.render.style import Style  # noqa: E402
from vlm_puzzle.vision.cells import PATCH  # noqa: E402
from vlm_puzzle.vision.labels import INDEX, LABELS  # noqa: E402

FONT = "DejaVuSans"


def expected(spec) -> np.ndarray:
    return np.array([INDEX[str(v)] if v else 0 for row in spec.givens for v in row], np.int64)


def test_x_sudoku_with_line_diagonals_every_cell_labelled():
    rng = np.random.default_rng(100_000_123)
    spec, _ = render_digits.make_puzzle("x-sudoku", 9, rng)
    style = Style(font=FONT, clue_font=FONT, diagonal="line")
    x, y, why = render_digits.cell_samples(spec, style, seed=100_000_123, photo=False, size_px=800,
                                           rng=rng, keep_empty=1.0, unerased=0.0)
    assert why == ""
    assert x.shape == (81, PATCH, PATCH) and x.dtype == np.uint8
    assert np.array_equal(y, expected(spec))
    assert 0 < (y > 0).sum() < 81


def test_kenken_clue_cells_are_empty_and_photo_mode_works():
    rng = np.random.default_rng(100_000_456)
    spec, _ = render_digits.make_puzzle("kenken", 6, rng)
    style = Style(font=FONT, clue_font=FONT)
    x, y, why = render_digits.cell_samples(spec, style, seed=100_000_456, photo=True, size_px=800,
                                           rng=rng, keep_empty=0.0)
    assert why == ""
    # Only the cages' clue cells are kept (plain empty cells dropped), all labelled empty.
    assert x.shape == (len(spec.cages), PATCH, PATCH)
    assert not y.any()
    assert (x.reshape(len(x), -1).max(axis=1) > 60).all()   # some of the clue text shows in the patch


def test_rendered_patches_batch_is_seeded():
    a = render_digits.rendered_patches(3, seed=7, fonts=[FONT], workers=1)
    b = render_digits.rendered_patches(3, seed=7, fonts=[FONT], workers=1)
    x, y, summary = a
    assert len(x) == len(y) == summary["patches"] > 0
    assert x.shape[1:] == (PATCH, PATCH) and x.dtype == np.uint8
    assert y.min() >= 0 and y.max() < len(LABELS)
    assert summary["used"] + len(summary["skipped"]) == 3
    assert summary["seeds"].startswith(str(render_digits.SEED_BASE + 7 * render_digits.SEED_STRIDE))
    assert np.array_equal(x, b[0]) and np.array_equal(y, b[1])


def test_training_fonts_avoid_the_benchmark_families():
    from vlm_puzzle.render.fonts import font_family
    from vlm_puzzle.render.heldout import HELD_OUT_FAMILIES
    fonts = render_digits.train_fonts()
    assert fonts and not {font_family(f) for f in fonts} & set(HELD_OUT_FAMILIES)
