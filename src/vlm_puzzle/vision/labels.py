"""Classifier classes and how they map to cell values for each grid size.

The digit network knows 25 symbols: ``""`` (empty), ``0``-``9``, ``A``-``G``
and the two-digit numbers ``10``-``16``. A grid of size N uses the values
1..N, written in one of a few notations: 1..9 for N <= 9; for 12x12, 10-12 or
A-C; for 16x16, ``1-16``, ``1-9 A-G`` or the hexadecimal ``0-9 A-F`` (0 = 1).
:func:`value_probs` folds the symbol probabilities of a grid into value
probabilities (index 0 = empty) under the notation that explains the grid best.
"""
from __future__ import annotations

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


def value_probs(symbol_probs: np.ndarray, n: int) -> tuple[np.ndarray, tuple[str, ...], str]:
    """Fold (..., len(LABELS)) symbol probabilities into (..., n+1) value probabilities.

    Symbols outside the grid's notation are dropped and the rest renormalised.
    Returns (value probs float32, the symbol written for each value (index 0:
    ""), notation name). The notation is the one under which the non-empty
    cells keep most probability mass.
    """
    flat = symbol_probs.reshape(-1, symbol_probs.shape[-1]).astype(np.float64)
    best = None
    for name, table in notations(n).items():
        cols = [[INDEX[s] for s in syms] for syms in table]
        vp = np.concatenate([flat[:, [0]], np.stack([flat[:, c].sum(axis=1) for c in cols], axis=1)], axis=1)
        kept = vp.sum(axis=1)
        digit_cells = flat[:, 0] < 0.5
        score = float(np.log(np.maximum(kept[digit_cells], 1e-9)).sum())
        if best is None or score > best[0]:
            vp = vp / np.maximum(kept[:, None], 1e-12)
            best = (score, vp, ("",) + tuple(s[0] for s in table), name)
    _, vp, symbols, name = best
    return vp.reshape(symbol_probs.shape[:-1] + (n + 1,)).astype(np.float32), symbols, name
