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


def random_regions(solution, rng: np.random.Generator, *,
                   swaps: int | None = None) -> tuple[tuple[int, ...], ...]:
    """N connected regions of N cells, each holding every digit of ``solution`` once.

    ``solution`` is a complete grid whose standard boxes (or, for sizes without
    boxes, rows) hold 1..N: those are the starting regions. Each step exchanges a
    cell ``a`` on a region border with the cell of the neighbouring region that
    holds the same digit, kept only when both regions stay connected. Building
    the regions around a known grid guarantees the jigsaw has a solution (random
    layouts often have none). Ids are renumbered in reading order.
    """
    n = len(solution)
    sol = np.asarray(solution)
    grid = _starting_regions(n)
    where = {(int(grid[r, c]), int(sol[r, c])): (r, c) for r in range(n) for c in range(n)}
    swaps = swaps if swaps is not None else 4 * n * n
    done = tries = 0
    while done < swaps and tries < 60 * swaps:
        tries += 1
        a = (int(rng.integers(n)), int(rng.integers(n)))
        nbs = [b for b in neighbours(a, n) if grid[b] != grid[a]]
        if not nbs:
            continue
        ra, rb = int(grid[a]), int(grid[nbs[int(rng.integers(len(nbs)))]])
        d = where[(rb, int(sol[a]))]
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
