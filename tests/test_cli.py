"""The vlm-puzzle command line: exit codes, JSON, overlay, no tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vlm_puzzle import __version__
from vlm_puzzle.cli import main
from vlm_puzzle.groundtruth import load_truth
from vlm_puzzle.overlay import cell_quads
from vlm_puzzle.pipeline import PuzzleSolver
from vlm_puzzle.result import RESULT_KEYS

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"


def sudoku_sample() -> Path:
    found = sorted((load_truth(str(p)).size != 9, str(p)) for p in SAMPLES.rglob("*.png")
                   if load_truth(str(p)) is not None and load_truth(str(p)).kind == "sudoku")
    assert found, f"no sudoku sample in {SAMPLES}"
    return Path(found[0][1])


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "vlm_puzzle", *map(str, args)],
                          capture_output=True, text=True, timeout=120, **kw)


def test_module_help_and_version():
    r = run_cli("--help")
    assert r.returncode == 0 and "solve" in r.stdout and "batch" in r.stdout and "render" in r.stdout
    r = run_cli("--version")
    assert r.returncode == 0 and __version__ in r.stdout


def test_solve_text_and_json_exit_0(capsys):
    img = sudoku_sample()
    truth = load_truth(str(img))
    assert main(["solve", str(img), "--backend", "geometry"]) == 0
    out = capsys.readouterr().out
    assert "solution:" in out and "SOLVED" in out and "extract" in out and "total" in out
    assert main(["solve", str(img), "--json", "--backend", "geometry"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert tuple(d) == RESULT_KEYS and d["status"] == "solved" and d["solution"] == truth.solution


@pytest.mark.parametrize("make, code", [
    (lambda d: d / "missing.jpg", "file_not_found"),
    (lambda d: d, "is_directory"),
    (lambda d: (d / "t.png").write_text("text") and d / "t.png", "not_an_image"),
    (lambda d: (d / "cut.png").write_bytes(sudoku_sample().read_bytes()[:2000]) and d / "cut.png",
     "truncated_image"),
])
def test_unreadable_input_exit_2_without_traceback(tmp_path, make, code):
    path = make(tmp_path)
    r = run_cli("solve", path, "--backend", "geometry")
    assert r.returncode == 2
    assert code in r.stderr and "Traceback" not in r.stderr + r.stdout
    r = run_cli("solve", path, "--json", "--backend", "geometry")
    assert r.returncode == 2 and json.loads(r.stdout)["error"]["code"] == code


def test_no_puzzle_exit_1(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((400, 500, 3), 240, np.uint8))
    assert main(["solve", str(tmp_path / "blank.png"), "--json", "--backend", "geometry"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["status"] == "error" and d["error"]["code"] == "no_grid"


def test_bad_usage_exit_2(tmp_path):
    img = sudoku_sample()
    for args in (["solve"], ["solve", img, "--backend", "nope"], ["frobnicate"],
                 ["solve", img, "--overlay", tmp_path / "out.txt"],
                 ["solve", img, "--overlay", tmp_path / "no" / "such" / "dir.png"],
                 ["batch", img, "--out", tmp_path]):
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.strip()


def test_qwen_without_weights_is_a_clear_usage_error(tmp_path):
    r = run_cli("solve", sudoku_sample(), "--backend", "qwen", "--model", tmp_path / "no-weights-here")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip()


def test_overlay_draws_digits_in_empty_cells_only(tmp_path):
    img = sudoku_sample()
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
