"""The learned edge classifier (``weights/edges.onnx``, trained by
``training/train_edges.py`` on the project's own renders) and the per-image decision
on its outputs: dashed-or-not per edge, thick-or-thin per image (:func:`decide_edges`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlm_puzzle.vision.edges import normalised_patches
from vlm_puzzle.vision.gray import otsu_split
from vlm_puzzle.vision.nets import Net, load_net

# The learned edge classifier (training/train_edges.py) and its classes, in output order.
EDGE_MODEL = Path(__file__).with_name("weights") / "edges.onnx"
EDGE_CLASSES = ("thin", "thick", "thin+dashed", "thick+dashed")
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
# Least ratio of the thick edges' 10th percentile width to the thin edges' 90th for
# widths alone to split lines the classifier calls one kind (few edges in between).
WIDTH_APART = 1.3


@dataclass(frozen=True)
class EdgeNet:
    """The loaded edge classifier (:func:`load_edge_net`)."""

    net: Net


def load_edge_net(path: str | Path | None = EDGE_MODEL) -> EdgeNet | None:
    """The ONNX edge classifier at ``path``, or None when there is no file (the hand
    rules decide then). Its owner keeps it (:class:`~vlm_puzzle.vision.GridReader`).

    Run by OpenCV, its dnn's classic engine (OpenCV 5) runs this small CNN in about 60 % of
    the new engine's time on one thread (144 patches: 16 against 27 ms); its logits differ
    by float rounding only (under 2e-5), and every read of 280 development renders
    came out the same. OpenCV 4 has only the classic engine."""
    if path is None or not Path(path).is_file():
        return None
    return EdgeNet(load_net(path, "edge classifier", classic=True))


def edge_probabilities(patches: np.ndarray, model: EdgeNet | str | Path | None = EDGE_MODEL) -> np.ndarray | None:
    """(E, 4) class probabilities (``EDGE_CLASSES``) of edge patches from
    :func:`edge_patches`, or None without a model. ``model``: the loaded network, or
    the path of its weights (loaded for this call); None or a missing file: no model."""
    edge_net = model if isinstance(model, EdgeNet) else load_edge_net(model)
    if edge_net is None:
        return None
    if len(patches) == 0:
        return np.zeros((0, len(EDGE_CLASSES)), np.float32)
    blob = normalised_patches(patches).astype(np.float32)[:, None] / 255.0
    logits = edge_net.net(blob).reshape(len(patches), -1).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    # float64: decide_edges takes logs of the small ones (down to ~1e-30).
    return e / e.sum(axis=1, keepdims=True)


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
    for plain, group in ((False, dashed), (True, ~dashed)):
        v = odds[group]
        if len(v) < 4:
            thick[group] = v > 0
            margin[group] = np.where(v > 0, THICK_MARGIN, -THICK_MARGIN)
            continue
        cut, low, high = otsu_split(v)
        gap = float(np.median(high) - np.median(low))
        w = widths[group]
        upper = v >= cut
        wider = float(np.median(w[upper]) / max(float(np.median(w[~upper])), 1e-3)) if 0 < upper.sum() < len(v) else 1.0
        # A thick line is also measurably wider: a line the printer merely drew
        # twice over, a shade darker, is no thick line. A clearly wider group is
        # thick on a smaller gap (the classifier judges width in cell units: the
        # thick lines of a big-celled 6x6 print can read as thin-ish).
        two = (gap >= THICK_GAP and wider >= MIN_WIDER) or (gap >= THICK_GAP / 2 and wider >= CLEAR_WIDER)
        apart = width_split(widths) if plain and not two and not dashed.any() else None
        if apart is not None and not forms_regions(apart, n):
            apart = None     # widths alone are trusted only for boxes or a jigsaw's regions
        if apart is not None:
            # The classifier judges width in cell units and sees one kind of line, but
            # the ink widths fall in two groups clearly apart (a large print's thin
            # and thick lines both under 2% of the cell): the ratio decides.
            thick[group] = apart
            margin[group] = np.where(apart, THICK_MARGIN, -THICK_MARGIN)
        elif not two or min(len(low), len(high)) < MIN_LINE_SHARE * len(v):
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


def forms_regions(thick: np.ndarray, n: int) -> bool:
    """Whether thick edges (E,) (vertical then horizontal, ``EdgeMap`` order) of an
    n x n grid enclose n groups of n cells."""
    from vlm_puzzle.vision.regions import components   # regions builds on borders, which imports this
    if n < 2 or len(thick) != 2 * n * (n - 1):
        return False
    k = n * (n - 1)
    labels = components(n, ~thick[:k].reshape(n, n - 1), ~thick[k:].reshape(n - 1, n))
    counts = np.bincount(labels.ravel())
    return len(counts) == n and bool((counts == n).all())


def width_split(widths: np.ndarray) -> np.ndarray | None:
    """(E,) bool, the thick edges, when ink ``widths`` (E,) fall in two groups of at
    least ``MIN_LINE_SHARE`` each (Otsu on log width), whose medians differ by
    ``CLEAR_WIDER`` or more and whose 10th percentile of thick is ``WIDTH_APART``
    times the 90th percentile of thin; the cut lies half-way between the medians
    (log). Else None."""
    w = np.asarray(widths, np.float64)
    if len(w) < 4 or (w < 0.05 * np.percentile(w, 90)).any():
        return None          # edges without a line where the lattice says: widths mean nothing
    logw = np.log(np.maximum(w, 1e-3))
    cut, low, high = otsu_split(logw)
    if min(len(low), len(high)) < MIN_LINE_SHARE * len(logw):
        return None
    lo, hi = float(np.median(low)), float(np.median(high))
    if hi - lo < np.log(CLEAR_WIDER) or np.percentile(high, 10) - np.percentile(low, 90) < np.log(WIDTH_APART):
        return None
    return logw > 0.5 * (lo + hi)


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
