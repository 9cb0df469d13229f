"""Evaluation helpers (vlm_puzzle.eval) and the font split (render/heldout.py) on the shipped data."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vlm_puzzle.eval.score import canonical, solution_right, verdict
from vlm_puzzle.eval.truth import load_truth
from vlm_puzzle.render.fonts import font_family
from vlm_puzzle.render.heldout import DEV_FAMILIES, HELD_OUT_FAMILIES, KINDS, SIZES, TRAIN_FAMILIES, held_out_fonts
from vlm_puzzle.solver import solve
from vlm_puzzle.spec import KINDS as SPEC_KINDS

DATA = Path(__file__).resolve().parents[1] / "data"


def test_render_truth_carries_corners_and_is_scored_by_its_solution():
    truth = load_truth(str(DATA / "samples" / "killer9_2024.png"))
    assert truth.kind == "killer" and truth.size == 9 and truth.solution is not None
    assert len(truth.corners) == 4 and all(len(p) == 2 for p in truth.corners)
    assert solution_right(truth.solution, truth)
    wrong = [row[:] for row in truth.solution]
    wrong[0][0], wrong[0][1] = wrong[0][1], wrong[0][0]
    assert not solution_right(wrong, truth)
    # 'Read entirely right' ignores the order of the cages, not their clues.
    spec = truth.spec
    assert canonical(replace(spec, cages=tuple(reversed(spec.cages)))) == canonical(spec)
    cage = replace(spec.cages[0], target=spec.cages[0].target + 1)
    assert canonical(replace(spec, cages=(cage,) + tuple(spec.cages[1:]))) != canonical(spec)


def test_photo_truth_without_solution_is_judged_by_the_rules():
    truth = load_truth(str(DATA / "photos" / "image143.jpg"))
    assert truth.solution is None and truth.corners is None and truth.kind == "sudoku"
    from vlm_puzzle.spec import PuzzleSpec
    solution = solve(PuzzleSpec.sudoku(truth.givens)).solution
    assert solution_right(solution, truth)
    swapped = [row[:] for row in solution]
    swapped[0][0], swapped[0][1] = swapped[0][1], swapped[0][0]
    assert not solution_right(swapped, truth)
    assert not solution_right([[1, 2], [2, 1]], truth)


def test_verdict_of_a_pipeline_result():
    from vlm_puzzle.pipeline import PuzzleSolver
    image = DATA / "samples" / "sudoku9_2024.png"
    truth = load_truth(str(image))
    v = verdict(PuzzleSolver("geometry").solve_image(str(image)), truth)
    assert v == {"solved_right": True, "givens_right": True, "cells_right": 81, "cells": 81,
                 "size_right": True, "kind_right": True, "grid_found": True}


def test_font_split_and_benchmark_kinds():
    assert not set(TRAIN_FAMILIES) & set(HELD_OUT_FAMILIES)
    assert not set(DEV_FAMILIES) & (set(TRAIN_FAMILIES) | set(HELD_OUT_FAMILIES))
    fonts = held_out_fonts()
    assert "builtin" in fonts  # Pillow's own font: present everywhere
    assert {font_family(f) for f in fonts} <= set(HELD_OUT_FAMILIES)
    assert set(KINDS) == set(SPEC_KINDS) and set(SIZES) == set(KINDS)
