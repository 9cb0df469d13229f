"""Where the kubiesa phone photos lose cells: grid location or reading.

For every photo of the chosen splits (``../shared/datasets/kubiesa-sudoku-photos``; each
split's ``metadata.csv`` holds the grid's four labelled corners) the whole geometry
pipeline runs twice:

* as shipped: the grid finder locates the grid;
* with the data set's corners: the labelled outline replaces the grid finder's
  (:func:`vlm_puzzle.vision.grid.refine_quad` then fits the lattice inside it, as it
  does for a found outline), everything after it unchanged.

Per photo it prints the located corners' error against the labels (largest corner
distance, in cells of the labelled grid), the cells read right both ways and the
status, and sums them up: cells lost to location are those the labelled corners read
right and the found ones do not.

    python experiments/kubiesa_grids.py --splits val [--json out/kubiesa_grids.json] [-v]
    python experiments/kubiesa_grids.py --splits val train --perturb blur   # the photos made harder

``--perturb`` changes every photo first (its labelled corners follow): ``small`` (900 px on the
long side), ``turned`` (a quarter turn), ``jpeg`` (quality 40), ``blur`` (Gaussian, sigma 1.2) or
``dim`` (65% of the light).

Development data only (train and val): the test split is never read.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "kubiesa-sudoku-photos"
# Corner error (cells) up to which a location counts as right.
CORNER_OK = 0.25


def perturbed(image: np.ndarray, corners: np.ndarray, how: str | None) -> tuple[np.ndarray, np.ndarray]:
    """``image`` changed as ``--perturb`` says, and its labelled ``corners`` where they now lie."""
    import cv2
    h, w = image.shape[:2]
    if how == "small":
        s = 900 / max(h, w)
        return cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), corners * s
    if how == "turned":   # clockwise: (x, y) -> (h - 1 - y, x); the pipeline turns the grid upright
        turned = np.stack([h - 1 - corners[:, 1], corners[:, 0]], axis=1)   # so its TL is still the TL
        return np.ascontiguousarray(np.rot90(image, -1)), turned.astype(np.float32)
    if how == "jpeg":
        return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 40])[1], cv2.IMREAD_COLOR), corners
    if how == "blur":
        return cv2.GaussianBlur(image, (0, 0), 1.2), corners
    if how == "dim":
        return (image.astype(np.float32) * 0.65).astype(np.uint8), corners
    return image, corners


def labelled_corners(split_dir: Path) -> dict[str, np.ndarray]:
    """name -> (4, 2) float32 corners TL TR BR BL in the photo's pixels, from metadata.csv."""
    out = {}
    with open(split_dir / "metadata.csv", newline="") as f:
        for row in csv.DictReader(f):
            pts = [(row[f"x_{k}_absolute"], row[f"y_{k}_absolute"]) for k in ("topleft", "topright",
                                                                               "bottomright", "bottomleft")]
            out[row["Name"]] = np.array(pts, np.float32)
    return out


def corner_error(found: np.ndarray, want: np.ndarray) -> float:
    """Largest distance between matching corners, in cells (a ninth of the labelled grid's mean side)."""
    sides = np.linalg.norm(want - np.roll(want, -1, axis=0), axis=1)
    return float(np.linalg.norm(found - want, axis=1).max() / (sides.mean() / 9))


@contextmanager
def located_at(corners: np.ndarray | None):
    """Within it, the grid reader takes ``corners`` (TL TR BR BL, image pixels) for the
    grid's outline instead of searching for one (None: unchanged)."""
    from vlm_puzzle.vision import extract
    from vlm_puzzle.vision.gray import to_gray
    from vlm_puzzle.vision.grid import refine_quad
    original = extract.locate_grid
    if corners is not None:
        extract.locate_grid = lambda image: refine_quad(to_gray(image), corners)
    try:
        yield
    finally:
        extract.locate_grid = original


