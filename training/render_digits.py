"""Digit-reader training patches drawn by the project's own renderer.

``training/synth.py`` draws its grids with its own code; the renderer
(``vlm_puzzle.render.rendered.render_puzzle``) has styles it lacks: per-font digit
stretch, italic and hand-written givens, x-sudoku diagonals drawn as lines or
shading, windoku windows, jigsaw tints, killer dashed cages and KenKen cage
lines with clue text in the corner, and its photo mode. Here puzzles of every
kind are rendered (clean and photographed) and cut into cells exactly as the
reader does at inference: the real grid finder (``vision.grid.locate_grid``),
the lattice's cell rectangles, ``vision.cells.cell_patches``, and for an
x-sudoku drawn with diagonal lines the diagonal cells read again with the line
erased (``vision.cells.erase_diagonal``, as ``extract.GridReader`` does for drawn diagonals).

Labels: the printed given's symbol (``vision.labels.LABELS``), else 0 (empty):
a cell showing only a killer / KenKen clue, a diagonal line or shading is
empty, as the reader must say.

Fonts: ``vlm_puzzle.render.heldout.TRAIN_FAMILIES`` only (with
``VLM_PUZZLE_FONT_DIRS`` pointing at ``training/font_packs.py``'s fonts they
join); checked disjoint from its ``HELD_OUT_FAMILIES``.
Seeds: ``SEED_BASE + seed * 1_000_000 + k`` (100,000,000 and up), far from the
benchmark's 7,000,000+ / 9,000,000+ and the dev sets' 5M / 6M. Training runs use
``seed`` 0..499; renders for scoring in ``DEV_FAMILIES`` fonts (fetched,
never trained on: ``dev_fonts``) use ``seed + DEV_RUN`` (600,000,000.. for run 0).

Puzzles are drawn without any uniqueness search (givens a random share of a
random complete grid; cages as ``render.quick.quick_caged_puzzle``): only what
the cells look like matters here.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

SEED_BASE = 100_000_000
SEED_STRIDE = 1_000_000          # puzzles per --seed value before ranges would overlap
DEV_RUN = 500                    # dev renders (DEV_FAMILIES fonts) use run seed + DEV_RUN: 600,000,000..
KINDS = ("sudoku", "x-sudoku", "windoku", "jigsaw", "killer", "kenken")
KIND_WEIGHTS = (0.2, 0.2, 0.12, 0.16, 0.16, 0.16)
SIZES = {"sudoku": (9, 9, 9, 9, 6, 6, 4, 8, 12, 16), "x-sudoku": (9, 9, 9, 6), "windoku": (9,),
         "jigsaw": (9, 9, 9, 6, 6, 5, 7, 8), "killer": (9, 9, 9, 6, 6, 4), "kenken": (4, 5, 6, 7, 8, 9)}
IMAGE_PX = (640, 800, 800, 1000)
HANDWRITTEN = 0.25               # share of puzzles with hand-written givens (random_style: 0.15)
KEEP_EMPTY = 0.3                 # share of plain empty cells kept (clue / diagonal / shaded ones: all)


def train_fonts() -> list[str]:
    """The renderer's installed fonts of ``TRAIN_FAMILIES``, none of the benchmark's
    held-out families."""
    from vlm_puzzle.render.fonts import font_family
    from vlm_puzzle.render.heldout import HELD_OUT_FAMILIES, TRAIN_FAMILIES, fonts_of
    overlap = set(TRAIN_FAMILIES) & set(HELD_OUT_FAMILIES)
    if overlap:
        raise SystemExit(f"training families overlap the benchmark's held-out ones: {sorted(overlap)}")
    fonts = [f for f in fonts_of(TRAIN_FAMILIES) if font_family(f) not in HELD_OUT_FAMILIES]
    if not fonts:
        raise SystemExit("no training fonts installed (set VLM_PUZZLE_FONT_DIRS, see training/font_packs.py)")
    return fonts


def dev_fonts() -> list[str]:
    """Fonts of ``DEV_FAMILIES`` (fetched, never trained on): for scoring models on
    renders in unseen prints without touching the benchmark's fonts."""
    from vlm_puzzle.render.fonts import font_family
    from vlm_puzzle.render.heldout import DEV_FAMILIES, HELD_OUT_FAMILIES, fonts_of
    return [f for f in fonts_of(DEV_FAMILIES) if font_family(f) not in HELD_OUT_FAMILIES]


