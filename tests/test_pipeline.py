"""The end-to-end pipeline on real images: schema, solving, every bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import vlm_puzzle
from vlm_puzzle.findings import info, problem
from e2e_images import REPO, render_to
from vlm_puzzle.eval.truth import load_truth
from vlm_puzzle.pipeline import PuzzleSolver, solve_image
from vlm_puzzle.result import RESULT_KEYS, SolveResult
from vlm_puzzle.spec import KINDS, Cage, PuzzleSpec
from vlm_puzzle.solver.verify import violations as check_solution

PHOTOS = REPO / "data" / "photos"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean render of a 9x9 sudoku and its ground truth."""
    img = render_to(tmp_path_factory.mktemp("renders"), "sudoku", 9)
    return img, load_truth(str(img))


@pytest.fixture(scope="module")
def solver():
    return PuzzleSolver(backend="geometry")


def assert_schema(d: dict) -> None:
    assert tuple(d) == RESULT_KEYS  # exact keys, in order
    assert isinstance(d["image"], str)
    assert d["status"] in ("solved", "unsolved", "error")
    assert d["kind"] is None or d["kind"] in KINDS
    assert d["size"] is None or isinstance(d["size"], int)
    for key in ("givens", "solution"):
        g = d[key]
        assert g is None or (isinstance(g, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                                         for row in g for v in row))
    assert d["spec"] is None or isinstance(d["spec"], dict)
    assert d["rule_source"] in (None, "qwen", "geometry")
    assert isinstance(d["repairs"], list)
    for r in d["repairs"]:
        assert set(r) == {"cell", "from", "to"} and len(r["cell"]) == 2
    assert d["confidence"] is None or isinstance(d["confidence"], float)
    assert d["rule_confidence"] is None or (isinstance(d["rule_confidence"], float)
                                            and 0.0 <= d["rule_confidence"] <= 1.0)
    assert isinstance(d["notes"], list) and all(isinstance(n, str) for n in d["notes"])
    assert set(d["timings_s"]) == {"load", "rules", "extract", "solve", "total", "network"}
    assert all(isinstance(v, float) and v >= 0 for v in d["timings_s"].values())
    if d["error"] is not None:
        assert set(d["error"]) == {"code", "message"} and d["error"]["code"] and d["error"]["message"]
    json.dumps(d)  # serialisable as is


def test_solves_clean_sudoku_render_with_exact_schema(solver, clean):
    img, truth = clean
    res = solver.solve_image(img)
    d = res.to_dict()
    assert_schema(d)
    assert d["status"] == "solved", d["error"]
    assert d["kind"] == "sudoku" and d["size"] == truth.size and d["rule_source"] == "geometry"
    assert d["givens"] == truth.givens
    assert d["solution"] == truth.solution
    assert d["error"] is None
    spec = PuzzleSpec.from_dict(d["spec"])
    assert spec.kind == "sudoku" and not check_solution(spec, d["solution"])
    t = d["timings_s"]
    assert t["total"] >= t["extract"] > 0 and t["load"] > 0
    assert SolveResult.from_dict(d).to_dict() == d  # the schema round-trips


def test_accepts_path_array_and_pil_and_reuses_solver(solver, clean):
    from PIL import Image

    img, truth = clean
    bgr = cv2.imread(str(img))
    a = solver.solve_image(bgr)
    b = solver.solve_image(Image.open(img))
    assert a.solution == b.solution == truth.solution
    assert a.image.startswith("<array") and b.image.startswith("<PIL.Image")


def test_module_level_and_lazy_package_exports(clean):
    img, truth = clean
    assert vlm_puzzle.solve_image is solve_image
    assert vlm_puzzle.PuzzleSolver is PuzzleSolver
    res = vlm_puzzle.solve_image(str(img), backend="geometry")
    assert res.solved and res.solution == truth.solution


