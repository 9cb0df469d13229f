"""Train the cage-clue character classifier and export it to ONNX.

Clues (``12+``, ``3-``, ``60×``, ``2÷``, killer sums) are rendered into the top-left
corner of a cell, with grid lines, inset dashed cage outlines and sometimes a given
digit around them, then degraded (blur, noise, lighting, JPEG, small scale and
shift). Each rendered cell goes through the *same* segmentation as inference
(:func:`vlm_puzzle.vision.clues.segment_clue`); a sample is kept when it yields as
many glyphs as the text has characters, labelled in order. So the network learns
exactly the crops it will see.

Half the glyphs come from whole KenKen and killer puzzles drawn by the project's
renderer (clean and photographed) and located by the real grid finder, half from
single synthetic cells with a wider spread of sizes and degradations.

Fonts: only the ``TRAIN_FAMILIES`` are used; ``experiments/eval_variants.py``
evaluates on the other installed families (held out). Usage::

    nice python training/train_clues.py --samples 30000 --epochs 10
"""
from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from vlm_puzzle.render.fonts import load_font

from vlm_puzzle.vision.borders import ink_map
from vlm_puzzle.vision.clues import CLASSES, GLYPH, WEIGHTS, clue_region, segment_clue

# Font families trained on (those installed); every other family is held out for
# evaluation (experiments/eval_variants.py: DejaVuSansCondensed, DejaVuSerifCondensed,
# builtin, Liberation*, Nimbus*, Free*, C059, P052, URW*, Noto*, ...).
TRAIN_FAMILIES = ("DejaVuSans", "DejaVuSerif", "DejaVuSansMono")
OPS = ("+", "-", "\u2212", "×", "x", "*", "÷", "/")
LABEL = {**{c: c for c in CLASSES}, "×": "x", "\u2212": "-"}


def train_fonts() -> list[str]:
    """Installed font names of the training families (DejaVu is everywhere)."""
    from vlm_puzzle.render.fonts import available_fonts, font_family
    return [name for name in available_fonts() if font_family(name) in TRAIN_FAMILIES]


def random_text(rng: np.random.Generator) -> str:
    n_digits = int(rng.choice([1, 2, 2, 3, 3, 4]))
    digits = str(rng.integers(1, 10)) + "".join(str(d) for d in rng.integers(0, 10, n_digits - 1))
    if rng.random() < 0.3:
        return digits  # killer sum or KenKen single cell
    return digits + str(rng.choice(OPS))


def render_cell(rng: np.random.Generator, text: str, fonts: list[str]) -> tuple[np.ndarray, float]:
    """A 3x3-cell gray patch whose middle cell holds ``text`` in its top-left corner."""
    cell = int(rng.integers(44, 100))
    killer = not any(ch in OPS for ch in text)
    side = 3 * cell
    img = Image.new("L", (side, side), int(rng.integers(215, 256)))
    draw = ImageDraw.Draw(img)
    ink = int(rng.integers(0, 70))
    thin = max(1, int(round(cell * rng.uniform(0.01, 0.03))))
    for k in range(4):
        w = thin if rng.random() < 0.6 else int(thin * rng.uniform(2.5, 4))
        draw.line([(k * cell, 0), (k * cell, side)], fill=ink, width=w)
        w = thin if rng.random() < 0.6 else int(thin * rng.uniform(2.5, 4))
        draw.line([(0, k * cell), (side, k * cell)], fill=ink, width=w)
    if killer and rng.random() < 0.7:  # killer-style inset dashed outline around the middle cell
        inset = int(cell * rng.uniform(0.06, 0.14))
        dash, gap = max(2, int(cell * rng.uniform(0.05, 0.12))), max(2, int(cell * rng.uniform(0.04, 0.1)))
        x0, x1 = cell + inset, 2 * cell - inset
        for t in range(x0, x1, dash + gap):
            draw.line([(t, x0), (min(t + dash, x1), x0)], fill=ink, width=1)
            draw.line([(x0, t), (x0, min(t + dash, x1))], fill=ink, width=1)
    given = rng.random() < 0.15
    if given:  # a given digit in the middle, below the clue
        f = load_font(str(rng.choice(fonts)), int(cell * 0.5))
        draw.text((1.55 * cell, 1.62 * cell), str(rng.integers(1, 10)), fill=ink, font=f, anchor="mm")
    size = max(9, int(cell * rng.uniform(0.2, 0.24 if given else 0.3)))
    font_name = str(rng.choice(fonts))
    font = load_font(font_name, size)
    while size > 9 and draw.textlength(text, font=font) > 0.95 * cell:  # stay inside the cell
        size -= 1
        font = load_font(font_name, size)
    pad = int(cell * rng.uniform(0.04, 0.08 if given else 0.12))
    if rng.random() < 0.4:  # paper box behind the clue, as renderers do to break the outline
        bb = draw.textbbox((cell + pad, cell + pad), text, font=font)
        draw.rectangle([bb[0] - 1, bb[1] - 1, bb[2] + 1, bb[3] + 1], fill=int(rng.integers(215, 256)))
    draw.text((cell + pad, cell + pad), text, fill=ink, font=font)
    arr = np.asarray(img, np.float32)
    return degrade(rng, arr), float(cell)


