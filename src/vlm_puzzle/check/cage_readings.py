"""The likeliest readings of a KenKen's doubtful clues under which its cages have a solution.

A handwritten 8x8 or 9x9 KenKen often holds four to six misread clues, some with a character
the reader did not see at all (``3x`` for ``32x``) or one read as another kind (``41`` for
``4/``): changing one or two characters for the reader's next guesses does not reach them.
Here each doubtful cage's clue is a variable over every reading its cage can meet (each
operator the cage allows, each target digits 1..N reach), priced by how much less likely the
reader found that text than what it read (:func:`text_cost`: an edit distance whose
substitutions and deletions cost the reader's own loss, ``-log p(new) + log p(read)``, and
whose insertions a fixed price), readings dearer than a bound dropped. The solver enumerates
the grids in which every doubtful cage meets one of its readings, every other cage its clue as
read, and the readings cost at most a budget in all (branch and bound: a constraint over the
doubtful cages prunes on the cheapest readings their cells' domains still allow), the budget
raised until some grid fits; each grid names its cheapest reading per doubtful cage (the values
of a cage fix its target under each operator), and the reading sets come cheapest first
(:func:`likeliest_readings`). The work is bounded by counts (grids enumerated, bound
computations), not by the clock, so that the answer does not depend on the machine's load; a
clock deadline only guards against the worst.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product as iproduct

from constraint import Constraint, Problem

from vlm_puzzle.solver.constraints import AllDifferentGroup, DeadlinePassed, _tuple_count, values_of
from vlm_puzzle.solver.model import cage_constraints
from vlm_puzzle.solver.search import PropagatingSolver
from vlm_puzzle.spec import Cage

SYMBOL = {"add": "+", "sub": "-", "mul": "x", "div": "/"}
OPS_TEXT = set("+-x/\u2212\u00d7*\u00f7:")
CHANGE = 2.0           # nats per changed character (as givens.CHANGE_PENALTY): fewer changes first
FLOOR = 1e-3           # a character the reader gave less than vision.clues.ALTERNATIVE_MIN (or none)
INSERT = 5.0           # nats: a character the reader did not see at all
INSERT_OP_END = 1.0    # nats: an operator the reader did not see after the digits (as clues.MISSING_OP)
BOUND = 12.0           # nats: readings of a cage dearer than this are not considered
MAX_GRIDS = 300        # grids enumerated at most per search
MAX_PRODUCTS = 20_000  # value tuples tried at most for a cage's products
MAX_TUPLES = 4096      # a doubtful cage's cells are narrowed by trying its value tuples up to this many
# The reading sets' summed cost is bounded (branch and bound, iterative deepening), these in turn;
# the runners-up are looked for up to MARGIN nats dearer than the cheapest.
BUDGETS = (4.0, 8.0, 12.0, 16.0, 20.0, 25.0, 30.0, 40.0)
MARGIN = 4.0
# Bound computations at most per search (each one a node of the solver's search or a propagation
# round): the work is counted, not timed, so that a busy machine gets the same answer.
MAX_WORK = 5000


@dataclass(frozen=True)
class Reading:
    """One reading of a cage's clue: ``op`` (None on one cell), ``target``, ``text`` and its
    ``cost`` in nats against the text as read (:func:`text_cost`), ``probs`` per character,
    ``changes`` (characters changed, dropped or added)."""

    op: str | None
    target: int
    text: str
    cost: float
    probs: tuple[float, ...]
    changes: int = 0

    @property
    def loss(self) -> float:
        """The reader's own loss, nats (``cost`` without the price per change)."""
        return self.cost - CHANGE * self.changes


