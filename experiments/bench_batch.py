#!/usr/bin/env python
"""Batch throughput with 1 worker vs N workers (goal: 2 workers >= 1.8x one worker).

    nice python experiments/bench_batch.py                       # data/photos, 40 images, 1 vs 2 workers
    python experiments/bench_batch.py ../shared/datasets/wichtounet-sudoku-v2-train --images 80 --workers 1 2 4

Each run writes a fresh results file in a temp folder; throughput counts the whole
``run_batch`` call (pool start-up included), so per-worker start-up cost shows. Images
are repeated (as copies) when the folder holds fewer than ``--images``. Run it on a quiet
machine: other load on the cores skews the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", default=str(REPO / "data" / "photos"))
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=2, help="runs per setting; the best is kept")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from vlm_puzzle.batch import expand_inputs, run_batch

    src = [p for p in expand_inputs([args.dir]) if not p.endswith((".json", ".dat"))]
    if not src:
        print(f"no images in {args.dir}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        imgs = Path(tmp) / "imgs"
        imgs.mkdir()
        for i in range(args.images):
            p = Path(src[i % len(src)])
            shutil.copy(p, imgs / f"{i:04d}{p.suffix}")
        rows = {}
        for w in args.workers:
            best = None
            for rep in range(args.repeat):
                out = Path(tmp) / f"r{w}_{rep}.jsonl"
                t0 = time.perf_counter()
                s = run_batch([str(imgs)], out, workers=w, backend="geometry", progress=False)
                wall = time.perf_counter() - t0
                if best is None or wall < best[0]:
                    best = (wall, s)
            wall, s = best
            rows[w] = {"workers": w, "images": s.processed, "wall_s": round(wall, 3),
                       "images_per_s": round(s.processed / wall, 2), "solved": s.solved,
                       "median_total_ms": round(1000 * s.median_s.get("total", float("nan")), 1)}
    base = rows[args.workers[0]]["images_per_s"]
    for r in rows.values():
        r["speedup"] = round(r["images_per_s"] / base, 2) if base else None
    report = {"dir": args.dir, "cpu_count": os.cpu_count(),
              "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
              "runs": list(rows.values())}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{args.images} images from {args.dir} on {os.cpu_count()} CPUs (load average {report['load_avg']})")
        print("  workers  images/s  speedup  wall s  median ms/img  solved")
        for r in rows.values():
            print(f"  {r['workers']:7d}  {r['images_per_s']:8.2f}  {r['speedup']:7.2f}  {r['wall_s']:6.2f}"
                  f"  {r['median_total_ms']:13.1f}  {r['solved']}/{r['images']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
