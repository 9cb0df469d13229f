"""Puzzles drawn by Simon Tatham's Portable Puzzle Collection (Debian ``sgt-puzzles``, MIT).

Another program's drawing style with exact ground truth: ``sgt-keen`` (KenKen 3..9) and
``sgt-solo`` (Sudoku of every box shape, jigsaw, X, killer) generate seeded game IDs
(``--generate N 'PARAMS#SEED'``), print one as PostScript (``--generate 1 --print 1x1 ID``)
and ghostscript rasterises it. The game ID is the truth: :func:`parse_game_id` turns it into
a :class:`~vlm_puzzle.spec.PuzzleSpec`; the solution comes from this project's solver (the
generators make unique puzzles, and a parse that is not unique raises).

ID formats (from the programs' ``encode_block_structure`` / ``encode_grid``):

* block structure: the ``w*(w-1)`` internal vertical lines in reading order, then the
  ``w*(w-1)`` horizontal ones in transposed order; ``_`` is a line right away, ``a``..``y``
  that many non-lines then a line, ``z`` 25 non-lines and no line; a decimal after a character
  repeats it (keen compresses runs that way);
* keen clues: one per cage in order of the cage's first cell, ``a`` add, ``s`` sub, ``m`` mul,
  ``d`` div, then the target (a one-cell cage is written ``a`` with its digit);
* solo grid: ``a``..``z`` runs of 1..26 empty cells, decimals are digits, ``_`` separates two
  numbers; a killer adds its cage structure and a grid of cage sums (each in one cell of its cage).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlm_puzzle.spec import Cage, PuzzleSpec, SpecError

GAMES = {"keen": "/usr/games/sgt-keen", "solo": "/usr/games/sgt-solo"}
# category -> (game, params or a tuple of params cycled through per puzzle)
CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    **{f"kenken{n}": ("keen", tuple(f"{n}d{d}" for d in "enhx")) for n in range(3, 10)},
    # keen 20230122 fails an assertion printing most 3x3 multiplication-only puzzles.
    **{f"kenken{n}-mul": ("keen", (f"{n}dnm",)) for n in range(4, 10)},
    "sudoku4": ("solo", ("2x2",)), "sudoku6": ("solo", ("2x3",)), "sudoku8": ("solo", ("2x4",)),
    "sudoku9": ("solo", ("3x3",)), "sudoku12": ("solo", ("3x4",)), "sudoku16": ("solo", ("4x4",)),
    "jigsaw9": ("solo", ("3x3j",)), "x-sudoku9": ("solo", ("3x3x",)), "killer9": ("solo", ("3x3k",)),
}
MIN_SIDE, MAX_SIDE = 250, 1600   # rasterised grid side, pixels (drawn per puzzle)


class SgtError(RuntimeError):
    """sgt-puzzles or ghostscript missing, or a game ID this parser does not understand."""


def available() -> bool:
    """Whether the programs this module drives are installed."""
    return all(Path(p).exists() for p in GAMES.values()) and shutil.which("gs") is not None


# ---- game IDs -> specs -------------------------------------------------------------------

def decode_blocks(code: str, w: int) -> list[list[int]]:
    """The block structure ``code`` of a ``w`` x ``w`` grid as a grid of block ids, each id
    the reading-order index of the block's first cell."""
    edges: list[bool] = []
    for ch, rep in re.findall(r"([_a-z])(\d*)", code):
        for _ in range(int(rep) if rep else 1):
            if ch == "_":
                edges.append(True)
            elif ch == "z":
                edges += [False] * 25
            else:
                edges += [False] * (ord(ch) - ord("a") + 1) + [True]
    need = 2 * w * (w - 1)
    if len(edges) != need + 1:  # the last line is the virtual terminating one
        raise SgtError(f"block structure {code!r} has {len(edges)} edges, not {need + 1}")
    parent = list(range(w * w))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, edge in enumerate(edges[:need]):
        if edge:
            continue
        if i < w * (w - 1):
            y, x = divmod(i, w - 1)
            p0, p1 = y * w + x, y * w + x + 1
        else:
            x, y = i // (w - 1) - w, i % (w - 1)
            p0, p1 = y * w + x, (y + 1) * w + x
        a, b = find(p0), find(p1)
        parent[max(a, b)] = min(a, b)
    return [[find(r * w + c) for c in range(w)] for r in range(w)]


def decode_grid(code: str, area: int) -> list[int]:
    """A solo grid string as ``area`` values, 0 = empty."""
    values: list[int] = []
    for run, num in re.findall(r"([a-z])|(\d+)", code.replace("_", " ")):
        if run:
            values += [0] * (ord(run) - ord("a") + 1)
        else:
            values.append(int(num))
    if len(values) != area:
        raise SgtError(f"grid {code[:40]!r}... has {len(values)} cells, not {area}")
    return values


