#!/usr/bin/env python
"""Accuracy and timing over a folder of images with ground truth.

    python experiments/evaluate.py ../shared/datasets/wichtounet-sudoku-v2-train
    python experiments/evaluate.py data/samples --json
    nice python experiments/evaluate.py DIR --limit 40 --out /tmp/results.jsonl

Ground truth sits next to each image: ``IMAGE.json`` (renderer: spec, givens,
solution) or ``IMAGE.dat`` (Wicht & Hennebert photos: 2 header lines, 9 rows of 9
digits). Images without ground truth are skipped.

Reports: solved right (the solution satisfies the true puzzle), givens right (every
cell read right), cell accuracy, kind right, grid found, per kind, error codes, and
per-stage time percentiles. The first image is solved once untimed to warm up (lazy
imports, classifier weights); that one-off cost is reported separately. Images are
solved one at a time in this process, so stage times are per image on one core.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

STAGES = ("load", "extract", "rules", "solve", "total")
EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def find_images(root: str, pattern: str = "*") -> list[str]:
    p = Path(root)
    if p.is_file():
        return [str(p)]
    return sorted(str(f) for f in p.rglob(pattern) if f.suffix.lower() in EXTS and f.is_file())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="folder (searched recursively) or one image")
    ap.add_argument("--backend", choices=("auto", "qwen", "geometry"), default="auto")
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=None, help="only the first N images with truth")
    ap.add_argument("--pattern", default="*", help="file name pattern, e.g. '*.png' (clean renders only)")
    ap.add_argument("--ignore-exif", action="store_true", help="ignore EXIF orientation tags")
    ap.add_argument("--out", default=None, help="also write each result (+ its verdict) as JSON lines")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--show-failures", type=int, default=10, metavar="N", help="list up to N failed images")
    args = ap.parse_args(argv)

    from vlm_puzzle.errors import PuzzleError
    from vlm_puzzle.eval.score import verdict as score
    from vlm_puzzle.eval.truth import load_truth
    from vlm_puzzle.pipeline import PuzzleSolver

    if not os.path.exists(args.dir):
        print(f"evaluate: {args.dir} does not exist", file=sys.stderr)
        return 2
    items = []
    for img in find_images(args.dir, args.pattern):
        try:
            truth = load_truth(img)
        except (OSError, ValueError) as exc:
            print(f"evaluate: skipping {img}: {exc}", file=sys.stderr)
            continue
        if truth is not None:
            items.append((img, truth))
    if args.limit:
        items = items[:args.limit]
    if not items:
        print(f"evaluate: no images with ground truth (.json/.dat) under {args.dir}", file=sys.stderr)
        return 2
    try:
        solver = PuzzleSolver(args.backend, args.model, exif=not args.ignore_exif, keep_images=False)
        model_load_s = solver.load()
    except PuzzleError as exc:
        print(f"evaluate: {exc.code}: {exc}", file=sys.stderr)
        return 2

    progress = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm
        progress = tqdm(total=len(items), unit="img", file=sys.stderr)
    t0 = time.perf_counter()
    solver.solve_image(items[0][0])  # warm-up, not counted
    warmup_s = time.perf_counter() - t0
    rows = []
    out_fh = open(args.out, "w", encoding="utf-8") if args.out else None
    t_run = time.perf_counter()
    for img, truth in items:
        res = solver.solve_image(img)
        verdict = score(res, truth)
        kind = truth.kind or "unknown"
        rows.append((img, kind, res, verdict))
        if out_fh:
            out_fh.write(json.dumps({**res.to_dict(), "truth_kind": kind, "verdict": verdict}) + "\n")
            out_fh.flush()
        if progress:
            progress.update(1)
    wall = time.perf_counter() - t_run
    if progress:
        progress.close()
    if out_fh:
        out_fh.close()

    report = build_report(rows, solver, model_load_s, warmup_s, wall, args)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report, rows, args.show_failures)
    return 0


def build_report(rows, solver, model_load_s, warmup_s, wall, args) -> dict:
    def summary(sub):
        n = len(sub)
        cells = sum(v["cells"] for *_, v in sub)
        kinds = [v["kind_right"] for *_, v in sub if v["kind_right"] is not None]
        return {"n": n,
                "solved_right": sum(v["solved_right"] for *_, v in sub),
                "givens_right": sum(v["givens_right"] for *_, v in sub),
                "grid_found": sum(v["grid_found"] for *_, v in sub),
                "kind_right": sum(kinds) if kinds else None,
                "cell_accuracy": round(sum(v["cells_right"] for *_, v in sub) / cells, 4) if cells else None,
                "solved_right_pct": round(100 * sum(v["solved_right"] for *_, v in sub) / n, 1) if n else None,
                "givens_right_pct": round(100 * sum(v["givens_right"] for *_, v in sub) / n, 1) if n else None}

    by_kind = {}
    for kind in sorted({k for _, k, _, _ in rows}):
        by_kind[kind] = summary([r for r in rows if r[1] == kind])
    codes: dict[str, int] = {}
    for _, _, res, _ in rows:
        if res.error:
            codes[res.error.code] = codes.get(res.error.code, 0) + 1
    timed = [res for _, _, res, _ in rows if res.status != "error" or res.timings.extract > 0]
    times = {}
    for s in STAGES:
        vals = [getattr(r.timings, s) for r in timed]
        times[s] = {"p50_ms": round(1000 * percentile(vals, 0.5), 2), "p90_ms": round(1000 * percentile(vals, 0.9), 2),
                    "p99_ms": round(1000 * percentile(vals, 0.99), 2), "max_ms": round(1000 * max(vals), 2) if vals else None,
                    "mean_ms": round(1000 * sum(vals) / len(vals), 2) if vals else None}
    return {"dir": args.dir, "backend": solver.backend, "rules": solver.describe(), "images": len(rows),
            "overall": summary(rows), "by_kind": by_kind, "error_codes": dict(sorted(codes.items())),
            "timings": times, "model_load_s": round(model_load_s, 3), "warmup_s": round(warmup_s, 3),
            "wall_s": round(wall, 3), "images_per_s": round(len(rows) / wall, 3) if wall else None,
            "cpu_count": os.cpu_count(), "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def print_report(rep: dict, rows, show_failures: int) -> None:
    o = rep["overall"]
    print(f"{rep['images']} images from {rep['dir']}  (rules: {rep['rules']})")
    print(f"  solved right : {o['solved_right']:4d} / {o['n']}  ({o['solved_right_pct']}%)")
    print(f"  givens right : {o['givens_right']:4d} / {o['n']}  ({o['givens_right_pct']}%)   "
          f"cell accuracy {o['cell_accuracy']}")
    print(f"  grid found   : {o['grid_found']:4d} / {o['n']}" +
          (f"   kind right {o['kind_right']} / {o['n']}" if o['kind_right'] is not None else ""))
    if len(rep["by_kind"]) > 1:
        print("  per kind:")
        for k, s in rep["by_kind"].items():
            print(f"    {k:10s} n={s['n']:3d}  solved right {s['solved_right']:3d}  givens right {s['givens_right']:3d}"
                  f"  kind right {s['kind_right']}  cells {s['cell_accuracy']}")
    if rep["error_codes"]:
        print("  problems: " + ", ".join(f"{k} x{v}" for k, v in rep["error_codes"].items()))
    print("  time per image (ms):     p50      p90      p99      max     mean")
    for s, t in rep["timings"].items():
        print(f"    {s:8s}          {t['p50_ms']:8.1f} {t['p90_ms']:8.1f} {t['p99_ms']:8.1f} "
              f"{(t['max_ms'] or 0):8.1f} {(t['mean_ms'] or 0):8.1f}")
    print(f"  warm-up (first image, untimed above) {rep['warmup_s']:.2f} s; model load {rep['model_load_s']:.2f} s; "
          f"{rep['images_per_s']} images/s; load average {rep['load_avg']} on {rep['cpu_count']} CPUs")
    fails = [(img, res, v) for img, _, res, v in rows if not v["solved_right"]]
    for img, res, v in fails[:show_failures]:
        why = res.error.code if res.error else ("wrong solution" if res.solved else res.status)
        print(f"    x {img}: {why}; {v['cells'] - v['cells_right']} cell(s) misread")
    if len(fails) > show_failures:
        print(f"    ... and {len(fails) - show_failures} more")


if __name__ == "__main__":
    sys.exit(main())