def text_cost(clue, text: str) -> tuple[float, tuple[float, ...], int]:
    """(nats, probability of each character of ``text``, characters changed): how much less likely the reader found
    ``text`` than ``clue.text`` - the cheapest alignment of the two, a kept character free, a
    changed or dropped one ``log p(read) - log p(new)`` (p(new) from the clue's alternatives,
    ``""`` for dropped, else FLOOR) plus CHANGE, an added one INSERT (an operator after the
    digits INSERT_OP_END) plus CHANGE. Operators read on a one-cell cage's clue are ignored by
    the caller (the rules check does so too)."""
    read, m, k = clue.text, len(clue.text), len(text)
    probs = list(clue.probs) + [1.0] * (m - len(clue.probs))
    alts = [dict(a) for a in clue.alternatives] + [{}] * (m - len(clue.alternatives))

    def q(i: int, ch: str) -> float:
        return alts[i].get(ch, FLOOR)

    def change(i: int, ch: str) -> float:
        return max(0.0, math.log(max(probs[i], 1e-12)) - math.log(max(q(i, ch), 1e-12))) + CHANGE

    inf = float("inf")
    d = [[inf] * (k + 1) for _ in range(m + 1)]
    back = [[None] * (k + 1) for _ in range(m + 1)]
    d[0][0] = 0.0
    for i in range(m + 1):
        for j in range(k + 1):
            here = d[i][j]
            if here == inf:
                continue
            if i < m and j < k:
                step = 0.0 if read[i] == text[j] else change(i, text[j])
                if here + step < d[i + 1][j + 1]:
                    d[i + 1][j + 1], back[i + 1][j + 1] = here + step, ("sub", i, j)
            if i < m and here + change(i, "") < d[i + 1][j]:
                d[i + 1][j], back[i + 1][j] = here + change(i, ""), ("del", i, j)
            if j < k:
                add = (INSERT_OP_END if text[j] in OPS_TEXT and j == k - 1 and i == m else INSERT) + CHANGE
                if here + add < d[i][j + 1]:
                    d[i][j + 1], back[i][j + 1] = here + add, ("ins", i, j)
    out, changes = [1.0] * k, 0
    i, j = m, k
    while back[i][j] is not None:
        how, a, b = back[i][j]
        changes += how != "sub" or read[a] != text[b]
        if how == "sub":
            out[b] = probs[a] if read[a] == text[b] else q(a, text[b])
        elif how == "ins":
            out[b] = math.exp(-(INSERT_OP_END if text[b] in OPS_TEXT and b == k - 1 else INSERT))
        i, j = a, b
    return d[m][k], tuple(out), changes


def _targets(op: str | None, k: int, n: int) -> range | set:
    """Targets digits 1..N can reach under ``op`` on ``k`` cells (rows and columns aside)."""
    if op is None:
        return range(1, n + 1)
    if op == "add":
        return range(k, k * n + 1)
    if op == "sub":
        return range(1, n)
    if op == "div":
        return range(2, n + 1)
    reach = {1}
    for _ in range(k):
        reach = {p * v for p in reach for v in range(1, n + 1)}
        if len(reach) > MAX_PRODUCTS:
            break
    return reach


def cage_readings(cells, clue, n: int, bound: float = BOUND) -> list[Reading]:
    """Every reading of ``clue`` that digits 1..N can meet on a KenKen cage of ``cells`` (the
    puzzle's own rules: no operator on one cell, ``-`` and ``/`` on two; see
    :func:`vlm_puzzle.check.clues._meetable`) costing at most ``bound`` nats, cheapest first."""
    from vlm_puzzle.check.clues import _meetable
    from vlm_puzzle.vision.clues import parse_clue
    single = len(cells) == 1
    if single and any(ch in OPS_TEXT for ch in clue.text):
        # An operator on one cell is ignored, as the rules check ignores it.
        keep = [i for i, ch in enumerate(clue.text) if ch not in OPS_TEXT]
        clue = parse_clue([clue.text[i] for i in keep], [clue.probs[i] for i in keep if i < len(clue.probs)],
                          [clue.alternatives[i] for i in keep if i < len(clue.alternatives)])
    ops = (None,) if single else ("add", "mul", "sub", "div") if len(cells) == 2 else ("add", "mul")
    op_first = bool(clue.text) and clue.text[0] in OPS_TEXT
    out = []
    for op in ops:
        for target in sorted(_targets(op, len(cells), n)):
            texts = [str(target)] if op is None else [f"{target}{SYMBOL[op]}"]
            if op_first and op is not None:
                texts.append(f"{SYMBOL[op]}{target}")
            best = min(text_cost(clue, t) + (t,) for t in texts)
            if best[0] > bound:
                continue
            candidate = parse_clue(list(best[3]), list(best[1]))
            if _meetable(cells, candidate, n, strict=True):
                out.append(Reading(op, target, best[3], best[0], best[1], best[2]))
    out.sort(key=lambda r: (r.cost, r.text))
    return out


