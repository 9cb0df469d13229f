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
from vlm_puzzle.check import read_checked, repair_givens, settle
from vlm_puzzle.verdict import Repair

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
    """A render that is the same on every machine: fonts from the DejaVu families that every
    machine has, unless the test picks a style or fonts itself."""
    from vlm_puzzle.render.fonts import available_fonts
    from vlm_puzzle.render.rendered import render_puzzle
    if "style" not in kw:
        kw.setdefault("fonts", [f for f in available_fonts() if f.startswith("DejaVu")])
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
    st = read_checked(PHOTOS / f"{name}.jpg", rules=False)
    assert np.array_equal(st.givens, dat_givens(name))
    assert st.ok


def test_reads_clean_render(unique9, clean9):
    st = read_checked(clean9, rules=False)
    assert np.array_equal(st.givens, np.array(unique9.givens))
    assert st.verdict.status == "not_needed" and st.ok
    assert st.to_spec().givens == unique9.givens
    assert st.probs.shape == (9, 9, 10) and st.confidence.min() > 0.5


@pytest.mark.parametrize("n", [4, 6])
def test_reads_small_renders(n):
    spec = sparse_spec(n, seed=7)
    st = extract_state(render_bgr(spec, seed=5))
    assert st.verdict is None   # perception only
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
    st = extract_state(clean9)
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
        assert out.changes == (Repair(cell=(r, c), from_=wrong, to=int(truth[r, c])),)


def test_repair_fixes_a_missed_digit(unique9, clean9):
    st = extract_state(clean9)
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
    st = extract_state(clean9)
    truth = np.array(unique9.givens)
    # Even with every cell made maximally unsure, a correct unique grid stays.
    flat = np.full_like(st.probs, 1.0 / st.probs.shape[2])
    template = PuzzleSpec.sudoku(np.zeros((9, 9), int).tolist())
    for probs in (st.probs, flat):
        out = repair_givens(template, truth, probs)
        assert out.status == "not_needed" and out.changes == ()
        assert np.array_equal(out.givens, truth)


def test_repair_rules_come_from_geometrys_decision(unique9, clean9):
    from dataclasses import FrozenInstanceError
    from vlm_puzzle.rules.geometry import Decision
    from vlm_puzzle.vision import GridReader
    reader = GridReader()
    seen = reader.read(clean9)
    # No decision: the givens are checked as a plain sudoku; perception's state is not changed.
    st, _ = settle(seen, None, image=clean9, reader=reader)
    assert seen.verdict is None and st.verdict is not None
    assert st.verdict.kind == "sudoku" and st.verdict.status == "not_needed" and st.ok
    assert np.array_equal(st.givens, np.array(unique9.givens))
    with pytest.raises(FrozenInstanceError):
        st.verdict = None
    # A plain sudoku checked under x-sudoku rules: the verdict is under those rules.
    x = Decision("x-sudoku", 9, (3, 3), True, ())
    st, _ = settle(seen, x, image=clean9, reader=reader, budget_s=0.5)
    assert st.verdict.kind == "x-sudoku"
    from vlm_puzzle.solver import solve
    verdict = solve(PuzzleSpec.x_sudoku(unique9.givens), unique=True, timeout_s=5).status
    assert st.ok == (verdict == "solved") or st.verdict.status == "repaired"


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
        st = read_checked(half, rules=False)
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


# ---- speed-ups that must not change a result ------------------------------------------
# Each fast path is checked against the straightforward code it replaced.

def test_percentile_u8_is_numpys_percentile():
    from vlm_puzzle.vision.outline import percentile_u8
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (577, 577), dtype=np.uint8),
              np.clip(rng.normal(200, 30, (480, 640)), 0, 255).astype(np.uint8)[::4, ::4],
              np.full((5, 7), 9, np.uint8), rng.integers(0, 3, (10,), dtype=np.uint8),
              rng.integers(0, 256, (4,), dtype=np.uint8), np.zeros((1, 1), np.uint8)]
    for a in arrays:
        for q in (0, 1, 50, 90, 99.0, 99.9, 100):
            assert percentile_u8(a, q) == float(np.percentile(a, q))


