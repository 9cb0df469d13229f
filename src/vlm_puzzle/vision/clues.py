"""Cage clue text: the small ``12+``, ``3-``, ``60×``, ``2÷`` or killer sum in a cage's top-left cell.

A sequence reader, no character segmentation:

1. :func:`clue_strip` - the top strip of a cell (where a clue is printed) cut
   from the ink map and resized to ``STRIP_H`` x ``STRIP_W``. Grid lines, cage
   outline dashes and the top of a given digit are in it; the network learnt to
   ignore them (it was trained on strips cut the same way from rendered and
   photographed puzzles located by the real grid finder).
2. :func:`read_clues` - one batched pass of a small fully convolutional network
   (shipped ONNX weights ``vision/weights/clues_ctc*.onnx``, trained with CTC by
   ``training/train_clues.py``, run by ``vision.nets``) that collapses the
   strip's height and scores every column; a greedy CTC decode gives the text,
   :func:`parse_clue` turns it into ``(op, target)`` with a confidence (the
   product of the per-character peak probabilities).

A strip with no clue (blank cell, a cell that only holds a given digit, a
non-first cell of a cage) decodes to the empty text.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vlm_puzzle.vision.nets import Net, load_net

# Output classes of the network: CTC blank first. "x" stands for every
# multiplication sign (×, x, *), "/" for every division sign (÷, /).
CLASSES = ("", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "-", "x", "/")
OP_OF = {"+": "add", "-": "sub", "\u2212": "sub", "x": "mul", "×": "mul", "*": "mul",
         "/": "div", "÷": "div"}
DIGIT_CLASSES = slice(1, 11)
# The strip cut from a cell, as fractions of the cell box (x0, x1), (y0, y1):
# clues are printed at 0.05-0.35 of the cell from its top-left corner; the
# little margin outside the box keeps a clue whole when the lattice is a pixel off.
STRIP_X = (-0.02, 0.94)
STRIP_Y = (-0.02, 0.40)
STRIP_H, STRIP_W = 24, 56   # about 1:1 for a 9x9 grid warped to 576 px
WEIGHTS = Path(__file__).with_name("weights") / "clues_ctc3.onnx"
# A second reader trained with handwritten clues (training/gpu_train_hand.sh): a grid's clues are
# read by whichever network is surer of them (see read_clues).
HAND_WEIGHTS = WEIGHTS.with_name("clues_hand.onnx")
# A character the reader gave less than this where it read another is no alternative.
ALTERNATIVE_MIN = 1e-3


@dataclass(frozen=True)
class Clue:
    """A read clue: ``text`` as characters, ``op`` (None for a bare number: killer sum
    or a KenKen single cell), ``target`` (None when no digits were read),
    ``confidence`` 0..1, per-character ``probs``; per character, ``alternatives``:
    the other characters of its kind (digit for a digit, operator for an operator)
    and ``""`` (no character) that the reader gave at least ``ALTERNATIVE_MIN``
    where it read it, as ``(char, probability)``, likeliest first. ``extent``: where
    the text was found, (left, top, right, bottom) as fractions of the cell
    (:func:`text_box`; None: not found). ``readings``: where known (handwritten clues,
    :func:`~vlm_puzzle.vision.clue_chars.by_chars`), whole-clue texts the reader thinks
    likely, ``text`` among them, of this length or one character more or less, as
    ``(text, probability)``, likeliest first (summing to about 1); () where not known."""

    text: str
    op: str | None
    target: int | None
    confidence: float
    probs: tuple[float, ...] = ()
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()
    extent: tuple[float, float, float, float] | None = None
    readings: tuple[tuple[str, float], ...] = ()


# ---- the strip ------------------------------------------------------------------------------

def clue_strip(ink: np.ndarray, box: tuple[float, float, float, float],
               clip: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """The clue strip of the cell ``box`` = (x0, y0, x1, y1) px of ``ink`` (float 0..1),
    as a (STRIP_H, STRIP_W) float32 image; outside the image counts as no ink, and so
    does ink outside ``clip`` = (x0, y0, x1, y1) px (see :func:`strip_box`)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    xa, xb = x0 + STRIP_X[0] * w, x0 + STRIP_X[1] * w
    ya, yb = y0 + STRIP_Y[0] * h, y0 + STRIP_Y[1] * h
    ia, ib = int(np.floor(xa)), int(np.ceil(xb))
    ja, jb = int(np.floor(ya)), int(np.ceil(yb))
    if ib - ia < 2 or jb - ja < 2:
        return np.zeros((STRIP_H, STRIP_W), np.float32)
    H, W = ink.shape[:2]
    crop = np.zeros((jb - ja, ib - ia), np.float32)
    sa, sb, ta, tb = max(ia, 0), min(ib, W), max(ja, 0), min(jb, H)
    if clip is not None:
        sa, sb = max(sa, int(np.floor(clip[0]))), min(sb, int(np.ceil(clip[2])))
        ta, tb = max(ta, int(np.floor(clip[1]))), min(tb, int(np.ceil(clip[3])))
    if sb > sa and tb > ta:
        crop[ta - ja:tb - ja, sa - ia:sb - ia] = ink[ta:tb, sa:sb]
    shrink = crop.shape[0] > STRIP_H
    return cv2.resize(crop, (STRIP_W, STRIP_H),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


# ---- where the clue text is ------------------------------------------------------------------

# The clue strip fits text of TEXT_H of the cell (the renders the reader learnt from:
# 0.17-0.19) standing TEXT_TOP below the strip's top; a clue taller than FIT_H or
# reaching lower than FIT_BOTTOM (fractions of the cell) would be cut, and is cut
# from a box scaled to put it there instead. (Smaller clues read as they are.)
TEXT_H = 0.18
TEXT_LEFT, TEXT_TOP = 0.1, 0.09
CLIP_PAD = 0.05   # ink kept left of the text (cell): not an outline's dashes beside it
FIT_H, FIT_BOTTOM = 0.26, 0.36
# Text taller than FIT_TALL (cell) but not cut is read both as it stands and cut to TEXT_H
# (large clues of computer-drawn KenKens read a 6 as a 0, sure, as they stand); the cut one
# counts when read at FIT_SURE or surer than the other (a blurred photo's clue may read worse).
FIT_TALL, FIT_SURE = 0.19, 0.8
# Search window for the text, fractions of the cell; lines in it: see _solid, _dashed.
FIND_X, FIND_Y = (0.0, 0.97), (0.0, 0.72)
LINE_RUN, LINE_COVER, LINE_SPAN, LINE_THICK, DASH_COVER = 0.85, 0.4, 0.75, 0.08, 0.25
# A clue starts within this (x, y) of the cell's top-left corner; a given digit does not.
TEXT_START = (0.27, 0.26)
# Ink level of a text pixel; least and most height of a character and widest gap
# between two (fractions of the cell).
TEXT_INK = 0.4
MIN_TEXT_H, MAX_TEXT_H, CHAR_GAP = 0.06, 0.5, 0.15


def text_box(ink: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
    """(left, top, right, bottom) of the first line of text in the cell ``box``, as
    fractions of the cell from its top-left corner, or None when the corner holds no
    clue-like text. Lines (rows
    or columns whose ink covers much of the search window) are left out first: grid
    lines, cage borders and dashed outlines run the whole window, text does not."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    window = text_window(ink, box)
    if window is None:
        return None
    ia, ja, on = window
    # The clue: the tallest piece of ink starting near the corner, and every piece
    # level with it (the other characters, an operator's dots); the dashes of an
    # outline running on below it, and a given digit under it, are not.
    count, _, stats, _ = cv2.connectedComponentsWithStats(on.view(np.uint8), connectivity=8)
    left, top, width, height, area = (stats[1:, k].astype(float) for k in range(5))
    # A straight bar (a piece of a blurred outline) does not start a clue; a 1 has a flag or foot.
    bar = ((height > 4 * width) | (width > 4 * height)) & (area > 0.5 * width * height)
    placed = ((ja - y0 + top) / h <= TEXT_START[1]) & ((ia - x0 + left) / w <= TEXT_START[0]) \
        & (height >= max(3, MIN_TEXT_H * h)) & (height <= MAX_TEXT_H * h)
    start = placed & ~bar
    if count > 1 and not start.any():
        # A plain sans 1 is a bar too: it starts a clue when a character stands level with it.
        start = placed & np.array([_level_char(k, top, left, width, height, ~bar, CHAR_GAP * w)
                                   for k in range(count - 1)], bool)
    if count <= 1 or not start.any():
        return None
    seed = int(np.argmax(np.where(start, height, -1)))
    a, b, l, r = top[seed], top[seed] + height[seed], left[seed], left[seed] + width[seed]
    members = {seed}
    grew = True
    while grew:
        grew = False
        for k in range(count - 1):
            if k in members or height[k] > MAX_TEXT_H * h:   # no character: an outline's blurred corner
                continue
            overlap = min(b, top[k] + height[k]) - max(a, top[k])
            near = max(l - (left[k] + width[k]), left[k] - r) <= CHAR_GAP * w
            if near and overlap >= 0.5 * min(height[k], b - a):
                members.add(k)
                a, b = min(a, top[k]), max(b, top[k] + height[k])
                l, r = min(l, left[k]), max(r, left[k] + width[k])
                grew = True
    return (ia - x0 + l) / w, (ja - y0 + a) / h, (ia - x0 + r) / w, (ja - y0 + b) / h


def _level_char(k: int, top, left, width, height, char, gap: float) -> bool:
    """Whether a piece of ink other than ``k`` and with ``char`` set stands level with
    piece ``k`` (overlapping half the shorter's height) within ``gap`` px beside it."""
    for j in np.nonzero(char)[0]:
        overlap = min(top[k] + height[k], top[j] + height[j]) - max(top[k], top[j])
        near = max(left[k] - (left[j] + width[j]), left[j] - (left[k] + width[k])) <= gap
        if j != k and near and overlap >= 0.5 * min(height[k], height[j]):
            return True
    return False


def text_window(ink: np.ndarray, box: tuple[float, float, float, float]):
    """(left, top, ink without lines) of the search window for the text of the cell ``box``
    (FIND_X, FIND_Y), px of ``ink``: the boolean ink (over TEXT_INK) with solid lines and
    dashed outlines taken out; None when the window is too small or nearly blank."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    H, W = ink.shape[:2]
    ia, ib = max(int(x0 + FIND_X[0] * w), 0), min(int(np.ceil(x0 + FIND_X[1] * w)), W)
    ja, jb = max(int(y0 + FIND_Y[0] * h), 0), min(int(np.ceil(y0 + FIND_Y[1] * h)), H)
    if ib - ia < 4 or jb - ja < 4:
        return None
    on = ink[ja:jb, ia:ib] >= TEXT_INK
    solid_r, solid_c = _solid(on), _solid(on.T)
    on[solid_r] = False
    on[:, solid_c] = False
    if on.sum() < max(3, MIN_TEXT_H * h):
        return None
    # A blurred dash wanders a pixel sideways: dashes are found on the ink widened by one.
    on[:, _dashed(_flank(on, 1).T, LINE_THICK * w)] = False
    on[_dashed(_flank(on, 0), LINE_THICK * h)] = False
    return ia, ja, on


def _flank(line: np.ndarray, axis: int = 0) -> np.ndarray:
    """``line`` one more each side along ``axis``: a line's blurred flank is ink too."""
    out = line.copy()
    if axis == 0:
        out[1:] |= line[:-1]
        out[:-1] |= line[1:]
    else:
        out[:, 1:] |= line[:, :-1]
        out[:, :-1] |= line[:, 1:]
    return out


def _runs(on: np.ndarray) -> np.ndarray:
    """Number of runs of ink per row of the boolean ``on``."""
    if on.shape[1] == 0:
        return np.zeros(len(on), np.int64)
    return on[:, 0] + np.count_nonzero(on[:, 1:] & ~on[:, :-1], axis=1)


def _solid(on: np.ndarray) -> np.ndarray:
    """Rows of the boolean ink window ``on`` that are solid lines: a run over
    LINE_RUN of the window (no character is that long)."""
    n, w = on.shape
    run = int(np.ceil(LINE_RUN * w))
    if run == 0 or run > w:
        return _flank(np.full(n, run == 0))
    # A run of ``run`` or more: some ``run`` consecutive pixels all ink (sums of a running window).
    total = np.zeros((n, w + 1), np.int32)
    np.cumsum(on, axis=1, out=total[:, 1:])
    return _flank((total[:, run:] - total[:, :-run]).max(axis=1) >= run)


def _dashed(on: np.ndarray, thick: float) -> np.ndarray:
    """Rows of the boolean ink window ``on`` (solid lines removed) that are dashed
    outlines: a band at most ``thick`` px high, with little ink right above and right
    below it, of rows whose ink covers LINE_COVER of the window end to end
    (LINE_SPAN), or DASH_COVER in four or more runs over half of it (an outline
    broken off where a sum is printed). A clue's rows have more text above or below."""
    n, w = on.shape
    if w == 0:
        return np.zeros(n, bool)
    cover = on.mean(axis=1)
    line = np.zeros(n, bool)
    rows = np.flatnonzero(cover >= DASH_COVER)   # LINE_COVER and DASH_COVER both need this much
    if len(rows) == 0:
        return line
    sub = on[rows]
    span = (w - sub[:, ::-1].argmax(axis=1)) - sub.argmax(axis=1)
    c = cover[rows]
    ok = ((c >= LINE_COVER) & (span >= LINE_SPAN * w)) | ((_runs(sub) >= 4) & (span >= 0.5 * w))
    spread = np.zeros(n, bool)
    spread[rows[ok]] = True
    side = max(2, int(round(0.5 * thick)))
    # Each band [r, e] of consecutive spread rows.
    bounds = np.flatnonzero(np.diff(np.concatenate(([False], spread, [False])).view(np.int8)))
    for r, e in zip(bounds[::2], bounds[1::2] - 1):
        level = 0.5 * cover[r:e + 1].mean()
        above, below = cover[max(0, r - 1 - side):max(0, r - 1)], cover[e + 2:e + 2 + side]
        if e - r + 1 <= thick and all(len(a) == 0 or a.mean() < level for a in (above, below)):
            line[r:e + 1] = True
    return _flank(line)


def strip_box(box: tuple[float, float, float, float], found: tuple[float, float, float, float] | None,
              fit: bool = False):
    """(box to cut the clue strip from, the region of ink kept or None) for the cell
    ``box``: the cell itself when its text (``found`` by :func:`text_box`) sits
    where the reader learnt to find it; else a box scaled and placed so that the text
    stands TEXT_H high at (TEXT_LEFT, TEXT_TOP) (large, small or low clues), and only
    the ink of the cell from just left of the text kept (not an outline's dashes
    beside it, nor the neighbouring cells' ink). ``fit``: scale and place the text so
    wherever it stands."""
    if found is None:
        return box, None
    left, top, _, bottom = found
    if not fit and bottom <= FIT_BOTTOM and bottom - top <= FIT_H:
        return box, None
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    side = (bottom - top) * h / TEXT_H
    nx0 = x0 + left * w - (TEXT_LEFT - STRIP_X[0]) * side
    ny0 = y0 + top * h - (TEXT_TOP - STRIP_Y[0]) * side
    keep = (x0 + (left - CLIP_PAD) * w, y0 + STRIP_Y[0] * h, x0 + 0.96 * w, y1 - 0.04 * h)
    return (nx0, ny0, nx0 + side * w / h, ny0 + side), keep


# ---- the network ----------------------------------------------------------------------------

@dataclass
class _Reader:
    net: Net
    card: dict


def _load(path: str) -> _Reader:
    from vlm_puzzle.errors import ModelError
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"clue reader weights not found: {p}", code="weights_missing")
    card = json.loads(p.with_suffix(".json").read_text()) if p.with_suffix(".json").is_file() else {}
    if tuple(card.get("classes", ())) != CLASSES or tuple(card.get("input_hw", ())) != (STRIP_H, STRIP_W):
        raise ModelError(f"{p.name}: card does not match classes {CLASSES} / input "
                         f"{STRIP_H}x{STRIP_W}", code="weights_invalid")
    return _Reader(load_net(p, "clue reader"), card)


class ClueReader:
    """The clue network at ``weights`` (default: the shipped one), loaded on first use
    (only cages need it) and kept: its owner (:class:`~vlm_puzzle.vision.GridReader`)
    loads it once for all the pictures it reads."""

    def __init__(self, weights: str | Path | None = None, second: str | Path | None | bool = None):
        """``second``: a second network whose readings win where it is surer of a grid's clues
        (default: :data:`HAND_WEIGHTS` with the shipped weights, none with others; False: none)."""
        self.weights = Path(WEIGHTS if weights is None else weights)
        if second is None:
            second = HAND_WEIGHTS if weights is None and HAND_WEIGHTS.is_file() else False
        self.second = ClueReader(second, second=False) if second is not False else None
        # Handwritten clues are read again character by character (vision.clue_chars) where the
        # second network won: the default pair's, when its weights are shipped.
        self.chars = None
        if self.second is not None and weights is None:
            from vlm_puzzle.vision.clue_chars import WEIGHTS as CHAR_WEIGHTS, CharReader
            self.chars = CharReader(CHAR_WEIGHTS) if CHAR_WEIGHTS.is_file() else None
        self._loaded: _Reader | None = None

    def column_probs(self, strips: np.ndarray) -> np.ndarray:
        """(M, STRIP_H, STRIP_W) strips -> (M, T, len(CLASSES)) per-column logits (the first network's)."""
        if self._loaded is None:
            self._loaded = _load(str(self.weights))
        reader = self._loaded
        if len(strips) == 0:
            return np.zeros((0, 0, len(CLASSES)), np.float32)
        # As in training: the ink quantised to uint8 steps (how the strips were stored).
        blob = (np.rint(np.clip(strips, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)[:, None]
        out = reader.net(blob)
        return out.reshape(len(strips), len(CLASSES), -1).transpose(0, 2, 1)


def column_probs(strips: np.ndarray, weights: ClueReader | str | Path | None = None) -> np.ndarray:
    """(M, STRIP_H, STRIP_W) strips -> (M, T, len(CLASSES)) per-column logits.
    ``weights``: a :class:`ClueReader`, or the path of its weights (loaded for this
    call; default the shipped ones)."""
    reader = weights if isinstance(weights, ClueReader) else ClueReader(weights)
    return reader.column_probs(strips)


def ctc_decode(logits: np.ndarray, ops: bool = True) -> tuple[str, list[float], list[tuple]]:
    """Greedy CTC decode of one strip's (T, C) logits: the best class per column,
    repeats merged, blanks dropped. Each character's probability is its peak over
    the columns of its run; its alternatives (see :class:`Clue`) are the other
    classes of its kind, and the blank, at their peaks over the same columns. ``ops=False`` (killer
    sums) allows digits only."""
    z = logits.astype(np.float64)
    if not ops:
        z = z.copy()
        z[:, DIGIT_CLASSES.stop:] = -np.inf
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    best = p.argmax(axis=1)
    chars, probs, runs, prev = [], [], [], 0
    for t, k in enumerate(best):
        if k != 0 and k == prev:
            probs[-1] = max(probs[-1], float(p[t, k]))
            runs[-1][1] = t + 1
        elif k != 0:
            chars.append(CLASSES[k])
            probs.append(float(p[t, k]))
            runs.append([t, t + 1, int(k)])
        prev = k
    return "".join(chars), probs, [_alternatives(p[a:b].max(axis=0), k) for a, b, k in runs]


def _alternatives(peak: np.ndarray, k: int) -> tuple[tuple[str, float], ...]:
    """Classes of class ``k``'s kind (digit or operator) other than ``k``, and the
    blank (``""``: no character there), whose ``peak`` probability reaches
    ALTERNATIVE_MIN, likeliest first."""
    kind = range(DIGIT_CLASSES.start, DIGIT_CLASSES.stop) if k < DIGIT_CLASSES.stop \
        else range(DIGIT_CLASSES.stop, len(CLASSES))
    alts = [(CLASSES[j], float(peak[j])) for j in (0, *kind) if j != k and peak[j] >= ALTERNATIVE_MIN]
    return tuple(sorted(alts, key=lambda a: -a[1]))


def parse_clue(chars, probs: list[float], alternatives=()) -> Clue:
    """Characters (left to right) and their probabilities -> a :class:`Clue`.

    Digits form the target; one operator may stand after (``12+``) or before
    (``+12``) them. Anything else (two operators, an operator in the middle, more
    than 4 digits, a leading zero) gives a clue with confidence at most 0.1.
    """
    chars = list(chars)
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
    return Clue(text=text, op=op, target=target, confidence=conf, probs=tuple(float(p) for p in probs),
                alternatives=tuple(alternatives))


NO_CLUE = Clue(text="", op=None, target=None, confidence=0.0)
# Ink level below which a strip pixel off the grid lines counts as paper (see bare_strip).
BARE_INK = 0.2


def bare_strip(strip: np.ndarray) -> bool:
    """Whether a clue strip holds nothing but straight lines: no pixel of BARE_INK
    or more off its solid rows and columns (grid lines, cage borders, a pixel of blur
    beside them)."""
    on = strip >= BARE_INK
    rows, cols = _solid(on), _solid(on.T)
    on[rows] = False
    on[:, cols] = False
    return not on.any()


def read_clues(ink: np.ndarray, cells: list[tuple[float, float, float, float]], cell_px: float,
               ops: bool = True, weights: ClueReader | Path | None = None, both: bool = False):
    """Read the clue in each given cell box ``(x0, y0, x1, y1)`` (px of ``ink``), batched.

    ``ink``: the ink map (float 0..1, ``vision.ink.ink_map``). ``ops=False``
    reads bare numbers (killer sums): the decode allows digits only. ``weights``:
    see :func:`column_probs`. ``cell_px`` is kept for the interface; the strip is
    scaled from each cell's own box. ``both``: return (with operators, digits only)
    from the one network pass."""
    if not cells:
        return ([], []) if both else []
    found = [text_box(ink, box) for box in cells]
    boxes = [strip_box(box, f) for box, f in zip(cells, found)]
    tall = [i for i, f in enumerate(found) if f is not None and boxes[i][1] is None and f[3] - f[1] > FIT_TALL]
    boxes += [strip_box(cells[i], found[i], fit=True) for i in tall]
    strips = np.stack([clue_strip(ink, *b) for b in boxes])
    extents = found + [found[i] for i in tall]
    # Only strips with text, or ink besides the grid lines, are read: the rest (most cells
    # of a KenKen) read as no clue without the networks.
    asked = [i for i, f in enumerate(extents) if f is not None or not bare_strip(strips[i])]
    reader = weights if isinstance(weights, ClueReader) else ClueReader(weights)
    logits = [reader.column_probs(strips[asked])]
    if reader.second is not None:
        logits.append(reader.second.column_probs(strips[asked]))
    # A strip whose every column reads the CTC blank first decodes to no text (both ways).
    blank = [(z[..., 0] >= z[..., 1:].max(axis=-1)).all(axis=-1) for z in logits]

    def one(z, f, with_ops: bool) -> Clue:
        text, probs, alts = ctc_decode(z, with_ops)
        clue = parse_clue(text, probs, alts) if text else NO_CLUE
        return replace(clue, extent=f) if text else clue

    def cut_tall(out: list[Clue]) -> list[Clue]:
        for k, i in enumerate(tall):   # a tall clue: cut to the height learnt, unless that reads worse
            fitted = out[len(cells) + k]
            if fitted.confidence >= FIT_SURE or fitted.confidence > out[i].confidence:
                out[i] = fitted
        return out[:len(cells)]

    def decode(with_ops: bool) -> list[Clue]:
        # One network for the whole grid: the one surer of its readings in all (the first on a
        # tie). A grid is written all in print or all by hand, and each network is sure on its
        # own kind of clue; their mean would doubt both. Bare numbers (killer sums) keep the
        # first network's: the second made stray sums there. The choice weighs the clues as
        # they stand, before any is cut to the height learnt: the print network reads
        # handwriting (taller than print) cut so surely but wrongly (a 1 as a 7).
        reads = []
        for z, empty in zip(logits, blank) if with_ops else [(logits[0], blank[0])]:
            read = [NO_CLUE] * len(extents)
            for k, i in enumerate(asked):
                if not empty[k]:
                    read[i] = one(z[k], extents[i], with_ops)
            reads.append(read)
        best = max(range(len(reads)), key=lambda j: sum(k.confidence for k in reads[j][:len(cells)]))
        if reader.chars is None or len(reads) < 2:
            return cut_tall(reads[best])
        # Each network is sure of its own kind of clue, the print one of handwriting too (a 1 read
        # as a 7): the character reader (trained on handwriting) says which kind the grid is,
        # agreeing with the hand network on handwriting and the print one on print.
        from vlm_puzzle.vision.clue_chars import by_chars, by_hand, read_grid
        votes, chars = read_grid(reader.chars, ink, cells, [r[:len(cells)] for r in reads])
        if votes[0] != votes[1]:
            best = int(np.argmax(votes))
        out = cut_tall(reads[best])
        # Read again by the character reader only where it found the grid handwritten (on print
        # both networks read alike, a tie, and the print reading stands as read); pooled with the
        # hand network's reading where the two networks differ as on handwriting (by_hand).
        if votes[1] <= votes[0]:
            return out
        return by_chars(reader.chars, ink, cells, out, chars, pool=by_hand(reads[0][:len(cells)], reads[1][:len(cells)]))
    return (decode(True), decode(False)) if both else decode(ops)


def blank_clue(patch: np.ndarray, extent: tuple[float, float, float, float], inset: float) -> np.ndarray:
    """A cell's digit patch (the cell inset by ``inset`` on each side) with the clue
    text at ``extent`` (see :class:`Clue`) blanked, one pixel more around: a large
    clue in the corner would read as a given digit."""
    p = patch.shape[0]
    span = 1.0 - 2 * inset

    def px(f: float) -> int:
        return int(np.clip(np.floor((f - inset) / span * p), 0, p))
    left, top, right, bottom = extent
    out = patch.copy()
    out[max(px(top) - 1, 0):px(bottom) + 2, max(px(left) - 1, 0):px(right) + 2] = 0
    return out
