"""Train the cage-clue sequence reader (CTC) and export it to ONNX.

Data: killer and KenKen puzzles (sizes 4-9, no uniqueness search, killer
sometimes with givens) drawn by the project's renderer, clean and photographed,
located by the real grid finder (``vision.grid.locate_grid``); the ink map is
computed as ``vision.variants`` does and every cell's clue strip is cut by
``vision.clues.clue_strip`` from the found lattice, so dashes, thick lines,
given digits, perspective and blur are all in the data. Labels come from the
spec's cages: the renderer's text for a cage's first cell, "" for every other
cell (blank, a given digit, a non-first cage cell).

Fonts: only ``TRAIN_FAMILIES`` (``vlm_puzzle.render.heldout``); the evaluations use its
``HELD_OUT_FAMILIES`` (disjoint). Seeds: ``--seed`` * 1e5 + k (default around
1,000,000), far from the evaluation's 7,000,000 and 9,000,000. Usage::

    nice python training/train_clues.py --puzzles 1400 --workers 2 --minutes 9

``--hand-strips N`` adds N handwritten clue cells (``training/clue_synth.py``:
MNIST digits, handwriting fonts and pen strokes, operators ``+ - − x × * / ÷ :``)
and scores ``--hand-val`` more written by held-out writers only.

With the extra fonts (``training/font_packs.py``; set ``VLM_PUZZLE_FONT_DIRS``)
and a GPU, ``training/gpu_train_clues.sh`` renders on every core and trains there.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # clue_synth, handwriting
from vlm_puzzle.render.heldout import DEV_FAMILIES, TRAIN_FAMILIES, fonts_of
from vlm_puzzle.render.quick import quick_caged_puzzle
from vlm_puzzle.vision.clues import CLASSES, STRIP_H, STRIP_W, WEIGHTS, clue_strip

# The renderer's operator glyphs -> network classes.
LABEL = {**{c: c for c in CLASSES if c}, "\u2212": "-", "\u2013": "-", "×": "x", "X": "x", "*": "x", "÷": "/",
         ":": "/"}
# Shares of the rendered puzzles (set by main before the workers fork): KenKens whose clues are
# written by hand (render.handwritten with training writers), and printed ones whose operators
# are any of render.style.OP_GLYPHS (``: * X ÷ −`` ...), as other programs print them.
MIX = {"hand_boards": 0.0, "wide_ops": 0.0}
HAND_SEED = 5_000_000  # handwritten strips: chunk seeds HAND_SEED + seed * 1000 + i (held out: + 500)
SEED_BASE = 10_000  # seed * SEED_BASE + k: run 100 -> 1,000,000..


def strips_of(spec, shot, label_of) -> tuple[list, list] | None:
    """Every cell's clue strip and label, through the real grid finder and the
    variants reader's ink map; None when the finder misses the grid."""
    from vlm_puzzle.vision.gray import to_gray
    from vlm_puzzle.vision.ink import ink_map, paper_map
    from vlm_puzzle.vision.grid import locate_grid
    try:
        loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
    except Exception:  # an unlucky photo the grid finder misses: skip it
        return None
    lat = loc.lattice
    if lat.size != spec.size:
        return None
    gray = to_gray(loc.warped)
    cell = float(min(np.diff(lat.cols_x).mean(), np.diff(lat.rows_y).mean()))
    ink = ink_map(gray, cell, paper_map(gray, cell))
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
    if MIX["hand_boards"] and np.random.default_rng([s, 7]).random() < MIX["hand_boards"]:
        return hand_board_samples(s, fonts)
    kind = "kenken" if rng.random() < 0.55 else "killer"
    n = int(rng.integers(4, 10)) if kind == "kenken" else int(rng.choice([4, 6, 6, 8, 9, 9, 9]))
    spec, solution = quick_caged_puzzle(kind, n, s, givens=rng.choice([0, 0, 0.15, 0.35]) if kind == "killer" else 0)
    style = random_style(np.random.default_rng(s + 1), fonts)
    if MIX["wide_ops"] and np.random.default_rng([s, 8]).random() < MIX["wide_ops"]:
        from dataclasses import replace

        from vlm_puzzle.render.style import OP_GLYPHS
        g = np.random.default_rng([s, 9])
        style = replace(style, op_glyphs=tuple(str(g.choice(OP_GLYPHS[op])) for op in ("add", "sub", "mul", "div")))
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
    givens = {(r, c) for r, row in enumerate(spec.givens or ()) for c, v in enumerate(row) if v}
    return cut_strips(got[0], got[1], labels, rng, givens)


