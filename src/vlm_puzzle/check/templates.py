"""Which rules a reading's givens are checked and repaired against.

Geometry's puzzle with its givens cleared (:func:`vlm_puzzle.rules.geometry.build`),
when it passes :func:`~vlm_puzzle.rules.geometry.consistency_problems`; when its marks
are in doubt, the boxed kind under whose rules the givens as read have exactly one
solution (:func:`unique_among_marks`). Rules that fail the checks (an unreachable
cage target, a region of other than N cells, KenKen cages that do not tile) are not
repaired against: that would "fix" digits read right. A killer then falls back to the
sudoku under its cages, digits under failing KenKen cages to a sudoku
(:func:`~vlm_puzzle.rules.geometry.relaxed_rules`), anything else to None.
"""
from __future__ import annotations

import numpy as np

from vlm_puzzle.check.givens import verdict
from vlm_puzzle.rules.geometry import Decision, build, consistency_problems, mark_alternatives, relaxed_rules
from vlm_puzzle.spec import DEFAULT_BOX, SUDOKU_SIZES, PuzzleSpec, SpecError
from vlm_puzzle.vision.state import GridState
from vlm_puzzle.vision.variants import VariantState

# Seconds per solver call of the marks decision (9x9 givens as read: milliseconds).
MARK_SOLVE_S = 0.5


def repair_template(state: GridState, decision: Decision, variants: VariantState | None = None) -> PuzzleSpec | None:
    """The rules to check and repair ``state``'s givens against (givens cleared), or None
    to leave them as read. ``variants``: another reading of the marks (a clue repair's
    candidate); ``state``'s by default."""
    variants = state.variants if variants is None else variants
    try:
        spec = build(decision, variants)
        if not consistency_problems(spec):
            return unique_among_marks(state.givens, decision, variants, spec)
    except (SpecError, ValueError):
        pass
    return relaxed_rules(decision, state.box, state.givens)


def plain_template(n: int, box: tuple[int, int] | None) -> PuzzleSpec | None:
    """The plain Sudoku rules for a grid of this size (boxes as found or standard);
    None for sizes without a Sudoku."""
    if n not in SUDOKU_SIZES:
        return None
    return PuzzleSpec.sudoku(np.zeros((n, n), int).tolist(), box=box or DEFAULT_BOX[n])


def solver_says(template: PuzzleSpec, givens) -> str:
    """The solver's verdict on ``givens`` under ``template``'s rules (no repair)."""
    return verdict(template, givens, MARK_SOLVE_S)[0]


def unique_among_marks(givens, decision: Decision, variants: VariantState, spec: PuzzleSpec) -> PuzzleSpec:
    """``spec``, or the boxed kind of :func:`~vlm_puzzle.rules.geometry.mark_alternatives`
    under whose rules ``givens`` have exactly one solution when they have not under ``spec``'s."""
    if not mark_alternatives(decision, variants, spec.kind) or givens is None or not np.any(givens) \
            or solver_says(spec, givens) == "solved":
        return spec
    for other in mark_templates(decision, variants, spec.kind):
        if solver_says(other, givens) == "solved":
            return other
    return spec


def mark_templates(decision: Decision, variants: VariantState, kind: str) -> list[PuzzleSpec]:
    """The rules (givens cleared) of the boxed kinds other than ``kind`` that differ from it
    only in marks read in doubt (:func:`~vlm_puzzle.rules.geometry.mark_alternatives`)."""
    out = []
    for other in mark_alternatives(decision, variants, kind):
        try:
            out.append(build(Decision(other, decision.size, decision.box, decision.box_seen, ()), variants))
        except (SpecError, ValueError):
            continue
    return out
