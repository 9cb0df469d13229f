"""Synthetic rectified grids for training the digit reader.

A grid of N x N cells (N in 3..9, 12, 16) is drawn on a 576 px square laid out
like :func:`vlm_puzzle.vision.outline.warp_quad`'s output (24 px margin), with
thin cell lines, thick box or cage lines, symbols in random fonts, sizes,
weights and offsets, sometimes handwriting-like digits (scikit-learn's bundled
``load_digits`` scans, stroke-synthesised and elastically distorted) and
clutter that must read as *empty* (small killer / KenKen clues in the corner,
pencil marks, shading). Then it is degraded like a phone photo: low
resolution, blur, uneven light, shadows, noise, JPEG, slight curvature. The
cell rectangles handed to the patch cutter are the true ones jittered by a few
percent, as the lattice finder's are.

With ``hand`` > 0 that share of grids is *handwritten* (``training/handwriting.py``:
MNIST, handwriting fonts, pen strokes): either a printed puzzle being solved
(handwritten entries in pen of any darkness, pencil-mark candidates that read as
empty) or a puzzle whose givens are all handwritten. ``split="heldout"`` writes
with the held-out writers only, for scoring.

Letters are written in one case per grid: uppercase ``A``-``G`` or, in a share
of the grids, lowercase ``a``-``g`` (sgt-puzzles prints hex givens so), both
labelled as the uppercase class.

Everything is seeded: ``synth_grid(rng, fonts)`` for one grid, and
``synth_patches(seed, count, fonts)`` for a batch.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

import handwriting
from vlm_puzzle.render.heldout import SYNTH_HELD_OUT
from vlm_puzzle.vision.cells import cell_patches
from vlm_puzzle.vision.labels import LABELS, symbols_for

SIZE, MARGIN = 576, 24
SIZES = (9, 9, 9, 9, 9, 9, 4, 6, 8, 12, 16, 16, 3, 5, 7)


@lru_cache(maxsize=256)
def _font(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px)


@lru_cache(maxsize=1)
def _handwritten() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download
    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target


def _glyph_hand(rng: np.random.Generator, digit: int, px: int) -> np.ndarray | None:
    """A handwriting-like digit image (float 0..1 ink, about px high), or None for 0."""
    imgs, targets = _handwritten()
    idx = np.nonzero(targets == digit)[0]
    if len(idx) == 0:
        return None
    g = imgs[int(rng.choice(idx))]
    g = cv2.resize(g, (px, px), interpolation=cv2.INTER_CUBIC)
    g = cv2.GaussianBlur(g, (0, 0), px / 24)
    # Re-threshold into strokes of random weight.
    t = rng.uniform(0.3, 0.6)
    return np.clip((g - t) * 6, 0, 1)


def _elastic(img: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    h, w = img.shape[:2]
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    x, y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, x + dx, y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _draw_lines(draw: ImageDraw.ImageDraw, n: int, cell: float, ink: int, thin: int, thick: int,
                box: tuple[int, int] | None, rng: np.random.Generator) -> None:
    for k in range(n + 1):
        pos = MARGIN + k * cell
        outer = k in (0, n)
        for horizontal in (True, False):
            if box is not None:
                period = box[0] if horizontal else box[1]
                w = thick if outer or k % period == 0 else thin
            else:
                w = thick if outer else thin
            if horizontal:
                draw.line([(MARGIN - w // 2, pos), (MARGIN + n * cell + w // 2, pos)], fill=ink, width=w)
            else:
                draw.line([(pos, MARGIN - w // 2), (pos, MARGIN + n * cell + w // 2)], fill=ink, width=w)
    if box is None and n > 2:
        # KenKen-like cage borders: random thick segments.
        for _ in range(int(rng.integers(n, 3 * n))):
            r, c = int(rng.integers(0, n)), int(rng.integers(1, n))
            x = MARGIN + c * cell
            y0, y1 = MARGIN + r * cell, MARGIN + (r + 1) * cell
            if rng.random() < 0.5:
                draw.line([(x, y0), (x, y1)], fill=ink, width=thick)
            else:
                draw.line([(y0, x), (y1, x)], fill=ink, width=thick)


def _paste_text(canvas: np.ndarray, text: str, font_path: str, px: int, cx: float, cy: float,
                rng: np.random.Generator, ink: float, elastic: bool) -> None:
    """Draw ``text`` centred at (cx, cy) into the float ink canvas (max-blend)."""
    font = _font(font_path, px)
    x0, y0, x1, y1 = font.getbbox(text)
    w, h = x1 - x0 + 8, y1 - y0 + 8
    if w <= 8 or h <= 8:
        return
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).text((4 - x0, 4 - y0), text, font=font, fill=255,
                            stroke_width=int(rng.random() < 0.15))
    g = np.asarray(im, np.float32) / 255.0
    if elastic:
        g = _elastic(g, rng, alpha=rng.uniform(0.5, 2.0), sigma=rng.uniform(2, 4))
    _paste(canvas, g, cx, cy, rng, ink)


def _paste(canvas: np.ndarray, g: np.ndarray, cx: float, cy: float, rng: np.random.Generator,
           ink: float) -> None:
    angle = rng.normal(0, 2.5)
    sx = rng.uniform(0.85, 1.15)
    shear = rng.normal(0, 0.12)          # slanted print and handwriting
    h, w = g.shape
    pad = int(abs(shear) * h / 2) + 2
    g = cv2.copyMakeBorder(g, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=0)
    h, w = g.shape
    M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    M[0] *= sx
    M[0, 2] += (1 - sx) * w / 2
    S = np.array([[1, -shear, shear * h / 2], [0, 1, 0], [0, 0, 1]])
    M = (np.vstack([M, [0, 0, 1]]) @ S)[:2]
    g = cv2.warpAffine(g, M, (w, h))
    x, y = int(round(cx - w / 2)), int(round(cy - h / 2))
    H, W = canvas.shape
    xa, ya, xb, yb = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if xa >= xb or ya >= yb:
        return
    sub = g[ya - y:yb - y, xa - x:xb - x] * ink
    canvas[ya:yb, xa:xb] = np.maximum(canvas[ya:yb, xa:xb], sub)


class _Writer:
    """Fills one handwritten grid: one writer (font, pen, size habit) per grid."""

    def __init__(self, rng: np.random.Generator, split: str, cell: float, all_hand: bool, lower: bool):
        self.rng, self.split, self.cell, self.all_hand, self.lower = rng, split, cell, all_hand, lower
        fonts = handwriting.hand_fonts(split)
        self.font = fonts[int(rng.integers(len(fonts)))] if fonts and rng.random() < 0.7 else None
        # In gray, blue and grey pens and pencil are lighter than print.
        self.pen = float(rng.uniform(0.35, 1.0))
        self.size = float(rng.uniform(0.45, 0.9))
        self.entries = float(rng.uniform(0.2, 0.8))      # share of the empty cells filled in
        self.marks = float(rng.uniform(0.0, 0.5))        # share of the rest with candidates
        # Print showing through thin newspaper from the other side: faint, mirrored, empty.
        self.ghosts = float(rng.uniform(0.1, 0.4)) if rng.random() < 0.3 else 0.0

    def draw(self, canvas, symbols, fill, font, scale, r, c) -> tuple[str, str]:
        """Draw cell (r, c) into ``canvas``; returns (label, kind)."""
        rng, cell = self.rng, self.cell
        x0, y0 = MARGIN + c * cell, MARGIN + r * cell
        if rng.random() < fill:
            label = str(rng.choice(symbols))
            if not self.all_hand:
                px = max(8, int(cell * scale * rng.uniform(0.95, 1.05) * (0.8 if len(label) > 1 else 1.0)))
                _paste_text(canvas, _case(label, self.lower), font, px, x0 + (0.5 + rng.normal(0, 0.03)) * cell,
                            y0 + (0.5 + rng.normal(0, 0.03)) * cell, rng, rng.uniform(0.7, 1.0), elastic=False)
                return label, _kind("print", label, self.lower)
            return (label, _kind("hand", label, self.lower)) if self._write(canvas, label, x0, y0) else ("", "")
        if not self.all_hand and rng.random() < self.entries:
            label = str(rng.choice(symbols))
            return (label, _kind("hand", label, self.lower)) if self._write(canvas, label, x0, y0) else ("", "")
        if rng.random() < self.marks:
            ink = self.pen * rng.uniform(0.5, 1.0)
            small = [_case(s, self.lower) for s in symbols if len(s) == 1]
            for g, fx, fy in handwriting.pencil_marks(rng, cell, self.split, tuple(small)):
                _paste(canvas, g, x0 + fx * cell, y0 + fy * cell, rng, ink)
            return "", "marks"
        if rng.random() < self.ghosts:
            g = handwriting.font_glyph(font, _case(str(rng.choice(symbols)), self.lower), int(cell * scale))
            if g is not None:
                _paste(canvas, g[:, ::-1], x0 + cell / 2, y0 + cell / 2, rng, rng.uniform(0.08, 0.25))
                return "", "ghost"
        return "", ""

    def _write(self, canvas, label: str, x0: float, y0: float) -> bool:
        """Write ``label`` by hand in the cell at (x0, y0); False if no source can."""
        rng, cell = self.rng, self.cell
        px = max(8, int(cell * self.size * rng.uniform(0.85, 1.15) * (0.75 if len(label) > 1 else 1.0)))
        g = handwriting.written(rng, _case(label, self.lower), px, self.split, self.font)
        if g is None:
            return False
        if g.shape[1] > 0.95 * cell:                     # a wide number: squeeze it into the cell
            g = cv2.resize(g, (int(0.95 * cell), g.shape[0]), interpolation=cv2.INTER_AREA)
        # Off-centre writing, sometimes touching the cell border, never into the next cell.
        room_x = max(0.0, (cell - g.shape[1]) / 2 + 0.04 * cell)
        room_y = max(0.0, (cell - g.shape[0]) / 2 + 0.04 * cell)
        dx = float(np.clip(rng.normal(0, 0.08) * cell, -room_x, room_x))
        dy = float(np.clip(rng.normal(0, 0.08) * cell, -room_y, room_y))
        _paste(canvas, g, x0 + cell / 2 + dx, y0 + cell / 2 + dy, rng, self.pen * rng.uniform(0.85, 1.0))
        return True


def _case(label: str, lower: bool) -> str:
    """How a grid writes ``label``: its letters in lowercase when ``lower``."""
    return label.lower() if lower else label


def _kind(kind: str, label: str, lower: bool) -> str:
    """The cell kind, ``_lc`` appended for a letter written in lowercase."""
    return kind + "_lc" if lower and label.isalpha() else kind


def _degrade(img: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Photo-like degradation of a float 0..255 gray image; returns uint8."""
    h, w = img.shape
    # Uneven light: a plane plus a soft shadow blob.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    light = 1 + rng.uniform(-0.25, 0.25) * (xx - 0.5) + rng.uniform(-0.25, 0.25) * (yy - 0.5)
    if rng.random() < 0.4:
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.15, 0.5)
        light -= rng.uniform(0.1, 0.45) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    img = img * light
    # Slight curvature: a smooth displacement of a few px.
    if rng.random() < 0.5:
        amp = rng.uniform(0.5, 4.0)
        ph = rng.uniform(0, 6.28)
        dx = amp * np.sin(yy * rng.uniform(2, 6) + ph)
        dy = amp * np.sin(xx * rng.uniform(2, 6) + ph)
        x, y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        img = cv2.remap(img.astype(np.float32), x + dx.astype(np.float32), y + dy.astype(np.float32),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Low resolution: the photo had only this many px for the grid.
    res = int(rng.uniform(18, 64) * n * SIZE / (SIZE - 2 * MARGIN))
    if res < w:
        img = cv2.resize(img, (res, res), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img + rng.normal(0, rng.uniform(0, 8), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 95))])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if img.shape[0] != w:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def synth_grid(rng: np.random.Generator, fonts: list[str], hand: float = 0.0, split: str = "train",
               kinds: list[str] | None = None) -> tuple[np.ndarray, list, list[str]]:
    """One synthetic rectified grid: (gray uint8 576x576, cell rects, labels per cell).

    ``hand``: probability that the grid is handwritten (see the module doc), its
    writers from ``split``. ``kinds``, when given, receives what each cell holds:
    "" (blank), "print", "hand", "marks" (pencil marks) or "ghost" (show-through), both
    labelled empty, or "clue"."""
    n = int(rng.choice(SIZES))
    cell = (SIZE - 2 * MARGIN) / n
    paper = float(rng.uniform(150, 255))
    ink_level = float(rng.uniform(0.55, 1.0)) * paper          # how much darker ink is than paper
    thin = max(1, int(round(cell * rng.uniform(0.01, 0.05))))
    thick = thin + max(1, int(round(cell * rng.uniform(0.02, 0.08))))
    from vlm_puzzle.spec import DEFAULT_BOX
    box = DEFAULT_BOX.get(n) if rng.random() < 0.8 else None
    im = Image.new("L", (SIZE, SIZE), 0)
    _draw_lines(ImageDraw.Draw(im), n, cell, 255, thin, thick, box, rng)
    canvas = np.asarray(im, np.float32) / 255.0 * rng.uniform(0.6, 1.0)
    symbols = symbols_for(n, rng)
    fill = rng.uniform(0.25, 0.7)
    font = fonts[int(rng.integers(len(fonts)))]           # one font per grid, as in print
    scale = rng.uniform(0.4, 0.8)
    labels: list[str] = []
    writer = None
    lower = any(s.isalpha() for s in symbols) and handwriting.as_written(rng)
    if hand and rng.random() < hand:
        writer = _Writer(rng, split, cell, all_hand=rng.random() < 0.4, lower=lower)
    for r in range(n):
        for c in range(n):
            cx = MARGIN + (c + 0.5 + rng.normal(0, 0.03)) * cell
            cy = MARGIN + (r + 0.5 + rng.normal(0, 0.03)) * cell
            label = ""
            if writer is not None:
                label, kind = writer.draw(canvas, symbols, fill, font, scale, r, c)
                labels.append(label)
                if kinds is not None:
                    kinds.append(kind)
                continue
            kind = ""
            if rng.random() < fill:
                label = str(rng.choice(symbols))
                px = max(8, int(cell * scale * rng.uniform(0.95, 1.05) * (0.8 if len(label) > 1 else 1.0)))
                kind = _kind("print", label, lower)
                hand_img = None
                if label.isdigit() and len(label) == 1 and rng.random() < 0.12:
                    hand_img = _glyph_hand(rng, int(label), px)
                if hand_img is not None:
                    _paste(canvas, hand_img, cx, cy, rng, rng.uniform(0.7, 1.0))
                else:
                    _paste_text(canvas, _case(label, lower), font, px, cx, cy, rng, rng.uniform(0.7, 1.0),
                                elastic=rng.random() < 0.25)
            elif rng.random() < 0.08:
                # Clutter that is not a given: a small corner clue or pencil marks.
                clue = str(rng.integers(1, 46)) + str(rng.choice(["", "+", "-", "x", "/"]))
                px = max(6, int(cell * rng.uniform(0.16, 0.26)))
                _paste_text(canvas, clue, font, px, MARGIN + (c + 0.1) * cell + px * len(clue) * 0.3,
                            MARGIN + (r + 0.08) * cell + px / 2, rng, 0.9, elastic=False)
                kind = "clue"
            labels.append(label)
            if kinds is not None:
                kinds.append(kind)
    img = paper - canvas * ink_level
    if rng.random() < 0.2:
        # Shaded cells (some newspapers shade boxes): darken random cells a little.
        for _ in range(int(rng.integers(1, n * 2))):
            r, c = int(rng.integers(0, n)), int(rng.integers(0, n))
            y0, x0 = int(MARGIN + r * cell), int(MARGIN + c * cell)
            img[y0:int(y0 + cell), x0:int(x0 + cell)] *= rng.uniform(0.75, 0.92)
    gray = _degrade(img, rng, n)
    jit = 0.05
    rects = []
    for r in range(n):
        for c in range(n):
            x0 = MARGIN + (c + rng.normal(0, jit)) * cell
            y0 = MARGIN + (r + rng.normal(0, jit)) * cell
            x1 = MARGIN + (c + 1 + rng.normal(0, jit)) * cell
            y1 = MARGIN + (r + 1 + rng.normal(0, jit)) * cell
            rects.append((x0, y0, x1, y1))
    return gray, rects, labels


