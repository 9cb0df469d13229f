"""Repair misread cage clues with the solver, guided by the clue reader's probabilities.

A published killer or KenKen has exactly one solution. When the clues as read give
the givens none (or several), or fail the consistency checks (a target no digits
can make, killer sums that do not total N*N*(N+1)/2), the likeliest explanation is
a misread character: a '4÷' read as '4+', a '29' as '20', a '9' as '97' (the top
of a given digit in the clue's corner). Candidate readings swap one to three
characters for the reader's next guesses at the same place (a digit for a digit,
an operator for an operator, or nothing); they are tried cheapest first (the
reader's own loss, ``-log p(new) + log p(old)``, plus a penalty per change, as in
:mod:`vlm_puzzle.check.givens`), and the first under which the givens have
exactly one solution is kept, and said (the state's variants carry a note for
each changed clue). A reading that already has exactly one solution is never changed.
"""
from __future__ import annotations

import time
from dataclasses import replace
from itertools import combinations

import numpy as np

from vlm_puzzle.check.cage_readings import Search, cage_readings, likeliest_readings
from vlm_puzzle.check.givens import CHANGE_PENALTY, MAX_COST, subsets_by_cost, verdict
from vlm_puzzle.check.judge import AMBIGUOUS_CLOSE, CLUE_AMBIGUOUS, UNLIKELY_REPAIR
from vlm_puzzle.check.templates import repair_template
from vlm_puzzle.findings import Finding, uncertain
from vlm_puzzle.rules.geometry import DOUBTFUL, Decision, reachable
from vlm_puzzle.verdict import GivensVerdict, as_solution
from vlm_puzzle.solver import solve
from vlm_puzzle.spec import Cage, PuzzleSpec, SpecError, killer_total
from vlm_puzzle.vision.clues import OP_OF, parse_clue
from vlm_puzzle.vision.state import GridState

MAX_CHANGES = 3         # characters changed at most
MAX_ALTERNATIVES = 30   # cheapest single-character changes considered
MAX_SOLVES = 60         # solver calls at most
BUDGET_S = 1.5          # seconds of this process's CPU time (not the clock's) for each search
SOLVE_S = 0.5           # seconds per solver call
_KIND_OF_STYLE = {"dashed": "killer", "thick": "kenken", "solid": "killer"}
# An operator the reader did not see (``:`` for division, ``*``...): nats per guess.
MISSING_OP = 1.0
# Operators a blurred print turns into one another (a small ÷ into +, a × into +...),
# tried at OP_FLOOR_P where the reader gave them less.
CONFUSABLE = {"+": "/x", "-": "/+", "x": "+", "/": "+-"}
OP_FLOOR_P = float(np.exp(-6.0))
# The killer-total search (total_repairs): characters read at SURE_CHAR or more are never
# changed, at most TOTAL_PER_CLUE characters of one clue.
SURE_CHAR = 0.95
TOTAL_PER_CLUE = 2
# The KenKen search (kenken_repairs): readings kept per cage.
KENKEN_PER_CAGE = 4
# The likeliest-readings search (likeliest_kenken): clues read below DOUBT_CLUE, or that their
# cage cannot meet, are doubtful (MAX_DOUBTFUL at most, the least sure); when no grid meets them
# (a clue read surer is misread too), those read below WIDER_CLUE. Its work is counted
# (cage_readings.MAX_WORK); LIKELIEST_S only guards the clock (a seconds-long search at worst).
DOUBT_CLUE = 0.9
WIDER_CLUE = 0.99
MAX_DOUBTFUL = 14
LIKELIEST_S = 10.0


