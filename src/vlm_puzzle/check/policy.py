"""The rule policy: which rules to solve under, once geometry (and the VLM) have spoken.

:func:`conclude` merges the VLM's rules with geometry's (:func:`vlm_puzzle.rules.merge`)
when there are any, and when no rules could be built, or the rules as read failed
their own checks, takes the VLM's cage-free rules on the digits read if the solver finds
exactly one solution under them (:func:`vlm_digit_fallback`), else the plain Sudoku the
digits alone solve uniquely, at a low confidence and with a finding that says so. :func:`no_rules_message` is the short
why of a picture whose rules could not be inferred.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from vlm_puzzle.findings import uncertain
from vlm_puzzle.rules.base import RuleHints
from vlm_puzzle.rules.merge import digit_rules, merge
from vlm_puzzle.spec import PuzzleSpec, SpecError
from vlm_puzzle.vision.state import GridState

# Confidence of a plain Sudoku taken when the rules could not be read (0..1): the
# solution is right for the variants that only add rules, not for jigsaw or KenKen.
FALLBACK_CONFIDENCE = 0.3
# Confidence ceiling of the VLM's rules on the digits when geometry's failed (the solver checked them).
VLM_DIGITS_CONFIDENCE = 0.5
VLM_DIGITS_TIMEOUT_S = 1.0  # the uniqueness check of that candidate


def conclude(state: GridState, hints: RuleHints, spec: PuzzleSpec | None, *, use_vlm: bool = False,
             vlm_hints: RuleHints | BaseException | None = None) -> tuple[RuleHints, PuzzleSpec | None]:
    """(hints, spec) to solve under: geometry's ``hints`` and ``spec``, merged with the
    VLM's answer when ``use_vlm`` (``vlm_hints`` may be None or the exception of a
    failed call: geometry then stands), then the plain-sudoku fallback."""
    if use_vlm:
        hints, spec = merge(hints, vlm_hints, geometry_spec=spec)
    # Rules that failed their own checks (e.g. photo grain read as killer dashes:
    # one 81-cell cage) are worth less than digits with one solution under the VLM's
    # rules, or with one plain-sudoku solution.
    if spec is None or hints.has_problems:
        if use_vlm and hints.source != "qwen":
            got = vlm_digit_fallback(state, hints, vlm_hints)
            if got is not None:
                return got
        fallback = plain_sudoku_fallback(state)
        if fallback is not None:
            spec, hints = fallback, _as_fallback(hints, state)
    return hints, spec


def vlm_digit_fallback(state: GridState, hints: RuleHints, vlm_hints) -> tuple[RuleHints, PuzzleSpec] | None:
    """(hints, spec) of the VLM's cage-free rules on the digits read (``rules.merge.digit_rules``)
    when the solver finds exactly one solution under them within ``VLM_DIGITS_TIMEOUT_S``; else None.
    Any such solution also satisfies every rule the VLM left out, so where the plain sudoku of
    the digits is unique this picks its very solution, under the kind the VLM saw."""
    from vlm_puzzle.solver import solve

    if state is None or state.givens is None:
        return None
    spec = digit_rules(vlm_hints, state.givens.tolist(), state.box or None)
    if spec is None or solve(spec, timeout_s=VLM_DIGITS_TIMEOUT_S).status != "solved":
        return None
    seen = hints.kind or "no"
    note = uncertain("vlm_rules_on_digits", f"geometry's {seen} rules failed their checks; the VLM's {spec.kind} "
                     "rules on the digits read have exactly one solution: solved under them")
    out = replace(hints, kind=spec.kind, size=spec.size, box=spec.box, diagonals=spec.diagonals,
                  windows=bool(spec.windows), cages=False, cage_op=None, source="qwen",
                  confidence=min(float(vlm_hints.confidence), VLM_DIGITS_CONFIDENCE),
                  evidence=tuple(hints.evidence) + (note,))
    return out, spec.with_givens(spec.givens, np.clip(state.confidence, 0, 1).round(4).tolist())


def plain_sudoku_fallback(state: GridState) -> PuzzleSpec | None:
    """When no rules could be built but the checking stage found that the digits alone
    have exactly one plain-Sudoku solution, that sudoku. Sound for every sudoku
    variant that only adds constraints (x-sudoku, windoku, killer): their solution
    is that same grid; not for a jigsaw or KenKen, hence the low confidence."""
    v = state.verdict
    if v is None or not v.ok or v.kind != "sudoku":
        return None
    try:
        return state.to_spec()
    except (SpecError, ValueError):
        return None


def _as_fallback(hints: RuleHints, state: GridState) -> RuleHints:
    """The hints of a plain-sudoku fallback: kind sudoku, confidence at most
    FALLBACK_CONFIDENCE, and a finding naming what geometry saw instead."""
    seen = hints.kind
    why = f"the {seen} rules could not be read" if seen and seen != "sudoku" else "the rules could not be read"
    repaired = " after repairs as a plain sudoku" if state.repairs else ""
    note = uncertain("plain_sudoku_fallback", f"{why}, but the digits alone{repaired} have exactly one sudoku "
                     "solution: solved as a plain sudoku (right for sudoku, x-sudoku, windoku and killer; wrong "
                     "for jigsaw and kenken)")
    return replace(hints, kind="sudoku", confidence=min(float(hints.confidence), FALLBACK_CONFIDENCE),
                   evidence=tuple(hints.evidence) + (note,))


def no_rules_message(hints: RuleHints | None, limit: int = 3) -> str:
    """The why, short: the first finding and the blocking problems (every finding is
    in ``hints.evidence``)."""
    ev = list(hints.evidence) if hints is not None else []
    problems = [str(p) for p in hints.problems] if hints is not None else []
    shown = ([str(ev[0])] if ev and not ev[0].is_note else []) + problems[:limit]
    more = len(ev) - len(shown)
    why = "; ".join(shown) + (f" (+{more} more notes)" if more > 0 else "")
    return "the rules of this puzzle could not be inferred from the picture" + (f": {why}" if why else "")
