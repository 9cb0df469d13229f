"""Training and evaluation pictures for the rule-reading VLM: renders with the rule answer as target.

Every (kind, size) the renderer draws, clean and as a photo, in random styles. Training puzzles
are drawn without the uniqueness search (:class:`PuzzleMaker`), each in a few styles. Fonts: ``render.heldout.TRAIN_FAMILIES`` only, seeds
from ``TRAIN_SEED0``; ``experiments/eval_vlm_rules.py`` scores held-out fonts
(``render.heldout.HELD_OUT_FAMILIES``, disjoint) on other seeds.

A sample is the picture as the model sees it and the answer text (``rules.prompt.answer_for``):
with ``view="grid"`` (the shipped model) the grid rectified (``rules.view.grid_view``) from the
renderer's true corners, each moved at random by about ``CORNER_JITTER`` of the grid's side as the
vision stage's locator errs, with a random margin; with ``view="picture"`` the whole picture
(``to_model_image`` within the model's pixel bounds). RGB uint8 either way. A share
``WIDE_SHARE`` is drawn in the wide style space (``render.style.widen``: other programs' and
publishers' line widths, margins, clue placements, notations), a share ``PAPER_SHARE`` in the
computer-drawn look of KenKen apps (``render.style.paper_style``: thin cell lines, faint lines, cage
borders alone, thick/thin ratios near 1) and a share ``HAND_SHARE`` with givens and cage clues
written by hand (``render.handwritten.draw_handwritten`` with ``training/handwriting.TrainWriter``:
MNIST train digits and training handwriting fonts), clean or photographed.
"""
from __future__ import annotations

import numpy as np

from vlm_puzzle.spec import KENKEN_SIZES, SUDOKU_SIZES

# Every (kind, size) the renderer generates.
COMBOS = tuple([("sudoku", n) for n in SUDOKU_SIZES] + [("x-sudoku", n) for n in SUDOKU_SIZES]
               + [("windoku", 9)] + [("jigsaw", n) for n in range(4, 17)]
               + [("killer", n) for n in SUDOKU_SIZES] + [("kenken", n) for n in KENKEN_SIZES])
# Chance of each kind (sizes uniform within a kind, 9x9 twice as likely: the common print).
KIND_WEIGHTS = {"sudoku": 0.19, "x-sudoku": 0.13, "windoku": 0.09, "jigsaw": 0.23, "killer": 0.18, "kenken": 0.18}
TRAIN_SEED0 = 20_000_000   # training seeds: TRAIN_SEED0 + worker * 1e6 + i; evaluation uses other ranges
PHOTO_SHARE = 0.5
WIDE_SHARE = 0.3
PAPER_SHARE = 0.12         # renders in render.style.paper_style (a random variant)
HAND_SHARE = 0.1           # renders with hand-written givens and clues
REUSE = 3                  # renders (styles, modes) per generated puzzle
CORNER_JITTER = 0.012      # sd of each corner's error, share of the grid's side
MARGINS = (0.12, 0.18)     # the grid view's margin, uniform in this range (inference: VIEW_MARGIN)
VIEW_MARGIN = 0.15         # the margin the model is asked with (its vlm_puzzle.json ``view_margin``): wide
                           # enough that the cells past a sub-grid the locator took for the grid show
SUBGRID_SHARE = 0.12       # views cut from the corners of a sub-grid of a size the locator knows
SUBGRID_MISS = 0.85        # ... and of a grid of a size it does not know (it then always takes a sub-grid)
WIDE_MAX_SIDE = 1400       # wide styles' canvases: wide_side's range cut here (rendering time)
VIEWS = 2                  # grid views (each its own corner error and margin) per render
JIGSAW_ODD = 3.0           # weight within jigsaw of the sizes no sudoku has (10, 11, 13, 14, 15): their
                           # held-out renders were most of the model's size errors (answered 9 or 12;
                           # at 1.6 still 10 of 11 clean errors)
REAL_SHARE = 0.06          # share of real photos' grid views (``vlm_real``), when a pack is given


def combo_weights() -> np.ndarray:
    w = np.array([KIND_WEIGHTS[k] * (2.0 if n == 9 else JIGSAW_ODD if k == "jigsaw" and n in (10, 11, 13, 14, 15)
                                     else 1.0) for k, n in COMBOS])
    for kind in KIND_WEIGHTS:  # normalise within each kind, then by kind
        idx = [i for i, (k, _) in enumerate(COMBOS) if k == kind]
        w[idx] *= KIND_WEIGHTS[kind] / w[idx].sum()
    return w / w.sum()


