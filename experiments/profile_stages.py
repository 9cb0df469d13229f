"""CPU time per board and where it goes, per category: decode, grid location, digit
reading, variant reading (borders, cages, clues, marks), the checking stage (givens
verdict and repair) and the final solve, as medians over each category's boards.

CPU time of this process (one OpenCV thread) rather than wall time: on a machine shared
with other work it moves far less than the wall clock does (it still rises with the
load, caches being shared). Pin it to one core for the "one core" figures.

    taskset -c 0 python experiments/profile_stages.py                      # sgt, kubiesa val, newspaper
    taskset -c 0 python experiments/profile_stages.py --per-category 20 --globs '.cache/sgt/v1/kenken9/*.png'

sgt boards come from ``eval_external.py``'s cache (run it once first); globs that match
nothing are skipped.
"""
from __future__ import annotations

import argparse
import glob
import statistics
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULT_GLOBS = [str(ROOT / ".cache" / "sgt" / "v1" / c / "*.png")
                 for c in ("sudoku9", "x-sudoku9", "jigsaw9", "killer9", "kenken6", "kenken9", "sudoku12")] + \
    [str(DATASETS / "kubiesa-sudoku-photos" / "val" / "*.jpg"),
     str(DATASETS / "wichtounet-sudoku-v2-train" / "*.jpg")]
STAGES = ("load", "locate", "digits", "variants", "check", "solve")


def timed_solver():
    """A geometry PuzzleSolver whose stages add their CPU seconds to the returned Counter."""
    import vlm_puzzle.pipeline as pipeline
    import vlm_puzzle.vision.extract as extract
    from vlm_puzzle.pipeline import PuzzleSolver

    spent: Counter = Counter()

    def wrap(owner, name: str, stage: str) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[stage] += time.process_time() - t
        setattr(owner, name, timed)

    wrap(pipeline, "open_image", "load")
    wrap(extract, "locate_grid", "locate")
    wrap(extract.GridReader, "_read", "digits")
    wrap(extract, "read_variants", "variants")
    wrap(pipeline, "settle", "check")
    wrap(pipeline, "solve", "solve")
    return PuzzleSolver(backend="geometry", keep_images=False), spent


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--globs", nargs="+", default=DEFAULT_GLOBS)
    ap.add_argument("--per-category", type=int, default=10)
    args = ap.parse_args(argv)
    import cv2
    cv2.setNumThreads(1)
    solver, spent = timed_solver()
    out = {}
    for pattern in args.globs:
        files = sorted(glob.glob(pattern))[:args.per_category]
        if not files:
            continue
        solver.solve_image(files[0])            # warm-up: networks loaded, caches filled
        rows = []
        for f in files:
            spent.clear()
            t = time.process_time()
            solver.solve_image(f)
            rows.append({"total": time.process_time() - t, **{s: spent[s] for s in STAGES}})
        name = Path(pattern).parent.name
        out[name] = {k: round(1000 * statistics.median(r[k] for r in rows), 1) for k in ("total",) + STAGES}
        print(f"{name:<28} n={len(files):<3} " + "  ".join(f"{k} {v:.1f}" for k, v in out[name].items())
              + "  (ms CPU, medians)", flush=True)
    return out


if __name__ == "__main__":
    main()