def clue_changes(cages, max_cost: float = MAX_COST, kenken_size: int = 0) -> list[tuple[float, int, int, str]]:
    """(cost, cage index, character index, new character) of every one-character
    change to the cages' clues cheaper than ``max_cost`` nats (plus the change
    penalty), cheapest first (at most ``MAX_ALTERNATIVES``). ``kenken_size``: the
    size N of a KenKen, whose multi-cell cages read without an operator may also get
    one appended (character index = the clue's length): each that can reach the
    target with digits 1..N, at MISSING_OP nats (a glyph the reader does not know)."""
    out = []
    for i, cage in enumerate(cages):
        clue = cage.clue
        if kenken_size and len(cage.cells) > 1 and clue.op is None and clue.target is not None:
            for ch in "+-x/":
                if reachable(Cage(cage.cells, OP_OF[ch], clue.target), kenken_size):
                    out.append((MISSING_OP + CHANGE_PENALTY, i, len(clue.text), ch))
        for j, (p, alts) in enumerate(zip(clue.probs, clue.alternatives)):
            if kenken_size and clue.text[j] in CONFUSABLE:
                # A small operator blurs into another that the reader may be sure of.
                seen = {ch for ch, _ in alts}
                alts = alts + tuple((ch, OP_FLOOR_P) for ch in CONFUSABLE[clue.text[j]] if ch not in seen)
            for ch, q in alts:
                cost = float(np.log(max(p, 1e-12)) - np.log(max(q, 1e-12))) + CHANGE_PENALTY
                if cost < max_cost + CHANGE_PENALTY:
                    out.append((cost, i, j, ch))
    out.sort()
    return out[:MAX_ALTERNATIVES]


def total_repairs(cages, n: int, givens, box, deadline: float):
    """Lists of clue changes (``clue_changes``' tuples), one by one, under which the sums of
    killer cages that cover the grid total N*N*(N+1)/2 and every cage taken leaves the givens
    a solution. Each unsure clue (a character read below ``SURE_CHAR``) may take any of its readings
    that change up to ``TOTAL_PER_CLUE`` characters for the reader's next guesses (a reachable
    sum). The solver decides: the sure cages first, then the unsure ones from the surest, each
    with its readings cheapest first, kept only while the cages so far still have a solution
    (milliseconds each: a loose killer is easy) and the rest can still make the total up;
    several changes at once are found where trying subsets by cost would take a solver call
    per subset. Nothing when the cages do not cover the grid, a clue is unreadable or the total
    already holds; the search stops when ``deadline`` passes (``time.process_time()``: the CPU
    time of this process, so that a machine busy with other work gets the same answer)."""
    want = killer_total(n)
    if box is None or sum(len(k.cells) for k in cages) != n * n or any(k.clue.target is None for k in cages):
        return
    need = want - sum(k.clue.target for k in cages)
    if need == 0:
        return
    options = {i: [(0.0, 0, ())] + sorted(_readings(i, k, n)) for i, k in enumerate(cages)}
    unsure = sorted((i for i in options if len(options[i]) > 1), key=lambda i: -cages[i].clue.confidence)
    fixed = [Cage(k.cells, "sum", k.clue.target) for i, k in enumerate(cages) if len(options[i]) == 1]
    # reach[k]: the changes of the total that the unsure cages from k on can still make.
    reach = [{0}]
    for i in reversed(unsure):
        reach.insert(0, {a + d for a in reach[0] for _, d, _ in options[i]})
    grid = [[int(v) for v in row] for row in np.asarray(givens).reshape(n, n)]

    def feasible(chosen_cages) -> bool:
        spec = PuzzleSpec(kind="killer", size=n, givens=grid, box=tuple(box), cages=tuple(fixed + chosen_cages))
        left = deadline - time.process_time()
        return left > 0 and solve(spec, unique=False, timeout_s=min(SOLVE_S, left)).status != "no_solution"

    def search(k: int, delta: int, chosen_cages: list, changes: tuple):
        if k == len(unsure):
            if delta == need:
                yield list(changes)
            return
        i = unsure[k]
        for _, d, more in options[i]:
            if time.process_time() > deadline:
                return
            if need - delta - d not in reach[k + 1]:
                continue
            cage = Cage(cages[i].cells, "sum", cages[i].clue.target + d)
            if feasible(chosen_cages + [cage]):
                yield from search(k + 1, delta + d, chosen_cages + [cage], changes + more)
    if need in reach[0]:
        yield from search(0, 0, [], ())


