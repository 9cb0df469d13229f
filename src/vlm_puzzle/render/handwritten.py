"""Boards with givens and cage clues written by hand on a computer-drawn grid.

The grid, its lines and cages come from :func:`~vlm_puzzle.render.draw.draw_puzzle` (no text);
the text is written with glyph images handed in by the caller (``write(symbol, px, rng)``: a float
ink image 0..1 of one digit or letter about ``px`` high, or None), so this module needs no corpus:
the benchmark passes held-out MNIST digits (:mod:`vlm_puzzle.eval.handwritten`), training passes
its own writers. Operators of KenKen clues (``+ - − x × * / ÷ :``) are drawn as pen strokes
(:func:`op_glyph`). Composition follows how people write into a printed grid: size, slant,
rotation and stroke width per writer and per glyph, off-centre, now and then touching a line.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from vlm_puzzle.render.draw import GridGeometry, draw_puzzle, line_widths, symbol
from vlm_puzzle.render.style import Style
from vlm_puzzle.spec import PuzzleSpec

Writer = Callable[[str, int, np.random.Generator], "np.ndarray | None"]
# Operator glyphs a writer uses for each KenKen operation.
HAND_OPS = {"add": ("+",), "sub": ("-",), "mul": ("x", "\u00d7", "*"), "div": ("/", "\u00f7", ":")}
OP_CHARS = frozenset("+-\u2212x\u00d7*/\u00f7:")
PENS = ((20, 20, 20), (25, 35, 110), (60, 60, 70), (10, 30, 70))  # black, blue, pencil grey, dark blue


def op_glyph(rng: np.random.Generator, op: str, px: int) -> np.ndarray:
    """A clue operator (``+ - − x × * / ÷ :``) written by hand beside digits ``px``
    px high: an image ``px`` high (the operator's own ink, empty rows above and
    below), as wide as the operator, so it keeps its size and height relative to
    the digits when composed. Unknown operators raise KeyError."""
    h = max(8, px)
    s = h * rng.uniform(0.35, 0.6)                     # operator size
    mid = h * rng.uniform(0.42, 0.6)
    pen = max(1, int(round(h * rng.uniform(0.05, 0.13))))
    w = int(s + 2 * pen + 2)
    lines: list[list[tuple[float, float]]] = []
    dots: list[tuple[float, float]] = []
    x0, x1, y0, y1 = pen + 1, pen + 1 + s, mid - s / 2, mid + s / 2
    if op == "+":
        lines = [[(x0, mid), (x1, mid)], [((x0 + x1) / 2, y0), ((x0 + x1) / 2, y1)]]
    elif op in "-\u2212":
        lines = [[(x0, mid), (x1, mid)]]
    elif op in "x\u00d7":
        k = 0.8 if op == "\u00d7" else 1.0
        a, b = (x0 + x1) / 2 - s * k / 2, (x0 + x1) / 2 + s * k / 2
        lines = [[(a, mid - s * k / 2), (b, mid + s * k / 2)], [(a, mid + s * k / 2), (b, mid - s * k / 2)]]
    elif op == "*":
        c = (x0 + x1) / 2
        for ang in (90, 30, 150):
            t = np.radians(ang + rng.normal(0, 5))
            lines.append([(c - np.cos(t) * s / 2, mid - np.sin(t) * s / 2), (c + np.cos(t) * s / 2, mid + np.sin(t) * s / 2)])
    elif op == "/":
        w = int(h * 0.5 + 2 * pen + 2)
        lines = [[(pen + 1, h - 1), (w - pen - 1, 1)]]
    elif op in "\u00f7:":
        c = (x0 + x1) / 2
        if op == "\u00f7":
            lines = [[(x0, mid), (x1, mid)]]
        dots = [(c, mid - s * 0.45), (c, mid + s * 0.45)]
    else:
        raise KeyError(op)
    img = np.zeros((h, w), np.float32)
    scale = 8
    for line in lines:
        p = np.asarray(line, np.float64) + rng.normal(0, h * 0.015, (len(line), 2))
        cv2.polylines(img, [np.round(p * scale).astype(np.int32)], False, 1.0, pen, cv2.LINE_AA, shift=3)
    for x, y in dots:
        cv2.circle(img, (int(round(x * scale)), int(round(y * scale))), max(1, pen) * scale // 2 + scale // 2,
                   1.0, -1, cv2.LINE_AA, shift=3)
    return np.clip(img, 0, 1)


def _sized(g: np.ndarray, px: int) -> np.ndarray:
    s = px / max(1, g.shape[0])
    return cv2.resize(g, (max(2, int(round(g.shape[1] * s))), max(2, px)),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def _row(parts: list[np.ndarray], gaps: list[int], align_bottom: bool = True) -> np.ndarray:
    """Glyphs side by side (``gaps`` px apart, negative: overlapping), on one baseline."""
    h = max(p.shape[0] for p in parts)
    width = sum(p.shape[1] for p in parts) + sum(gaps)
    out = np.zeros((h, max(1, width) + 2), np.float32)
    x = 0
    for i, p in enumerate(parts):
        y = h - p.shape[0] if align_bottom else (h - p.shape[0]) // 2
        x = max(0, x)
        sl = out[y:y + p.shape[0], x:x + p.shape[1]]
        sl[:] = np.maximum(sl, p[:, :sl.shape[1]])
        x += p.shape[1] + (gaps[i] if i < len(gaps) else 0)
    return out


def _hand(g: np.ndarray, rng: np.random.Generator, slant: float, pen: float) -> np.ndarray:
    """A glyph as one writer writes it: slant (shear), a small rotation, and the pen's stroke
    width (``pen`` < 0 thinner, > 0 thicker, in fractions of the glyph height)."""
    h, w = g.shape
    pad = int(0.25 * h) + 2
    g = np.pad(g, pad)
    H, W = g.shape
    m = cv2.getRotationMatrix2D((W / 2, H / 2), float(rng.normal(0, 4)), 1.0)
    m[0, 1] -= slant
    m[0, 2] += slant * H / 2
    g = cv2.warpAffine(g, m, (W, H), flags=cv2.INTER_LINEAR)
    k = int(round(abs(pen) * h))
    if k >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1))
        g = cv2.dilate(g, kernel) if pen > 0 else cv2.erode(g, kernel)
    ys, xs = np.nonzero(g > 0.08)
    if len(ys) == 0:
        return np.zeros((max(2, h), max(2, w)), np.float32)
    return g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _paste(page: np.ndarray, g: np.ndarray, x: float, y: float, ink, level: float) -> None:
    """Blend ink ``g`` (float 0..1) onto the RGB float ``page`` with its top-left at (x, y)."""
    H, W = page.shape[:2]
    x0, y0 = int(round(x)), int(round(y))
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + g.shape[1]), min(H, y0 + g.shape[0])
    if xa >= xb or ya >= yb:
        return
    a = g[ya - y0:yb - y0, xa - x0:xb - x0, None] * level
    page[ya:yb, xa:xb] = page[ya:yb, xa:xb] * (1 - a) + np.asarray(ink, np.float32) * a


def _text(write: Writer, text: str, px: int, rng: np.random.Generator, slant: float, pen: float) -> np.ndarray | None:
    parts = []
    for ch in text:
        op = ch in OP_CHARS
        g = op_glyph(rng, ch, px) if op else write(ch, px, rng)
        if g is None:
            return None
        g = _hand(g if op else _sized(g, px), rng, slant, 0.0 if op else pen)
        parts.append(g)
    gaps = [int(round(px * rng.uniform(-0.05, 0.2))) for _ in parts[1:]]
    return _row(parts, gaps, align_bottom=True)


def draw_handwritten(spec: PuzzleSpec, style: Style, size_px: tuple[int, int], rng: np.random.Generator,
                     write: Writer, ops: dict[str, str] | None = None) -> tuple[np.ndarray, GridGeometry] | None:
    """``spec`` drawn in ``style`` with its givens and cage clues written by hand with ``write``.

    One writer per board: pen colour, slant, stroke width, size and placement habits are drawn
    once, each glyph then varies around them. ``ops``: the operator glyph written for each
    operation (default: one of :data:`HAND_OPS` each, chosen per board). Returns the RGB image
    and the grid geometry, or None when ``write`` cannot write a symbol the board needs."""
    img, geo = draw_puzzle(spec, style, size_px, rng, text=False)
    page = img.astype(np.float32)
    n, cell = spec.size, geo.cell
    ink = PENS[int(rng.integers(len(PENS)))]
    slant = float(rng.normal(0.12, 0.12))
    pen = float(rng.uniform(-0.03, 0.05))
    level = float(rng.uniform(0.75, 1.0))
    thick = line_widths(style, cell)[1]
    if spec.cages:
        ops = ops or {op: g[int(rng.integers(len(g)))] for op, g in HAND_OPS.items()}
        clue_h = rng.uniform(0.2, 0.33)
        for cage in spec.cages:
            r, c = min(cage.cells)
            op = ops.get(cage.op, "") if cage.op and len(cage.cells) > 1 and spec.kind == "kenken" else ""
            px = max(6, int(cell * clue_h * rng.uniform(0.9, 1.1)))
            g = _text(write, f"{cage.target}{op}", px, rng, slant, pen)
            if g is None:
                return None
            if g.shape[1] > 0.9 * cell:  # a long clue squeezed into its cell, as people do
                g = cv2.resize(g, (int(0.9 * cell), g.shape[0]), interpolation=cv2.INTER_AREA)
            x = geo.x(c) + thick / 2 + cell * rng.uniform(0.02, 0.1)
            y = geo.y(r) + thick / 2 + cell * rng.uniform(0.02, 0.08)
            _paste(page, g, x, y, ink, level)
    size = rng.uniform(0.5, 0.72) * (0.85 if spec.cages else 1.0)
    for r, row in enumerate(spec.givens):
        for c, v in enumerate(row):
            if not v:
                continue
            text = symbol(v, style, n)
            px = max(8, int(cell * size * rng.uniform(0.9, 1.1) * (0.8 if len(text) > 1 else 1.0)))
            g = _text(write, text, px, rng, slant, pen)
            if g is None:
                return None
            if g.shape[1] > 0.95 * cell:
                g = cv2.resize(g, (int(0.95 * cell), g.shape[0]), interpolation=cv2.INTER_AREA)
            # Off-centre, now and then touching a cell line (at most a tenth of the glyph outside).
            jx, jy = rng.normal(0, 0.05, 2) * cell
            cx = geo.x(c + 0.5) + jx
            cy = geo.y(r + 0.5) + jy + (0.06 * cell if spec.cages else 0.0)
            x = np.clip(cx - g.shape[1] / 2, geo.x(c) - 0.1 * g.shape[1], geo.x(c + 1) - 0.9 * g.shape[1])
            y = np.clip(cy - g.shape[0] / 2, geo.y(r) - 0.1 * g.shape[0], geo.y(r + 1) - 0.9 * g.shape[0])
            _paste(page, g, x, y, ink, level)
    return np.clip(page, 0, 255).astype(np.uint8), geo
