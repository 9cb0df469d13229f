"""Rule inference from geometry alone: what the picture says the rules are; no solver.

:func:`decide` looks at what perception saw (grid size, box shape, and what
:func:`vlm_puzzle.vision.variants.read_variants` read: borders, cages and clues,
diagonal and window marks) and decides the kind of puzzle, with evidence
(:class:`~vlm_puzzle.findings.Finding` values); :func:`build` makes the
:class:`~vlm_puzzle.spec.PuzzleSpec` of a decision; :func:`consistency_problems`
lists what makes a spec impossible or suspicious (cage targets no digits can
reach, killer sums that do not total the grid, regions of the wrong size, cages
that do not tile); :func:`mark_alternatives` the kinds the picture allows when its
marks are in doubt. What to believe of a reading (the solver's verdict, repairs,
confidence) is decided by :mod:`vlm_puzzle.check`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import combinations

import numpy as np

from vlm_puzzle.findings import Finding, info, problem, uncertain
from vlm_puzzle.spec import DEFAULT_BOX, Cage, PuzzleSpec, SpecError, killer_total
from vlm_puzzle.vision.marks import WINDOW_MIN
from vlm_puzzle.vision.variants import CLUE_CONFIDENT, VariantState


# Confidence ceiling of a spec that fails a consistency check, or lacks evidence.
DOUBTFUL = 0.3


@dataclass(frozen=True)
class Decision:
    """The kind of puzzle the picture shows. ``box``: the box shape (seen or assumed;
    None for jigsaw and KenKen); ``box_seen``: thick lines showed it; ``evidence``:
    how it was decided."""

    kind: str
    size: int
    box: tuple[int, int] | None
    box_seen: bool
    evidence: tuple[Finding, ...]


def decide(size: int, box_hint, variants: VariantState) -> Decision:
    """The kind of puzzle of a grid of ``size`` (``box_hint``: the box shape the grid
    finder measured, or None) with these variant marks."""
    n = size
    evidence: list[Finding] = []
    box_seen = False
    if variants.cage_style == "dashed":
        kind, box = "killer", _box_for(n, box_hint)
        evidence.append(info("dashed_cages", f"{len(variants.cages)} cages drawn with dashed inset outlines: killer"))
    elif variants.cage_style == "solid":
        kind, box = "killer", _box_for(n, box_hint)
        evidence.append(info("solid_cages", f"{len(variants.cages)} solid-bordered cages whose clues are bare sums "
                             "totalling the grid: killer"))
    elif variants.cage_style == "thick" and box_hint is not None and _mostly_clueless(variants.cages):
        # Every KenKen cage shows a clue: thick-bordered groups most of which show
        # none, in a grid whose line widths show a box pattern, are misread boxes.
        box, box_seen = _box_for(n, box_hint), True
        kind = _box_kind(variants, evidence, n, box)
        evidence.insert(0, info("boxes_by_width", f"thick lines enclose {len(variants.cages)} groups, most without "
                                f"a clue; line widths form {_fmt_box(box)} boxes"))
    elif variants.cage_style == "thick":
        kind, box = "kenken", None
        evidence.append(thick_cages_finding(variants))
    elif variants.regions is not None:
        box = aligned_box(variants.regions)
        if box is None:
            kind = "jigsaw"
            evidence.append(info("irregular_regions", f"{n} regions of {n} cells not aligned to "
                                 f"{_fmt_box(DEFAULT_BOX.get(n))} boxes: jigsaw"))
        else:
            kind, box_seen = _box_kind(variants, evidence, n, box), True
            evidence.insert(0, info("boxes_seen", f"thick lines form {n} {box[0]}x{box[1]} boxes"))
    else:
        box = _box_for(n, box_hint)
        kind = _box_kind(variants, evidence, n, box)
        why = ("no thick lines" if variants.edges.n_thick == 0
               else f"thick lines do not form {n} regions of {n} cells")
        evidence.insert(0, info("boxes_assumed", f"{why}; assuming {_fmt_box(box)} boxes"))
    return Decision(kind, n, box, box_seen, tuple(evidence))


def thick_cages_finding(variants: VariantState) -> Finding:
    """The KenKen evidence: its cages and the operators of their clues as read."""
    sizes = sorted(len(k.cells) for k in variants.cages)
    ops = sorted({k.clue.op for k in variants.cages if k.clue.op})
    return info("thick_cages", f"{len(variants.cages)} thick-bordered cages of "
                f"{sizes[0]}-{sizes[-1]} cells with {'/'.join(ops) or 'no'} operator clues: kenken")


def evidence_of(decision: Decision, variants: VariantState) -> list[Finding]:
    """The decision's evidence for ``variants`` (a KenKen's names the clues' operators,
    which a clue repair may have changed since the decision)."""
    if decision.kind == "kenken":
        return [thick_cages_finding(variants)]
    return list(decision.evidence)


def build(decision: Decision, variants: VariantState, givens=None) -> PuzzleSpec:
    """The puzzle of ``decision`` with ``variants``' regions and cages and these
    ``givens`` (none: all empty). Raises SpecError (or ValueError) when it cannot be
    built (an unreadable clue, a multi-cell KenKen cage without an operator...)."""
    n = decision.size
    builder = {"killer": _killer, "kenken": _kenken, "jigsaw": _jigsaw}.get(decision.kind, _boxed)
    return builder(n, _givens(givens, n), decision.box, variants, decision.kind)


def relaxed_rules(decision: Decision, box_hint, givens) -> PuzzleSpec | None:
    """Rules the puzzle surely has when its own, as read, fail the checks: a killer's
    sudoku under its cages; for digits under "cages" that fail the checks (KenKen has
    no givens) the sudoku whose box lines were more likely misread (a relaxation,
    never a fix to rules nobody saw); else None."""
    n = decision.size
    if decision.kind == "killer" and decision.box is not None:
        return PuzzleSpec.sudoku(_givens(None, n), decision.box)
    if decision.kind == "kenken" and givens is not None and np.any(givens):
        box = _box_for(n, box_hint)
        if box is not None:
            return PuzzleSpec.sudoku(_givens(None, n), box)
    return None


def assumed_rules(decision: Decision) -> bool:
    """Whether the kind's groups rest on a box shape assumed from the grid size."""
    return decision.kind in ("sudoku", "x-sudoku", "windoku") and not decision.box_seen


