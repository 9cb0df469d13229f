"""Training and evaluation pictures for the rule-reading VLM: renders with the rule answer as target.

Every (kind, size) the renderer draws, clean and as a photo, in random styles. Training puzzles
are drawn without the uniqueness search (the rules, not the solution, are what the model reads:
a random complete grid, then random givens or random cages, as ``train_clues.quick_caged_puzzle``
does), and each puzzle is drawn in a few styles. Fonts: ``train_clues.TRAIN_FAMILIES`` only, seeds
from ``TRAIN_SEED0``; ``experiments/eval_vlm_rules.py`` scores held-out fonts
(``eval_variants.HELD_OUT_FAMILIES``, disjoint) on other seeds and real generated puzzles.

A sample is the picture as the model sees it (``to_model_image`` within the model's pixel bounds,
RGB uint8) and the answer text (``rules.prompt.answer_for``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vlm_puzzle.spec import KENKEN_SIZES, SUDOKU_SIZES  # noqa: E402

# Every (kind, size) the renderer generates.
COMBOS = tuple([("sudoku", n) for n in SUDOKU_SIZES] + [("x-sudoku", n) for n in SUDOKU_SIZES]
               + [("windoku", 9)] + [("jigsaw", n) for n in range(4, 17)]
               + [("killer", n) for n in SUDOKU_SIZES] + [("kenken", n) for n in KENKEN_SIZES])
# Chance of each kind (sizes uniform within a kind, 9x9 twice as likely: the common print).
KIND_WEIGHTS = {"sudoku": 0.2, "x-sudoku": 0.15, "windoku": 0.1, "jigsaw": 0.19, "killer": 0.18, "kenken": 0.18}
TRAIN_SEED0 = 20_000_000   # training seeds: TRAIN_SEED0 + worker * 1e6 + i; evaluation uses other ranges
PHOTO_SHARE = 0.5
REUSE = 3                  # renders (styles, modes) per generated puzzle


def combo_weights() -> np.ndarray:
    w = np.array([KIND_WEIGHTS[k] * (2.0 if n == 9 else 1.0) for k, n in COMBOS])
    for kind in KIND_WEIGHTS:  # normalise within each kind, then by kind
        idx = [i for i, (k, _) in enumerate(COMBOS) if k == kind]
        w[idx] *= KIND_WEIGHTS[kind] / w[idx].sum()
    return w / w.sum()


def quick_puzzle(kind: str, n: int, rng: np.random.Generator):
    """A (spec, solution) drawn like the generator's, without the uniqueness search."""
    from vlm_puzzle.render.generate import _structure
    from vlm_puzzle.render.regions import random_regions, regions_around
    from vlm_puzzle.render.uniqueness import latin_groups, random_solution
    from vlm_puzzle.spec import DEFAULT_BOX, PuzzleSpec

    if kind in ("killer", "kenken"):
        from train_clues import quick_caged_puzzle

        givens = float(rng.uniform(0.05, 0.2)) if kind == "killer" and rng.random() < 0.25 else 0.0
        return quick_caged_puzzle(kind, n, int(rng.integers(2**31)), givens)
    structure = solution = None
    if kind == "jigsaw" and n < 12:
        for _ in range(40):
            structure = PuzzleSpec.jigsaw([[0] * n] * n, random_regions(n, rng))
            solution = random_solution(n, structure.groups, rng, attempts=6)
            if solution is not None:
                break
    elif kind == "jigsaw":
        base = PuzzleSpec.sudoku([[0] * n] * n).groups if n in DEFAULT_BOX else latin_groups(n)
        solution = random_solution(n, base, rng)
        structure = PuzzleSpec.jigsaw([[0] * n] * n, regions_around(solution, rng))
    else:
        structure = _structure(kind, n)
        solution = random_solution(n, structure.groups, rng)
    if solution is None:
        raise RuntimeError(f"no {n}x{n} {kind} grid")
    keep = rng.random((n, n)) < rng.uniform(0.22, 0.5)
    givens = [[int(solution[r][c]) if keep[r, c] else 0 for c in range(n)] for r in range(n)]
    return structure.with_givens(givens), solution


def random_canvas(rng: np.random.Generator, photo: bool):
    """The rendered picture's pixel size: square prints, photos of any plausible aspect."""
    if not photo:
        side = int(rng.integers(240, 820))
        return side if rng.random() < 0.8 else (side, int(side * rng.uniform(0.8, 1.25)))
    w = int(rng.integers(320, 960))
    return w, int(np.clip(w * rng.uniform(0.7, 1.45), 240, 1200))


def model_picture(rgb: np.ndarray, pixels: tuple[int, int], factor: int = 28) -> np.ndarray:
    """``rgb`` as the wrapper hands it to the processor (``to_model_image`` within ``pixels``: min, max)."""
    from vlm_puzzle.models.images import to_model_image

    return np.asarray(to_model_image(np.ascontiguousarray(rgb[..., ::-1]), factor=factor,
                                     min_pixels=pixels[0], max_pixels=pixels[1]))


def render_sample(spec, seed: int, photo: bool, fonts, pixels: tuple[int, int], solution=None):
    """(model picture, answer text) of ``spec`` drawn with ``seed``."""
    from vlm_puzzle.render import render_puzzle
    from vlm_puzzle.rules.prompt import answer_for

    rng = np.random.default_rng(seed)
    shot = render_puzzle(spec, seed=seed, photo=photo, size_px=random_canvas(rng, photo), fonts=fonts,
                         solution=solution)
    return model_picture(shot.image, pixels), answer_for(spec)


def sample_stream(worker: int, fonts, pixels: tuple[int, int], seed0: int = TRAIN_SEED0):
    """Endless training samples of one worker (reproducible from ``worker`` and ``seed0``)."""
    import cv2

    cv2.setNumThreads(1)
    base = seed0 + worker * 1_000_000
    rng = np.random.default_rng(base)
    weights = combo_weights()
    i = 0
    while True:
        kind, n = COMBOS[int(rng.choice(len(COMBOS), p=weights))]
        try:
            spec, solution = quick_puzzle(kind, n, rng)
        except Exception:  # a rare unfillable layout: draw another puzzle
            continue
        for _ in range(REUSE):
            i += 1
            try:
                yield render_sample(spec, base + i, bool(rng.random() < PHOTO_SHARE), fonts, pixels, solution)
            except Exception:  # an unlucky photo warp: skip it
                continue


def queue_worker(worker: int, fonts, pixels: tuple[int, int], queue, seed0: int = TRAIN_SEED0) -> None:
    """Process target: put (picture, answer) pairs on ``queue`` for ever."""
    for item in sample_stream(worker, fonts, pixels, seed0):
        queue.put(item)


def train_fonts() -> list[str]:
    """Installed fonts of the training families (never one of the evaluation's held-out families)."""
    from train_clues import TRAIN_FAMILIES, train_fonts as fonts_of

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    from eval_variants import HELD_OUT_FAMILIES

    assert not set(TRAIN_FAMILIES) & set(HELD_OUT_FAMILIES)
    return fonts_of(TRAIN_FAMILIES)