def cut_strips(ink, boxes, labels: dict, rng: np.random.Generator, givens=frozenset()):
    """Strips (uint8) and labels of every clue cell (twice, the second jittered) and a share of
    the plain cells (more of those showing a given digit)."""
    xs, ys = [], []
    for r, c, box in boxes:
        text = labels.get((r, c), "")
        reps = 2 if text else int(rng.random() < (0.6 if (r, c) in givens else 0.3))
        for j in range(reps):
            b = box if j == 0 else jittered(box, rng, 0.02)
            xs.append(np.clip(np.rint(clue_strip(ink, b) * 255), 0, 255).astype(np.uint8))
            ys.append(text)
    return xs, ys


def hand_board_samples(s: int, fonts: list[str]):
    """Strips and labels of a KenKen (sizes 3-9) whose clues are written by hand
    (``render.handwritten.draw_handwritten``, training writers of ``handwriting.TrainWriter``)."""
    from types import SimpleNamespace

    import handwriting
    from vlm_puzzle.render.handwritten import HAND_OPS, draw_handwritten
    from vlm_puzzle.render.style import random_style
    rng = np.random.default_rng([s, 11])
    n = int(rng.integers(3, 10))
    spec, _ = quick_caged_puzzle("kenken", n, s)
    style = random_style(rng, fonts, handwritten=0.0)
    ops = {op: str(rng.choice(g)) for op, g in HAND_OPS.items()}
    px = int(rng.integers(420, 1300))
    got = draw_handwritten(spec, style, (px, px), rng, handwriting.TrainWriter(rng), ops=ops)
    if got is None:
        return [], []
    labels = {min(c.cells): "".join(LABEL[ch] for ch in f"{c.target}{ops[c.op] if len(c.cells) > 1 else ''}")
              for c in spec.cages}
    got = strips_of(spec, SimpleNamespace(image=got[0]), labels)
    if got is None:
        return [], []
    return cut_strips(got[0], got[1], labels, rng)


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


def _hand_job(args):
    import clue_synth
    seed, count, split, deadline = args
    if time.time() > deadline:
        return np.zeros((0, STRIP_H, STRIP_W), np.uint8), []
    return clue_synth.hand_strips(seed, count, split)


