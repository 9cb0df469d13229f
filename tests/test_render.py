"""Generator and renderer: unique puzzles of every kind, exact ground truth, determinism.

Real parts throughout: the project's solver checks uniqueness, OpenCV/Pillow draw.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from vlm_puzzle.errors import PuzzleError
from vlm_puzzle.render import available_fonts, render_samples
from vlm_puzzle.render.draw import cage_label
from vlm_puzzle.render.fonts import FontError
from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.render.regions import is_connected, random_regions
from vlm_puzzle.render.rendered import render_puzzle, save_rendered
from vlm_puzzle.render.style import Style
from vlm_puzzle.render.uniqueness import check_solution, count_solutions
from vlm_puzzle.solver import solve
from vlm_puzzle.spec import Cage, PuzzleSpec, SpecError

# Small sizes keep the suite fast; every kind and its specific rules are covered.
CASES = [("sudoku", 4), ("sudoku", 6), ("sudoku", 9), ("x-sudoku", 9), ("windoku", 9),
         ("jigsaw", 6), ("jigsaw", 9), ("killer", 6), ("kenken", 4), ("kenken", 6)]


@pytest.fixture(scope="module")
def puzzles():
    return {case: generate_puzzle(*case, seed=7) for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}{c[1]}")
def test_generated_puzzle_is_unique_valid_and_round_trips(puzzles, case):
    spec, solution = puzzles[case]
    kind, size = case
    assert spec.kind == kind and spec.size == size
    assert PuzzleSpec.from_dict(json.loads(spec.to_json())) == spec
    assert check_solution(spec, solution) == []
    out = solve(spec, unique=True, timeout_s=30)
    assert out.status == "solved"
    assert [list(r) for r in out.solution] == solution


@pytest.mark.parametrize("case", [("sudoku", 4), ("sudoku", 6), ("jigsaw", 6), ("kenken", 4)],
                         ids=lambda c: f"{c[0]}{c[1]}")
def test_independent_counter_agrees(puzzles, case):
    # The exact-cover counter shares no code with the CSP solver.
    spec, solution = puzzles[case]
    count = count_solutions(spec, limit=2)
    assert count.unique and [list(r) for r in count.solutions[0]] == solution
    fewer = [list(r) for r in spec.givens]
    if spec.n_givens:
        r, c = next((r, c) for r in range(spec.size) for c in range(spec.size) if fewer[r][c])
        fewer[r][c] = 0
        fewer[spec.size - 1 - r][spec.size - 1 - c] = 0
        assert len(count_solutions(spec.with_givens(fewer), limit=2).solutions) == 2


def test_kind_features(puzzles):
    assert puzzles[("x-sudoku", 9)][0].diagonals
    assert len(puzzles[("windoku", 9)][0].windows) == 4
    jig = puzzles[("jigsaw", 9)][0]
    box_shaped = PuzzleSpec.sudoku([[0] * 9] * 9).box_groups()
    assert sorted(map(sorted, jig.box_groups())) != sorted(map(sorted, box_shaped))
    killer = puzzles[("killer", 6)][0]
    assert all(c.op == "sum" and 1 <= len(c.cells) <= 5 for c in killer.cages)
    kenken = puzzles[("kenken", 6)][0]
    assert kenken.n_givens == 0
    assert {c.op for c in kenken.cages} <= {"add", "sub", "mul", "div", None}


def test_dug_sudoku_is_minimal():
    spec, _ = generate_puzzle("sudoku", 6, seed=7, symmetric=False)
    for r, row in enumerate(spec.givens):
        for c, v in enumerate(row):
            if v:
                fewer = [list(x) for x in spec.givens]
                fewer[r][c] = 0
                assert solve(spec.with_givens(fewer), unique=True, timeout_s=30).status == "multiple"


def test_givens_target_is_respected():
    spec, solution = generate_puzzle("sudoku", 9, seed=3, givens=40)
    assert spec.n_givens == 40
    assert check_solution(spec, solution) == []


def test_generation_is_deterministic():
    a = generate_puzzle("kenken", 5, seed=11)
    b = generate_puzzle("kenken", 5, seed=11)
    c = generate_puzzle("kenken", 5, seed=12)
    assert a == b
    assert a != c


def test_bad_kind_or_size_is_refused():
    with pytest.raises(SpecError, match="unknown kind 'hexdoku'"):
        generate_puzzle("hexdoku", seed=0)
    with pytest.raises(SpecError, match="7x7 windoku"):
        generate_puzzle("windoku", 7, seed=0)


def test_random_regions_are_connected_and_sized():
    for n, seed in ((5, 0), (7, 1), (9, 2)):
        regions = random_regions(n, np.random.default_rng(seed))
        cells = {}
        for r, row in enumerate(regions):
            for c, rid in enumerate(row):
                cells.setdefault(rid, []).append((r, c))
        assert sorted(cells) == list(range(n))
        assert all(len(v) == n and is_connected(v) for v in cells.values())


# ---- rendering -----------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}{c[1]}")
@pytest.mark.parametrize("photo", [False, True], ids=["clean", "photo"])
def test_render_size_and_corners(puzzles, case, photo):
    spec, solution = puzzles[case]
    size = (360, 300) if photo else 300
    r = render_puzzle(spec, seed=5, photo=photo, size_px=size, solution=solution)
    w, h = (size, size) if isinstance(size, int) else size
    assert r.image.shape == (h, w, 3) and r.image.dtype == np.uint8
    corners = r.corners
    assert corners.shape == (4, 2)
    assert np.all(corners >= 0) and np.all(corners[:, 0] < w) and np.all(corners[:, 1] < h)
    lattice = np.asarray(r.truth["lattice"])
    assert lattice.shape == (spec.size + 1, spec.size + 1, 2)
    np.testing.assert_allclose(lattice[[0, 0, -1, -1], [0, -1, -1, 0]], corners, atol=0.05)
    assert r.truth["solution"] == solution
    assert PuzzleSpec.from_dict(r.truth["spec"]) == spec
    # TL, TR, BR, BL go clockwise (positive area in image coordinates, y down).
    x, y = corners[:, 0], corners[:, 1]
    assert 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0


def _dark_near(img: np.ndarray, pt, radius: int = 3) -> float:
    x, y = int(round(pt[0])), int(round(pt[1]))
    patch = img[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1].mean(axis=2)
    return float(patch.min())


@pytest.mark.parametrize("photo", [False, True])
def test_ground_truth_points_lie_on_grid_lines(puzzles, photo):
    spec, _ = puzzles[("sudoku", 9)]
    r = render_puzzle(spec, seed=2, photo=photo, size_px=500, style=Style(thin=0.03, thick=0.09))
    lattice = np.asarray(r.truth["lattice"])
    centres = (lattice[:-1, :-1] + lattice[1:, 1:]) / 2
    empty = [centres[i, j] for i in range(9) for j in range(9) if spec.givens[i][j] == 0]
    paper = np.median([r.image[int(p[1]), int(p[0])].mean() for p in empty])
    # Every line crossing is drawn dark; the cell centres next to them are paper.
    darkness = [_dark_near(r.image, p) for p in lattice.reshape(-1, 2)]
    assert max(darkness) < 0.6 * paper


def test_render_is_deterministic_and_seed_dependent(puzzles):
    spec, sol = puzzles[("killer", 6)]
    for photo in (False, True):
        a = render_puzzle(spec, seed=9, photo=photo, size_px=256, solution=sol)
        b = render_puzzle(spec, seed=9, photo=photo, size_px=256, solution=sol)
        c = render_puzzle(spec, seed=10, photo=photo, size_px=256, solution=sol)
        assert a.image.tobytes() == b.image.tobytes() and a.truth == b.truth
        assert a.image.tobytes() != c.image.tobytes()


def test_styles_fonts_and_handwriting_render(puzzles, tmp_path):
    spec, _ = puzzles[("sudoku", 9)]
    fonts = available_fonts()
    assert "builtin" in fonts and "DejaVuSans" in fonts
    plain = render_puzzle(spec, seed=1, size_px=300, style=Style(font="builtin")).image
    by_path = render_puzzle(spec, seed=1, size_px=300, style=Style(font=fonts["DejaVuSans"])).image
    by_name = render_puzzle(spec, seed=1, size_px=300, style=Style(font="DejaVuSans")).image
    hand = render_puzzle(spec, seed=1, size_px=300, style=Style(font="DejaVuSans", handwritten=True)).image
    assert by_path.tobytes() == by_name.tobytes()
    assert plain.tobytes() != by_name.tobytes() and hand.tobytes() != by_name.tobytes()
    with pytest.raises(FontError, match="no-such-font"):
        render_puzzle(spec, seed=1, size_px=300, style=Style(font="no-such-font"))


def test_cage_labels():
    unicode_style, ascii_style = Style(font="DejaVuSans"), Style(font="DejaVuSans", ascii_ops=True)
    cells = ((0, 0), (0, 1))
    assert cage_label(Cage(cells, "add", 12, False), unicode_style) == "12+"
    assert cage_label(Cage(cells, "sub", 3, False), unicode_style) == "3\u2212"
    assert cage_label(Cage(cells, "mul", 60, False), unicode_style) == "60\u00d7"
    assert cage_label(Cage(cells, "div", 2, False), unicode_style) == "2\u00f7"
    assert cage_label(Cage(cells, "div", 2, False), ascii_style) == "2/"
    assert cage_label(Cage(((0, 0),), None, 4, False), unicode_style) == "4"
    assert cage_label(Cage(cells, "sum", 17), unicode_style) == "17"


def test_bad_render_size_is_refused(puzzles):
    with pytest.raises(PuzzleError, match="outside 64..4096"):
        render_puzzle(puzzles[("sudoku", 4)][0], seed=0, size_px=10)


def test_save_and_samples_round_trip(puzzles, tmp_path):
    spec, sol = puzzles[("windoku", 9)]
    img_path, json_path = save_rendered(render_puzzle(spec, seed=0, photo=True, size_px=200, solution=sol),
                                        tmp_path / "w")
    assert img_path.suffix == ".jpg" and img_path.stat().st_size > 1000
    truth = json.loads(json_path.read_text())
    assert PuzzleSpec.from_dict(truth["spec"]) == spec and truth["image"] == "w.jpg"
    paths = render_samples(tmp_path / "s", kinds=["sudoku:4", "kenken:3"], n=2, seed=1, size_px=128)
    assert [p.name for p in paths] == ["sudoku4_1.png", "sudoku4_2.png", "kenken3_1.png", "kenken3_2.png"]
    assert all(p.with_suffix(".json").exists() for p in paths)


# ---- spec.py validation (the lead's module; tested here) ------------------------------------

def test_spec_refuses_region_of_wrong_size():
    regions = [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 2]]
    with pytest.raises(SpecError, match=r"region 2 has 5 cells, not 4"):
        PuzzleSpec.jigsaw([[0] * 4] * 4, regions)


def test_spec_refuses_cage_cell_outside_grid():
    with pytest.raises(SpecError, match=r"cell \(4, 0\) of cage 0 is outside the 4x4 grid"):
        PuzzleSpec.killer([Cage(((3, 0), (4, 0)), "sum", 5)], size=4)


def test_spec_refuses_given_out_of_range():
    givens = [[0] * 4 for _ in range(4)]
    givens[2][1] = 5
    with pytest.raises(SpecError, match=r"given 5 at cell \(2, 1\) is outside 0..4"):
        PuzzleSpec.sudoku(givens)


def test_spec_refuses_overlapping_cages():
    cages = [Cage(((0, 0), (0, 1)), "sum", 3), Cage(((0, 1), (1, 1)), "sum", 4)]
    with pytest.raises(SpecError, match=r"cell \(0, 1\) is in cage 0 and cage 1"):
        PuzzleSpec.killer(cages, size=4)


def test_spec_refuses_kenken_gap():
    with pytest.raises(SpecError, match=r"cell \(0, 2\) is in no cage"):
        PuzzleSpec.kenken(3, [Cage(((0, 0), (0, 1)), "add", 3, False)])
