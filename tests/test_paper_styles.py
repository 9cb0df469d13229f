"""The computer-drawn style family (``render.style.paper_style``): real 1600 px renders read by the
whole pipeline; each test asserts the kind, the cages as read and the solution. One per style the
reader learnt to read here: KenKen with cage lines 2.5-3.5x the cell lines, with cage borders only
(no cell lines), with cage lines only 1.5-2x the cell lines, and a killer whose cages are solid borders."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vlm_puzzle.eval.puzzles import make_puzzle
from vlm_puzzle.eval.score import canonical
from vlm_puzzle.render.fonts import available_fonts
from vlm_puzzle.render.rendered import render_puzzle
from vlm_puzzle.render.style import paper_style

pytestmark = pytest.mark.skipif("DejaVuSans" not in available_fonts(), reason="needs the DejaVu fonts")


@pytest.fixture(scope="module")
def solver():
    from vlm_puzzle import PuzzleSolver
    return PuzzleSolver(backend="geometry")


def _solve(solver, kind: str, size: int, variant: str, seed: int, solid: bool = False):
    spec, solution = make_puzzle(kind, size, seed)
    style = paper_style(np.random.default_rng(seed), ["DejaVuSans"], variant)
    if solid:
        style = replace(style, killer_solid=True)
    shot = render_puzzle(spec, seed=seed, style=style, solution=solution, size_px=1600)
    return spec, solution, style, solver.solve_image(np.ascontiguousarray(shot.image[..., ::-1]))


@pytest.mark.parametrize("size, variant, seed", [(6, "bench", 1), (5, "cages", 2), (4, "ratio", 1)],
                         ids=["thick-3x", "cages-only", "ratio-under-2"])
def test_computer_drawn_kenken_is_read_by_ratio_and_clues(solver, size, variant, seed):
    spec, solution, style, res = _solve(solver, "kenken", size, variant, seed)
    assert style.cell_lines == (variant != "cages")
    assert res.status == "solved" and res.kind == "kenken"
    assert canonical(res.spec) == canonical(spec)        # every cage, operator and target
    assert res.solution == solution


def test_killer_with_solid_cage_borders_is_a_killer(solver):
    spec, solution, style, res = _solve(solver, "killer", 9, "bench", 1, solid=True)
    assert style.killer_solid and style.cell_lines
    assert res.status == "solved" and res.kind == "killer"
    assert canonical(res.spec) == canonical(spec)
    assert res.solution == solution


def test_paper_style_family():
    rng = np.random.default_rng(0)
    faint = paper_style(rng, ["DejaVuSans", "DejaVuSerif"], "faint")
    assert faint.font == "DejaVuSans" and faint.thin_px == faint.thick_px and faint.thin_color is not None
    bench = paper_style(rng, ["DejaVuSans"], "bench")
    assert 2.5 <= bench.thick_px / bench.thin_px <= 3.5 and bench.op_glyphs == ("+", "\u2212", "\u00d7", "\u00f7")
    with pytest.raises(ValueError):
        paper_style(rng, ["DejaVuSans"], "nope")


# Styles read since: cage borders alone at sizes whose borders also make a lattice of fewer
# cells (7 -> 5) or none; faint 1.2 px hard-edged lines that a sampled warp loses; cage lines
# only 1.6x cell lines of 1.4 px, told apart on a warp at the picture's own resolution.
@pytest.mark.parametrize("size, variant, seed, over", [
    (4, "cages", 1, {}), (7, "cages", 1, {}), (8, "cages", 1, {}),
    (6, "faint", 1, {"thin_px": 1.2, "thick_px": 1.2, "antialias": False}),
    (7, "ratio", 1, {"thin_px": 1.4, "thick_px": 2.2}),
], ids=["cages-4", "cages-7", "cages-8", "faint-1px", "ratio-1.6"])
def test_thin_and_cage_only_kenken_styles(solver, size, variant, seed, over):
    spec, solution = make_puzzle("kenken", size, seed)
    style = replace(paper_style(np.random.default_rng(seed), ["DejaVuSans"], variant), **over)
    shot = render_puzzle(spec, seed=seed, style=style, solution=solution, size_px=1600)
    res = solver.solve_image(np.ascontiguousarray(shot.image[..., ::-1]))
    assert res.status == "solved" and res.kind == "kenken" and res.size == size
    assert canonical(res.spec) == canonical(spec)
    assert res.solution == solution


# Styles read since (issue 13, wider draws around the benchmark's look): cage borders so heavy in
# a small or hard-edged picture that the edge classifier calls them dashed (as one killer cage, too);
# anti-aliased cage lines only 1.5x cell lines of 2-3 px (1.3x in ink).
@pytest.mark.parametrize("size, variant, seed, over, px", [
    (8, "bench", 8, {"thin_px": 3.9, "thick_px": 12.0, "margin": 0.14, "antialias": False}, 620),
    (9, "bench", 2, {"thin_px": 4.0, "thick_px": 12.5, "margin": 0.2, "antialias": False}, 1160),
    (6, "ratio", 2, {"thin_px": 2.3, "thick_px": 3.4, "margin": 0.025, "antialias": True}, 1561),
], ids=["heavy-read-dashed", "heavy-one-dashed-cage", "ratio-1.5-antialiased"])
def test_heavy_and_close_cage_lines(solver, size, variant, seed, over, px):
    spec, solution = make_puzzle("kenken", size, seed)
    style = replace(paper_style(np.random.default_rng(seed), ["DejaVuSans"], variant), **over)
    shot = render_puzzle(spec, seed=seed, style=style, solution=solution, size_px=px)
    res = solver.solve_image(np.ascontiguousarray(shot.image[..., ::-1]))
    assert res.status == "solved" and res.kind == "kenken" and res.size == size
    assert canonical(res.spec) == canonical(spec)
    assert res.solution == solution


def test_faint_lined_killer_keeps_its_dashed_cages(solver):
    """Faint grey cell lines (contrast under 0.25) beside dark box lines of the same width:
    the lines are seen (they run the whole edge), so the dashed cages are read."""
    spec, solution = make_puzzle("killer", 9, 6)
    style = replace(paper_style(np.random.default_rng(6), ["DejaVuSans"], "faint"), killer_solid=False,
                    thin_px=1.9, thick_px=1.9, thin_color=(205, 205, 205))
    shot = render_puzzle(spec, seed=6, style=style, solution=solution, size_px=1500)
    res = solver.solve_image(np.ascontiguousarray(shot.image[..., ::-1]))
    assert res.status == "solved" and res.kind == "killer"
    assert res.solution == solution
