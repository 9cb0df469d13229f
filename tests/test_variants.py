"""The variant reader on rendered puzzles: borders, cages, clues, marks, and bad input.

Images come from the project's renderer (DejaVu fonts, present everywhere) and go
through the real grid finder; the digit reader is not involved (true givens), so
these tests measure the variant reading itself.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.render.rendered import render_puzzle
from vlm_puzzle.render.style import Style
from vlm_puzzle.check import infer_rules
from vlm_puzzle.solver import solve
from vlm_puzzle.spec import PuzzleSpec
from vlm_puzzle.vision import borders as B
from vlm_puzzle.vision.regions import thick_regions
from vlm_puzzle.vision.clues import parse_clue
from vlm_puzzle.verdict import GivensVerdict
from vlm_puzzle.vision import CellReading, GridGeometry, GridState
from vlm_puzzle.vision.grid import locate_grid
from vlm_puzzle.vision.variants import read_variants, read_variants_image

STYLE = Style(font="DejaVuSans", clue_font="DejaVuSans")


# ---- helpers (also used by test_rules_geometry) --------------------------------------------

def rendered_state(spec: PuzzleSpec, seed: int, style: Style | None = STYLE, photo: bool = False):
    """Render ``spec``, locate the grid with the real grid finder; a state with the
    true givens read for sure (perception's state, minus the digit network), no verdict."""
    shot = render_puzzle(spec, seed=seed, style=style, photo=photo, size_px=700)
    loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    lat = loc.lattice
    assert lat.size == spec.size, f"grid finder saw {lat.size}x{lat.size}"
    return GridState(geometry=GridGeometry.of(loc), reading=CellReading.certain(spec.givens))


def with_verdict(st: GridState, kind: str | None, status: str, solver_status: str | None, repairs=()) -> GridState:
    """``st`` as the checking stage left it: its givens checked under ``kind``'s rules."""
    return replace(st, verdict=GivensVerdict(kind, st.reading.givens, status, solver_status, tuple(repairs)))


def with_probs(st: GridState, probs: np.ndarray) -> GridState:
    """``st`` with the reader's value probabilities ``probs``."""
    return replace(st, reading=replace(st.reading, probs=probs))


def partition(labels) -> set:
    groups: dict[int, set] = {}
    for r, row in enumerate(labels):
        for c, v in enumerate(row):
            groups.setdefault(int(v), set()).add((r, c))
    return {frozenset(g) for g in groups.values()}


def cage_set(spec) -> set:
    return {(frozenset(c.cells), c.op, c.target) for c in spec.cages}


def truth_edges(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertical, horizontal) booleans: where two neighbours have different labels."""
    labels = np.asarray(labels)
    return labels[:, :-1] != labels[:, 1:], labels[:-1, :] != labels[1:, :]


def cage_labels(spec) -> np.ndarray:
    lab = np.zeros((spec.size, spec.size), int)
    for i, cage in enumerate(spec.cages):
        for r, c in cage.cells:
            lab[r, c] = i
    return lab


# ---- borders -------------------------------------------------------------------------------

def test_border_classifier_finds_jigsaw_edges():
    spec, _ = generate_puzzle("jigsaw", 9, seed=21)
    st = rendered_state(spec, seed=21)
    edges = B.classify_edges(st.warped, st.geometry.cols_x, st.geometry.rows_y, None, st.geometry.v_lines, st.geometry.h_lines)
    want_v, want_h = truth_edges(spec.regions)
    assert np.array_equal(edges.vertical == B.THICK, want_v)
    assert np.array_equal(edges.horizontal == B.THICK, want_h)
    assert edges.n_dashed == 0
    assert edges.contrast > 2.0
    assert partition(thick_regions(edges)) == partition(spec.regions)


def test_border_classifier_finds_killer_dashes():
    spec, _ = generate_puzzle("killer", 6, seed=3)
    st = rendered_state(spec, seed=3)
    edges = B.classify_edges(st.warped, st.geometry.cols_x, st.geometry.rows_y, None, st.geometry.v_lines, st.geometry.h_lines)
    want_v, want_h = truth_edges(cage_labels(spec))
    assert np.array_equal(edges.dashed_v, want_v)
    assert np.array_equal(edges.dashed_h, want_h)
    assert edges.kind(*next((((r, c), (r, c + 1)) for r in range(6) for c in range(5) if want_v[r, c]))) == "dashed"


def test_edges_of_a_plain_grid_are_thin():
    spec = PuzzleSpec.sudoku([[0] * 4 for _ in range(4)])
    st = rendered_state(spec, seed=1, style=replace(STYLE, thick=STYLE.thin))
    edges = B.classify_edges(st.warped, st.geometry.cols_x, st.geometry.rows_y)
    assert edges.n_thick == 0 and edges.n_dashed == 0 and edges.contrast == 1.0


# ---- clues -----------------------------------------------------------------------------------

def test_clue_reader_reads_kenken_clues_with_operators():
    spec, _ = generate_puzzle("kenken", 6, seed=8)
    st = rendered_state(spec, seed=8)
    v = read_variants(st.geometry)
    assert v.cage_style == "thick"
    got = {k.cells: (k.clue.op, k.clue.target) for k in v.cages}
    for cage in spec.cages:
        op = cage.op if len(cage.cells) > 1 else None
        assert got[tuple(sorted(cage.cells))] == (op, cage.target), cage
    assert min(v.clue_confidence) > 0.5


def test_clue_reader_ascii_operators():
    spec, _ = generate_puzzle("kenken", 5, seed=9)
    st = rendered_state(spec, seed=9, style=replace(STYLE, ascii_ops=True))
    v = read_variants(st.geometry)
    assert {(frozenset(k.cells), k.clue.target) for k in v.cages} == \
        {(frozenset(c.cells), c.target) for c in spec.cages}


@pytest.mark.parametrize("chars,op,target,ok", [
    (list("12+"), "add", 12, True),
    (list("3-"), "sub", 3, True),
    (list("60x"), "mul", 60, True),
    (list("2÷"), "div", 2, True),
    (list("17"), None, 17, True),
    (list("1+2"), "add", 12, False),      # operator in the middle
    (list("+-"), "add", None, False),     # no digits
    (list("12345"), None, 12345, False),  # more than 4 digits
])
def test_parse_clue(chars, op, target, ok):
    clue = parse_clue(chars, [0.99] * len(chars))
    assert clue.op == op and clue.target == target
    assert (clue.confidence > 0.9) is ok


# ---- whole puzzles: image -> spec -> solved ---------------------------------------------------

@pytest.mark.parametrize("kind,size,seed,style", [
    ("sudoku", 9, 31, STYLE),
    ("x-sudoku", 9, 32, replace(STYLE, diagonal="line")),
    ("x-sudoku", 9, 33, replace(STYLE, diagonal="shade")),
    ("windoku", 9, 34, STYLE),
    ("jigsaw", 6, 35, STYLE),
    ("killer", 6, 36, STYLE),
    ("kenken", 4, 37, STYLE),
    ("kenken", 7, 38, replace(STYLE, font="DejaVuSerif", clue_font="DejaVuSerif")),
])
def test_rendered_puzzle_to_spec_and_solution(kind, size, seed, style):
    spec, solution = generate_puzzle(kind, size, seed=seed)
    st = rendered_state(spec, seed=seed, style=style)
    hints, got = infer_rules(st)
    assert hints.kind == kind, hints.evidence
    assert got is not None, hints.evidence
    assert got.box == spec.box and got.diagonals == spec.diagonals
    assert sorted(got.windows) == sorted(spec.windows)
    assert cage_set(got) == cage_set(spec)
    if spec.regions is not None:
        assert partition(got.regions) == partition(spec.regions)
    out = solve(got, timeout_s=20)
    assert out.status == "solved" and [list(r) for r in out.solution] == [list(r) for r in solution]


@pytest.mark.parametrize("kind,seed", [("windoku", 41), ("jigsaw", 42)])
def test_photo_mode(kind, seed):
    spec, _ = generate_puzzle(kind, 9, seed=seed)
    st = rendered_state(spec, seed=seed, photo=True)
    hints, got = infer_rules(st)
    assert hints.kind == kind, hints.evidence
    assert got is not None
    if kind == "jigsaw":
        assert partition(got.regions) == partition(spec.regions)
    else:
        assert got.windows == spec.windows


# ---- marks -------------------------------------------------------------------------------------

@pytest.mark.parametrize("photo", [False, True])
def test_faint_diagonal_shading_is_read(photo):
    # Shading ~3 % darker than the paper: below MIN_SHADE, but the same on every cell.
    spec, _ = generate_puzzle("x-sudoku", 9, seed=43)
    style = replace(STYLE, paper=(240, 240, 240), shade=(232, 232, 232), diagonal="shade")
    st = rendered_state(spec, seed=43, style=style, photo=photo)
    v = read_variants(st.geometry)
    assert v.diagonals and v.marks.diagonal_style == "shade", v.marks
    assert not v.windows


def test_consistent_shade_score_separates_faint_shading_from_lighting():
    from vlm_puzzle.vision.marks import SHADE_FLOOR, consistent_shade_score, diagonal_cells
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:9, 0:9]
    light = 200 * (1 - 0.04 * xx / 8 - 0.03 * yy / 8)         # a lighting gradient across the page
    diag = diagonal_cells(9)
    for trial in range(20):
        noise = rng.normal(0, 0.02, (9, 9))                    # paper texture, uneven light
        unmarked = light * (1 + noise)
        assert consistent_shade_score(unmarked, diag) < 1.0
        shaded = light * (1 + rng.normal(0, 0.003, (9, 9))) * np.where(diag, 1 - 1.5 * SHADE_FLOOR, 1.0)
        assert consistent_shade_score(shaded, diag) > 1.0
    # Lighter-than-paper "shading" is no mark; neither is a blank pattern.
    assert consistent_shade_score(light * np.where(diag, 1.05, 1.0), diag) == 0.0
    assert consistent_shade_score(light, np.zeros((9, 9), bool)) == 0.0


# ---- bad input ---------------------------------------------------------------------------------

def test_blank_image_reads_as_nothing():
    blank = np.full((300, 300), 235, np.uint8)
    xs = np.linspace(10, 290, 10)
    v = read_variants_image(blank, xs, xs)
    assert v.cage_style is None and v.regions is None and not v.diagonals and not v.windows
    assert v.edges.n_thick == 0


def test_mismatched_line_positions_are_refused():
    with pytest.raises(ValueError, match="line positions"):
        B.classify_edges(np.zeros((100, 100), np.uint8), np.linspace(0, 99, 5), np.linspace(0, 99, 6))




def test_3x3_kenken_of_three_3_cell_cages_is_not_taken_for_regions():
    """Thick lines of a 3x3 grid enclosing 3 groups of 3 cells are KenKen cages: no sudoku or jigsaw is that
    small, so they are not regions (and their clues are read)."""
    from vlm_puzzle import PuzzleSolver
    from vlm_puzzle.spec import Cage
    solution = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
    cages = [Cage(cells=((0, 0), (0, 1), (1, 0)), target=5, op="add"),
             Cage(cells=((0, 2), (1, 1), (1, 2)), target=9, op="mul"),
             Cage(cells=((2, 0), (2, 1), (2, 2)), target=6, op="add")]
    spec = PuzzleSpec.kenken(3, cages)
    shot = render_puzzle(spec, seed=3, style=STYLE, size_px=700)
    result = PuzzleSolver(backend="geometry").solve_image(shot.image)
    assert result.kind == "kenken" and result.status == "solved"
    assert [list(r) for r in result.solution] == solution
