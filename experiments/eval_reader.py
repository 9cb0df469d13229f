"""Benchmark the state extractor on a folder of images with ground truth.

Ground truth, per image ``X.jpg`` / ``X.png``:
  * ``X.dat`` (Wicht & Hennebert format: 2 header lines, then N rows of N
    digits) and, optionally, ``outlines.csv`` in the folder (true corners);
  * or ``X.json`` from ``vlm_puzzle.render.save_rendered`` (``spec.givens``,
    ``corners``).

Prints: grids with every given right (before and after repair), cell accuracy,
empty/digit confusion, grid-detection failures (corner error vs truth), median
and 95th-percentile time per image, peak memory.

Cross-validation (``--cv K``): each photo is read by the fold model that never
saw it (``DIR_MODELS/digits_foldF.onnx`` and ``cv_folds.json`` written by
``training/train_digits.py --folds K``).

Run it quietly (nothing else on the machine) for timings; one core::

    python experiments/eval_reader.py ../shared/datasets/wichtounet-sudoku-v2-train
    python experiments/eval_reader.py ../shared/datasets/wichtounet-sudoku-v2-train --cv 5 --models out/digits
    python experiments/eval_reader.py --render 40 --photo   # fresh renders (held-out fonts)
    python experiments/eval_reader.py --variants --per-kind 20   # variant kinds (eval_variants.py)
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vlm_puzzle.errors import PuzzleError
from vlm_puzzle.eval.truth import load_truth


def read_truth(img: Path) -> dict | None:
    """{"givens": N x N array, "corners": 4x2 or None} for an image (``eval.truth``), or None."""
    truth = load_truth(str(img))
    if truth is None:
        return None
    corners = np.array(truth.corners, float) if truth.corners else None
    return {"givens": np.array(truth.givens, np.int64), "corners": corners}


def read_outlines(folder: Path) -> dict[str, np.ndarray]:
    path = folder / "outlines.csv"
    if not path.exists():
        return {}
    out = {}
    for row in csv.DictReader(path.open()):
        name = Path(row["filepath"]).name
        out[name] = np.array([[float(row[f"p{i}_x"]), float(row[f"p{i}_y"])] for i in range(1, 5)])
    return out


def corner_error_cells(found: np.ndarray, truth: np.ndarray, n: int) -> float:
    """Largest corner distance, in cell widths (truth grid side / n)."""
    side = np.mean([np.linalg.norm(truth[i] - truth[(i + 1) % 4]) for i in range(4)])
    return float(np.linalg.norm(found - truth, axis=1).max() / (side / n))


def images_in(folder: Path) -> list[Path]:
    imgs = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [p for p in imgs if read_truth(p) is not None]


def render_set(count: int, photo: bool, seed: int, folder: Path) -> None:
    """Write ``count`` fresh renders (held-out fonts when the trainer names them) to ``folder``."""
    from vlm_puzzle.render import generate_puzzle, render_puzzle
    from vlm_puzzle.render.rendered import save_rendered
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    try:
        from synth import font_files
        fonts = font_files(held_out=True) or None
    except ImportError:
        fonts = None
    sizes = (9, 9, 9, 4, 6, 8, 12, 16)
    for i in range(count):
        n = sizes[i % len(sizes)]
        spec = generate_puzzle("sudoku", n, seed=seed + i)
        spec = spec[0] if isinstance(spec, tuple) else getattr(spec, "spec", spec)
        r = render_puzzle(spec, seed=seed + i, photo=photo, fonts=fonts)
        save_rendered(r, folder / f"render{i:03d}")


def evaluate(folder: Path, *, models: Path | None, cv: int, repair: bool, limit: int | None,
             verbose: bool) -> dict:
    from vlm_puzzle.check import read_checked
    from vlm_puzzle.vision import GridReader
    from vlm_puzzle.vision.classifier import DIGITS_MODEL
    outlines = read_outlines(folder)
    fold_of: dict[str, int] = {}
    if cv:
        folds = json.loads((models / "cv_folds.json").read_text())["folds"]
        if len(folds) != cv:
            raise SystemExit(f"{models}/cv_folds.json has {len(folds)} folds, not {cv}")
        fold_of = {name: f for f, names in enumerate(folds) for name in names}
    imgs = images_in(folder)[:limit]
    stats = {"images": 0, "read_fail": 0, "grids_right_raw": 0, "grids_right": 0, "cells": 0,
             "cells_right_raw": 0, "cells_right": 0, "empty_as_digit": 0, "digit_as_empty": 0,
             "digit_as_other": 0, "detect_fail": 0, "size_wrong": 0, "repaired": 0, "repair_failed": 0,
             "wrong_but_ok": 0, "not_in_cv": 0}
    times, corner_errs, failures = [], [], []
    readers: dict = {}  # per digit model: its networks load once, not inside an image's time
    for img in imgs:
        truth = read_truth(img)
        tg = truth["givens"]
        n = tg.shape[0]
        model = None
        if cv:
            stem = img.stem
            if stem not in fold_of:
                stats["not_in_cv"] += 1   # photo the grid finder skipped in training: default model
                model = DIGITS_MODEL
            else:
                model = models / f"digits_fold{fold_of[stem]}.onnx"
        elif models is not None:
            model = models / "digits.onnx"
        stats["images"] += 1
        if model not in readers:
            readers[model] = GridReader(model)
        t0 = time.perf_counter()
        try:
            st = read_checked(str(img), rules=False, repair=repair, reader=readers[model])
        except PuzzleError as exc:
            stats["read_fail"] += 1
            stats["detect_fail"] += 1
            failures.append(f"{img.name}: {type(exc).__name__}: {exc}")
            stats["cells"] += n * n
            continue
        times.append(time.perf_counter() - t0)
        true_corners = truth["corners"] if truth["corners"] is not None else outlines.get(img.name)
        if st.size != n:
            stats["size_wrong"] += 1
            stats["detect_fail"] += 1
            stats["cells"] += n * n
            failures.append(f"{img.name}: read {st.size}x{st.size}, truth {n}x{n}")
            continue
        if true_corners is not None:
            # Compare as unordered corner sets: the truth may start at another corner
            # when the page is rotated.
            best = min(corner_error_cells(np.roll(st.corners, k, axis=0), true_corners, n) for k in range(4))
            corner_errs.append(best)
            if best > 0.5:
                stats["detect_fail"] += 1
                failures.append(f"{img.name}: corners off by {best:.2f} cells")
        raw = st.raw_givens
        stats["cells"] += n * n
        stats["cells_right_raw"] += int((raw == tg).sum())
        stats["cells_right"] += int((st.givens == tg).sum())
        stats["grids_right_raw"] += int((raw == tg).all())
        ok = bool((st.givens == tg).all())
        stats["grids_right"] += int(ok)
        stats["empty_as_digit"] += int(((tg == 0) & (st.givens != 0)).sum())
        stats["digit_as_empty"] += int(((tg != 0) & (st.givens == 0)).sum())
        stats["digit_as_other"] += int(((tg != 0) & (st.givens != 0) & (st.givens != tg)).sum())
        stats["repaired"] += int(st.verdict.status == "repaired")
        stats["repair_failed"] += int(st.verdict.status == "failed")
        stats["wrong_but_ok"] += int(st.ok and not ok)
        if not ok:
            bad = [(int(r), int(c), int(tg[r, c]), int(st.givens[r, c])) for r, c in zip(*np.nonzero(st.givens != tg))]
            failures.append(f"{img.name}: {len(bad)} wrong (r, c, truth, read) {bad[:6]} "
                            f"rot={st.rotation} repair={st.verdict.status} {st.repairs}")
        if verbose:
            print(f"{img.name}: {'ok' if ok else 'WRONG'} {1000 * times[-1]:.0f} ms rot={st.rotation} "
                  f"repair={st.verdict.status}", flush=True)
    stats["time_median_ms"] = 1000 * float(np.median(times)) if times else None
    stats["time_p95_ms"] = 1000 * float(np.percentile(times, 95)) if times else None
    stats["corner_err_median_cells"] = float(np.median(corner_errs)) if corner_errs else None
    stats["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats["failures"] = failures
    return stats


def report(stats: dict) -> None:
    n = max(1, stats["images"])
    c = max(1, stats["cells"])
    print(f"images: {stats['images']}")
    print(f"grids with every given right: before repair {stats['grids_right_raw']}/{n} "
          f"({stats['grids_right_raw'] / n:.1%}), after repair {stats['grids_right']}/{n} "
          f"({stats['grids_right'] / n:.1%})")
    print(f"cell accuracy: before repair {stats['cells_right_raw'] / c:.4%}, after {stats['cells_right'] / c:.4%}"
          f" ({stats['cells']} cells)")
    print(f"confusion (after repair): empty read as digit {stats['empty_as_digit']}, digit read as empty "
          f"{stats['digit_as_empty']}, digit read as another digit {stats['digit_as_other']}")
    print(f"grid detection failures: {stats['detect_fail']} (errors {stats['read_fail']}, wrong size "
          f"{stats['size_wrong']}); median corner error {stats['corner_err_median_cells']} cells")
    print(f"repairs: {stats['repaired']} grids repaired, {stats['repair_failed']} unrepairable; "
          f"wrong grids presented as solvable: {stats['wrong_but_ok']}")
    if stats.get("not_in_cv"):
        print(f"photos not in any CV fold (grid finder failed in training prep): {stats['not_in_cv']}")
    print(f"time per image: median {stats['time_median_ms']:.1f} ms, p95 {stats['time_p95_ms']:.1f} ms; "
          f"peak RSS {stats['peak_rss_mb']:.0f} MB")
    for f in stats["failures"]:
        print("  ", f)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", help="folder of images with .dat / .json ground truth")
    ap.add_argument("--cv", type=int, default=0, help="K: read each photo with its held-out fold model")
    ap.add_argument("--models", type=Path, default=None, help="folder with digits*.onnx from train_digits.py")
    ap.add_argument("--no-repair", action="store_true")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 = the one-core figure)")
    ap.add_argument("--render", type=int, default=0, help="evaluate on this many fresh renders instead")
    ap.add_argument("--photo", action="store_true", help="with --render: photo-style renders")
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--variants", action="store_true",
                    help="evaluate the variant kinds on fresh renders instead (clean and photo, held-out "
                         "fonts): per kind, read entirely right, solved right, ms per image "
                         "(experiments/eval_variants.py; its options below)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("-v", "--verbose", action="store_true")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import eval_variants
    eval_variants.add_arguments(ap.add_argument_group("with --variants"))
    args = ap.parse_args(argv)
    cv2.setNumThreads(args.threads)
    if args.variants:
        if args.dir or args.cv or args.render:
            ap.error("--variants renders its own puzzles: it takes no folder, --cv or --render")
        res = eval_variants.run(args, verbose=args.verbose)
        if args.json:
            args.json.write_text(json.dumps(res, indent=1))
        return
    if args.cv and args.models is None:
        ap.error("--cv needs --models DIR (from training/train_digits.py --folds K --out DIR)")
    if args.render:
        tmp = Path(tempfile.mkdtemp(prefix="eval_reader_"))
        render_set(args.render, args.photo, args.seed, tmp)
        folder = tmp
    elif args.dir:
        folder = Path(args.dir)
    else:
        default = Path(os.environ.get("VLM_PUZZLE_DATASETS", Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"))
        folder = default / "wichtounet-sudoku-v2-train"
    stats = evaluate(folder, models=args.models, cv=args.cv, repair=not args.no_repair, limit=args.limit,
                     verbose=args.verbose)
    report(stats)
    if args.json:
        args.json.write_text(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
