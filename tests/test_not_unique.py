"""Puzzles with several solutions (issue 13 item 4): answered with one verified solution,
flagged ``unique: false``; ``require_unique`` restores the refusal; a sure reading is never
changed to make the puzzle unique."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vlm_puzzle.batch import run_batch
from vlm_puzzle.check.givens import repair_givens
from vlm_puzzle.check.judge import NOT_UNIQUE
from vlm_puzzle.cli import main
from vlm_puzzle.findings import codes
from vlm_puzzle.pipeline import PuzzleSolver, solve_image
from vlm_puzzle.result import SolveResult
from vlm_puzzle.solver import count_solutions, violations
from vlm_puzzle.spec import PuzzleSpec


def _non_unique(kind: str, size: int, seed: int) -> tuple[PuzzleSpec, list]:
    """A generated puzzle with givens taken away (in reading order) until it has 2+ solutions."""
    from vlm_puzzle.render.generate import generate_puzzle

    spec, solution = generate_puzzle(kind, size, seed=seed)
    g = [list(r) for r in spec.givens]
    for r, c in [(r, c) for r in range(size) for c in range(size) if g[r][c]]:
        g[r][c] = 0
        cand = spec.with_givens(g, None)
        if count_solutions(cand, limit=2, timeout_s=5) >= 2:
            return cand, solution
    raise AssertionError("no non-unique puzzle found")


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> tuple[Path, PuzzleSpec]:
    from vlm_puzzle.render.rendered import render_puzzle, save_rendered
    from vlm_puzzle.render.style import Style

    spec, solution = _non_unique("sudoku", 9, 7)
    img, _ = save_rendered(render_puzzle(spec, seed=7, style=Style(), solution=solution, size_px=640),
                           tmp_path_factory.mktemp("nu") / "sudoku_9_not_unique")
    return img, spec


def test_non_unique_puzzle_is_solved_and_flagged(picture):
    img, spec = picture
    res = PuzzleSolver("geometry").solve_image(img)
    assert res.status == "solved" and res.unique is False and res.error is None
    assert res.givens == [list(r) for r in spec.givens] and res.repairs == []   # the reading as it is
    assert not violations(spec, res.solution)                                   # one verified solution
    assert codes(res.findings).count(NOT_UNIQUE) == 1
    assert res.confidence is not None and res.confidence < 0.9
    d = res.to_dict()
    assert d["unique"] is False and d["status"] == "solved"
    assert SolveResult.from_dict(json.loads(json.dumps(d))).unique is False


def test_require_unique_refuses(picture):
    img, _ = picture
    res = solve_image(img, backend="geometry", require_unique=True)
    assert res.status == "unsolved" and res.error.code == "multiple_solutions" and res.solution is None


def test_unique_puzzle_says_unique(tmp_path):
    from e2e_images import render_to

    res = PuzzleSolver("geometry").solve_image(render_to(tmp_path, "sudoku", 4))
    assert res.solved and res.unique is True and NOT_UNIQUE not in codes(res.findings)


def test_cli_exit_0_with_warning_and_require_unique_refusal(picture, capsys):
    img, _ = picture
    assert main(["solve", str(img), "--backend", "geometry", "--json"]) == 0
    cap = capsys.readouterr()
    d = json.loads(cap.out)
    assert d["status"] == "solved" and d["unique"] is False
    assert cap.err.startswith("vlm-puzzle: warning")
    assert main(["solve", str(img), "--backend", "geometry", "--json", "--require-unique"]) == 1
    cap = capsys.readouterr()
    assert json.loads(cap.out)["error"]["code"] == "multiple_solutions" and "warning" not in cap.err


def test_batch_lines_and_summary(picture, tmp_path, capsys):
    img, _ = picture
    summary = run_batch([str(img)], tmp_path / "r.jsonl", workers=0, backend="geometry", progress=False)
    line = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert line["status"] == "solved" and line["unique"] is False
    assert summary.solved == 1 and summary.not_unique == 1 and summary.to_dict()["not_unique"] == 1
    assert main(["batch", str(img), "--out", str(tmp_path / "s.jsonl"), "--backend", "geometry", "--workers", "1",
                 "--no-progress", "--json", "--require-unique"]) == 1
    s = json.loads(capsys.readouterr().out)
    assert s["error_codes"] == {"multiple_solutions": 1} and s["not_unique"] == 0


def test_overlay_flags_a_non_unique_solution(picture):
    from vlm_puzzle.overlay import DIGIT_COLOR, NOT_UNIQUE_COLOR, overlay_result

    img, _ = picture
    res = PuzzleSolver("geometry").solve_image(img)
    ov, src = overlay_result(res, img).astype(int), cv2.imread(str(img)).astype(int)
    inked = ov[np.abs(ov - src).sum(axis=2) > 200]
    assert len(inked) > 100
    # the drawn ink is the flag colour (orange), not the usual blue
    assert np.abs(inked - NOT_UNIQUE_COLOR).sum(axis=1).mean() < np.abs(inked - DIGIT_COLOR).sum(axis=1).mean()


def test_a_sure_reading_is_not_changed_to_make_the_puzzle_unique():
    spec, solution = _non_unique("sudoku", 4, 3)
    template = spec.with_givens(np.zeros((4, 4), int).tolist(), None)
    givens = np.asarray(spec.givens)
    # The cell whose true digit, were it a given, makes the puzzle unique: the reader read it
    # empty, sure (p 0.999), or in doubt (p 0.6 against 0.4 for that digit).
    r, c = next((r, c) for r in range(4) for c in range(4) if not givens[r, c]
                and count_solutions(spec.with_givens(_set(givens, r, c, solution[r][c]).tolist(), None), 2) == 1)
    for p_empty, changed in ((0.999, False), (0.6, True)):
        probs = np.full((4, 4, 5), 1e-6)
        probs[..., 0][givens == 0] = 1.0
        for rr in range(4):
            for cc in range(4):
                probs[rr, cc, givens[rr, cc]] = 1.0
        probs[r, c, 0], probs[r, c, solution[r][c]] = p_empty, 1 - p_empty
        out = repair_givens(template, givens, probs)
        if changed:
            assert out.status == "repaired" and out.solver_status == "solved"
            assert [(x.cell, x.to) for x in out.changes] == [((r, c), solution[r][c])]
        else:
            assert out.status == "failed" and out.solver_status == "multiple" and (out.givens == givens).all()


def _set(g: np.ndarray, r: int, c: int, v: int) -> np.ndarray:
    g = g.copy()
    g[r, c] = v
    return g
