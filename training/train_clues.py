"""Train the cage-clue sequence reader (CTC) and export it to ONNX.

Data: killer and KenKen puzzles (sizes 4-9, no uniqueness search, killer
sometimes with givens) drawn by the project's renderer, clean and photographed,
located by the real grid finder (``vision.grid.locate_grid``); the ink map is
computed as ``vision.variants`` does and every cell's clue strip is cut by
``vision.clues.clue_strip`` from the found lattice, so dashes, thick lines,
given digits, perspective and blur are all in the data. Labels come from the
spec's cages: the renderer's text for a cage's first cell, "" for every other
cell (blank, a given digit, a non-first cage cell).

Fonts: only ``TRAIN_FAMILIES``; ``experiments/eval_variants.py`` evaluates on its
``HELD_OUT_FAMILIES`` (disjoint). Seeds: ``--seed`` * 1e5 + k (default around
1,000,000), far from the evaluation's 7,000,000 and 9,000,000. Usage::

    nice python training/train_clues.py --puzzles 1400 --workers 2 --minutes 9
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vlm_puzzle.vision.clues import CLASSES, STRIP_H, STRIP_W, WEIGHTS, clue_strip

# Font families trained on; every family in experiments/eval_variants.py
# HELD_OUT_FAMILIES is held out for evaluation (none of these is one of them).
TRAIN_FAMILIES = ("DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "NimbusSansNarrow",
                  "NotoSansDisplay", "NotoSerifDisplay")
# The renderer's operator glyphs -> network classes.
LABEL = {**{c: c for c in CLASSES if c}, "\u2212": "-", "×": "x", "*": "x", "÷": "/"}
SEED_BASE = 10_000  # seed * SEED_BASE + k: run 100 -> 1,000,000..


def train_fonts() -> list[str]:
    """Installed font names of the training families (DejaVu is everywhere)."""
    from vlm_puzzle.render.fonts import available_fonts, font_family
    return [name for name in available_fonts() if font_family(name) in TRAIN_FAMILIES]


def quick_caged_puzzle(kind: str, n: int, seed: int, givens: float = 0.0):
    """A killer or KenKen (spec, solution) drawn like the renderer's, without the
    uniqueness search (seconds to minutes for killer): clue text and cage shapes
    are what matter here, not whether the puzzle has one solution. ``givens``:
    the share of killer cells whose solution digit is printed."""
    from vlm_puzzle.render.generate import (KENKEN_CAGE_SIZES, KILLER_CAGE_SIZES, _caged_spec,
                                            make_cage)
    from vlm_puzzle.render.regions import random_cages
    from vlm_puzzle.render.uniqueness import latin_groups, random_solution
    from vlm_puzzle.spec import PuzzleSpec
    rng = np.random.default_rng(seed)
    groups = PuzzleSpec.sudoku([[0] * n] * n).groups if kind == "killer" else latin_groups(n)
    solution = random_solution(n, groups, rng)
    weights = KILLER_CAGE_SIZES if kind == "killer" else KENKEN_CAGE_SIZES
    cages = [make_cage(kind, c, solution, rng)
             for c in random_cages(solution, rng, size_weights=weights, distinct=kind == "killer")]
    shown = [[int(solution[r][c]) if givens and rng.random() < givens else 0 for c in range(n)]
             for r in range(n)]
    return _caged_spec(kind, n, cages, shown), solution


def strips_of(spec, shot, label_of) -> tuple[list, list] | None:
    """Every cell's clue strip and label, through the real grid finder and the
    variants reader's ink map; None when the finder misses the grid."""
    from vlm_puzzle.vision import borders as B
    from vlm_puzzle.vision.grid import locate_grid
    try:
        loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    except Exception:  # an unlucky photo the grid finder misses: skip it
        return None
    lat = loc.lattice
    if lat.size != spec.size:
        return None
    gray = B.to_gray(loc.warped)
    cell = float(min(np.diff(lat.cols_x).mean(), np.diff(lat.rows_y).mean()))
    ink = B.ink_map(gray, cell, B.paper_map(gray, cell))
    boxes = [(r, c, lat.cell_rect(r, c)) for r in range(spec.size) for c in range(spec.size)]
    return ink, boxes, label_of


