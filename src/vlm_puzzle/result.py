"""The one result schema shared by the library, the CLI and batch files.

``SolveResult.to_dict()`` is exactly::

    {"image": str, "status": "solved" | "unsolved" | "error",
     "kind": str | None, "size": int | None,
     "givens": [[int]] | None, "solution": [[int]] | None, "unique": bool | None,
     "spec": {...PuzzleSpec JSON...} | None, "rule_source": "qwen" | "geometry" | None,
     "repairs": [{"cell": [r, c], "from": int, "to": int}], "confidence": float | None,
     "rule_confidence": float | None, "notes": [str],
     "timings_s": {"load": float, "rules": float, "extract": float, "solve": float, "total": float,
                   "network": float},
     "error": {"code": str, "message": str} | None}

Rows and columns are 0-based, 0 in ``givens`` is an empty cell, 16x16 symbols are 1..16.
``givens`` are the digits as read (after the extractor's repairs, listed in ``repairs``);
``confidence`` is the probability that the answer is right (calibrated on development
data, :mod:`vlm_puzzle.check.confidence`; with no answer, the same estimate from what was
read, None when no grid was);
``rule_confidence`` rule inference's own score for the puzzle's rules (0..1, not
calibrated: at most 0.3 when a consistency check failed, the rules were guessed or the
givens have no or several solutions), and ``notes`` say why: the "uncertain: ..." and
"problem: ..." findings of rule inference, the repair step and the solver.
``solution`` is set only when ``status`` is "solved": independently verified. ``unique``:
true when the solver proved it the only solution, false when the puzzle as read has
several (one is given, with an "uncertain: ..." note of code ``not_unique``; refused as
``multiple_solutions`` with ``require_unique``), null when the search for a second one was
cut by the deadline (note code ``uniqueness_unknown``) or there is no solution.
``timings_s.network`` is the part of ``rules`` spent waiting on a serving engine (the
``openai`` backend: send to reply, retries included; 0 otherwise).
``timings_s.load`` is decoding the image (the one-off model load is reported by
:class:`~vlm_puzzle.pipeline.PuzzleSolver` as ``model_load_s``); ``solve`` includes
verifying the solution.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vlm_puzzle.findings import Finding
from vlm_puzzle.imageio import LoadedImage
from vlm_puzzle.spec import PuzzleSpec
from vlm_puzzle.verdict import Repair

if TYPE_CHECKING:  # annotations only: the result schema does not import the stages
    from vlm_puzzle.rules.base import RuleHints
    from vlm_puzzle.vision.state import GridState

STATUSES = ("solved", "unsolved", "error")
STAGES = ("load", "rules", "extract", "solve", "total", "network")
RESULT_KEYS = ("image", "status", "kind", "size", "givens", "solution", "unique", "spec", "rule_source",
               "repairs", "confidence", "rule_confidence", "notes", "timings_s", "error")


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass
class Timings:
    load: float = 0.0
    rules: float = 0.0
    extract: float = 0.0
    solve: float = 0.0
    total: float = 0.0
    network: float = 0.0  # the part of ``rules`` spent waiting on a serving engine

    def to_dict(self) -> dict:
        return {k: round(float(getattr(self, k)), 6) for k in STAGES}


@dataclass
class SolveResult:
    """What solving one image produced. ``findings`` (the typed form of ``notes`` and of
    the rules' evidence), ``state`` / ``hints`` / ``loaded`` are kept for programs, the
    overlay and debugging; they are not part of the JSON schema."""

    image: str
    status: str
    kind: str | None = None
    size: int | None = None
    givens: list[list[int]] | None = None
    solution: list[list[int]] | None = None
    unique: bool | None = None
    spec: PuzzleSpec | None = None
    rule_source: str | None = None
    repairs: list[Repair] = field(default_factory=list)
    confidence: float | None = None
    rule_confidence: float | None = None
    notes: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    error: ErrorInfo | None = None
    # not serialised
    findings: tuple[Finding, ...] = field(default=(), repr=False, compare=False)
    # the raw evidence ``confidence`` is calibrated from (check.confidence.signals)
    signals: dict = field(default_factory=dict, repr=False, compare=False)
    state: GridState | None = field(default=None, repr=False, compare=False)
    hints: RuleHints | None = field(default=None, repr=False, compare=False)
    loaded: LoadedImage | None = field(default=None, repr=False, compare=False)

    @property
    def solved(self) -> bool:
        return self.status == "solved"

    def to_dict(self) -> dict:
        return {
            "image": self.image,
            "status": self.status,
            "kind": self.kind,
            "size": self.size,
            "givens": _grid(self.givens),
            "solution": _grid(self.solution),
            "unique": self.unique,
            "spec": self.spec.to_dict() if self.spec is not None else None,
            "rule_source": self.rule_source,
            "repairs": [r.to_dict() for r in self.repairs],
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "rule_confidence": None if self.rule_confidence is None else round(float(self.rule_confidence), 4),
            "notes": [str(n) for n in self.notes],
            "timings_s": self.timings.to_dict(),
            "error": self.error.to_dict() if self.error else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SolveResult":
        t = d.get("timings_s") or {}
        err = d.get("error")
        return cls(
            image=d["image"], status=d["status"], kind=d.get("kind"), size=d.get("size"),
            givens=d.get("givens"), solution=d.get("solution"), unique=d.get("unique"),
            spec=PuzzleSpec.from_dict(d["spec"]) if d.get("spec") else None,
            rule_source=d.get("rule_source"),
            repairs=[Repair.from_dict(r) for r in d.get("repairs") or []],
            confidence=d.get("confidence"),
            rule_confidence=d.get("rule_confidence"),
            notes=list(d.get("notes") or []),
            timings=Timings(**{k: float(t.get(k, 0.0)) for k in STAGES}),
            error=ErrorInfo(err["code"], err["message"]) if err else None,
        )

    @classmethod
    def failure(cls, image: str, status: str, code: str, message: str, **kw) -> "SolveResult":
        return cls(image=image, status=status, error=ErrorInfo(code, message), **kw)


def _grid(g) -> list[list[int]] | None:
    if g is None:
        return None
    return [[int(v) for v in row] for row in g]


def format_grid(grid, size: int | None = None, box: tuple[int, int] | None = None,
                empty: str = ".") -> str:
    """A grid as text, boxes separated by lines; 10..16 as A..G so columns stay aligned."""
    if grid is None:
        return "(none)"
    n = size or len(grid)
    br, bc = box if box else (0, 0)
    wide = n > 9

    def sym(v: int) -> str:
        if not v:
            return empty
        return str(v) if v < 10 or not wide else chr(ord("A") + v - 10)

    lines = []
    for r, row in enumerate(grid):
        if br and r and r % br == 0:
            lines.append("-+-".join("-" * (2 * bc - 1) for _ in range(n // bc)))
        cells = []
        for c, v in enumerate(row):
            if bc and c and c % bc == 0:
                cells.append("|")
            cells.append(sym(int(v)))
        lines.append(" ".join(cells))
    return "\n".join(lines)


_SYMS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_OPS = {"sum": "", "add": "+", "sub": "-", "mul": "x", "div": "/", None: ""}


def format_layout(spec: PuzzleSpec) -> str | None:
    """Cages (each cell labelled with its cage's letter, then the clues 'a=12+ b=3- ...')
    or jigsaw regions as text; None for a puzzle with neither."""
    if spec.cages:
        n = spec.size
        grid = [["." for _ in range(n)] for _ in range(n)]
        clues = []
        for i, cage in enumerate(spec.cages):
            sym = _SYMS[i % len(_SYMS)]
            for r, c in cage.cells:
                grid[r][c] = sym
            clues.append(f"{sym}={cage.target}{_OPS.get(cage.op, '?')}")
        lines = [" ".join(row) for row in grid]
        lines += [" ".join(clues[k:k + 10]) for k in range(0, len(clues), 10)]
        return "\n".join(lines)
    if spec.regions is not None:
        return "\n".join(" ".join(_SYMS[v % len(_SYMS)] for v in row) for row in spec.regions)
    return None
