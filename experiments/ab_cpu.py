"""CPU time per board of two checkouts, interleaved board by board, and whether their answers agree.

On a machine shared with other work, runs of one checkout after the other see different loads;
here two worker processes (one per checkout, ``OMP_NUM_THREADS=1``, one OpenCV thread) solve each
board in turn (A B, then B A, ...) and each side keeps its least CPU time per board, so both
meet the same load. The boards are those of ``time_cpu.py`` (``eval_external.py``'s, drawn once
here); answers are compared as ``SolveResult.to_dict()`` without timings. Usage::

    nice python experiments/ab_cpu.py /tmp/before/src src --sources sgt paper hand --per-category 5
    nice python experiments/ab_cpu.py /tmp/before/src src --categories kenken9 killer9 --json out/ab.json

(``/tmp/before``: e.g. ``git archive <commit> | tar -x -C /tmp/before``.)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(boards_path: str) -> None:
    """Solve the boards whose indices arrive on stdin; print CPU ms and the answer's hash."""
    import cv2
    from vlm_puzzle.pipeline import PuzzleSolver
    cv2.setNumThreads(1)
    boards = pickle.loads(Path(boards_path).read_bytes())
    solver = PuzzleSolver(backend="geometry", keep_images=False)
    solver.warm()
    print("ready", flush=True)
    for line in sys.stdin:
        t = time.process_time()
        res = solver.solve_image(boards[int(line)][1])
        ms = 1000 * (time.process_time() - t)
        d = res.to_dict()
        d.pop("timings_s"), d.pop("image")
        digest = hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()
        print(json.dumps({"ms": ms, "answer": digest}), flush=True)


def collect(args) -> list[tuple[str, object]]:
    """(category, image path or array) of each board time_cpu.py solves."""
    sys.path.insert(0, str(HERE))
    import eval_external as E

    class Recorder:
        def __init__(self):
            from vlm_puzzle.pipeline import PuzzleSolver
            self.solver, self.seen = PuzzleSolver(backend="geometry", keep_images=False), []

        def solve_image(self, src, **kwargs):
            self.seen.append(src)
            return self.solver.solve_image(src, **kwargs)
    out = []
    for source in args.sources:
        rec = Recorder()
        if source == "sgt":
            rows = E.eval_sgt(rec, args.categories, args.per_category, 1, E.CACHE, False)
        elif source == "paper":
            rows = E.eval_paper(rec, args.per_category, ["bench"], False, tuple(E.PAPER_KINDS))
        else:
            rows = E.eval_hand(rec, args.per_category, False)
        seen = iter(rec.seen)
        out += [(cat, next(seen)) for cat, cat_rows in rows.items() for _ in cat_rows]
    return out


def main(argv=None) -> dict:
    from vlm_puzzle.eval import sgt
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="the first checkout's src folder (PYTHONPATH of its worker)")
    ap.add_argument("b", help="the second checkout's src folder")
    ap.add_argument("--sources", nargs="+", default=["sgt", "paper", "hand"], choices=["sgt", "paper", "hand"])
    ap.add_argument("--categories", nargs="+", default=list(sgt.CATEGORIES), choices=list(sgt.CATEGORIES))
    ap.add_argument("--per-category", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2, help="solves per board and side (least CPU time kept)")
    ap.add_argument("--json", type=Path, help="write every board's times and agreement here")
    args = ap.parse_args(argv)

    boards = collect(args)
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as fh:
        fh.write(pickle.dumps(boards))
    workers = []
    for src in (args.a, args.b):
        env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()), OMP_NUM_THREADS="1")
        p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", fh.name], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())
        if p.stdout.readline().strip() != "ready":
            raise SystemExit(f"worker for {src} did not start")
        workers.append(p)

    def ask(k: int, i: int) -> dict:
        workers[k].stdin.write(f"{i}\n")
        workers[k].stdin.flush()
        return json.loads(workers[k].stdout.readline())
    rows = []
    try:
        for i, (cat, _) in enumerate(boards):
            got = ([], [])
            for r in range(args.reps):
                for k in ((0, 1) if r % 2 == 0 else (1, 0)):
                    got[k].append(ask(k, i))
            rows.append({"category": cat, "a_ms": min(g["ms"] for g in got[0]),
                         "b_ms": min(g["ms"] for g in got[1]), "same": got[0][0]["answer"] == got[1][0]["answer"]})
    finally:
        for p in workers:
            p.stdin.close()
            p.wait()
        os.unlink(fh.name)
    by: dict[str, list] = {}
    for row in rows:
        by.setdefault(row["category"], []).append(row)
    print(f"{'category':32s} {'A ms':>7s} {'B ms':>7s} {'B/A':>6s} {'same':>5s}")
    for cat, rs in by.items():
        print(f"{cat[-32:]:32s} {statistics.median(r['a_ms'] for r in rs):7.1f} {statistics.median(r['b_ms'] for r in rs):7.1f}"
              f" {statistics.median(r['b_ms'] / r['a_ms'] for r in rs):6.2f} {sum(r['same'] for r in rs):2d}/{len(rs)}")
    summary = {"boards": len(rows), "a_median_ms": statistics.median(r["a_ms"] for r in rows),
               "b_median_ms": statistics.median(r["b_ms"] for r in rows),
               "median_ratio": statistics.median(r["b_ms"] / r["a_ms"] for r in rows),
               "answers_identical": sum(r["same"] for r in rows)}
    print(f"all {len(rows)} boards: median CPU ms A {summary['a_median_ms']:.1f}, B {summary['b_median_ms']:.1f}, "
          f"median B/A {summary['median_ratio']:.3f}; answers identical {summary['answers_identical']}/{len(rows)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return summary


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2])
    else:
        main()
