#!/usr/bin/env python
"""Solve puzzles end to end, showing every stage: the read grid, the solution, the check
against ground truth and a timing table.

    python experiments/test_end_to_end_verbose.py                 # the samples shipped in data/
    python experiments/test_end_to_end_verbose.py photo.jpg ...   # your own pictures
    python experiments/test_end_to_end_verbose.py --backend qwen --model /models/Qwen2.5-VL-3B-Instruct

With no weights configured it uses the geometry backend. Exit 0 when every puzzle with
ground truth was solved correctly (and every other one solved), else 1.
(Named test_* for discoverability; it is a script, not a pytest module.)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GLOBS = ("data/samples/**/*.png", "data/samples/**/*.jpg", "data/photos/*.jpg", "data/photos/*.png")
STAGES = ("load", "extract", "rules", "solve", "total")


def default_images() -> list[str]:
    found: list[str] = []
    for pattern in DEFAULT_GLOBS:
        found += sorted(str(p) for p in REPO.glob(pattern))
    return found


def short(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", nargs="*", help="image files (default: data/samples and data/photos)")
    ap.add_argument("--backend", choices=("auto", "qwen", "geometry"), default="auto")
    ap.add_argument("--model", default=None, help="Qwen-VL weights (folder or cached id)")
    ap.add_argument("--quiet-grids", action="store_true", help="do not print the grids")
    args = ap.parse_args(argv)

    import numpy as np

    from vlm_puzzle.eval.truth import load_truth
    from vlm_puzzle.imageio import open_image
    from vlm_puzzle.errors import PuzzleError
    from vlm_puzzle.pipeline import WORK_MAX_PIXELS, PuzzleSolver
    from vlm_puzzle.result import ErrorInfo, format_grid, format_layout

    images = args.images or default_images()
    if not images:
        print("no images given and none found in data/samples or data/photos", file=sys.stderr)
        return 2
    t_all = time.perf_counter()

    # [1/5] -------------------------------------------------------------------------
    print(f"[1/5] Loading images ({len(images)})")
    loaded, load_s, load_err, truths = {}, {}, {}, {}
    for path in images:
        t0 = time.perf_counter()
        try:
            loaded[path] = open_image(path, max_pixels=WORK_MAX_PIXELS)
        except PuzzleError as exc:
            load_err[path] = ErrorInfo(exc.code, str(exc))
        load_s[path] = time.perf_counter() - t0
        try:
            truths[path] = load_truth(path)
        except (OSError, ValueError) as exc:
            truths[path] = None
            print(f"      ! {short(path)}: ground truth unreadable: {exc}")
        li = loaded.get(path)
        what = f"{li.size[0]}x{li.size[1]}" + (f" (scaled x{li.scale:.2f})" if li and li.scale != 1 else "") \
            if li else f"ERROR {load_err[path].code}"
        gt = "truth: " + os.path.basename(truths[path].source) if truths.get(path) else "no truth"
        print(f"      {short(path):55s} {what:>12s}  {load_s[path] * 1000:6.1f} ms  {gt}")

    # [2/5] -------------------------------------------------------------------------
    try:
        solver = PuzzleSolver(args.backend, args.model)
        t0 = time.perf_counter()
        if solver.backend == "qwen":
            print(f"[2/5] Initializing rule inference (Qwen-VL at {solver.model_path})", flush=True)
        else:
            print(f"[2/5] Initializing rule inference (geometry: {solver.backend_reason})", flush=True)
        solver.load()
        print(f"      ready in {time.perf_counter() - t0:.2f} s")
    except PuzzleError as exc:
        print(f"      cannot initialize: {exc.code}: {exc}", file=sys.stderr)
        return 2

    # [3/5] -------------------------------------------------------------------------
    print("[3/5] Extracting grid state")
    readings = {}
    for path in images:
        if path in load_err:
            continue
        r = solver.read(loaded[path])
        r.image = path
        r.timings.load = load_s[path]
        readings[path] = r
        truth = truths.get(path)
        if r.error is not None:
            print(f"  {short(path)}: {r.error.code}: {r.error.message}")
            continue
        st = r.state
        n = st.size
        conf = st.confidence
        hints = r.hints
        kind = hints.kind or "?"
        line = f"  {short(path)}: {n}x{n} {kind}, extract {r.timings.extract * 1000:.1f} ms"
        if conf is not None:
            line += f", min cell confidence {float(np.min(conf)):.2f}"
        if st.repairs:
            line += f", {len(st.repairs)} repair(s)"
        if truth is not None:
            read = [[int(v) for v in row] for row in st.givens]
            if len(read) == truth.size:
                wrong = sum(1 for a, b in zip(read, truth.givens) for x, y in zip(a, b) if x != y)
                line += ", givens " + ("all right" if not wrong else f"{wrong} cell(s) wrong")
            else:
                line += f", size wrong (truth {truth.size}x{truth.size})"
        print(line)
        if not args.quiet_grids and n:
            box = getattr(r.spec, "box", None) if r.spec is not None else None
            layout = format_layout(r.spec) if r.spec is not None else None
            if not (layout and r.spec.cages and not r.spec.n_givens):  # a blank KenKen grid says nothing
                print(_indent(format_grid(st.givens, n, box), "      "))
            if layout:
                print(_indent(layout, "      "))

    # [4/5] -------------------------------------------------------------------------
    print("[4/5] Solving")
    results = {}
    ok_readings = [readings[p] for p in images if p in readings and readings[p].error is None]
    vlm = {}
    if solver.backend == "qwen" and ok_readings:
        t0 = time.perf_counter()
        hints = solver.infer_vlm_rules(solver.vlm_images(ok_readings))
        share = (time.perf_counter() - t0) / len(ok_readings)
        for r, h in zip(ok_readings, hints):
            r.timings.rules += share
            vlm[r.image] = h
    for path in images:
        if path in load_err:
            from vlm_puzzle.result import SolveResult, Timings
            results[path] = SolveResult(image=path, status="error", error=load_err[path],
                                        timings=Timings(load=load_s[path], total=load_s[path]))
            continue
        res = solver.finish(readings[path], vlm.get(path))
        results[path] = res
        head = f"  {short(path)}: {res.status}"
        if res.kind:
            head += f" as {res.kind} {res.size}x{res.size} (rules: {res.rule_source})"
        if res.error:
            head += f" - {res.error.code}: {res.error.message}"
        head += f"  [solve {res.timings.solve * 1000:.1f} ms]"
        print(head)
        if res.solution is not None and not args.quiet_grids:
            box = res.spec.box if res.spec is not None else None
            print(_indent(format_grid(res.solution, res.size, box), "      "))

    # [5/5] -------------------------------------------------------------------------
    print("[5/5] Verifying")
    n_ok = n_checked = 0
    all_good = True
    for path in images:
        res, truth = results[path], truths.get(path)
        if truth is None:
            verdict = "solved (no ground truth)" if res.solved else f"NOT SOLVED ({res.status})"
            all_good &= res.solved
        else:
            n_checked += 1
            verdict = _check(res, truth)
            good = verdict.startswith("CORRECT")
            n_ok += good
            all_good &= good
        print(f"  {short(path):55s} {verdict}")
    if n_checked:
        print(f"  {n_ok}/{n_checked} correct against ground truth")

    # timing table ---------------------------------------------------------------------
    print("\nPer-stage timings (ms):")
    w = max(12, max(len(short(p)) for p in images))
    print(f"  {'image':{w}s} " + " ".join(f"{s:>9s}" for s in STAGES) + "  status")
    cols = {s: [] for s in STAGES}
    for path in images:
        t = results[path].timings
        vals = [getattr(t, s) for s in STAGES]
        for s, v in zip(STAGES, vals):
            cols[s].append(v)
        print(f"  {short(path):{w}s} " + " ".join(f"{v * 1000:9.1f}" for v in vals) + f"  {results[path].status}")
    print(f"  {'-' * w} " + " ".join("-" * 9 for _ in STAGES))
    print(f"  {'sum':{w}s} " + " ".join(f"{sum(cols[s]) * 1000:9.1f}" for s in STAGES))
    print(f"  {'median':{w}s} " + " ".join(f"{statistics.median(cols[s]) * 1000:9.1f}" for s in STAGES))
    if solver.model_load_s:
        print(f"  model load (once): {solver.model_load_s:.2f} s")
    print(f"  wall time (script, incl. imports and printing): {time.perf_counter() - t_all:.2f} s")
    print("  note: timings on a shared/loaded machine are noisy; re-run on a quiet one to quote them.")
    return 0 if all_good else 1


def _check(res, truth) -> str:
    from vlm_puzzle.eval.score import solution_right

    parts = []
    read_ok = res.givens is not None and res.givens == truth.givens
    if res.givens is not None and len(res.givens) == truth.size:
        wrong = sum(1 for a, b in zip(res.givens, truth.givens) for x, y in zip(a, b) if x != y)
        parts.append("givens right" if not wrong else f"{wrong} given(s) misread")
    elif res.givens is not None:
        parts.append("grid size misread")
    if truth.kind and res.kind and res.kind != truth.kind:
        parts.append(f"kind {res.kind} (truth {truth.kind})")
    if not res.solved:
        return f"WRONG: not solved ({res.error.code if res.error else res.status}); " + ", ".join(parts)
    if solution_right(res.solution, truth):
        return "CORRECT" + (f" ({', '.join(parts)})" if parts and not read_ok else "")
    return "WRONG solution; " + ", ".join(parts)


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + ln for ln in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