# A diagonal or window mark scoring between these fractions of its threshold is in
# doubt (development photos: shaded diagonals of true x-sudokus down to 0.36, of
# other grids up to 0.89; windows 0.38 / 0.58): the givens decide (the checking
# stage). Only a reading that has not exactly one solution under the marks as read
# is tried under the others, and kept only if it has exactly one there: a plain
# sudoku's solution almost never fits the diagonals or windows, so a missed given
# cannot make it a unique x-sudoku or windoku.
MARK_DOUBT = (0.3, 1.6)
_MARKS_OF = {"sudoku": (False, False), "x-sudoku": (True, False), "windoku": (False, True)}


def mark_alternatives(decision: Decision, variants: VariantState, kind: str | None = None) -> list[str]:
    """The other boxed kinds the picture may show: those that differ from ``kind``
    (the decision's by default) only in marks (diagonals, windows) read in doubt (a
    score within ``MARK_DOUBT`` of its threshold). A published puzzle has exactly
    one solution, so the givens decide between them."""
    kind = decision.kind if kind is None else kind
    if kind not in _MARKS_OF:
        return []
    n, box = decision.size, decision.box
    marks = variants.marks
    doubt = (MARK_DOUBT[0] < marks.diagonal_score < MARK_DOUBT[1],
             MARK_DOUBT[0] * WINDOW_MIN < marks.window_score < MARK_DOUBT[1] * WINDOW_MIN)
    out = []
    for other, has in _MARKS_OF.items():
        if other == kind or (other == "windoku" and (n != 9 or tuple(box or ()) != (3, 3))):
            continue
        if all(d or a == b for a, b, d in zip(has, _MARKS_OF[kind], doubt)):
            out.append(other)
    return out


def settled_marks_evidence(evidence: list[Finding], variants: VariantState, kind: str,
                           chosen: str) -> list[Finding]:
    """The evidence when the givens chose ``chosen`` over ``kind`` among marks in doubt."""
    marks = variants.marks
    scores = f"diagonal score {marks.diagonal_score:.2f}, window score {marks.window_score:.2f}"
    kept = [e for e in evidence if e.code not in MARK_CODES]

    def a(k: str) -> str:
        return ("an " if k[0] in "aeiox" else "a ") + k
    return kept + [info("marks_settled_by_givens", f"marks in doubt ({scores}): the givens have "
                        f"exactly one solution as {a(chosen)}, not as {a(kind)}: {chosen}")]


# ---- kind decisions -------------------------------------------------------------------

