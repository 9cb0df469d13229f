"""Handwritten cage clues read one character at a time.

The sequence readers of :mod:`vlm_puzzle.vision.clues` see a clue squeezed into a 24 px strip; a
handwritten digit there is a blur and they misread one clue in five on large boards. Here the clue
text that :func:`~vlm_puzzle.vision.clues.text_box` found is cut at the ink map's own resolution,
split into characters (:func:`segment`: pieces of ink, those one above the other joined - the dots
and bar of a ``÷`` - and a piece too wide for one character cut at its thinnest column), and each
character is read by a small network (shipped ONNX weights ``vision/weights/clue_chars.onnx``,
trained by ``training/train_clue_chars.py`` on MNIST-train digits and pen-stroke operators) from a
square window as tall as the whole text line (:func:`char_images`): an operator keeps its small size
and middle height, which tells a ``-`` from a ``1`` and a ``x`` from a ``4``. On a handwritten grid
its per-character probabilities are pooled with the hand sequence network's (:func:`by_chars`,
:func:`fuse`), and each clue carries whole-clue readings for the repair stage (:func:`readings_of`).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vlm_puzzle.vision.clues import CLASSES, Clue, parse_clue, text_window
from vlm_puzzle.vision.nets import load_net

CHAR_CLASSES = CLASSES[1:]          # the clue readers' classes without the CTC blank
CHAR_SIDE, CHAR_FIT = 28, 22        # network input side; the text line's height in it
WEIGHTS = Path(__file__).with_name("weights") / "clue_chars.onnx"
PIECE_INK, PIECE_PEAK = 0.15, 0.4   # a piece of ink: pixels over PIECE_INK, one at least over PIECE_PEAK
MIN_PIECE = 0.08                    # least size (line heights) of a piece that is not a speck
CLOSE = 0.08                        # breaks in a stroke bridged (line heights)
DOT = 0.3                           # pieces smaller than this (line heights) side by side: one (a colon)
JOIN_OVERLAP = 0.5                  # pieces sharing this much of the narrower one's columns: one character
SPLIT_W = 1.25                      # a character wider than this (line heights) is two touching ones
STACKED = 0.3                       # pieces sharing less of their rows than this: one above the other
MAX_CHARS = 6
ALTERNATIVE_MIN = 1e-3
KEEP_PAD = 2                        # px: a piece centred this near the text found is kept
AGREE_CLUES = 12                    # clues read to tell a handwritten grid (read_grid)
HAND_DIFFER = 0.25                  # share of clues the two sequence networks read differently (by_hand):
                                    # handwriting 0.36-0.8, print 0-0.12
SEQ_SURE = 0.9                      # by_chars(pool=False): a clue read this surely stands
SEQ_WEIGHT = 0.4                    # the sequence reader's weight where both readers are pooled (fuse)
SEQ_FLOOR = 1e-3                    # a class the sequence reader gave less than this: this (seq_probs)
READINGS, OTHER_TEXTS = 5, 2        # whole-clue readings kept: of the length read, of each other length
OTHER_LENGTH = 0.2                  # weight of a reading one character longer or shorter (readings_of)


def _pieces(region: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int, int]]]:
    """(labels, [(label, left, right, top, bottom) ...]) of the pieces of ink in ``region``: pixels
    over PIECE_INK, a stroke's faint break bridged (closed over CLOSE of the ink's height), with one
    pixel at least over PIECE_PEAK."""
    on = (region >= PIECE_INK).astype(np.uint8)
    rows = np.flatnonzero(on.any(axis=1))
    if len(rows) == 0:
        return np.zeros(region.shape, np.int32), []
    k = 2 * int(round(CLOSE * (rows[-1] - rows[0] + 1) / 2)) + 1   # odd: an even kernel shifts the ink
    closed = cv2.morphologyEx(on, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    labels = np.where(on > 0, labels, 0)
    out = []
    for j in range(1, count):
        x, y, w, h, _ = stats[j]
        if (labels == j).any() and region[labels == j].max() >= PIECE_PEAK:
            out.append((j, int(x), int(x + w), int(y), int(y + h)))
    return labels, out


def segment(region: np.ndarray, count: int = 0) -> list[tuple[np.ndarray, int, int]]:
    """The characters of the clue text in ``region`` (float ink 0..1, cut to the text: see
    :func:`text_region`), left to right: (mask of its ink, left, right) each, in region pixels; []
    when there is no ink."""
    labels, pieces = _pieces(region)
    if not pieces:
        return []
    top, bottom = min(p[3] for p in pieces), max(p[4] for p in pieces)
    line = max(1, bottom - top)
    pieces = [p for p in pieces if max(p[2] - p[1], p[4] - p[3]) >= MIN_PIECE * line]
    groups: list[list] = []   # [left, right, [labels], all small, top, bottom]
    for k, l, r, t, b in sorted(pieces, key=lambda p: p[1]):
        small = max(r - l, b - t) < DOT * line
        for g in groups:
            overlap = min(r, g[1]) - max(l, g[0])
            level = min(b, g[5]) - max(t, g[4])   # rows shared: side by side, not one above the other
            above = level < STACKED * min(b - t, g[5] - g[4]) or small
            dots = small and g[3] and abs((l + r) - (g[0] + g[1])) / 2 < DOT * line
            if (overlap >= JOIN_OVERLAP * min(r - l, g[1] - g[0]) and above) or dots:
                g[0], g[1], g[4], g[5] = min(g[0], l), max(g[1], r), min(g[4], t), max(g[5], b)
                g[2].append(k)
                g[3] = g[3] and small
                break
        else:
            groups.append([l, r, [k], small, t, b])
    chars = [(np.isin(labels, g[2]), g[0], g[1]) for g in sorted(groups, key=lambda g: g[0])]
    if count:
        # The sequence reader's count of characters steers: the widest cut at its thinnest
        # column while too few, the two closest joined while too many.
        while len(chars) < count:
            i = max(range(len(chars)), key=lambda j: chars[j][2] - chars[j][1])
            if chars[i][2] - chars[i][1] < 2:
                break
            chars[i:i + 1] = _cut(*chars[i])
        while len(chars) > count:
            i = min(range(len(chars) - 1), key=lambda j: chars[j + 1][1] - chars[j][2])
            (m1, l1, r1), (m2, l2, r2) = chars[i], chars[i + 1]
            chars[i:i + 2] = [(m1 | m2, min(l1, l2), max(r1, r2))]
    else:
        chars = [c for m, l, r in chars for c in _split(m, l, r, line)]
    return chars[:MAX_CHARS]


def _cut(mask: np.ndarray, l: int, r: int) -> list[tuple[np.ndarray, int, int]]:
    """A character's ink cut in two at its thinnest column in its middle 25-75%."""
    cols = mask[:, l:r].sum(axis=0)
    a, b = int(0.25 * (r - l)), int(np.ceil(0.75 * (r - l)))
    cut = min(max(l + a + int(np.argmin(cols[a:b])), l + 1), r - 1)
    left, right = mask.copy(), mask.copy()
    left[:, cut:] = False
    right[:, :cut] = False
    return [(left, l, cut), (right, cut, r)]


