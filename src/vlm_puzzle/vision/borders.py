"""Cell borders of a warped grid: thin, thick or dashed, and the regions and cages they make.

Everything here works on a *warped square grid*: a grayscale ``uint8`` image in
which the grid is axis-aligned, plus the pixel positions of its ``N + 1`` vertical
(``xs``) and horizontal (``ys``) lines. Edges between neighbouring cells are held
in two arrays:

* ``vertical[r, c]``  -- the edge between cell ``(r, c)`` and ``(r, c + 1)``, shape ``(N, N - 1)``;
* ``horizontal[r, c]`` -- the edge between cell ``(r, c)`` and ``(r + 1, c)``, shape ``(N - 1, N)``.

Widths are measured as *ink width*: the integral, across the line, of the
normalised darkness (0 = paper, 1 = the grid's darkest ink), in pixels. It folds
stroke width and darkness into one number, so a faint blurred thin line in a photo
and a crisp 1 px line both read as thin, and it is compared with the grid's own
thin lines rather than with a fixed number of pixels.

Edges are classified by a small learned classifier (``weights/edges.onnx``,
trained by ``training/train_edges.py`` on the project's own renders) that reads
each edge as a cell-normalised patch: dashed-or-not per edge, thick-or-thin per
image (:func:`decide_edges`). Without the weights the hand rules (widths,
dash patterns, outline ink) decide; they misread most killer photos.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vlm_puzzle.spec import Cell

THIN, THICK = 0, 1

# The learned edge classifier (training/train_edges.py) and its classes, in output order.
EDGE_MODEL = Path(__file__).with_name("weights") / "edges.onnx"
EDGE_CLASSES = ("thin", "thick", "thin+dashed", "thick+dashed")

# Part of each edge that is measured, as fractions of the cell side: the ends are
# left out because lines cross there and cage outlines turn corners there.
ALONG = (0.2, 0.8)
# How far across an edge the profile reaches (fraction of a cell): far enough for an
# inset cage outline, short of the digit printed in the middle of the cell.
ACROSS = 0.24
# Farthest a cage outline may run from the grid line (fraction of a cell), and the
# ink (px of full darkness, summed across) it adds on each side of a line.
INSET_MAX = 0.19
OUTLINE_INK = 0.3
# Share of edges with a dash pattern above which a grid surely has cage outlines.
CAGED_PATTERN = 0.4
# Share of edges the classifier must find dashed before a grid counts as caged
# (killer grids have 40-70 %).
CAGED_SHARE = 0.1
# A dash probability within this of 0.5 leaves its edge in doubt.
DOUBT = 0.3
# Least gap (nats) between the medians of an image's thin and thick edge scores:
# below it the image has one kind of line (on development renders, thin and thick
# lie 7+ nats apart and any gap from 3 to 6 reads every image alike).
THICK_GAP = 4.0
# Least share of an image's edges (of one dash class) that may form a kind of line.
MIN_LINE_SHARE = 0.08
# Margin reported for edges of a grid with one kind of line (sure either way).
THICK_MARGIN = 1.0
# Least number of edges in a row along one grid line, all near the thin/thick cut,
# that are decided together as one line (see _weigh_widths).
MIN_RUN = 3
# Least ratio of the ink widths of an image's thick and thin groups (development
# renders: 1.35 and up; thin lines drawn twice over read 1.2).
MIN_WIDER = 1.28
# A width ratio that makes two kinds of line on half the THICK_GAP (a 6x6 jigsaw
# render: gap 3.6 nats, ratio 1.82; of the 160 real photos, those with a gap of 2
# to 4 nats have ratios of 1.24 and less, those with thick lines 1.78 and up).
CLEAR_WIDER = 1.6
# Least line_contrast of an edge whose grid line is seen; a grid needs half its edges seen.
LINE_CONTRAST = 0.25
# The cell-normalised edge patch the edge classifier reads (px): along the edge
# fine enough for the shortest dash period (0.08 cell). (32 x 16 runs twice as
# fast but misread 2 of 199 development grids, against none.)
PATCH_ALONG, PATCH_ACROSS = 32, 32
# How far (fraction of the line's peak darkness) a line's profile may climb back
# while walking out from its peak: flat-top noise, not a second stroke.
RISE_TOL = 0.08
# A thick line has at least this many times the ink width of the grid's thin lines.
THICK_RATIO = 1.7


@dataclass(frozen=True)
class EdgeMap:
    """The measured borders of an N x N grid.

    ``vertical`` / ``horizontal``: THIN (0) or THICK (1) per edge (see module doc for
    shapes). ``dashed_v`` / ``dashed_h``: whether an inset dashed cage outline runs
    along the edge (killer). ``width_v`` / ``width_h``: ink width in pixels;
    ``dash_v`` / ``dash_h``: dash evidence in 0..1. ``thin_width``: the reference
    ink width of a thin line; ``contrast``: thick-to-thin width ratio (1.0 when
    every line is alike). ``doubtful``: edges the classifier could not call
    either way (see :func:`decide_edges`; 0 for the hand rules); ``learned``:
    whether the edge classifier (rather than the hand rules) decided;
    ``thick_margin``: (E,) the classifier's margin per edge, vertical edges then
    horizontal, row by row (see :meth:`margin_of`; None for the hand rules).
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


