"""The state extractor: picture in, :class:`GridState` out.

``extract_state(image)`` locates the grid (``grid.py``), cuts and normalises
every cell (``cells.py``), reads them all in one batched pass of the shipped
ONNX digit network (``classifier.py``), turns the page upright if the grid was
photographed sideways or upside down, and checks and repairs the reading with
the solver (``repair.py``): against the rules the caller infers from the state
(``rules=``), or, without them, as a plain Sudoku. Every stage is timed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from vlm_puzzle.errors import ImageError, ReadError
from vlm_puzzle.spec import DEFAULT_BOX, SUDOKU_SIZES, PuzzleSpec
from vlm_puzzle.vision.cells import cell_patches, diagonal_lines, erase_diagonal
from vlm_puzzle.vision.classifier import DIGITS_MODEL, load_classifier
from vlm_puzzle.vision.grid import GridLocation, locate_grid, warp_quad, find_lattice
from vlm_puzzle.vision.labels import value_probs

EMPTY_THRESHOLD = 0.5     # a cell is a digit when P(empty) falls below this


@dataclass
class GridState:
    """What the extractor read from one picture.

    Geometry: ``corners`` (4x2 float32, TL TR BR BL of the upright grid, in
    original-image pixels); ``warped`` (the rectified grid, gray uint8,
    ``WARP_SIZE`` square, upright); in warped pixels, ``rows_y`` / ``cols_x``
    ((N+1,) line positions), ``h_lines`` / ``v_lines`` ((N+1, N): line k's
    position at the middle of each cell it bounds, following page curvature)
    and ``h_weight`` / ``v_weight`` ((N+1,) ink mass of each line: thick box
    and cage borders weigh more). ``rotation``: k such that the grid appeared
    rotated k * 90 degrees counter-clockwise in the picture.

    Reading: ``givens`` (N x N int, 0 empty, upright); ``probs`` (N x N x (N+1)
    float32, value probabilities, index 0 = empty); ``labels`` (the symbol
    printed for each value index, e.g. "A" for 10 in a 16x16 grid);
    ``confidence`` (N x N, probability of the chosen value).

    Checking: ``raw_givens`` (the reading before repair); ``repairs`` (``{"cell": [r, c], "from": d, "to": d2}``),
    ``repair_status`` ("not_needed", "repaired", "failed", "skipped"),
    ``solver_status`` of the final givens ("solved" = exactly one solution),
    ``repair_kind``: the kind of puzzle whose rules those verdicts are under (None: not checked).
    ``timing``: seconds per stage. ``variants``: filled by
    ``vision.variants.read_variants`` when asked for.
    """

    size: int
    box: tuple[int, int] | None
    givens: np.ndarray
    probs: np.ndarray
    labels: tuple[str, ...]
    notation: str
    confidence: np.ndarray
    corners: np.ndarray
    warped: np.ndarray
    rows_y: np.ndarray
    cols_x: np.ndarray
    h_lines: np.ndarray
    v_lines: np.ndarray
    h_weight: np.ndarray
    v_weight: np.ndarray
    rotation: int = 0
    raw_givens: np.ndarray | None = None
    repairs: list[dict] = field(default_factory=list)
    repair_status: str = "skipped"
    solver_status: str | None = None
    solution: list[list[int]] | None = None
    timing: dict[str, float] = field(default_factory=dict)
    variants: Any = None
    location: GridLocation | None = field(default=None, repr=False)
    repair_kind: str | None = None

    @property
    def ok(self) -> bool:
        """True when the givens abide by the rules and have exactly one solution."""
        return self.solver_status == "solved"

    def cell_rect(self, r: int, c: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of cell (r, c) in ``warped`` pixels."""
        return (float(self.v_lines[c, r]), float(self.h_lines[r, c]),
                float(self.v_lines[c + 1, r]), float(self.h_lines[r + 1, c]))

    def to_spec(self) -> PuzzleSpec:
        """The reading as a plain Sudoku :class:`PuzzleSpec` (with per-cell confidence).

        Raises SpecError for sizes without a Sudoku box shape."""
        box = self.box if self.box else DEFAULT_BOX.get(self.size)
        spec = PuzzleSpec.sudoku(self.givens.tolist(), box=box)
        return spec.with_givens(self.givens.tolist(), np.clip(self.confidence, 0, 1).round(4).tolist())


