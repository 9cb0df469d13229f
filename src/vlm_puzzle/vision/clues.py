"""Cage clue text: the small ``12+``, ``3-``, ``60×``, ``2÷`` or killer sum in a cage's top-left cell.

Two steps:

1. :func:`segment_clue` - connected components of ink in the cell's top-left
   corner, minus grid lines, cage-outline dashes and the (much larger, centred)
   given digit; components that overlap horizontally are one glyph (``÷`` is
   three). Each glyph is drawn onto a ``GLYPH`` x ``GLYPH`` canvas scaled by the
   clue's *line height*, so a ``-`` stays a small bar at mid-height and a ``1``
   stays tall.
2. :func:`read_clues` - one batched pass of a small CNN over every glyph of every
   cage (shipped ONNX weights, ``vision/weights/clues*.onnx``, trained by
   ``training/train_clues.py``), then :func:`parse_clue` turns the characters into
   ``(op, target)`` with a confidence (the product of the glyph probabilities).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

GLYPH = 28            # px side of a normalised glyph
LINE_PX = 18          # px a clue's line height is scaled to on that canvas
CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "-", "x", "÷", "/", "*")
OP_OF = {"+": "add", "-": "sub", "x": "mul", "*": "mul", "÷": "div", "/": "div"}
# Where a clue may sit, as fractions of the cell: the top-left corner region.
CLUE_BOX = (0.97, 0.4)    # (width, height) where a clue may lie / start
REGION_H = 0.75           # how far down the corner region reaches
MAX_GLYPHS = 5            # up to 4 digits and an operator
THRESHOLD = 0.45          # ink threshold as a fraction of the clue's own ink level
WEIGHTS = Path(__file__).with_name("weights") / "clues_v3.onnx"


@dataclass(frozen=True)
class Clue:
    """A read clue: ``text`` as characters, ``op`` (None for a bare number: killer sum
    or a KenKen single cell), ``target`` (None when no digits were read),
    ``confidence`` 0..1, per-glyph ``probs``."""

    text: str
    op: str | None
    target: int | None
    confidence: float
    probs: tuple[float, ...] = ()


@dataclass(frozen=True)
class Glyph:
    """One segmented character: its normalised image and box in cell pixels (x, y, w, h)."""

    image: np.ndarray
    box: tuple[int, int, int, int]


# ---- segmentation ---------------------------------------------------------------

def clue_region(ink: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The ink of a cell's top-left clue corner; (x0, y0)-(x1, y1) is the cell box in px.

    The region reaches further down (``REGION_H``) than a clue may start
    (``CLUE_BOX``), so a given digit below the clue is seen whole and recognised
    by its size."""
    w, h = x1 - x0, y1 - y0
    xa, ya = int(round(x0)), int(round(y0))
    xb, yb = int(round(x0 + CLUE_BOX[0] * w)), int(round(y0 + REGION_H * h))
    return ink[max(ya, 0):yb, max(xa, 0):xb]


def segment_clue(region: np.ndarray, cell_px: float, ops: bool = True) -> list[Glyph]:
    """Glyphs of the clue in a corner region of ink (0..1), left to right.

    1. Threshold at ``THRESHOLD`` of the clue's own ink level; remove straight
       strokes longer than a third of a cell (grid lines, thick borders).
    2. Drop components that are clutter: specks, a given digit (taller than 42 %
       of a cell), slivers of line along the region sides; with ``ops=False``
       (killer sums) also one-pixel-thin outline dashes and anything much shorter
       than the digits.
    3. The clue line is the band of the tallest component starting near the top.
    4. Components overlapping in x are one glyph (``÷``); glyphs are chained left
       and right from the anchor while gaps stay under 0.8 line heights; a single
       component wider than one character is split (:func:`split_touching`).
    """
    if region.size == 0:
        return []
    threshold = float(np.clip(THRESHOLD * text_level(region, cell_px), 0.12, 0.4))
    mask = remove_lines((region > threshold).astype(np.uint8), cell_px)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    comps = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if y < CLUE_BOX[1] * cell_px and not _is_clutter(x, y, w, h, area, cell_px, mask.shape[1]):
            comps.append((x, y, w, h, i))
    if not ops:
        # Killer sums are digits only: drop outline dashes that are one pixel thin.
        line_px = max(1.0, 0.03 * cell_px)
        comps = [k for k in comps
                 if not (min(k[2], k[3]) <= line_px and max(k[2], k[3]) >= 3 * min(k[2], k[3]))]
    starts = [k for k in comps if k[1] < 0.35 * cell_px]
    if not starts:
        return []
    # The anchor is a character-shaped component (not a sliver of outline), the
    # top-most one: the clue is printed in the corner, above anything else.
    shaped = [k for k in starts if k[3] >= 0.08 * cell_px and k[2] >= 0.25 * k[3]] or starts
    top = min(k[1] for k in shaped)
    anchor = max((k for k in shaped if k[1] <= top + 0.05 * cell_px), key=lambda k: (k[3], -k[0]))
    line_top, line_h = anchor[1], max(1, anchor[3])
    band = [k for k in comps if k[1] < line_top + line_h and k[1] + k[3] > line_top
            # a short piece starting well above the line is outline, not text
            and not (k[1] < line_top - 0.2 * line_h and k[3] < 0.7 * line_h)]
    if not ops:
        band = [k for k in band if k[3] >= 0.45 * line_h]  # outline dashes are short
    groups = _chain(_merge_overlapping(band), anchor[4], 0.8 * line_h)
    glyphs = []
    for (x, y, w, h, ids) in groups:
        sub = np.where(np.isin(labels[y:y + h, x:x + w], ids), region[y:y + h, x:x + w], 0.0)
        # Only a single tall component can be touching characters ('÷' and '-' are not).
        pieces = split_touching(sub, line_h) if len(ids) == 1 and h >= 0.6 * line_h else [(0, sub)]
        for dx, piece in pieces:
            glyphs.append(Glyph(image=normalise_glyph(_trim(piece), y - line_top, line_h),
                                box=(x + dx, y, piece.shape[1], h)))
    return glyphs[:MAX_GLYPHS + 1]


