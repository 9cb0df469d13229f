"""Random puzzles with a unique solution, of every kind, reproducible from a seed.

* Sudoku family (sudoku, x-sudoku, windoku, jigsaw): a random complete grid,
  then dig: remove givens (in 180-degree-symmetric pairs by default) while the
  puzzle keeps a single solution.
* Killer and KenKen: a random cage partition of a random complete grid, then,
  while a second solution exists, take a cell where the two solutions differ
  and move it into a neighbouring cage or split its cage there, until unique.
  (A second solution comes from the solver, asked about mirrored copies of the
  puzzle when its first answer is the known solution.)

Uniqueness is decided by the project's solver (:func:`vlm_puzzle.solver.solve`).
Determinism: the same seed gives the same puzzle, provided no solver query hits
its time limit (limits are far above the milliseconds queries normally take).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from vlm_puzzle.errors import PuzzleError
from vlm_puzzle.render.regions import (is_connected, neighbours, random_cages, random_regions,
                                       regions_around, split_cage)
from vlm_puzzle.render.uniqueness import (check_solution, iter_differences,
                                          latin_groups, random_solution)
from vlm_puzzle.solver import solve
from vlm_puzzle.spec import DEFAULT_BOX, KENKEN_SIZES, SUDOKU_SIZES, Cage, PuzzleSpec, SpecError

Grid = list[list[int]]

DEFAULT_SIZE = {"sudoku": 9, "x-sudoku": 9, "windoku": 9, "jigsaw": 9, "killer": 9, "kenken": 6}
KILLER_CAGE_SIZES = {1: 0.03, 2: 0.35, 3: 0.35, 4: 0.2, 5: 0.07}
KENKEN_CAGE_SIZES = {1: 0.12, 2: 0.5, 3: 0.28, 4: 0.1}


class GenerationError(PuzzleError):
    """No puzzle could be generated with the requested options."""

    code = "generation_failed"


def generate_puzzle(kind: str, size: int | None = None, *, seed: int,
                    givens: int | None = None, symmetric: bool = True,
                    killer_givens: int = 0, verify: bool = True,
                    verify_timeout_s: float = 30.0) -> tuple[PuzzleSpec, Grid]:
    """A random puzzle of ``kind`` with exactly one solution, and that solution.

    Parameters
    ----------
    kind : one of ``spec.KINDS``.
    size : grid side N (default 9; KenKen 6). Sudoku/x-sudoku: 4, 6, 8, 9, 12, 16;
        windoku: 9; jigsaw: 4..16; killer: 4..16 sudoku sizes; KenKen: 3..9.
    seed : everything random derives from ``numpy.random.default_rng(seed)``.
    givens : sudoku family: stop digging at this many givens (default: dig to a
        minimal puzzle, where removing any remaining given breaks uniqueness;
        12x12 and 16x16 stop at 45% of the cells). A target below the minimum
        reachable is not forced.
    symmetric : sudoku family: remove givens in 180-degree-symmetric pairs.
    killer_givens : killer: how many solution digits to print as givens.
    verify : confirm uniqueness with :func:`vlm_puzzle.solver.solve`.

    Returns
    -------
    (spec, solution) : the puzzle and its solution as N lists of N ints.
    """
    size = _check_kind_size(kind, size)
    rng = np.random.default_rng(seed)
    if kind in ("killer", "kenken"):
        spec, solution = _caged_puzzle(kind, size, rng, killer_givens)
    else:
        spec, solution = _dug_puzzle(kind, size, rng, givens, symmetric)
    problems = check_solution(spec, solution)
    if problems:  # a generator bug, never the caller's fault
        raise GenerationError(f"generated {kind} breaks its own rules: {problems[:3]}")
    if verify:
        _verify_with_solver(spec, solution, verify_timeout_s)
    return spec, solution


def _check_kind_size(kind: str, size: int | None) -> int:
    if kind not in DEFAULT_SIZE:
        raise SpecError(f"unknown kind {kind!r}; expected one of {', '.join(DEFAULT_SIZE)}")
    size = DEFAULT_SIZE[kind] if size is None else int(size)
    allowed = {"sudoku": SUDOKU_SIZES, "x-sudoku": SUDOKU_SIZES, "windoku": (9,),
               "jigsaw": tuple(range(4, 17)), "killer": SUDOKU_SIZES, "kenken": KENKEN_SIZES}[kind]
    if size not in allowed:
        raise SpecError(f"cannot generate a {size}x{size} {kind}; sizes allowed: {allowed}")
    return size


# ---- sudoku family -------------------------------------------------------------

def _structure(kind: str, n: int) -> PuzzleSpec:
    empty = [[0] * n for _ in range(n)]
    if kind == "sudoku":
        return PuzzleSpec.sudoku(empty)
    if kind == "x-sudoku":
        return PuzzleSpec.x_sudoku(empty)
    return PuzzleSpec.windoku(empty)


def _dug_puzzle(kind: str, n: int, rng: np.random.Generator, target: int | None,
                symmetric: bool) -> tuple[PuzzleSpec, Grid]:
    structure, solution = None, None
    if kind == "jigsaw" and n < 12:
        for _ in range(40):  # some random layouts admit no grid (or hide it well): redraw
            structure = PuzzleSpec.jigsaw([[0] * n] * n, random_regions(n, rng))
            solution = random_solution(n, structure.groups, rng, attempts=6)
            if solution is not None:
                break
    elif kind == "jigsaw":
        # Random 12x12+ layouts were never fillable in tests: grid first, regions around it.
        base = PuzzleSpec.sudoku([[0] * n] * n).groups if n in DEFAULT_BOX else latin_groups(n)
        solution = random_solution(n, base, rng)
        if solution is not None:
            structure = PuzzleSpec.jigsaw([[0] * n] * n, regions_around(solution, rng))
    else:
        structure = _structure(kind, n)
        solution = random_solution(n, structure.groups, rng)
    if solution is None or structure is None:
        raise GenerationError(f"found no complete {n}x{n} {kind} grid")
    if target is None and n >= 12:
        # Near-minimal 16x16 jigsaws need solver queries of seconds each (128 s a
        # puzzle measured); stop at 45% of the cells, about what printed ones show.
        target = int(0.45 * n * n)
    puzzle = dig(solution, structure, rng, symmetric=symmetric, target=target)
    return structure.with_givens(puzzle), solution


def dig(solution: Grid, structure: PuzzleSpec, rng: np.random.Generator, *,
        symmetric: bool = True, target: int | None = None, timeout_s: float = 20.0) -> Grid:
    """Remove givens from a full grid, in random order, while exactly one solution remains.

    ``structure`` gives the rules (its givens are ignored). Stops at ``target``
    givens if given; otherwise the result is minimal for the order tried (every
    remaining given was tested once and is needed). A uniqueness query the solver
    cannot settle within ``timeout_s`` keeps the given (the safe side).
    """
    n = len(solution)
    grid = [list(row) for row in solution]
    left = n * n
    for i in rng.permutation(n * n):
        r, c = divmod(int(i), n)
        cells = {(r, c), (n - 1 - r, n - 1 - c)} if symmetric else {(r, c)}
        cells = [x for x in cells if grid[x[0]][x[1]]]
        if not cells or (target is not None and left - len(cells) < target):
            continue
        for x, y in cells:
            grid[x][y] = 0
        if is_unique(structure.with_givens(grid), timeout_s):
            left -= len(cells)
        else:
            for x, y in cells:
                grid[x][y] = solution[x][y]
        if target is not None and left <= target:
            break
    return grid


def is_unique(spec: PuzzleSpec, timeout_s: float) -> bool:
    """Whether the project's solver proves ``spec`` has exactly one solution.
    (2-6x faster than the exact-cover counter for this query.)"""
    return solve(spec, unique=True, timeout_s=timeout_s).status == "solved"


# ---- killer and KenKen -----------------------------------------------------------

def _caged_puzzle(kind: str, n: int, rng: np.random.Generator,
                  n_givens: int) -> tuple[PuzzleSpec, Grid]:
    groups = PuzzleSpec.sudoku([[0] * n] * n).groups if kind == "killer" else latin_groups(n)
    solution = random_solution(n, groups, rng)
    if solution is None:
        raise GenerationError(f"found no complete {n}x{n} grid for {kind}")
    givens = [[0] * n for _ in range(n)]
    for i in rng.permutation(n * n)[:n_givens]:
        r, c = divmod(int(i), n)
        givens[r][c] = solution[r][c]
    weights = KILLER_CAGE_SIZES if kind == "killer" else KENKEN_CAGE_SIZES
    cages = [make_cage(kind, c, solution, rng)
             for c in random_cages(solution, rng, size_weights=weights, distinct=kind == "killer")]
    max_size = max(weights)
    rounds = 4 * n * n
    for i in range(rounds):
        spec = _caged_spec(kind, n, cages, givens)
        verdict, other = _second_solution(spec, solution)
        if verdict == "unique":
            return spec, solution
        if other is not None:
            diff = list(iter_differences(tuple(map(tuple, solution)), other))
            at = diff[int(rng.integers(len(diff)))]
            cage = next(cg for cg in cages if at in cg.cells)
        else:  # ambiguous but no second solution in hand: shrink a large cage
            big = [cg for cg in cages if len(cg.cells) == max(len(x.cells) for x in cages)]
            cage = big[int(rng.integers(len(big)))]
            at = cage.cells[int(rng.integers(len(cage.cells)))]
        # Prefer moving the ambiguous cell into a neighbouring cage (keeps cages
        # realistically sized); splitting adds information but breeds 1-cell cages.
        if i < rounds // 2 and rng.random() < 0.7 and _move_cell(kind, cages, cage, at, solution, rng, max_size):
            continue
        if len(cage.cells) == 1:
            raise GenerationError(f"{kind}: two solutions differ in the fixed cell {at}")
        cages.remove(cage)
        cages += [make_cage(kind, part, solution, rng) for part in split_cage(list(cage.cells), at, rng)]
        cages.sort(key=lambda cg: cg.cells)
    raise GenerationError(f"{kind} {n}x{n}: no unique cage layout found")


def _second_solution(spec: PuzzleSpec, solution: Grid) -> tuple[str, tuple | None]:
    """("unique", None), or ("ambiguous", another solution or None if none was found).

    The solver decides. When the one solution it reports is ours, the same puzzle
    is asked again mirrored or transposed: the solver's search then meets the
    solutions in another order and often reports the other one (measured: ~30x
    cheaper than the exact-cover counter on 9x9 killer)."""
    out = solve(spec, unique=True, timeout_s=10.0)
    if out.status == "solved":
        return "unique", None
    if out.status == "multiple" and out.solution != solution:
        return "ambiguous", tuple(map(tuple, out.solution))
    for f in _symmetries(spec):
        mirrored = solve(_map_spec(spec, f), unique=True, timeout_s=10.0)
        if mirrored.status == "multiple":
            n = spec.size
            back = [[0] * n for _ in range(n)]
            for r in range(n):
                for c in range(n):
                    fr, fc = f(r, c)
                    back[r][c] = mirrored.solution[fr][fc]
            if back != solution:
                return "ambiguous", tuple(map(tuple, back))
    return "ambiguous", None


def _symmetries(spec: PuzzleSpec):
    """Cell maps (all involutions) that keep the puzzle's box structure."""
    n = spec.size
    maps = [lambda r, c: (r, n - 1 - c), lambda r, c: (n - 1 - r, c), lambda r, c: (n - 1 - r, n - 1 - c)]
    if spec.box is None or spec.box[0] == spec.box[1]:
        maps += [lambda r, c: (c, r), lambda r, c: (n - 1 - c, n - 1 - r)]
    return maps


