"""Cage clues repaired by the solver: rendered puzzles read by the real pipeline, then
one clue character swapped for a wrong one (a misreading, with the true character
as the reader's second guess) and handed to ``repair_clues``."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vlm_puzzle.check import infer_rules, repair_template, verdict
from vlm_puzzle.check import repair_clues as check_clues
from vlm_puzzle.pipeline import read_state
from vlm_puzzle.render.generate import generate_puzzle
from vlm_puzzle.render.rendered import render_puzzle
from vlm_puzzle.render.style import Style
from vlm_puzzle.rules.geometry import DOUBTFUL, decide
from vlm_puzzle.vision.clues import parse_clue

STYLE = Style(font="DejaVuSans", clue_font="DejaVuSans")


@pytest.fixture(scope="module", params=[("kenken", 6, 8), ("killer", 6, 3)], ids=["kenken", "killer"])
def read(request):
    kind, size, seed = request.param
    spec, _ = generate_puzzle(kind, size, seed=seed)
    shot = render_puzzle(spec, seed=seed, style=STYLE, size_px=700)
    state = read_state(np.ascontiguousarray(shot.image[..., ::-1]))
    assert state.verdict.kind == kind and state.verdict.solver_status == "solved"
    return spec, state


def _decision(state):
    return decide(state.size, state.box, state.variants)


def repair_clues(state):
    """The checking stage's clue repair of ``state`` under geometry's decision."""
    return check_clues(state, _decision(state))


def with_clue(state, i: int, clue):
    """A copy of ``state`` with cage ``i``'s clue read as ``clue`` and the extractor's
    verdict under the clues so read; None when the givens still have exactly one
    solution under them."""
    v = state.variants
    wrong = replace(v, cages=v.cages[:i] + (replace(v.cages[i], clue=clue),) + v.cages[i + 1:])
    template = repair_template(state, _decision(state), wrong)
    status = "no_solution" if template is None else verdict(template, state.givens, 5.0)[0]
    if template is not None and template.kind == state.verdict.kind and status == "solved":
        return None
    checked = replace(state.verdict, kind=template.kind if template is not None else None, solver_status=status)
    return replace(state, variants=wrong, verdict=checked)


def misread(state, p_wrong: float = 0.9, p_true: float = 0.35):
    """A copy of ``state`` with the first clue character (reading order) whose swap
    leaves the givens without exactly one solution read wrong: the wrong character
    at ``p_wrong`` (sure enough that a killer's total does not fix it alone), the
    true one its alternative at ``p_true``. Returns (state, cage index, true text)."""
    for i, cage in enumerate(state.variants.cages):
        text = cage.clue.text
        for j, ch in enumerate(text):
            for wrong in ("+-x/" if not ch.isdigit() else "0123456789"):
                if wrong == ch or (j == 0 and wrong == "0"):
                    continue
                alts = [()] * len(text)
                alts[j] = ((ch, p_true),)
                probs = [0.99] * len(text)
                probs[j] = p_wrong
                bad = with_clue(state, i, parse_clue(text[:j] + wrong + text[j + 1:], probs, alts))
                if bad is not None:
                    return bad, i, text
    raise AssertionError("no clue misreading breaks this puzzle")


def test_a_misread_clue_is_repaired_and_said(read):
    spec, state = read
    bad, i, truth = misread(state)
    fixed = repair_clues(bad)
    assert fixed.variants.cages[i].clue.text == truth
    assert fixed.verdict.solver_status == "solved" and fixed.verdict.kind == state.verdict.kind
    assert fixed.verdict.solution == state.verdict.solution
    note = fixed.variants.uncertainties[-1]
    assert note.code == "clue_repaired"
    assert f"cage at {state.variants.cages[i].anchor}" in note.text and repr(truth) in note.text
    hints, got = infer_rules(fixed)
    assert got is not None and not hints.problems
    assert {(c.cells, c.op, c.target) for c in got.cages} == {(c.cells, c.op, c.target) for c in spec.cages}
    assert any(e.code == "clue_repaired" and repr(truth) in e.text for e in hints.evidence)
    assert hints.confidence > DOUBTFUL   # a cheap change: the second guess at 0.35 against 0.9


def test_an_unlikely_repair_is_doubtful(read):
    _, state = read
    bad, i, truth = misread(state, p_wrong=0.999, p_true=0.005)   # 5.3 nats apart
    fixed = repair_clues(bad)
    assert fixed.variants.cages[i].clue.text == truth
    assert infer_rules(fixed)[0].confidence <= DOUBTFUL


def test_without_the_true_reading_among_the_guesses(read):
    spec, state = read
    bad, i, truth = misread(state)
    cages = list(bad.variants.cages)
    cages[i] = replace(cages[i], clue=replace(cages[i].clue, alternatives=()))
    bad = replace(bad, variants=replace(bad.variants, cages=tuple(cages)))
    after = repair_clues(bad)
    if spec.kind == "kenken":
        # The likeliest readings of the doubtful clues, any text their cage can meet: the truth,
        # a change the reader did not offer, so doubted.
        assert after.variants.cages[i].clue.text == truth
        assert after.verdict.solver_status == "solved"
        assert infer_rules(after)[0].confidence <= DOUBTFUL
        return
    assert after is bad
    hints, _ = infer_rules(after)
    assert hints.problems and hints.confidence <= DOUBTFUL


def test_a_reading_with_one_solution_is_left_alone(read):
    _, state = read
    # Even with a tempting second guess for every character.
    v = state.variants
    cages = tuple(replace(k, clue=replace(k.clue, alternatives=tuple(
        (("7", 0.4),) if ch.isdigit() else (("-", 0.4),) for ch in k.clue.text))) for k in v.cages)
    st = replace(state, variants=replace(v, cages=cages))
    assert repair_clues(st) is st


def test_a_spurious_character_is_dropped(read):
    # A stray mark read as one more digit (a given's top in the clue corner): '9' as '97'.
    _, state = read
    for i, cage in enumerate(state.variants.cages):
        text = cage.clue.text
        k = len(text.rstrip("+-x/"))
        longer = text[:k] + "7" + text[k:]
        alts = [()] * len(longer)
        alts[k] = (("", 0.08),)
        bad = with_clue(state, i, parse_clue(longer, [0.99] * k + [0.9] + [0.99] * (len(text) - k), alts))
        if bad is not None:
            break
    else:
        raise AssertionError("no longer clue breaks this puzzle")
    fixed = repair_clues(bad)
    assert fixed.variants.cages[i].clue.text == text and fixed.verdict.solver_status == "solved"


def _cages(*clues):
    from vlm_puzzle.vision.variants import CageRead
    cells = (((0, 0), (0, 1)), ((1, 0), (1, 1)), ((2, 0),))
    return tuple(CageRead(cells=c, clue=k) for c, k in zip(cells, clues))


def test_a_cage_without_operator_gets_each_reachable_one_to_try():
    from vlm_puzzle.check.clues import MISSING_OP, clue_changes, with_changes
    from vlm_puzzle.check.givens import CHANGE_PENALTY
    cages = _cages(parse_clue("7", [0.99], [()]), parse_clue("3+", [0.99, 0.99], [(), ()]),
                   parse_clue("2", [0.99], [()]))
    changes = clue_changes(cages, kenken_size=4)
    appended = {ch for cost, i, j, ch in changes if i == 0 and j == 1}
    # 7 from two cells of 1..4: a sum (3+4) only; the 1-cell cage needs no operator.
    assert appended == {"+"} and not [c for c in changes if c[1] == 2]
    assert [c[0] for c in changes if c[1] == 0] == [MISSING_OP + CHANGE_PENALTY]
    assert with_changes(read_state_stub(cages), [c for c in changes if c[1] == 0]).cages[0].clue.op == "add"
    assert not clue_changes(cages)   # not a KenKen: no operator is made up


def test_a_sure_operator_may_still_be_its_look_alike():
    from vlm_puzzle.check.clues import CONFUSABLE, OP_FLOOR_P, clue_changes, with_changes
    cages = _cages(parse_clue("5+", [0.99, 1.0], [(), ()]), parse_clue("2x", [0.99, 0.99], [(), ()]))
    changes = clue_changes(cages, kenken_size=6)
    swaps = {(i, ch) for _, i, j, ch in changes if j == 1}
    assert swaps == {(0, ch) for ch in CONFUSABLE["+"]} | {(1, ch) for ch in CONFUSABLE["x"]}
    div = [c for c in changes if c[1] == 0 and c[3] == "/"]
    fixed = with_changes(read_state_stub(cages), div).cages[0].clue
    assert (fixed.op, fixed.target) == ("div", 5) and fixed.probs[1] == pytest.approx(OP_FLOOR_P)


def read_state_stub(cages):
    """A VariantState holding only ``cages`` (what clue_changes / with_changes look at)."""
    from vlm_puzzle.vision.marks import Marks
    from vlm_puzzle.vision.variants import VariantState
    return VariantState(size=6, edges=None, regions=None, cage_style="thick", cages=cages, diagonals=False,
                        windows=False, marks=Marks(False, False, np.zeros((6, 6), bool), 0.0, 0.0))


def test_several_killer_sums_misread_are_repaired_by_the_total():
    # Four sums misread, each sure-ish with the true digit a distant second guess: beyond the
    # three changes of the search by cost; the killer total and the solver find them together.
    from vlm_puzzle.check.clues import SURE_CHAR, total_repairs
    from vlm_puzzle.rules.geometry import reachable
    from vlm_puzzle.spec import Cage
    spec, _ = generate_puzzle("killer", 6, seed=3)
    shot = render_puzzle(spec, seed=3, style=STYLE, size_px=700)
    state = read_state(np.ascontiguousarray(shot.image[..., ::-1]))
    v = state.variants
    cages, truths = list(v.cages), {}
    for i, cage in enumerate(cages):
        text = cage.clue.text
        wrong = next((d for d in "987654321" if d != text[-1] and (len(text) > 1 or d != "0")
                      and reachable(Cage(cage.cells, "sum", int(text[:-1] + d)), 6)), None)
        if wrong is None or len(truths) == 4 or len(cage.cells) < 2:
            continue
        probs = [0.99] * (len(text) - 1) + [0.9]
        alts = [()] * (len(text) - 1) + [((text[-1], 0.02),)]
        cages[i] = replace(cage, clue=parse_clue(text[:-1] + wrong, probs, alts))
        truths[i] = text
    bad = replace(state, variants=replace(v, cages=tuple(cages)),
                  verdict=replace(state.verdict, solver_status="no_solution"))
    fixed = repair_clues(bad)
    assert {i: fixed.variants.cages[i].clue.text for i in truths} == truths
    assert fixed.verdict.solver_status == "solved" and fixed.verdict.solution == state.verdict.solution
    assert sum(u.code == "clue_repaired" for u in fixed.variants.uncertainties) == 4
    # A character read surely is never changed: with the misread digits sure, no repair is found.
    sure = [replace(k, clue=replace(k.clue, probs=tuple(max(p, SURE_CHAR) for p in k.clue.probs))) for k in cages]
    assert not list(total_repairs(sure, 6, state.givens, (2, 3), float("inf")))
