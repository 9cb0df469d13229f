"""Real photos in the rule-reading VLM's training mix: the kubiesa phone photos' train split.

Every one is a plain 9x9 sudoku with 3x3 boxes (newspaper prints being solved), so the target is
known; the metadata labels the grid's four corners. :func:`pack` cuts each photo down to the grid
and a margin, shrinks it (the view is about 300 px: more detail is wasted) and writes a small folder
(JPEG files and ``corners.json``) that travels to the GPU machine; :func:`load` reads it back for
``vlm_data.sample_stream``, which cuts grid views from jittered corners as it does from the
renderer's. The newspaper photos (Wicht & Hennebert) and kubiesa ``val`` stay held out.

    python training/vlm_real.py ../shared/datasets/kubiesa-sudoku-photos/train OUT_DIR
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

GRID_PX = 448      # the grid's mean side in the pack (the view draws it at 2 x 252 px, then halves)
CROP_MARGIN = 0.4   # share of the grid's side kept around it: the view's margin (``vlm_data.MARGINS``, up to
                    # 18% of a view whose grid may be a 6x6 block of the 9x9) shows real page, not border


def read_corners(split: Path) -> dict[str, np.ndarray]:
    """name -> the grid's corners (TL, TR, BR, BL, pixels) from the split's ``metadata.csv``."""
    out = {}
    with open(split / "metadata.csv", newline="") as f:
        for row in csv.DictReader(f):
            pts = [(row[f"x_{c}_absolute"], row[f"y_{c}_absolute"]) for c in ("topleft", "topright", "bottomright", "bottomleft")]
            out[row["Name"]] = np.array(pts, dtype=np.float64)
    return out


def pack(split: Path, out: Path, quality: int = 85) -> dict:
    """Write ``out/NAME.jpg`` (the grid and a margin, the grid about ``GRID_PX`` wide) and
    ``out/corners.json`` (each picture's corners in its own pixels)."""
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    record = {}
    for name, q in sorted(read_corners(split).items()):
        image = cv2.imread(str(split / name))
        if image is None:
            raise FileNotFoundError(split / name)
        side = float(np.mean(np.linalg.norm(q - np.roll(q, 1, axis=0), axis=1)))
        h, w = image.shape[:2]
        x0, y0 = np.clip(np.floor(q.min(0) - CROP_MARGIN * side).astype(int), 0, None)
        x1, y1 = np.minimum(np.ceil(q.max(0) + CROP_MARGIN * side).astype(int), [w, h])
        crop, q = image[y0:y1, x0:x1], q - [x0, y0]
        scale = min(1.0, GRID_PX / side)
        if scale < 1.0:
            crop = cv2.resize(crop, (round(crop.shape[1] * scale), round(crop.shape[0] * scale)), interpolation=cv2.INTER_AREA)
            q = q * [crop.shape[1] / (x1 - x0), crop.shape[0] / (y1 - y0)]
        cv2.imwrite(str(out / name), crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        record[name] = q.round(2).tolist()
    (out / "corners.json").write_text(json.dumps(record))
    return record


def load(folder: Path) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """[(RGB picture, corners, rule answer)] of a :func:`pack` folder, as ``vlm_data.sample_stream``
    takes them (every answer a plain 9x9 sudoku with 3x3 boxes)."""
    import cv2

    from vlm_puzzle.rules.prompt import answer_text

    text = answer_text("sudoku", 9, (3, 3))
    corners = json.loads((Path(folder) / "corners.json").read_text())
    return [(cv2.imread(str(Path(folder) / name))[..., ::-1].copy(), np.asarray(q, np.float64), text)
            for name, q in sorted(corners.items())]


if __name__ == "__main__":
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    rec = pack(src, dst)
    size = sum(p.stat().st_size for p in dst.iterdir())
    print(f"{len(rec)} photos -> {dst} ({size / 1e6:.2f} MB)")
