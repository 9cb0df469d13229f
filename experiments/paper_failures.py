"""Why the computer-drawn family (``eval_external.py --styles paper``) fails, image by image:
each render is solved again and its failure put in one class, the first stage that went wrong:

* ``grid``: no grid located (error) or one of another size;
* ``rules``: the right size, but no puzzle built from what was read (cages, kind);
* ``kind``: the right size read as another kind of puzzle;
* ``cages``: the cage partition differs from the truth;
* ``clues``: the partition right, some cage's operator or target wrong;
* ``solve``: read right but not solved right.

Usage::

    nice python experiments/paper_failures.py --per-category 10
    nice python experiments/paper_failures.py --variants cages --kinds kenken --seed-offset 50000 -v
    nice python experiments/paper_failures.py --variants bench --kinds kenken --stress --seed-offset 70000 -v

``--stress`` draws around the benchmark's look more widely than ``eval_external.py`` (:func:`stressed`).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_external import PAPER_KINDS, PAPER_SEED0, _solved_right  # noqa: E402

from vlm_puzzle.eval.puzzles import make_puzzle  # noqa: E402
from vlm_puzzle.eval.score import canonical  # noqa: E402
from vlm_puzzle.render.heldout import held_out_fonts  # noqa: E402


CLASSES = ("ok", "grid", "rules", "kind", "cages", "clues", "solve")


def _cages(spec) -> dict:
    return {tuple(sorted(c.cells)): (c.op, c.target) for c in spec.cages}


def classify(result, truth, solution) -> tuple[str, str]:
    """(class, detail) of one answer; class "ok" when read and solved right."""
    spec = result.spec
    code = result.error.code if result.error else None
    if result.size != truth.size:
        return "grid", f"size {result.size} want {truth.size} err={code}"
    if spec is None:
        return "rules", f"no puzzle built: err={code}"
    if spec.kind != truth.kind:
        return "kind", f"{spec.kind} want {truth.kind}"
    got, want = _cages(spec), _cages(truth)
    if set(got) != set(want):
        return "cages", f"{len(set(want) - set(got))} of {len(want)} cages wrong"
    if canonical(spec) != canonical(truth):
        bad = [f"{want[k]}->{got[k]}" for k in want if got[k] != want[k]]
        return "clues", " ".join(map(str, bad[:4])) or "givens/other"
    if not _solved_right(result, truth, solution):
        return "solve", result.status
    return "ok", ""


def stressed(style, rng: np.random.Generator, sides: tuple[int, int]):
    """(style, side): ``style`` with cell lines of 1..6 px and cage lines 2.5..3.5x as thick, no /
    narrow / wide margin, clue text 15..45% of the cell at offsets 0.02..0.12, any operator glyphs
    (``render.style.OP_GLYPHS``), on an image side drawn log-uniform in ``sides``."""
    from dataclasses import replace
    from vlm_puzzle.render.style import OP_GLYPHS
    thin = float(rng.uniform(1.0, 6.0))
    m = rng.random()
    margin = 0.0 if m < 0.15 else float(rng.uniform(0.005, 0.05)) if m < 0.7 else float(rng.uniform(0.1, 0.25))
    glyphs = tuple(OP_GLYPHS[op][int(rng.integers(len(OP_GLYPHS[op])))] for op in ("add", "sub", "mul", "div"))
    style = replace(style, thin_px=thin, thick_px=thin * float(rng.uniform(2.5, 3.5)), margin=margin,
                    clue_scale=float(rng.uniform(0.15, 0.45)), op_glyphs=glyphs,
                    clue_offset=(float(rng.uniform(0.02, 0.12)), float(rng.uniform(0.01, 0.1))))
    return style, int(round(float(np.exp(rng.uniform(np.log(sides[0]), np.log(sides[1]))))))


def main(argv=None) -> None:
    from vlm_puzzle.pipeline import PuzzleSolver
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import PAPER_VARIANTS, paper_side, paper_style
    import cv2
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-category", type=int, default=10)
    ap.add_argument("--variants", nargs="+", default=list(PAPER_VARIANTS))
    ap.add_argument("--kinds", nargs="+", default=list(PAPER_KINDS))
    ap.add_argument("--sizes", nargs="+", type=int, default=None)
    ap.add_argument("--seed-offset", type=int, default=0)
    ap.add_argument("--stress", action="store_true", help="draw more widely around the look (stressed)")
    ap.add_argument("--sides", nargs=2, type=int, default=(250, 2500), help="--stress: image sides (px)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    solver = PuzzleSolver(backend="geometry", keep_images=False)
    fonts = held_out_fonts()
    counts: dict[str, Counter] = {}
    for k, (kind, sizes) in enumerate(PAPER_KINDS.items()):
        if kind not in args.kinds:
            continue
        for size in sizes:
            if args.sizes and size not in args.sizes:
                continue
            for variant in args.variants:
                tally = counts.setdefault(f"{kind}{size}/{variant}", Counter())
                for i in range(args.per_category):
                    seed = PAPER_SEED0 + args.seed_offset + 10_000 * k + 1000 * size + \
                        100 * PAPER_VARIANTS.index(variant) + i
                    spec, solution = make_puzzle(kind, size, seed)
                    rng = np.random.default_rng([seed, 13])
                    style, px = paper_style(rng, fonts, variant), paper_side(rng)
                    if args.stress:
                        style, px = stressed(style, rng, tuple(args.sides))
                    shot = render_puzzle(spec, seed=seed, fonts=fonts, style=style, solution=solution, size_px=px)
                    res = solver.solve_image(np.ascontiguousarray(shot.image[..., ::-1]))
                    cls, detail = classify(res, spec, solution)
                    tally[cls] += 1
                    if args.verbose and cls != "ok":
                        print(f"{kind}{size}/{variant}/{seed} {cls}: {detail} | thin={style.thin_px:.1f} "
                              f"thick={style.thick_px:.1f} aa={style.antialias} margin={style.margin:.3f} "
                              f"px={px} clue={style.clue_scale:.2f} ops={''.join(style.op_glyphs)}", flush=True)
    total = Counter()
    for cat, tally in counts.items():
        total += tally
        print(f"{cat:<22}" + " ".join(f"{c}={tally[c]}" for c in CLASSES))
    print(f"{'all':<22}" + " ".join(f"{c}={total[c]}" for c in CLASSES))


if __name__ == "__main__":
    main()