def met(op: str | None, values) -> int | None:
    """The target a cage of ``values`` meets under ``op`` (None: it meets none)."""
    if op is None or len(values) == 1:
        return values[0] if len(values) == 1 else None
    if op == "add":
        return sum(values)
    if op == "mul":
        return math.prod(values)
    a, b = max(values), min(values)
    if op == "sub":
        return a - b if a != b else None
    return a // b if a % b == 0 and a != b else None


class _Readings(Constraint):
    """A doubtful cage: its values meet one of its readings (checked once all are decided)."""

    def __init__(self, table: dict):
        self.table = table   # (op, target) -> cost
        self.ops = tuple({op for op, _ in table})
        self.memo: dict = {}

    def cost(self, values) -> float:
        """The cheapest reading ``values`` meet (inf: none); it depends on their multiset only."""
        key = tuple(sorted(values))
        best = self.memo.get(key)
        if best is None:
            best = math.inf
            for op in self.ops:
                c = self.table.get((op, met(op, key)))
                if c is not None and c < best:
                    best = c
            self.memo[key] = best
        return best

    def __call__(self, variables, domains, assignments, forwardcheck=False):
        values = [assignments.get(v) for v in variables]
        if any(v is None for v in values):
            return True
        return self.cost(values) < math.inf



class _Budget(Constraint):
    """The doubtful cages' readings cost ``budget`` nats at most in all (a branch and bound's
    bound): the solver drops a branch once the cheapest readings its cells still allow cost more."""

    def __init__(self, cages, budget: float, variables, work: list):
        self.cages = cages     # (positions among the constraint's cells, _Readings)
        self.budget = budget
        self.variables = variables   # the cells (row, col), in the constraint's order
        self.work = work             # [bound computations left] (shared by a search's passes)

    def __call__(self, variables, domains, assignments, forwardcheck=False):
        values = [assignments.get(v) for v in variables]
        if any(v is None for v in values):
            return True
        return sum(r.cost([values[p] for p in pos]) for pos, r in self.cages) <= self.budget + 1e-9

    def propagator(self, index):
        return _BudgetPropagator(index, self, self.variables)