def test_border_components_keep_the_default_numbering_on_ties():
    from vlm_puzzle.vision.grid import _components, _default_order
    # Two separate long strokes on the same rows (a broken border line): equal centres.
    mask = np.zeros((120, 200), np.uint8)
    mask[10:13, 5:90] = 255
    mask[10:13, 110:195] = 255
    mask[60:62, 40:160] = 255
    mask[100:103, 100:190] = 255
    mask[98:105, 20:30] = 255
    labels, stats = _components(mask)
    _, ref_labels, ref_stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    ids = list(range(1, len(stats)))
    ordered = _default_order(mask, labels, stats, ids)
    assert [int(ref_labels[labels == i][0]) for i in ordered] == ids
    assert sorted(map(tuple, stats[1:].tolist())) == sorted(map(tuple, ref_stats[1:].tolist()))


def _local_lines_reference(mask, dark, global_pos, across, tol):
    """The per-band cumulative-sum version that _local_lines replaced."""
    n = len(global_pos) - 1
    h, w = mask.shape
    pos = np.tile(global_pos[:, None], (1, n)).astype(np.float64)
    weight = np.zeros(n + 1)
    a = np.asarray(across, np.float64)
    inner0 = np.clip((a[:-1] + (a[1:] - a[:-1]) / 5).astype(int), 0, w - 1)
    inner1 = np.clip((a[1:] - (a[1:] - a[:-1]) / 5).astype(int), 1, w)
    widths = np.maximum(inner1 - inner0, 1)
    half = int(np.ceil(tol))
    for k, g in enumerate(global_pos):
        lo, hi = int(max(0, g - half)), int(min(h, g + half + 1))
        if hi <= lo:
            continue
        cm = np.concatenate([np.zeros((hi - lo, 1)), np.cumsum(mask[lo:hi] > 0, axis=1)], axis=1)
        cd = np.concatenate([np.zeros((hi - lo, 1)), np.cumsum(dark[lo:hi], axis=1, dtype=np.float64)], axis=1)
        cover = (cm[:, inner1] - cm[:, inner0]) / widths
        prof = (cd[:, inner1] - cd[:, inner0]) / widths
        present = cover.max(axis=0) >= 0.5
        rows = np.arange(hi - lo)[:, None]
        on = cover >= 0.5
        first = np.where(on, rows, hi).min(axis=0)
        last = np.where(on, rows, -1).max(axis=0)
        pos[k, present] = lo + (first[present] + last[present]) / 2.0
        masses = prof.sum(axis=0) - prof.min(axis=0) * (hi - lo)
        weight[k] = float(np.median(masses[present])) if present.any() else 0.0
    if n >= 3:
        padded = np.concatenate([pos[:, :1], pos, pos[:, -1:]], axis=1)
        smooth = np.median(np.stack([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]]), axis=0)
        from vlm_puzzle.vision.lattice import END_JUMP   # an end segment off two straight neighbours
        step = END_JUMP * float(np.median(np.diff(a)))
        for end, near, far in ((0, 1, 2), (n - 1, n - 2, n - 3)):
            for k in range(n + 1):
                if abs(pos[k, end] - pos[k, near]) > step and abs(pos[k, near] - pos[k, far]) <= 1.0:
                    smooth[k, end] = pos[k, near]
        pos = smooth
    return pos, weight