def hand_dataset(count: int, seed: int, workers: int, split: str = "train",
                 minutes: float = 0.0) -> tuple[np.ndarray, list[str]]:
    """``count`` handwritten clue strips (``training/clue_synth.py``), in chunks of 500 over
    ``workers``; with ``minutes``, chunks not started by then are left out."""
    from multiprocessing import get_context
    if count <= 0:
        return np.zeros((0, STRIP_H, STRIP_W), np.uint8), []
    chunk = 500
    base = HAND_SEED + seed * 1000 + (500 if split == "heldout" else 0)
    deadline = time.time() + 60 * minutes if minutes else float("inf")
    jobs = [(base + i, min(chunk, count - i * chunk), split, deadline) for i in range((count + chunk - 1) // chunk)]
    with get_context("fork").Pool(workers) as pool:
        parts = pool.map(_hand_job, jobs)
    return np.concatenate([p[0] for p in parts]), [y for p in parts for y in p[1]]


def build_model(width: float = 1.0):
    import torch.nn as nn
    # Fully convolutional: height 24 -> 1 (pools and a full-height conv), width
    # 56 -> 28 columns of class scores (a clue character spans ~3 columns).
    # ~2 MMAC a strip at width 1: a 9x9 grid's 81 strips cost ~13 ms on one core
    # (the cost grows about as width squared).
    a, b, c, d = (max(4, round(k * width)) for k in (8, 16, 32, 48))

    def block(i, o, pool):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(pool)]
    return nn.Sequential(
        *block(1, a, 2), *block(a, b, (2, 1)),                            # 6 x 28
        nn.Conv2d(b, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
        nn.Conv2d(c, d, (6, 3), padding=(0, 1)), nn.BatchNorm2d(d), nn.ReLU(),  # 1 x 28
        nn.Conv2d(d, d, (1, 5), padding=(0, 2)), nn.ReLU(), nn.Dropout(0.1),
        nn.Conv2d(d, len(CLASSES), 1))


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
    b, dev = xb.shape[0], xb.device

    def uniform(*dims, lo, hi):
        return torch.empty(*dims, device=dev).uniform_(lo, hi, generator=gen)
    if shape:
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0] = uniform(b, lo=0.85, hi=1.15)
        theta[:, 0, 1] = uniform(b, lo=-0.1, hi=0.1)   # slant (H/W units)
        theta[:, 0, 2] = uniform(b, lo=-0.03, hi=0.03)
        theta[:, 1, 1] = 1.0
        grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
        xb = F.grid_sample(xb, grid, align_corners=False, padding_mode="zeros")
        r = float(torch.rand((), device=dev, generator=gen))
        if r < 0.2:
            xb = F.pad(F.max_pool2d(xb, (1, 2), stride=1), (0, 1))          # bolder
        elif r < 0.35:
            xb = -F.pad(F.max_pool2d(-xb, (1, 2), stride=1), (0, 1))        # lighter
    xb = xb * uniform(b, 1, 1, 1, lo=0.6, hi=1.25)
    xb = xb + torch.randn(xb.shape, device=dev, generator=gen) * uniform(b, 1, 1, 1, lo=0, hi=0.06)
    dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), device=dev, generator=gen))
    xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
    if not shape and float(torch.rand((), device=dev, generator=gen)) < 0.3:  # thicker strokes
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
          init: Path | None = None, max_lr: float = 5e-3, width: float = 1.0, shape_aug: bool = False,
          device: str = "cpu", batch: int = 128):
    """CTC training with OneCycle; ``shape_aug`` (always on when fine-tuning from
    ``init``) adds width, slant and stroke-weight changes. The strips live on
    ``device`` as uint8 and are augmented there."""
    import torch
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    perm_gen = torch.Generator().manual_seed(seed)
    model = build_model(width)
    if init is not None:
        load_onnx_into(model, init)
    model = model.to(device)
    shape_aug = shape_aug or init is not None
    steps = epochs * ((len(x) + batch - 1) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=steps,
                                                pct_start=0.15 if init is None else 0.05)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    xt = torch.from_numpy(x).to(device)
    for ep in range(epochs):
        model.train()
        if init is not None:  # the folded batch norms stay frozen identities
            for m in model:
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
        perm = torch.randperm(len(xt), generator=perm_gen)
        total, t0 = torch.zeros((), device=device), time.time()
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            xb = augment(xt[idx.to(device)].float()[:, None] / 255.0, gen, shape=shape_aug)
            out = model(xb)[:, :, 0, :]                        # (B, C, T)
            logp = out.permute(2, 0, 1).log_softmax(2)         # (T, B, C)
            tgt, tlen = encode([labels[j] for j in idx.tolist()])
            loss = ctc(logp, tgt.to(device), torch.full((len(idx),), logp.shape[0], dtype=torch.long), tlen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.detach() * len(idx)
        log(f"epoch {ep + 1}/{epochs} ctc loss {float(total) / len(xt):.4f} ({time.time() - t0:.0f}s)")
        if on_epoch is not None:  # a usable checkpoint after every epoch
            on_epoch(model.eval())
    return model.eval()


def export(model, path: Path) -> None:
    import copy

    import torch
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).cpu().eval()
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
    ap.add_argument("--render-only", action="store_true", help="write --data and stop")
    ap.add_argument("--hand-strips", type=int, default=0, help="handwritten clue cells added (clue_synth.py)")
    ap.add_argument("--hand-val", type=int, default=0, help="handwritten clue cells of held-out writers, scored")
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--init", type=Path, help="fine-tune from these exported weights, with shape augmentation")
    ap.add_argument("--max-lr", type=float, default=5e-3)
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier of the network")
    ap.add_argument("--shape-aug", action="store_true", help="width/slant/stroke augmentation from the start")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default=None, help="torch device (default: cuda when there is one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hand-boards", type=float, default=0.0,
                    help="share of rendered puzzles that are KenKens with clues written by hand")
    ap.add_argument("--wide-ops", type=float, default=0.0,
                    help="share of printed puzzles with any operator glyphs (render.style.OP_GLYPHS)")
    args = ap.parse_args(argv)
    MIX.update(hand_boards=args.hand_boards, wide_ops=args.wide_ops)
    if args.puzzles >= SEED_BASE:
        ap.error(f"--puzzles must stay below {SEED_BASE} (seed ranges would overlap)")
    import torch
    torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.time()
    if args.data and args.data.is_file():
        d = np.load(args.data, allow_pickle=False)
        x, y, n_puz = d["x"], list(d["y"]), int(d["n"])
        xv, yv, xd, yd = d["xv"], list(d["yv"]), d["xd"], list(d["yd"])
        xh, yh, xhv, yhv = (d["xh"], list(d["yh"]), d["xhv"], list(d["yhv"])) if "xh" in d.files else \
            (np.zeros((0, STRIP_H, STRIP_W), np.uint8), [], np.zeros((0, STRIP_H, STRIP_W), np.uint8), [])
        rendered_by = str(d["command"])
    else:
        fonts = fonts_of(TRAIN_FAMILIES)
        x, y, n_puz = make_dataset(args.puzzles, args.seed, fonts, args.workers, args.minutes)
        xv, yv, _ = make_dataset(args.val_puzzles, args.seed + 1, fonts, args.workers, args.minutes / 4)
        xd, yd, _ = make_dataset(args.val_puzzles, args.seed + 2, fonts_of(DEV_FAMILIES), args.workers,
                                 args.minutes / 4)
        xh, yh = hand_dataset(args.hand_strips, args.seed, args.workers, minutes=args.minutes)
        xhv, yhv = hand_dataset(args.hand_val, args.seed, args.workers, split="heldout")
        rendered_by = command_line(argv)
        if args.data:
            args.data.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(args.data, x=x, y=np.array(y), xv=xv, yv=np.array(yv), xd=xd,
                                yd=np.array(yd), xh=xh, yh=np.array(yh, dtype="<U8"), xhv=xhv,
                                yhv=np.array(yhv, dtype="<U8"), n=n_puz, command=rendered_by)
    print(f"{len(x)} train strips from {n_puz} puzzles ({sum(map(bool, y))} with a clue), "
          f"{len(xv)} val, {len(xd)} dev-font val, {len(xh)} handwritten ({len(xhv)} held-out val), "
          f"in {time.time() - t0:.0f}s", flush=True)
    if args.render_only:
        return
    n_hand = len(xh)
    if n_hand:
        x, y = np.concatenate([x, xh]), y + yh
    model = train(x, y, args.epochs, args.seed, log=lambda s: print(s, flush=True),
                  on_epoch=lambda m: export(m, args.out), init=args.init, max_lr=args.max_lr,
                  width=args.width, shape_aug=args.shape_aug, device=device, batch=args.batch)
    export(model, args.out)
    card = make_card(args, command_line(argv), rendered_by, n_puz, len(x))
    card["handwritten_train_strips"] = n_hand
    write_card(args.out, card)  # the reader checks the card before it loads the net
    card["val_exact_train_fonts"] = accuracy(args.out, xv, yv)
    card["val_exact_dev_fonts"] = accuracy(args.out, xd, yd)
    if len(xhv):
        card["val_exact_hand_heldout"] = accuracy(args.out, xhv, yhv)
        card["shipped_hand_heldout"] = accuracy(WEIGHTS, xhv, yhv)
    write_card(args.out, card)
    print(f"saved {args.out} ({args.out.stat().st_size // 1024} KB); val exact match "
          f"{card['val_exact_train_fonts']}, dev fonts {card['val_exact_dev_fonts']}, "
          f"handwritten held-out {card.get('val_exact_hand_heldout')}", flush=True)