def _split(mask: np.ndarray, l: int, r: int, line: int) -> list[tuple[np.ndarray, int, int]]:
    """A character's ink, cut (:func:`_cut`) while wider than SPLIT_W lines."""
    if r - l <= SPLIT_W * line:
        return [(mask, l, r)]
    return [c for part in _cut(mask, l, r) for c in _split(*part, line)]


def char_images(region: np.ndarray, chars) -> np.ndarray:
    """(K, CHAR_SIDE, CHAR_SIDE) float32 network inputs of the ``chars`` of :func:`segment`: each
    character's own ink in a window of its columns and the whole text line's rows, scaled so the
    line stands CHAR_FIT high (a wide character: so it fits), centred, its darkest ink 1."""
    out = np.zeros((len(chars), CHAR_SIDE, CHAR_SIDE), np.float32)
    if not chars:
        return out
    rows = np.flatnonzero(np.any([m for m, _, _ in chars], axis=(0, 2)))
    if len(rows) == 0:
        return out
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    for i, (mask, l, r) in enumerate(chars):
        win = np.where(mask[top:bottom, l:r], region[top:bottom, l:r], 0.0).astype(np.float32)
        h, w = win.shape
        if h == 0 or w == 0 or win.max() <= 0:
            continue
        win /= win.max()   # a faint pen reads as a dark one
        s = CHAR_FIT / max(h, w)
        nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
        small = cv2.resize(win, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        y0, x0 = (CHAR_SIDE - nh) // 2, (CHAR_SIDE - nw) // 2
        out[i, y0:y0 + nh, x0:x0 + nw] = small
    return out


def text_region(ink: np.ndarray, box, extent, pad: float = 0.02) -> np.ndarray:
    """The ink of the clue text at ``extent`` (fractions of the cell ``box``, see
    :class:`~vlm_puzzle.vision.clues.Clue`), ``pad`` of the cell more each side, cell lines and
    outlines taken out (:func:`~vlm_puzzle.vision.clues.text_window`), only pieces of ink centred
    in the text kept. (Not made upright: a ``/`` would stand like a ``1``.)"""
    window = text_window(ink, box)
    if window is None:
        return np.zeros((1, 1), np.float32)
    wa, wb, on = window
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    left, top, right, bottom = extent
    H, W = ink.shape[:2]
    ia, ib = max(int(np.floor(x0 + (left - pad) * w)), wa), min(int(np.ceil(x0 + (right + pad) * w)), W)
    ja, jb = max(int(np.floor(y0 + (top - pad) * h)), wb), min(int(np.ceil(y0 + (bottom + pad) * h)), H)
    if ib - ia < 2 or jb - ja < 2:
        return np.zeros((1, 1), np.float32)
    mask = np.zeros((jb - ja, ib - ia), np.uint8)
    part = on[ja - wb:jb - wb, ia - wa:ib - wa]
    mask[:part.shape[0], :part.shape[1]] = part
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))   # the strokes' anti-aliased edges
    region = np.where(mask > 0, np.asarray(ink[ja:jb, ia:ib], np.float32), 0.0).astype(np.float32)
    keep = (x0 + left * w - ia, y0 + top * h - ja, x0 + right * w - ia, y0 + bottom * h - ja)
    labels, pieces = _pieces(region)
    inside = [k for k, l, r, t, b in pieces if keep[0] - KEEP_PAD <= (l + r) / 2 <= keep[2] + KEEP_PAD
              and keep[1] - KEEP_PAD <= (t + b) / 2 <= keep[3] + KEEP_PAD]
    return np.where(np.isin(labels, inside), region, 0.0).astype(np.float32)


