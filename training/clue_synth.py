"""Handwritten cage clues for the clue reader (``training/train_clues.py --hand-strips``).

The renderer draws clues in print only. Here a clue is written by hand into the
top-left corner of a cage's first cell (digits from MNIST, handwriting fonts or
pen strokes, ``training/handwriting.py``; the operators ``+ - − x × * / ÷ :``
drawn as strokes, or the whole clue in one handwriting font), at 15-33% of the
cell height (the clue strip, ``vision.clues.STRIP_Y``, ends at 40%), with thin
and thick (cage) lines around the cell, sometimes a solver's entry in the middle,
then photo degradation. The strip is cut as the reader cuts it: the ink map
(``vision.ink``) of a 3 x 2 cell block, ``vision.clues.clue_strip`` of the cell
box jittered by the lattice's error. A share of the cells hold no clue (label ``""``).

Labels use the network's classes: ``−`` -> ``-``, ``×`` and ``*`` -> ``x``,
``÷`` and ``:`` -> ``/``. ``split="heldout"`` writes with held-out writers only.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

import handwriting
from vlm_puzzle.vision.clues import clue_strip
from vlm_puzzle.vision.ink import ink_map, paper_map

# How each operator may be written, and its class.
WRITTEN_OPS = {"add": ("+",), "sub": ("-", "\u2212"), "mul": ("x", "\u00d7", "*"), "div": ("/", "\u00f7", ":")}
CLASS_OF = {"+": "+", "-": "-", "\u2212": "-", "x": "x", "\u00d7": "x", "*": "x", "/": "/", "\u00f7": "/", ":": "/"}


def clue_text(rng: np.random.Generator) -> tuple[str, str]:
    """A random clue as written and as labelled: a KenKen clue (target and operator,
    operator after the number, rarely before) or a bare number (killer sum, single cell)."""
    r = rng.random()
    if r < 0.25:
        target = int(rng.integers(1, 46))              # killer sum / single cell / addition
        written = str(target)
    else:
        op = str(rng.choice(list(WRITTEN_OPS)))
        if op == "mul":
            target = int(rng.choice([int(rng.integers(1, 100)), int(rng.integers(100, 3000))]))
        elif op == "add":
            target = int(rng.integers(3, 46))
        else:
            target = int(rng.integers(1, 10))
        sym = str(rng.choice(WRITTEN_OPS[op]))
        written = sym + str(target) if rng.random() < 0.08 else str(target) + sym
    label = "".join(CLASS_OF.get(ch, ch) for ch in written)
    return written, label


def _compose(rng: np.random.Generator, written: str, px: int, split: str, font: str | None) -> np.ndarray | None:
    """The clue ``written`` by hand, ``px`` px digit height, as float ink (0..1)."""
    parts = []
    for ch in written:
        if ch.isdigit():
            g = handwriting.glyph(rng, ch, px, split, font)
            if g is None:
                return None
            pad = max(0, px - g.shape[0])
            g = np.pad(g, ((pad // 2, pad - pad // 2), (0, 0)))[:px]   # digits share one baseline box
        else:
            g = handwriting.op_glyph(rng, ch, px)
        parts.append(g)
    gaps = [max(0, int(px * rng.uniform(-0.02, 0.2))) for _ in parts[1:]]
    out = np.zeros((px, sum(p.shape[1] for p in parts) + sum(gaps)), np.float32)
    x = 0
    for i, p in enumerate(parts):
        h = min(px, p.shape[0])
        out[:h, x:x + p.shape[1]] = np.maximum(out[:h, x:x + p.shape[1]], p[:h])
        x += p.shape[1] + (gaps[i] if i < len(gaps) else 0)
    return out


def _font_clue(rng: np.random.Generator, written: str, px: int, font: str) -> np.ndarray | None:
    """The whole clue in one handwriting font (its own operator shapes and sizes), or
    None when the font lacks a glyph (drawn blank)."""
    from PIL import ImageFont
    f = ImageFont.truetype(font, max(8, int(px * 1.35)))
    x0, y0, x1, y1 = f.getbbox(written)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    im = Image.new("L", (x1 - x0 + 8, y1 - y0 + 8), 0)
    ImageDraw.Draw(im).text((4 - x0, 4 - y0), written, font=f, fill=255)
    g = np.asarray(im, np.float32) / 255.0
    d = f.getbbox("0")                                   # scale so a digit is px high
    s = px / max(1, d[3] - d[1])
    return cv2.resize(g, (max(2, int(g.shape[1] * s)), max(2, int(g.shape[0] * s))), interpolation=cv2.INTER_AREA)


def _paste(canvas: np.ndarray, g: np.ndarray, x: int, y: int, level: float) -> None:
    h, w = g.shape
    H, W = canvas.shape
    xa, ya, xb, yb = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if xa < xb and ya < yb:
        canvas[ya:yb, xa:xb] = np.maximum(canvas[ya:yb, xa:xb], g[ya - y:yb - y, xa - x:xb - x] * level)


def clue_cell(rng: np.random.Generator, split: str = "train", p_clue: float = 0.7) -> tuple[np.ndarray, str] | None:
    """One (STRIP_H, STRIP_W) uint8 clue strip and its label ("" when no clue)."""
    cell = float(rng.uniform(36, 110))
    m = int(cell * 0.6)
    W, H = int(m * 2 + cell * 3), int(m * 2 + cell * 2)
    canvas = np.zeros((H, W), np.float32)
    im = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(im)
    thin = max(1, int(round(cell * rng.uniform(0.01, 0.045))))
    thick = max(thin + 1, int(round(thin * rng.uniform(1.5, 5))))
    cage_only = rng.random() < 0.15                      # no thin lines, cages by thick ones only
    # The cell of interest is (row 0, col 1) of the block; its top and left are cage edges.
    for k in range(4):
        x = m + k * cell
        w = thick if k == 1 or rng.random() < 0.35 else (0 if cage_only else thin)
        if w:
            draw.line([(x, 0), (x, H)], fill=255, width=w)
    for k in range(3):
        y = m + k * cell
        w = thick if k == 0 or rng.random() < 0.35 else (0 if cage_only else thin)
        if w:
            draw.line([(0, y), (W, y)], fill=255, width=w)
    canvas = np.maximum(canvas, np.asarray(im, np.float32) / 255.0 * rng.uniform(0.6, 1.0))
    x0, y0 = m + cell, m
    label = ""
    pen = float(rng.uniform(0.6, 1.0))
    fonts = handwriting.hand_fonts(split)
    font = fonts[int(rng.integers(len(fonts)))] if fonts and rng.random() < 0.5 else None
    if rng.random() < p_clue:
        written, label = clue_text(rng)
        px = max(6, int(cell * rng.uniform(0.15, 0.33)))
        g = None
        if font is not None and rng.random() < 0.5:
            g = _font_clue(rng, written, px, font)
        if g is None:
            g = _compose(rng, written, px, split, font)
        if g is None:
            return None
        if g.shape[1] > 0.9 * cell:                      # a long clue: squeezed into the cell
            g = cv2.resize(g, (int(0.9 * cell), g.shape[0]), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:                           # slant
            sh = rng.normal(0.1, 0.12)
            M = np.float32([[1, -sh, sh * g.shape[0] / 2 + abs(sh) * g.shape[0]], [0, 1, 0]])
            g = cv2.warpAffine(g, M, (g.shape[1] + int(2 * abs(sh) * g.shape[0]) + 1, g.shape[0]))
        gx = x0 + thick / 2 + cell * rng.uniform(0.0, 0.1)
        gy = y0 + thick / 2 + cell * rng.uniform(0.0, 0.08)
        _paste(canvas, g, int(gx), int(gy), pen)
    if rng.random() < 0.25:                              # a solver's entry in the cell's middle
        px = int(cell * rng.uniform(0.4, 0.65))
        g = handwriting.glyph(rng, str(rng.integers(1, 10)), px, split, font)
        if g is not None:
            _paste(canvas, g, int(x0 + cell / 2 - g.shape[1] / 2 + rng.normal(0, 0.05) * cell),
                   int(y0 + cell * rng.uniform(0.55, 0.7) - g.shape[0] / 2), pen)
    if rng.random() < 0.4:                               # the next cage's clue to the right
        written, _ = clue_text(rng)
        px = max(6, int(cell * rng.uniform(0.15, 0.33)))
        g = _compose(rng, written, px, split, None)
        if g is not None:
            _paste(canvas, g, int(x0 + cell + thick), int(y0 + thick + cell * 0.03), pen)
    gray = _degrade(canvas, rng, cell)
    cpx = cell * gray.shape[1] / W
    ink = ink_map(gray, cpx, paper_map(gray, cpx))
    s = gray.shape[1] / W
    d = rng.normal(0, 0.025, 4) * cell
    box = ((x0 + d[0]) * s, (y0 + d[1]) * s, (x0 + cell + d[2]) * s, (y0 + cell + d[3]) * s)
    return np.clip(np.rint(clue_strip(ink, box) * 255), 0, 255).astype(np.uint8), label


def _degrade(canvas: np.ndarray, rng: np.random.Generator, cell: float) -> np.ndarray:
    """Paper and ink levels, uneven light, resolution, blur, noise, JPEG: uint8 gray."""
    h, w = canvas.shape
    paper = rng.uniform(150, 255)
    img = paper - canvas * paper * rng.uniform(0.55, 0.95)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    img = img * (1 + rng.uniform(-0.2, 0.2) * (xx - 0.5) + rng.uniform(-0.2, 0.2) * (yy - 0.5))
    s = max(rng.uniform(0.6, 1.3), 26 / cell)          # a cell keeps at least 26 px
    img = cv2.resize(img.astype(np.float32), (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(0, 0.9)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = np.clip(img + rng.normal(0, rng.uniform(0, 6), img.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 95))])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return img


def hand_strips(seed: int, count: int, split: str = "train") -> tuple[np.ndarray, list[str]]:
    """``count`` strips (uint8) and labels, seeded (``seed``: one generator for all)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    while len(xs) < count:
        got = clue_cell(rng, split)
        if got is not None:
            xs.append(got[0])
            ys.append(got[1])
    return np.stack(xs), ys