class PuzzleMaker:
    """Random puzzles of every kind, drawn like the generator's but without the uniqueness
    search (the rules, not the solution, are what the model reads), fast enough to feed a GPU:
    complete grids and jigsaw layouts (seconds for 13x13..16x16) are kept and reused with their
    digits relabelled and the layouts mirrored; givens and cages are new each time."""

    def __init__(self, rng: np.random.Generator, renew: float = 0.15):
        self.rng, self.renew = rng, renew
        self.grids: dict = {}
        self.layouts: dict = {}

    def _cached(self, store: dict, key, make, keep: int = 6):
        items = store.setdefault(key, [])
        if len(items) < keep and (not items or self.rng.random() < self.renew):
            items.append(make())
        return items[int(self.rng.integers(len(items)))]

    def solution(self, kind: str, n: int):
        from vlm_puzzle.render.generate import _structure
        from vlm_puzzle.render.uniqueness import latin_groups, random_solution
        from vlm_puzzle.spec import PuzzleSpec

        def make():
            if kind in ("sudoku", "x-sudoku", "windoku"):
                groups = _structure(kind, n).groups
            elif kind == "killer" or (kind == "jigsaw" and n in (4, 6, 8, 9, 12, 16)):
                groups = PuzzleSpec.sudoku([[0] * n] * n).groups
            else:
                groups = latin_groups(n)
            return np.asarray(random_solution(n, groups, self.rng))

        grid = self._cached(self.grids, (kind, n), make)
        relabel = np.concatenate([[0], self.rng.permutation(n) + 1])
        return relabel[grid]

    def layout(self, n: int):
        from vlm_puzzle.render.regions import random_regions

        regions = np.asarray(self._cached(self.layouts, n, lambda: random_regions(n, self.rng)))
        if self.rng.random() < 0.5:
            regions = regions.T
        return regions[::1 if self.rng.random() < 0.5 else -1, ::1 if self.rng.random() < 0.5 else -1]

    def puzzle(self, kind: str, n: int):
        """(spec, solution); the jigsaw's digits are not a solution of its regions (not needed here)."""
        from vlm_puzzle.render.generate import KENKEN_CAGE_SIZES, KILLER_CAGE_SIZES, _caged_spec, _structure, make_cage
        from vlm_puzzle.render.regions import random_cages
        from vlm_puzzle.spec import PuzzleSpec

        rng = self.rng
        sol = self.solution(kind, n)
        solution = [[int(v) for v in row] for row in sol]
        if kind in ("killer", "kenken"):
            weights = KILLER_CAGE_SIZES if kind == "killer" else KENKEN_CAGE_SIZES
            cages = [make_cage(kind, c, solution, rng)
                     for c in random_cages(solution, rng, size_weights=weights, distinct=kind == "killer")]
            share = float(rng.uniform(0.05, 0.2)) if kind == "killer" and rng.random() < 0.25 else 0.0
            keep = rng.random((n, n)) < share
        else:
            keep = rng.random((n, n)) < rng.uniform(0.22, 0.5)
        givens = [[solution[r][c] if keep[r, c] else 0 for c in range(n)] for r in range(n)]
        if kind in ("killer", "kenken"):
            return _caged_spec(kind, n, cages, givens), solution
        if kind == "jigsaw":
            return PuzzleSpec.jigsaw(givens, tuple(tuple(int(v) for v in row) for row in self.layout(n))), None
        return _structure(kind, n).with_givens(givens), solution


def random_canvas(rng: np.random.Generator, photo: bool):
    """The rendered picture's pixel size: square prints, photos of any plausible aspect."""
    if not photo:
        side = int(rng.integers(240, 600))
        return side if rng.random() < 0.8 else (side, int(side * rng.uniform(0.8, 1.25)))
    w = int(rng.integers(300, 720))
    return w, int(np.clip(w * rng.uniform(0.7, 1.45), 240, 900))


def model_picture(rgb: np.ndarray, pixels: tuple[int, int], factor: int = 28) -> np.ndarray:
    """``rgb`` as the wrapper hands it to the processor (``to_model_image`` within ``pixels``: min, max)."""
    from vlm_puzzle.models.images import to_model_image

    return np.asarray(to_model_image(np.ascontiguousarray(rgb[..., ::-1]), factor=factor,
                                     min_pixels=pixels[0], max_pixels=pixels[1]))


FAMILIES = ("plain", "wide", "paper", "hand")  # style spaces a render is drawn in


