"""Killer and KenKen puzzles drawn like the renderer's, without its uniqueness search (seconds to
minutes for a killer): for training data, where clue text and cage shapes matter and the number of
solutions does not, and as the start of the benchmark's killers (``vlm_puzzle.eval.puzzles``)."""
from __future__ import annotations

import numpy as np

from vlm_puzzle.render.generate import KENKEN_CAGE_SIZES, KILLER_CAGE_SIZES, _caged_spec, make_cage
from vlm_puzzle.render.regions import random_cages
from vlm_puzzle.render.uniqueness import latin_groups, random_solution
from vlm_puzzle.spec import PuzzleSpec


def quick_caged_puzzle(kind: str, n: int, seed: int, givens: float = 0.0):
    """A ``kind`` ("killer" or "kenken") (spec, solution) of side ``n``, seeded. ``givens``: the share of
    killer cells whose solution digit is printed."""
    rng = np.random.default_rng(seed)
    groups = PuzzleSpec.sudoku([[0] * n] * n).groups if kind == "killer" else latin_groups(n)
    solution = random_solution(n, groups, rng)
    weights = KILLER_CAGE_SIZES if kind == "killer" else KENKEN_CAGE_SIZES
    cages = [make_cage(kind, c, solution, rng)
             for c in random_cages(solution, rng, size_weights=weights, distinct=kind == "killer")]
    shown = [[int(solution[r][c]) if givens and rng.random() < givens else 0 for c in range(n)]
             for r in range(n)]
    return _caged_spec(kind, n, cages, shown), solution