def test_import_is_light():
    # The package and the CLI module import neither OpenCV nor torch; the pipeline, batch
    # and the geometry stages never import torch/transformers.
    code = ("import sys, vlm_puzzle, vlm_puzzle.cli; light = [m for m in ('torch', 'cv2') if m in sys.modules]; "
            "import numpy, vlm_puzzle.pipeline, vlm_puzzle.batch; "
            "vlm_puzzle.PuzzleSolver('geometry').solve_image(numpy.full((200, 200, 3), 255, numpy.uint8)); "
            "print(light, [m for m in ('torch', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"


def test_missing_directory_nonimage_truncated(solver, tmp_path, clean):
    (tmp_path / "notes.jpg").write_text("not an image at all")
    data = clean[0].read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 3])
    cases = {tmp_path / "missing.png": "file_not_found", tmp_path: "is_directory",
             tmp_path / "notes.jpg": "not_an_image", tmp_path / "cut.png": "truncated_image"}
    for src, code in cases.items():
        d = solver.solve_image(src).to_dict()
        assert_schema(d)
        assert d["status"] == "error" and d["error"]["code"] == code, (src, d["error"])
        assert str(src) in d["error"]["message"] or code == "is_directory"


def test_image_without_a_puzzle(solver):
    page = np.full((600, 800, 3), 235, np.uint8)  # a page of text, no grid
    for i in range(12):
        cv2.putText(page, "Lorem ipsum dolor sit amet, consectetur", (30, 50 + 45 * i),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.9, (30, 30, 30), 2)
    d = solver.solve_image(page).to_dict()
    assert_schema(d)
    assert d["status"] == "error" and d["error"]["code"] == "no_grid"
    assert d["solution"] is None


def test_unsolvable_read_is_reported_not_raised(tmp_path, clean):
    # Write a digit into an empty cell that clashes with a given in its row: with
    # repairs off the read grid has no solution, and the result says so.
    img, truth = clean
    solver = PuzzleSolver(backend="geometry", repair=False)
    clean = solver.solve_image(img)
    st = clean.state
    n = truth.size
    r = next(i for i in range(n) if any(truth.givens[i]) and not all(truth.givens[i]))
    c = truth.givens[r].index(0)
    clash = next(v for v in truth.givens[r] if v)
    page = clean.loaded.image.copy()
    from vlm_puzzle.overlay import draw_solution

    mask = [[1] * n for _ in range(n)]
    mask[r][c] = 0  # draw only into (r, c)
    digits = [[clash] * n for _ in range(n)]
    page = draw_solution(page, st, mask, digits, color=(20, 20, 20))
    cv2.imwrite(str(tmp_path / "clash.png"), page)
    d = solver.solve_image(tmp_path / "clash.png").to_dict()
    assert_schema(d)
    assert d["status"] == "unsolved"
    assert d["givens"][r][c] == clash
    assert d["error"]["code"] == "no_solution" and "no solution" in d["error"]["message"]
    assert d["solution"] is None


def test_photo_gets_read_with_timings(solver):
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    d = solver.solve_image(photo).to_dict()
    assert_schema(d)
    assert d["size"] == 9 and d["givens"] is not None and d["timings_s"]["extract"] > 0


def test_ground_truth_files_parse(tmp_path):
    t = load_truth(str(sorted(PHOTOS.glob("*.jpg"))[0]))
    assert t.kind == "sudoku" and t.size == 9 and all(len(r) == 9 for r in t.givens)
    assert 17 <= sum(1 for r in t.givens for v in r if v) < 81
    (tmp_path / "bad.jpg").write_bytes(b"")
    (tmp_path / "bad.dat").write_text("phone\nres\n1 2 3\n")
    with pytest.raises(ValueError):
        load_truth(str(tmp_path / "bad.jpg"))
    assert load_truth(str(tmp_path / "none.jpg")) is None


# ---- repair under the inferred rules; the plain-sudoku fallback ------------------------------

def _render(kind: str, size: int, seed: int, **style):
    from dataclasses import replace as dc_replace

    from vlm_puzzle.render.generate import generate_puzzle
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import Style
    spec, solution = generate_puzzle(kind, size, seed=seed)
    st = dc_replace(Style(font="DejaVuSans", clue_font="DejaVuSans"), **style)
    shot = render_puzzle(spec, seed=seed, style=st, solution=solution, size_px=640)
    return spec, solution, np.ascontiguousarray(shot.image[..., ::-1])