def _merge_overlapping(comps):
    """Components (x, y, w, h, id) grouped into glyphs: those overlapping in x by more
    than half the narrower one are one glyph (the parts of '÷', a stroke broken
    across its width). Returns (x, y, w, h, [ids]) sorted by x."""
    comps = sorted(comps, key=lambda k: k[0])
    out: list[list] = []
    for x, y, w, h, i in comps:
        if out:
            gx, gy, gw, gh, ids = out[-1]
            overlap = min(gx + gw, x + w) - max(gx, x)
            if overlap > 0.5 * min(w, gw):
                nx, ny = min(gx, x), min(gy, y)
                out[-1] = [nx, ny, max(gx + gw, x + w) - nx, max(gy + gh, y + h) - ny, ids + [i]]
                continue
        out.append([x, y, w, h, [i]])
    return [tuple(g) for g in out]


def _chain(glyphs, anchor_id: int, max_gap: float):
    """The run of glyphs (sorted by x) containing the anchor, split at wide gaps."""
    at = next(i for i, g in enumerate(glyphs) if anchor_id in g[4])
    lo = hi = at
    while lo > 0 and glyphs[lo][0] - (glyphs[lo - 1][0] + glyphs[lo - 1][2]) < max_gap:
        lo -= 1
    while hi + 1 < len(glyphs) and glyphs[hi + 1][0] - (glyphs[hi][0] + glyphs[hi][2]) < max_gap:
        hi += 1
    return glyphs[lo:hi + 1][:MAX_GLYPHS + 1]


def split_touching(ink: np.ndarray, line_h: int) -> list[tuple[int, np.ndarray]]:
    """Split a component wider than one character (touching glyphs, bold fonts, blur)
    at the weakest columns near where character boundaries are expected.

    No single-component clue character as tall as a digit is wider than 1.15 line
    heights (the caller skips flat ``-`` and multi-part ``÷``); a wider component of
    width w is cut into ``max(2, round(w / (0.75 * line_h)))`` pieces (a digit and
    its spacing are about 0.6-0.8 line heights wide). Returns (x offset, piece) pairs."""
    w = ink.shape[1]
    if w <= 1.15 * line_h:
        return [(0, ink)]
    k = max(2, int(round(w / (0.75 * line_h))))
    profile = ink.sum(axis=0)
    cuts, step = [], w / k
    for j in range(1, k):
        lo, hi = int(j * step - 0.3 * step), int(j * step + 0.3 * step) + 1
        cuts.append(lo + int(np.argmin(profile[lo:hi])))
    edges = [0] + cuts + [w]
    return [(a, ink[:, a:b]) for a, b in zip(edges, edges[1:]) if b - a > 1]


def _trim(ink: np.ndarray) -> np.ndarray:
    """Drop empty columns at either side of a split piece."""
    cols = np.nonzero(ink.max(axis=0) > 0)[0]
    return ink[:, cols[0]:cols[-1] + 1] if len(cols) else ink


def text_level(region: np.ndarray, cell_px: float) -> float:
    """The ink level of the text in a clue region: the max of a 3x3 mean (robust to
    single noisy pixels) away from grid lines, which are darker than thin print."""
    weak = (region > 0.15).astype(np.uint8)
    lines = weak & ~remove_lines(weak, cell_px)
    near = cv2.dilate(lines, np.ones((5, 5), np.uint8)).astype(bool)
    margin = max(2, int(0.05 * cell_px))
    near[:margin, :] = True
    near[:, :margin] = True
    smooth = cv2.blur(region, (3, 3))
    return float(smooth[~near].max()) if (~near).any() else 0.0


def remove_lines(mask: np.ndarray, cell_px: float) -> np.ndarray:
    """The mask without straight strokes longer than a third of a cell (grid lines,
    thick cage borders), so a clue printed against a thick border stays separate.
    Clue characters are far shorter than that."""
    length = max(5, int(round(cell_px / 3)))
    vert = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((length, 1), np.uint8))
    horiz = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    return mask & ~(vert | horiz)