def make_puzzle(kind: str, n: int, rng: np.random.Generator):
    """(spec, solution) of a random ``kind`` puzzle of side ``n``, no uniqueness search."""
    from vlm_puzzle.render.regions import random_regions, regions_around
    from vlm_puzzle.render.uniqueness import latin_groups, random_solution
    from vlm_puzzle.spec import DEFAULT_BOX, PuzzleSpec
    seed = int(rng.integers(2 ** 31))
    if kind in ("killer", "kenken"):
        from vlm_puzzle.render.quick import quick_caged_puzzle
        givens = float(rng.choice([0.0, 0.0, 0.1, 0.25, 0.4])) if kind == "killer" else 0.0
        return quick_caged_puzzle(kind, n, seed, givens=givens)
    empty = [[0] * n for _ in range(n)]
    structure, solution = None, None
    if kind == "jigsaw":
        for _ in range(40):  # some random layouts admit no grid: redraw (as render.generate does)
            structure = PuzzleSpec.jigsaw(empty, random_regions(n, rng))
            solution = random_solution(n, structure.groups, rng, attempts=6)
            if solution is not None:
                break
        if solution is None:  # a grid first, regions around it
            solution = random_solution(n, PuzzleSpec.sudoku(empty).groups if n in DEFAULT_BOX
                                       else latin_groups(n), rng)
            structure = PuzzleSpec.jigsaw(empty, regions_around(solution, rng)) if solution else None
    else:
        structure = {"sudoku": PuzzleSpec.sudoku, "x-sudoku": PuzzleSpec.x_sudoku,
                     "windoku": PuzzleSpec.windoku}[kind](empty)
        solution = random_solution(n, structure.groups, rng)
    if solution is None:
        return None
    share = rng.uniform(0.2, 0.5)
    shown = [[int(v) if rng.random() < share else 0 for v in row] for row in solution]
    return structure.with_givens(shown), solution


def puzzle_patches(k: int, seed: int, fonts: list[str], keep_empty: float = KEEP_EMPTY, hand_boards: float = 0.0):
    """Patches (M, P, P) uint8, class indices (M,) int64 and a note (dict) from
    rendered puzzle number ``k`` of run ``seed``: a random kind, size, style (from
    ``fonts``) and clean or photo mode; no patches when the grid finder misses.
    ``hand_boards``: the share of puzzles that are boards written by hand (:func:`hand_patches`)."""
    s = SEED_BASE + seed * SEED_STRIDE + k
    if hand_boards and np.random.default_rng([s, 7]).random() < hand_boards:
        return hand_patches(s, fonts, keep_empty)
    rng = np.random.default_rng(s)
    kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
    n = int(rng.choice(SIZES[kind]))
    photo = bool(rng.random() < 0.5)
    note = {"k": k, "kind": kind, "size": n, "photo": photo}
    made = make_puzzle(kind, n, rng)
    if made is None:
        return (*_nothing(), {**note, "skipped": "no grid"})
    spec, solution = made
    style = _style(np.random.default_rng(s + 1), fonts)
    px = int(rng.choice(IMAGE_PX)) if n <= 9 else 1000
    x, y, why = cell_samples(spec, style, seed=s, photo=photo, size_px=px, rng=rng, keep_empty=keep_empty,
                             solution=solution)
    note.update(font=style.font, hand=style.handwritten, diagonal=style.diagonal if spec.diagonals else None,
                patches=len(x))
    if why:
        note["skipped"] = why
    return x, y, note


HAND_SIZES = (4, 6, 9, 9, 9, 12, 16, 16, 16)


def hand_patches(s: int, fonts: list[str], keep_empty: float = KEEP_EMPTY):
    """Cells of a Sudoku (or a KenKen: clue cells are empty) whose givens are written by hand on
    the drawn grid (``render.handwritten.draw_handwritten``, ``handwriting.TrainWriter``: MNIST
    train digits, training fonts, strokes), 12x12/16x16 in any notation."""
    from dataclasses import replace

    import handwriting
    from vlm_puzzle.render.style import NOTATIONS, random_style
    rng = np.random.default_rng([s, 12])
    kenken = rng.random() < 0.15
    n = int(rng.integers(3, 10)) if kenken else int(rng.choice(HAND_SIZES))
    note = {"k": s, "kind": "kenken" if kenken else "sudoku", "size": n, "photo": False, "hand": True}
    made = make_puzzle("kenken" if kenken else "sudoku", n, rng)
    if made is None:
        return (*_nothing(), {**note, "skipped": "no grid"})
    spec, solution = made
    style = random_style(rng, fonts, handwritten=0.0)
    if n in (12, 16):
        # (lowercase hex is not a class of its own: training/synth.py writes it)
        style = replace(style, notation=str(rng.choice([x for x in NOTATIONS if x != "hexa" and (n == 16 or x != "hex0")])))
    px = int(rng.integers(420, 1300))
    x, y, why = cell_samples(spec, style, seed=s, photo=False, size_px=px, rng=rng, keep_empty=keep_empty,
                             solution=solution, writer=handwriting.TrainWriter(rng))
    note.update(patches=len(x))
    if why:
        note["skipped"] = why
    return x, y, note