def cells_right(res, want) -> int:
    got = res.givens if res.givens is not None and len(res.givens) == 9 else None
    return sum(int(got[r][c]) == want[r][c] for r in range(9) for c in range(9)) if got else 0


def run(root: Path, splits, verbose: bool, perturb: str | None = None) -> dict:
    import cv2
    from vlm_puzzle.eval.kubiesa import load_split
    from vlm_puzzle.pipeline import PuzzleSolver
    solver = PuzzleSolver(backend="geometry", keep_images=True)
    out = {}
    for split in splits:
        corners = labelled_corners(root / split)
        rows = []
        for photo in load_split(root, split):
            want = photo.expected
            image, label = perturbed(cv2.imread(str(photo.path)), corners[photo.path.name], perturb)
            t = time.perf_counter()
            found = solver.solve_image(image)
            ms = 1000 * (time.perf_counter() - t)
            with located_at(label):
                oracle = solver.solve_image(image)
            err = None
            if found.state is not None:
                # Corners of the upright grid in original pixels; the labels are upright too.
                err = corner_error(np.asarray(found.state.geometry.corners, np.float32), label)
            row = {"image": photo.path.name, "corner_err": err, "size": found.size,
                   "cells": cells_right(found, want), "cells_labelled": cells_right(oracle, want),
                   "status": found.status, "status_labelled": oracle.status,
                   "error": found.error.code if found.error else None, "ms": ms}
            rows.append(row)
            if verbose or row["cells"] < 81 or row["cells_labelled"] < 81:
                e = "-" if err is None else f"{err:.2f}"
                print(f"{split}/{row['image']:<28} corner err {e:>6} cells {row['cells']:>2} "
                      f"(labelled corners {row['cells_labelled']:>2}) {row['status']}/{row['error']}"
                      f" size {row['size']}", flush=True)
        out[split] = rows
    return out


def summary(rows: list[dict]) -> dict:
    n = len(rows)
    errs = [r["corner_err"] for r in rows if r["corner_err"] is not None]
    lost_location = sum(max(0, r["cells_labelled"] - r["cells"]) for r in rows)
    return {"photos": n, "read_right": sum(r["cells"] == 81 for r in rows),
            "cells_right": sum(r["cells"] for r in rows), "cells": 81 * n,
            "cells_right_labelled": sum(r["cells_labelled"] for r in rows),
            "located_ok": sum(e <= CORNER_OK for e in errs), "not_found": n - len(errs),
            "corner_err_median": float(np.median(errs)) if errs else None,
            "cells_lost_to_location": lost_location,
            "ms_median": float(np.median([r["ms"] for r in rows])) if rows else None}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=DATASET)
    ap.add_argument("--splits", nargs="+", default=["val"], choices=["train", "val"])
    ap.add_argument("--perturb", choices=["small", "turned", "jpeg", "blur", "dim"])
    ap.add_argument("--json", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not (args.root / args.splits[0]).is_dir():
        print(f"no kubiesa photos under {args.root}", file=sys.stderr)
        return {}
    import cv2
    cv2.setNumThreads(1)
    rows = run(args.root, args.splits, args.verbose, args.perturb)
    sums = {split: summary(r) for split, r in rows.items()}
    for split, s in sums.items():
        print(f"{split}: photos read right {s['read_right']}/{s['photos']}; cells right "
              f"{s['cells_right']}/{s['cells']} ({s['cells_right'] / s['cells']:.3%}), with the labelled corners "
              f"{s['cells_right_labelled']} ({s['cells_right_labelled'] / s['cells']:.3%}); grid within "
              f"{CORNER_OK} cell of the labels {s['located_ok']}, not found {s['not_found']}, median corner "
              f"error {s['corner_err_median']:.3f} cell; cells lost to location {s['cells_lost_to_location']}; "
              f"median {s['ms_median']:.0f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": sums, "rows": rows}, indent=1))
    return sums


if __name__ == "__main__":
    main()
