"""The vlm-puzzle command line: exit codes, JSON, overlay, no tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from e2e_images import render_to
from vlm_puzzle import __version__
from vlm_puzzle.cli import main
from vlm_puzzle.eval.truth import load_truth
from vlm_puzzle.overlay import cell_quads
from vlm_puzzle.pipeline import PuzzleSolver
from vlm_puzzle.result import RESULT_KEYS

@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """A clean render of a 9x9 sudoku (ground truth in the .json next to it)."""
    return render_to(tmp_path_factory.mktemp("renders"), "sudoku", 9)


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "vlm_puzzle", *map(str, args)],
                          capture_output=True, text=True, timeout=120, **kw)


def test_module_help_and_version():
    r = run_cli("--help")
    assert r.returncode == 0 and "solve" in r.stdout and "batch" in r.stdout and "render" in r.stdout
    r = run_cli("--version")
    assert r.returncode == 0 and __version__ in r.stdout


def test_solve_text_and_json_exit_0(capsys, sample):
    img = sample
    truth = load_truth(str(img))
    assert main(["solve", str(img), "--backend", "geometry"]) == 0
    out = capsys.readouterr().out
    assert "solution:" in out and "SOLVED" in out and "extract" in out and "total" in out
    assert "rule confidence" in out
    assert main(["solve", str(img), "--json", "--backend", "geometry"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert tuple(d) == RESULT_KEYS and d["status"] == "solved" and d["solution"] == truth.solution


def _bad_inputs(d: Path, sample: Path) -> dict:
    (d / "t.png").write_text("text")
    (d / "cut.png").write_bytes(sample.read_bytes()[:2000])
    return {d / "missing.jpg": "file_not_found", d: "is_directory", d / "t.png": "not_an_image",
            d / "cut.png": "truncated_image"}


def test_unreadable_input_exit_2_one_line_message(tmp_path, sample, capsys):
    for path, code in _bad_inputs(tmp_path, sample).items():
        assert main(["solve", str(path), "--backend", "geometry"]) == 2
        cap = capsys.readouterr()
        assert code in cap.err and len(cap.err.strip().splitlines()) == 1 and not cap.out
        assert main(["solve", str(path), "--json", "--backend", "geometry"]) == 2
        assert json.loads(capsys.readouterr().out)["error"]["code"] == code


def test_no_traceback_from_the_real_command(tmp_path, sample):
    bad = _bad_inputs(tmp_path, sample)
    for path in (tmp_path / "missing.jpg", tmp_path / "cut.png"):
        r = run_cli("solve", path, "--backend", "geometry")
        assert r.returncode == 2 and bad[path] in r.stderr
        assert "Traceback" not in r.stderr + r.stdout


def test_no_puzzle_exit_1(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((400, 500, 3), 240, np.uint8))
    assert main(["solve", str(tmp_path / "blank.png"), "--json", "--backend", "geometry"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["status"] == "error" and d["error"]["code"] == "no_grid"


def test_bad_usage_exit_2(tmp_path, sample, capsys):
    img = str(sample)
    for args in (["solve"], ["solve", img, "--backend", "nope"], ["frobnicate"], [],
                 ["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "r.jsonl"), "--workers", "-1"],
                 ["solve", img, "--timeout", "-1"], ["solve", img, "--timeout", "nan"],
                 ["solve", img, "--timeout", "inf"], ["batch", img, "--out", "r.jsonl", "--workers", "x"],
                 ["batch", img, "--out", "r.jsonl", "--vlm-batch", "0"], ["render", "d", "-n", "0"]):
        with pytest.raises(SystemExit) as exc:  # argparse: usage message, exit 2
            main(args)
        assert exc.value.code == 2 and "usage" in capsys.readouterr().err
    for args in (["solve", img, "--overlay", str(tmp_path / "out.txt")],
                 ["solve", img, "--overlay", str(tmp_path / "no" / "such" / "dir.png")],
                 ["batch", img, "--out", str(tmp_path)],
                 ["render", str(tmp_path / "r"), "--kinds", "chess"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("vlm-puzzle: ") and len(err.strip().splitlines()) == 1, err


def test_qwen_without_weights_is_a_clear_usage_error(tmp_path, sample):
    r = run_cli("solve", sample, "--backend", "qwen", "--model", tmp_path / "no-weights-here")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip()


def test_overlay_draws_digits_in_empty_cells_only(tmp_path, sample):
    img = sample
    out = tmp_path / "overlay.png"
    assert main(["solve", str(img), "--overlay", str(out), "--backend", "geometry"]) == 0
    src = cv2.imread(str(img))
    ov = cv2.imread(str(out))
    assert ov.shape == src.shape  # size unchanged
    res = PuzzleSolver("geometry").solve_image(img)
    changed = np.abs(ov.astype(int) - src.astype(int)).sum(axis=2) > 60
    n = res.size
    quads = cell_quads(res.state, n)
    empty_hits = given_hits = 0
    for r in range(n):
        for c in range(n):
            quad = quads[r, c]
            m = np.zeros(changed.shape, np.uint8)
            cv2.fillConvexPoly(m, np.round(quad).astype(np.int32), 1)
            frac = changed[m.astype(bool)].mean()
            if res.givens[r][c]:
                given_hits += frac > 0.01
            else:
                empty_hits += frac > 0.03
    n_empty = sum(1 for row in res.givens for v in row if not v)
    assert empty_hits == n_empty      # a digit drawn in every empty cell
    assert given_hits == 0            # and none over the printed givens


def test_overlay_of_a_downsized_photo_has_the_original_size(tmp_path, sample):
    from vlm_puzzle.overlay import overlay_result

    solver = PuzzleSolver("geometry", max_pixels=250_000)  # 640x640 render -> worked on at ~500 px
    res = solver.solve_image(sample)
    assert res.solved and res.loaded.scale < 1
    ov = overlay_result(res, sample)
    src = cv2.imread(str(sample))
    assert ov.shape == src.shape
    changed = np.abs(ov.astype(int) - src.astype(int)).sum(axis=2) > 60
    # the digits land inside the grid (corners scaled back to the original pixels)
    corners = np.asarray(res.state.corners, float) / res.loaded.scale
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    ys, xs = np.nonzero(changed)
    assert len(xs) > 500 and xs.min() >= x0 - 2 and xs.max() <= x1 + 2 and ys.min() >= y0 - 2 and ys.max() <= y1 + 2


def test_render_writes_pictures_with_ground_truth(tmp_path, capsys):
    assert main(["render", str(tmp_path), "--kinds", "sudoku:4", "kenken:4", "--size-px", "240", "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert len(files) == 2
    for f in files:
        truth = load_truth(f)
        assert cv2.imread(f).shape[:2] == (240, 240) and truth.size == 4 and truth.solution is not None
    assert main(["render", str(tmp_path), "--kinds", "windoku:6"]) == 2


def test_hostile_inputs_are_typed_input_errors_exit_2(tmp_path, sample, capsys):
    """Issue 18: a FIFO (no writer: never opened), a device, a name over 255 characters,
    a 100000x40 strip, a header declaring GBs of pixels: each a one-line typed error, exit 2."""
    import os

    from PIL import Image

    os.mkfifo(tmp_path / "pipe.jpg")
    Image.new("L", (100_000, 40), 255).save(tmp_path / "strip.png")
    cases = {tmp_path / "pipe.jpg": "not_a_regular_file", "/dev/zero": "not_a_regular_file",
             tmp_path / ("n" * 300 + ".png"): "name_too_long", tmp_path / "strip.png": "bad_aspect_ratio"}
    for path, code in cases.items():
        assert main(["solve", str(path), "--json", "--backend", "geometry"]) == 2, path
        cap = capsys.readouterr()
        assert json.loads(cap.out)["error"]["code"] == code and len(cap.err.strip().splitlines()) == 1


def test_stdin_dash_reads_the_picture_and_is_bounded(sample):
    r = subprocess.run([sys.executable, "-m", "vlm_puzzle", "solve", "-", "--json", "--backend", "geometry"],
                       input=sample.read_bytes(), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "solved"
    r = subprocess.run([sys.executable, "-m", "vlm_puzzle", "solve", "-", "--backend", "geometry"],
                       input=b"", capture_output=True, timeout=120)
    assert r.returncode == 2 and b"empty_file" in r.stderr and b"Traceback" not in r.stderr


def test_overlay_never_overwrites_the_input(tmp_path, sample, capsys):
    import os

    img = tmp_path / "photo.png"
    img.write_bytes(sample.read_bytes())
    before = img.read_bytes()
    assert main(["solve", str(img), "--overlay", str(img), "--backend", "geometry"]) == 2
    assert main(["solve", str(img), "--overlay", str(tmp_path / "." / "photo.png"), "--backend", "geometry"]) == 2
    assert img.read_bytes() == before and "--overlay" in capsys.readouterr().err
    os.mkfifo(tmp_path / "out.png")  # no reader: writing the overlay into it would block forever
    assert main(["solve", str(img), "--overlay", str(tmp_path / "out.png"), "--backend", "geometry"]) == 2
