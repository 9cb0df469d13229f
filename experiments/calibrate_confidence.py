"""Fit ``confidence`` (the probability that an answer is right) on development data, and measure
its reliability on held-out data.

Runs the whole pipeline (``PuzzleSolver(backend="geometry")``, as ``eval_external.py`` does, with
its functions) and keeps each answer's raw signals (:func:`vlm_puzzle.check.confidence.signals`)
and whether it was right:

* fit: sgt-puzzles renders of every category at ``--seed``, the project's renders in the wide
  (held-out) style space, indices 0..per-1, the computer-drawn family (``--styles paper``) at indices
  50..50+per-1, boards written with held-out MNIST digits (``--styles hand``) at indices 50..50+per-1,
  and the kubiesa *train* photos;
* held out: sgt at ``--heldout-seed``, wide renders per..2*per-1, paper and hand boards at indices
  70..70+per-1, the kubiesa *val* photos and the 160 newspaper photos of
  ``wichtounet-sudoku-v2-train`` (never used to fit).

No reader was trained on any of these pictures (the hand boards' digits are MNIST's held-out split).

The calibrator is a logistic model on the signals (L2, standardised) followed by an isotonic map
of its out-of-fold output to the measured accuracy, each block's accuracy shrunk towards
``PRIOR`` and capped so the map stays non-decreasing (a small block all right does not claim
certainty). Written to ``src/vlm_puzzle/check/calibration.json`` (``--write``), which the
pipeline loads. Prints the reliability table (confidence bins against accuracy) on the held-out
data for the confidence as shipped when the run started ("before") and as refitted ("after").

    nice python experiments/calibrate_confidence.py --per-category 3 --jobs 2 --write
    nice python experiments/calibrate_confidence.py --heldout-only     # measure the shipped table
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_external as ext  # noqa: E402  (the benchmark's sources and rows, reused)

from vlm_puzzle.check.confidence import CALIBRATION_PATH, FEATURES, Calibration, probability  # noqa: E402
from vlm_puzzle.eval.reliability import answers, format_reliability, reliability, right  # noqa: E402

WICHTOUNET = ext.DATASETS / "wichtounet-sudoku-v2-train"
L2 = 1.0          # logistic ridge, on standardised features
FOLDS = 5
PRIOR = (1.0, 1.0)   # beta prior (right, wrong) each isotonic block's accuracy is shrunk with
WICHTOUNET_CHUNKS = 4
# First index of the paper and hand boards per split: apart from the indices their benchmarks
# report (0..19) and below the 100 a paper variant's seeds leave room for.
FIRST = {"fit": 50, "heldout": 70}
# The signals fitted on: few, as wrong answers in development data are few (a model on every
# signal turned weights' signs from run to run).
FIT_FEATURES = ("read_logit", "rule_confidence", "not_unique")


# ---- running the pipeline (one task per process) --------------------------------------------

def _tasks(args) -> list[tuple]:
    from vlm_puzzle.eval import handwritten, sgt
    out = []
    for split, seed, first, photos in (("fit", args.seed, 0, ["train"]), ("heldout", args.heldout_seed,
                                                                         args.per_category, ["val"])):
        if split == "fit" and args.heldout_only:
            continue
        if "sgt" in args.sources and sgt.available():
            out += [(split, "sgt", cat, seed, args.per_category) for cat in sgt.CATEGORIES]
        if "own" in args.sources:
            out += [(split, "own", kind, first, args.per_category) for kind in ext.OWN_KINDS]
        if "paper" in args.sources:
            out += [(split, "paper", kind, FIRST[split], args.per_category) for kind in ext.PAPER_KINDS]
        if "hand" in args.sources and handwritten.available():
            out += [(split, "hand", None, FIRST[split], args.per_category)]
        if "kubiesa" in args.sources:
            out += [(split, "kubiesa", s, 0, args.photos) for s in photos]
    if "wichtounet" in args.sources and WICHTOUNET.is_dir():
        out += [("heldout", "wichtounet", k, 0, args.photos) for k in range(WICHTOUNET_CHUNKS)]
    return out


def _run(task) -> tuple[str, dict]:
    import cv2
    from vlm_puzzle.pipeline import PuzzleSolver
    cv2.setNumThreads(1)
    split, source, what, seed, per = task
    solver = PuzzleSolver(backend="geometry", keep_images=False)
    if source == "sgt":
        rows = ext.eval_sgt(solver, [what], per, seed, ext.CACHE, False)
    elif source == "own":
        rows = ext.eval_own(solver, per, ["clean", "photo"], "wide", False, kinds=(what,), first=seed)
    elif source == "paper":
        from vlm_puzzle.render.style import PAPER_VARIANTS
        rows = ext.eval_paper(solver, per, PAPER_VARIANTS, False, kinds=(what,), seed0=ext.PAPER_SEED0 + seed)
    elif source == "hand":
        rows = ext.eval_hand(solver, per, False, first=seed)
    elif source == "kubiesa":
        rows = ext.eval_kubiesa(solver, ext.KUBIESA, [what], per, False)
    else:
        rows = {f"wichtounet/{what}": eval_wichtounet(solver, what, per)}
    return split, rows


def eval_wichtounet(solver, chunk: int, per: int | None) -> list[dict]:
    """Every ``WICHTOUNET_CHUNKS``-th newspaper photo from ``chunk`` (``per`` at most): answered right
    when the solution satisfies the true givens as a sudoku."""
    from vlm_puzzle.eval.score import verdict
    from vlm_puzzle.eval.truth import load_truth
    photos = sorted(WICHTOUNET.glob("*.jpg"), key=lambda p: p.name)[chunk::WICHTOUNET_CHUNKS]
    rows = []
    for path in photos[:per] if per else photos:
        truth = load_truth(str(path))
        res = solver.solve_image(str(path))
        v = verdict(res, truth)
        rows.append({"image": path.name, "status": res.status, "read": v["givens_right"], "solved": v["solved_right"],
                     "confidence": res.confidence, "rule_confidence": res.rule_confidence,
                     "signals": dict(res.signals)})
    return rows


# ---- fitting ---------------------------------------------------------------------------------

def matrix(rows: list[dict], features=FEATURES) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[float(r["signals"][f]) for f in features] for r in rows], float).reshape(-1, len(features))
    y = np.array([right(r) for r in rows], float)
    return x, y


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2):
    """(mean, scale, weights, bias) of an L2 logistic regression by Newton's method."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0   # the bias is not shrunk
    for _ in range(100):
        p = 1 / (1 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, w[:-1], float(w[-1])


def isotonic(score: np.ndarray, y: np.ndarray, prior=PRIOR) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a non-decreasing map from ``score`` to accuracy: pool-adjacent-violators blocks,
    each at its mean score with its accuracy shrunk by ``prior``, then lowered where a later block
    is lower (never raised: the map errs on the side of doubt)."""
    order = np.argsort(score, kind="stable")
    blocks = []   # [sum score, right, n]
    for s, t in zip(score[order], y[order]):
        blocks.append([s, t, 1])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            s2, t2, n2 = blocks.pop()
            blocks[-1] = [blocks[-1][0] + s2, blocks[-1][1] + t2, blocks[-1][2] + n2]
    xs = np.array([b[0] / b[2] for b in blocks])
    ys = np.array([(b[1] + prior[0]) / (b[2] + prior[0] + prior[1]) for b in blocks])
    ys = np.minimum.accumulate(ys[::-1])[::-1]
    return xs, ys


def fit(rows: list[dict], l2: float = L2, folds: int = FOLDS, seed: int = 0,
        features=FIT_FEATURES) -> Calibration:
    """The calibration of answered ``rows``: logistic on every row, isotonic on out-of-fold scores."""
    x, y = matrix(rows, features)
    if len(y) < 2 * folds or y.min() == y.max():
        raise SystemExit(f"cannot fit on {len(y)} answers ({int(y.sum())} right): need both right and wrong ones")
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    oof = np.zeros(len(y))
    for k in range(folds):
        tr = fold != k
        m, s, w, b = fit_logistic(x[tr], y[tr], l2)
        oof[~tr] = 1 / (1 + np.exp(-(((x[~tr] - m) / s) @ w + b)))
    iso_x, iso_y = isotonic(oof, y)
    m, s, w, b = fit_logistic(x, y, l2)
    return Calibration(features=tuple(features), mean=tuple(m), scale=tuple(s), weights=tuple(w), bias=b,
                       iso_x=tuple(iso_x), iso_y=tuple(iso_y),
                       fitted_on={"answers": int(len(y)), "right": int(y.sum())})


def recalibrated(rows: list[dict], cal: Calibration) -> list[dict]:
    """``rows`` with ``confidence`` as ``cal`` gives it (with the pipeline's ceilings)."""
    return [{**r, "confidence": probability(r["signals"], cal)} if r.get("signals") else r for r in rows]


def wrong_sure(rows: list[dict], at: float = 0.9) -> list[str]:
    return [f"{r['image']} ({r['confidence']:.3f})" for r in answers(rows) if not right(r) and r["confidence"] >= at]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-category", type=int, default=3, help="sgt and own renders per category and split")
    ap.add_argument("--photos", type=int, default=None, help="kubiesa photos per split, wichtounet per chunk "
                    f"(of {WICHTOUNET_CHUNKS}; default all)")
    ap.add_argument("--sources", nargs="+", default=["sgt", "own", "paper", "hand", "kubiesa", "wichtounet"],
                    choices=["sgt", "own", "paper", "hand", "kubiesa", "wichtounet"])
    ap.add_argument("--seed", type=int, default=101, help="sgt seed of the fitting data")
    ap.add_argument("--heldout-seed", type=int, default=202, help="sgt seed of the held-out data")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes")
    ap.add_argument("--heldout-only", action="store_true", help="only measure the shipped calibration")
    ap.add_argument("--write", action="store_true", help=f"write the fitted table to {CALIBRATION_PATH}")
    ap.add_argument("--json", type=Path, help="write every row, the tables and the fit here")
    args = ap.parse_args(argv)

    t0 = time.time()
    tasks = _tasks(args)
    rows: dict[str, list] = {"fit": [], "heldout": []}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for split, got in pool.map(_run, tasks):
            for cat_rows in got.values():
                rows[split] += cat_rows
    held = rows["heldout"]
    report = {"before": reliability(held, ("confidence",))["confidence"], "wrong_sure_before": wrong_sure(held)}
    print(f"held-out answers {len(answers(held))} of {len(held)} images; fit answers "
          f"{len(answers(rows['fit']))} of {len(rows['fit'])} ({time.time() - t0:.0f} s)")
    print("before (as shipped):", format_reliability({"confidence": report["before"]})[0])
    if not args.heldout_only:
        cal = fit(answers(rows["fit"]))
        after = recalibrated(held, cal)
        report.update(after=reliability(after, ("confidence",))["confidence"], wrong_sure_after=wrong_sure(after),
                      calibration=cal.to_dict())
        print("after (refitted):  ", format_reliability({"confidence": report["after"]})[0])
        print("weights:", ", ".join(f"{f} {w:+.2f}" for f, w in zip(cal.features, cal.weights)))
        if args.write:
            CALIBRATION_PATH.write_text(json.dumps(cal.to_dict(), indent=1) + "\n")
            print(f"written {CALIBRATION_PATH}")
    for key in ("wrong_sure_before", "wrong_sure_after"):
        if key in report:
            print(f"wrong answers at confidence >= 0.9 ({key[11:]}): {len(report[key])} {report[key][:5]}")
    print(f"({time.time() - t0:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **report,
                                         "rows": rows}, indent=1))
    return report


if __name__ == "__main__":
    main()
