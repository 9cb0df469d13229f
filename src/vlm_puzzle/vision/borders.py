"""Cell borders of a warped grid: thin, thick or dashed, in one :class:`EdgeMap`.

:func:`classify_edges` measures every inner edge (:mod:`~vlm_puzzle.vision.edges`,
on an ink map from :mod:`~vlm_puzzle.vision.ink`) and decides it with the learned
edge classifier (:mod:`~vlm_puzzle.vision.edge_net`); without its weights the hand
rules (:mod:`~vlm_puzzle.vision.edge_rules`: widths, dash patterns, outline ink)
decide, and misread most killer photos. The groups of cells the borders enclose
are in :mod:`~vlm_puzzle.vision.regions`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlm_puzzle.spec import Cell
from vlm_puzzle.vision.edge_net import (EDGE_MODEL, MIN_LINE_SHARE, THICK_MARGIN, EdgeNet, decide_edges,
                                        edge_probabilities)
from vlm_puzzle.vision.edge_rules import decide_outlines, outline_ink, split_widths
from vlm_puzzle.vision.edges import (edge_patches, ink_widths, line_centres, line_contrast, line_steadiness,
                                     line_widths, measure_edges)
from vlm_puzzle.vision.gray import otsu_split, to_gray
from vlm_puzzle.vision.ink import ink_map

THIN, THICK = 0, 1
# Least line_contrast of an edge whose grid line is seen; a grid needs half its edges seen.
LINE_CONTRAST = 0.25
# A fainter line (grey cell lines 0.13-0.2 beside black borders) is seen when at least
# FAINT_STEADY of the rows along its edge show it (edges.line_steadiness).
FAINT_CONTRAST, FAINT_STEADY = 0.1, 0.9


@dataclass(frozen=True)
class EdgeMap:
    """The measured borders of an N x N grid.

    ``vertical`` / ``horizontal``: THIN (0) or THICK (1) per edge (see :mod:`~vlm_puzzle.vision.edges` for
    shapes). ``dashed_v`` / ``dashed_h``: whether an inset dashed cage outline runs
    along the edge (killer). ``width_v`` / ``width_h``: ink width in pixels;
    ``dash_v`` / ``dash_h``: dash evidence in 0..1. ``thin_width``: the reference
    ink width of a thin line; ``contrast``: thick-to-thin width ratio (1.0 when
    every line is alike). ``doubtful``: edges the classifier could not call
    either way (see :func:`decide_edges`; 0 for the hand rules); ``learned``:
    whether the edge classifier (rather than the hand rules) decided;
    ``thick_margin``: (E,) the classifier's margin per edge, vertical edges then
    horizontal, row by row (see :meth:`margin_of`; None for the hand rules).
    ``by_width``: readings of the heavier lines by ink width alone, each (E,) bool
    (:func:`line_splits`), those that differ from ``vertical`` / ``horizontal``: other
    readings for the clues to confirm. ``fine_widths``: (E,) the ink widths they were
    measured from when a smoother warp was given (:func:`classify_edges`), else None.
    """

    size: int
    vertical: np.ndarray
    horizontal: np.ndarray
    dashed_v: np.ndarray
    dashed_h: np.ndarray
    width_v: np.ndarray
    width_h: np.ndarray
    dash_v: np.ndarray
    dash_h: np.ndarray
    thin_width: float
    contrast: float
    doubtful: int = 0
    learned: bool = False
    thick_margin: np.ndarray | None = None
    by_width: tuple[np.ndarray, ...] = ()
    fine_widths: np.ndarray | None = None

    def margin_of(self, kind: str, r: int, c: int) -> float:
        """Signed distance of the ``"v"`` / ``"h"`` edge (r, c) from the classifier's
        thin/thick cut, in gaps (> 0: thick side; under 0.25 in size: in doubt);
        ``THICK_MARGIN`` in size without the classifier."""
        if self.thick_margin is None:
            line = (self.vertical if kind == "v" else self.horizontal)[r, c]
            return THICK_MARGIN if line == THICK else -THICK_MARGIN
        n = self.size
        i = r * (n - 1) + c if kind == "v" else n * (n - 1) + r * n + c
        return float(self.thick_margin[i])

    def kind(self, a: Cell, b: Cell) -> str:
        """``"thin"``, ``"thick"`` or ``"dashed"`` for the edge between neighbours a and b."""
        (r, c), (r2, c2) = sorted((tuple(a), tuple(b)))
        if r == r2 and c2 == c + 1:
            line, dashed = self.vertical[r, c], self.dashed_v[r, c]
        elif c == c2 and r2 == r + 1:
            line, dashed = self.horizontal[r, c], self.dashed_h[r, c]
        else:
            raise ValueError(f"cells {a} and {b} are not neighbours")
        if dashed:
            return "dashed"
        return "thick" if line == THICK else "thin"

    @property
    def n_thick(self) -> int:
        return int(self.vertical.sum() + self.horizontal.sum())

    @property
    def n_dashed(self) -> int:
        return int(self.dashed_v.sum() + self.dashed_h.sum())


def classify_edges(gray: np.ndarray, xs, ys, ink: np.ndarray | None = None,
                   v_lines: np.ndarray | None = None, h_lines: np.ndarray | None = None,
                   model: EdgeNet | str | Path | None = EDGE_MODEL, widths_gray: np.ndarray | None = None) -> EdgeMap:
    """Measure and classify every inner edge of the grid.

    Parameters
    ----------
    gray : (H, W) uint8 grayscale (or BGR) warped grid.
    xs, ys : the N + 1 pixel positions of the vertical / horizontal grid lines.
    ink : optional precomputed :func:`ink_map` of ``gray``.
    v_lines, h_lines : optional local line positions (see :func:`edge_patch`).
    model : the edge classifier (:class:`EdgeNet`), or its ONNX weights (default
        ``weights/edges.onnx``, loaded for this call); ``None``, or a missing file,
        falls back to the hand-measured rules alone.
    widths_gray : the same warp from an area-averaged picture, where the ink widths of
        ``by_width`` (and ``fine_widths``) are measured; default ``gray``. It may be
        drawn k times larger (``outline.smooth_warp``'s ``scale``): widths are then
        given in ``gray``'s pixels.

    Returns an :class:`EdgeMap`. Without the model, thin and thick are told apart
    by splitting the ink widths into two groups (largest gap in log width; when
    the groups differ by less than ``THICK_RATIO`` every line is thin) and dashed
    outlines by their dash pattern and outline ink. With it, see
    :func:`decide_edges`.
    """
    gray = to_gray(gray)
    xs = np.asarray(xs, np.float64)
    ys = np.asarray(ys, np.float64)
    n = len(xs) - 1
    if n < 2 or len(ys) != n + 1:
        raise ValueError(f"need N+1 >= 3 line positions on both axes, got {len(xs)} and {len(ys)}")
    cell = float(min(np.diff(xs).mean(), np.diff(ys).mean()))
    if ink is None:
        ink = ink_map(gray, cell)
    vert, horiz, cell = edge_patches(ink, xs, ys, v_lines, h_lines)
    patches = np.concatenate([vert, horiz])
    widths = ink_widths(patches, cell)
    probs = edge_probabilities(patches, model)
    if probs is not None:
        thick, dashed, evidence, thin, contrast, doubtful, margin = decide_edges(
            probs, widths, lambda idx: line_widths(patches[idx], cell))
    else:
        doubtful, margin = 0, None
        thin, contrast, cut = split_widths(widths)
        thick = widths >= cut
        # Second pass for dashes: each edge's bare-line width is the low quartile of
        # its class (cage outlines touching a line only ever add width).
        ref = np.where(thick, np.percentile(widths[thick], 25) if thick.any() else 0.0,
                       np.percentile(widths[~thick], 25) if (~thick).any() else 0.0).astype(np.float32)
        _, pattern = measure_edges(patches, cell, ref)
        outline = outline_ink(patches.mean(axis=1), line_centres(patches, cell), ref, cell)
        dashed, evidence = decide_outlines(pattern, outline)
    contrast_of = line_contrast(patches, cell)
    seen = contrast_of >= LINE_CONTRAST
    if seen.mean() < 0.5:
        # Faint grey cell lines beside dark cage or box lines: seen where they run steady
        # along the whole edge.
        seen |= (contrast_of >= FAINT_CONTRAST) & (line_steadiness(patches, cell) >= FAINT_STEADY)
    if seen.mean() < 0.5:
        # No grid lines where the lattice says (noise, a wrong lattice, not a grid):
        # nothing can be read, and every edge without a line is in doubt.
        thick, dashed = np.zeros_like(thick), np.zeros_like(dashed)
        doubtful, contrast = int((~seen).sum()), 1.0
    k = len(vert)
    fine = None
    if widths_gray is not None:
        g2 = to_gray(widths_gray)
        up = g2.shape[0] / gray.shape[0]     # a warp drawn ``up`` times larger: positions scale by it
        lines = [xs * up, ys * up, None if v_lines is None else np.asarray(v_lines) * up,
                 None if h_lines is None else np.asarray(h_lines) * up]
        if up == 1:
            v2, h2, _ = edge_patches(ink_map(g2, cell), *lines)
            fine = ink_widths(np.concatenate([v2, h2]), cell)
        else:
            fine = ink_widths(_strip_ink(g2, lines), cell * up) / up
    # Also where edges read dashed: heavy cage borders can look dashed, and operator clues
    # then ask for the reading by width (variants.read_variants_image).
    by_width = line_splits(widths if fine is None else fine)
    boxed = box_lines(thick, dashed, n)
    if boxed is not None and (dashed.any() or (boxed != thick).any()):
        # Two kinds of edge that split exactly along box lines are box and cell lines,
        # whatever the classifier named them (a print's thin lines can read thick, its
        # heavy box lines dashed): the ratio of the two, not their pixels, decides.
        thick, dashed = boxed, np.zeros_like(dashed)
        thin = float(np.median(widths[~thick]))
        contrast = max(1.0, float(np.median(widths[thick])) / max(thin, 1e-3))
        doubtful, margin = 0, None if margin is None else np.where(thick, THICK_MARGIN, -THICK_MARGIN).astype(np.float32)
    return EdgeMap(size=n,
                   vertical=thick[:k].reshape(n, n - 1).astype(np.int8),
                   horizontal=thick[k:].reshape(n - 1, n).astype(np.int8),
                   dashed_v=dashed[:k].reshape(n, n - 1), dashed_h=dashed[k:].reshape(n - 1, n),
                   width_v=widths[:k].reshape(n, n - 1), width_h=widths[k:].reshape(n - 1, n),
                   dash_v=evidence[:k].reshape(n, n - 1), dash_h=evidence[k:].reshape(n - 1, n),
                   thin_width=thin, contrast=contrast, doubtful=doubtful, learned=probs is not None,
                   thick_margin=margin,
                   by_width=tuple(b for b in by_width if (b != thick).any()), fine_widths=fine)


def _strip_ink(gray: np.ndarray, lines) -> np.ndarray:
    """The edges' (:func:`edge_patches` of ``lines``: xs, ys, v_lines, h_lines) mean cross
    profiles in a large warp as ink, (E, 1, W) (see :func:`ink_map`): each against its own
    paper (its brightest column), 1.0 the darkest of all. A closing and a percentile over
    the whole large warp are slow; the profiles are all the widths need."""
    profiles = np.concatenate(edge_patches(gray, *lines)[:2]).mean(axis=1, dtype=np.float32)
    paper = profiles.max(axis=1, keepdims=True)
    rel = (paper - profiles) / np.maximum(paper, 16.0)
    ref = float(rel.max()) if rel.size else 0.0
    if ref < 0.04:
        return np.zeros_like(rel)[:, None, :]
    return (rel * (1.0 / ref))[:, None, :]


# Least ratio of the median ink widths of two kinds of line for line_splits (the paper
# family's thick/thin ratio reaches down to 1.5, and an anti-aliased 2-3 px line's fringe makes
# that 1.3 in ink; the clues confirm every such reading).
SPLIT_WIDER = 1.15
# An edge whose ink width is below this share of the heavy lines' median has no line.
NO_LINE = 0.05


def line_splits(widths: np.ndarray) -> list[np.ndarray]:
    """Readings of the heavier lines by ink width alone, each (E,) bool: where some edges
    show no line at all (a KenKen drawn by its cage borders alone), the edges with a line;
    and the upper of two groups of the edges with a line (Otsu on log width, each at least
    ``MIN_LINE_SHARE`` of the edges) whose medians differ by ``SPLIT_WIDER`` or more (a
    ratio, so any resolution; ink width folds in darkness, so faint grey cell lines beside
    dark cage borders of the same width split too; a thin line a large picture's warp
    thins to nothing counts as thin). Not decisions: the cage clues choose
    (:func:`vlm_puzzle.vision.variants.read_variants_image`)."""
    w = np.asarray(widths, np.float64)
    if len(w) < 4 or float(np.percentile(w, 90)) <= 0:
        return []
    lined = w >= NO_LINE * float(np.median(w[w >= 0.5 * np.percentile(w, 90)]))
    out = [lined] if MIN_LINE_SHARE <= float(lined.mean()) <= 1 - MIN_LINE_SHARE else []
    logw = np.log(np.maximum(w[lined], 1e-3))
    if len(logw) >= 4:
        cut, low, high = otsu_split(logw)
        if min(len(low), len(high)) >= MIN_LINE_SHARE * len(w) and np.median(high) - np.median(low) >= np.log(SPLIT_WIDER):
            heavy = lined.copy()
            heavy[lined] = logw >= cut
            out.append(heavy)
    return out


def box_lines(thick: np.ndarray, dashed: np.ndarray, n: int) -> np.ndarray | None:
    """(E,) bool, the edges on box lines, when the edges as classified (thick and
    dashed, (E,) each, vertical edges then horizontal in :class:`EdgeMap` order)
    fall in exactly two kinds that split along the box lines of one box shape of
    an ``n`` x ``n`` grid; else None (boxes whose edges read alike, cages, jigsaw
    regions: left as they are)."""
    kind = thick.astype(np.int8) + 2 * dashed.astype(np.int8)
    for rows, cols in box_shapes(n):
        on = box_line_mask(n, rows, cols)
        a, b = np.unique(kind[on]), np.unique(kind[~on])
        if len(a) == 1 and len(b) == 1 and a[0] != b[0]:
            return on
    return None


def box_shapes(n: int) -> list[tuple[int, int]]:
    """Box shapes (rows, cols) of an n x n sudoku: proper factor pairs, both above 1."""
    return [(r, n // r) for r in range(2, n) if n % r == 0 and n // r > 1]


def box_line_mask(n: int, rows: int, cols: int) -> np.ndarray:
    """(E,) bool: which inner edges (vertical then horizontal, :class:`EdgeMap` order)
    lie on the box lines of ``rows`` x ``cols`` boxes."""
    v = np.broadcast_to((np.arange(1, n) % cols == 0)[None, :], (n, n - 1))   # right of column c
    h = np.broadcast_to((np.arange(1, n) % rows == 0)[:, None], (n - 1, n))   # below row r
    return np.concatenate([v.ravel(), h.ravel()])