@pytest.mark.parametrize("n", [4, 9, 16])
def test_local_lines_match_the_reference(unique9, clean9, n):
    from vlm_puzzle.vision import lattice as G
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.generate import generate_puzzle
    spec, solution = (unique9, None) if n == 9 else generate_puzzle("sudoku", n, seed=5)
    shot = render_puzzle(spec, seed=3, photo=n == 4)
    loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    lat = loc.lattice
    horiz, vert = G._grid_line_masks(loc.warped, G.WARP_MARGIN)
    dark = G.darkness(loc.warped)
    rng = np.random.default_rng(n)
    # Also lines off the grid, at the image edge, and reversed segment bounds.
    for rows_y, cols_x, tol in ((lat.rows_y, lat.cols_x, 0.2 * (lat.rows_y[-1] - lat.rows_y[0]) / n),
                                (np.r_[0.0, lat.rows_y[1:-1], 575.0], lat.cols_x, 9.0),
                                (np.sort(rng.uniform(0, 576, n + 1)), rng.uniform(0, 576, n + 1), 7.3)):
        for m, d, g, acr in ((horiz, dark, rows_y, cols_x), (vert.T, dark.T, cols_x, rows_y)):
            got = G._local_lines(m, d, np.asarray(g), np.asarray(acr), tol)
            ref = _local_lines_reference(np.ascontiguousarray(m), np.ascontiguousarray(d), np.asarray(g),
                                         np.asarray(acr), tol)
            assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def test_best_rotation_shortcut_changes_nothing(unique9, clean9):
    from dataclasses import replace as dc_replace
    from vlm_puzzle.check.stage import TURN_MARGIN_REJECTED
    from vlm_puzzle.vision import GridReader
    reader = GridReader()
    clf = reader.classifier
    state = reader.read(clean9, variants=False)
    calls = []

    class Spy:
        labels = clf.labels
        size = clf.size

        def predict(self, p):
            calls.append(len(p))
            return clf.predict(p)
    reader.classifier = Spy()
    # A confident upright reading: no turn can win, the network is not asked again.
    assert reader.best_turn(state, 0.2) == 0 and not calls
    # An upside-down grid still turns once the solver has rejected the reading as it
    # lies (the shipped network reads this render's upside-down digits at -2.5 nats in
    # all, inside the 0.2-nats-a-cell margin of an unchecked reading).
    patches = np.stack([np.rot90(p, 2) for p in state.reading.patches])
    turned = dc_replace(state.reading, patches=patches, symbols=reader._classify(patches))
    assert reader.best_turn(dc_replace(state, reading=turned), TURN_MARGIN_REJECTED) == 2 and calls


def _best_lattice_1d_reference(profile, peaks, span_min, sizes):
    """_best_lattice_1d as it was before it skipped candidates that cannot win."""
    from bisect import bisect_left, bisect_right
    pk = [float(p) for p in peaks]
    st = [float(profile[p]) for p in peaks]
    strong = [j for j, v in enumerate(st) if v >= 0.5]
    best = None
    for i, a in enumerate(pk):
        for b in pk[i + 1:]:
            span = b - a
            if span < span_min:
                continue
            for n in sizes:
                step = span / n
                if step < 12:
                    continue
                tol = max(3.0, 0.2 * step)
                support, used = [], set()
                for k in range(n + 1):
                    pos = a + k * step
                    j0, j1 = bisect_left(pk, pos - tol), bisect_right(pk, pos + tol)
                    if j0 >= j1:
                        break
                    j = max(range(j0, j1), key=st.__getitem__)
                    if st[j] < 0.35:
                        break
                    support.append(st[j])
                    used.add(j)
                if len(support) < n + 1:
                    continue
                if any(j not in used and a + tol < pk[j] < b - tol for j in strong):
                    continue
                mean = sum(support) / len(support)
                key = (n, round(span / 8), mean)
                if best is None or key > best[0]:
                    best = (key, n, a, b, mean)
    return None if best is None else (best[1], best[2], best[3], best[4])


def test_best_lattice_pruning_matches_the_reference():
    from vlm_puzzle.vision.lattice import GRID_SIZES, _best_lattice_1d, _profile_peaks
    rng = np.random.default_rng(1)
    found = 0
    for trial in range(150):
        n = int(rng.choice(GRID_SIZES))
        prof = rng.uniform(0, 0.3, 576)
        a, step = rng.uniform(10, 60), rng.uniform(420, 520) / n
        for k in range(n + 1):
            if rng.random() < 0.93:       # sometimes a line is missing
                c = int(a + k * step + rng.normal(0, 1))
                prof[c - 1:c + 2] = rng.uniform(0.3, 1.0)
        for _ in range(rng.integers(0, 6)):   # stray rules and text
            c = rng.integers(1, 575)
            prof[c - 1:c + 2] = rng.uniform(0.2, 1.0)
        if trial % 3 == 0:                    # exact ties of strength
            prof = np.round(prof, 1)
        peaks = _profile_peaks(prof, 0.25, 6)
        for sizes in (GRID_SIZES, (n,), (3, 9)):
            ref = _best_lattice_1d_reference(prof, peaks, 0.6 * 528, sizes)
            assert _best_lattice_1d(prof, peaks, 0.6 * 528, sizes) == ref
            found += ref is not None and sizes == GRID_SIZES
    assert found >= 40               # the profiles do hold lattices


