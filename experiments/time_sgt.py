"""Median time per board and boards solved right, for cached sgt categories, in one process.

Run it under the code to time (``PYTHONPATH=<checkout>/src``), alternating two checkouts on a
shared machine, to compare them: ``eval_external.py --sources sgt`` must have drawn the images
(``.cache/sgt/v1/<category>/<seed>_*.png``) first. Usage::

    PYTHONPATH=src nice python experiments/time_sgt.py sudoku16 sudoku12 --n 15
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("categories", nargs="+")
    ap.add_argument("--n", type=int, default=15, help="boards per category")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache" / "sgt" / "v1")
    args = ap.parse_args(argv)

    import cv2
    from vlm_puzzle.pipeline import PuzzleSolver
    cv2.setNumThreads(1)
    solver = PuzzleSolver(backend="geometry", keep_images=False)
    out = {}
    for cat in args.categories:
        paths = sorted((args.cache / cat).glob(f"{args.seed}_*.png"))[:args.n]
        if not paths:
            raise SystemExit(f"no cached images for {cat} under {args.cache}")
        solver.solve_image(str(paths[0]))   # warm: networks loaded, caches filled
        ms, right = [], 0
        for p in paths:
            t = time.perf_counter()
            res = solver.solve_image(str(p))
            ms.append(1000 * (time.perf_counter() - t))
            truth = json.loads(p.with_suffix(".json").read_text())["solution"]
            right += res.status == "solved" and res.solution == truth
        out[cat] = {"n": len(paths), "solved": right, "ms_median": round(statistics.median(ms), 1)}
        print(f"{cat}: {right}/{len(paths)} solved right, median {statistics.median(ms):.0f} ms", flush=True)
    return out


if __name__ == "__main__":
    main()
