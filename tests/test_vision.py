"""State extractor: grid detection, size/box, reading, repair, bad inputs.

Real parts only: real photos from the shared data set (Wicht & Hennebert,
CC-BY-4.0), real renders from ``vlm_puzzle.render``, the shipped ONNX model run
by OpenCV, the real solver.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vlm_puzzle.errors import GridNotFoundError, ImageError, PuzzleError
from vlm_puzzle.spec import PuzzleSpec
from vlm_puzzle.vision import extract_state, locate_grid
from vlm_puzzle.vision.repair import repair_givens

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("VLM_PUZZLE_DATASETS", ROOT.parent / "shared" / "datasets"))
PHOTOS = DATASETS / "wichtounet-sudoku-v2-train"
needs_photos = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"shared photos not found at {PHOTOS}")


def dat_givens(name: str) -> np.ndarray:
    rows = [ln.split() for ln in (PHOTOS / f"{name}.dat").read_text().splitlines()[2:] if ln.strip()]
    return np.array([[int(v) for v in r] for r in rows[:9]])


def outline(name: str) -> np.ndarray:
    for row in csv.DictReader((PHOTOS / "outlines.csv").open()):
        if Path(row["filepath"]).name == f"{name}.jpg":
            return np.array([[float(row[f"p{i}_x"]), float(row[f"p{i}_y"])] for i in range(1, 5)])
    raise KeyError(name)


def latin_solution(n: int, box: tuple[int, int]) -> np.ndarray:
    """A valid N x N sudoku solution by the standard shifted-rows pattern."""
    br, bc = box
    return np.array([[(bc * (r % br) + r // br + c) % n + 1 for c in range(n)] for r in range(n)])


def sparse_spec(n: int, seed: int) -> PuzzleSpec:
    from vlm_puzzle.spec import DEFAULT_BOX
    sol = latin_solution(n, DEFAULT_BOX[n])
    keep = np.random.default_rng(seed).random((n, n)) < 0.4
    return PuzzleSpec.sudoku((sol * keep).tolist())


def render_bgr(spec: PuzzleSpec, seed: int, **kw) -> np.ndarray:
    from vlm_puzzle.render.rendered import render_puzzle
    return np.ascontiguousarray(render_puzzle(spec, seed=seed, **kw).image[..., ::-1])


@pytest.fixture(scope="module")
def unique9():
    from vlm_puzzle.render.generate import generate_puzzle
    spec, _ = generate_puzzle("sudoku", 9, seed=11)
    return spec


@pytest.fixture(scope="module")
def clean9(unique9):
    return render_bgr(unique9, seed=3)


# ---- detection ---------------------------------------------------------------------

@needs_photos
@pytest.mark.parametrize("name", ["image1", "image100", "image1000", "image1082"])
def test_corners_match_outlines(name):
    # image100 and image1000 have the grid touching the photo's edge.
    loc = locate_grid(cv2.imread(str(PHOTOS / f"{name}.jpg")))
    truth = outline(name)
    cell = np.linalg.norm(truth[1] - truth[0]) / 9
    assert loc.lattice.size == 9 and loc.lattice.box == (3, 3)
    assert np.linalg.norm(loc.corners - truth, axis=1).max() < 0.35 * cell


@pytest.mark.parametrize("n", [4, 6, 8, 9, 12, 16])
def test_size_and_box_from_renders(n):
    spec = sparse_spec(n, seed=n)
    loc = locate_grid(render_bgr(spec, seed=n))
    assert loc.lattice.size == n
    assert loc.lattice.box == spec.box


@pytest.mark.parametrize("n", [3, 5, 7])
def test_kenken_size_without_boxes(n):
    from vlm_puzzle.render.generate import generate_puzzle
    spec, _ = generate_puzzle("kenken", n, seed=n)
    loc = locate_grid(render_bgr(spec, seed=n))
    assert loc.lattice.size == n
    assert loc.lattice.box is None


# ---- reading -----------------------------------------------------------------------

@needs_photos
@pytest.mark.parametrize("name", ["image1", "image1083", "image1031"])
def test_reads_real_photos(name):
    # image1083 is upside down, image1031 sideways: the reader turns them upright.
    st = extract_state(PHOTOS / f"{name}.jpg")
    assert np.array_equal(st.givens, dat_givens(name))
    assert st.ok


def test_reads_clean_render(unique9, clean9):
    st = extract_state(clean9)
    assert np.array_equal(st.givens, np.array(unique9.givens))
    assert st.repair_status == "not_needed" and st.ok
    assert st.to_spec().givens == unique9.givens
    assert st.probs.shape == (9, 9, 10) and st.confidence.min() > 0.5


@pytest.mark.parametrize("n", [4, 6])
def test_reads_small_renders(n):
    spec = sparse_spec(n, seed=7)
    st = extract_state(render_bgr(spec, seed=5), repair=False)
    assert np.array_equal(st.givens, np.array(spec.givens))


# ---- repair ------------------------------------------------------------------------

def _corrupt(probs: np.ndarray, givens: np.ndarray, cell: tuple[int, int], wrong: int) -> np.ndarray:
    """A misreading at ``cell``: the wrong value comes out on top (0.6) with the
    true value as runner-up (0.35), as when the reader is unsure. (Swapping two
    near-certain probabilities of a clean render would leave the true value as
    unlikely as any other cell's alternatives: no evidence left to repair with.)"""
    p = probs.copy()
    r, c = cell
    k = p.shape[2]
    p[r, c, :] = 0.05 / (k - 2)
    p[r, c, wrong] = 0.6
    p[r, c, givens[r, c]] = 0.35
    return p


def _misreadings(st, truth: np.ndarray, count: int):
    """Cells whose runner-up digit, read instead of the truth, breaks the puzzle
    (a misreading that leaves exactly one solution cannot be noticed by anyone)."""
    from vlm_puzzle.solver import solve
    found = []
    for r, c in map(tuple, np.argwhere(truth > 0)):
        order = np.argsort(-st.probs[r, c, 1:]) + 1
        wrong = int(next(v for v in order if v != truth[r, c]))
        misread = truth.copy()
        misread[r, c] = wrong
        if solve(PuzzleSpec.sudoku(misread.tolist()), unique=True, timeout_s=2).status != "solved":
            found.append((int(r), int(c), wrong, misread))
        if len(found) == count:
            break
    return found


def test_repair_fixes_misread_cells(unique9, clean9):
    st = extract_state(clean9, repair=False)
    truth = np.array(unique9.givens)
    template = PuzzleSpec.sudoku(np.zeros((9, 9), int).tolist())
    cases = _misreadings(st, truth, 3)
    assert len(cases) == 3
    for r, c, wrong, misread in cases:
        # The wrong digit's and the true digit's probabilities swap: the wrong one is on top.
        probs = _corrupt(st.probs, truth, (r, c), wrong)
        out = repair_givens(template, misread, probs)
        assert out.status == "repaired" and out.solver_status == "solved"
        assert np.array_equal(out.givens, truth)
        assert out.changes == [{"cell": [r, c], "from": wrong, "to": int(truth[r, c])}]


def test_repair_fixes_a_missed_digit(unique9, clean9):
    st = extract_state(clean9, repair=False)
    truth = np.array(unique9.givens)
    r, c = map(int, np.argwhere(truth > 0)[0])
    probs = _corrupt(st.probs, truth, (r, c), 0)   # the digit now reads as empty
    misread = truth.copy()
    misread[r, c] = 0
    template = PuzzleSpec.sudoku(np.zeros((9, 9), int).tolist())
    out = repair_givens(template, misread, probs)
    # Removing one given of a minimal puzzle leaves several solutions: repair restores it.
    assert out.status == "repaired" and np.array_equal(out.givens, truth)


def test_repair_never_changes_a_correct_grid(unique9, clean9):
    st = extract_state(clean9, repair=False)
    truth = np.array(unique9.givens)
    # Even with every cell made maximally unsure, a correct unique grid stays.
    flat = np.full_like(st.probs, 1.0 / st.probs.shape[2])
    template = PuzzleSpec.sudoku(np.zeros((9, 9), int).tolist())
    for probs in (st.probs, flat):
        out = repair_givens(template, truth, probs)
        assert out.status == "not_needed" and out.changes == []
        assert np.array_equal(out.givens, truth)


def test_repair_rules_come_from_the_caller(unique9, clean9):
    seen = []

    def no_rules(state):
        seen.append(state)
        return None

    st = extract_state(clean9, variants=True, rules=no_rules)
    # Called once, on the upright state with its variants read; None: a verdict, no repair.
    assert len(seen) == 1 and seen[0].variants is not None
    assert st.repair_kind == "sudoku" and st.repair_status == "not_needed" and st.ok
    assert np.array_equal(st.givens, np.array(unique9.givens))
    # A plain sudoku checked under x-sudoku rules: the verdict is under those rules.
    x = PuzzleSpec.x_sudoku(np.zeros((9, 9), int).tolist())
    st = extract_state(clean9, rules=lambda state: x, repair_budget_s=0.5)
    assert st.repair_kind == "x-sudoku"
    from vlm_puzzle.solver import solve
    verdict = solve(x.with_givens(unique9.givens), unique=True, timeout_s=5).status
    assert st.ok == (verdict == "solved") or st.repair_status == "repaired"


# ---- bad inputs ----------------------------------------------------------------------

def test_text_and_noise_have_no_grid():
    rng = np.random.default_rng(0)
    page = np.full((600, 800), 235, np.uint8)
    for i in range(18):
        cv2.putText(page, "Lorem ipsum dolor sit amet 12345", (20, 30 + 32 * i),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8, 20, 2)
    noise = rng.integers(0, 256, (480, 640), dtype=np.uint8)
    for img in (page, noise, np.full((480, 640, 3), 255, np.uint8)):
        with pytest.raises(GridNotFoundError):
            extract_state(img)


def test_tiny_image_is_a_typed_error():
    with pytest.raises(PuzzleError):
        extract_state(np.full((12, 12, 3), 128, np.uint8))


def test_missing_file_is_an_image_error(tmp_path):
    with pytest.raises(ImageError):
        extract_state(tmp_path / "nope.jpg")


def test_grid_cut_off_is_not_presented_as_right(unique9, clean9):
    h, w = clean9.shape[:2]
    half = clean9[:, : w // 2]
    try:
        st = extract_state(half)
    except GridNotFoundError:
        return
    # Whatever was found, it must not claim to be the full, correct 9x9 reading.
    assert not (st.size == 9 and st.ok and np.array_equal(st.givens, np.array(unique9.givens)) is False)
    assert not (st.size == 9 and st.ok)


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_other_pixel_formats(tmp_path, unique9, clean9, mode):
    rgb = Image.fromarray(clean9[..., ::-1])
    if mode == "I;16":
        arr16 = (np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
        path = tmp_path / "g16.png"
        cv2.imwrite(str(path), arr16)
    else:
        path = tmp_path / f"g_{mode}.png"
        rgb.convert(mode).save(path)
    st = extract_state(path)
    assert np.array_equal(st.givens, np.array(unique9.givens))


def test_huge_image_is_downscaled(unique9, clean9):
    big = cv2.resize(clean9, (5000, 5000), interpolation=cv2.INTER_LINEAR)
    st = extract_state(big)
    assert np.array_equal(st.givens, np.array(unique9.givens))
    # Corners are reported in the pixels of the image given.
    assert st.corners.max() > 2500
