"""The hand rules for edges, used without the edge classifier's weights: thin or thick
by splitting ink widths, dashed by dash pattern and outline ink. They misread most
killer photos; :mod:`vlm_puzzle.vision.edge_net` is the normal path."""
from __future__ import annotations

import numpy as np

from vlm_puzzle.vision.gray import otsu_split

# Farthest a cage outline may run from the grid line (fraction of a cell), and the
# ink (px of full darkness, summed across) it adds on each side of a line.
INSET_MAX = 0.19
OUTLINE_INK = 0.3
# Share of edges with a dash pattern above which a grid surely has cage outlines.
CAGED_PATTERN = 0.4
# A thick line has at least this many times the ink width of the grid's thin lines.
THICK_RATIO = 1.7


def outline_ink(profiles: np.ndarray, centres: np.ndarray, ref_width: np.ndarray,
                cell: float) -> np.ndarray:
    """Ink a cage outline adds beside each line, on its weaker side (px of full darkness).

    Fine dashes or dots print (or blur) into a near-solid line, often touching the
    grid line, where the pattern test cannot see them. Profiles are aligned on their
    line centre; the bare line of each class (edges of equal ``ref_width``) is the
    20th-percentile profile of the class, and what an edge has above it within
    ``INSET_MAX`` of the centre is outline ink. The weaker side counts: an outline
    runs in both neighbouring cells, a clue's text sits on one side only.
    """
    e, w = profiles.shape
    mid = w // 2
    aligned = np.zeros_like(profiles)
    for i in range(e):
        shift = mid - int(centres[i])
        src = profiles[i, max(0, -shift):w - max(0, shift)]
        aligned[i, max(0, shift):max(0, shift) + len(src)] = src
    far = int(round(INSET_MAX * cell))
    out = np.zeros(e, np.float32)
    for ref in np.unique(ref_width):
        members = ref_width == ref
        base = np.percentile(aligned[members], 20, axis=0)
        excess = np.clip(aligned[members] - base, 0.0, None)
        left = excess[:, max(0, mid - far):mid - 1].sum(axis=1)
        right = excess[:, mid + 2:mid + far + 1].sum(axis=1)
        out[members] = np.minimum(left, right)
    return out


def decide_outlines(pattern: np.ndarray, outline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dashed per edge, evidence 0..1) from the dash-pattern scores and outline ink.

    First the grid as a whole: it has cage outlines when many edges show a dash
    pattern (``CAGED_PATTERN``), or the typical edge carries outline ink and some
    show the pattern (photos blur fine dashes solid). Only then are single edges
    decided: a dash pattern, or outline ink above the valley between the grid's two
    groups of edges (Otsu; at least ``OUTLINE_INK``). A plain grid has no dashed
    edges at all, whatever a photo's blur or a clue's text does to a few of them.
    """
    share = float(np.mean(pattern >= 0.5)) if len(pattern) else 0.0
    typical = float(np.median(outline)) if len(outline) else 0.0
    caged = share >= CAGED_PATTERN or (typical >= 2 * OUTLINE_INK and share >= 0.1)
    # Too few edges for two groups: only the least outline ink counts.
    cut = max(OUTLINE_INK, otsu_split(outline)[0]) if len(outline) >= 4 else OUTLINE_INK
    evidence = np.maximum(pattern, np.clip(outline / (2 * cut), 0.0, 1.0)).astype(np.float32)
    if not caged:
        return np.zeros(len(pattern), bool), evidence
    return (pattern >= 0.5) | (outline >= cut), evidence


def split_widths(widths: np.ndarray) -> tuple[float, float, float]:
    """(thin reference width, thick/thin ratio, cut) from all edge ink widths.

    Edges where no line was found (width under 20 % of the 90th percentile: the
    lattice missed the line there; thick lines may be the majority, KenKen) are
    left out. The rest are split in two by Otsu's
    criterion on log width; if the two groups' medians differ by less than
    ``THICK_RATIO`` there is one kind of line and the cut is infinite.
    """
    w = np.asarray(widths, np.float64)
    if len(w) == 0:
        return 0.0, 1.0, float("inf")
    w = np.sort(w[w >= max(0.2 * np.percentile(w, 90), 1e-3)])
    if len(w) < 4:
        return float(np.median(w)) if len(w) else 0.0, 1.0, float("inf")
    i_best = len(otsu_split(np.log(w))[1])
    thin, thick = float(np.median(w[:i_best])), float(np.median(w[i_best:]))
    ratio = thick / max(thin, 1e-3)
    if ratio < THICK_RATIO:
        return float(np.median(w)), 1.0, float("inf")
    return thin, ratio, float(np.sqrt(w[i_best - 1] * w[i_best]))