def test_profile_peaks_and_counts_match_the_reference():
    from vlm_puzzle.vision.lattice import _ink_count, _profile_peaks
    rng = np.random.default_rng(2)
    for trial in range(200):
        prof = np.round(rng.uniform(0, 1, int(rng.integers(1, 600))), int(rng.integers(1, 4)))
        p = np.convolve(prof, np.ones(3) / 3, mode="same")
        idx = [i for i in range(1, len(p) - 1) if p[i] >= 0.25 and p[i] >= p[i - 1] and p[i] > p[i + 1]]
        idx.sort(key=lambda i: -p[i])
        kept = []
        for i in idx:
            if all(abs(i - k) >= 6 for k in kept):
                kept.append(i)
        assert _profile_peaks(prof, 0.25, 6).tolist() == sorted(kept)
        mask = (rng.random((int(rng.integers(1, 80)), int(rng.integers(1, 80)))) < 0.3).astype(np.uint8) * 255
        for axis in (0, 1):
            assert np.array_equal(_ink_count(mask, axis), (mask > 0).sum(axis=axis))


# ---- x-sudoku diagonals drawn as lines ------------------------------------------------

@pytest.mark.parametrize("seed", [33, 34])
def test_drawn_diagonals_are_not_read_as_digits(seed):
    # Photos of x-sudokus whose diagonals are drawn as lines: the line lies a pixel
    # or two off the cells' corners and is blurred wide; where it crosses an empty
    # cell it must be erased whole, not left as a faint "7" or "1" (the erasure
    # used to assume a thin line through the corners and misread 2 cells here).
    from dataclasses import replace as dc_replace
    from vlm_puzzle.pipeline import read_state
    from vlm_puzzle.render.generate import generate_puzzle
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import Style
    spec, _ = generate_puzzle("x-sudoku", 9, seed=seed)
    style = Style(font="DejaVuSans", clue_font="DejaVuSans", diagonal="line")
    shot = render_puzzle(spec, seed=seed, style=style, photo=True, size_px=700)
    st = read_state(np.ascontiguousarray(shot.image[..., ::-1]))
    assert st.variants.marks.diagonal_style == "line"
    assert np.array_equal(st.raw_givens, np.array(spec.givens))


def test_diagonal_erasure_keeps_a_digit_the_line_runs_along():
    # A digit whose strokes run along the line (an 8's flanks along "/") is dimmed
    # where it overlaps the line, not cut: it still reads as itself.
    from vlm_puzzle.render.generate import generate_puzzle
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import Style
    from vlm_puzzle.vision.cells import erase_diagonal, locate_diagonal
    from vlm_puzzle.vision import GridReader
    spec, _ = generate_puzzle("x-sudoku", 9, seed=33)
    givens = np.array(spec.givens)
    shot = render_puzzle(spec, seed=33, style=Style(font="DejaVuSerif", clue_font="DejaVuSerif",
                                                     diagonal="line"), size_px=700)
    loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    reader = GridReader()
    clf = reader.classifier
    reading = reader._read(loc)
    n = 9
    for r in range(n):
        for c, anti in ((r, False), (n - 1 - r, True)):
            patch = reading.patches[r * n + c]
            assert locate_diagonal(patch, anti) is not None      # the line is found in every cell
            if givens[r, c] == 0 or (n % 2 and r == n // 2):
                continue
            probs = clf.predict(erase_diagonal(patch, anti)[None])[0]
            assert clf.labels[int(np.argmax(probs))] == str(givens[r, c]), (r, c)


def test_uneven_lattices_are_not_taken_at_once(unique9, clean9):
    # A rectified grid has rows and columns of about one width; a lattice made of a
    # page's side rules and a killer's dashed cage lines has uneven ones (0.63) and
    # gives way to an evenly spaced lattice on another outline.
    from types import SimpleNamespace
    from vlm_puzzle.vision.lattice import REGULAR_SPACING, regular_spacing
    lat = locate_grid(clean9).lattice
    assert regular_spacing(lat)
    uneven = SimpleNamespace(rows_y=lat.rows_y, cols_x=np.array([24., 73, 104, 143, 187, 227, 267, 308, 352,
                                                                 394, 436, 477, 514]))
    assert 31 / 49 < REGULAR_SPACING and not regular_spacing(uneven)