def jittered(box, rng, amount: float):
    """The cell box with each side moved by up to ``amount`` of a cell (lattice error)
    and a random horizontal stretch (narrower / wider fonts)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d = rng.normal(0, amount, 4) * [w, h, w, h]
    s = rng.uniform(0.85, 1.15)
    x0, y0, x1, y1 = x0 + d[0], y0 + d[1], x1 + d[2], y1 + d[3]
    return x0, y0, x0 + (x1 - x0) * s, y1


def puzzle_samples(k: int, seed: int, fonts: list[str]):
    """Strips (uint8) and labels from one rendered puzzle number ``k``."""
    from vlm_puzzle.render import draw
    from vlm_puzzle.render.draw import cage_label
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import random_style
    s = seed * SEED_BASE + k
    rng = np.random.default_rng(s)
    kind = "kenken" if rng.random() < 0.55 else "killer"
    n = int(rng.integers(4, 10)) if kind == "kenken" else int(rng.choice([4, 6, 6, 8, 9, 9, 9]))
    spec, solution = quick_caged_puzzle(kind, n, s, givens=rng.choice([0, 0, 0.15, 0.35]) if kind == "killer" else 0)
    style = random_style(np.random.default_rng(s + 1), fonts)
    ascii_mul = draw.OPS_ASCII["mul"]
    if style.ascii_ops and rng.random() < 0.4:  # '*' for multiplication, as some books print
        draw.OPS_ASCII["mul"] = "*"
    try:
        labels = {min(c.cells): "".join(LABEL[ch] for ch in cage_label(c, style)) for c in spec.cages}
        shot = render_puzzle(spec, seed=s, style=style, photo=bool(rng.random() < 0.5),
                             size_px=int(rng.choice([640, 800, 800, 1000])), solution=solution)
    finally:
        draw.OPS_ASCII["mul"] = ascii_mul
    got = strips_of(spec, shot, labels)
    if got is None:
        return [], []
    ink, boxes, _ = got
    xs, ys = [], []
    for r, c, box in boxes:
        text = labels.get((r, c), "")
        given = bool(spec.givens[r][c]) if spec.givens else False
        # Every clue cell (twice, jittered); a share of the plain cells.
        reps = 2 if text else int(rng.random() < (0.6 if given else 0.3))
        for j in range(reps):
            b = box if j == 0 else jittered(box, rng, 0.02)
            xs.append(np.clip(np.rint(clue_strip(ink, b) * 255), 0, 255).astype(np.uint8))
            ys.append(text)
    return xs, ys


def _worker(args):
    seed, ks, fonts, deadline = args
    import cv2
    cv2.setNumThreads(1)
    xs, ys, done = [], [], 0
    for k in ks:
        if time.time() > deadline:
            break
        a, b = puzzle_samples(k, seed, fonts)
        xs += a
        ys += b
        done += 1
    return xs, ys, done


def make_dataset(puzzles: int, seed: int, fonts: list[str], workers: int, minutes: float):
    """Strips (M, H, W) uint8 and labels from up to ``puzzles`` renders (stops after ``minutes``)."""
    from multiprocessing import get_context
    deadline = time.time() + 60 * minutes
    jobs = [(seed, list(range(w, puzzles, workers)), fonts, deadline) for w in range(workers)]
    with get_context("fork").Pool(workers) as pool:
        parts = pool.map(_worker, jobs)
    xs = [x for p in parts for x in p[0]]
    ys = [y for p in parts for y in p[1]]
    return np.stack(xs), ys, sum(p[2] for p in parts)


def build_model():
    import torch.nn as nn
    # Fully convolutional: height 24 -> 1 (pools and a full-height conv), width
    # 56 -> 28 columns of class scores (a clue character spans ~3 columns).
    # ~2 MMAC a strip: a 9x9 grid's 81 strips cost ~15 ms on one core.
    def block(a, b, pool):
        return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(pool)]
    return nn.Sequential(
        *block(1, 8, 2), *block(8, 16, (2, 1)),                            # 6 x 28
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 48, (6, 3), padding=(0, 1)), nn.BatchNorm2d(48), nn.ReLU(),  # 1 x 28
        nn.Conv2d(48, 48, (1, 5), padding=(0, 2)), nn.ReLU(), nn.Dropout(0.1),
        nn.Conv2d(48, len(CLASSES), 1))


def encode(labels: list[str]):
    import torch
    idx = [[CLASSES.index(ch) for ch in t] for t in labels]
    flat = torch.tensor([i for t in idx for i in t], dtype=torch.long)
    return flat, torch.tensor([len(t) for t in idx], dtype=torch.long)


def augment(xb, gen, shape: bool = False):
    """Ink level, noise and 1-px shifts: held-out prints differ in weight and contrast.
    ``shape`` adds width (0.85-1.15), slant and thinner / thicker strokes: other font designs."""
    import torch
    import torch.nn.functional as F
    b = xb.shape[0]
    if shape:
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = torch.empty(b).uniform_(0.85, 1.15, generator=gen)
        theta[:, 0, 1] = torch.empty(b).uniform_(-0.1, 0.1, generator=gen)   # slant (H/W units)
        theta[:, 0, 2] = torch.empty(b).uniform_(-0.03, 0.03, generator=gen)
        theta[:, 1, 1] = 1.0
        grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
        xb = F.grid_sample(xb, grid, align_corners=False, padding_mode="zeros")
        r = float(torch.rand((), generator=gen))
        if r < 0.2:
            xb = F.pad(F.max_pool2d(xb, (1, 2), stride=1), (0, 1))          # bolder
        elif r < 0.35:
            xb = -F.pad(F.max_pool2d(-xb, (1, 2), stride=1), (0, 1))        # lighter
    xb = xb * torch.empty(b, 1, 1, 1).uniform_(0.6, 1.25, generator=gen)
    xb = xb + torch.randn(xb.shape, generator=gen) * torch.empty(b, 1, 1, 1).uniform_(0, 0.06, generator=gen)
    dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
    xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
    if not shape and float(torch.rand((), generator=gen)) < 0.3:  # thicker strokes
        xb = F.pad(F.max_pool2d(xb, (1, 2), stride=1, padding=0), (0, 1))
    return xb.clamp(0, 1)


def load_onnx_into(model, path: Path) -> None:
    """Start from exported weights (batch norm folded into the convs by the export):
    the convs get the folded weights, batch norms become frozen identities."""
    import onnx
    import torch
    from onnx import numpy_helper
    g = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    nodes = [n for n in g.node if n.op_type == "Conv"]
    with torch.no_grad():
        for m, n in zip(convs, nodes):
            m.weight.copy_(torch.from_numpy(init[n.input[1]].copy()))
            m.bias = torch.nn.Parameter(torch.from_numpy(init[n.input[2]].copy()))
        for m in model:
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(1.0), m.bias.zero_(), m.running_mean.zero_()
                m.running_var.fill_(1.0 - m.eps)
                m.requires_grad_(False)


def train(x: np.ndarray, labels: list[str], epochs: int, seed: int, log=print, on_epoch=None,
          init: Path | None = None, max_lr: float = 5e-3):
    import torch
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model()
    if init is not None:
        load_onnx_into(model, init)
    bs = 128
    steps = epochs * ((len(x) + bs - 1) // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=steps,
                                                pct_start=0.15 if init is None else 0.05)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    xt = torch.from_numpy(x)
    for ep in range(epochs):
        model.train()
        if init is not None:  # the folded batch norms stay frozen identities
            for m in model:
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
        perm = torch.randperm(len(xt), generator=gen)
        total, t0 = 0.0, time.time()
        for i in range(0, len(xt), bs):
            idx = perm[i:i + bs]
            xb = augment(xt[idx].float()[:, None] / 255.0, gen, shape=init is not None)
            out = model(xb)[:, :, 0, :]                        # (B, C, T)
            logp = out.permute(2, 0, 1).log_softmax(2)         # (T, B, C)
            tgt, tlen = encode([labels[j] for j in idx.tolist()])
            loss = ctc(logp, tgt, torch.full((len(idx),), logp.shape[0], dtype=torch.long), tlen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(f"epoch {ep + 1}/{epochs} ctc loss {total / len(xt):.4f} ({time.time() - t0:.0f}s)")
        if on_epoch is not None:  # a usable checkpoint after every epoch
            on_epoch(model.eval())
    return model.eval()


def export(model, path: Path) -> None:
    import torch
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 1, STRIP_H, STRIP_W), str(path), input_names=["strip"],
                      output_names=["logits"], dynamic_axes={"strip": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=13, dynamo=False)


def accuracy(path: Path, x: np.ndarray, labels: list[str]) -> dict:
    """Whole-strip exact-match rate through the shipped inference path (cv2.dnn + decode)."""
    from vlm_puzzle.vision.clues import column_probs, ctc_decode
    z = column_probs(x.astype(np.float32) / 255.0, path)
    got = [ctc_decode(zi)[0] for zi in z]
    ok = np.array([g == t for g, t in zip(got, labels)])
    clue = np.array([bool(t) for t in labels])
    return {"all": round(float(ok.mean()), 4), "clue_cells": round(float(ok[clue].mean()), 4),
            "plain_cells": round(float(ok[~clue].mean()), 4)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--puzzles", type=int, default=1400)
    ap.add_argument("--val-puzzles", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=9.0, help="time limit for rendering the data")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--data", type=Path, help="cache the rendered strips here (.npz)")
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--init", type=Path, help="fine-tune from these exported weights, with shape augmentation")
    ap.add_argument("--max-lr", type=float, default=5e-3)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(2)
    fonts = train_fonts()
    t0 = time.time()
    if args.data and args.data.is_file():
        d = np.load(args.data, allow_pickle=False)
        x, y, xv, yv, n_puz = d["x"], list(d["y"]), d["xv"], list(d["yv"]), int(d["n"])
    else:
        x, y, n_puz = make_dataset(args.puzzles, args.seed, fonts, args.workers, args.minutes)
        xv, yv, _ = make_dataset(args.val_puzzles, args.seed + 1, fonts, args.workers, args.minutes / 4)
        if args.data:
            np.savez_compressed(args.data, x=x, y=np.array(y), xv=xv, yv=np.array(yv), n=n_puz)
    print(f"{len(x)} train strips from {n_puz} puzzles ({sum(map(bool, y))} with a clue), "
          f"{len(xv)} val, in {time.time() - t0:.0f}s", flush=True)
    model = train(x, y, args.epochs, args.seed, log=lambda s: print(s, flush=True),
                  on_epoch=lambda m: export(m, args.out), init=args.init, max_lr=args.max_lr)
    export(model, args.out)
    write_card(args, n_puz, len(x))  # the reader checks the card before it loads the net
    acc = accuracy(args.out, xv, yv)
    write_card(args, n_puz, len(x), acc)
    print(f"saved {args.out} ({args.out.stat().st_size // 1024} KB); val exact match {acc}", flush=True)


def write_card(args, n_puz: int, n_strips: int, acc: dict | None = None) -> None:
    card = {"classes": list(CLASSES), "input_hw": [STRIP_H, STRIP_W], "version": args.out.stem,
            "model": "fully convolutional, per-column CTC (blank = class 0), greedy decode",
            "trained_by": "training/train_clues.py",
            "command": f"nice python training/train_clues.py --puzzles {args.puzzles} --workers "
                       f"{args.workers} --minutes {args.minutes} --epochs {args.epochs} --seed {args.seed}"
                       + (f" --init {args.init} --max-lr {args.max_lr}" if args.init else ""),
            "data": f"{n_puz} rendered killer/KenKen puzzles (clean and photo, sizes 4-9), seeds from "
                    f"{args.seed * SEED_BASE} (at most --puzzles; rendering stops after --minutes); "
                    f"validation: {args.val_puzzles} puzzles from seed {(args.seed + 1) * SEED_BASE}; "
                    "strips through vision.grid.locate_grid + vision.clues.clue_strip",
            "train_strips": n_strips, "train_families": list(TRAIN_FAMILIES), "epochs": args.epochs,
            "input": "ink map (vision.borders.ink_map) strip, 0..1 in uint8 steps"}
    if acc is not None:
        card["val_exact_train_fonts"] = acc
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