# ---- ink ------------------------------------------------------------------------

def to_gray(image: np.ndarray) -> np.ndarray:
    """A ``uint8`` grayscale view of a gray or BGR image."""
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def paper_map(gray: np.ndarray, cell_px: float) -> np.ndarray:
    """The local paper brightness (``uint8`` gray levels): a grey closing (a max
    then min filter) wider than any stroke but narrower than a cell, so lines and
    digits vanish while lighting gradients and shaded cells stay."""
    k = max(3, int(cell_px * 0.35) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    return cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel)


def ink_map(gray: np.ndarray, cell_px: float, paper: np.ndarray | None = None) -> np.ndarray:
    """Darkness relative to the local paper brightness, ``float32`` in 0..1.

    ``(paper - gray) / paper`` with the paper from :func:`paper_map`: a contrast,
    so a line in a shadow or under dim light reads as dark as the same line in full
    light, and lighting gradients and shaded cells count as paper. 1.0 is the
    grid's darkest ink (a high percentile), so faded print and black renders read
    alike.
    """
    if paper is None:
        paper = paper_map(gray, cell_px)
    dark = cv2.subtract(paper, gray).astype(np.float32)
    rel = dark / np.maximum(paper.astype(np.float32), 16.0)
    # 99.5th percentile on a subsample: the lines and digits are everywhere.
    ref = float(np.percentile(rel[::3, ::3], 99.5))
    if ref < 0.04:  # a blank image: nothing is ink
        return np.zeros(gray.shape, np.float32)
    return np.minimum(rel * (1.0 / ref), 1.0)


# ---- one edge ---------------------------------------------------------------------

def edge_patch(ink: np.ndarray, xs: np.ndarray, ys: np.ndarray, r: int, c: int,
               vertical: bool, v_lines: np.ndarray | None = None,
               h_lines: np.ndarray | None = None) -> np.ndarray:
    """The ink around one edge, rotated so the edge runs down the middle column.

    Returns an array ``(along, across)``; rows follow the edge, the middle column is
    the nominal line position. Vertical edge (r, c) lies between cells (r, c) and
    (r, c + 1); horizontal edge (r, c) between (r, c) and (r + 1, c).
    ``v_lines[k, r]`` / ``h_lines[k, c]`` (optional, (N+1, N)) are the local
    positions of line k at row r / column c, for slightly curved pages.
    """
    if vertical:
        x0 = xs[c + 1] if v_lines is None else v_lines[c + 1, r]
        y_a, y_b = ys[r], ys[r + 1]
        cell = min(xs[c + 1] - xs[c], xs[c + 2] - xs[c + 1])
        return _strip(ink, x0, y_a, y_b, cell)
    y0 = ys[r + 1] if h_lines is None else h_lines[r + 1, c]
    x_a, x_b = xs[c], xs[c + 1]
    cell = min(ys[r + 1] - ys[r], ys[r + 2] - ys[r + 1])
    return _strip(ink.T, y0, x_a, x_b, cell)


def _strip(ink: np.ndarray, x0: float, a: float, b: float, cell: float) -> np.ndarray:
    h, w = ink.shape
    half = max(2, int(round(cell * ACROSS)))
    xc = int(round(x0))
    lo, hi = int(round(a + ALONG[0] * (b - a))), int(round(a + ALONG[1] * (b - a)))
    cols = np.clip(np.arange(xc - half, xc + half + 1), 0, w - 1)
    rows = slice(max(lo, 0), min(max(hi, lo + 1), h))
    return ink[rows][:, cols]