class CharReader:
    """The character network at ``weights`` (default: the shipped one), loaded on first use."""

    def __init__(self, weights: str | Path | None = None):
        self.weights = Path(WEIGHTS if weights is None else weights)
        self._net = None
        self._lock = threading.Lock()

    def probs(self, images: np.ndarray) -> np.ndarray:
        """(K, CHAR_SIDE, CHAR_SIDE) -> (K, len(CHAR_CLASSES)) probabilities."""
        if len(images) == 0:
            return np.zeros((0, len(CHAR_CLASSES)), np.float32)
        with self._lock:   # loaded once
            if self._net is None:
                self._net = _load(self.weights)
        z = self._net(images[:, None]).reshape(len(images), -1).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def char_probs(self, regions: list[np.ndarray], counts=None) -> list[np.ndarray]:
        """Per text region, (K, len(CHAR_CLASSES)) probabilities of its K characters (K = 0: none
        found), all characters in one batch; ``counts``: how many characters each holds (see
        :func:`segment`), where known."""
        cuts = [segment(r, c) for r, c in zip(regions, counts or [0] * len(regions))]
        images = [char_images(r, c) for r, c in zip(regions, cuts)]
        probs = self.probs(np.concatenate(images) if images else np.zeros((0, CHAR_SIDE, CHAR_SIDE)))
        out, at = [], 0
        for cut in cuts:
            out.append(probs[at:at + len(cut)])
            at += len(cut)
        return out

    def read(self, regions: list[np.ndarray], extents, counts=None) -> list[Clue | None]:
        """The clue of each text region (None: no characters found); see :meth:`char_probs`."""
        return [clue_of(p, extent) if len(p) else None
                for p, extent in zip(self.char_probs(regions, counts), extents)]


@dataclass
class GridChars:
    """The text regions (:func:`text_region`) of some of one grid's clues, per cell index, cut by
    :func:`read_grid` and reused by :func:`by_chars`."""

    regions: dict


