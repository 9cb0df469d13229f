"""Real photos for training and cross-validation: the shared Wicht & Hennebert
newspaper Sudoku (CC-BY-4.0, SoCPaR 2014), located by the project's own grid finder.

``prepare(dir)`` runs :func:`vlm_puzzle.vision.grid.locate_grid` on each
``imageN.jpg`` and keeps the rectified grid (PNG bytes), the 81 cell rectangles
and the ``.dat`` givens. The photos' orientation (some are upside down or
sideways) is resolved later, by the digit model (``train_digits.py``).
Usage: ``python training/photos.py DIR OUT.npz``; DIR may also be a split of the
kubiesa phone photos (``../shared/datasets/kubiesa-sudoku-photos/train``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from vlm_puzzle.errors import PuzzleError
from vlm_puzzle.eval import kubiesa
from vlm_puzzle.vision.grid import locate_grid


def read_dat(path: Path) -> np.ndarray:
    """The 9x9 givens of a ``.dat`` file: two header lines, then 9 rows of 9 digits."""
    rows = [line.split() for line in path.read_text().splitlines()[2:] if line.strip()]
    grid = np.array([[int(v) for v in row] for row in rows[:9]], dtype=np.int64)
    if grid.shape != (9, 9):
        raise ValueError(f"{path}: expected 9 rows of 9 digits, got shape {grid.shape}")
    return grid


def photo_names(root: Path) -> list[str]:
    return sorted(p.stem for p in root.glob("image*.jpg") if (root / f"{p.stem}.dat").exists())


def prepare(root: Path, names: list[str] | None = None, read_labels=None, ext: str = ".jpg") -> dict[str, np.ndarray]:
    """Grids of the photos ``names`` under ``root`` (default: the newspaper photos with
    ``.dat`` givens) located by the grid finder, with ``read_labels(name)`` 9x9 labels."""
    names_in = photo_names(root) if names is None else names
    read_labels = read_labels or (lambda name: read_dat(root / f"{name}.dat"))
    names, pngs, rects, labels, skipped = [], [], [], [], []
    for name in names_in:
        image = cv2.imread(str(root / f"{name}{ext}"))
        try:
            loc = locate_grid(image)
        except PuzzleError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        lat = loc.lattice
        if lat.size != 9:
            skipped.append(f"{name}: found {lat.size}x{lat.size}")
            continue
        names.append(name)
        pngs.append(np.frombuffer(cv2.imencode(".png", loc.warped)[1].tobytes(), np.uint8))
        rects.append(np.array([lat.cell_rect(r, c) for r in range(9) for c in range(9)], np.float32))
        labels.append(read_labels(name))
    for s in skipped:
        print("skipped", s)
    lengths = np.array([len(p) for p in pngs])
    return {"names": np.array(names), "png": np.concatenate(pngs), "png_len": lengths,
            "rects": np.stack(rects), "labels": np.stack(labels)}


def prepare_kubiesa(folder: Path) -> dict[str, np.ndarray]:
    """:func:`prepare` for one split of Alex Kubiesa's phone photos (MIT; ``NAME.jpg``
    with ``NAME.txt``): printed givens, handwritten entries and pencil marks. Pencil
    marks are labelled empty (what the reader should read), and flagged in ``marks``."""
    names = sorted(p.stem for p in folder.glob("*.jpg") if p.with_suffix(".txt").exists())
    data = prepare(folder, names, lambda name: np.array(kubiesa.read_labels(folder / f"{name}.txt")), ".jpg")
    data["marks"] = data["labels"] == kubiesa.MARKS
    data["labels"] = np.where(data["marks"], 0, data["labels"])
    return data


def load(path: str) -> list[dict]:
    """Photos saved by :func:`prepare`: dicts with name, warped (gray), rects, labels."""
    d = np.load(path)
    out, start = [], 0
    for i, name in enumerate(d["names"]):
        n = int(d["png_len"][i])
        warped = cv2.imdecode(d["png"][start:start + n], cv2.IMREAD_GRAYSCALE)
        start += n
        out.append({"name": str(name), "warped": warped, "rects": d["rects"][i], "labels": d["labels"][i]})
    return out


def as_jpeg(data: dict, quality: int) -> dict:
    """The prepared photos with each warped grid stored as JPEG of ``quality`` instead of
    PNG (a third of the size, for carrying to a GPU machine; :func:`load` reads both)."""
    parts, start = [], 0
    for n in data["png_len"]:
        g = cv2.imdecode(data["png"][start:start + int(n)], cv2.IMREAD_GRAYSCALE)
        parts.append(np.frombuffer(cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes(), np.uint8))
        start += int(n)
    return dict(data, png=np.concatenate(parts), png_len=np.array([len(p) for p in parts]))


if __name__ == "__main__":
    # python training/photos.py SRC OUT.npz [JPEG_QUALITY]. SRC: a prepared .npz (re-encoded) or a
    # folder; a folder of kubiesa photos (NAME.jpg + NAME.txt, no .dat) is prepared as such.
    src = Path(sys.argv[1])
    if src.suffix == ".npz":
        data = dict(np.load(src))
    else:
        data = prepare_kubiesa(src) if not photo_names(src) and any(src.glob("*.txt")) else prepare(src)
    if len(sys.argv) > 3:
        data = as_jpeg(data, int(sys.argv[3]))
    np.savez(sys.argv[2], **data)
    print(len(data["names"]), "photos,", data["png"].nbytes // 1024, "KB of PNG")