def _style(rng: np.random.Generator, fonts: list[str]):
    """``render.style.random_style`` with hand-written givens more often (a quarter
    of the puzzles), and those in any slanted training font or, now and then, an
    upright one (``random_style`` takes the first of its few script fonts there is)."""
    from dataclasses import replace

    from vlm_puzzle.render.style import random_style
    style = random_style(rng, fonts, handwritten=HANDWRITTEN)
    if style.handwritten:
        slanted = [f for f in fonts if any(w in f for w in ("Italic", "Oblique", "It", "BI", "ti10"))]
        pool = slanted if slanted and rng.random() < 0.7 else fonts
        style = replace(style, font=pool[int(rng.integers(len(pool)))])
    return style


def _nothing():
    from vlm_puzzle.vision.cells import PATCH
    return np.zeros((0, PATCH, PATCH), np.uint8), np.zeros(0, np.int64)


def cell_samples(spec, style, *, seed: int, photo: bool, size_px: int, rng: np.random.Generator,
                 keep_empty: float = KEEP_EMPTY, unerased: float = 0.35, solution=None, writer=None):
    """Render ``spec`` in ``style`` and cut its cells as the reader does.

    Returns (patches (M, P, P) uint8, class indices (M,) int64, why skipped or "").
    Every given cell is kept, and every empty cell that shows something (a cage
    clue, a diagonal, a window's shade); other empty cells with chance
    ``keep_empty``, in row-major order. An x-sudoku drawn with diagonal lines has
    its diagonal cells erased of the line (``vision.cells.erase_diagonal``) as
    ``extract.py`` reads them; with chance ``unerased`` the cell is also kept
    as it was first read, line and all (before it is erased). Skipped (no
    patches) when the grid finder misses the grid, finds another size or sees it
    elsewhere or turned (found corners more than a tenth of a side from the true).
    ``writer``: givens and clues written by hand with it (``render.handwritten``), clean."""
    from vlm_puzzle.render.draw import symbol
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.vision.cells import PATCH, cell_patches, diagonal_lines, erase_diagonal
    from vlm_puzzle.vision.grid import locate_grid
    from vlm_puzzle.vision.labels import INDEX
    n = spec.size
    try:
        if writer is None:
            shot = render_puzzle(spec, seed=seed, style=style, photo=photo, size_px=size_px, solution=solution)
        else:
            shot = _hand_shot(spec, style, size_px, rng, writer)
        loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    except Exception as exc:  # an unlucky photo the grid finder misses: skip it
        return (*_nothing(), f"grid: {type(exc).__name__}")
    lat = loc.lattice
    if lat.size != n:
        return (*_nothing(), f"found {lat.size}x{lat.size}")
    side = float(np.linalg.norm(shot.corners[1] - shot.corners[0]))
    if np.abs(np.asarray(loc.corners, float) - shot.corners).max() > 0.1 * side:
        return (*_nothing(), "corners")
    rects = [lat.cell_rect(r, c) for r in range(n) for c in range(n)]
    patches = cell_patches(loc.warped, rects, PATCH)
    labels = np.array([INDEX[symbol(v, style, n)] if v else 0 for row in spec.givens for v in row], np.int64)
    busy = np.zeros(n * n, bool)   # empty cells that show something: all kept
    for cage in spec.cages or ():
        r, c = min(cage.cells)
        busy[r * n + c] = True
    diag = diagonal_lines(n) if spec.diagonals else {}   # cell index -> its diagonals, as extract.py
    busy[list(diag)] = True
    for w in spec.windows or ():
        busy[[r * n + c for r, c in w]] = True
    xs, ys = [], []
    for i in range(n * n):
        if labels[i] == 0 and not busy[i] and rng.random() >= keep_empty:
            continue
        p = patches[i]
        if i in diag and style.diagonal == "line":
            if rng.random() < unerased:
                xs.append(p)
                ys.append(labels[i])
            for anti in diag[i]:
                p = erase_diagonal(p, anti)
        xs.append(p)
        ys.append(labels[i])
    if not xs:
        return (*_nothing(), "")
    return np.stack(xs), np.array(ys, np.int64), ""