def _readings(i: int, cage, n: int) -> list[tuple[float, int, tuple]]:
    """(cost, change of the target, changes) of the other readings of cage ``i``'s sum."""
    clue = cage.clue
    unsure = [(j, ch, q, p) for j, (p, alts) in enumerate(zip(clue.probs, clue.alternatives)) if p < SURE_CHAR
              for ch, q in alts]
    out = []
    for k in range(1, TOTAL_PER_CLUE + 1):
        for combo in combinations(unsure, k):
            if len({c[0] for c in combo}) < k:
                continue   # one character changed once
            chars = list(clue.text)
            for j, ch, _, _ in combo:
                chars[j] = ch
            digits = "".join(chars)
            if not digits.isdigit() or digits[0] == "0":
                continue
            target = int(digits)
            if target == clue.target or not reachable(Cage(cage.cells, "sum", target, distinct=True), n):
                continue
            changes = tuple((float(np.log(max(p, 1e-12)) - np.log(max(q, 1e-12))) + CHANGE_PENALTY, i, j, ch)
                            for j, ch, q, p in combo)
            out.append((sum(c[0] for c in changes), target - clue.target, changes))
    return out


def with_changes(variants, changes: list[tuple[float, int, int, str]]):
    """``variants`` with the clue characters of ``changes`` swapped or, for ``""``,
    dropped (each changed clue parsed anew, the new character's probability in
    place of the old)."""
    cages = list(variants.cages)
    for i in sorted({c[1] for c in changes}):
        cages[i] = replace(cages[i], clue=changed_clue(cages[i].clue, [c for c in changes if c[1] == i]))
    return replace(variants, cages=tuple(cages))


def changed_clue(clue, changes):
    """``clue`` with the characters of ``changes`` (of this clue) swapped, dropped or appended."""
    chars, probs, alts = list(clue.text), list(clue.probs), list(clue.alternatives)
    for _, _, j, ch in changes:
        if j >= len(clue.text):   # an operator appended (see clue_changes)
            chars.append(ch)
            probs.append(float(np.exp(-MISSING_OP)))
            alts.append(())
            continue
        probs[j] = dict(clue.alternatives[j]).get(ch, OP_FLOOR_P)
        chars[j] = ch
    kept = [j for j, ch in enumerate(chars) if ch]   # "" drops the character
    return replace(parse_clue([chars[j] for j in kept], [probs[j] for j in kept], [alts[j] for j in kept]),
                   extent=clue.extent)


def kenken_readings(i: int, cage, n: int, per_cage: int = 0) -> list[tuple[float, tuple]]:
    """(cost, changes) of the readings of KenKen cage ``i``'s clue that its cage can meet - an
    operator on a cage of several cells (``-`` and ``/`` on two), none on one cell, a target
    digits 1..N can reach (:func:`~vlm_puzzle.rules.geometry.reachable`) - as read (cost 0) or
    with one or two characters changed (:func:`clue_changes`' changes), cheapest first, at most
    ``per_cage`` (KENKEN_PER_CAGE). Arithmetic rules out most misreadings before any solver call."""
    singles = [(c[0], i, c[2], c[3]) for c in clue_changes([cage], MAX_COST, n)]
    options = [(0.0, ())] + [(c[0], (c,)) for c in singles]
    options += [(a[0] + b[0], (a, b)) for a, b in combinations(singles, 2) if a[2] != b[2]]
    out = []
    for cost, changes in sorted(options, key=lambda o: o[0]):
        if _meetable(cage.cells, changed_clue(cage.clue, changes) if changes else cage.clue, n, strict=True):
            out.append((cost, changes))
            if len(out) >= (per_cage or KENKEN_PER_CAGE):
                break
    return out


def _meetable(cells, clue, n: int, strict: bool) -> bool:
    """Whether digits 1..N can meet ``clue`` on a KenKen cage of ``cells``: a target, an operator
    on several cells, reachable (:func:`~vlm_puzzle.rules.geometry.reachable`). ``strict`` as the
    puzzle's rules have it (no operator on one cell, ``-`` and ``/`` on two, distinct digits on a
    line); otherwise only what the rules check rejects (an operator on one cell ignored)."""
    single = len(cells) == 1
    if clue.target is None or (clue.op is None and not single):
        return False
    if strict and (clue.op is not None and single or clue.op in ("sub", "div") and len(cells) != 2):
        return False
    try:
        return reachable(Cage(cells, None if single else clue.op, clue.target,
                              distinct=strict and _in_line(cells)), n)
    except SpecError:
        return False