def _cells_by_block(blocks: list[list[int]]) -> dict[int, list[tuple[int, int]]]:
    out: dict[int, list[tuple[int, int]]] = {}
    for r, row in enumerate(blocks):
        for c, b in enumerate(row):
            out.setdefault(b, []).append((r, c))
    return out


def parse_keen(game_id: str) -> PuzzleSpec:
    """A KenKen spec from a keen game ID ``W:BLOCKS,CLUES``."""
    try:
        head, desc = game_id.split(":", 1)
        w = int(re.match(r"\d+", head).group())
        structure, clues = desc.split(",", 1)
    except (ValueError, AttributeError):
        raise SgtError(f"not a keen game ID: {game_id!r}") from None
    cages_cells = _cells_by_block(decode_blocks(structure, w))
    found = re.findall(r"([asmd])(\d+)", clues)
    if len(found) != len(cages_cells):
        raise SgtError(f"{len(found)} clues for {len(cages_cells)} cages in {game_id!r}")
    ops = {"a": "add", "s": "sub", "m": "mul", "d": "div"}
    cages = []
    for (op, target), block in zip(found, sorted(cages_cells)):
        cells = tuple(sorted(cages_cells[block]))
        cages.append(Cage(cells, None if len(cells) == 1 else ops[op], int(target), distinct=False))
    return PuzzleSpec.kenken(w, cages)