def pick_family(rng: np.random.Generator) -> str:
    u = rng.random()
    return ("wide" if u < WIDE_SHARE else "paper" if u < WIDE_SHARE + PAPER_SHARE
            else "hand" if u < WIDE_SHARE + PAPER_SHARE + HAND_SHARE else "plain")


def shot_of(spec, seed: int, photo: bool, fonts, solution=None, family: str = "plain", writer=None):
    """(RGB picture, grid corners) of one render of ``spec`` in style space ``family``
    (``FAMILIES``); ``writer`` (``family="hand"``): ``draw_handwritten``'s ``write``, default
    ``training/handwriting.TrainWriter``. Canvas sizes as :func:`random_canvas` (wide and paper:
    their own, cut at ``WIDE_MAX_SIDE``)."""
    from vlm_puzzle.render import render_puzzle
    from vlm_puzzle.render.style import PAPER_VARIANTS, paper_side, paper_style, random_style, wide_side

    rng = np.random.default_rng(seed)
    srng = np.random.default_rng(seed + 1)
    if family == "hand":
        return _hand_shot(spec, rng, srng, photo, fonts, writer)
    if family == "paper":
        # "cages" (no cell lines) is a caged kind's look only
        variants = PAPER_VARIANTS if spec.cages else tuple(v for v in PAPER_VARIANTS if v != "cages")
        style = paper_style(srng, fonts, variants[int(srng.integers(len(variants)))])
        canvas = random_canvas(rng, photo) if photo else min(paper_side(rng), WIDE_MAX_SIDE)
    else:
        wide = family == "wide"
        style = random_style(srng, fonts, wide=True) if wide else None
        canvas = random_canvas(rng, photo) if photo or not wide else min(wide_side(rng), WIDE_MAX_SIDE)
    shot = render_puzzle(spec, seed=seed, style=style, photo=photo, size_px=canvas, fonts=fonts, solution=solution)
    return shot.image, np.asarray(shot.corners, np.float64)


def _hand_shot(spec, rng, srng, photo: bool, fonts, writer):
    from dataclasses import replace

    from vlm_puzzle.render.handwritten import draw_handwritten
    from vlm_puzzle.render.photo import make_page, photograph
    from vlm_puzzle.render.style import random_style

    if writer is None:
        import handwriting

        writer = handwriting.TrainWriter(srng)
    style = random_style(srng, fonts, handwritten=0.0)
    canvas = random_canvas(rng, photo)
    w, h = (canvas, canvas) if isinstance(canvas, int) else canvas
    side = int(min(w, h) * rng.uniform(0.55, 0.8)) if photo else min(w, h)
    got = draw_handwritten(spec, replace(style, margin=0.01) if photo else style, (side, side), rng, writer)
    if got is None:
        raise ValueError("the writer cannot write a symbol of this board")
    image, geo = got
    if not photo:
        return image, geo.corners
    page, (ox, oy) = make_page(image, rng, style.clue_font or style.font, style.paper)
    out, pts, _ = photograph(page, geo.corners + [ox, oy], (w, h), rng)
    return out, np.asarray(pts, np.float64)


def render_samples(spec, seed: int, photo: bool, fonts, pixels: tuple[int, int], solution=None, factor: int = 28,
                   view: str = "grid", family: str = "plain", views: int = VIEWS) -> list:
    """[(model picture, answer text)] of one render of ``spec`` (:func:`shot_of`): ``views`` grid views
    (``view="grid"``), each with its own corner error and margin, or the whole picture once."""
    from vlm_puzzle.models.shipped import square_side
    from vlm_puzzle.rules.prompt import answer_for

    image, corners = shot_of(spec, seed, photo, fonts, solution, family)
    rng = np.random.default_rng(seed + 2)
    answer = answer_for(spec)
    if view == "picture":
        return [(model_picture(image, pixels, factor), answer)]
    return [(v, answer) for v in jittered_views(image, corners, rng, square_side(pixels[1], factor), views,
                                                n=spec.size)]