def _hand_shot(spec, style, size_px: int, rng, writer):
    from vlm_puzzle.render.handwritten import draw_handwritten
    from vlm_puzzle.render.rendered import Rendered
    got = draw_handwritten(spec, style, (size_px, size_px), rng, writer)
    if got is None:
        raise ValueError("the writer cannot write a symbol of the board")
    return Rendered(image=got[0], truth={"corners": got[1].corners.tolist()})


def _worker(args):
    seed, ks, fonts, deadline, hand_boards = args
    import cv2
    cv2.setNumThreads(1)
    out = [puzzle_patches(k, seed, fonts, hand_boards=hand_boards) if time.time() < deadline
           else (*_nothing(), {"k": k, "kind": None, "size": 0, "photo": False, "skipped": "deadline"})
           for k in ks]
    return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]


def rendered_patches(count: int, seed: int = 0, fonts: list[str] | None = None, workers: int = 1,
                     minutes: float = 0.0, hand_boards: float = 0.0):
    """Patches (M, P, P) uint8 and class indices (M,) from ``count`` rendered puzzles
    (numbers 0..count-1 of run ``seed``; the result does not depend on ``workers``),
    and a summary dict (kinds, skipped renders, seconds). ``minutes`` > 0: puzzles
    not started by then are left out (``summary["deadline_missed"]`` counts them)."""
    from vlm_puzzle.vision.cells import PATCH
    if count >= SEED_STRIDE or not 0 <= seed < 2 * DEV_RUN:
        raise ValueError(f"at most {SEED_STRIDE - 1} rendered puzzles per seed, seeds 0..{2 * DEV_RUN - 1}")
    fonts = fonts or train_fonts()
    t0 = time.time()
    chunk = 8
    deadline = t0 + 60 * minutes if minutes > 0 else float("inf")
    jobs = [(seed, list(range(a, min(count, a + chunk))), fonts, deadline, hand_boards)
            for a in range(0, count, chunk)]
    if workers > 1 and len(jobs) > 1:
        from multiprocessing import get_context
        with get_context("fork").Pool(workers) as pool:
            parts = pool.map(_worker, jobs, chunksize=1)
    else:
        parts = [_worker(j) for j in jobs]
    xs = [x for p in parts for x in p[0]]
    ys = [y for p in parts for y in p[1]]
    notes = [nt for p in parts for nt in p[2]]
    x = np.concatenate(xs) if xs else np.zeros((0, PATCH, PATCH), np.uint8)
    y = np.concatenate(ys) if ys else np.zeros(0, np.int64)
    used = [nt for nt in notes if "skipped" not in nt]
    late = sum(nt.get("skipped") == "deadline" for nt in notes)
    notes = [nt for nt in notes if nt.get("skipped") != "deadline"]
    summary = {"puzzles": count, "used": len(used), "patches": int(len(x)),
               "empty_patches": int((y == 0).sum()),
               "kinds": {kd: sum(nt["kind"] == kd for nt in used) for kd in KINDS},
               "hand_boards": sum(bool(nt.get("hand")) for nt in used),
               "photo": sum(nt["photo"] for nt in used),
               "skipped": [f"{nt['k']} {nt['kind']} {nt['size']}{' photo' if nt['photo'] else ''}: {nt['skipped']}"
                           for nt in notes if "skipped" in nt],
               "deadline_missed": late, "fonts": len(fonts), "seconds": round(time.time() - t0, 1),
               "seeds": f"{SEED_BASE + seed * SEED_STRIDE}..{SEED_BASE + seed * SEED_STRIDE + count - 1}"}
    return x, y, summary


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--puzzles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=0.0, help="time limit (0: none)")
    ap.add_argument("--out", type=Path, help="write x, y to this .npz")
    a = ap.parse_args()
    x, y, summ = rendered_patches(a.puzzles, a.seed, workers=a.workers, minutes=a.minutes)
    print({k: v for k, v in summ.items() if k != "skipped"})
    for line in summ["skipped"]:
        print("skipped", line)
    if a.out:
        np.savez_compressed(a.out, x=x, y=y)