def synth_patches(seed: int, grids: int, fonts: list[str], hand: float = 0.0,
                  split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Patches (M, 32, 32) uint8 and class indices (M,) from ``grids`` synthetic grids
    (``hand``, ``split``: see :func:`synth_grid`).

    Blank cells are subsampled so they are about a third of the result; pencil-mark
    cells are all kept."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    index = {lab: i for i, lab in enumerate(LABELS)}
    for _ in range(grids):
        kinds: list[str] = []
        gray, rects, labels = synth_grid(rng, fonts, hand, split, kinds)
        patches = cell_patches(gray, rects)
        for p, lab, kind in zip(patches, labels, kinds):
            if lab == "" and kind != "marks" and rng.random() < 0.6:
                continue
            xs.append(p)
            ys.append(index[lab])
    return np.stack(xs), np.array(ys, np.int64)


def font_files(root: str = "/usr/share/fonts", held_out: bool = False) -> list[str]:
    """Latin text fonts under ``root`` (sorted paths): the training fonts, or with
    ``held_out`` the evaluation-only families."""
    keep = ("Liberation", "Free", "Nimbus", "C059", "P052", "URWBookman", "URWGothic", "Z003",
            "DejaVu", "NotoSans-", "NotoSerif-", "NotoSansMono-")
    out = []
    for p in sorted(Path(root).rglob("*")):
        if p.suffix.lower() in (".ttf", ".otf") and any(p.name.startswith(k) for k in keep):
            if "Math" in p.name:
                continue
            if any(p.name.startswith(h) for h in SYNTH_HELD_OUT) == held_out:
                out.append(str(p))
    return out
