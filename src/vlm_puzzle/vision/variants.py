"""Everything a variant puzzle adds to a plain grid: borders, regions, cages and their clues, marks.

:func:`read_variants` takes a located grid's geometry (warped square grid and its
line positions) and returns a :class:`VariantState`; :func:`read_variants_image` does the
same from a bare warped image and line positions. Nothing here decides the kind of
puzzle (that is :mod:`vlm_puzzle.rules.geometry`); it reports what is drawn, with
confidences and a list of human-readable uncertainties.

Cage systems, in order of evidence:

* dashed inset outlines (killer): cells joined across edges without a dashed line,
  clue = a bare sum;
* thick borders that enclose groups of other than N cells (KenKen): cells joined
  across thin edges, clue = number and operator;
* thick borders that enclose N groups of N cells: regions (boxes or jigsaw).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vlm_puzzle.spec import SUDOKU_SIZES
from vlm_puzzle.vision import borders as B
from vlm_puzzle.vision.clues import Clue, ClueReader, read_clues
from vlm_puzzle.vision.edge_net import DOUBT, EDGE_MODEL, EdgeNet
from vlm_puzzle.vision.gray import to_gray
from vlm_puzzle.vision.ink import ink_map, paper_map
from vlm_puzzle.vision.marks import Marks, read_marks
from vlm_puzzle.vision.reading import GridGeometry
from vlm_puzzle.vision.regions import components, dashed_cages, groups_of, thick_regions

from vlm_puzzle.findings import Finding, uncertain
from vlm_puzzle.spec import DEFAULT_BOX, Cell, killer_total

# Fraction of inner edges that must read as dashed before the grid counts as caged
# (killer grids have 40-70 %; a few text serifs along an edge can look dashed).
MIN_DASHED_FRACTION = 0.15
# Largest KenKen cage believed (cells); bigger thick-bordered groups are misreads.
MAX_CAGE = 7
# No sudoku or jigsaw is smaller (spec.py): thick lines of a smaller grid enclose KenKen cages,
# even N of N cells each.
MIN_REGION_GRID = min(SUDOKU_SIZES)
# A clue read below this confidence is reported as uncertain.
CLUE_CONFIDENT = 0.8
# Largest classifier margin (in gaps, see edge_net.decide_edges) of a thick edge that
# may be read thin to complete the regions (regions_by_one_edge): edges in doubt.
REGION_DOUBT = 0.25
# Share of multi-cell cages whose clue has an operator that makes the cages KenKen's.
OPERATOR_SHARE = 0.5
# Text in a non-first cell of a cage counts as a stray clue above this confidence.
STRAY_CONFIDENT = 0.9


@dataclass(frozen=True)
class CageRead:
    """One cage as read: its cells (reading order), the clue in its first cell."""

    cells: tuple[Cell, ...]
    clue: Clue

    @property
    def anchor(self) -> Cell:
        return self.cells[0]


@dataclass(frozen=True)
class VariantState:
    """What the picture shows beyond a plain grid.

    ``edges``: the classified borders. ``regions``: (N, N) region ids from thick
    borders when they form N regions of N cells, else None. ``cage_style``:
    ``"dashed"`` (killer), ``"thick"`` (KenKen), ``"solid"`` (killer cages drawn as
    solid borders, told by their bare sums) or None. ``cages``: the cages with
    their clues. ``diagonals`` / ``windows``: from :mod:`marks`. ``uncertainties``:
    sentences naming what could not be read for sure. ``confidence``: 0..1 for the
    whole read. ``seconds``: time per step.
    """

    size: int
    edges: B.EdgeMap
    regions: np.ndarray | None
    cage_style: str | None
    cages: tuple[CageRead, ...]
    diagonals: bool
    windows: bool
    marks: Marks
    uncertainties: tuple[Finding, ...] = ()
    confidence: float = 1.0
    seconds: dict = field(default_factory=dict)

    @property
    def clue_confidence(self) -> tuple[float, ...]:
        return tuple(c.clue.confidence for c in self.cages)

    def to_dict(self) -> dict:
        return {
            "size": self.size,
            "regions": self.regions.tolist() if self.regions is not None else None,
            "cage_style": self.cage_style,
            "cages": [{"cells": [list(c) for c in k.cells], "clue": k.clue.text, "op": k.clue.op,
                       "target": k.clue.target, "confidence": round(k.clue.confidence, 4)}
                      for k in self.cages],
            "diagonals": self.diagonals, "windows": self.windows,
            "thick_edges": self.edges.n_thick, "dashed_edges": self.edges.n_dashed,
            "uncertainties": [u.text for u in self.uncertainties], "confidence": round(self.confidence, 4),
        }


def read_variants(geometry: GridGeometry, edge_net: EdgeNet | str | Path | None = EDGE_MODEL,
                  clue_reader: ClueReader | None = None, widths_image: np.ndarray | None = None) -> VariantState:
    """Read the variant marks of a located grid (its rectified image and line positions).
    ``edge_net``, ``clue_reader``, ``widths_image``: see :func:`read_variants_image`."""
    return read_variants_image(geometry.warped, geometry.cols_x, geometry.rows_y,
                               geometry.v_lines, geometry.h_lines, edge_net, clue_reader, widths_image)


# ---- the reading ---------------------------------------------------------------------

def read_variants_image(warped: np.ndarray, xs, ys, v_lines=None, h_lines=None,
                        edge_net: EdgeNet | str | Path | None = EDGE_MODEL,
                        clue_reader: ClueReader | None = None, widths_image: np.ndarray | None = None) -> VariantState:
    """Read borders, regions, cages, clues and marks of a rectified grid.

    Parameters
    ----------
    warped : (H, W) uint8 gray (or BGR) image with the grid axis-aligned.
    xs, ys : (N + 1,) pixel positions of the vertical / horizontal lines.
    v_lines, h_lines : optional (N + 1, N) local line positions (curved pages).
    edge_net : the edge classifier, or its weights (loaded for this call; see
        :func:`~vlm_puzzle.vision.borders.classify_edges`).
    clue_reader : the clue network (default: the shipped one, loaded for this call).
    widths_image : the same warp from an area-averaged picture (``outline.smooth_warp``), on
        which the line widths of the readings by width alone are measured; default ``warped``.
    """
    t0 = time.perf_counter()
    gray = to_gray(warped)
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    n = len(xs) - 1
    cell = float(min(np.diff(xs).mean(), np.diff(ys).mean()))
    paper = paper_map(gray, cell)
    ink = ink_map(gray, cell, paper)
    edges = B.classify_edges(gray, xs, ys, ink, v_lines, h_lines, model=edge_net, widths_gray=widths_image)
    t1 = time.perf_counter()
    marks = read_marks(paper, ink, xs, ys)
    t2 = time.perf_counter()
    notes: list[Finding] = list(marks.notes)
    if edges.doubtful:
        # Regions and cages hinge on every edge: one that reads neither way is a doubt.
        notes.append(uncertain("edges_doubtful",
                               f"{edges.doubtful} edge(s) could not be told thin, thick or dashed for sure"))

    n_inner = 2 * n * (n - 1)
    thick_labels = thick_regions(edges)
    thick_groups = groups_of(thick_labels)
    if not _is_partition(thick_groups, n) and edges.n_dashed < max(2, MIN_DASHED_FRACTION * n_inner):
        edges, fix = regions_by_one_edge(edges, thick_groups)
        if fix:
            thick_labels = thick_regions(edges)
            thick_groups = groups_of(thick_labels)
            notes.append(fix)
    regions = thick_labels if n >= MIN_REGION_GRID and _is_partition(thick_groups, n) else None

    cage_style, groups = None, []
    if edges.n_dashed >= max(2, MIN_DASHED_FRACTION * n_inner):
        cage_style, groups = "dashed", groups_of(dashed_cages(edges))
        if regions is None and _is_partition(groups, n):
            # No killer has N cages of N cells: these are regions (boxes or a jigsaw's)
            # whose heavy lines read as dashed.
            regions = dashed_cages(edges)
            edges = replace(edges, vertical=edges.dashed_v.astype(np.int8), horizontal=edges.dashed_h.astype(np.int8),
                            dashed_v=np.zeros_like(edges.dashed_v), dashed_h=np.zeros_like(edges.dashed_h))
            cage_style, groups = None, []
            notes.append(uncertain("dashed_regions", f"dashed-looking lines enclose {n} groups of {n} cells: "
                                   "regions, not killer cages"))
    elif edges.contrast > 1.0 and regions is None and len(thick_groups) > 1:
        if max(len(g) for g in thick_groups) <= max(MAX_CAGE, n):
            cage_style, groups = "thick", thick_groups
        else:
            notes.append(uncertain("thick_groups_unclear", f"thick lines enclose {len(thick_groups)} groups of "
                                   f"{min(map(len, thick_groups))}-{max(map(len, thick_groups))} cells: "
                                   "neither regions nor cages"))
    elif 0 < edges.n_dashed:
        notes.append(uncertain("few_dashed_edges", f"{edges.n_dashed} edge(s) look dashed, too few for cages; ignored"))

    cages: tuple[CageRead, ...] = ()
    by_width = _width_cages(edges, n) if cage_style != "dashed" else []
    if cage_style or by_width:
        # Every cell's corner text in one classifier batch: cage clues, and the
        # evidence that places cage borders right (one clue per cage).
        cells = [(r, c) for r in range(n) for c in range(n)]
        boxes = [_cell_box(xs, ys, rc, v_lines, h_lines) for rc in cells]
        with_ops, digits = read_clues(ink, boxes, cell, weights=clue_reader, both=True)
        op_clues, sums = dict(zip(cells, with_ops)), dict(zip(cells, digits))
        if cage_style != "dashed":
            # Solid cage borders: the clues say whose (operators: KenKen; bare sums that
            # total the grid: a killer drawn with solid cages), and which reading of the
            # lines, the classifier's or the ink widths' ratio, puts one in each cage's first cell.
            style = _solid_style(groups, op_clues, sums, n) if cage_style else None
            if cage_style and style is None:
                style = cage_style   # as before: thick borders, clues unclear
            best = clue_fit(groups, sums if style == "solid" else op_clues) if cage_style else -n * n
            for alt_edges, alt_groups in by_width:
                alt_edges, alt_groups = _borders_by_clues(alt_edges, op_clues)
                alt = _solid_style(alt_groups, op_clues, sums, n)
                fit = clue_fit(alt_groups, sums if alt == "solid" else op_clues) if alt else best
                if fit > best:
                    edges, groups, regions, style, best = alt_edges, alt_groups, None, alt, fit
                    notes = [u for u in notes if u.code not in ("edges_doubtful", "thick_groups_unclear")]
            cage_style = style
    if cage_style:
        if cage_style == "dashed" and (operator_clues(groups, op_clues) or operator_text(op_clues, n)):
            # Cage clues with operators are KenKen's, whatever the lines look like.
            notes.append(uncertain("operator_clues", "cage clues carry operators: KenKen cages, though "
                                   "their borders read as dashed"))
            cage_style = "thick"
            edges, groups = _solid_by_clues(edges, groups, op_clues)
        clue_at = op_clues if cage_style == "thick" else sums
        if cage_style == "dashed":
            sure = {rc for rc, k in clue_at.items() if k.target is not None and k.confidence >= STRAY_CONFIDENT}
            blank = {rc for rc, k in clue_at.items() if not k.text}
            outlined, fixes = repair_outlines(edges, sure, blank)
            groups = groups_of(dashed_cages(outlined))
            if any(clue_at[g[0]].text for g in groups):
                edges, notes = outlined, notes + fixes
            else:
                # Every killer cage shows its sum in its first cell: outlines without a
                # single clue are something else (a photo's shading edges along the box
                # lines of a windoku read as inset outlines), not cages.
                notes.append(uncertain("outlines_without_clues", f"{len(groups)} dashed-looking outlines enclose "
                                       "no clue at all: not killer cages; ignored"))
                cage_style, groups = None, []
        cages = tuple(CageRead(cells=g, clue=clue_at[g[0]]) for g in groups)
        stray = [(rc, k.text) for g in groups for rc in g[1:]
                 if (k := clue_at[rc]).target is not None and k.confidence >= STRAY_CONFIDENT]
        notes += _cage_notes(cages, cage_style)
        notes += [uncertain("stray_clue", f"cell {c} holds clue-like text {t!r} but is not the first cell of "
                            "its cage: a cage border may be missing") for c, t in stray]
    t3 = time.perf_counter()

    confidence = _confidence(edges, cages, notes)
    return VariantState(size=n, edges=edges, regions=regions, cage_style=cage_style, cages=cages,
                        diagonals=marks.diagonals, windows=marks.windows, marks=marks,
                        uncertainties=tuple(notes), confidence=confidence,
                        seconds={"borders": t1 - t0, "marks": t2 - t1, "clues": t3 - t2})


def operator_clues(groups, clue_at) -> bool:
    """Whether the clues of these cages are KenKen's: at least OPERATOR_SHARE of the
    multi-cell cages' clues read well-formed with an operator, of two kinds or more
    (a killer's sums have none; a misread dash makes at most a stray "-")."""
    multi = [clue_at[g[0]] for g in groups if len(g) > 1]
    with_op = [k for k in multi if k.op is not None and k.target is not None and k.confidence >= 0.5]
    return bool(multi) and len(with_op) >= OPERATOR_SHARE * len(multi) and len({k.op for k in with_op}) >= 2


def operator_text(clue_at, n: int) -> bool:
    """Whether the grid's text is KenKen's whatever cages were read: at least N cells hold a
    sure clue (confidence ``STRAY_CONFIDENT``), at least OPERATOR_SHARE of them with an
    operator, of two kinds or more (cages misread as one big one hide their clues from
    :func:`operator_clues`)."""
    sure = [k for k in clue_at.values() if k.target is not None and k.confidence >= STRAY_CONFIDENT]
    ops = [k.op for k in sure if k.op is not None]
    return len(sure) >= n and len(ops) >= OPERATOR_SHARE * len(sure) and len(set(ops)) >= 2


def _width_cages(edges: B.EdgeMap, n: int) -> list:
    """(edges, groups) of each reading by ink width alone (``EdgeMap.by_width``) whose
    heavier lines enclose two or more groups no larger than a cage."""
    out = []
    k = n * (n - 1)
    widths = edges.fine_widths if edges.fine_widths is not None else \
        np.concatenate([edges.width_v.ravel(), edges.width_h.ravel()])
    edges = replace(edges, width_v=widths[:k].reshape(n, n - 1), width_h=widths[k:].reshape(n - 1, n))
    for heavy in edges.by_width:
        thick = heavy.astype(np.int8)
        thin = float(np.median(widths[thick == 0]))
        alt = replace(edges, vertical=thick[:k].reshape(n, n - 1), horizontal=thick[k:].reshape(n - 1, n),
                      by_width=(), thick_margin=None, doubtful=0, thin_width=thin,
                      contrast=max(1.0 + 1e-3, float(np.median(widths[thick == 1])) / max(thin, 1e-3)))
        groups = groups_of(thick_regions(alt))
        if len(groups) >= 2 and max(map(len, groups)) <= max(MAX_CAGE, n):
            out.append((alt, groups))
    return out


def _solid_by_clues(edges: B.EdgeMap, groups, clue_at) -> tuple:
    """(edges, groups) of KenKen cages whose borders read as dashed (heavy cage lines of a
    small or hard-edged picture do): the dashed outlines' groups, or the thick lines as
    classified or a reading by ink width (:func:`_width_cages`, made to agree with the
    clues), whichever fits the clues best."""
    n = edges.size
    best = clue_fit(groups, clue_at)
    solid = replace(edges, dashed_v=np.zeros_like(edges.dashed_v), dashed_h=np.zeros_like(edges.dashed_h))
    for alt_edges, alt_groups in [(solid, groups_of(thick_regions(solid)))] + _width_cages(solid, n):
        if alt_edges is not solid:
            alt_edges, alt_groups = _borders_by_clues(alt_edges, clue_at)
        fit = clue_fit(alt_groups, clue_at)
        if fit > best and len(alt_groups) > 1 and max(map(len, alt_groups)) <= max(MAX_CAGE, n):
            edges, groups, best = alt_edges, alt_groups, fit
    return edges, groups


def _borders_by_clues(edges: B.EdgeMap, clue_at) -> tuple:
    """(edges, groups) of a reading by ink width with its cages made to agree with the
    clues (:func:`repair_outlines`: a cage holding two sure clues gains the border its
    widest open edge would make, a clueless cage whose first cell is blank loses its
    narrowest border), widths as the evidence."""
    n = edges.size
    heavy = max(float(np.median(np.concatenate([edges.width_v[edges.vertical == 1],
                                                edges.width_h[edges.horizontal == 1]]))), 1e-3)
    view = replace(edges, dashed_v=edges.vertical == 1, dashed_h=edges.horizontal == 1,
                   dash_v=edges.width_v / heavy, dash_h=edges.width_h / heavy, learned=False)
    sure = {rc for rc, k in clue_at.items() if k.target is not None and k.confidence >= STRAY_CONFIDENT}
    blank = {rc for rc, k in clue_at.items() if not k.text}
    fixed, _ = repair_outlines(view, sure, blank, max_steps=n)
    out = replace(edges, vertical=fixed.dashed_v.astype(np.int8), horizontal=fixed.dashed_h.astype(np.int8))
    return out, groups_of(thick_regions(out))


# Largest share of the multi-cell cages whose clue reads with an operator in a killer drawn
# with solid cages (a misread stroke), and how far its sums may total from N*N*(N+1)/2.
SUM_OPERATORS, SUM_TOTAL = 0.2, 0.15


def _solid_style(groups, op_clues, sums, n: int) -> str | None:
    """What solid-bordered ``groups`` are by their clues: ``"thick"`` (KenKen: operator
    clues, :func:`operator_clues`, or every multi-cell cage's clue read with one),
    ``"solid"`` (a killer's cages drawn solid: a grid with a box shape whose cages' clues
    are bare sums, operators on at most ``SUM_OPERATORS`` of the multi-cell cages,
    totalling N*N*(N+1)/2 within ``SUM_TOTAL``), or None."""
    multi = [op_clues[g[0]] for g in groups if len(g) > 1]
    if operator_clues(groups, op_clues) or (multi and all(
            k.op is not None and k.target is not None and k.confidence >= 0.5 for k in multi)):
        return "thick"   # (a small KenKen may show one kind of operator only)
    targets = [sums[g[0]].target for g in groups]
    if not multi or DEFAULT_BOX.get(n) is None or any(t is None for t in targets) \
            or sum(k.op is not None for k in multi) > SUM_OPERATORS * len(multi):
        return None
    want = killer_total(n)
    return "solid" if abs(sum(targets) - want) <= SUM_TOTAL * want else None


def clue_fit(groups, clue_at) -> int:
    """How well cages agree with the clues read in every cell: one point per cage whose
    first cell holds a readable clue, one off per cage without and per sure clue in a
    cage's other cells (every cage shows exactly one clue, in its first cell)."""
    first = sum(1 if clue_at[g[0]].target is not None else -1 for g in groups)
    stray = sum(1 for g in groups for rc in g[1:]
                if clue_at[rc].target is not None and clue_at[rc].confidence >= STRAY_CONFIDENT)
    return first - stray


def regions_by_one_edge(edges: B.EdgeMap, groups) -> tuple[B.EdgeMap, Finding | None]:
    """Regions one doubtful thick edge keeps from forming: when the thick borders
    enclose N + 1 groups, N - 1 of them of N cells, and exactly one thick edge the
    classifier was in doubt about (margin under ``REGION_DOUBT``) separates the two
    others, which together make N cells, that edge is thin (a digit touching a thin
    line reads thicker). Returns the edges (changed or not) and a note, or None."""
    n = edges.size
    sizes = sorted(len(g) for g in groups)
    if len(groups) != n + 1 or sizes[2:] != [n] * (n - 1) or sizes[0] + sizes[1] != n:
        return edges, None
    small = {rc for g in groups if len(g) < n for rc in g}
    label = {rc: i for i, g in enumerate(groups) for rc in g}
    found = []
    for kind, lines in (("v", edges.vertical), ("h", edges.horizontal)):
        for r in range(lines.shape[0]):
            for c in range(lines.shape[1]):
                a, b = (r, c), ((r, c + 1) if kind == "v" else (r + 1, c))
                if (lines[r, c] == B.THICK and a in small and b in small and label[a] != label[b]
                        and abs(edges.margin_of(kind, r, c)) < REGION_DOUBT):
                    found.append((kind, r, c))
    if len(found) != 1:
        return edges, None
    kind, r, c = found[0]
    lines = (edges.vertical if kind == "v" else edges.horizontal).copy()
    lines[r, c] = B.THIN
    fixed = replace(edges, **{"vertical" if kind == "v" else "horizontal": lines})
    return fixed, uncertain("edge_read_thin", f"{kind}-edge ({r}, {c}) read as thin: as thick, it alone kept "
                            f"the thick lines from forming {n} regions of {n} cells")


def _is_partition(groups, n: int) -> bool:
    return len(groups) == n and all(len(g) == n for g in groups)


def _cell_box(xs, ys, cell: Cell, v_lines=None, h_lines=None) -> tuple[float, float, float, float]:
    r, c = cell
    if v_lines is not None and h_lines is not None:
        return (float(v_lines[c, r]), float(h_lines[r, c]), float(v_lines[c + 1, r]), float(h_lines[r + 1, c]))
    return float(xs[c]), float(ys[r]), float(xs[c + 1]), float(ys[r + 1])


def _cage_notes(cages, style: str) -> list[Finding]:
    notes = []
    for k in cages:
        where = f"cage at {k.anchor} ({len(k.cells)} cells)"
        if k.clue.target is None:
            notes.append(uncertain("clue_unreadable", f"{where}: no clue could be read (text {k.clue.text!r})"))
        elif k.clue.confidence < CLUE_CONFIDENT:
            notes.append(uncertain("clue_unsure", f"{where}: clue {k.clue.text!r} read with confidence "
                                   f"{k.clue.confidence:.2f}"))
        if style == "thick" and len(k.cells) > 1 and k.clue.op is None and k.clue.target is not None:
            notes.append(uncertain("clue_without_operator",
                                   f"{where}: clue {k.clue.text!r} has no operator for a multi-cell cage"))
    return notes


def repair_outlines(edges: B.EdgeMap, has_clue: set, blank: set | None = None,
                    max_steps: int = 40) -> tuple[B.EdgeMap, list[Finding]]:
    """Make the dashed-outline cages agree with the clues: one clue per cage.

    ``has_clue``: cells with a confidently read clue; ``blank``: cells with no text
    at all in their clue corner. A cage holding two sure clues lost a border: the
    inner edge with the most outline evidence becomes a border. A cage whose first
    cell is blank and that holds no clue got a spurious border: its border edge
    with the least evidence is dropped. Each fix is reported. Stops when nothing
    more needs (or can) be done.
    """
    blank = set() if blank is None else blank
    n = edges.size
    dv, dh = edges.dashed_v.copy(), edges.dashed_h.copy()
    notes: list[Finding] = []
    for _ in range(max_steps):
        labels = components(n, ~dv, ~dh)
        counts: dict[int, int] = {}
        for rc in has_clue:
            counts[int(labels[rc])] = counts.get(int(labels[rc]), 0) + 1
        crowded = [k for k, v in counts.items() if v > 1]
        first = {}
        for r in range(n):
            for c in range(n):
                first.setdefault(int(labels[r, c]), (r, c))
        empty = [k for k in range(int(labels.max()) + 1) if k not in counts and first[k] in blank]
        if crowded:
            edge = _pick_edge(labels, dv, dh, edges, crowded[0], inside=True)
            if edge is None:
                break
            kind, r, c = edge
            (dv if kind == "v" else dh)[r, c] = True
            notes.append(uncertain("cage_border_added",
                                   f"added a cage border at {kind}-edge ({r}, {c}): its cage held two clues"))
        elif empty:
            edge = _pick_edge(labels, dv, dh, edges, empty[0], inside=False)
            if edge is None:
                break
            kind, r, c = edge
            (dv if kind == "v" else dh)[r, c] = False
            notes.append(uncertain("cage_border_dropped",
                                   f"dropped the cage border at {kind}-edge ({r}, {c}): its cage held no clue"))
        else:
            break
    return replace(edges, dashed_v=dv, dashed_h=dh), notes


def _pick_edge(labels, dv, dh, edges: B.EdgeMap, label: int, inside: bool):
    """The open inner edge of cage ``label`` with the most outline evidence
    (``inside``), or the border edge of it with the least (not ``inside``); with
    learned edges only the ones the classifier was unsure of."""
    n = labels.shape[0]
    best, pick = None, None
    for kind, dashed, evidence in (("v", dv, edges.dash_v), ("h", dh, edges.dash_h)):
        for r in range(dashed.shape[0]):
            for c in range(dashed.shape[1]):
                if edges.learned and abs(float(evidence[r, c]) - 0.5) >= DOUBT:
                    # The classifier is sure of this edge: a clue misread is likelier
                    # than a misread edge, so the clash is left for the notes to report.
                    continue
                a = labels[r, c]
                b = labels[r, c + 1] if kind == "v" else labels[r + 1, c]
                if inside and a == b == label and not dashed[r, c]:
                    score = evidence[r, c]
                    if best is None or score > best:
                        best, pick = score, (kind, r, c)
                elif not inside and dashed[r, c] and label in (a, b) and a != b:
                    score = -evidence[r, c]
                    if best is None or score > best:
                        best, pick = score, (kind, r, c)
    return pick


def _confidence(edges: B.EdgeMap, cages, notes) -> float:
    conf = 1.0
    if cages:
        conf *= float(np.prod([max(k.clue.confidence, 1e-3) for k in cages])) ** (1.0 / len(cages))
        conf = min(conf, min(k.clue.confidence for k in cages) + 0.2)
    if edges.contrast > 1.0 and not edges.learned:
        # Thin/thick separation margin of the hand rules: a width ratio just above
        # THICK_RATIO is shaky. (The classifier's margin shows as doubtful edges.)
        conf *= float(np.clip((edges.contrast - 1.3) / 1.0, 0.3, 1.0))
    conf *= 0.85 ** len(notes)
    return float(np.clip(conf, 0.0, 1.0))
