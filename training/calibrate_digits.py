"""Fit the digit reader's temperature on writers and prints no model trained on, and report calibration.

A network trained on a few thousand writers is sure of itself on writers it never saw more often
than it is right. One scalar ``T`` (the joint logits divided by it, ``training/ensemble_onnx.py
--temperature``) is fitted by the mean negative log-likelihood of the true symbol on seeded held-out
grids of ``training/eval_handwriting.py`` (held-out MNIST writers and handwriting fonts, held-out
print fonts) numbered from :data:`CALIB_FIRST`, a range that script's own scores never use. The
argmax never changes; near-ties (top two within ``--tie`` of each other) should be rare and as often
wrong as they claim. Usage::

    python training/calibrate_digits.py --model out/digits.onnx --grids 200 --json calib.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CALIB_FIRST = 100_000           # grid numbers from here on: calibration only
TEMPERATURES = np.geomspace(0.5, 4.0, 71)


def scaled(probs: np.ndarray, t: float) -> np.ndarray:
    """``probs`` with their log divided by ``t``, renormalised (a softmax of logits / t)."""
    z = np.log(np.maximum(probs.astype(np.float64), 1e-12)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.maximum(probs[np.arange(len(y)), y], 1e-12)).mean())


def report(probs: np.ndarray, y: np.ndarray, tie: float = 0.2, bins: int = 10) -> dict:
    """Accuracy, NLL, expected calibration error of the top symbol, and the near-ties."""
    top = probs.max(1)
    right = probs.argmax(1) == y
    second = np.sort(probs, axis=1)[:, -2]
    ece = 0.0
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (top > lo) & (top <= hi)
        if sel.any():
            ece += sel.mean() * abs(top[sel].mean() - right[sel].mean())
    ties = (top - second) < tie
    return {"cells": int(len(y)), "acc": round(float(right.mean()), 5), "nll": round(nll(probs, y), 5),
            "ece": round(float(ece), 5), "near_ties": int(ties.sum()),
            "near_tie_acc": round(float(right[ties].mean()), 4) if ties.any() else None,
            "wrong_at_0.9": int((~right & (top >= 0.9)).sum())}


def fit(probs: np.ndarray, y: np.ndarray) -> float:
    """The temperature of least mean NLL over :data:`TEMPERATURES`."""
    return float(TEMPERATURES[int(np.argmin([nll(scaled(probs, t), y) for t in TEMPERATURES]))])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--grids", type=int, default=150, help="held-out handwritten grids (and a third as many printed)")
    ap.add_argument("--fonts", default="/usr/share/fonts")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from eval_handwriting import heldout_cells, predict  # the data makers (torch, fonts): only to run

    from vlm_puzzle.vision.extract import has_ink
    xh, yh, _ = heldout_cells(args.grids, args.fonts, hand=True, first=CALIB_FIRST)
    xp, yp, _ = heldout_cells(max(1, args.grids // 3), args.fonts, hand=False, first=CALIB_FIRST)
    x, y = np.concatenate([xh, xp]), np.concatenate([yh, yp])
    keep = has_ink(x)                   # ink-less patches are read blank without the network
    x, y = x[keep], y[keep]
    probs = predict(args.model, x)
    t = fit(probs, y)
    out = {"model": str(args.model), "grids": args.grids, "first": CALIB_FIRST, "temperature": round(t, 4),
           "before": report(probs, y), "after": report(scaled(probs, t), y)}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