def command_line(argv) -> str:
    import shlex
    return "python training/train_clues.py " + shlex.join(sys.argv[1:] if argv is None else argv)


def make_card(args, command: str, rendered_by: str, n_puz: int, n_strips: int) -> dict:
    return {"classes": list(CLASSES), "input_hw": [STRIP_H, STRIP_W], "version": args.out.stem,
            "model": f"fully convolutional, per-column CTC (blank = class 0), greedy decode; width {args.width}",
            "trained_by": "training/train_clues.py",
            "command": command, "data_rendered_by": rendered_by,
            "data": f"{n_puz} rendered killer/KenKen puzzles (clean and photo, sizes 4-9), seeds from "
                    f"{args.seed * SEED_BASE} (at most --puzzles; rendering stops after --minutes); "
                    f"validation: {args.val_puzzles} puzzles from seed {(args.seed + 1) * SEED_BASE} "
                    f"(training fonts) and from seed {(args.seed + 2) * SEED_BASE} (DEV_FAMILIES); "
                    "strips through vision.grid.locate_grid + vision.clues.clue_strip",
            "train_strips": n_strips, "train_families": list(TRAIN_FAMILIES),
            "dev_families": list(DEV_FAMILIES), "epochs": args.epochs, "shape_aug": bool(args.shape_aug),
            "input": "ink map (vision.ink.ink_map) strip, 0..1 in uint8 steps"}


def write_card(out: Path, card: dict) -> None:
    out.with_suffix(".json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
