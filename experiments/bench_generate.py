"""Benchmark: puzzle generation (unique solution) and rendering, per kind and size.

    python experiments/bench_generate.py                # 10 seeds per case
    python experiments/bench_generate.py --seeds 3 --json experiments/results/bench_generate.json

Prints median / max seconds per generated puzzle, givens or cages, and render
times (clean and photo, 800 px). Run on a quiet machine: timings on a shared
CPU are noisy.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.render.rendered import render_puzzle

CASES = [("sudoku", 4), ("sudoku", 6), ("sudoku", 9), ("sudoku", 12), ("sudoku", 16),
         ("x-sudoku", 9), ("windoku", 9), ("jigsaw", 9), ("jigsaw", 16),
         ("killer", 9), ("kenken", 4), ("kenken", 6), ("kenken", 9)]


def bench(seeds: int, size_px: int) -> list[dict]:
    rows = []
    for kind, size in CASES:
        gen, render_clean, render_photo, clues = [], [], [], []
        for seed in range(seeds):
            t = time.perf_counter()
            spec, solution = generate_puzzle(kind, size, seed=seed)
            gen.append(time.perf_counter() - t)
            clues.append(len(spec.cages) if spec.cages else spec.n_givens)
            for photo, out in ((False, render_clean), (True, render_photo)):
                t = time.perf_counter()
                render_puzzle(spec, seed=seed, photo=photo, size_px=size_px, solution=solution)
                out.append(time.perf_counter() - t)
        row = {"kind": kind, "size": size, "seeds": seeds,
               "gen_median_s": statistics.median(gen), "gen_max_s": max(gen),
               "clues_median": statistics.median(clues),
               "clue_unit": "cages" if kind in ("killer", "kenken") else "givens",
               "render_clean_median_s": statistics.median(render_clean),
               "render_photo_median_s": statistics.median(render_photo)}
        rows.append(row)
        print(f"{kind:9s}{size:3d}  gen median {row['gen_median_s']:.3f} s  max {row['gen_max_s']:.3f} s  "
              f"{row['clue_unit']} {row['clues_median']:.0f}  render clean {row['render_clean_median_s']:.3f} s  "
              f"photo {row['render_photo_median_s']:.3f} s", flush=True)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--size-px", type=int, default=800)
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args(argv)
    rows = bench(args.seeds, args.size_px)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.platform(), "processor": platform.processor(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
