"""Train the handwritten clue character reader (``vision/weights/clue_chars.onnx``).

Data: KenKen clue strings (targets as the generator makes them, an operator after multi-cell
ones) written by training writers only (``training/handwriting.TrainWriter``: MNIST-*train*
digits, training handwriting fonts, stroke synthesis; operators as pen strokes,
``render.handwritten.op_glyph``), at 10-45 px, blurred and faded at random, then cut exactly as
the reader cuts a clue (``vision.clue_chars``: segment steered by the true length, char
images). The held-out MNIST split (the benchmark's writers) is never used.

    python training/train_clue_chars.py --clues 60000 --epochs 8 --out src/vlm_puzzle/vision/weights/clue_chars.onnx
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vlm_puzzle.render.handwritten import HAND_OPS, _text   # noqa: E402
from vlm_puzzle.vision.clue_chars import CHAR_CLASSES, CHAR_SIDE, char_images, segment  # noqa: E402

OP_CLASS = {"+": "+", "-": "-", "\u2212": "-", "x": "x", "\u00d7": "x", "*": "x", "/": "/", "\u00f7": "/", ":": "/"}


def random_clue(rng: np.random.Generator) -> str:
    """A clue string as KenKen writes them: a target of 1-4 digits, mostly an operator after it."""
    op = rng.choice(["add", "sub", "mul", "div", ""], p=[0.3, 0.2, 0.3, 0.1, 0.1])
    digits = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.35, 0.18, 0.07]))
    target = str(int(rng.integers(10 ** (digits - 1) if digits > 1 else 1, 10 ** digits)))
    if not op:
        return target
    glyphs = HAND_OPS[op]
    return target + glyphs[int(rng.integers(len(glyphs)))]


def elastic(g: np.ndarray, rng: np.random.Generator, alpha: float = 0.0) -> np.ndarray:
    """``g`` (float ink) warped by a smooth random displacement field of ``alpha`` of its height
    (0: drawn per glyph): the 4,000 MNIST-train digits as many more writers' hands."""
    h, w = g.shape
    alpha = alpha or float(rng.uniform(0.0, 0.09))
    if alpha <= 0 or min(h, w) < 4:
        return g
    sigma = max(h, w) * rng.uniform(0.12, 0.25)
    dx, dy = (cv2.GaussianBlur(rng.uniform(-1, 1, g.shape).astype(np.float32), (0, 0), sigma) for _ in range(2))
    scale = alpha * h / max(1e-6, float(max(np.abs(dx).max(), np.abs(dy).max())))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(g, gx + dx * scale, gy + dy * scale, cv2.INTER_LINEAR, borderValue=0.0)


class ElasticWriter:
    """A training writer (``handwriting.TrainWriter``) whose digits are warped (:func:`elastic`)
    ``share`` of the time."""

    def __init__(self, rng: np.random.Generator, mnist_share: float, share: float):
        from handwriting import TrainWriter
        self.write, self.share = TrainWriter(rng, mnist_share=mnist_share), share

    def __call__(self, ch: str, px: int, rng: np.random.Generator):
        g = self.write(ch, px, rng)
        if g is not None and ch.isdigit() and rng.random() < self.share:
            g = elastic(np.pad(g, 2), rng)
        return g


ELASTIC = {"share": 0.0}   # set by main before the workers fork


def sample(seed: int):
    """(char images, labels) of one written clue, or None where the cut found another length."""
    rng = np.random.default_rng(seed)
    text = random_clue(rng)
    write = ElasticWriter(rng, 0.85, ELASTIC["share"])
    px = int(rng.integers(10, 46))
    g = _text(write, text, px, rng, float(rng.normal(0.12, 0.15)), float(rng.uniform(-0.03, 0.05)))
    if g is None:
        return None
    if rng.random() < 0.25:   # squeezed into a narrow cell
        g = cv2.resize(g, (max(2, int(g.shape[1] * rng.uniform(0.6, 1.0))), g.shape[0]), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:    # written at another resolution than it is read
        s = rng.uniform(0.6, 1.4)
        g = cv2.resize(g, (max(2, int(g.shape[1] * s)), max(2, int(g.shape[0] * s))), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(0, 0.9)
    if sigma > 0.2:
        g = cv2.GaussianBlur(g, (0, 0), sigma)
    g = np.clip(g * rng.uniform(0.6, 1.1), 0, 1).astype(np.float32)
    g = np.pad(g, 2)
    region = g
    chars = segment(region, len(text))
    if len(chars) != len(text):
        return None
    labels = [CHAR_CLASSES.index(OP_CLASS.get(ch, ch)) for ch in text]
    return (np.rint(char_images(region, chars) * 255).astype(np.uint8), np.array(labels, np.int64))


def build(n: int, seed0: int, workers: int):
    with mp.Pool(workers) as pool:
        got = [s for s in pool.map(sample, range(seed0, seed0 + n), chunksize=256) if s is not None]
    return np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])