class _BudgetPropagator:
    """Lower bound of the doubtful cages' cost under the cells' domains: per cage, its cheapest
    reading some value tuple still meets (each reading's floor where too many tuples remain); a
    branch whose bound passes the budget is dropped, and a cage's values that only readings dearer
    than its share of what is left meet leave its cells."""

    def __init__(self, cells, budget: _Budget, variables=None):
        self.cells = tuple(cells)
        self.parts = []
        for pos, r in budget.cages:
            where = [variables[p] for p in pos] if variables is not None else None
            # Cells of the cage in one row or column hold different values.
            clashes = () if where is None else tuple(
                (a, b) for a in range(len(pos)) for b in range(a + 1, len(pos))
                if where[a][0] == where[b][0] or where[a][1] == where[b][1])
            self.parts.append((tuple(self.cells[p] for p in pos), r, min(r.table.values()), {}, clashes))
        self.budget = budget.budget
        self.work = budget.work

    @staticmethod
    def _tuples(key, r, memo, clashes):
        """(cost, tuple) of the value tuples ``key``'s domains allow that meet a reading, cheapest
        first; None when too many tuples to try."""
        hit = memo.get(key)
        if hit is None:
            hit = False
            if _tuple_count(list(key), MAX_TUPLES) <= MAX_TUPLES:
                hit = sorted((c, t) for t in iproduct(*[values_of(d) for d in key])
                             if all(t[a] != t[b] for a, b in clashes)
                             for c in (r.cost(t),) if c < math.inf)
            if len(memo) > 20_000:
                memo.clear()
            memo[key] = hit
        return hit if hit is not False else None

    def propagate(self, dom, deadline=None):
        self.work[0] -= 1
        if self.work[0] < 0:
            raise DeadlinePassed   # the search's work is spent: stopped as by a deadline
        lows, found = [], []
        total = 0.0
        for cells, r, floor, memo, clashes in self.parts:
            tuples = self._tuples(tuple(dom[c] for c in cells), r, memo, clashes)
            low = floor if tuples is None else (tuples[0][0] if tuples else math.inf)
            lows.append(low)
            found.append(tuples)
            total += low
            if total > self.budget + 1e-9:
                return None
        slack = self.budget - total + 1e-9
        changed = []
        for (cells, _, _, _, _), low, tuples in zip(self.parts, lows, found):
            if tuples is None:
                continue
            support = [0] * len(cells)
            for c, t in tuples:
                if c > low + slack:
                    break
                for k, v in enumerate(t):
                    support[k] |= 1 << v
            for k, cell in enumerate(cells):
                d = dom[cell] & support[k]
                if d != dom[cell]:
                    if not d:
                        return None
                    dom[cell] = d
                    changed.append(cell)
        return changed


@dataclass(frozen=True)
class Found:
    """A reading set: ``readings`` (cage index -> :class:`Reading`) of the doubtful cages,
    ``cost`` (nats, summed), ``count`` (enumerated grids that meet it; 1 with ``complete``: the
    puzzle so read has one solution), ``solution``."""

    readings: dict
    cost: float
    count: int
    solution: tuple


@dataclass(frozen=True)
class Search:
    """What :func:`likeliest_readings` found: reading sets cheapest first, whether the grids
    were all enumerated (``complete``), how many."""

    found: tuple[Found, ...]
    complete: bool
    grids: int


def likeliest_readings(cages, n: int, doubtful, options: dict, *, max_grids: int = MAX_GRIDS,
                       deadline: float | None = None, max_sets: int = 20, budgets=BUDGETS,
                       margin: float = MARGIN, max_work: int = MAX_WORK) -> Search:
    """The reading sets of the ``doubtful`` cages under which the puzzle has a solution, cheapest
    first: :func:`readings_within` under each of ``budgets`` (nats) in turn until one finds a grid,
    then under that cost plus ``margin`` (the runners-up). ``complete``: the last search enumerated
    every grid within its budget (so a reading set met by one grid there has one solution). At most
    ``max_work`` bound computations in all (:data:`MAX_WORK`); ``deadline`` guards the clock too."""
    search = Search((), True, 0)
    work = [max_work]
    for budget in budgets:
        search = readings_within(cages, n, doubtful, options, budget, max_grids=max_grids, deadline=deadline,
                                 max_sets=max_sets, work=work)
        if search.found or not search.complete:
            break
    if search.found and search.complete:
        wider = search.found[0].cost + margin
        if wider > budget:
            search = readings_within(cages, n, doubtful, options, wider, max_grids=max_grids, deadline=deadline,
                                     max_sets=max_sets, work=work)
    return search


