"""Train the edge classifier (thin / thick, with or without a dashed cage outline), export ONNX.

Data: puzzles of every kind rendered by ``vlm_puzzle.render`` (clean and photo
mode), located by the real grid finder (``vision.grid.locate_grid``), every inner
edge cut exactly as at inference (``borders.edge_patches`` ->
``borders.normalised_patches``: 32 x 32, cell-normalised). Labels come from the
puzzle: thick where the drawn labels (box / region / KenKen cage) differ, dashed
where two killer cages meet. Images whose grid is found with the wrong size are
skipped (their edges would be mislabelled).

Fonts: only ``render.heldout.TRAIN_FAMILIES``; seeds ``SEED0 + i`` (2,000,000..),
far from the clue training (1,000,000..), the development seeds (5,000,000..)
and the evaluation's 7,000,000 and 9,000,000. Usage (CPU, seeded)::

    nice python training/train_edges.py --images 600 --workers 2 --minutes 6 --epochs 12
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from vlm_puzzle.vision import borders as B

ROOT = Path(__file__).resolve().parents[1]

VERSION = "1.0.0"
SEED0 = 2_000_000
CLASSES = ("thin", "thick", "thin+dashed", "thick+dashed")
# Kind mix: killer is the only source of dashed edges, KenKen of thick-majority grids.
KINDS = ("killer", "killer", "killer", "kenken", "kenken", "jigsaw", "jigsaw", "sudoku", "x-sudoku", "windoku")
SIZES = {"sudoku": (4, 6, 9), "x-sudoku": (9,), "windoku": (9,), "jigsaw": (6, 9),
         "killer": (6, 9), "kenken": (4, 5, 6, 7, 9)}
PHOTO_SHARE = 0.65


def truth_edges(spec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(thick_v, thick_h, dashed_v, dashed_h) bool arrays of a spec, as the renderer draws it."""
    from vlm_puzzle.render.draw import _labels
    n = spec.size
    tv, th = np.zeros((n, n - 1), bool), np.zeros((n - 1, n), bool)
    dv, dh = np.zeros((n, n - 1), bool), np.zeros((n - 1, n), bool)
    lab = _labels(spec)
    if lab is not None:
        lab = np.asarray(lab)
        tv, th = lab[:, :-1] != lab[:, 1:], lab[:-1] != lab[1:]
    if spec.kind == "killer":
        cage = -np.ones((n, n), int)
        for i, cg in enumerate(spec.cages):
            for r, c in cg.cells:
                cage[r, c] = i
        dv, dh = cage[:, :-1] != cage[:, 1:], cage[:-1] != cage[1:]
    return tv, th, dv, dh


def make_puzzle(kind: str, size: int, seed: int):
    if kind in ("killer", "kenken"):
        from vlm_puzzle.render.quick import quick_caged_puzzle
        return quick_caged_puzzle(kind, size, seed, givens=0.15 if kind == "killer" else 0.0)
    from vlm_puzzle.render.generate import generate_puzzle
    return generate_puzzle(kind, size, seed=seed)


def image_samples(i: int, fonts: list[str]):
    """(patches (E, 32, 32) uint8, labels (E,), kind, photo) of image ``i``, or None."""
    from vlm_puzzle.errors import PuzzleError
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.vision.grid import locate_grid
    seed = SEED0 + i
    rng = np.random.default_rng(seed)
    kind = KINDS[int(rng.integers(len(KINDS)))]
    size = int(rng.choice(SIZES[kind]))
    photo = bool(rng.random() < PHOTO_SHARE)
    spec, solution = make_puzzle(kind, size, seed)
    shot = render_puzzle(spec, seed=seed, photo=photo, fonts=fonts, solution=solution)
    try:
        loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    except PuzzleError:
        return None
    lat = loc.lattice
    if lat.size != size:
        return None
    gray = B.to_gray(loc.warped)
    xs, ys = np.asarray(lat.cols_x, float), np.asarray(lat.rows_y, float)
    cell = float(min(np.diff(xs).mean(), np.diff(ys).mean()))
    ink = B.ink_map(gray, cell)
    vert, horiz, cell = B.edge_patches(ink, xs, ys, lat.v_lines, lat.h_lines)
    patches = B.normalised_patches(np.concatenate([vert, horiz]))
    tv, th, dv, dh = truth_edges(spec)
    thick = np.concatenate([tv.ravel(), th.ravel()])
    dashed = np.concatenate([dv.ravel(), dh.ravel()])
    return patches, (thick + 2 * dashed).astype(np.int64), kind, photo


def _worker(args):
    ids, fonts, deadline = args
    import cv2
    cv2.setNumThreads(1)
    out = []
    for i in ids:
        if time.time() > deadline:
            break
        got = image_samples(i, fonts)
        if got is not None:
            out.append((i, *got))
    return out


def make_dataset(images: int, workers: int, minutes: float, fonts: list[str]):
    """Per-image samples from up to ``images`` renders (stops after ``minutes``)."""
    from multiprocessing import get_context
    deadline = time.time() + 60 * minutes
    jobs = [(list(range(w, images, workers)), fonts, deadline) for w in range(workers)]
    with get_context("fork").Pool(workers) as pool:
        parts = pool.map(_worker, jobs)
    return sorted((s for p in parts for s in p), key=lambda s: s[0])