def located_corners(corners, n: int, rng: np.random.Generator, share: float = SUBGRID_SHARE,
                    miss: float = SUBGRID_MISS) -> np.ndarray:
    """The corners the vision stage's locator may give for the ``n`` x ``n`` grid at ``corners``:
    the grid's own, or those of an m x m block of its cells (m < n, the cells left out split at
    random between the two sides of each axis). Its lattice sizes (``vision.lattice.GRID_SIZES``)
    lack 10, 11, 13, 14 and 15: such a grid is located as the largest block it knows (9 or 12) with
    chance ``miss``; a grid of a size it knows, as a block 1-3 cells smaller with chance ``share``."""
    import cv2

    from vlm_puzzle.vision.lattice import GRID_SIZES

    q = np.asarray(corners, np.float64)
    smaller = [m for m in GRID_SIZES if m < n]
    if n not in GRID_SIZES and smaller and rng.random() < miss:
        m = max(smaller)
    elif n > 4 and rng.random() < share:
        m = n - int(rng.integers(1, min(3, n - 4) + 1))
    else:
        return q
    d = n - m
    x0, y0 = int(rng.integers(0, d + 1)), int(rng.integers(0, d + 1))
    unit = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)
    hom = cv2.getPerspectiveTransform(unit, q.astype(np.float32))
    block = np.array([[x0, y0], [x0 + m, y0], [x0 + m, y0 + m], [x0, y0 + m]], np.float32)
    return cv2.perspectiveTransform(block[None], hom)[0].astype(np.float64)


def jittered_views(image: np.ndarray, corners, rng: np.random.Generator, side: int, views: int = VIEWS,
                   jitter: float = CORNER_JITTER, margins: tuple[float, float] = MARGINS,
                   n: int | None = None) -> list[np.ndarray]:
    """``views`` grid views (``rules.view.grid_view``, ``side`` px) of ``image`` (channel order kept),
    each from ``corners`` moved at random by about ``jitter`` of the grid's side, as the vision
    stage's locator errs, with a margin uniform in ``margins``; with ``n`` (the grid's size) each
    from :func:`located_corners` first (a block of cells the locator may take for the grid)."""
    from vlm_puzzle.rules.view import grid_view

    out = []
    for _ in range(views):
        q = np.asarray(corners, np.float64) if n is None else located_corners(corners, n, rng)
        extent = float(np.mean(np.linalg.norm(q - np.roll(q, 1, axis=0), axis=1)))
        out.append(np.ascontiguousarray(grid_view(image, q + rng.normal(0.0, jitter * extent, q.shape), side,
                                                  float(rng.uniform(*margins)))))
    return out


def sample_stream(worker: int, fonts, pixels: tuple[int, int], seed0: int = TRAIN_SEED0, factor: int = 28,
                  view: str = "grid", real=None, real_share: float = REAL_SHARE):
    """Endless training samples of one worker (reproducible from ``worker`` and ``seed0``); pictures
    (``view``: see the module docs) sized as the wrapper does for a model of patch x merge size
    ``factor`` within ``pixels``. ``real`` (``vlm_real.load``: RGB picture, corners, answer; grid view
    only): a share ``real_share`` of the pictures are grid views of these real photos instead of renders."""
    import cv2

    from vlm_puzzle.models.shipped import square_side

    cv2.setNumThreads(1)
    base = seed0 + worker * 1_000_000
    rng = np.random.default_rng(base)
    weights = combo_weights()
    maker = PuzzleMaker(rng)
    i = 0
    while True:
        # one draw here is VIEWS real views or REUSE renders' worth: the chance giving real_share of the pictures
        if real and view == "grid" and rng.random() < REUSE * real_share / (1 + (REUSE - 1) * real_share):
            image, corners, answer = real[int(rng.integers(len(real)))]
            yield from ((v, answer) for v in jittered_views(image, corners, rng, square_side(pixels[1], factor), n=9))
            continue
        kind, n = COMBOS[int(rng.choice(len(COMBOS), p=weights))]
        try:
            spec, solution = maker.puzzle(kind, n)
        except Exception:  # a rare unfillable layout: draw another puzzle
            continue
        for _ in range(REUSE):
            i += 1
            try:
                yield from render_samples(spec, base + i, bool(rng.random() < PHOTO_SHARE), fonts, pixels, solution,
                                          factor, view, pick_family(rng))
            except Exception:  # an unlucky photo warp: skip it
                continue


def queue_worker(worker: int, fonts, pixels: tuple[int, int], queue, seed0: int = TRAIN_SEED0,
                 view: str = "grid", real=None, real_share: float = REAL_SHARE) -> None:
    """Process target: put (picture, answer) pairs on ``queue`` for ever."""
    for item in sample_stream(worker, fonts, pixels, seed0, view=view, real=real, real_share=real_share):
        queue.put(item)


def train_fonts() -> list[str]:
    """Installed fonts of the training families (never one of the evaluations' held-out families)."""
    from vlm_puzzle.render.heldout import TRAIN_FAMILIES, fonts_of

    return fonts_of(TRAIN_FAMILIES)
