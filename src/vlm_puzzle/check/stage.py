"""The checking stage: the solver's verdict on a reading, its repair, and which way is up.

:func:`settle` takes perception's :class:`~vlm_puzzle.vision.state.GridState` and
geometry's :class:`~vlm_puzzle.rules.geometry.Decision` and returns the state with
its :class:`~vlm_puzzle.verdict.GivensVerdict` (and repaired cage clues):

1. the givens as read are checked, no search, under the rules they will be
   repaired against (:func:`~vlm_puzzle.check.templates.repair_template`; a plain
   Sudoku when those are None, for a verdict that repairs nothing);
2. a reading that failed may be a grid photographed sideways or upside down:
   perception is asked under which quarter turn the digits read best (a turn wins
   easily once the solver has spoken against the reading as it lies), and reads
   the grid again turned; geometry decides its kind anew (the rare second visit);
3. the givens are repaired within a time budget (:mod:`~vlm_puzzle.check.givens`),
   then the cage clues (:mod:`~vlm_puzzle.check.clues`).

:func:`read_checked` runs perception and this stage on one picture.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from vlm_puzzle.check.clues import repair_clues
from vlm_puzzle.check.givens import RepairResult, repair_givens
from vlm_puzzle.check.templates import mark_templates, plain_template, repair_template
from vlm_puzzle.imageio import open_image
from vlm_puzzle.rules.geometry import Decision, decide
from vlm_puzzle.spec import PuzzleSpec
from vlm_puzzle.verdict import GivensVerdict, as_solution
from vlm_puzzle.vision.extract import TURN_MARGIN, GridReader
from vlm_puzzle.vision.labels import notations
from vlm_puzzle.vision.reading import CellReading
from vlm_puzzle.vision.state import GridState

REPAIR_BUDGET_S = 3.0   # seconds for the search of a givens repair
# Quarter-turn margin (nats per digit cell) once the solver has rejected the reading as it lies.
TURN_MARGIN_REJECTED = 0.02


def settle(state: GridState, decision: Decision | None, *, image: np.ndarray, reader: GridReader,
           scale: float = 1.0, repair: bool = True, rotate: bool = True,
           budget_s: float = REPAIR_BUDGET_S) -> tuple[GridState, Decision | None]:
    """(checked state, decision): ``state`` with the solver's verdict on its givens.

    ``decision``: geometry's kind of puzzle, whose rules the givens are checked and
    repaired against (``state.variants`` read); None checks them as a plain Sudoku.
    ``image`` / ``scale``: the picture perception read (to read it again turned).
    ``repair``: change likely misreadings (else the verdict is "skipped")."""
    t0 = time.perf_counter()
    template, verdict_rules = _rules_for(state, decision, repair)
    checked = _check(verdict_rules, state, 0.0)
    if rotate and (checked is None or checked.status != "not_needed"):
        # When the reading as it lies already failed the rules, the solver has spoken
        # against it: a small margin suffices (the turned reading is checked too).
        k = reader.best_turn(state, TURN_MARGIN_REJECTED if checked is not None else TURN_MARGIN)
        if k:
            state = reader.turned(image, state, k, scale=scale, variants=state.variants is not None)
            if decision is not None:
                decision = decide(state.size, state.box, state.variants)
            template, verdict_rules = _rules_for(state, decision, repair)
            checked = None
    if template is not None:
        if checked is None or checked.status != "not_needed":
            checked = _check(template, state, budget_s)
        if checked is not None and checked.status == "failed":
            state, checked = _other_notation(template, state, checked)
        if checked is not None and checked.status == "failed" and decision is not None:
            template, checked = _other_marks(template, state, decision, checked, budget_s)
    elif verdict_rules is not None:
        checked = _verdict_only(checked or _check(verdict_rules, state, 0.0))
    if checked is None:
        verdict = GivensVerdict.unchecked(state.reading.givens)
    else:
        verdict = GivensVerdict(kind=(template or verdict_rules).kind, givens=checked.givens, status=checked.status,
                                solver_status=checked.solver_status, repairs=checked.changes,
                                solution=as_solution(checked.solution))
    state = replace(state, verdict=verdict,
                    timing={**state.timing, "check_s": time.perf_counter() - t0})
    if repair and decision is not None:
        # Cage clues are checked like the givens: a misread one leaves no single solution.
        state = repair_clues(state, decision)
    return state, decision


def read_checked(image, *, rules: bool = True, repair: bool = True, rotate: bool = True,
                 model: str | Path | None = None, budget_s: float = REPAIR_BUDGET_S,
                 reader: GridReader | None = None) -> GridState:
    """Read the grid in ``image`` (path, PIL image or array) and check it: perception,
    geometry's decision (``rules``: else the givens are checked as a plain Sudoku and
    no variant marks are read) and :func:`settle`. Raises the extractor's PuzzleErrors."""
    loaded = open_image(image)
    reader = reader or GridReader(model)
    state = reader.read(loaded.image, scale=loaded.scale, variants=rules)
    decision = decide(state.size, state.box, state.variants) if rules else None
    state, _ = settle(state, decision, image=loaded.image, reader=reader, scale=loaded.scale, repair=repair,
                      rotate=rotate, budget_s=budget_s)
    return state


