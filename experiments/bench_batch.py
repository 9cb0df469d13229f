#!/usr/bin/env python
"""Batch throughput with 1 worker vs N workers (goal: 2 workers >= 1.8x one worker).

    nice python experiments/bench_batch.py                       # data/photos, 40 images, 1 vs 2 workers
    python experiments/bench_batch.py ../shared/datasets/wichtounet-sudoku-v2-train --images 80 --workers 1 2 4

Each run writes a fresh results file; throughput counts the whole ``run_batch`` call
(pool start-up included), so per-worker start-up cost shows. CPU seconds per image
(this process, the fork server and the workers) are also reported: they do not depend
on what else the machine is doing. Images
are repeated (as copies) when the folder holds fewer than ``--images``. Run it on a quiet
machine: other load on the cores skews the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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
        # Warm-up: start the fork server (a one-off per process) outside the timings.
        run_batch([str(next(imgs.iterdir()))], Path(tmp) / "warmup.jsonl", workers=1, backend="geometry",
                  progress=False)
        rows = {}
        for w in args.workers:
            best = None
            for rep in range(args.repeat):
                out = Path(tmp) / f"r{w}_{rep}.jsonl"
                cpu0 = _tree_cpu()
                t0 = time.perf_counter()
                summary = run_batch([str(imgs)], out, workers=w, backend="geometry", progress=False)
                wall = time.perf_counter() - t0
                cpu = _tree_cpu() - cpu0
                s = summary.to_dict()
                if best is None or wall < best[0]:
                    best = (wall, cpu, s)
            wall, cpu, s = best
            rows[w] = {"workers": w, "images": s["processed"], "wall_s": round(wall, 3),
                       "images_per_s": round(s["processed"] / wall, 2), "solved": s["solved"],
                       "cpu_s_per_image": round(cpu / max(1, s["processed"]), 4),
                       "median_total_ms": round(1000 * s["median_s"].get("total", float("nan")), 1)}
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
        print("  workers  images/s  speedup  wall s  CPU s/img  median ms/img  solved")
        for r in rows.values():
            print(f"  {r['workers']:7d}  {r['images_per_s']:8.2f}  {r['speedup']:7.2f}  {r['wall_s']:6.2f}"
                  f"  {r['cpu_s_per_image']:9.3f}  {r['median_total_ms']:13.1f}  {r['solved']}/{r['images']}")
        print("  (CPU s/img counts every process of the run; equal values for 1 and N workers mean the\n"
              "   parallel run does no extra work, so on N idle cores it runs ~N times as fast)")
    return 0


def _tree_cpu() -> float:
    """CPU seconds of this process, its reaped children, and the multiprocessing fork
    server with the workers it has reaped (workers are the fork server's children)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    try:
        from multiprocessing import forkserver

        pid = forkserver._forkserver._forkserver_pid
        if pid:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            # utime stime cutime cstime are fields 14-17 of /proc/PID/stat
            total += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, ValueError):
        pass
    return total


if __name__ == "__main__":
    sys.exit(main())