def line_run(profile: np.ndarray, search: int, level: float = 0.25) -> tuple[int, int]:
    """Columns ``[start, stop)`` of the grid line in a cross profile.

    The line is the darkest column within ``search`` of the middle, extended while
    the profile stays above ``level`` of that peak (a blurred line's shoulders) and
    does not climb back up (by more than ``RISE_TOL`` of the peak) from the lowest
    value walked so far.
    """
    mid = len(profile) // 2
    lo, hi = max(0, mid - search), min(len(profile), mid + search + 1)
    peak = lo + int(np.argmax(profile[lo:hi]))
    floor = level * profile[peak]
    tol = RISE_TOL * profile[peak]
    start, stop = peak, peak + 1
    # A rise out of a valley is the next stroke (an inset cage outline beside a
    # thick line), not this line; but the flat top of a thick line wobbles by a few
    # percent in photos (noise, JPEG), and a strict "keeps falling" stops there.
    low = profile[peak]
    while start > 0 and floor < profile[start - 1] <= low + tol:
        start -= 1
        low = min(low, profile[start])
    low = profile[peak]
    while stop < len(profile) and floor < profile[stop] <= low + tol:
        low = min(low, profile[stop])
        stop += 1
    return start, stop


def line_runs(profiles: np.ndarray, search: int, level: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_run` of every row of ``profiles`` (E, W) at once: (starts, stops),
    each (E,) int, equal to the one-profile walks (same float32 comparisons)."""
    e, w = profiles.shape
    if e == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    mid = w // 2
    lo, hi = max(0, mid - search), min(w, mid + search + 1)
    peak = lo + np.argmax(profiles[:, lo:hi], axis=1)
    rows = np.arange(e)[:, None]
    top = profiles[rows[:, 0], peak]
    floor = (level * top)[:, None]
    tol = (RISE_TOL * top)[:, None]
    steps = np.arange(1, w + 1)
    walked = []
    for sign in (-1, 1):
        # The walk's k-th step looks at peak + sign * (k + 1), while it stays above the
        # floor and within tol of the lowest value so far (the peak included).
        idx = peak[:, None] + sign * steps[None, :]
        inside = (idx >= 0) & (idx < w)
        vals = profiles[rows, np.clip(idx, 0, w - 1)]
        low = np.minimum.accumulate(np.concatenate([top[:, None], vals[:, :-1]], axis=1), axis=1)
        ok = inside & (floor < vals) & (vals <= low + tol)
        walked.append(np.where(ok.all(axis=1), w, np.argmin(ok, axis=1)))
    return peak - walked[0], peak + 1 + walked[1]


def dash_score(patch: np.ndarray, exclude: tuple[int, int], cell: float) -> float:
    """Evidence (0..1) of a dashed or dotted line parallel to the edge, off the grid line.

    For every column outside ``exclude`` (the grid line, widened by a pixel), the
    ink along the edge is thresholded; a dashed line shows as a column (or pair of
    neighbouring columns, for a line between pixel centres) that is inked for 20 to
    90 % of its length in at least three separate runs, within a narrow band of
    columns (a line, not the rows of a clue's text, which spread over many columns).
    A digit stroke near the edge is a single run and a solid line has no gaps, so
    neither scores.
    """
    return float(dash_scores(patch[None], np.array([exclude]), cell)[0])


def dash_scores(patches: np.ndarray, exclude: np.ndarray, cell: float) -> np.ndarray:
    """:func:`dash_score` for a stack of patches (E, L, W); ``exclude`` is (E, 2).

    A dash column must also have dashes at least ``0.02`` cells (2 px) long on
    average: a wobbling line's shoulder flickers on and off in one-pixel runs."""
    on = patches > 0.35
    paired = on[:, :, :-1] | on[:, :, 1:]  # a 1-2 px line can straddle two columns
    frac = paired.mean(axis=1)
    rises = np.count_nonzero(np.diff(paired.astype(np.int8), axis=1) == 1, axis=1) + paired[:, 0]
    length = paired.shape[1]
    mean_on = frac * length / np.maximum(rises, 1)
    mean_off = (1 - frac) * length / np.maximum(rises, 1)
    min_len = max(2.0, 0.02 * cell)
    min_runs = 3 if patches.shape[1] >= 0.45 * cell else 2
    cols = np.arange(paired.shape[2])[None, :]
    start, stop = exclude[:, :1], exclude[:, 1:]
    ok = ((cols < start) | (cols >= stop)) & (frac >= 0.2) & (frac <= 0.9) & (rises >= min_runs)
    ok &= (mean_on >= min_len) & (mean_off >= 1.0)
    # A dashed line is a narrow band of broken columns; a row of clue text breaks
    # many neighbouring columns (solid columns of a grid line beside it do not count).
    band = max(3, int(round(0.07 * cell)))
    broken = np.pad(((rises >= 2) & (frac >= 0.1)).astype(np.int32), ((0, 0), (band, band)))
    wide = sum(broken[:, band + d:band + d + frac.shape[1]] for d in range(-band, band + 1))
    ok &= wide <= band
    score = np.minimum(1.0, rises / (min_runs + 2)) * np.minimum(1.0, 2.5 * np.minimum(frac, 1 - frac) + 0.5)
    return np.where(ok, score, 0.0).max(axis=1, initial=0.0)



def measure_edge(patch: np.ndarray, cell: float) -> tuple[float, float]:
    """(ink width in px, dash evidence 0..1) of one edge patch from :func:`edge_patch`."""
    if patch.size == 0:
        return 0.0, 0.0
    profile = patch.mean(axis=0)
    start, stop = line_run(profile, max(1, int(cell * 0.08)))
    width = float(profile[start:stop].sum())
    return width, dash_score(patch, (start, stop), cell)


# ---- the whole grid ---------------------------------------------------------------

def edge_patches(ink: np.ndarray, xs: np.ndarray, ys: np.ndarray, v_lines=None, h_lines=None
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """All edge patches at once: (vertical (N*(N-1), L, W), horizontal ((N-1)*N, L, W), cell px).

    Same geometry as :func:`edge_patch` (which is the readable one-edge version),
    but gathered with one fancy-indexing operation per direction, resampled to a
    common length ``L`` so every edge can be measured in one vectorised pass.
    Vertical patches are in (r, c) order of ``EdgeMap.vertical``, horizontal in
    (r, c) order of ``EdgeMap.horizontal``.
    """
    n = len(xs) - 1
    cell = float(min(np.diff(xs).mean(), np.diff(ys).mean()))
    half = max(2, int(round(cell * ACROSS)))
    length = max(4, int(round(cell * (ALONG[1] - ALONG[0]))))
    t = ALONG[0] + (np.arange(length) + 0.5) / length * (ALONG[1] - ALONG[0])
    offs = np.arange(-half, half + 1)
    # Vertical edges: line k = c + 1 at row r; span ys[r]..ys[r+1].
    r_idx, c_idx = np.mgrid[0:n, 0:n - 1]
    x0 = xs[c_idx + 1] if v_lines is None else np.asarray(v_lines)[c_idx + 1, r_idx]
    a, b = ys[r_idx], ys[r_idx + 1]
    vert = _gather(ink, x0.ravel(), a.ravel(), b.ravel(), t, offs)
    # Horizontal edges: line k = r + 1 at column c; span xs[c]..xs[c+1]; on the transpose.
    r_idx, c_idx = np.mgrid[0:n - 1, 0:n]
    y0 = ys[r_idx + 1] if h_lines is None else np.asarray(h_lines)[r_idx + 1, c_idx]
    a, b = xs[c_idx], xs[c_idx + 1]
    horiz = _gather(ink.T, y0.ravel(), a.ravel(), b.ravel(), t, offs)
    return vert, horiz, cell


def normalised_patches(patches: np.ndarray) -> np.ndarray:
    """Edge patches (E, L, W) of ink 0..1 resampled to (E, PATCH_ALONG, PATCH_ACROSS) ``uint8``.

    The edge classifier's input: every patch spans the same fraction of a cell
    (``ALONG`` x ``2 * ACROSS``) whatever the image's resolution, so a dash
    pattern or a stroke width reads in cell units. Area resampling averages
    rather than skips pixels, so thin strokes and short dashes survive downscaling.
    """
    if len(patches) == 0:
        return np.zeros((0, PATCH_ALONG, PATCH_ACROSS), np.uint8)
    _, length, width = patches.shape
    out = _area_matrix(length, PATCH_ALONG) @ patches.astype(np.float32) @ _area_matrix(width, PATCH_ACROSS).T
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of area resampling: output bin j averages the input over
    [j, j + 1) * n_in / n_out, each pixel weighted by its overlap."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0.0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def _gather(ink: np.ndarray, x0, a, b, t, offs) -> np.ndarray:
    h, w = ink.shape
    rows = np.clip(np.round(a[:, None] + t[None, :] * (b - a)[:, None]).astype(np.intp), 0, h - 1)
    cols = np.clip(np.round(x0).astype(np.intp)[:, None] + offs[None, :], 0, w - 1)
    return ink[rows[:, :, None], cols[:, None, :]]


def measure_edges(patches: np.ndarray, cell: float,
                  ref_width: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ink widths, dash evidence) of a stack of edge patches (E, L, W), as :func:`measure_edge`.

    ``ref_width`` (E,): the width of a bare line of each edge's class; dashes are
    looked for beyond its half-width (+1 px) from the line's core centre. Without it
    the edge's own width is used (an outline touching a thick line then hides in it).
    """
    e = len(patches)
    widths = np.zeros(e, np.float32)
    dashes = np.zeros(e, np.float32)
    if e == 0:
        return widths, dashes
    profiles = patches.mean(axis=1)
    search = max(1, int(cell * 0.08))
    widths[:] = ink_widths(patches, cell)
    # The core (above 60 % of the peak) locates the line even when a cage outline
    # touches its blurred shoulder.
    cores = zip(*line_runs(profiles, search, 0.6))
    centres = np.array([_centroid(profiles[i], a, b) for i, (a, b) in enumerate(cores)])
    ref = widths if ref_width is None else np.minimum(widths, ref_width)
    half = np.ceil(ref / 2.0).astype(int) + 1
    dashes[:] = dash_scores(patches, np.stack([centres - half + 1, centres + half], axis=1), cell)
    return widths, dashes


def ink_widths(patches: np.ndarray, cell: float, along=np.mean) -> np.ndarray:
    """(E,) ink width in px of each patch's grid line (see :func:`line_run`), from the
    cross profile reduced ``along`` the edge (``np.median``: :func:`line_widths`)."""
    profiles = along(patches, axis=1)
    search = max(1, int(cell * 0.08))
    out = np.zeros(len(patches), np.float32)
    starts, stops = line_runs(profiles, search)
    for i, (start, stop) in enumerate(zip(starts.tolist(), stops.tolist())):
        out[i] = profiles[i, start:stop].sum()
    return out


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


def _centres(patches: np.ndarray, cell: float) -> np.ndarray:
    """Column of each line's core centre (see :func:`measure_edges`)."""
    profiles = patches.mean(axis=1)
    search = max(1, int(cell * 0.08))
    return np.array([_centroid(p, a, b) for p, a, b in zip(profiles, *line_runs(profiles, search, 0.6))])


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
    cut = max(OUTLINE_INK, _otsu(outline))
    evidence = np.maximum(pattern, np.clip(outline / (2 * cut), 0.0, 1.0)).astype(np.float32)
    if not caged:
        return np.zeros(len(pattern), bool), evidence
    return (pattern >= 0.5) | (outline >= cut), evidence


def _otsu(values: np.ndarray) -> float:
    """The threshold between two groups of values (Otsu's criterion), or 0."""
    v = np.sort(np.asarray(values, np.float64))
    if len(v) < 4:
        return 0.0
    best, cut = -1.0, 0.0
    for i in range(1, len(v)):
        a, b = v[:i], v[i:]
        between = len(a) * len(b) * (a.mean() - b.mean()) ** 2
        if between > best:
            best, cut = between, 0.5 * (v[i - 1] + v[i])
    return cut


def _centroid(profile: np.ndarray, start: int, stop: int) -> int:
    """Ink-weighted centre column of ``profile[start:stop]`` (a flat-topped thick line's middle)."""
    w = profile[start:stop]
    return int(round(float((np.arange(start, stop) * w).sum() / max(float(w.sum()), 1e-6))))


def classify_edges(gray: np.ndarray, xs, ys, ink: np.ndarray | None = None,
                   v_lines: np.ndarray | None = None, h_lines: np.ndarray | None = None,
                   model: str | Path | None = EDGE_MODEL) -> EdgeMap:
    """Measure and classify every inner edge of the grid.

    Parameters
    ----------
    gray : (H, W) uint8 grayscale (or BGR) warped grid.
    xs, ys : the N + 1 pixel positions of the vertical / horizontal grid lines.
    ink : optional precomputed :func:`ink_map` of ``gray``.
    v_lines, h_lines : optional local line positions (see :func:`edge_patch`).
    model : the edge classifier's ONNX weights (``weights/edges.onnx``); ``None``,
        or a missing file, falls back to the hand-measured rules alone.

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
        outline = outline_ink(patches.mean(axis=1), _centres(patches, cell), ref, cell)
        dashed, evidence = decide_outlines(pattern, outline)
    seen = line_contrast(patches, cell) >= LINE_CONTRAST
    if seen.mean() < 0.5:
        # No grid lines where the lattice says (noise, a wrong lattice, not a grid):
        # nothing can be read, and every edge without a line is in doubt.
        thick, dashed = np.zeros_like(thick), np.zeros_like(dashed)
        doubtful, contrast = int((~seen).sum()), 1.0
    k = len(vert)
    return EdgeMap(size=n,
                   vertical=thick[:k].reshape(n, n - 1).astype(np.int8),
                   horizontal=thick[k:].reshape(n - 1, n).astype(np.int8),
                   dashed_v=dashed[:k].reshape(n, n - 1), dashed_h=dashed[k:].reshape(n - 1, n),
                   width_v=widths[:k].reshape(n, n - 1), width_h=widths[k:].reshape(n - 1, n),
                   dash_v=evidence[:k].reshape(n, n - 1), dash_h=evidence[k:].reshape(n - 1, n),
                   thin_width=thin, contrast=contrast, doubtful=doubtful, learned=probs is not None,
                   thick_margin=margin)


def line_contrast(patches: np.ndarray, cell: float) -> np.ndarray:
    """(E,) how far each edge's line stands out of its surroundings: the darkest
    column of the cross profile near the middle minus the profile's median (ink
    0..1). Printed and photographed lines give 0.4 and more, noise under 0.2."""
    if len(patches) == 0:
        return np.zeros(0, np.float32)
    profiles = patches.mean(axis=1)
    mid, search = profiles.shape[1] // 2, max(1, int(cell * 0.08))
    core = profiles[:, max(0, mid - search):mid + search + 1].max(axis=1)
    return (core - np.median(profiles, axis=1)).astype(np.float32)


def edge_probabilities(patches: np.ndarray, model: str | Path | None = EDGE_MODEL) -> np.ndarray | None:
    """(E, 4) class probabilities (``EDGE_CLASSES``) of edge patches from
    :func:`edge_patches`, or None when there is no model file."""
    if model is None or not Path(model).is_file():
        return None
    net, lock = _edge_net(str(model))
    if len(patches) == 0:
        return np.zeros((0, len(EDGE_CLASSES)), np.float32)
    blob = normalised_patches(patches).astype(np.float32)[:, None] / 255.0
    with lock:  # a cv2.dnn.Net runs one forward pass at a time
        net.setInput(blob)
        logits = net.forward().reshape(len(patches), -1).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    # float64: decide_edges takes logs of the small ones (down to ~1e-30).
    return e / e.sum(axis=1, keepdims=True)


@lru_cache(maxsize=2)
def _edge_net(path: str):
    """The ONNX edge classifier (loaded once per file) and its lock.

    OpenCV 5's classic dnn engine runs this small CNN in about 60 % of the new
    engine's time on one thread (144 patches: 16 against 27 ms); its logits differ
    by float rounding only (under 2e-5), and every read of 280 development renders
    came out the same. OpenCV 4 has only the classic engine."""
    import threading
    try:
        if hasattr(cv2.dnn, "ENGINE_CLASSIC"):
            return cv2.dnn.readNetFromONNX(path, cv2.dnn.ENGINE_CLASSIC), threading.Lock()
        return cv2.dnn.readNetFromONNX(path), threading.Lock()
    except cv2.error as exc:
        from vlm_puzzle.errors import ModelError
        raise ModelError(f"cannot load edge classifier {path}: {exc}", code="weights_invalid") from None


def decide_edges(probs: np.ndarray, widths: np.ndarray, line_widths=None):
    """(thick, dashed, dash evidence, thin width, contrast, doubtful, margin) from the
    classifier's probabilities (E, 4) in ``EDGE_CLASSES`` order and the measured
    ink widths (E,) in px.

    Dashed: the grid as a whole first (at least ``CAGED_SHARE`` of its edges look
    dashed), then each edge by its own probability; a plain grid has no dashed
    edges, whatever a photo's blur or a clue's text does to a few of them.

    Thick is relative to the image (one print's thick line can be another's thin
    one), so it is decided per image: each edge's log-odds of thick against thin
    given its dash class (dashed edges and plain edges are scored apart, as the
    outline shifts the network's scores) is split in two per class (Otsu). Groups
    whose medians differ by less than ``THICK_GAP`` nats are one kind of line,
    named by the sign of their median. ``doubtful``: edges within a quarter of
    the gap of the cut, or with a dash probability within ``DOUBT`` of 0.5 in a
    caged grid. Thin width and thick-to-thin ratio (``contrast``, 1.0 when every
    line is thin) are reported from the measured widths of the two groups.
    Edges near the cut are decided with their line's width too
    (:func:`_weigh_widths`; ``line_widths``: a function giving the widths of an
    index array of edges, as :func:`line_widths` measures them; default ``widths``). Last item: each edge's signed distance from the cut in
    gaps (``THICK_MARGIN`` for groups of one kind of line): under a quarter, the
    edge is in doubt.
    """
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-30))
    p_dash = probs[:, 2] + probs[:, 3]
    # N from the edge count 2N(N-1): edges in EdgeMap order (vertical, then horizontal).
    n = int(round(0.5 + np.sqrt(0.25 + len(probs) / 2.0)))
    n = n if 2 * n * (n - 1) == len(probs) else 0
    caged = float(np.mean(p_dash >= 0.5)) >= CAGED_SHARE
    dashed = (p_dash >= 0.5) & caged
    # Plain edges: thick against thin whatever the dash class, so that an edge that
    # looks dashed in a grid without cages cannot make a group of its own.
    plain = np.log(np.maximum(probs[:, 1] + probs[:, 3], 1e-30)) - np.log(np.maximum(probs[:, 0] + probs[:, 2], 1e-30))
    odds = np.where(dashed, logp[:, 3] - logp[:, 2], plain)
    thick = np.zeros(len(odds), bool)
    margin = np.zeros(len(odds), np.float32)
    doubtful = int(np.sum(np.abs(p_dash - 0.5) < DOUBT)) if caged else 0
    for group in (dashed, ~dashed):
        v = odds[group]
        if len(v) < 4:
            thick[group] = v > 0
            margin[group] = np.where(v > 0, THICK_MARGIN, -THICK_MARGIN)
            continue
        cut, low, high = _otsu_groups(v)
        gap = float(np.median(high) - np.median(low))
        w = widths[group]
        upper = v >= cut
        wider = float(np.median(w[upper]) / max(float(np.median(w[~upper])), 1e-3)) if 0 < upper.sum() < len(v) else 1.0
        # A thick line is also measurably wider: a line the printer merely drew
        # twice over, a shade darker, is no thick line. A clearly wider group is
        # thick on a smaller gap (the classifier judges width in cell units: the
        # thick lines of a big-celled 6x6 print can read as thin-ish).
        two = (gap >= THICK_GAP and wider >= MIN_WIDER) or (gap >= THICK_GAP / 2 and wider >= CLEAR_WIDER)
        if not two or min(len(low), len(high)) < MIN_LINE_SHARE * len(v):
            thick[group] = np.median(v) > 0
            margin[group] = THICK_MARGIN if np.median(v) > 0 else -THICK_MARGIN
        else:
            near = np.abs(v - cut) < 0.25 * gap
            members = np.nonzero(group)[0]
            runs = _line_runs(group, n) if n and near.sum() >= MIN_RUN else []
            # The line widths are measured only when a run asks for them.
            line_of = (lambda idx, m=members: np.asarray(line_widths(m[idx]), np.float64)) if line_widths \
                else (lambda idx, m=members: widths[m[idx]])
            thick[members] = _weigh_widths(v, upper, near, (widths[members], line_of), low, high, runs)
            margin[group] = (v - cut) / gap
            doubtful += int(np.sum(near))
    thin = float(np.median(widths[~thick])) if (~thick).any() else float(np.median(widths))
    contrast = 1.0
    if thick.any() and (~thick).any():
        contrast = max(float(np.median(widths[thick])) / max(thin, 1e-3), 1.0 + 1e-3)
    return thick, dashed, p_dash.astype(np.float32), thin, contrast, doubtful, margin


def _weigh_widths(odds: np.ndarray, upper: np.ndarray, near: np.ndarray, widths,
                  low: np.ndarray, high: np.ndarray, runs: list[np.ndarray]) -> np.ndarray:
    """Thick per edge of one group: ``upper`` (Otsu's side of the cut on the log-odds),
    except along ``runs`` (index arrays of edges that follow one another on one grid
    line) of ``MIN_RUN`` or more edges all ``near`` the cut: a line the print or the
    warp made a shade heavier than the other thin lines, or lighter than the thick
    ones, reads half-way in log-odds, a third group that Otsu's split gives to either
    side. Such a run is decided as one line by its median score: how far it lies
    towards the thick side in log-odds (from the middle of the two groups'
    medians, in half gaps) plus how far in log width (from the geometric middle of
    the sure thin and sure thick edges' median widths, in half their log ratio).
    Single edges keep Otsu's side: a digit or clue touching one edge adds width.
    ``widths``: (group ink widths, function of group indices giving the line
    widths of :func:`line_widths`, the median profile's: a digit touching one edge
    of the run does not widen it)."""
    out = upper.copy()
    sure_thin, sure_thick = ~upper & ~near, upper & ~near
    if not near.any() or not sure_thin.any() or not sure_thick.any():
        return out
    segments = [seg for run in runs for seg in _stretches(run, near[run], MIN_RUN)]
    if not segments:
        return out
    ink, line_of = widths
    lo_w = np.log(max(float(np.median(ink[sure_thin])), 1e-3))
    hi_w = np.log(max(float(np.median(ink[sure_thick])), 1e-3))
    if hi_w - lo_w < np.log(MIN_WIDER):
        return out
    mid_v, half_v = 0.5 * (np.median(low) + np.median(high)), 0.5 * (np.median(high) - np.median(low))
    for seg in segments:
        w = np.log(np.maximum(line_of(seg), 1e-3))
        score = (odds[seg] - mid_v) / half_v + (w - 0.5 * (lo_w + hi_w)) / (0.5 * (hi_w - lo_w))
        out[seg] = float(np.median(score)) > 0
    return out


def _stretches(run: np.ndarray, keep: np.ndarray, min_len: int) -> list[np.ndarray]:
    """Maximal stretches of consecutive items of ``run`` whose ``keep`` (a mask
    aligned with ``run``) holds, each at least ``min_len`` long."""
    out, cur = [], []
    for item, k in zip(list(run) + [None], list(keep) + [False]):
        if k:
            cur.append(item)
            continue
        if len(cur) >= min_len:
            out.append(np.array(cur))
        cur = []
    return out


def _line_runs(group: np.ndarray, n: int) -> list[np.ndarray]:
    """Edges of ``group`` (a mask over the N(N-1) vertical then (N-1)N horizontal
    edges) by grid line, in order along the line, as indices into the group."""
    pos = -np.ones(len(group), int)
    pos[group] = np.arange(int(group.sum()))
    k = n * (n - 1)
    runs = []
    for c in range(n - 1):          # vertical line c + 1: edges (r, c), r = 0..N-1
        runs.append(pos[[r * (n - 1) + c for r in range(n)]])
    for r in range(n - 1):          # horizontal line r + 1: edges (r, c), c = 0..N-1
        runs.append(pos[[k + r * n + c for c in range(n)]])
    # An edge outside the group breaks the run.
    return [seg for run in runs for seg in _stretches(run, run >= 0, 1)]


def line_widths(patches: np.ndarray, cell: float) -> np.ndarray:
    """(E,) ink width in px of each patch's grid line from the *median* cross profile
    along the edge: a digit or a clue touching the line over part of its length
    does not widen it (:func:`ink_widths` takes the mean)."""
    return ink_widths(patches, cell, along=np.median)


def _otsu_groups(values: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(cut, lower group, upper group) of Otsu's two-group split of ``values``."""
    v = np.sort(np.asarray(values, np.float64))
    n = len(v)
    i = np.arange(1, n)
    csum = np.cumsum(v)
    mean_a = csum[:-1] / i
    mean_b = (csum[-1] - csum[:-1]) / (n - i)
    k = int(np.argmax(i * (n - i) * (mean_a - mean_b) ** 2)) + 1
    return 0.5 * (v[k - 1] + v[k]), v[:k], v[k:]


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
    i_best = len(_otsu_groups(np.log(w))[1])
    thin, thick = float(np.median(w[:i_best])), float(np.median(w[i_best:]))
    ratio = thick / max(thin, 1e-3)
    if ratio < THICK_RATIO:
        return float(np.median(w)), 1.0, float("inf")
    return thin, ratio, float(np.sqrt(w[i_best - 1] * w[i_best]))


# ---- regions and cages -----------------------------------------------------------

def components(n: int, join_v: np.ndarray, join_h: np.ndarray) -> np.ndarray:
    """Label cells joined across open edges; returns an (N, N) int array.

    ``join_v[r, c]`` / ``join_h[r, c]`` say whether the vertical / horizontal edge
    (same indexing as :class:`EdgeMap`) lets the two cells be in one group. Labels
    are 0.. in reading order of each group's first cell. (The cells and open edges
    are drawn in a (2N - 1)-pixel square whose 4-connected components are the groups.)
    """
    if n <= 0:
        return np.zeros((0, 0), np.int32)
    img = np.zeros((2 * n - 1, 2 * n - 1), np.uint8)
    img[::2, ::2] = 1
    img[::2, 1::2] = np.asarray(join_v).astype(bool)
    img[1::2, ::2] = np.asarray(join_h).astype(bool)
    _, labels = cv2.connectedComponents(img, connectivity=4, ltype=cv2.CV_32S)
    _, first, inverse = np.unique(labels[::2, ::2].ravel(), return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int32)
    rank[np.argsort(first)] = np.arange(len(first), dtype=np.int32)
    return rank[inverse].reshape(n, n)


def thick_regions(edges: EdgeMap) -> np.ndarray:
    """Regions (jigsaw) or KenKen cages: cells connected across thin edges."""
    return components(edges.size, edges.vertical == THIN, edges.horizontal == THIN)


def dashed_cages(edges: EdgeMap) -> np.ndarray:
    """Killer cages: cells connected across edges with no dashed cage outline."""
    return components(edges.size, ~edges.dashed_v, ~edges.dashed_h)


def groups_of(labels: np.ndarray) -> list[tuple[Cell, ...]]:
    """Cells of each label, in label order, each group in reading order."""
    n_r, n_c = labels.shape
    flat = np.asarray(labels).ravel()
    order = np.argsort(flat, kind="stable").tolist()
    cuts = np.flatnonzero(np.diff(flat[order])) + 1
    cells = [divmod(i, n_c) for i in order]
    bounds = [0, *cuts.tolist(), len(cells)]
    return [tuple(cells[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