def aligned_box(regions: np.ndarray) -> tuple[int, int] | None:
    """The (rows, cols) box shape whose boxes are exactly these regions, or None."""
    n = regions.shape[0]
    for br in range(1, n + 1):
        if n % br:
            continue
        bc = n // br
        if br == 1 or bc == 1:
            continue
        ids = np.arange(n)[:, None] // br * (n // bc) + np.arange(n)[None, :] // bc
        if _same_partition(regions, ids):
            return (br, bc)
    return None


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist()))
    return len(pairs) == len(set(a.ravel().tolist())) == len(set(b.ravel().tolist()))


# The findings of the marks' kind decision (replaced when the givens settle marks in doubt).
MARK_CODES = ("both_marks", "diagonals_marked", "windows_shaded", "no_marks")


def _box_kind(variants, evidence: list[Finding], n: int, box) -> str:
    marks = variants.marks
    if variants.diagonals and variants.windows:
        evidence.append(info("both_marks", "both diagonals and windows are marked; taking the stronger mark"))
    if variants.diagonals and (not variants.windows or marks.diagonal_score >= marks.window_score):
        evidence.append(info("diagonals_marked", f"diagonals marked by {marks.diagonal_style or 'shading'} "
                             f"(score {marks.diagonal_score:.1f}): x-sudoku"))
        return "x-sudoku"
    if variants.windows:
        evidence.append(info("windows_shaded", f"four 3x3 windows shaded (score {marks.window_score:.1f}): windoku"))
        return "windoku"
    evidence.append(info("no_marks", "no diagonal or window marks: sudoku"))
    return "sudoku"


def _mostly_clueless(cages) -> bool:
    """Whether more than half of the cages show no clue text at all."""
    return sum(not k.clue.text for k in cages) > len(cages) / 2


def _box_for(n: int, hint) -> tuple[int, int] | None:
    if hint is not None and len(hint) == 2 and hint[0] * hint[1] == n:
        return (int(hint[0]), int(hint[1]))
    return DEFAULT_BOX.get(n)


def _fmt_box(box) -> str:
    return f"{box[0]}x{box[1]}" if box else "standard"


def _givens(givens, n: int) -> list[list[int]]:
    if givens is None:
        return [[0] * n for _ in range(n)]
    return [[int(v) for v in row] for row in np.asarray(givens).reshape(n, n)]


# ---- spec builders ----------------------------------------------------------------------

def _boxed(n, givens, box, variants, kind) -> PuzzleSpec:
    if box is None:
        raise SpecError(f"no box shape for a {n}x{n} grid")
    if kind == "x-sudoku":
        return PuzzleSpec.x_sudoku(givens, box)
    if kind == "windoku":
        return PuzzleSpec.windoku(givens)
    return PuzzleSpec.sudoku(givens, box)


def _jigsaw(n, givens, box, variants, kind) -> PuzzleSpec:
    return PuzzleSpec.jigsaw(givens, variants.regions.tolist())


def _read_cages(variants, killer: bool) -> list[Cage]:
    cages = []
    for k in variants.cages:
        if k.clue.target is None:
            raise SpecError(f"the clue of the cage at {k.anchor} is unreadable ({k.clue.text!r})")
        op = k.clue.op
        if killer:
            op = "sum"  # a one-cell killer cage is a sum too (the sum of one digit)
        elif len(k.cells) == 1:
            op = None
        elif op is None:
            raise SpecError(f"the {len(k.cells)}-cell cage at {k.anchor} has no operator "
                            f"(clue {k.clue.text!r})")
        cages.append(Cage(cells=k.cells, op=op, target=k.clue.target, distinct=killer))
    return cages


def _killer(n, givens, box, variants, kind) -> PuzzleSpec:
    if box is None:
        raise SpecError(f"no box shape for a {n}x{n} killer")
    return PuzzleSpec(kind="killer", size=n, givens=givens, box=box,
                      cages=tuple(_read_cages(_sum_repaired(variants, n), killer=True)))


