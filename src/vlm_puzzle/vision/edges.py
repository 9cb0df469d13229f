"""Measuring the edges between cells of a warped grid: patches, ink widths, dash patterns.

Everything here works on a *warped square grid*: an ink map (:mod:`vlm_puzzle.vision.ink`)
in which the grid is axis-aligned, plus the pixel positions of its ``N + 1`` vertical
(``xs``) and horizontal (``ys``) lines. Edges between neighbouring cells are held
in two arrays:

* ``vertical[r, c]``  -- the edge between cell ``(r, c)`` and ``(r, c + 1)``, shape ``(N, N - 1)``;
* ``horizontal[r, c]`` -- the edge between cell ``(r, c)`` and ``(r + 1, c)``, shape ``(N - 1, N)``.

Widths are measured as *ink width*: the integral, across the line, of the
normalised darkness (0 = paper, 1 = the grid's darkest ink), in pixels. It folds
stroke width and darkness into one number, so a faint blurred thin line in a photo
and a crisp 1 px line both read as thin, and it is compared with the grid's own
thin lines rather than with a fixed number of pixels.
"""
from __future__ import annotations

import numpy as np

# Part of each edge that is measured, as fractions of the cell side: the ends are
# left out because lines cross there and cage outlines turn corners there.
ALONG = (0.2, 0.8)
# How far across an edge the profile reaches (fraction of a cell): far enough for an
# inset cage outline, short of the digit printed in the middle of the cell.
ACROSS = 0.24
# The cell-normalised edge patch the edge classifier reads (px): along the edge
# fine enough for the shortest dash period (0.08 cell). (32 x 16 runs twice as
# fast but misread 2 of 199 development grids, against none.)
PATCH_ALONG, PATCH_ACROSS = 32, 32
# How far (fraction of the line's peak darkness) a line's profile may climb back
# while walking out from its peak: flat-top noise, not a second stroke.
RISE_TOL = 0.08


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


def line_widths(patches: np.ndarray, cell: float) -> np.ndarray:
    """(E,) ink width in px of each patch's grid line from the *median* cross profile
    along the edge: a digit or a clue touching the line over part of its length
    does not widen it (:func:`ink_widths` takes the mean)."""
    return ink_widths(patches, cell, along=np.median)


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


def line_steadiness(patches: np.ndarray, cell: float) -> np.ndarray:
    """(E,) share of the rows along each edge whose darkest pixel near the middle reaches
    half the mean profile's: about 1.0 for a printed line however faint (it runs the whole
    edge), less for the specks and grain of a lattice laid where no line is."""
    if len(patches) == 0:
        return np.zeros(0, np.float32)
    mid, search = patches.shape[2] // 2, max(1, int(cell * 0.08))
    band = patches[:, :, max(0, mid - search):mid + search + 1]
    core = band.mean(axis=1).max(axis=1)
    return (band.max(axis=2) >= 0.5 * core[:, None]).mean(axis=1).astype(np.float32)


def line_centres(patches: np.ndarray, cell: float) -> np.ndarray:
    """Column of each line's core centre (see :func:`measure_edges`)."""
    profiles = patches.mean(axis=1)
    search = max(1, int(cell * 0.08))
    return np.array([_centroid(p, a, b) for p, a, b in zip(profiles, *line_runs(profiles, search, 0.6))])


def _centroid(profile: np.ndarray, start: int, stop: int) -> int:
    """Ink-weighted centre column of ``profile[start:stop]`` (a flat-topped thick line's middle)."""
    w = profile[start:stop]
    return int(round(float((np.arange(start, stop) * w).sum() / max(float(w.sum()), 1e-6))))