def degrade(rng: np.random.Generator, arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape
    if rng.random() < 0.5:  # lighting gradient
        gx, gy = rng.uniform(-40, 40, 2)
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        arr = arr + gx * (xx - 0.5) + gy * (yy - 0.5)
    if rng.random() < 0.7:
        arr = cv2.GaussianBlur(arr, (0, 0), rng.uniform(0.3, 0.9))
    if rng.random() < 0.3:  # small stroke weight change
        k = np.ones((2, 2), np.uint8)
        arr = cv2.erode(arr, k) if rng.random() < 0.5 else cv2.dilate(arr, k)
    arr = arr + rng.normal(0, rng.uniform(0, 8), arr.shape)
    out = np.clip(arr, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=int(rng.integers(35, 90)))
        out = np.asarray(Image.open(buf).convert("L"))
    return out


def quantise(img: np.ndarray) -> np.ndarray:
    """As the runner sees it: uint8 then /255."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.float32) / 255.0


def quick_caged_puzzle(kind: str, n: int, seed: int):
    """A killer or KenKen (spec, solution) drawn like the renderer's, without the
    uniqueness search (seconds to minutes for killer): clue text and cage shapes
    are what matter here, not whether the puzzle has one solution."""
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
    return _caged_spec(kind, n, cages, [[0] * n for _ in range(n)]), solution


def rendered_samples(n: int, seed: int, fonts: list[str]) -> tuple[list, list]:
    """Glyphs from whole KenKen / killer puzzles drawn by the project's renderer
    (clean and photo), located and warped by the real grid finder."""
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.draw import cage_label
    from vlm_puzzle.render.style import Style
    from vlm_puzzle.vision.grid import locate_grid, to_gray
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    k = 0
    while len(xs) < n:
        k += 1
        kind = "kenken" if rng.random() < 0.6 else "killer"
        size = int(rng.integers(3, 10)) if kind == "kenken" else int(rng.choice([6, 9, 9]))
        try:
            spec, solution = quick_caged_puzzle(kind, size, seed * 100003 + k)
            shot = render_puzzle(spec, seed=seed * 100003 + k, photo=bool(rng.random() < 0.5),
                                 fonts=fonts, solution=solution)
            loc = locate_grid(shot.image[..., ::-1].copy())
        except Exception:  # an unlucky photo the grid finder misses: just skip it
            continue
        lat = loc.lattice
        if lat.size != size:
            continue
        style = Style.from_dict(shot.truth["style"])
        cell = float(np.diff(lat.cols_x).mean())
        ink = ink_map(to_gray(loc.warped), cell)
        for cage in spec.cages:
            r, c = min(cage.cells)
            text = cage_label(cage, style)
            glyphs = segment_clue(clue_region(ink, *lat.cell_rect(r, c)), cell, kind == "kenken")
            if len(glyphs) != len(text):
                continue
            for g, ch in zip(glyphs, text):
                xs.append(quantise(g.image))
                ys.append(CLASSES.index(LABEL[ch]))
    return xs, ys


def make_dataset(n: int, seed: int, fonts: list[str], rendered: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled glyphs: a ``rendered`` share from whole rendered puzzles, the
    rest from single synthetic cells (wider variety of sizes and degradations)."""
    rng = np.random.default_rng(seed)
    xs, ys = rendered_samples(int(n * rendered), seed, fonts) if rendered > 0 else ([], [])
    while len(xs) < n:
        text = random_text(rng)
        gray, cell = render_cell(rng, text, fonts)
        ink = ink_map(gray, cell)
        ops = any(ch in OPS for ch in text) or rng.random() < 0.5
        glyphs = segment_clue(clue_region(ink, cell, cell, 2 * cell, 2 * cell), cell, ops)
        if len(glyphs) != len(text):
            continue
        for g, ch in zip(glyphs, text):
            xs.append(quantise(g.image))
            ys.append(CLASSES.index(LABEL[ch]))
    return np.stack(xs)[:n, None], np.array(ys[:n], np.int64)


def build_model():
    import torch.nn as nn
    # ~0.5 MFLOP a glyph: a 9x9 KenKen's ~120 glyphs cost a few ms on one core.
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # 14
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 7
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 3
        nn.Flatten(), nn.Linear(32 * 3 * 3, 64), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(64, len(CLASSES)))


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int):
    import torch
    torch.manual_seed(seed)
    model = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * (len(x) // 128 + 1))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        total = 0.0
        for i in range(0, len(xt), 128):
            idx = perm[i:i + 128]
            xb = xt[idx]
            # Shift by up to 1 px: segmentation crops are not perfectly centred.
            xb = torch.roll(xb, shifts=(int(torch.randint(-1, 2, ())), int(torch.randint(-1, 2, ()))), dims=(2, 3))
            loss = loss_fn(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(f"epoch {ep + 1}/{epochs} loss {total / len(xt):.4f}", flush=True)
    return model.eval()


def export(model, path: Path) -> None:
    import torch
    dummy = torch.zeros(1, 1, GLYPH, GLYPH)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, dummy, str(path), input_names=["glyph"], output_names=["logits"],
                      dynamic_axes={"glyph": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
                      dynamo=False)


def write_card(path: Path, args, n_train: int, val_acc: float | None = None) -> None:
    card = {"classes": list(CLASSES), "input_size": GLYPH, "version": path.stem.rsplit("_", 1)[-1],
            "trained_by": "training/train_clues.py", "samples": n_train, "epochs": args.epochs,
            "seed": args.seed, "train_families": list(TRAIN_FAMILIES), "rendered_share": args.rendered,
            "input": "uint8 glyph / 255, line height scaled to 18 px (vision/clues.py normalise_glyph)"}
    if val_acc is not None:
        card["val_accuracy_train_fonts"] = round(val_acc, 4)
    path.with_suffix(".json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")


def accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    from vlm_puzzle.vision.classifier import load_classifier
    clf = load_classifier(path)
    patches = np.clip(np.rint(x[:, 0] * 255.0), 0, 255).astype(np.uint8)
    return float((clf.predict(patches).argmax(axis=1) == y).mean())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=30000)
    ap.add_argument("--rendered", type=float, default=0.5, help="share of glyphs from whole rendered puzzles")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    fonts = train_fonts()
    t0 = time.time()
    x, y = make_dataset(args.samples, args.seed, fonts, args.rendered)
    xv, yv = make_dataset(args.samples // 8, args.seed + 1, fonts, args.rendered)
    print(f"{len(x)} train / {len(xv)} val glyphs rendered in {time.time() - t0:.0f}s; "
          f"class counts {np.bincount(y, minlength=len(CLASSES)).tolist()}", flush=True)
    model = train(x, y, args.epochs, args.seed)
    export(model, args.out)
    write_card(args.out, args, len(x))
    acc = accuracy(args.out, xv, yv)
    write_card(args.out, args, len(x), acc)
    print(f"saved {args.out} ({args.out.stat().st_size // 1024} KB); "
          f"val accuracy (train fonts, ONNX via cv2.dnn) {acc:.4f}")


if __name__ == "__main__":
    main()