def build_model():
    import torch.nn as nn

    # ~0.5 MMAC a patch: a 9x9 grid's 144 edges cost ~10 ms on one core. The
    # flattened 4x4 map (no global pooling) keeps where, across the edge, a stroke is.
    def block(a, b):
        return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
    return nn.Sequential(
        *block(1, 6), nn.MaxPool2d(2),       # 16 x 16
        *block(6, 12), nn.MaxPool2d(2),      # 8 x 8
        *block(12, 24), nn.MaxPool2d(2),     # 4 x 4
        *block(24, 24), nn.Flatten(),
        nn.Dropout(0.2), nn.Linear(24 * (B.PATCH_ALONG // 8) * (B.PATCH_ACROSS // 8), len(CLASSES)))


def augment(x, rng: np.random.Generator):
    """Mirror across and along the edge (the classes are symmetric), small shifts across."""
    x = x.copy()
    flip = rng.random(len(x)) < 0.5
    x[flip] = x[flip][:, :, ::-1]
    flip = rng.random(len(x)) < 0.5
    x[flip] = x[flip][:, ::-1, :]
    shift = rng.integers(-1, 2, len(x))
    for s in (-1, 1):
        sel = shift == s
        x[sel] = np.roll(x[sel], s, axis=2)
    return x


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int, threads: int):
    import torch
    import torch.nn.functional as F
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    model = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(x) + 255) // 256)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    # Dashed edges are rarer (killer only) and the errors that matter: weight them up.
    counts = np.bincount(y, minlength=len(CLASSES)).astype(np.float64)
    weight = torch.tensor(np.clip(counts.sum() / (len(CLASSES) * np.maximum(counts, 1)), 0.5, 4.0),
                          dtype=torch.float32)
    for ep in range(epochs):
        model.train()
        order = rng.permutation(len(x))
        t, total = time.time(), 0.0
        for k in range(0, len(x), 256):
            idx = order[k:k + 256]
            xb = torch.from_numpy(augment(x[idx], rng).astype(np.float32)[:, None] / 255.0)
            loss = F.cross_entropy(model(xb), torch.from_numpy(y[idx]), weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {ep + 1}/{epochs}: loss {total / len(x):.4f} ({time.time() - t:.0f} s)", flush=True)
    model.eval()
    return model


def predict(model, x: np.ndarray) -> np.ndarray:
    import torch
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[k:k + 1024].astype(np.float32)[:, None] / 255.0)
                                     ).argmax(1).numpy() for k in range(0, len(x), 1024)])


def export(model, path: Path) -> None:
    import torch
    dummy = torch.zeros(1, 1, B.PATCH_ALONG, B.PATCH_ACROSS)
    torch.onnx.export(model, dummy, str(path), input_names=["patch"], output_names=["logits"],
                      dynamic_axes={"patch": {0: "n"}, "logits": {0: "n"}}, opset_version=13,
                      dynamo=False)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=6.0, help="stop rendering after this long")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-share", type=float, default=0.1, help="last images held out for validation")
    ap.add_argument("--data", type=Path, help="cache of the rendered samples (.npz), reused if present")
    ap.add_argument("--out", type=Path, default=ROOT / "src/vlm_puzzle/vision/weights/edges.onnx")
    args = ap.parse_args(argv)
    from vlm_puzzle.render.heldout import TRAIN_FAMILIES, fonts_of
    fonts = fonts_of(TRAIN_FAMILIES)
    if args.data and args.data.is_file():
        d = np.load(args.data)
        x, y, img = d["x"], d["y"], d["img"]
        if x.shape[1:] != (B.PATCH_ALONG, B.PATCH_ACROSS):
            # A cache cut at another patch shape: area-resample it (as normalised_patches would).
            x = B.normalised_patches(x.astype(np.float32) / 255.0)
    else:
        t = time.time()
        samples = make_dataset(args.images, args.workers, args.minutes, fonts)
        x = np.concatenate([s[1] for s in samples])
        y = np.concatenate([s[2] for s in samples])
        img = np.concatenate([np.full(len(s[2]), s[0]) for s in samples])
        print(f"{len(samples)} images, {len(x)} edges in {time.time() - t:.0f} s", flush=True)
        if args.data:
            np.savez_compressed(args.data, x=x, y=y, img=img)
    ids = np.unique(img)
    val_ids = ids[int(len(ids) * (1 - args.val_share)):]
    val = np.isin(img, val_ids)
    print("class counts", np.bincount(y, minlength=len(CLASSES)).tolist(), flush=True)
    model = train(x[~val], y[~val], args.epochs, args.seed, args.threads)
    val_acc = None
    if val.any():
        pred = predict(model, x[val])
        val_acc = float((pred == y[val]).mean())
        dash_acc = float(((pred >= 2) == (y[val] >= 2)).mean())
        print(f"validation: {val.sum()} edges of {len(val_ids)} images, accuracy {val_acc:.4f}, "
              f"dashed-vs-not {dash_acc:.4f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(model, args.out)
    card = {"name": "vlm-puzzle edge classifier", "version": VERSION, "classes": list(CLASSES),
            "input_shape": [B.PATCH_ALONG, B.PATCH_ACROSS],
            "input": "uint8 cell-normalised edge patch (vision.borders.normalised_patches), "
                     "line vertical in the middle column, scaled to 0..1, NCHW float32",
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "training": {"images": int(len(ids)), "edges": int(len(x)), "validation_images": int(len(val_ids)),
                         "validation_accuracy": val_acc, "seeds": f"{SEED0}..{SEED0 + args.images - 1}",
                         "kinds": sorted(set(KINDS)), "photo_share": PHOTO_SHARE,
                         "train_font_families": list(TRAIN_FAMILIES), "epochs": args.epochs,
                         "torch_seed": args.seed,
                         "command": "nice python training/train_edges.py " + " ".join(argv or sys.argv[1:])}}
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    print("wrote", args.out, args.out.stat().st_size, "bytes", flush=True)


if __name__ == "__main__":
    main()
