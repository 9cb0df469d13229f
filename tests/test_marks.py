"""Window (windoku) shading scores: faint but uniform shading stays near the bar."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.check import infer_rules
from vlm_puzzle.rules.geometry import MARK_DOUBT
from vlm_puzzle.vision.marks import MIN_SHADE, WINDOW_MIN, pattern_score, window_cells, window_shade_score
from vlm_puzzle.vision.variants import read_variants

from test_variants import STYLE, rendered_state

WINDOWS = window_cells(9)


def test_uniform_shading_just_under_the_bar_scores_just_under_it():
    # Every window pair ~1.7 % darker: under MIN_SHADE / 2, so no pair "agrees" and
    # pattern_score drops to 0; the window score must stay near the bar (doubt band).
    for paper, shade in ((231, 227), (240, 236), (200, 197)):
        cells = np.where(WINDOWS, float(shade), float(paper))
        assert 1 - shade / paper < MIN_SHADE / 2
        assert pattern_score(cells, WINDOWS) == 0.0
        score = window_shade_score(cells, WINDOWS)
        assert MARK_DOUBT[0] * WINDOW_MIN < score < WINDOW_MIN
    # Clearly shaded windows: the same score as before.
    cells = np.where(WINDOWS, 215.0, 240.0)
    assert window_shade_score(cells, WINDOWS) == pattern_score(cells, WINDOWS) > WINDOW_MIN


def test_window_score_ignores_lighting_and_light_windows():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:9, 0:9]
    light = 200 * (1 - 0.04 * xx / 8 - 0.03 * yy / 8)
    for _ in range(20):
        unmarked = light * (1 + rng.normal(0, 0.02, (9, 9)))
        assert window_shade_score(unmarked, WINDOWS) < WINDOW_MIN
    assert window_shade_score(light * np.where(WINDOWS, 1.05, 1.0), WINDOWS) <= 0.0
    assert window_shade_score(light, WINDOWS) == 0.0
    assert window_shade_score(light[:6, :6], window_cells(6)) == 0.0


def test_faint_windows_are_in_doubt_and_the_givens_decide():
    # Windows 4 grey levels darker than the paper (like held-out renders with pale
    # shading): read in doubt, not as absent, so the unique windoku wins.
    spec, _ = generate_puzzle("windoku", 9, seed=44)
    style = replace(STYLE, paper=(231, 231, 231), shade=(227, 227, 227))
    st = rendered_state(spec, seed=44, style=style)
    v = read_variants(st.geometry)
    assert v.marks.window_score > MARK_DOUBT[0] * WINDOW_MIN, v.marks
    hints, got = infer_rules(st, v)
    assert hints.kind == "windoku", hints.evidence
    assert got is not None and sorted(got.windows) == sorted(spec.windows)


def test_plain_sudoku_on_tinted_paper_has_no_windows():
    spec, _ = generate_puzzle("sudoku", 9, seed=45)
    style = replace(STYLE, paper=(231, 231, 231), shade=(227, 227, 227))
    st = rendered_state(spec, seed=45, style=style)
    v = read_variants(st.geometry)
    assert v.marks.window_score < MARK_DOUBT[0] * WINDOW_MIN, v.marks
    hints, _ = infer_rules(st, v)
    assert hints.kind == "sudoku", hints.evidence