def _map_spec(spec: PuzzleSpec, f) -> PuzzleSpec:
    """``spec`` with every cell (r, c) moved to f(r, c) (cages and givens; caged kinds only)."""
    n = spec.size
    givens = [[0] * n for _ in range(n)]
    for r in range(n):
        for c in range(n):
            fr, fc = f(r, c)
            givens[fr][fc] = spec.givens[r][c]
    cages = [replace(cg, cells=tuple(sorted(f(r, c) for r, c in cg.cells))) for cg in spec.cages]
    if spec.kind == "killer":
        return PuzzleSpec.killer(cages, givens=givens, size=n)
    return PuzzleSpec.kenken(n, cages, givens=givens)


def _move_cell(kind: str, cages: list[Cage], cage: Cage, at, solution: Grid,
               rng: np.random.Generator, max_size: int) -> bool:
    """Move cell ``at`` from ``cage`` into a touching cage; False when no move keeps
    both cages connected, within size and (killer) free of repeated digits."""
    n = len(solution)
    rest = [c for c in cage.cells if c != at]
    if rest and not is_connected(rest):
        return False
    options = []
    for nb in neighbours(at, n):
        other = next(cg for cg in cages if nb in cg.cells)
        if other is cage or other in options or len(other.cells) >= max_size:
            continue
        if kind == "killer" and solution[at[0]][at[1]] in {solution[r][c] for r, c in other.cells}:
            continue
        options.append(other)
    if not options:
        return False
    other = options[int(rng.integers(len(options)))]
    cages.remove(cage)
    cages.remove(other)
    cages.append(make_cage(kind, list(other.cells) + [at], solution, rng))
    if rest:
        cages.append(make_cage(kind, rest, solution, rng))
    cages.sort(key=lambda cg: cg.cells)
    return True


