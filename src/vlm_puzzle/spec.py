"""The puzzle model every stage speaks: :class:`PuzzleSpec`.

One module (over 400 lines) because it is the project's vocabulary: the type, its JSON
form and its invariants are read together, and everything else imports it.

A puzzle is an N x N grid of symbols 1..N with

* all-different *groups*: rows, columns, boxes (or irregular jigsaw regions),
  optionally the two diagonals (x-sudoku) and extra windows (windoku);
* *cages*: a set of cells with an arithmetic clue (killer, KenKen);
* *givens*: the digits printed in the grid (0 = empty), with an optional
  reader confidence per cell.

Cells are ``(row, col)`` pairs, 0-based. Everything is immutable (tuples), so a
spec can be hashed, shared between threads and used as a cache key.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from vlm_puzzle.errors import SpecError

Cell = tuple[int, int]

KINDS = ("sudoku", "x-sudoku", "windoku", "jigsaw", "killer", "kenken")
SUDOKU_SIZES = (4, 6, 8, 9, 12, 16)
KENKEN_SIZES = tuple(range(3, 10))
OPS = ("sum", "add", "sub", "mul", "div", None)

# Box shape (rows, cols) of a standard Sudoku of each size: 6x6 has 2x3 boxes.
DEFAULT_BOX = {4: (2, 2), 6: (2, 3), 8: (2, 4), 9: (3, 3), 12: (3, 4), 16: (4, 4)}
MIN_SIZE, MAX_SIZE = 3, 16  # every kind's sizes lie in here (checked before allocating)
MAX_TARGET = 10**60  # above 9!**9 (~1e50), the largest product any cage can make (KenKen is at most 9x9)
MAX_LINE_CELLS = 256
MAX_JSON_CHARS = 1_000_000


@dataclass(frozen=True)
class Cage:
    """Cells whose digits combine to ``target`` under ``op``.

    ``op`` is ``"sum"`` (killer) or ``"add"``, ``"sub"``, ``"mul"``, ``"div"`` (KenKen),
    or ``None`` for a single cell fixed to ``target``. ``distinct`` says whether the
    digits must differ inside the cage (killer: yes; KenKen: no, rows and columns
    already forbid the repeats that matter).
    """

    cells: tuple[Cell, ...]
    op: str | None
    target: int
    distinct: bool = True

    def to_dict(self) -> dict:
        return {"cells": [list(c) for c in self.cells], "op": self.op,
                "target": self.target, "distinct": self.distinct}

    @classmethod
    def from_dict(cls, d: dict, where: str = "cage") -> "Cage":
        """A cage from its JSON form; :class:`SpecError` naming the field for anything malformed."""
        if not isinstance(d, dict):
            raise SpecError(f"{where} must be an object, not {type(d).__name__}", field=where)
        cells = _cells(d.get("cells"), f"{where}.cells", MAX_SIZE * MAX_SIZE)
        op = d.get("op")
        if op not in OPS:
            raise SpecError(f"{where}.op {_show(op)} is not one of {OPS}", field=f"{where}.op")
        return cls(cells=cells, op=op, target=_int(d.get("target"), f"{where}.target", 1, MAX_TARGET),
                   distinct=_bool(d.get("distinct", True), f"{where}.distinct"))


# ---- typed reading of JSON values (from_dict) -------------------------------------

def killer_total(n: int) -> int:
    """What the cages of an ``n`` x ``n`` killer that cover the grid sum to: n rows of 1..n.

    >>> killer_total(9)
    405
    """
    return n * n * (n + 1) // 2


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(value, field: str, lo: int, hi: int) -> int:
    """An int in lo..hi from an int, an integral float or a short digit string."""
    v = None
    if isinstance(value, int) and not isinstance(value, bool):
        v = value
    elif isinstance(value, float) and value.is_integer():
        v = int(value)
    elif isinstance(value, str) and 0 < len(value.strip()) <= 80 and value.strip().isascii() \
            and value.strip().isdigit():
        v = int(value.strip())
    if v is None:
        raise SpecError(f"{field} {_show(value)} is not a whole number", field=field)
    if not lo <= v <= hi:
        raise SpecError(f"{field} {_show(value)} is outside {lo}..{hi}", field=field)
    return v


def _bool(value, field: str) -> bool:
    if not isinstance(value, bool):  # "false" must not turn a rule on
        raise SpecError(f"{field} {_show(value)} is not true or false", field=field)
    return value


def _grid(value, field: str, n: int, kind) -> list[list]:
    """An n x n grid of ints (any range; _validate checks it) or of numbers in 0..1."""
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise SpecError(f"{field} must be {n} rows", field=field)
    out = []
    for r, row in enumerate(value):
        if not isinstance(row, (list, tuple)) or len(row) != n:
            raise SpecError(f"{field} row {r} must have {n} values", field=field)
        if kind is int:
            out.append([_int(v, f"{field}[{r}]", -10**6, 10**6) for v in row])
        else:
            for v in row:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                    raise SpecError(f"{field}[{r}] value {_show(v)} is not a number in 0..1", field=field)
            out.append([float(v) for v in row])
    return out


def _cells(value, field: str, limit: int) -> tuple[Cell, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > limit:
        raise SpecError(f"{field} must be a list of at most {limit} [row, col] pairs", field=field)
    out = []
    for cell in value:
        if not isinstance(cell, (list, tuple)) or len(cell) != 2:
            raise SpecError(f"{field}: {_show(cell)} is not a [row, col] pair", field=field)
        out.append((_int(cell[0], field, 0, MAX_SIZE - 1), _int(cell[1], field, 0, MAX_SIZE - 1)))
    return tuple(out)


def _freeze_grid(rows: Iterable[Iterable]) -> tuple[tuple, ...]:
    return tuple(tuple(r) for r in rows)


@dataclass(frozen=True)
class PuzzleSpec:
    """A complete, validated description of one grid puzzle.

    ``box`` is the (rows, cols) shape of the boxes, or ``None`` when the puzzle has
    no boxes (KenKen) or irregular ``regions`` instead (jigsaw). ``regions`` is an
    N x N grid of region ids 0..N-1. ``windows`` are extra all-different groups.
    """

    kind: str
    size: int
    givens: tuple[tuple[int, ...], ...]
    box: tuple[int, int] | None = None
    regions: tuple[tuple[int, ...], ...] | None = None
    diagonals: bool = False
    windows: tuple[tuple[Cell, ...], ...] = ()
    cages: tuple[Cage, ...] = ()
    confidence: tuple[tuple[float, ...], ...] | None = None
    _groups: tuple = field(default=(), init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Normalise lists to tuples so that specs built by hand are immutable too.
        object.__setattr__(self, "givens", _freeze_grid(self.givens))
        if self.box is not None:
            object.__setattr__(self, "box", tuple(self.box))
        if self.regions is not None:
            object.__setattr__(self, "regions", _freeze_grid(self.regions))
        object.__setattr__(self, "windows", tuple(tuple(tuple(c) for c in w) for w in self.windows))
        object.__setattr__(self, "cages", tuple(self.cages))
        if self.confidence is not None:
            object.__setattr__(self, "confidence", _freeze_grid(self.confidence))
        _validate(self)
        object.__setattr__(self, "_groups", _build_groups(self))

    # ---- structure -------------------------------------------------------
    @property
    def cells(self) -> list[Cell]:
        n = self.size
        return [(r, c) for r in range(n) for c in range(n)]

    @property
    def groups(self) -> tuple[tuple[Cell, ...], ...]:
        """Every all-different group of exactly N cells: rows, columns, boxes or
        regions, diagonals, windows. Distinct cages are not included (see ``cages``)."""
        return self._groups

    def box_groups(self) -> list[tuple[Cell, ...]]:
        """The boxes (or jigsaw regions), in reading order of their first cell."""
        if self.regions is not None:
            by_id: dict[int, list[Cell]] = {}
            for r, row in enumerate(self.regions):
                for c, rid in enumerate(row):
                    by_id.setdefault(rid, []).append((r, c))
            return [tuple(v) for v in sorted(by_id.values())]
        if self.box is None:
            return []
        br, bc = self.box
        return [tuple((r0 + i, c0 + j) for i in range(br) for j in range(bc))
                for r0 in range(0, self.size, br) for c0 in range(0, self.size, bc)]

    @property
    def n_givens(self) -> int:
        return sum(1 for row in self.givens for v in row if v)

    def with_givens(self, givens: Sequence[Sequence[int]],
                    confidence: Sequence[Sequence[float]] | None = None) -> "PuzzleSpec":
        """A copy with other givens (validated again)."""
        return replace(self, givens=givens, confidence=confidence)

    # ---- JSON --------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "size": self.size,
            "box": list(self.box) if self.box else None,
            "regions": [list(r) for r in self.regions] if self.regions else None,
            "diagonals": self.diagonals,
            "windows": [[list(c) for c in w] for w in self.windows],
            "cages": [cage.to_dict() for cage in self.cages],
            "givens": [list(r) for r in self.givens],
            "confidence": [list(r) for r in self.confidence] if self.confidence else None,
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: dict) -> "PuzzleSpec":
        """A spec from its JSON form (:meth:`to_dict`). Raises only :class:`SpecError`, whose
        ``field`` names the malformed key; sizes are checked before anything is allocated."""
        if not isinstance(d, dict):
            raise SpecError(f"a puzzle spec must be a JSON object, not {type(d).__name__}")
        kind = d.get("kind", "sudoku")
        if kind not in KINDS:
            raise SpecError(f"kind {_show(kind)} is not one of {', '.join(KINDS)}", field="kind")
        if "size" not in d:
            raise SpecError("spec needs an integer 'size'", field="size")
        size = _int(d["size"], "size", MIN_SIZE, MAX_SIZE)
        givens = d.get("givens")
        box = d.get("box")
        if box is not None:
            if not isinstance(box, (list, tuple)) or len(box) != 2:
                raise SpecError(f"box {_show(box)} is not [rows, cols]", field="box")
            box = (_int(box[0], "box", 1, size), _int(box[1], "box", 1, size))
        windows = d.get("windows") or ()
        if not isinstance(windows, (list, tuple)) or len(windows) > size * size:
            raise SpecError(f"windows must be a list of at most {size * size} cell lists", field="windows")
        cages = d.get("cages") or ()
        if not isinstance(cages, (list, tuple)) or len(cages) > size * size:
            raise SpecError(f"cages must be a list of at most {size * size} cages", field="cages")
        regions, confidence = d.get("regions"), d.get("confidence")
        return cls(
            kind=kind,
            size=size,
            givens=[[0] * size for _ in range(size)] if givens is None else _grid(givens, "givens", size, int),
            box=box,
            regions=None if regions is None else _grid(regions, "regions", size, int),
            diagonals=_bool(d.get("diagonals", False), "diagonals"),
            windows=tuple(_cells(w, f"windows[{i}]", size * size) for i, w in enumerate(windows)),
            cages=tuple(Cage.from_dict(c, f"cages[{i}]") for i, c in enumerate(cages)),
            confidence=None if confidence is None else _grid(confidence, "confidence", size, float),
        )

    @classmethod
    def from_json(cls, text: str) -> "PuzzleSpec":
        if len(text) > MAX_JSON_CHARS:
            raise SpecError(f"a puzzle spec of {len(text)} characters is longer than any puzzle needs")
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, a number of 4,300+ digits
            if isinstance(exc, SpecError):
                raise
            raise SpecError(f"not valid JSON: {exc}") from None

    # ---- constructors for each kind ----------------------------------------
    @classmethod
    def sudoku(cls, givens: Sequence[Sequence[int]], box: tuple[int, int] | None = None) -> "PuzzleSpec":
        """A plain N x N Sudoku from its rows (0 = empty); boxes default by size."""
        n = len(givens)
        if n not in DEFAULT_BOX and box is None:
            raise SpecError(f"no standard box shape for a {n}x{n} sudoku; pass box=(rows, cols)")
        return cls(kind="sudoku", size=n, givens=givens, box=box or DEFAULT_BOX[n])

    @classmethod
    def from_line(cls, line: str) -> "PuzzleSpec":
        """A Sudoku from the one-line format: N*N characters, row by row, '.' or '0' empty.

        Sizes up to 9 use digits; 16x16 uses 1-9 and A-G for 10-16. Raises only SpecError."""
        if not isinstance(line, str):
            raise SpecError(f"a one-line sudoku is a string, not {type(line).__name__}")
        if len(line) > 4 * MAX_LINE_CELLS:  # refuse before scanning: no sudoku line is this long
            raise SpecError(f"a one-line sudoku has at most {MAX_LINE_CELLS} characters, not {len(line)}")
        chars = [ch for ch in line if not ch.isspace()]
        n = int(round(len(chars) ** 0.5))
        if n * n != len(chars) or n not in DEFAULT_BOX:
            raise SpecError(f"a one-line sudoku has 16, 36, 64, 81, 144 or 256 characters, not {len(chars)}")
        values = []
        for i, ch in enumerate(chars):
            if ch in ".0":
                values.append(0)
            elif "1" <= ch <= "9":  # ASCII only: "²".isdigit() is True
                values.append(ord(ch) - ord("0"))
            elif n > 9 and ("A" <= ch <= "Z" or "a" <= ch <= "z"):
                values.append(ord(ch.upper()) - ord("A") + 10)
            else:
                raise SpecError(f"character {ch!r} at cell ({i // n}, {i % n}) is not a digit or '.'")
        return cls.sudoku([values[r * n:(r + 1) * n] for r in range(n)])

    def to_line(self) -> str:
        return "".join(_symbol(v) for row in self.givens for v in row)

    @classmethod
    def x_sudoku(cls, givens, box=None) -> "PuzzleSpec":
        base = cls.sudoku(givens, box)
        return replace(base, kind="x-sudoku", diagonals=True)

    @classmethod
    def windoku(cls, givens) -> "PuzzleSpec":
        """A 9x9 windoku: four extra 3x3 windows at rows/cols 1-3 and 5-7."""
        if len(givens) != 9:
            raise SpecError("windoku is defined for 9x9 grids")
        windows = tuple(tuple((r0 + i, c0 + j) for i in range(3) for j in range(3))
                        for r0 in (1, 5) for c0 in (1, 5))
        return cls(kind="windoku", size=9, givens=givens, box=(3, 3), windows=windows)

    @classmethod
    def jigsaw(cls, givens, regions) -> "PuzzleSpec":
        return cls(kind="jigsaw", size=len(givens), givens=givens, regions=regions)

    @classmethod
    def killer(cls, cages: Sequence[Cage], givens=None, size: int = 9) -> "PuzzleSpec":
        givens = givens or [[0] * size for _ in range(size)]
        n = len(givens)
        cages = tuple(replace(c, op="sum" if c.op is None and len(c.cells) > 1 else c.op) for c in cages)
        return cls(kind="killer", size=n, givens=givens, box=DEFAULT_BOX.get(n), cages=cages)

    @classmethod
    def kenken(cls, size: int, cages: Sequence[Cage], givens=None) -> "PuzzleSpec":
        givens = givens or [[0] * size for _ in range(size)]
        return cls(kind="kenken", size=size, givens=givens, cages=tuple(cages))


def _symbol(v: int) -> str:
    if v == 0:
        return "."
    return str(v) if v < 10 else chr(ord("A") + v - 10)


# ---- validation ---------------------------------------------------------------

def _validate(spec: PuzzleSpec) -> None:
    n = spec.size
    if spec.kind not in KINDS:
        raise SpecError(f"unknown kind {spec.kind!r}; expected one of {', '.join(KINDS)}")
    allowed = KENKEN_SIZES if spec.kind == "kenken" else SUDOKU_SIZES
    if spec.kind == "jigsaw":
        allowed = tuple(range(4, 17))
    if n not in allowed:
        raise SpecError(f"size {n} is not allowed for {spec.kind} (allowed: {allowed})")
    _check_grid(spec.givens, n, "givens")
    for r, row in enumerate(spec.givens):
        for c, v in enumerate(row):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= n:
                raise SpecError(f"given {v!r} at cell ({r}, {c}) is outside 0..{n}")
    if spec.confidence is not None:
        _check_grid(spec.confidence, n, "confidence")
        for r, row in enumerate(spec.confidence):
            for c, p in enumerate(row):
                if not 0.0 <= float(p) <= 1.0:
                    raise SpecError(f"confidence {p!r} at cell ({r}, {c}) is outside 0..1")
    if spec.box is not None:
        if len(spec.box) != 2 or spec.box[0] * spec.box[1] != n:
            raise SpecError(f"box shape {spec.box} does not tile a {n}x{n} grid (rows*cols must be {n})")
    if spec.regions is not None:
        if spec.box is not None:
            raise SpecError("a spec has either a box shape or irregular regions, not both")
        _check_grid(spec.regions, n, "regions")
        sizes: dict[int, list[Cell]] = {}
        for r, row in enumerate(spec.regions):
            for c, rid in enumerate(row):
                sizes.setdefault(rid, []).append((r, c))
        for rid, cells in sorted(sizes.items()):
            if len(cells) != n:
                raise SpecError(f"region {rid} has {len(cells)} cells, not {n} (first cell {cells[0]})")
    if spec.kind in ("sudoku", "x-sudoku", "windoku", "killer") and spec.box is None:
        raise SpecError(f"a {spec.kind} needs a box shape")
    if spec.kind == "jigsaw" and spec.regions is None:
        raise SpecError("a jigsaw needs its regions")
    if spec.diagonals and spec.kind not in ("x-sudoku",):
        # Allowed on any kind (a combined variant); nothing to check beyond N cells each.
        pass
    for i, window in enumerate(spec.windows):
        if len(window) != n or len(set(window)) != n:
            raise SpecError(f"window {i} has {len(set(window))} distinct cells, not {n}")
        for cell in window:
            _check_cell(cell, n, f"window {i}")
    covered: dict[Cell, int] = {}
    for i, cage in enumerate(spec.cages):
        if not cage.cells:
            raise SpecError(f"cage {i} has no cells")
        if cage.op not in OPS:
            raise SpecError(f"cage {i} has unknown operation {cage.op!r}; expected one of {OPS}")
        if cage.op is None and len(cage.cells) != 1:
            raise SpecError(f"cage {i} has no operation but {len(cage.cells)} cells (only a single cell may)")
        if cage.op in ("sub", "div") and len(cage.cells) != 2:
            raise SpecError(f"cage {i} uses {cage.op} on {len(cage.cells)} cells; it needs exactly 2")
        if not isinstance(cage.target, int) or cage.target < 1:
            raise SpecError(f"cage {i} has target {cage.target!r}; a target is a positive integer")
        for cell in cage.cells:
            _check_cell(cell, n, f"cage {i}")
            if cell in covered:
                raise SpecError(f"cell {cell} is in cage {covered[cell]} and cage {i}: cages overlap")
            covered[cell] = i
    if spec.kind == "kenken" and len(covered) != n * n:
        missing = next(c for c in spec.cells if c not in covered)
        raise SpecError(f"kenken cages must cover the grid; cell {missing} is in no cage")
    if spec.kind == "killer" and not spec.cages:
        raise SpecError("a killer sudoku needs cages")


def _check_grid(grid, n: int, name: str) -> None:
    if len(grid) != n or any(len(row) != n for row in grid):
        shape = f"{len(grid)} rows of lengths {sorted({len(r) for r in grid})}"
        raise SpecError(f"{name} must be {n}x{n}, got {shape}")


def _check_cell(cell: Cell, n: int, owner: str) -> None:
    if len(cell) != 2 or not all(isinstance(x, int) and 0 <= x < n for x in cell):
        raise SpecError(f"cell {tuple(cell)} of {owner} is outside the {n}x{n} grid")


def _build_groups(spec: PuzzleSpec) -> tuple[tuple[Cell, ...], ...]:
    n = spec.size
    groups: list[tuple[Cell, ...]] = []
    groups += [tuple((r, c) for c in range(n)) for r in range(n)]
    groups += [tuple((r, c) for r in range(n)) for c in range(n)]
    groups += spec.box_groups()
    if spec.diagonals:
        groups.append(tuple((i, i) for i in range(n)))
        groups.append(tuple((i, n - 1 - i) for i in range(n)))
    groups += list(spec.windows)
    return tuple(groups)
