"""The variant benchmark's puzzles: seeded, each with exactly one solution, as published ones have (the
pipeline's digit repair assumes that)."""
from __future__ import annotations

import numpy as np

from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.render.quick import quick_caged_puzzle
from vlm_puzzle.solver import solve
from vlm_puzzle.spec import PuzzleSpec


def benchmark_case(kind: str, i: int, seed0: int, photo: bool, fonts: list[str]):
    """The variant benchmark's ``i``-th puzzle of ``kind`` from seed block ``seed0``:
    (seed, spec, solution, BGR image (H, W, 3) uint8), drawn in ``fonts``."""
    from vlm_puzzle.render.heldout import KINDS, SIZES
    from vlm_puzzle.render.rendered import render_puzzle
    seed = seed0 + 1000 * KINDS.index(kind) + i
    spec, solution = make_puzzle(kind, SIZES[kind][i % len(SIZES[kind])], seed)
    shot = render_puzzle(spec, seed=seed, photo=photo, fonts=fonts, solution=solution)
    return seed, spec, solution, np.ascontiguousarray(shot.image[..., ::-1])


def make_puzzle(kind: str, size: int, seed: int):
    """(spec, solution) of a puzzle with exactly one solution: from the generator; killer from
    :func:`unique_killer` (the generator's uniqueness search takes minutes per killer)."""
    if kind == "killer":
        return unique_killer(size, seed)
    return generate_puzzle(kind, size, seed=seed)


def unique_killer(size: int, seed: int, timeout_s: float = 10.0):
    """A killer (spec, solution) with exactly one solution, cheaply: the cages of
    ``quick_caged_puzzle("killer", size, seed)``, then, while the solver finds a second solution, the true
    digit of a cell where a solution other than the true one differs from it (picked by a ``seed``-ed rng)
    becomes a given. Ends when ``solve(spec, unique=True)`` reports "solved" (milliseconds a step; a step
    that times out reveals a random open cell)."""
    spec, solution = quick_caged_puzzle("killer", size, seed)
    truth = [list(map(int, row)) for row in solution]
    shown = [list(map(int, row)) for row in spec.givens]
    rng = np.random.default_rng([seed, 17])  # apart from quick_caged_puzzle's draws
    for _ in range(size * size + 1):
        out = solve(spec, unique=True, timeout_s=timeout_s)
        if out.status == "solved":
            if out.solution != truth:
                break
            return spec, solution
        # A solution that is not the truth shows where to reveal a digit.
        other = next((g for g in (out.solution, out.other) if g is not None and g != truth), None)
        open_cells = [(r, c) for r in range(size) for c in range(size) if not shown[r][c]]
        cells = open_cells if other is None else [(r, c) for r, c in open_cells if other[r][c] != truth[r][c]]
        r, c = cells[int(rng.integers(len(cells)))]
        shown[r][c] = truth[r][c]
        spec = PuzzleSpec.killer(spec.cages, givens=[row[:] for row in shown], size=size)
    raise RuntimeError(f"killer seed {seed}: no unique puzzle ({out.status})")
