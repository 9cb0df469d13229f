"""Random partitions of the grid: jigsaw regions and cages.

All shapes are 4-connected. Functions take a ``numpy.random.Generator`` and are
deterministic given its state.
"""
from __future__ import annotations

import numpy as np

from vlm_puzzle.spec import DEFAULT_BOX, Cell


def neighbours(cell: Cell, n: int) -> list[Cell]:
    r, c = cell
    return [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= r + dr < n and 0 <= c + dc < n]


def is_connected(cells) -> bool:
    """Whether a set of cells is 4-connected (the empty set counts as connected)."""
    cells = set(cells)
    if not cells:
        return True
    start = next(iter(cells))
    seen, stack = {start}, [start]
    while stack:
        r, c = stack.pop()
        for nb in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if nb in cells and nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return len(seen) == len(cells)


def _starting_regions(n: int) -> np.ndarray:
    """Standard boxes where the size has them, otherwise the rows."""
    if n in DEFAULT_BOX:
        br, bc = DEFAULT_BOX[n]
        return np.array([[(r // br) * (n // bc) + c // bc for c in range(n)] for r in range(n)])
    return np.array([[r] * n for r in range(n)])


def random_regions(n: int, rng: np.random.Generator, *,
                   swaps: int | None = None) -> tuple[tuple[int, ...], ...]:
    """N connected regions of N cells each, as an N x N grid of ids 0..N-1.

    Starts from the standard boxes (or rows, for sizes without a box shape) and
    applies ``swaps`` random size-preserving exchanges: a cell ``a`` of region A
    touching region B trades places with a cell of B touching A; an exchange is
    kept only when both regions stay connected. Ids are renumbered in reading
    order. Not every layout admits a complete grid; the generator checks.
    """
    grid = _starting_regions(n)
    swaps = swaps if swaps is not None else 3 * n * n
    done = 0
    for _ in range(30 * swaps):
        if done >= swaps:
            break
        a = (int(rng.integers(n)), int(rng.integers(n)))
        others = sorted({int(grid[b]) for b in neighbours(a, n)} - {int(grid[a])})
        if not others:
            continue
        ra, rb = int(grid[a]), others[int(rng.integers(len(others)))]
        cands = [(r, c) for r in range(n) for c in range(n) if grid[r, c] == rb
                 and any(grid[x] == ra and x != a for x in neighbours((r, c), n))]
        if not cands:
            continue
        d = cands[int(rng.integers(len(cands)))]
        grid[a], grid[d] = rb, ra
        if is_connected(zip(*np.nonzero(grid == ra))) and is_connected(zip(*np.nonzero(grid == rb))):
            done += 1
        else:
            grid[a], grid[d] = ra, rb
    return _renumber(grid)


def regions_around(solution, rng: np.random.Generator, *,
                   swaps: int | None = None) -> tuple[tuple[int, ...], ...]:
    """Regions built around a known complete grid, so a solution is guaranteed.

    ``solution``'s standard boxes (or rows, without a box shape) must hold 1..N.
    Each step exchanges two cells with the same digit between touching regions
    (each cell touching the other's region), kept when both stay connected. The
    shapes come out less scrambled than :func:`random_regions`; used for large
    grids, where random layouts are rarely fillable.
    """
    n = len(solution)
    sol = np.asarray(solution)
    grid = _starting_regions(n)
    where = {(int(grid[r, c]), int(sol[r, c])): (r, c) for r in range(n) for c in range(n)}
    swaps = swaps if swaps is not None else 3 * n * n
    done = 0
    for _ in range(8 * swaps):
        if done >= swaps:
            break
        touches = {(r, c): {int(grid[b]) for b in neighbours((r, c), n)} - {int(grid[r, c])}
                   for r in range(n) for c in range(n)}
        moves = [((r, c), where[(rb, int(sol[r, c]))]) for (r, c), regs in touches.items() for rb in sorted(regs)
                 if int(grid[r, c]) in touches[where[(rb, int(sol[r, c]))]]]
        if not moves:
            break
        a, d = moves[int(rng.integers(len(moves)))]
        ra, rb = int(grid[a]), int(grid[d])
        grid[a], grid[d] = rb, ra
        if is_connected(zip(*np.nonzero(grid == ra))) and is_connected(zip(*np.nonzero(grid == rb))):
            where[(rb, int(sol[a]))], where[(ra, int(sol[a]))] = a, d
            done += 1
        else:
            grid[a], grid[d] = ra, rb
    return _renumber(grid)


def _renumber(grid: np.ndarray) -> tuple[tuple[int, ...], ...]:
    mapping: dict[int, int] = {}
    for v in grid.ravel():
        mapping.setdefault(int(v), len(mapping))
    return tuple(tuple(mapping[int(v)] for v in row) for row in grid)


def random_cages(solution, rng: np.random.Generator, *, size_weights: dict[int, float],
                 distinct: bool) -> list[list[Cell]]:
    """Partition the grid into connected cages with sizes drawn from ``size_weights``.

    With ``distinct`` a cage never holds a repeated digit of ``solution`` (killer).
    Cells left alone when a cage cannot grow are merged into a neighbouring cage
    below the largest allowed size when possible.
    """
    n = len(solution)
    sizes = sorted(size_weights)
    probs = np.array([size_weights[s] for s in sizes], dtype=float)
    probs /= probs.sum()
    max_size = max(sizes)
    owner: dict[Cell, int] = {}
    cages: list[list[Cell]] = []
    stuck: list[int] = []
    for i in rng.permutation(n * n):
        start = (int(i) // n, int(i) % n)
        if start in owner:
            continue
        want = int(rng.choice(sizes, p=probs))
        cage = [start]
        owner[start] = len(cages)
        while len(cage) < want:
            frontier = sorted({nb for cell in cage for nb in neighbours(cell, n)
                               if nb not in owner and not (distinct and _digit(solution, nb) in
                                                           {_digit(solution, x) for x in cage})})
            if not frontier:
                break
            nb = frontier[int(rng.integers(len(frontier)))]
            cage.append(nb)
            owner[nb] = len(cages)
        if len(cage) == 1 and want > 1:
            stuck.append(len(cages))
        cages.append(cage)
    _merge_singletons(cages, stuck, owner, solution, n, max_size, distinct)
    return [sorted(c) for c in cages if c]


def _digit(solution, cell: Cell) -> int:
    return solution[cell[0]][cell[1]]


def _merge_singletons(cages, which, owner, solution, n, max_size, distinct) -> None:
    """Merge the 1-cell cages listed in ``which`` into a neighbouring cage where allowed."""
    for ci in which:
        cage = cages[ci]
        if len(cage) != 1:
            continue
        cell = cage[0]
        for nb in neighbours(cell, n):
            other = cages[owner[nb]]
            if owner[nb] == ci or len(other) >= max_size:
                continue
            if distinct and _digit(solution, cell) in {_digit(solution, x) for x in other}:
                continue
            other.append(cell)
            owner[cell] = owner[nb]
            cage.clear()
            break


def split_cage(cells: list[Cell], keep: Cell, rng: np.random.Generator) -> list[list[Cell]]:
    """Split a cage into two connected parts, the first containing ``keep``;
    falls back to ``keep`` alone plus the connected pieces of the rest."""
    cells = list(cells)
    half = (len(cells) + 1) // 2
    for _ in range(12):
        part = [keep]
        while len(part) < half:
            frontier = sorted({nb for x in part for nb in neighbours(x, 99) if nb in cells and nb not in part})
            if not frontier:
                break
            part.append(frontier[int(rng.integers(len(frontier)))])
        rest = [x for x in cells if x not in part]
        if rest and is_connected(rest) and is_connected(part):
            return [sorted(part), sorted(rest)]
    rest = [x for x in cells if x != keep]
    return [[keep]] + components(rest)


def components(cells) -> list[list[Cell]]:
    """The 4-connected pieces of a set of cells, each sorted."""
    left, out = set(cells), []
    while left:
        start = min(left)
        piece, stack = {start}, [start]
        while stack:
            r, c = stack.pop()
            for nb in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if nb in left and nb not in piece:
                    piece.add(nb)
                    stack.append(nb)
        left -= piece
        out.append(sorted(piece))
    return out