def model(width: int = 32):
    import torch.nn as nn

    def block(a, b):
        return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU()]
    w = width
    return nn.Sequential(*block(1, w), *block(w, w), nn.MaxPool2d(2), *block(w, 2 * w), *block(2 * w, 2 * w),
                         nn.MaxPool2d(2), *block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(4 * w, len(CHAR_CLASSES)))


def augment(x, rng):
    """Small shifts and scale of a batch (N, 1, S, S) uint8-as-float, in torch."""
    import torch
    import torch.nn.functional as F
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3, device=x.device)
    s = torch.from_numpy(rng.uniform(0.9, 1.12, n)).float().to(x.device)
    theta[:, 0, 0] = s
    theta[:, 1, 1] = s
    theta[:, :, 2] = torch.from_numpy(rng.uniform(-0.08, 0.08, (n, 2))).float().to(x.device)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--clues", type=int, default=60000)
    ap.add_argument("--val", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=51_000_000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, help="an .npz of written characters: loaded if it exists, else written")
    ap.add_argument("--width", type=int, default=32, help="channels of the first convolutions")
    ap.add_argument("--elastic", type=float, default=0.0, help="share of digits warped (elastic)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (one cycle)")
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args(argv)
    ELASTIC["share"] = args.elastic
    import torch
    torch.set_num_threads(args.threads)
    t0 = time.time()
    if args.data and args.data.is_file():
        d = np.load(args.data)
        xtr, ytr, xva, yva = d["xtr"], d["ytr"], d["xva"], d["yva"]
    else:
        xtr, ytr = build(args.clues, args.seed, args.workers)
        xva, yva = build(args.val, args.seed + 10_000_000, args.workers)
        if args.data:
            np.savez_compressed(args.data, xtr=xtr, ytr=ytr, xva=xva, yva=yva)
    print(f"data: {len(ytr)} train / {len(yva)} val chars in {time.time() - t0:.0f} s", flush=True)
    if args.epochs <= 0:   # data only (--data): trained by later runs
        return
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    net = model(args.width).to(dev)
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    steps = args.epochs * (len(ytr) // args.batch + 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps)
    rng = np.random.default_rng(args.seed)
    xt = torch.from_numpy(xtr).float().div(255).unsqueeze(1).to(dev)
    yt = torch.from_numpy(ytr).to(dev)
    xv = torch.from_numpy(xva).float().div(255).unsqueeze(1).to(dev)
    yv = torch.from_numpy(yva).to(dev)
    for ep in range(args.epochs):
        net.train()
        perm = torch.from_numpy(rng.permutation(len(yt))).to(dev)
        for i in range(0, len(perm), args.batch):
            idx = perm[i:i + args.batch]
            loss = torch.nn.functional.cross_entropy(net(augment(xt[idx], rng)), yt[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            acc = float(torch.cat([net(xv[i:i + 4096]).argmax(1) for i in range(0, len(yv), 4096)]).eq(yv).float().mean())
        print(f"epoch {ep}: loss {loss.item():.3f} val acc {acc:.4f} ({time.time() - t0:.0f} s)", flush=True)
        export(net, args, argv, len(ytr), len(yva), acc, ep + 1)


def export(net, args, argv, n_train: int, n_val: int, acc: float, epochs: int) -> None:
    """The network as ONNX at ``args.out`` and its card beside it (written after every epoch:
    a run cut short still leaves its last epoch)."""
    import torch
    dev = next(net.parameters()).device
    args.out.parent.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    torch.onnx.export(net, torch.zeros(1, 1, CHAR_SIDE, CHAR_SIDE), str(args.out), input_names=["chars"],
                      output_names=["logits"], dynamic_axes={"chars": {0: "n"}, "logits": {0: "n"}},
                      opset_version=13, dynamo=False)
    card = {"classes": list(CHAR_CLASSES), "input_side": CHAR_SIDE, "version": "clue_chars1",
            "model": "5-conv CNN on one clue character, its text line CHAR_FIT px high",
            "trained_by": "training/train_clue_chars.py",
            "command": "python training/train_clue_chars.py " + " ".join(argv or sys.argv[1:]),
            "data": "KenKen clue strings written by training writers (MNIST train split, training fonts, "
                    "strokes; pen-stroke operators); held-out MNIST never used",
            "elastic": args.elastic, "width": args.width, "epochs_done": epochs,
            "train_chars": int(n_train), "val_chars": int(n_val), "val_acc": acc}
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    net.to(dev)


if __name__ == "__main__":
    main()