def read_grid(reader: CharReader, ink: np.ndarray, cells, reads: list[list[Clue]]) -> tuple[list[int], GridChars]:
    """(per reading of the grid's clues (one per sequence network) how many of AGREE_CLUES of its
    clues, spread over the grid, the character reader reads the same, the text regions cut for
    :func:`by_chars`). The cut into characters is the character reader's own here: it does not
    lean on either network. A sample says whether a grid is written by hand as well as all of it."""
    found = sorted({i for r in reads for i, k in enumerate(r) if k.text and k.extent is not None})
    found = found[::-(-len(found) // AGREE_CLUES)] if found else []
    extent = {i: next(r[i].extent for r in reads if r[i].text and r[i].extent is not None) for i in found}
    regions = {i: text_region(ink, cells[i], extent[i]) for i in found}
    again = reader.read([regions[i] for i in found], [extent[i] for i in found])
    votes = [sum(k is not None and k.text == r[i].text for i, k in zip(found, again)) for r in reads]
    return votes, GridChars(regions)


def by_hand(a: list[Clue], b: list[Clue]) -> bool:
    """Whether the two sequence networks' readings ``a``, ``b`` of one grid differ in HAND_DIFFER
    or more of the cells either reads text in: handwriting (a third or more), not print (both
    networks read alike but for a clue or two)."""
    text = [i for i, (x, y) in enumerate(zip(a, b)) if x.text or y.text]
    return sum(a[i].text != b[i].text for i in text) >= HAND_DIFFER * max(1, len(text))


def by_chars(reader: CharReader, ink: np.ndarray, cells, clues: list[Clue], grid: GridChars | None = None,
             pool: bool = True) -> list[Clue]:
    """``clues`` (a sequence reader's, one per cell box of ``cells``) read again character by
    character, each cut into as many characters as the sequence reader read there (its length
    is the surer part of its reading; the character reader's own cut finds the count less
    often), and each character's probabilities pooled with the sequence reader's (:func:`fuse`):
    the clue read is the pooled likeliest, its alternatives the pooled ones. ``grid``:
    :func:`read_grid`'s, whose text regions are reused. ``pool=False`` (a grid not surely
    handwritten, see :func:`by_hand`): the character reading replaces only the clues the sequence
    reader read below SEQ_SURE, the rest stand as read. (Where the sequence reader read nothing,
    nothing is looked for: stray ink would start clues that shift cages.)"""
    grid = grid or GridChars({})
    at = [i for i, k in enumerate(clues) if k.text and k.extent is not None]
    regions = [grid.regions[i] if i in grid.regions else text_region(ink, cells[i], clues[i].extent) for i in at]
    counts = [len(clues[i].text) for i in at]
    # One batch for the cuts of the length read and of one character less and more (readings).
    probs = reader.char_probs(regions * 3, counts + [max(1, c - 1) for c in counts] + [c + 1 for c in counts])
    out = list(clues)
    for k, (i, p) in enumerate(zip(at, probs)):
        if len(p) == len(clues[i].text) and not pool:
            if clues[i].confidence < SEQ_SURE:
                out[i] = clue_of(p, clues[i].extent)
        elif len(p) == len(clues[i].text):
            pooled = fuse(p, clues[i])
            others = [q for q in (probs[len(at) + k], probs[2 * len(at) + k]) if 0 < len(q) != len(p)]
            out[i] = replace(_with_blanks(clue_of(pooled, clues[i].extent), clues[i]),
                             readings=readings_of(pooled, others))
    return out


def _best(p: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` likeliest texts of per-character probabilities ``p`` (K, classes) as a clue is
    written (digits, the last character a digit or an operator: see :func:`clue_of`), a beam."""
    out = [("", 1.0)]
    for i, row in enumerate(p):
        allowed = range(len(CHAR_CLASSES)) if i == len(p) - 1 else range(10)
        out = sorted(((t + CHAR_CLASSES[j], q * float(row[j])) for t, q in out for j in allowed),
                     key=lambda a: -a[1])[:k]
    return out


def readings_of(pooled: np.ndarray, others=()) -> tuple[tuple[str, float], ...]:
    """Whole-clue readings (see :class:`~vlm_puzzle.vision.clues.Clue`): the READINGS likeliest
    texts of the pooled probabilities of the length read (:func:`fuse`), and the OTHER_TEXTS
    likeliest of each other length's character probabilities ``others`` (the character reader's
    alone), weighed OTHER_LENGTH; normalised, those under ALTERNATIVE_MIN left out. On held-out
    handwritten KenKens the first five hold the true clue 99% of the time, the first alone 93%."""
    cands: dict[str, float] = {}
    for t, q in _best(pooled, READINGS):
        cands[t] = cands.get(t, 0.0) + q
    for p in others:
        for t, q in _best(p, OTHER_TEXTS):
            cands[t] = max(cands.get(t, 0.0), OTHER_LENGTH * q)
    total = sum(cands.values())
    if total <= 0:
        return ()
    ranked = sorted(((t, q / total) for t, q in cands.items()), key=lambda a: -a[1])
    return tuple((t, float(q)) for t, q in ranked if q >= ALTERNATIVE_MIN)


def _with_blanks(clue: Clue, seq: Clue) -> Clue:
    """``clue`` with the sequence reader's ``""`` alternatives (no character there: the top of a
    given digit read as a clue's) kept, for the repair stage to drop a character."""
    alts = [a + tuple(b for b in (seq.alternatives[i] if i < len(seq.alternatives) else ()) if b[0] == "")
            for i, a in enumerate(clue.alternatives)]
    return replace(clue, alternatives=tuple(tuple(sorted(a, key=lambda b: -b[1])) for a in alts))


def seq_probs(clue: Clue) -> np.ndarray:
    """(K, len(CHAR_CLASSES)) per-character probabilities of a sequence reader's ``clue``: each
    character's own, its alternatives', SEQ_FLOOR for every class it gave less, rows summing to 1."""
    out = np.full((len(clue.text), len(CHAR_CLASSES)), SEQ_FLOOR)
    for i, ch in enumerate(clue.text):
        alts = clue.alternatives[i] if i < len(clue.alternatives) else ()
        for c, q in ((ch, clue.probs[i] if i < len(clue.probs) else 1.0), *alts):
            if c in CHAR_CLASSES:
                out[i, CHAR_CLASSES.index(c)] = max(out[i, CHAR_CLASSES.index(c)], q)
    return out / out.sum(axis=1, keepdims=True)


def fuse(p: np.ndarray, clue: Clue) -> np.ndarray:
    """The character reader's probabilities ``p`` (K, classes) and the sequence reader's ``clue``
    (K characters) pooled, character by character: their normalised geometric mean with
    SEQ_WEIGHT on the sequence reader. Each reader is sure where the other errs (a ``2`` cut
    from the digit it touches reads as a ``7`` alone; the strip reader blurs a ``÷`` into ``+``)."""
    z = SEQ_WEIGHT * np.log(seq_probs(clue)) + (1 - SEQ_WEIGHT) * np.log(np.clip(p, 1e-9, 1.0))
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def clue_of(p: np.ndarray, extent=None) -> Clue:
    """A :class:`Clue` from per-character probabilities (K, len(CHAR_CLASSES)) of a clue as
    written (digits, maybe an operator last): each character its likeliest class allowed there,
    its alternatives the others of its kind (digit or operator; the last character's of
    either: a ``/`` and a ``1`` look alike) at ALTERNATIVE_MIN or more."""
    chars, probs, alts = [], [], []
    for i, row in enumerate(p):
        k = int(np.argmax(row if i == len(p) - 1 else row[:10]))
        chars.append(CHAR_CLASSES[k])
        probs.append(float(row[k]))
        kind = range(len(CHAR_CLASSES)) if i == len(p) - 1 else range(10) if k < 10 else range(10, len(CHAR_CLASSES))
        alts.append(tuple(sorted(((CHAR_CLASSES[j], float(row[j])) for j in kind
                                  if j != k and row[j] >= ALTERNATIVE_MIN), key=lambda a: -a[1])))
    return replace(parse_clue(chars, probs, alts), extent=extent)


def _load(path: Path):
    from vlm_puzzle.errors import ModelError
    if not path.is_file():
        raise ModelError(f"clue character reader weights not found: {path}", code="weights_missing")
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    if tuple(card.get("classes", ())) != CHAR_CLASSES or card.get("input_side") != CHAR_SIDE:
        raise ModelError(f"{path.name}: card does not match classes {CHAR_CLASSES} / side {CHAR_SIDE}",
                         code="weights_invalid")
    return load_net(path, "clue character reader")