def readings_within(cages, n: int, doubtful, options: dict, budget: float, *, max_grids: int = MAX_GRIDS,
                    deadline: float | None = None, max_sets: int = 20, work: list | None = None) -> Search:
    """The reading sets of the ``doubtful`` cages (indices into ``cages``, KenKen cages with read
    ``clue``) costing ``budget`` nats at most under which the puzzle has a solution, cheapest first
    (at most ``max_sets``).

    ``options``: cage index -> its :func:`cage_readings` (the doubtful cages'). The other cages
    keep their clue as read. At most ``max_grids`` grids are enumerated (a larger count: the
    doubt is too wide for this search); ``work`` ([bound computations left]) and ``deadline``
    (``time.perf_counter()``) stop it too, ``complete`` then False."""
    doubtful = [i for i in doubtful]
    tables = {i: {(r.op, r.target): r.cost for r in options[i]} for i in doubtful}
    if any(not tables[i] for i in doubtful):
        return Search((), True, 0)
    solver = PropagatingSolver(deadline=deadline)
    problem = Problem(solver)
    values = list(range(1, n + 1))
    domains = {(r, c): values for r in range(n) for c in range(n)}
    for i, cage in enumerate(cages):
        if len(cage.cells) == 1:
            cell = cage.cells[0]
            domains[cell] = sorted({t for (_, t) in tables[i]}) if i in tables else \
                ([cage.clue.target] if cage.clue.target and cage.clue.target <= n else [])
    if not all(domains.values()):
        return Search((), True, 0)
    for cell, vals in domains.items():
        problem.addVariable(cell, vals)
    for r in range(n):
        problem.addConstraint(AllDifferentGroup(values), [(r, c) for c in range(n)])
        problem.addConstraint(AllDifferentGroup(values), [(c, r) for c in range(n)])
    constraints = {}
    for i, cage in enumerate(cages):
        if len(cage.cells) == 1:
            continue
        if i in tables:
            constraints[i] = _Readings(tables[i])
            problem.addConstraint(constraints[i], list(cage.cells))
        else:
            for con in cage_constraints(Cage(cage.cells, cage.clue.op, cage.clue.target, distinct=False), n):
                problem.addConstraint(con, list(cage.cells))
    parts, cells = [], []
    for i in doubtful:
        pos = list(range(len(cells), len(cells) + len(cages[i].cells)))
        cells += list(cages[i].cells)
        parts.append((pos, constraints[i] if i in constraints else _Readings(tables[i])))
    problem.addConstraint(_Budget(parts, budget, cells, work if work is not None else [MAX_WORK]), cells)
    grids, complete = [], True
    for assignment in problem.getSolutionIter():
        grids.append(assignment)
        if len(grids) >= max_grids:
            complete = False
            break
    if solver.stats.timed_out:
        complete = False
    return Search(_reading_sets(cages, grids, doubtful, options, max_sets), complete, len(grids))


def _reading_sets(cages, grids, doubtful, options, max_sets: int) -> tuple[Found, ...]:
    """Each grid's cheapest readings, as reading sets cheapest first, with the grids meeting each."""
    by_key = {i: {(r.op, r.target): r for r in options[i]} for i in doubtful}
    met_by = []   # per grid: cage index -> {(op, target) it meets}
    best = {}
    for g, grid in enumerate(grids):
        meets, chosen, cost = {}, {}, 0.0
        for i in doubtful:
            vals = [grid[c] for c in cages[i].cells]
            keys = {(op, met(op, vals)) for op in {op for op, _ in by_key[i]}}
            meets[i] = keys
            cheapest = min((by_key[i][k] for k in keys if k in by_key[i]), key=lambda r: (r.cost, r.text))
            chosen[i] = cheapest
            cost += cheapest.cost
        met_by.append(meets)
        key = tuple((i, chosen[i].op, chosen[i].target) for i in doubtful)
        if key not in best or cost < best[key][0]:
            best[key] = (cost, chosen, g)
    out = []
    for key, (cost, chosen, g) in sorted(best.items(), key=lambda kv: kv[1][0])[:max_sets]:
        count = sum(all((op, t) in meets[i] for i, op, t in key) for meets in met_by)
        grid = grids[g]
        n = int(math.isqrt(len(grid)))
        solution = tuple(tuple(grid[(r, c)] for c in range(n)) for r in range(n))
        out.append(Found(dict(chosen), cost, count, solution))
    return tuple(out)


__all__ = ["Reading", "Found", "Search", "text_cost", "cage_readings", "likeliest_readings", "met"]