def _sum_repaired(variants, n: int):
    """Killer cages covering the grid must total N*N*(N+1)/2: when exactly one clue
    is doubtful (below ``CLUE_CONFIDENT``) and the others are sure, or exactly one is
    unreadable and the others read, that total fixes it (the checking stage's repairs
    then weigh the doubtful others). The fix is kept only if the new target is
    reachable, and is recorded in the variants' uncertainties."""
    cages = list(variants.cages)
    if sum(len(k.cells) for k in cages) != n * n:
        return variants
    doubtful = [i for i, k in enumerate(cages) if k.clue.confidence < CLUE_CONFIDENT or k.clue.target is None]
    unread = [i for i, k in enumerate(cages) if k.clue.target is None]
    if len(unread) == 1:
        doubtful = unread
    if len(doubtful) != 1:
        return variants
    i = doubtful[0]
    rest = sum(k.clue.target for j, k in enumerate(cages) if j != i)
    target = killer_total(n) - rest
    if target < 1 or not reachable(Cage(cages[i].cells, "sum", target), n):
        return variants
    old = cages[i].clue
    cages[i] = replace(cages[i], clue=replace(old, target=target, text=str(target), op=None))
    note = uncertain("clue_set_by_total", f"cage at {cages[i].anchor}: clue read as {old.text!r} "
                     f"({old.confidence:.2f}) set to {target} by the killer total")
    return replace(variants, cages=tuple(cages), uncertainties=variants.uncertainties + (note,))


def _kenken(n, givens, box, variants, kind) -> PuzzleSpec:
    return PuzzleSpec.kenken(n, _read_cages(variants, killer=False), givens=givens)


# ---- consistency ------------------------------------------------------------------------

def consistency_problems(spec: PuzzleSpec) -> list[Finding]:
    """Problem findings naming what makes ``spec`` impossible; empty when nothing is found.

    Checks: regions of N cells; cages that tile the grid (KenKen always, killer
    when they cover it); each cage target reachable by its op with digits 1..N (and
    distinct digits in killer); killer targets summing to N*N*(N+1)/2 when the
    cages cover the grid; givens inside a cage consistent with its target.
    """
    n = spec.size
    problems: list[Finding] = []
    if spec.regions is not None:
        counts = np.bincount(np.asarray(spec.regions).ravel(), minlength=n)
        bad = [i for i, c in enumerate(counts) if c != n]
        if bad or len(counts) != n:
            problems.append(problem("region_sizes", f"{len(counts)} regions, sizes {sorted(counts.tolist())}; "
                                    f"expected {n} of {n}"))
    covered = sum(len(c.cells) for c in spec.cages)
    if spec.kind == "kenken" and covered != n * n:
        problems.append(problem("cages_do_not_tile", f"cages cover {covered} of {n * n} cells"))
    for cage in spec.cages:
        if not reachable(cage, n):
            digits = "distinct digits" if cage.distinct and len(cage.cells) > 1 else "digits"
            problems.append(problem("cage_unreachable", f"cage at {cage.cells[0]}: target {cage.target} ({cage.op}) "
                                    f"over {len(cage.cells)} cells cannot be made with {digits} 1..{n}"))
    if spec.kind == "killer" and covered == n * n:
        total = sum(c.target for c in spec.cages)
        want = killer_total(n)
        if total != want:
            problems.append(problem("killer_total", f"killer cage sums total {total}, not {want}"))
    for cage in spec.cages:
        vals = [spec.givens[r][c] for r, c in cage.cells]
        if all(vals) and not _satisfies(cage, vals):
            problems.append(problem("cage_givens", f"cage at {cage.cells[0]}: its givens {vals} do not make "
                                    f"{cage.target}"))
    return problems


def reachable(cage: Cage, n: int) -> bool:
    """Whether some assignment of digits 1..N to the cage's cells meets its target
    (ignoring rows and columns; distinct digits when the cage is ``distinct``)."""
    k = len(cage.cells)
    if cage.op is None:
        return 1 <= cage.target <= n
    if cage.op in ("sum", "add"):
        if cage.distinct:
            return k <= n and k * (k + 1) // 2 <= cage.target <= k * (2 * n - k + 1) // 2
        return k <= cage.target <= k * n
    if cage.op == "sub":
        return 1 <= cage.target <= n - 1
    if cage.op == "div":
        return 2 <= cage.target <= n
    if cage.op == "mul":
        return _product_reachable(cage.target, k, n, cage.distinct)
    return False


@lru_cache(maxsize=4096)
def _product_reachable(target: int, k: int, n: int, distinct: bool) -> bool:
    digits = range(1, n + 1)
    if distinct:
        return any(int(np.prod(c)) == target for c in combinations(digits, k))
    reach = {1}
    for _ in range(k):
        reach = {p * d for p in reach for d in digits if target % (p * d) == 0}
    return target in reach


def _satisfies(cage: Cage, vals: list[int]) -> bool:
    if cage.op is None:
        return vals[0] == cage.target
    if cage.op in ("sum", "add"):
        return sum(vals) == cage.target
    if cage.op == "mul":
        return int(np.prod(vals)) == cage.target
    a, b = sorted(vals)
    return (b - a == cage.target) if cage.op == "sub" else (b == a * cage.target)