def parse_solo(game_id: str) -> PuzzleSpec:
    """A sudoku / jigsaw / x-sudoku / killer spec from a solo game ID ``PARAMS:GRID[,...]``."""
    try:
        head, desc = game_id.split(":", 1)
        m = re.fullmatch(r"(\d+)(?:x(\d+))?(j?)(x?)(k?)(?:d\w)?", head)
        c = int(m.group(1))
        r = int(m.group(2) or c)
    except (ValueError, AttributeError):
        raise SgtError(f"not a solo game ID: {game_id!r}") from None
    jigsaw, xtype, killer = bool(m.group(3)), bool(m.group(4)), bool(m.group(5))
    parts = desc.split(",")
    n = c if jigsaw else c * r
    givens = decode_grid(parts.pop(0), n * n)
    rows = [givens[i * n:(i + 1) * n] for i in range(n)]
    try:
        if jigsaw:
            regions = decode_blocks(parts.pop(0), n)
            ids = {b: i for i, b in enumerate(sorted({b for row in regions for b in row}))}
            spec = PuzzleSpec.jigsaw(rows, [[ids[b] for b in row] for row in regions])
        elif killer:
            blocks = decode_blocks(parts.pop(0), n)
            cage_cells = _cells_by_block(blocks)
            sums = decode_grid(parts.pop(0), n * n)
            cages = [Cage(tuple(sorted(cage_cells[blocks[i // n][i % n]])), "sum", s)
                     for i, s in enumerate(sums) if s]
            if len(cages) != len(cage_cells):
                raise SgtError(f"{len(cages)} sums for {len(cage_cells)} cages in {game_id!r}")
            # Solo's "c x r" is c columns of blocks and r rows: a block is r cells wide, c tall.
            spec = PuzzleSpec(kind="killer", size=n, givens=rows, box=(c, r), cages=tuple(cages))
        else:
            spec = PuzzleSpec(kind="x-sudoku" if xtype else "sudoku", size=n, givens=rows,
                              box=(c, r), diagonals=xtype)
    except (SpecError, IndexError) as exc:
        raise SgtError(f"game ID {game_id[:60]!r}...: {exc}") from None
    return spec


def parse_game_id(game: str, game_id: str) -> PuzzleSpec:
    return parse_keen(game_id) if game == "keen" else parse_solo(game_id)


# ---- generating and drawing -----------------------------------------------------------

def _run(args: list[str], stdin: bytes | None = None, timeout: float = 120.0) -> bytes:
    try:
        out = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, check=True)
    except FileNotFoundError:
        raise SgtError(f"{args[0]} is not installed (Debian packages sgt-puzzles, ghostscript)") from None
    except subprocess.CalledProcessError as exc:
        raise SgtError(f"{' '.join(args[:3])}... failed: {exc.stderr.decode(errors='replace')[-300:]}") from None
    return out.stdout


def generate_ids(game: str, params: str, n: int, seed: str) -> list[str]:
    """``n`` game IDs from ``params``, the same for the same ``seed``."""
    text = _run([GAMES[game], "--generate", str(n), f"{params}#{seed}"]).decode()
    ids = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(ids) != n:
        raise SgtError(f"{game} gave {len(ids)} IDs for {n}")
    return ids


def postscript(game: str, game_id: str) -> bytes:
    """The puzzle ``game_id`` printed as one PostScript page."""
    return _run([GAMES[game], "--generate", "1", "--print", "1x1", game_id])


def rasterise(ps: bytes, dpi: float, antialias: bool) -> np.ndarray:
    """A PostScript page as a grey image (uint8, white paper), cropped to its ink."""
    import cv2
    alpha = ["-dTextAlphaBits=4", "-dGraphicsAlphaBits=4"] if antialias else []
    png = _run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pnggray", f"-r{dpi:.2f}", *alpha,
                "-sOutputFile=-", "-"], stdin=ps)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    ys, xs = np.nonzero(img < 128)
    if not len(xs):
        raise SgtError("the printed page is blank")
    return img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


# ---- a cached, seeded set of images ------------------------------------------------------

@dataclass(frozen=True)
class SgtImage:
    """One rasterised puzzle and its truth."""

    category: str
    path: Path
    game_id: str
    spec: PuzzleSpec
    solution: list[list[int]]
    dpi: float
    antialias: bool
    margin: float


CACHE_VERSION = 1  # bump when drawing changes, so cached images are redrawn


def build_category(category: str, n: int, seed: int, cache: Path) -> list[SgtImage]:
    """``n`` images of ``category`` (see :data:`CATEGORIES`), drawn once into ``cache``.

    Per puzzle (from ``seed``, the category and its index): the game's params (cycled),
    its seeded game ID, a grid side of ``MIN_SIDE..MAX_SIDE`` px, anti-aliased or hard-edged
    (1 in 3), and white margin around the grid: none, narrow or wide."""
    if category not in CATEGORIES:
        raise SgtError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    game, cycle = CATEGORIES[category]
    folder = Path(cache) / f"v{CACHE_VERSION}" / category
    out = []
    for i in range(n):
        stem = folder / f"{seed}_{i:04d}"
        if not stem.with_suffix(".json").exists():
            _draw_one(game, cycle[i % len(cycle)], category, seed, i, stem)
        meta = json.loads(stem.with_suffix(".json").read_text())
        out.append(SgtImage(category, stem.with_suffix(".png"), meta["game_id"],
                            PuzzleSpec.from_dict(meta["spec"]), meta["solution"], meta["dpi"],
                            meta["antialias"], meta["margin"]))
    return out


def _draw_one(game: str, params: str, category: str, seed: int, i: int, stem: Path) -> None:
    import zlib

    import cv2

    from vlm_puzzle.solver import solve
    rng = np.random.default_rng([seed, zlib.crc32(category.encode()), i])
    for attempt in range(5):
        game_id = generate_ids(game, params, 1, f"{seed}-{category}-{i}" + (f"-{attempt}" if attempt else ""))[0]
        try:  # keen 20230122 asserts while printing some 3x3 block shapes: take the next seed
            ps = postscript(game, game_id)
            break
        except SgtError:
            if attempt == 4:
                raise
    spec = parse_game_id(game, game_id)
    out = solve(spec, unique=True, timeout_s=60.0)
    if out.status != "solved":  # sgt makes unique puzzles: anything else is a parse error
        raise SgtError(f"{game_id[:60]!r}... parsed to a puzzle that is {out.status}")
    side = float(rng.uniform(MIN_SIDE, MAX_SIDE))
    antialias = bool(rng.random() < 2 / 3)
    probe = rasterise(ps, 72.0, True)   # 1 px = 1 pt
    dpi = 72.0 * side / max(probe.shape)
    img = rasterise(ps, dpi, antialias)
    margin = float(_pick_margin(rng))
    pad = int(round(margin * max(img.shape)))
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    stem.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(stem.with_suffix(".png")), img)
    meta = {"game": game, "params": params, "game_id": game_id, "dpi": round(dpi, 3), "antialias": antialias,
            "margin": round(margin, 4), "spec": spec.to_dict(),
            "solution": [list(map(int, row)) for row in out.solution]}
    stem.with_suffix(".json").write_text(json.dumps(meta))


def _pick_margin(rng: np.random.Generator) -> float:
    """A screenshot cut at the grid, a narrow white border or a wide one (fraction of the side)."""
    k = rng.random()
    return 0.0 if k < 0.15 else rng.uniform(0.005, 0.05) if k < 0.6 else rng.uniform(0.05, 0.3)