def _rules_for(state: GridState, decision: Decision | None,
               repair: bool) -> tuple[PuzzleSpec | None, PuzzleSpec | None]:
    """(rules to repair against, rules to give a verdict under): geometry's (or a
    plain Sudoku's without a decision); (None, plain) when geometry's rules are not
    to be repaired against; (None, None) without repair."""
    if not repair:
        return None, None
    plain = plain_template(state.size, state.box)
    if decision is None:
        return plain, plain
    template = repair_template(state, decision)
    return template, template if template is not None else plain


def _check(template: PuzzleSpec | None, state: GridState, budget_s: float) -> RepairResult | None:
    """Solver check (and repair, within ``budget_s``) of the reading under ``template``'s rules."""
    if template is None:
        return None
    return repair_givens(template, state.reading.givens, state.reading.probs, budget_s=budget_s)


def _other_notation(template: PuzzleSpec, state: GridState,
                    checked: RepairResult) -> tuple[GridState, RepairResult]:
    """(state, check): a 12x12 or 16x16 reading that failed the rules read again under each
    other notation (1-16, 1-9 A-G, 0-F: vision.labels); the first one the solver accepts as
    read wins, else ``state`` and ``checked`` as they were. The symbols alone can leave two
    notations close (a lowercase e that reads as 0 speaks for 0-F); the rules decide."""
    reading = state.reading
    if reading.symbols is None or len(notations(state.size)) < 2:
        return state, checked
    for name in notations(state.size):
        if name == reading.notation:
            continue
        other = replace(state, reading=CellReading.from_symbols(state.size, reading.patches, reading.symbols, name))
        again = _check(template, other, 0.0)
        if again is not None and again.status == "not_needed":
            return other, again
    return state, checked


def _other_marks(template: PuzzleSpec, state: GridState, decision: Decision, checked: RepairResult,
                 budget_s: float) -> tuple[PuzzleSpec, RepairResult]:
    """(rules, check): a reading that failed under ``template`` repaired under each kind whose
    marks (diagonals, windows) were read in doubt; the first repaired wins, else ``template``
    and ``checked`` as they were. A borderline diagonal score made a 16x16 with one misread
    given an x-sudoku that no repair fits."""
    if state.variants is None:
        return template, checked
    for other in mark_templates(decision, state.variants, template.kind):
        again = _check(other, state, budget_s)
        if again is not None and again.status in ("not_needed", "repaired"):
            return other, again
    return template, checked


def _verdict_only(checked: RepairResult | None) -> RepairResult | None:
    """A plain-Sudoku check reduced to its verdict on the givens as read (no repair)."""
    if checked is None or checked.status == "not_needed":
        return checked
    return RepairResult(checked.givens, "skipped", checked.solver_status, time_s=checked.time_s)
