"""What to believe of a checked reading: the rules with their findings and confidence.

:func:`infer_rules` takes a :class:`~vlm_puzzle.vision.state.GridState` (after the
checking stage, or without a verdict: e.g. true givens) and geometry's
:class:`~vlm_puzzle.rules.geometry.Decision`, builds the spec, and says what makes it
doubtful: its consistency problems, the solver's verdict on the givens under its
rules, repairs the reader gave little chance, a second reading of a doubtful cell
that also has exactly one solution, givens changed to fit boxes nobody saw. Any of
these caps the confidence at ``DOUBTFUL``: never a wrong puzzle presented as certain.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from vlm_puzzle.check.givens import verdict
from vlm_puzzle.check.templates import MARK_SOLVE_S, unique_among_marks
from vlm_puzzle.findings import Finding, problem, uncertain
from vlm_puzzle.rules.base import RuleHints
from vlm_puzzle.rules.geometry import (DOUBTFUL, Decision, assumed_rules, build, consistency_problems, decide,
                                       evidence_of, mark_alternatives, settled_marks_evidence)
from vlm_puzzle.spec import PuzzleSpec, SpecError
from vlm_puzzle.vision.state import GridState
from vlm_puzzle.vision.variants import VariantState, read_variants

# A repaired given whose new value the reader found this many nats less likely than
# the value it read (e^-4: 1 in 55) makes the reading doubtful. (Development
# renders: right repairs cost 0.3-3.1 nats a cell, wrong ones 4.5 and 10.)
UNLIKELY_REPAIR = 4.0
# A cell the reader gave its value less than this probability is in doubt; a next
# guess within AMBIGUOUS_COST nats of it is a reading the picture allows too.
AMBIGUOUS_P = 0.5
AMBIGUOUS_COST = UNLIKELY_REPAIR
# A next guess within this many nats is a reading the picture allows too, however likely the
# cell's first one (a handwritten 1 read 0.54 as a 3, 0.45 as a 1, gave a 4x4 of four givens
# another unique puzzle; development boards: such near ties went either way).
AMBIGUOUS_CLOSE = 1.0
AMBIGUOUS_SOLVES = 8     # solver calls at most (none when no cell is in doubt)
# Finding code of two readings of the picture, each a puzzle of one solution, with other answers:
# of doubtful givens (two_readings, found here) or of repaired cage clues (check.clues).
GIVENS_AMBIGUOUS = "two_readings"
CLUE_AMBIGUOUS = "two_clue_readings"
# Finding code of a puzzle with several solutions (as read, or as solved).
NOT_UNIQUE = "not_unique"
# Finding code of an answer whose uniqueness the deadline left unproven.
UNIQUENESS_UNKNOWN = "uniqueness_unknown"


def infer_rules(state: GridState, variants: VariantState | None = None,
                decision: Decision | None = None) -> tuple[RuleHints, PuzzleSpec | None]:
    """(hints, spec) of ``state``: geometry's rules, with what the checking stage found.

    ``variants``: the marks to use (``state.variants``, read when missing);
    ``decision``: geometry's (decided here when None). ``spec`` is None when the
    puzzle cannot be built (unreadable clue, cages that do not close), with the
    reason in ``hints.problems``; these also list what a built spec fails
    (consistency checks, the solver's verdict)."""
    if variants is None:
        variants = state.variants if state.variants is not None else read_variants(state.geometry)
    if decision is None:
        decision = decide(state.size, state.box, variants)
    n, kind = decision.size, decision.kind
    evidence = evidence_of(decision, variants)
    kind, evidence = _settled_by_solver(state, decision, variants, evidence)
    confidence = variants.confidence
    if variants.regions is None and variants.cage_style is None:
        confidence = min(confidence, 0.5)

    settled = replace(decision, kind=kind, evidence=())  # the kind the solver may have settled
    spec, problems = None, []
    try:
        spec = build(settled, variants, state.givens)
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
        evidence.append(uncertain(GIVENS_AMBIGUOUS, f"the picture does not decide between two puzzles: {ambiguous}"))
        confidence = min(confidence, DOUBTFUL)
    if state.repairs and assumed_rules(settled):
        # Givens changed to fit boxes nobody saw: the boxes may be what was misread
        # (a jigsaw whose regions were missed), not the digits.
        evidence.append(uncertain("repaired_to_assumed_boxes", "givens were changed to fit assumed boxes"))
        confidence = min(confidence, DOUBTFUL)
    box = decision.box
    hints = RuleHints(kind=kind, size=n, box=box if kind not in ("jigsaw", "kenken") else None,
                      box_measured=decision.box_seen, diagonals=kind == "x-sudoku", windows=kind == "windoku",
                      cages=kind in ("killer", "kenken"),
                      cage_op={"killer": "sum", "kenken": "arith"}.get(kind),
                      confidence=round(float(confidence), 4), evidence=tuple(evidence), source="geometry")
    return hints, spec


def _settled_by_solver(state: GridState, decision: Decision, variants: VariantState,
                       evidence: list[Finding]) -> tuple[str, list[Finding]]:
    """(kind, evidence): the checking stage's choice when it checked the givens under
    another kind of ``mark_alternatives`` and they have exactly one solution there;
    for a state without a verdict (e.g. true givens), the same choice made here."""
    kind = decision.kind
    alternatives = mark_alternatives(decision, variants)
    if not alternatives:
        return kind, evidence
    if state.verdict is None:
        try:
            spec = build(decision, variants)
        except (SpecError, ValueError):
            return kind, evidence
        chosen, solved = unique_among_marks(state.givens, decision, variants, spec).kind, True
    else:
        chosen, solved = state.verdict.kind, state.verdict.solver_status == "solved"
    if chosen == kind or not solved or chosen not in alternatives:
        return kind, evidence
    return chosen, settled_marks_evidence(evidence, variants, kind, chosen)


def _solver_verdict(state: GridState, kind: str, built: bool, doubtful: bool) -> tuple[list[Finding], list[Finding]]:
    """(notes, doubts) from the checking stage's verdict on the givens; doubts cap
    the confidence.

    Only a check under this kind's rules counts: a reading with no solution under
    them is a problem (a misread digit or misread rules), one with several is
    ``NOT_UNIQUE`` (uncertain: the puzzle's own, or a missed given); repairs
    are noted; givens left unchecked because the rules failed the consistency
    checks are noted as uncertain."""
    v = state.verdict
    if v is None:
        return [], []
    if v.kind != kind or v.status == "skipped" or not built:
        if doubtful:
            how = (f"checked only as a plain {v.kind}" if v.kind and v.status != "skipped"
                   else "not checked by the solver")
            return [uncertain("givens_not_checked_under_rules",
                              f"the givens were {how}: the {kind} rules as read fail the checks below")], []
        return [], []
    notes, problems = [], []
    if v.repairs:
        changed = ", ".join(f"{tuple(r.cell)} {r.from_}->{r.to}" for r in v.repairs)
        notes.append(uncertain("givens_repaired",
                               f"{len(v.repairs)} given(s) changed by the solver under the {kind} rules: {changed}"))
    if v.solver_status == "no_solution":
        problems.append(problem("givens_no_solution", f"the givens as read have no solution under the {kind} "
                                "rules, and no likely misreading explains it"))
    elif v.solver_status == "multiple":
        # May be the puzzle's own (apps and generators make such puzzles): answered, flagged.
        problems.append(uncertain(NOT_UNIQUE, f"the givens as read have several solutions under the {kind} "
                                  "rules, and no doubtful cell read otherwise gives one"))
    elif v.solver_status == "timeout":
        notes.append(uncertain("solver_timeout", f"the solver could not check the givens under the {kind} rules in time"))
    return notes, problems


def _unlikely_repairs(state: GridState) -> str:
    """The solver's changes to the read givens that the reader's probabilities make
    unlikely (see ``UNLIKELY_REPAIR``), as text; empty when none."""
    probs = state.probs
    out = []
    for rep in state.repairs:
        (r, c), a, b = rep.cell, rep.from_, rep.to
        try:
            p_from, p_to = float(probs[r, c, a]), float(probs[r, c, b])
        except IndexError:
            continue
        cost = float(np.log(max(p_from, 1e-12)) - np.log(max(p_to, 1e-12)))
        if cost > UNLIKELY_REPAIR:
            out.append(f"{(int(r), int(c))} {a}->{b} ({cost:.1f} nats less likely than as read)")
    return ", ".join(out)


def _ambiguous_givens(state: GridState, spec: PuzzleSpec | None) -> str:
    """Cells in doubt (see ``AMBIGUOUS_P``, ``AMBIGUOUS_CLOSE``) whose next guess gives the puzzle exactly
    one solution too, another one, as text; empty when none. A solver's "exactly one solution"
    then says nothing about which reading is right: two puzzles fit the picture."""
    probs = state.probs
    if spec is None or state.verdict is None or state.verdict.solver_status != "solved":
        return ""
    g = np.asarray(spec.givens, dtype=np.int64)
    if probs.shape[:2] != g.shape or probs.shape[2] <= g.max():
        return ""
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-12))
    p_read = np.take_along_axis(probs, g[:, :, None], axis=2)[:, :, 0]
    # The repair search tried a repaired cell's likelier values before the one it kept.
    repaired = {(int(rp.cell[0]), int(rp.cell[1])) for rp in state.repairs}
    close = p_read < 1.0 / (1.0 + np.exp(-AMBIGUOUS_CLOSE))   # cells a guess can come that close to
    guesses = sorted((float(logp[r, c, g[r, c]] - logp[r, c, v]), int(r), int(c), int(v))
                     for r, c in zip(*np.nonzero(close)) for v in range(probs.shape[2])
                     if v != g[r, c] and ((int(r), int(c)) not in repaired or probs[r, c, v] <= p_read[r, c]))
    within = [x for x in guesses
              if x[0] <= (AMBIGUOUS_COST if p_read[x[1], x[2]] < AMBIGUOUS_P else AMBIGUOUS_CLOSE)]
    out = []
    answer = verdict(spec, g, MARK_SOLVE_S)[1] if within else None
    for cost, r, c, v in within[:AMBIGUOUS_SOLVES]:
        alt = g.copy()
        alt[r, c] = v
        status, other = verdict(spec, alt, MARK_SOLVE_S)
        # Two readings with one answer leave no doubt about it (a handwritten fill that may
        # be read as empty, the solution's digit either way).
        if status == "solved" and other != answer:
            out.append(f"{(r, c)} read as {int(g[r, c]) or 'empty'} ({p_read[r, c]:.2f}) "
                       f"or {v or 'empty'} ({probs[r, c, v]:.2f})")
    return ", ".join(out)