def test_jigsaw_givens_are_repaired_against_its_regions_not_boxes():
    from vlm_puzzle.check import conflicts, read_checked
    from vlm_puzzle.pipeline import read_state
    spec, solution, img = _render("jigsaw", 9, seed=1)
    truth = np.array(spec.givens)
    assert conflicts(PuzzleSpec.sudoku(spec.givens), truth)   # the givens clash with 3x3 boxes
    plain = read_checked(img, rules=False)
    assert plain.verdict.kind == "sudoku" and not plain.ok      # plain rules call the right digits wrong
    st = read_state(img)
    assert st.verdict.kind == "jigsaw" and st.verdict.status == "not_needed" and st.ok
    assert np.array_equal(st.givens, truth) and st.repairs == ()
    res = PuzzleSolver(backend="geometry").solve_image(img)
    assert res.status == "solved" and res.kind == "jigsaw" and res.solution == [list(r) for r in solution]


def test_drawn_x_sudoku_diagonals_are_not_read_as_digits():
    from vlm_puzzle.pipeline import read_state
    spec, _, img = _render("x-sudoku", 9, seed=32, diagonal="line")
    st = read_state(img)
    assert st.variants.marks.diagonal_style == "line"
    assert np.array_equal(st.raw_givens, np.array(spec.givens))   # as read, before any repair
    assert st.verdict.kind == "x-sudoku" and st.ok


def test_plain_sudoku_fallback_is_honest(clean):
    from dataclasses import replace as dc_replace
    img, truth = clean
    solver = PuzzleSolver(backend="geometry")
    reading = solver.read(img)
    assert reading.error is None and reading.state.verdict.solver_status == "solved"
    sure = solver.finish(reading).to_dict()
    assert sure["status"] == "solved" and sure["rule_confidence"] > 0.3
    # Geometry saw another kind whose rules it could not read; the digits alone have
    # one sudoku solution. Taken (the killer's solution is that grid too; a real photo
    # with box lines misread as KenKen cages is a sudoku), but never as a certainty,
    # and the note says what was seen instead.
    for kind in ("killer", "kenken", "jigsaw"):
        guessed = dc_replace(reading, spec=None, hints=dc_replace(reading.hints, kind=kind, confidence=0.9))
        d = solver.finish(guessed).to_dict()
        assert_schema(d)
        assert d["status"] == "solved" and d["kind"] == "sudoku" and d["rule_confidence"] <= 0.3
        assert d["notes"][-1] == str(solver.finish(guessed).hints.evidence[-1])
        assert solver.finish(guessed).hints.evidence[-1].code == "plain_sudoku_fallback"
    # Rules built but failing their own checks (a real photo's grain read as killer
    # dashes gave one 81-cell cage whose clue no digits reach): the fallback too.
    cage = Cage(cells=tuple((r, c) for r in range(9) for c in range(9)), op="sum", target=6)
    broken = PuzzleSpec(kind="killer", size=9, givens=reading.spec.givens, box=(3, 3), cages=(cage,))
    why = "cage at (0, 0): target 6 unreachable"
    bad_hints = dc_replace(reading.hints, kind="killer", confidence=0.2,
                           evidence=reading.hints.evidence + (problem("cage_unreachable", why),))
    d = solver.finish(dc_replace(reading, spec=broken, hints=bad_hints)).to_dict()
    assert d["status"] == "solved" and d["kind"] == "sudoku" and d["solution"] == truth.solution
    assert d["rule_confidence"] <= 0.2
    # The typed field decides, not the wording of the notes: the same spec whose
    # hints name no problem is taken as read (and its killer cage fails the solve).
    worded = dc_replace(bad_hints, evidence=reading.hints.evidence + (info("cage_unreachable", why),))
    d = solver.finish(dc_replace(reading, spec=broken, hints=worded)).to_dict()
    assert d["kind"] == "killer" and d["status"] == "unsolved"
    # Digits checked under other rules than a plain sudoku's: no fallback.
    other = dc_replace(reading, spec=None,
                       state=dc_replace(reading.state, verdict=dc_replace(reading.state.verdict, kind="x-sudoku")))
    d = solver.finish(other).to_dict()
    assert d["status"] == "unsolved" and d["error"]["code"] == "unknown_rules" and d["solution"] is None
