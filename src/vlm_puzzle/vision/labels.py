"""Classifier classes and how they map to cell values for each grid size.

The digit network knows 25 symbols: ``""`` (empty), ``0``-``9``, ``A``-``G``
and the two-digit numbers ``10``-``16``. A grid of size N uses the values
1..N, written in one of a few notations: 1..9 for N <= 9; for 12x12, 10-12 or
A-C; for 16x16, ``1-16``, ``1-9 A-G`` or the hexadecimal ``0-9 A-F`` (0 = 1).
:func:`value_probs` folds the symbol probabilities of a grid into value
probabilities (index 0 = empty) under the notation that explains the grid best.

Letters are decided board-wide (:func:`unhide_letters`): a grid in a notation with
letters writes about one value in (letters / N) with one, and a lowercase ``g``
or ``a`` that the network calls 9 or 3 still carries far more letter probability
than the grid's real 9s and 3s do, so the cells above a clear gap in that
letter evidence nearest the expected count read as letters.
"""
from __future__ import annotations

from math import lgamma

import numpy as np

LABELS: tuple[str, ...] = ("",) + tuple(str(d) for d in range(10)) + tuple("ABCDEFG") + \
    tuple(str(v) for v in range(10, 17))
INDEX = {lab: i for i, lab in enumerate(LABELS)}


def notations(n: int) -> dict[str, tuple[tuple[str, ...], ...]]:
    """For each notation of an N-grid, the symbols that may write value v (index v-1)."""
    if n <= 9:
        return {"digits": tuple((str(v),) for v in range(1, n + 1))}
    if n == 12:
        return {"1-12": tuple((str(v),) for v in range(1, 13)),
                "1-9A-C": tuple((str(v),) for v in range(1, 10)) + (("A",), ("B",), ("C",))}
    if n == 16:
        return {"1-16": tuple((str(v),) for v in range(1, 17)),
                "1-9A-G": tuple((str(v),) for v in range(1, 10)) + tuple((ch,) for ch in "ABCDEFG"),
                "0-F": tuple((str(v),) for v in range(10)) + tuple((ch,) for ch in "ABCDEF")}
    # Other sizes (10, 11, 13-15: jigsaw only) write values past 9 as numbers.
    return {"numbers": tuple((str(v),) for v in range(1, n + 1))}


def symbols_for(n: int, rng: np.random.Generator) -> list[str]:
    """The symbols of one randomly chosen notation for an N-grid (for synthetic data)."""
    table = notations(n)
    name = list(table)[int(rng.integers(len(table)))]
    return [s[0] for s in table[name]]


# The least gap (nats of letter-vs-digit log-odds) that splits a grid's symbols into
# letters and digits; lowercase letters of sgt-puzzles sit at -2.7..0, its digits at
# -15..-3.8 (log-odds of the network's letter mass against its digit mass).
LETTER_GAP = 1.5
# Share of the letter mass a cell read as a letter keeps: the digit it resembles stays
# within reach of the checking stage's repair (e^4 of the first guess).
LETTER_SHARE = 0.9


