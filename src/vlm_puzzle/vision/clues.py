"""Cage clue text: the small ``12+``, ``3-``, ``60×``, ``2÷`` or killer sum in a cage's top-left cell.

A sequence reader, no character segmentation:

1. :func:`clue_strip` - the top strip of a cell (where a clue is printed) cut
   from the ink map and resized to ``STRIP_H`` x ``STRIP_W``. Grid lines, cage
   outline dashes and the top of a given digit are in it; the network learnt to
   ignore them (it was trained on strips cut the same way from rendered and
   photographed puzzles located by the real grid finder).
2. :func:`read_clues` - one batched pass of a small fully convolutional network
   (shipped ONNX weights ``vision/weights/clues_ctc*.onnx``, trained with CTC by
   ``training/train_clues.py``, run through ``cv2.dnn``) that collapses the
   strip's height and scores every column; a greedy CTC decode gives the text,
   :func:`parse_clue` turns it into ``(op, target)`` with a confidence (the
   product of the per-character peak probabilities).

A strip with no clue (blank cell, a cell that only holds a given digit, a
non-first cell of a cage) decodes to the empty text.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

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
# A character the reader gave less than this where it read another is no alternative.
ALTERNATIVE_MIN = 1e-3


@dataclass(frozen=True)
class Clue:
    """A read clue: ``text`` as characters, ``op`` (None for a bare number: killer sum
    or a KenKen single cell), ``target`` (None when no digits were read),
    ``confidence`` 0..1, per-character ``probs``; per character, ``alternatives``:
    the other characters of its kind (digit for a digit, operator for an operator)
    and ``""`` (no character) that the reader gave at least ``ALTERNATIVE_MIN``
    where it read it, as ``(char, probability)``, likeliest first."""

    text: str
    op: str | None
    target: int | None
    confidence: float
    probs: tuple[float, ...] = ()
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()


# ---- the strip ------------------------------------------------------------------------------

def clue_strip(ink: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The clue strip of the cell ``box`` = (x0, y0, x1, y1) px of ``ink`` (float 0..1),
    as a (STRIP_H, STRIP_W) float32 image; outside the image counts as no ink."""
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
    if sb > sa and tb > ta:
        crop[ta - ja:tb - ja, sa - ia:sb - ia] = ink[ta:tb, sa:sb]
    shrink = crop.shape[0] > STRIP_H
    return cv2.resize(crop, (STRIP_W, STRIP_H),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


# ---- the network ----------------------------------------------------------------------------

@dataclass
class _Reader:
    net: cv2.dnn.Net
    card: dict
    lock: threading.Lock


def _load(path: str) -> _Reader:
    from vlm_puzzle.errors import ModelError
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"clue reader weights not found: {p}", code="weights_missing")
    card = json.loads(p.with_suffix(".json").read_text()) if p.with_suffix(".json").is_file() else {}
    if tuple(card.get("classes", ())) != CLASSES or tuple(card.get("input_hw", ())) != (STRIP_H, STRIP_W):
        raise ModelError(f"{p.name}: card does not match classes {CLASSES} / input "
                         f"{STRIP_H}x{STRIP_W}", code="weights_invalid")
    try:
        net = cv2.dnn.readNetFromONNX(str(p))
    except cv2.error as exc:
        raise ModelError(f"cannot load clue reader {p.name}: {exc}", code="weights_invalid") from None
    return _Reader(net, card, threading.Lock())


class ClueReader:
    """The clue network at ``weights`` (default: the shipped one), loaded on first use
    (only cages need it) and kept: its owner (:class:`~vlm_puzzle.vision.GridReader`)
    loads it once for all the pictures it reads."""

    def __init__(self, weights: str | Path | None = None):
        self.weights = Path(WEIGHTS if weights is None else weights)
        self._loaded: _Reader | None = None

    def column_probs(self, strips: np.ndarray) -> np.ndarray:
        """(M, STRIP_H, STRIP_W) strips -> (M, T, len(CLASSES)) per-column logits."""
        if self._loaded is None:
            self._loaded = _load(str(self.weights))
        reader = self._loaded
        if len(strips) == 0:
            return np.zeros((0, 0, len(CLASSES)), np.float32)
        # As in training: the ink quantised to uint8 steps (how the strips were stored).
        blob = (np.rint(np.clip(strips, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)[:, None]
        with reader.lock:  # cv2.dnn.Net is not thread-safe
            reader.net.setInput(blob)
            out = reader.net.forward()
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


def read_clues(ink: np.ndarray, cells: list[tuple[float, float, float, float]], cell_px: float,
               ops: bool = True, weights: ClueReader | Path | None = None) -> list[Clue]:
    """Read the clue in each given cell box ``(x0, y0, x1, y1)`` (px of ``ink``), batched.

    ``ink``: the ink map (float 0..1, ``vision.ink.ink_map``). ``ops=False``
    reads bare numbers (killer sums): the decode allows digits only. ``weights``:
    see :func:`column_probs`. ``cell_px`` is kept for the interface; the strip is
    scaled from each cell's own box."""
    if not cells:
        return []
    strips = np.stack([clue_strip(ink, box) for box in cells])
    logits = column_probs(strips, weights)
    out = []
    for z in logits:
        text, probs, alts = ctc_decode(z, ops)
        out.append(parse_clue(text, probs, alts) if text else Clue(text="", op=None, target=None, confidence=0.0))
    return out
