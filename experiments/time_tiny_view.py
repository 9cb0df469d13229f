"""Time per answer of the shipped vlm-puzzle-tiny on one CPU thread, as the pipeline asks it: the grid
view cut from the reading (``Reading.vlm_image``) and the model's answer, per picture; the whole
picture's answer beside it (the view the first checkpoint was asked on), alternating in one process.

    python experiments/time_tiny_view.py data/samples/*_2024.png data/samples/*_photo.jpg data/photos/*.jpg
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main(argv=None) -> None:
    import cv2
    import torch

    from vlm_puzzle.models.shipped import checkpoint_view, shipped_model_path
    from vlm_puzzle.pipeline import PuzzleSolver
    from vlm_puzzle.rules.vlm import infer_rules_vlm_detailed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    solver = PuzzleSolver(backend="qwen", model=str(shipped_model_path()))
    solver.load()
    view = checkpoint_view(solver.model_path)
    rows = {}
    for path in args.images:
        reading = solver.read(path)
        if reading.error is not None:
            continue
        best = {"view_ms": 1e9, "grid_answer_ms": 1e9, "picture_answer_ms": 1e9}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            pic = reading.vlm_image(*view)
            t1 = time.perf_counter()
            infer_rules_vlm_detailed(solver._vlm, [pic])
            t2 = time.perf_counter()
            infer_rules_vlm_detailed(solver._vlm, [reading.vlm_image()])
            t3 = time.perf_counter()
            for k, v in (("view_ms", t1 - t0), ("grid_answer_ms", t2 - t0), ("picture_answer_ms", t3 - t2)):
                best[k] = min(best[k], v * 1e3)
        rows[path] = {k: round(v, 1) for k, v in best.items()}
    out = {k: round(statistics.median(r[k] for r in rows.values()), 1) for k in ("view_ms", "grid_answer_ms",
                                                                              "picture_answer_ms")}
    out["max_grid_answer_ms"] = max(r["grid_answer_ms"] for r in rows.values())
    print(json.dumps({"median": out, "n": len(rows)}, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"median": out, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