def _load(image) -> tuple[np.ndarray, float]:
    """BGR/gray uint8 array and the factor from original pixels to array pixels."""
    try:
        from vlm_puzzle.imageio import open_image
    except ImportError:  # pragma: no cover - the pipeline package ships imageio
        open_image = None
    if open_image is not None:
        loaded = open_image(image)
        return loaded.image, float(loaded.scale)
    if isinstance(image, (str, Path)):
        arr = cv2.imread(str(image))
        if arr is None:
            raise ImageError(f"cannot read an image from {image}")
        return arr, 1.0
    return np.asarray(image), 1.0


SKIP_INK = 40   # robust max ink (0..255) below which a cell is blank without asking the network


def _read(classifier, warped: np.ndarray, rects: list, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Patches and (N*N, K) symbol probabilities.

    Cells with no ink at all (their 20th-darkest central pixel below SKIP_INK,
    a level no digit of the 160 training photos comes near: the faintest has
    66) are blank without a network pass, which halves the reading time.
    """
    patches = cell_patches(warped, rects, classifier.size)
    return patches, _classify(classifier, patches)


def has_ink(patches: np.ndarray) -> np.ndarray:
    """(M,) bool: which (M, P, P) uint8 ink patches the network is asked about (see
    :func:`_read`); the others are blank."""
    p = patches.shape[-1]
    centre = patches[:, p // 5: p - p // 5, p // 5: p - p // 5].reshape(len(patches), -1)
    return np.partition(centre, -20, axis=1)[:, -20] >= SKIP_INK


def _classify(classifier, patches: np.ndarray) -> np.ndarray:
    """(len(patches), K) symbol probabilities; ink-less patches are blank unasked."""
    inked = has_ink(patches)
    sym = np.zeros((len(patches), len(classifier.labels)), np.float32)
    sym[:, 0] = 1.0
    if inked.any():
        sym[inked] = classifier.predict(np.ascontiguousarray(patches[inked]))
    return sym


def _best_rotation(classifier, patches: np.ndarray, sym: np.ndarray, per_cell_margin: float = 0.2) -> int:
    """k in 0..3 under which the digit cells read most confidently (upright).

    Another k must beat the upright reading by ``per_cell_margin`` nats per
    digit cell (at least 1 nat)."""
    digit = np.nonzero(sym[:, 0] < EMPTY_THRESHOLD)[0]
    if len(digit) == 0:
        return 0
    scores = [float(np.log(np.maximum(sym[digit, 1:].max(axis=1), 1e-6)).sum())]
    margin = max(1.0, per_cell_margin * len(digit))
    if scores[0] + margin >= 0.0:
        # Every score is a sum of log-probabilities, <= 0: no turn can beat the
        # upright reading by the margin, so the network need not be asked.
        return 0
    rotated = np.concatenate([np.stack([np.rot90(patches[i], -k) for i in digit]) for k in (1, 2, 3)])
    probs = classifier.predict(np.ascontiguousarray(rotated)).reshape(3, len(digit), -1)
    for k in range(3):
        # An upright digit reads as a digit, confidently; a turned one does neither.
        scores.append(float(np.log(np.maximum(probs[k][:, 1:].max(axis=1), 1e-6)).sum()))
    best = int(np.argmax(scores))
    return best if scores[best] > scores[0] + margin else 0


def extract_state(image, *, repair: bool = True, variants: bool = False, rotate: bool = True,
                  model: str | Path | None = None, repair_budget_s: float = 3.0,
                  rules: Callable[[GridState], PuzzleSpec | None] | None = None) -> GridState:
    """Read the grid in ``image`` (a path, PIL image, or BGR/gray numpy array).

    ``repair``: check the reading with the solver and fix likely misreadings.
    Without ``rules`` the check assumes a plain Sudoku (Sudoku sizes only).
    ``rules``: called with the upright state (givens as read, variants read when
    asked for) and returns the puzzle whose rules the givens are checked and
    repaired against (its givens are ignored), or None to leave the givens as
    read: e.g. the pipeline's geometry inference, so that a jigsaw is repaired
    against its regions and a killer against its cages.
    ``variants``: also read borders, cages, clues, regions, diagonals and windows
    (``vision.variants.read_variants``).
    ``rotate``: allow turning a sideways or upside-down grid upright.
    ``model``: another ONNX digit model (e.g. a cross-validation fold's).
    Raises ImageError (unreadable input), GridNotFoundError (no grid) or
    ModelError (weights missing).
    """
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    arr, scale = _load(image)
    timing["load_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    loc = locate_grid(arr)
    timing["locate_s"] = time.perf_counter() - t

    t = time.perf_counter()
    classifier = load_classifier(model or DIGITS_MODEL)
    reading = _Reading.of(classifier, loc)
    timing["read_s"] = time.perf_counter() - t

    state, reading = _assemble(loc, reading, classifier, scale, 0, variants, timing)
    # The rules to check against, and a verdict under them first (no search): a
    # valid, uniquely solvable reading is upright and right. Without rules from the
    # caller a plain Sudoku is checked; when the caller's rules are None, the plain
    # Sudoku gives a verdict (for turning the page, and reported) but repairs nothing.
    template, verdict_rules = _rules_for(state, rules, repair)
    checked = _timed_check(verdict_rules, reading, 0.0, timing)
    rotation = 0
    if rotate and (checked is None or checked.status != "not_needed"):
        t = time.perf_counter()
        # When the upright reading already failed the rules, the solver has spoken
        # against it: a small margin suffices (the turned reading is checked too).
        margin = 0.02 if checked is not None else 0.2
        rotation = _best_rotation(classifier, reading.patches, reading.sym, margin)
        if rotation:
            loc = _rotated_location(arr, loc, rotation)
            reading = _Reading.of(classifier, loc)
        timing["rotate_s"] = time.perf_counter() - t
        if rotation:
            state, reading = _assemble(loc, reading, classifier, scale, rotation, variants, timing)
            template, verdict_rules = _rules_for(state, rules, repair)
            checked = None
    if template is not None:
        if checked is None or checked.status != "not_needed":
            checked = _timed_check(template, reading, repair_budget_s, timing)
    elif verdict_rules is not None:
        checked = _verdict_only(checked or _timed_check(verdict_rules, reading, 0.0, timing))
    if checked is not None:
        state.repair_kind = (template or verdict_rules).kind
        state.givens = checked.givens
        state.repairs = checked.changes
        state.repair_status = checked.status
        state.solver_status = checked.solver_status
        state.solution = checked.solution
        state.confidence = np.take_along_axis(state.probs, state.givens[:, :, None], axis=2)[:, :, 0]
    timing["total_s"] = time.perf_counter() - t0
    return state


@dataclass
class _Reading:
    """One pass of the classifier over a located grid."""

    n: int
    patches: np.ndarray
    sym: np.ndarray
    probs: np.ndarray
    labels: tuple[str, ...]
    notation: str
    givens: np.ndarray
    confidence: np.ndarray

    @classmethod
    def of(cls, classifier, loc: GridLocation) -> "_Reading":
        lat = loc.lattice
        n = lat.size
        rects = [lat.cell_rect(r, c) for r in range(n) for c in range(n)]
        patches, sym = _read(classifier, loc.warped, rects, n)
        return cls.from_symbols(n, patches, sym)

    def without_diagonal_lines(self, classifier) -> "_Reading":
        """The reading with the diagonal cells read again, their diagonal line erased."""
        n = self.n
        lines = diagonal_lines(n)
        patches, sym = self.patches.copy(), self.sym.copy()
        for k, antis in lines.items():
            for anti in antis:
                patches[k] = erase_diagonal(patches[k], anti)
        cells = sorted(lines)
        sym[cells] = _classify(classifier, patches[cells])
        return _Reading.from_symbols(n, patches, sym)

    @classmethod
    def from_symbols(cls, n: int, patches: np.ndarray, sym: np.ndarray) -> "_Reading":
        probs, labels, notation = value_probs(sym.reshape(n, n, -1), n)
        # Empty wins only with enough probability; otherwise the likeliest digit.
        digit_best = probs[:, :, 1:].argmax(axis=2) + 1
        givens = np.where(probs[:, :, 0] >= EMPTY_THRESHOLD, 0, digit_best).astype(np.int64)
        confidence = np.take_along_axis(probs, givens[:, :, None], axis=2)[:, :, 0].astype(np.float32)
        return cls(n, patches, sym, probs, labels, notation, givens, confidence)


def _assemble(loc: GridLocation, reading: "_Reading", classifier, scale: float, rotation: int,
              variants: bool, timing: dict) -> tuple[GridState, "_Reading"]:
    """The state of a located, read grid; with ``variants``, its variants read too
    (and drawn diagonals erased from the reading)."""
    lat = loc.lattice
    state = GridState(
        size=reading.n, box=lat.box, givens=reading.givens, probs=reading.probs, labels=reading.labels,
        notation=reading.notation, confidence=reading.confidence, corners=(loc.corners / scale).astype(np.float32),
        warped=loc.warped, rows_y=lat.rows_y, cols_x=lat.cols_x, h_lines=lat.h_lines, v_lines=lat.v_lines,
        h_weight=lat.h_thick, v_weight=lat.v_thick, rotation=rotation, raw_givens=reading.givens.copy(),
        timing=timing, location=loc)
    if variants:
        t = time.perf_counter()
        from vlm_puzzle.vision.variants import read_variants
        state.variants = read_variants(state)
        if getattr(state.variants.marks, "diagonal_style", None) == "line":
            # An x-sudoku's drawn diagonals cross empty cells like a 1 or a 7: read again without them.
            reading = reading.without_diagonal_lines(classifier)
            state.givens, state.probs, state.confidence = reading.givens, reading.probs, reading.confidence
            state.raw_givens = reading.givens.copy()
        timing["variants_s"] = timing.get("variants_s", 0.0) + time.perf_counter() - t
    return state, reading


def _rules_for(state: GridState, rules, repair: bool) -> tuple[PuzzleSpec | None, PuzzleSpec | None]:
    """(rules to repair against, rules to give a verdict under): the caller's, or a
    plain Sudoku's; (None, plain) when the caller has none; (None, None) without repair."""
    if not repair:
        return None, None
    plain = _plain_template(state.size, state.box) if state.size in SUDOKU_SIZES else None
    if rules is None:
        return plain, plain
    template = rules(state)
    return template, template if template is not None else plain


def _timed_check(template: PuzzleSpec | None, reading: "_Reading", budget_s: float, timing: dict):
    if template is None:
        return None
    t = time.perf_counter()
    out = _check(template, reading, budget_s)
    timing["repair_s"] = timing.get("repair_s", 0.0) + time.perf_counter() - t
    return out


def _plain_template(n: int, box: tuple[int, int] | None) -> PuzzleSpec:
    """The plain Sudoku rules for a grid of this size, boxes as found or standard."""
    return PuzzleSpec.sudoku(np.zeros((n, n), int).tolist(), box=box or DEFAULT_BOX[n])


def _check(template: PuzzleSpec, reading: _Reading, budget_s: float):
    """Solver check (and repair, within ``budget_s``) of the reading under ``template``'s rules."""
    from vlm_puzzle.vision.repair import repair_givens
    return repair_givens(template, reading.givens, reading.probs, budget_s=budget_s)


def _verdict_only(checked):
    """A plain-Sudoku check reduced to its verdict on the givens as read (no repair)."""
    if checked is None or checked.status == "not_needed":
        return checked
    from vlm_puzzle.vision.repair import RepairResult
    return RepairResult(checked.givens, "skipped", checked.solver_status, time_s=checked.time_s)


def _rotated_location(arr: np.ndarray, loc: GridLocation, k: int) -> GridLocation:
    """The location re-warped so that the grid reads upright (corners rolled by k)."""
    from vlm_puzzle.vision.grid import to_gray, _lattice_corners
    corners = np.roll(loc.corners, k, axis=0)
    gray = to_gray(arr)
    warped, H = warp_quad(gray, corners)
    lattice = find_lattice(warped)
    if lattice.size != loc.lattice.size:
        raise ReadError("the grid changed size when turned upright; the picture is ambiguous")
    return GridLocation(corners=_lattice_corners(lattice, H), homography=H, warped=warped, lattice=lattice)