def _is_clutter(x, y, w, h, area, cell_px, region_w: int) -> bool:
    tiny = max(2.0, 0.025 * cell_px)
    if w < tiny and h < tiny and area < 0.5 * tiny * tiny:
        return True                       # specks
    if h > 0.42 * cell_px or w > 0.9 * cell_px:
        return True                       # a given digit, or a line along the cell side
    thin = min(w, h) <= max(2, 0.04 * cell_px) and max(w, h) >= 3 * min(w, h)
    near = 0.1 * cell_px
    # A sliver of grid line or cage border along a region side.
    return thin and (x <= near or y <= near or x + w >= region_w - near)


def normalise_glyph(ink: np.ndarray, top: int, line_h: int) -> np.ndarray:
    """A glyph's ink on a GLYPH x GLYPH float32 canvas, scaled so the clue's line
    height is LINE_PX, centred horizontally, placed vertically where it sits in the line."""
    s = LINE_PX / float(line_h)
    h, w = ink.shape
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    if max(nw, nh) > GLYPH - 2:  # very wide or tall glyph (touching characters): fit it
        f = (GLYPH - 2) / max(nw, nh)
        nh, nw = max(1, int(round(nh * f))), max(1, int(round(nw * f)))
    small = cv2.resize(ink.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((GLYPH, GLYPH), np.float32)
    oy = (GLYPH - LINE_PX) // 2 + int(round(top * s))
    ox = (GLYPH - nw) // 2
    oy = min(max(oy, 0), GLYPH - nh)
    canvas[oy:oy + nh, ox:ox + nw] = small[:GLYPH - oy, :GLYPH - ox]
    return canvas


# ---- classification ---------------------------------------------------------------

def classify_glyphs(images: list[np.ndarray], weights: Path | None = None) -> np.ndarray:
    """Class probabilities (len(images), len(CLASSES)) for normalised glyph images (0..1).

    Runs the shipped ONNX network through the shared
    :func:`vlm_puzzle.vision.classifier.load_classifier` runner (one batch)."""
    from vlm_puzzle.vision.classifier import load_classifier
    if not images:
        return np.zeros((0, len(CLASSES)), np.float32)
    weights = WEIGHTS if weights is None else weights
    clf = load_classifier(weights)
    if tuple(clf.labels) != CLASSES:
        from vlm_puzzle.errors import ModelError
        raise ModelError(f"{Path(weights).name} classes {clf.labels} do not match {CLASSES}",
                         code="weights_invalid")
    patches = np.clip(np.rint(np.stack(images) * 255.0), 0, 255).astype(np.uint8)
    return clf.predict(patches)


def parse_clue(chars: list[str], probs: list[float]) -> Clue:
    """Characters (left to right) and their probabilities -> a :class:`Clue`.

    Digits form the target; one operator may stand after (``12+``) or before
    (``+12``) them. Anything else (two operators, an operator in the middle, more
    than 4 digits) gives a clue with confidence scaled down to at most 0.2.
    """
    text = "".join(chars)
    conf = float(np.prod(probs)) if probs else 0.0
    ops = [i for i, ch in enumerate(chars) if ch in OP_OF]
    digits = "".join(ch for ch in chars if ch.isdigit())
    op = OP_OF[chars[ops[0]]] if ops else None
    well_formed = (bool(digits) and len(digits) <= 4 and len(ops) <= 1
                   and (not ops or ops[0] in (0, len(chars) - 1)) and digits[0] != "0")
    if not well_formed:
        conf = min(conf, 0.2) * 0.5
    target = int(digits) if digits else None
    if target == 0:
        target = None
    return Clue(text=text, op=op, target=target, confidence=conf, probs=tuple(float(p) for p in probs))


def read_clues(ink: np.ndarray, cells: list[tuple[float, float, float, float]], cell_px: float,
               ops: bool = True, weights: Path | None = None) -> list[Clue]:
    """Read the clue in each given cell box ``(x0, y0, x1, y1)`` (px of ``ink``), batched.

    ``ops=False`` reads bare numbers (killer sums): operators are not segmented and
    the classifier's choice is restricted to digits."""
    per_cell = [segment_clue(clue_region(ink, *box), cell_px, ops) for box in cells]
    flat = [g.image for glyphs in per_cell for g in glyphs]
    probs = classify_glyphs(flat, weights)
    if not ops:
        probs = probs.copy()
        probs[:, 10:] = 0.0
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-9)
    out, k = [], 0
    for glyphs in per_cell:
        p = probs[k:k + len(glyphs)]
        k += len(glyphs)
        if not glyphs:
            out.append(Clue(text="", op=None, target=None, confidence=0.0))
            continue
        idx = p.argmax(axis=1)
        out.append(parse_clue([CLASSES[i] for i in idx], [float(p[j, i]) for j, i in enumerate(idx)]))
    return out