def _caged_spec(kind: str, n: int, cages: list[Cage], givens: Grid) -> PuzzleSpec:
    if kind == "killer":
        return PuzzleSpec.killer(cages, givens=givens, size=n)
    return PuzzleSpec.kenken(n, cages)


def make_cage(kind: str, cells, solution: Grid, rng: np.random.Generator) -> Cage:
    """The clue a cage over ``cells`` gets from ``solution``."""
    cells = tuple(tuple(c) for c in sorted(cells))
    if kind == "killer":
        return Cage(cells, "sum", sum(solution[r][c] for r, c in cells))
    return kenken_cage(cells, solution, rng)


def kenken_cage(cells, solution: Grid, rng: np.random.Generator) -> Cage:
    """A KenKen clue for ``cells``: a single fixed cell, ``÷`` or ``-`` on pairs
    (``÷`` preferred when the digits divide), ``+`` or ``×`` on larger cages."""
    cells = tuple(tuple(c) for c in cells)
    vals = [solution[r][c] for r, c in cells]
    if len(vals) == 1:
        return Cage(cells, None, vals[0], distinct=False)
    if len(vals) == 2:
        hi, lo = max(vals), min(vals)
        u = rng.random()
        if hi % lo == 0 and hi != lo and u < 0.6:
            return Cage(cells, "div", hi // lo, distinct=False)
        if u < 0.8:
            return Cage(cells, "sub", hi - lo, distinct=False)
    product = int(np.prod(vals))
    if rng.random() < 0.45 and product <= 5000:
        return Cage(cells, "mul", product, distinct=False)
    return Cage(cells, "add", sum(vals), distinct=False)


# ---- cross-check ---------------------------------------------------------------------

def _verify_with_solver(spec: PuzzleSpec, solution: Grid, timeout_s: float) -> None:
    result = solve(spec, unique=True, timeout_s=timeout_s)
    if result.status == "timeout":
        return  # the exact-cover counter already proved uniqueness; the CSP ran out of time
    if result.status != "solved":
        raise GenerationError(f"solver says {result.status} for a generated {spec.kind}")
    got = [list(row) for row in result.solution]
    if got != [list(row) for row in solution]:
        raise GenerationError(f"solver found a different solution for a generated {spec.kind}")
