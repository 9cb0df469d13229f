"""Rule inference from geometry alone: no model weights, and the cross-check for the VLM.

:func:`infer_rules` looks at what the state extractor saw (grid size, box shape,
givens) and what :func:`vlm_puzzle.vision.variants.read_variants` read (borders,
cages and clues, diagonal and window marks), decides the kind of puzzle with
evidence sentences, and builds the :class:`~vlm_puzzle.spec.PuzzleSpec`.

:func:`consistency_problems` lists what makes a spec impossible or suspicious
(cage targets no digits can reach, killer sums that do not total the grid,
regions of the wrong size, cages that do not tile); the repair step uses it too.
A spec with problems is returned with a low confidence, and no spec at all when
something needed (a clue, a region) could not be read: never a wrong puzzle
presented as certain.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np

from vlm_puzzle.findings import Finding, info, problem, uncertain
from vlm_puzzle.rules.base import RuleHints
from vlm_puzzle.spec import DEFAULT_BOX, Cage, Cell, PuzzleSpec, SpecError


# Confidence ceiling of a spec that fails a consistency check, or lacks evidence.
DOUBTFUL = 0.3


def infer_rules(state, variants=None) -> tuple[RuleHints, PuzzleSpec | None]:
    """Decide the kind of puzzle from geometry and build its spec.

    ``state``: the extracted grid (``size``, ``givens``, optionally ``box``,
    ``warped`` and a lattice for :func:`read_variants`, and the solver's verdict
    on the givens: ``repair_kind``, ``repair_status``, ``solver_status``,
    ``repairs``). ``variants``: a
    :class:`~vlm_puzzle.vision.variants.VariantState`; read from ``state`` when None.
    Returns ``(hints, spec)``; ``spec`` is None when the puzzle cannot be built
    (unreadable clue, cages that do not close), with the reason in
    ``hints.problems`` (and ``hints.evidence``). ``hints.problems`` also lists what
    a built spec fails (:func:`consistency_problems`, the solver's verdict).
    """
    variants = _variants_of(state, variants)
    n = int(getattr(state, "size", None) or variants.size)
    kind, box, builder, evidence, box_seen = _decide(state, variants, n)
    kind, evidence = _settled_by_solver(state, variants, n, box, kind, evidence)
    confidence = variants.confidence
    if variants.regions is None and variants.cage_style is None:
        confidence = min(confidence, 0.5)

    spec, problems = None, []
    try:
        spec = builder(n, _givens(getattr(state, "givens", None), n), box, variants, kind)
    except (SpecError, ValueError) as exc:
        problems.append(problem("cannot_build", f"cannot build a {kind}: {exc}"))
    if spec is not None:
        problems += consistency_problems(spec)
    evidence += variants.uncertainties
    notes, doubts = _solver_verdict(state, kind, spec is not None, bool(problems))
    evidence += notes
    problems += doubts
    evidence += problems
    if problems:
        confidence = min(confidence, DOUBTFUL)
    unlikely = _unlikely_repairs(state)
    if unlikely:
        # The solver's fix is one unique grid, not proof: a change the reader gave
        # little chance may be a misread digit "repaired" into another puzzle.
        evidence.append(uncertain("unlikely_repair", f"the reader gave little chance to {unlikely}"))
        confidence = min(confidence, DOUBTFUL)
    ambiguous = _ambiguous_givens(state, spec) if not problems else ""
    if ambiguous:
        evidence.append(uncertain("two_readings", f"the picture does not decide between two puzzles: {ambiguous}"))
        confidence = min(confidence, DOUBTFUL)
    if getattr(state, "repairs", None) and _assumed_rules(kind, box_seen):
        # Givens changed to fit boxes nobody saw: the boxes may be what was misread
        # (a jigsaw whose regions were missed), not the digits.
        evidence.append(uncertain("repaired_to_assumed_boxes", "givens were changed to fit assumed boxes"))
        confidence = min(confidence, DOUBTFUL)
    hints = RuleHints(kind=kind, size=n, box=box if kind not in ("jigsaw", "kenken") else None,
                      box_measured=box_seen, diagonals=kind == "x-sudoku", windows=kind == "windoku",
                      cages=kind in ("killer", "kenken"),
                      cage_op={"killer": "sum", "kenken": "arith"}.get(kind),
                      confidence=round(float(confidence), 4), evidence=tuple(evidence), source="geometry")
    return hints, spec


def rules_for_repair(state, variants=None) -> PuzzleSpec | None:
    """The rules to check and repair the read givens against: geometry's puzzle with
    its givens cleared. When it cannot be built or its structure fails
    :func:`consistency_problems` (an unreachable cage target, a region of other than
    N cells, KenKen cages that do not tile), repairing against those misread rules
    would "fix" digits that were read right: a killer falls back to the sudoku under
    its cages (rules it surely has), anything else to None (givens left as read).
    For ``extract_state(..., rules=...)``."""
    variants = _variants_of(state, variants)
    n = int(getattr(state, "size", None) or variants.size)
    kind, box, builder, _, _ = _decide(state, variants, n)
    try:
        spec = builder(n, _givens(None, n), box, variants, kind)
        if not consistency_problems(spec):
            return _unique_among_marks(state, variants, n, box, spec)
    except (SpecError, ValueError):
        pass
    if kind == "killer" and box is not None:
        return PuzzleSpec.sudoku(_givens(None, n), box)
    if kind == "kenken" and getattr(state, "givens", None) is not None and np.any(state.givens):
        # KenKen has no givens: digits under "cages" that fail the checks are more likely a
        # sudoku whose box lines were misread; check them as one (a relaxation, never a fix
        # to rules nobody saw: the pipeline reports such a solve with a low confidence).
        box = _box_for(n, getattr(state, "box", None))
        if box is not None:
            return PuzzleSpec.sudoku(_givens(None, n), box)
    return None


def _variants_of(state, variants):
    if variants is None:
        variants = getattr(state, "variants", None)
    if variants is None:
        from vlm_puzzle.vision.variants import read_variants
        variants = read_variants(state)
    return variants


def _decide(state, variants, n: int):
    """(kind, box, spec builder, evidence sentences, whether thick lines showed the box)."""
    box_hint = getattr(state, "box", None)
    evidence: list[Finding] = []
    box_seen = False
    if variants.cage_style == "dashed":
        kind, box, builder = "killer", _box_for(n, box_hint), _killer
        evidence.append(info("dashed_cages", f"{len(variants.cages)} cages drawn with dashed inset outlines: killer"))
    elif variants.cage_style == "thick":
        kind, box, builder = "kenken", None, _kenken
        sizes = sorted(len(k.cells) for k in variants.cages)
        ops = sorted({k.clue.op for k in variants.cages if k.clue.op})
        evidence.append(info("thick_cages", f"{len(variants.cages)} thick-bordered cages of "
                             f"{sizes[0]}-{sizes[-1]} cells with {'/'.join(ops) or 'no'} operator clues: kenken"))
    elif variants.regions is not None:
        box = aligned_box(variants.regions)
        if box is None:
            kind, builder = "jigsaw", _jigsaw
            evidence.append(info("irregular_regions", f"{n} regions of {n} cells not aligned to "
                                 f"{_fmt_box(DEFAULT_BOX.get(n))} boxes: jigsaw"))
        else:
            kind, builder, box_seen = _box_kind(variants, evidence, n, box), _boxed, True
            evidence.insert(0, info("boxes_seen", f"thick lines form {n} {box[0]}x{box[1]} boxes"))
    else:
        box = _box_for(n, box_hint)
        kind, builder = _box_kind(variants, evidence, n, box), _boxed
        why = ("no thick lines" if variants.edges.n_thick == 0
               else f"thick lines do not form {n} regions of {n} cells")
        evidence.insert(0, info("boxes_assumed", f"{why}; assuming {_fmt_box(box)} boxes"))
    return kind, box, builder, evidence, box_seen


# A repaired given whose new value the reader found this many nats less likely than
# the value it read (e^-4: 1 in 55) makes the reading doubtful. (Development
# renders: right repairs cost 0.3-3.1 nats a cell, wrong ones 4.5 and 10.)
UNLIKELY_REPAIR = 4.0


def _unlikely_repairs(state) -> str:
    """The solver's changes to the read givens that the reader's probabilities make
    unlikely (see ``UNLIKELY_REPAIR``), as text; empty when none."""
    probs = getattr(state, "probs", None)
    out = []
    for rep in getattr(state, "repairs", None) or ():
        try:
            (r, c), a, b = rep["cell"], int(rep["from"]), int(rep["to"])
            p_from, p_to = float(probs[r, c, a]), float(probs[r, c, b])
        except (TypeError, KeyError, IndexError, ValueError):
            continue
        cost = float(np.log(max(p_from, 1e-12)) - np.log(max(p_to, 1e-12)))
        if cost > UNLIKELY_REPAIR:
            out.append(f"{(int(r), int(c))} {a}->{b} ({cost:.1f} nats less likely than as read)")
    return ", ".join(out)


# A cell the reader gave its value less than this probability is in doubt; a next
# guess within AMBIGUOUS_COST nats of it is a reading the picture allows too.
AMBIGUOUS_P = 0.5
AMBIGUOUS_COST = UNLIKELY_REPAIR
AMBIGUOUS_SOLVES = 8     # solver calls at most (none when no cell is in doubt)


def _ambiguous_givens(state, spec: PuzzleSpec | None) -> str:
    """Cells in doubt (see ``AMBIGUOUS_P``) whose next guess gives the puzzle exactly
    one solution too, as text; empty when none. A solver's "exactly one solution"
    then says nothing about which reading is right: two puzzles fit the picture."""
    probs = getattr(state, "probs", None)
    if spec is None or probs is None or getattr(state, "solver_status", None) != "solved":
        return ""
    g = np.asarray(spec.givens, dtype=np.int64)
    if probs.shape[:2] != g.shape or probs.shape[2] <= g.max():
        return ""
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-12))
    p_read = np.take_along_axis(probs, g[:, :, None], axis=2)[:, :, 0]
    # The repair search tried a repaired cell's likelier values before the one it kept.
    repaired = {(int(rp["cell"][0]), int(rp["cell"][1])) for rp in getattr(state, "repairs", None) or ()}
    guesses = sorted((float(logp[r, c, g[r, c]] - logp[r, c, v]), int(r), int(c), int(v))
                     for r, c in zip(*np.nonzero(p_read < AMBIGUOUS_P)) for v in range(probs.shape[2])
                     if v != g[r, c] and ((int(r), int(c)) not in repaired or probs[r, c, v] <= p_read[r, c]))
    out = []
    for cost, r, c, v in [x for x in guesses if x[0] <= AMBIGUOUS_COST][:AMBIGUOUS_SOLVES]:
        alt = g.copy()
        alt[r, c] = v
        if _verdict(spec, alt) == "solved":
            out.append(f"{(r, c)} read as {int(g[r, c]) or 'empty'} ({p_read[r, c]:.2f}) "
                       f"or {v or 'empty'} ({probs[r, c, v]:.2f})")
    return ", ".join(out)


def _assumed_rules(kind: str, box_seen: bool) -> bool:
    """Whether the kind's groups rest on a box shape assumed from the grid size."""
    return kind in ("sudoku", "x-sudoku", "windoku") and not box_seen


# A diagonal or window mark scoring between these fractions of its threshold is in
# doubt (development photos: shaded diagonals of true x-sudokus down to 0.36, of
# other grids up to 0.89; windows 0.38 / 0.58): the givens decide (see
# :func:`_mark_alternatives`). Only a reading that has not exactly one solution
# under the marks as read is tried under the others, and kept only if it has
# exactly one there: a plain sudoku's solution almost never fits the diagonals
# or windows, so a missed given cannot make it a unique x-sudoku or windoku.
MARK_DOUBT = (0.3, 1.6)
# Seconds per solver call of that decision (9x9 givens as read: milliseconds).
MARK_SOLVE_S = 0.5
_MARKS_OF = {"sudoku": (False, False), "x-sudoku": (True, False), "windoku": (False, True)}


def _mark_alternatives(variants, n: int, box, kind: str) -> list[str]:
    """The other boxed kinds the picture may show: those that differ from ``kind``
    only in marks (diagonals, windows) read in doubt (a score within ``MARK_DOUBT``
    of its threshold). A published puzzle has exactly one solution, so the givens
    decide between them (:func:`_unique_among_marks`)."""
    if kind not in _MARKS_OF:
        return []
    from vlm_puzzle.vision.marks import WINDOW_MIN
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


def _verdict(template: PuzzleSpec, givens) -> str:
    """The solver's verdict on ``givens`` under ``template``'s rules (no repair)."""
    from vlm_puzzle.vision.repair import verdict
    return verdict(template, givens, MARK_SOLVE_S)[0]


def _unique_among_marks(state, variants, n: int, box, spec: PuzzleSpec) -> PuzzleSpec:
    """``spec``, or the boxed kind of :func:`_mark_alternatives` under whose rules the
    givens as read have exactly one solution when they have not under ``spec``'s."""
    givens = getattr(state, "givens", None)
    alternatives = _mark_alternatives(variants, n, box, spec.kind)
    if not alternatives or givens is None or not np.any(givens) or _verdict(spec, givens) == "solved":
        return spec
    for kind in alternatives:
        try:
            other = _boxed(n, _givens(None, n), box, variants, kind)
        except (SpecError, ValueError):
            continue
        if _verdict(other, givens) == "solved":
            return other
    return spec


def _settled_by_solver(state, variants, n: int, box, kind: str, evidence: list[str]) -> tuple[str, list[str]]:
    """(kind, evidence): the extractor's choice when it checked the givens under
    another kind of :func:`_mark_alternatives` (see :func:`rules_for_repair`) and
    they have exactly one solution there; for a state the extractor did not check
    (no ``repair_status``: e.g. true givens), the same choice made here."""
    alternatives = _mark_alternatives(variants, n, box, kind)
    if not alternatives:
        return kind, evidence
    if getattr(state, "repair_status", None) is None:
        try:
            spec = _boxed(n, _givens(None, n), box, variants, kind)
        except (SpecError, ValueError):
            return kind, evidence
        chosen, solved = _unique_among_marks(state, variants, n, box, spec).kind, True
    else:
        chosen, solved = getattr(state, "repair_kind", None), getattr(state, "solver_status", None) == "solved"
    if chosen == kind or not solved or chosen not in alternatives:
        return kind, evidence
    marks = variants.marks
    scores = f"diagonal score {marks.diagonal_score:.2f}, window score {marks.window_score:.2f}"
    kept = [e for e in evidence if e.code not in MARK_CODES]

    def a(k: str) -> str:
        return ("an " if k[0] in "aeiox" else "a ") + k
    return chosen, kept + [info("marks_settled_by_givens", f"marks in doubt ({scores}): the givens have "
                                f"exactly one solution as {a(chosen)}, not as {a(kind)}: {chosen}")]


def _solver_verdict(state, kind: str, built: bool, doubtful: bool) -> tuple[list[Finding], list[Finding]]:
    """(notes, problems) from the extractor's solver check of the givens.

    Only a check under this kind's rules counts: a reading with no or several
    solutions under them is a problem (a misread digit or misread rules); repairs
    are noted; givens left unchecked because the rules failed the consistency
    checks are noted as uncertain."""
    status = getattr(state, "repair_status", None)
    if status is None:
        return [], []
    checked_as = getattr(state, "repair_kind", None)
    if checked_as != kind or status == "skipped" or not built:
        if doubtful and getattr(state, "raw_givens", None) is not None:
            how = (f"checked only as a plain {checked_as}" if checked_as and status != "skipped"
                   else "not checked by the solver")
            return [uncertain("givens_not_checked_under_rules",
                              f"the givens were {how}: the {kind} rules as read fail the checks below")], []
        return [], []
    notes, problems = [], []
    repairs = getattr(state, "repairs", None) or []
    if repairs:
        changed = ", ".join(f"{tuple(r['cell'])} {r['from']}->{r['to']}" for r in repairs)
        notes.append(uncertain("givens_repaired",
                               f"{len(repairs)} given(s) changed by the solver under the {kind} rules: {changed}"))
    verdict = getattr(state, "solver_status", None)
    if verdict == "no_solution":
        problems.append(problem("givens_no_solution", f"the givens as read have no solution under the {kind} "
                                "rules, and no likely misreading explains it"))
    elif verdict == "multiple":
        problems.append(problem("givens_several_solutions", f"the givens as read have several solutions under "
                                f"the {kind} rules, and no likely misreading explains it"))
    elif verdict == "timeout":
        notes.append(uncertain("solver_timeout", f"the solver could not check the givens under the {kind} rules in time"))
    return notes, problems


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
    is doubtful (below ``CLUE_CONFIDENT``) and the others are sure, that total
    fixes it. The fix is kept only if the new target is reachable, and is recorded
    in the variants' uncertainties."""
    from dataclasses import replace
    from vlm_puzzle.vision.variants import CLUE_CONFIDENT
    cages = list(variants.cages)
    if sum(len(k.cells) for k in cages) != n * n:
        return variants
    doubtful = [i for i, k in enumerate(cages) if k.clue.confidence < CLUE_CONFIDENT or k.clue.target is None]
    if len(doubtful) != 1:
        return variants
    i = doubtful[0]
    rest = sum(k.clue.target for j, k in enumerate(cages) if j != i)
    target = n * n * (n + 1) // 2 - rest
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
        want = n * n * (n + 1) // 2
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