def unhide_letters(flat: np.ndarray, letters: list[int], digits: list[int], share: float) -> np.ndarray:
    """``flat`` (M, K) symbol probabilities with the cells that are letters by board-wide
    evidence moved to them: :data:`LETTER_SHARE` of their mass on the letters.

    ``letters`` / ``digits``: the symbol columns of the notation's letters and digits
    (the mass moved is theirs); ``share``: the expected fraction of written cells with a
    letter. The split is the gap of at least :data:`LETTER_GAP` in the cells' letter-vs-digit
    log-odds nearest the expected letter count, within 0.4 to 1.6 times it; none: ``flat``
    unchanged. A cell read as ``0`` in a notation that writes 0 stays a digit."""
    written = np.nonzero(flat[:, 0] < 0.5)[0]
    m = len(written)
    if m < 8:
        return flat
    lm, dm = flat[written][:, letters].sum(axis=1), flat[written][:, digits].sum(axis=1)
    odds = np.log(np.maximum(lm, 1e-12)) - np.log(np.maximum(dm, 1e-12))
    order = np.argsort(-odds)
    ranked = odds[order]
    lo, hi = max(1, int(0.4 * share * m)), min(m - 1, int(np.ceil(1.6 * share * m)))
    if lo > hi:
        return flat
    gaps = ranked[lo - 1:hi] - ranked[lo:hi + 1]   # gap after the j-th cell, j = lo..hi
    splits = lo + np.nonzero(gaps >= LETTER_GAP)[0]
    if len(splits) == 0:
        return flat
    # Uppercase letters sit far above lowercase ones: of the clear gaps, the one nearest
    # the expected count.
    j = int(splits[np.argmin(np.abs(splits - share * m))])
    above = order[:j]
    # A 0-F board's zeros carry some letter (D) evidence: a cell read as a zero stays one.
    zero = (flat[written[above]].argmax(axis=1) == INDEX["0"]) & (INDEX["0"] in digits)
    hidden = written[above[(lm[above] < LETTER_SHARE * (lm + dm)[above]) & ~zero]]
    if len(hidden) == 0:
        return flat
    out = flat.copy()
    sub = out[hidden]
    lsum = np.maximum(sub[:, letters].sum(axis=1), 1e-12)
    dsum = np.maximum(sub[:, digits].sum(axis=1), 1e-12)
    mass = lsum + dsum   # moved between the notation's letters and digits, nothing else
    sub[:, letters] *= (LETTER_SHARE * mass / lsum)[:, None]
    sub[:, digits] *= ((1 - LETTER_SHARE) * mass / dsum)[:, None]
    out[hidden] = sub
    return out


def _spread(vp: np.ndarray) -> float:
    """log of the multinomial coefficient M! / prod(c_v!) of the values read (hard counts):
    how likely a puzzle's givens spread so over its values, which are equally common. A
    notation that reads two symbols as one value (a lowercase g as 9) spreads them worse."""
    counts = np.bincount(vp.argmax(axis=1), minlength=vp.shape[1]) if len(vp) else np.zeros(1, int)
    return lgamma(int(counts.sum()) + 1) - sum(lgamma(int(c) + 1) for c in counts)


def value_probs(symbol_probs: np.ndarray, n: int,
                notation: str | None = None) -> tuple[np.ndarray, tuple[str, ...], str]:
    """Fold (..., len(LABELS)) symbol probabilities into (..., n+1) value probabilities.

    Symbols outside the grid's notation are dropped and the rest renormalised.
    Returns (value probs float32, the symbol written for each value (index 0:
    ""), notation name). The notation is the one under which the non-empty
    cells keep most probability mass and spread most evenly over the values, or
    ``notation`` (a name of :func:`notations`) when given.
    """
    flat = symbol_probs.reshape(-1, symbol_probs.shape[-1]).astype(np.float64)
    best = None
    for name, table in notations(n).items():
        if notation is not None and name != notation:
            continue
        cols = [[INDEX[s] for s in syms] for syms in table]
        letters = [c for cs in cols for c in cs if LABELS[c].isalpha()]
        if letters:
            digits = [c for cs in cols for c in cs if not LABELS[c].isalpha()]
            flat_n = unhide_letters(flat, letters, digits, len(letters) / n)
        else:
            flat_n = flat
        vp = np.concatenate([flat_n[:, [0]], np.stack([flat_n[:, c].sum(axis=1) for c in cols], axis=1)], axis=1)
        kept = vp.sum(axis=1)
        digit_cells = flat[:, 0] < 0.5
        score = float(np.log(np.maximum(kept[digit_cells], 1e-9)).sum()) + _spread(vp[digit_cells, 1:])
        if best is None or score > best[0]:
            vp = vp / np.maximum(kept[:, None], 1e-12)
            best = (score, vp, ("",) + tuple(s[0] for s in table), name)
    if best is None:
        raise ValueError(f"no notation {notation!r} for a {n}x{n} grid")
    _, vp, symbols, name = best
    return vp.reshape(symbol_probs.shape[:-1] + (n + 1,)).astype(np.float32), symbols, name