def _in_line(cells) -> bool:
    """Whether a KenKen cage's cells share a row or a column (so hold distinct digits)."""
    return len({r for r, _ in cells}) == 1 or len({c for _, c in cells}) == 1


def kenken_repairs(cages, n: int):
    """Lists of clue changes, cheapest in all first, that give every cage of a KenKen a reading
    it can meet (:func:`kenken_readings`); a cage whose clue as read it can meet, read at
    SURE_CHAR or surer, keeps it. Nothing when some cage has no such reading. Best-first over
    the cages' choices: each list is tried by the solver in turn (see :func:`repair_clues`)."""
    import heapq
    choices = []
    for i, cage in enumerate(cages):
        options = kenken_readings(i, cage, n)
        if not options:
            return
        if options[0][0] == 0.0 and cage.clue.confidence >= SURE_CHAR:
            options = options[:1]
        if len(options) > 1 or options[0][1]:
            choices.append(options)
    if not choices:
        return
    start = (sum(o[0][0] for o in choices), (0,) * len(choices), 0)
    heap, seen = [start], {start[1]}
    while heap:
        cost, idx, _ = heapq.heappop(heap)
        yield [c for k, j in enumerate(idx) for c in choices[k][j][1]]
        for k in range(len(choices)):
            if idx[k] + 1 < len(choices[k]):
                nxt = idx[:k] + (idx[k] + 1,) + idx[k + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    step = choices[k][idx[k] + 1][0] - choices[k][idx[k]][0]
                    heapq.heappush(heap, (cost + step, nxt, len(seen)))


def repair_clues(state: GridState, decision: Decision) -> GridState:
    """Check ``state``'s cage clues against the solver and repair them if needed.

    ``state``: a :class:`~vlm_puzzle.vision.state.GridState` whose givens were
    checked (its ``verdict``) and whose ``variants`` were read; ``decision``:
    geometry's kind of puzzle. Each candidate's rules are
    :func:`~vlm_puzzle.check.templates.repair_template`'s (which falls back to other
    rules when the clues fail the consistency checks). On success the result has the
    repaired variants (a finding per changed clue in their ``uncertainties``; their
    confidence at most ``DOUBTFUL`` when a change is one the reader gave less than
    e^-UNLIKELY_REPAIR of its first guess) and the solver's verdict under them;
    otherwise ``state`` itself is returned.
    """
    variants = state.variants
    kind = _KIND_OF_STYLE.get(variants.cage_style) if variants is not None else None
    if kind is None or not variants.cages:
        return state
    v = state.verdict or GivensVerdict.unchecked(state.givens)
    if v.kind == kind and v.solver_status in ("solved", "timeout"):
        return state   # one solution already, or a solver that could not tell
    t0 = time.perf_counter()
    several = v.kind == kind and v.solver_status == "multiple"
    # Several solutions may be the puzzle's own: then change only what the reader doubted.
    changes = clue_changes(variants.cages, UNLIKELY_REPAIR if several else MAX_COST,
                           variants.size if kind == "kenken" else 0)
    # A killer's sums must total N*N*(N+1)/2: the solver picks readings that make them do first.
    cpu0 = time.process_time()
    by_total = total_repairs(variants.cages, variants.size, state.givens, decision.box, cpu0 + BUDGET_S) \
        if kind == "killer" and not several else ()

    def first_solved(candidates, calls, max_calls, over, ok=lambda chosen: True):
        """(the repaired state, solver calls) for the first of ``candidates`` (lists of changes)
        under which the solver finds one solution, (None, calls) when none did; no more solves
        once ``calls`` reaches ``max_calls`` or ``over()``; candidates not ``ok`` are skipped."""
        for chosen in candidates:
            if calls >= max_calls or over():
                break
            if not ok(chosen):
                continue   # a cage's clue unreadable or out of reach: the template would fail its checks
            candidate = with_changes(variants, chosen)
            got = solved_under(candidate)
            if got is not None:
                calls += 1
            if got is not None and got[0] == "solved":
                changed = sorted({c[1] for c in chosen})
                losses = {i: sum(c[0] - CHANGE_PENALTY for c in chosen if c[1] == i) for i in changed}
                unlikely = max(c[0] for c in chosen) - CHANGE_PENALTY > UNLIKELY_REPAIR
                doubt = _other_readings(variants, changed, got[1]) if kind == "kenken" == decision.kind else ""
                return _repaired(state, v, kind, variants, candidate, losses, unlikely, doubt, *got, t0), calls
        return None, calls

    def solved_under(candidate):
        """The solver's (status, solution) under ``candidate``'s clues; None when they fail the checks."""
        template = repair_template(state, decision, candidate)
        if template is None or template.kind != kind:
            return None   # the changed clues still fail the consistency checks
        return verdict(template, state.givens, SOLVE_S)

    repaired, calls = first_solved(by_total, 0, MAX_SOLVES // 2,
                                   lambda: time.process_time() - cpu0 > BUDGET_S)
    if repaired is None:
        cages_ok = _kenken_cages_ok(variants) if kind == "kenken" == decision.kind else (lambda chosen: True)
        subsets = ([changes[i] for i in idx] for _, idx in subsets_by_cost(changes, MAX_CHANGES))
        repaired, calls = first_solved(subsets, calls, MAX_SOLVES,
                                       lambda: time.process_time() - cpu0 > BUDGET_S, cages_ok)
    if repaired is None and kind == "kenken" and not several:
        # Then, with a budget of its own, readings every cage can meet, cheapest first: several
        # misread clues at once (handwriting), where the search above changes three at most.
        cpu1 = time.process_time()
        repaired, _ = first_solved(kenken_repairs(variants.cages, variants.size), 0, MAX_SOLVES // 2,
                                   lambda: time.process_time() - cpu1 > BUDGET_S)
    if repaired is None and kind == "kenken" == decision.kind and not several:
        # Last, the likeliest readings of every doubtful clue at once, any text its cage can meet.
        search = likeliest_kenken(variants.cages, variants.size, time.perf_counter() + LIKELIEST_S)
        for found in search.found:
            if search.complete and found.count > 1:
                continue   # several grids meet these readings: not the puzzle
            candidate = with_readings(variants, found.readings)
            got = solved_under(candidate)
            if got is not None and got[0] == "solved":
                losses = {i: r.loss for i, r in found.readings.items() if r.changes}
                unlikely = any(r.loss > UNLIKELY_REPAIR * max(1, r.changes) for r in found.readings.values())
                doubt = _ambiguity(search, found)
                repaired = _repaired(state, v, kind, variants, candidate, losses, unlikely, doubt, *got, t0)
                break
    return state if repaired is None else repaired


def likeliest_kenken(cages, n: int, deadline: float) -> Search:
    """:func:`~vlm_puzzle.check.cage_readings.likeliest_readings` over the doubtful clues (see
    DOUBT_CLUE); widened to WIDER_CLUE when no grid meets them."""
    options: dict = {}
    search = Search((), True, 0)
    tried: list = []
    for below in (DOUBT_CLUE, WIDER_CLUE):
        doubtful = _doubtful(cages, n, below)
        if not doubtful or doubtful == tried:
            continue
        tried = doubtful
        for i in doubtful:
            if i not in options:
                options[i] = cage_readings(cages[i].cells, cages[i].clue, n)
        search = likeliest_readings(cages, n, doubtful, options, deadline=deadline)
        if search.found or not search.complete:
            break
    return search


def _doubtful(cages, n: int, below: float) -> list[int]:
    """Indices of the cages whose clue their cage cannot meet, then of those read below
    ``below``, least sure first; MAX_DOUBTFUL at most."""
    bad = [i for i, k in enumerate(cages) if not _meetable(k.cells, k.clue, n, strict=True)]
    unsure = sorted((k.clue.confidence, i) for i, k in enumerate(cages) if i not in bad and k.clue.confidence < below)
    return (bad + [i for _, i in unsure])[:MAX_DOUBTFUL]


def with_readings(variants, readings: dict):
    """``variants`` with the clues of the cages in ``readings`` (index -> :class:`Reading`) read so."""
    cages = list(variants.cages)
    for i, r in readings.items():
        cages[i] = replace(cages[i], clue=replace(parse_clue(list(r.text), list(r.probs)), extent=cages[i].clue.extent))
    return replace(variants, cages=tuple(cages))


def _ambiguity(search: Search, chosen) -> str:
    """Why ``chosen`` (a reading set of ``search``, the one repaired to) is in doubt, as text; empty
    when it is not: another reading set within AMBIGUOUS_CLOSE nats of it under which the puzzle
    has one other solution (all grids enumerated), or a likelier one under which it has several
    (some other clue misread too, it may well be the truth): the solver's "one solution" then does
    not decide between two puzzles."""
    for other in search.found:
        if other.cost > chosen.cost + AMBIGUOUS_CLOSE:
            break
        if other is chosen:
            continue
        said = ", ".join(f"{r.text!r}" for i, r in sorted(other.readings.items()) if r.text != chosen.readings[i].text)
        if search.complete and other.count == 1 and other.solution != chosen.solution:
            return f"clues read as {said} ({other.cost - chosen.cost:+.1f} nats) give another puzzle of one solution"
        if other.count > 1 and other.cost < chosen.cost:
            return f"clues read as {said} ({other.cost - chosen.cost:+.1f} nats) give a puzzle of several solutions"
    return ""


def _other_readings(variants, changed: list[int], solution) -> str:
    """:func:`_ambiguity` of a repair of the clues of ``changed`` cages (the others as read) that
    gave ``solution``: their readings searched anew, the repair's among them."""
    n = variants.size
    options = {i: cage_readings(variants.cages[i].cells, variants.cages[i].clue, n) for i in changed}
    search = likeliest_readings(variants.cages, n, changed, options, deadline=time.perf_counter() + LIKELIEST_S)
    want = tuple(tuple(int(x) for x in row) for row in solution)
    mine = [f for f in search.found if f.solution == want]
    if not mine:
        # The repair's grid meets its readings: it is enumerated unless the search stopped.
        return ""
    return _ambiguity(search, mine[0])


def _kenken_cages_ok(variants):
    """A test ``chosen changes -> bool`` that is False only where ``repair_template`` would give
    a KenKen candidate no KenKen rules: some cage's clue, changed or as read, unreadable, without
    an operator on several cells, or out of reach of digits 1..N. Each cage's clue under each set
    of its changes is judged once (most of a search's candidates fail so, thousands of them)."""
    n = variants.size
    judged: dict[tuple, bool] = {}

    def ok(i: int, mine: tuple) -> bool:
        if (i, mine) not in judged:
            cage = with_changes(variants, list(mine)).cages[i] if mine else variants.cages[i]
            judged[i, mine] = _meetable(cage.cells, cage.clue, n, strict=False)
        return judged[i, mine]
    bad = {i for i in range(len(variants.cages)) if not ok(i, ())}

    def test(chosen) -> bool:
        changed = {c[1] for c in chosen}
        return not bad - changed and all(ok(i, tuple(c for c in chosen if c[1] == i)) for i in changed)
    return test


def _repaired(state, v, kind, variants, candidate, losses: dict, unlikely: bool, doubt: str,
              status, solution, t0) -> GridState:
    """``state`` with the repaired clues of ``candidate`` and the solver's verdict. ``losses``:
    changed cage index -> nats the reader lost on it; ``unlikely``: a change the reader gave little
    chance; ``doubt``: another reading set as likely, with another solution (:func:`_ambiguity`)."""
    notes = tuple(_note(variants.cages[i], candidate.cages[i], losses[i]) for i in sorted(losses))
    confidence = variants.confidence
    if unlikely:
        confidence = min(confidence, DOUBTFUL)
    if doubt:
        notes += (uncertain(CLUE_AMBIGUOUS, doubt),)
        confidence = min(confidence, DOUBTFUL)
    fixed = replace(candidate, uncertainties=variants.uncertainties + notes, confidence=confidence)
    checked = replace(v, kind=kind, solver_status=status, solution=as_solution(solution),
                      status="repaired" if v.repairs else "not_needed")
    timing = {**state.timing, "clue_repair_s": time.perf_counter() - t0}
    return replace(state, variants=fixed, verdict=checked, timing=timing)


def _note(before, after, cost: float) -> Finding:
    return uncertain("clue_repaired", f"cage at {before.anchor}: clue read as {before.clue.text!r} "
                     f"({before.clue.confidence:.2f}) taken as {after.clue.text!r} ({cost:.1f} nats less likely): "
                     "the likeliest reading under which the puzzle has exactly one solution")
