"""Perception: picture in, :class:`~vlm_puzzle.vision.state.GridState` out, no solver.

:class:`GridReader` holds the shipped ONNX networks, each loaded once (digits:
``classifier.py``, edges: ``edge_net.py``, clue text: ``clues.py``), and
reads a decoded picture: it locates the grid (``grid.py``), cuts and normalises
every cell (``cells.py``), reads them all in one batched pass, and reads the
variant marks (``variants.py``; an x-sudoku's drawn diagonals are then erased and
the cells they cross read again). It can also say under which quarter turn the
digits read most confidently and read the grid again turned: *whether* to turn is
the checking stage's decision (:mod:`vlm_puzzle.check`), which asks the solver first.

:func:`extract_state` is perception for users: one picture, turned upright from
how its digits read, no solver check (``vlm_puzzle.check.read_checked`` adds it).
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from vlm_puzzle.errors import ReadError
from vlm_puzzle.imageio import open_image
from vlm_puzzle.vision.cells import INSET, cell_patches, diagonal_lines, erase_diagonal
from vlm_puzzle.vision.classifier import DIGITS_MODEL, load_classifier
from vlm_puzzle.vision.clues import ClueReader, blank_clue
from vlm_puzzle.vision.edge_net import load_edge_net
from vlm_puzzle.vision.gray import to_gray
from vlm_puzzle.vision.grid import GridLocation, _lattice_corners, lattice_of, locate_grid
from vlm_puzzle.vision.outline import smooth_warp, warp_quad
from vlm_puzzle.vision.reading import EMPTY_THRESHOLD, CellReading, GridGeometry
from vlm_puzzle.vision.state import GridState
from vlm_puzzle.vision.variants import read_variants

SKIP_INK = 40   # robust max ink (0..255) below which a cell is blank without asking the network
# Another quarter turn must beat the upright reading by this many nats per digit cell.
TURN_MARGIN = 0.2
TURN_CELLS = 81   # at most a 9x9 board's worth of digit cells are read turned to decide the turn
# Line widths of a big picture are measured on a warp this many times the reading's size:
# lines of 1..3 px with cage borders only 1.5x the cell lines keep their ratio there.
WIDTH_SCALE = 3


def has_ink(patches: np.ndarray) -> np.ndarray:
    """(M,) bool: which (M, P, P) uint8 ink patches the network is asked about.

    Cells with no ink at all (their 20th-darkest central pixel below SKIP_INK,
    a level no digit of the 160 training photos comes near: the faintest has
    66) are blank without a network pass, which halves the reading time."""
    p = patches.shape[-1]
    centre = patches[:, p // 5: p - p // 5, p // 5: p - p // 5].reshape(len(patches), -1)
    return np.partition(centre, -20, axis=1)[:, -20] >= SKIP_INK


class GridReader:
    """The perception networks, each loaded once for every picture this reader reads,
    and what it reads from located grids: the digit classifier, the edge classifier
    (None without its weights: the hand rules decide) and the clue reader (loaded on
    first use: only cages need it).

    ``model``: another ONNX digit model (e.g. a cross-validation fold's)."""

    def __init__(self, model: str | Path | None = None):
        self.classifier = load_classifier(model or DIGITS_MODEL)
        self.edge_net = load_edge_net()
        self.clue_reader = ClueReader()

    def read(self, image: np.ndarray, *, scale: float = 1.0, variants: bool = True) -> GridState:
        """Locate the grid in a decoded BGR/gray ``image`` and read it, as it lies.

        ``scale``: image pixels per original pixel (corners are given in original
        pixels). Raises GridNotFoundError (no grid)."""
        t0 = time.perf_counter()
        gray = to_gray(image)   # once: the variants reader warps the picture again
        loc = locate_grid(gray)
        timing = {"locate_s": time.perf_counter() - t0}
        return self._state(loc, scale, 0, variants, timing, gray)

    def best_turn(self, state: GridState, margin: float = TURN_MARGIN) -> int:
        """k in 0..3 under which the digit cells read most confidently (upright).

        Another k must beat the reading as it lies by ``margin`` nats per digit cell
        (at least 1 nat)."""
        reading = state.reading
        sym = reading.symbols
        digit = np.nonzero(sym[:, 0] < EMPTY_THRESHOLD)[0]
        if len(digit) == 0:
            return 0
        # Evenly spaced ones decide as well as all (a 16x16 board writes ~120, each read
        # three more times turned).
        digit = digit[::-(-len(digit) // TURN_CELLS)]
        scores = [float(np.log(np.maximum(sym[digit, 1:].max(axis=1), 1e-6)).sum())]
        need = max(1.0, margin * len(digit))
        if scores[0] + need >= 0.0:
            # Every score is a sum of log-probabilities, <= 0: no turn can beat the
            # reading as it lies by the margin, so the network need not be asked.
            return 0
        rotated = np.concatenate([np.stack([np.rot90(reading.patches[i], -k) for i in digit]) for k in (1, 2, 3)])
        probs = self.classifier.predict(np.ascontiguousarray(rotated)).reshape(3, len(digit), -1)
        for k in range(3):
            # An upright digit reads as a digit, confidently; a turned one does neither.
            scores.append(float(np.log(np.maximum(probs[k][:, 1:].max(axis=1), 1e-6)).sum()))
        best = int(np.argmax(scores))
        return best if scores[best] > scores[0] + need else 0

    def turned(self, image: np.ndarray, state: GridState, k: int, *, scale: float = 1.0,
               variants: bool = True) -> GridState:
        """``state``'s grid read again turned by k quarter turns (re-warped from ``image``)."""
        loc = state.geometry.location
        corners = np.roll(loc.corners, k, axis=0)
        image = to_gray(image)
        warped, H = warp_quad(image, corners)
        lattice = lattice_of(image, warped, H)
        if lattice.size != loc.lattice.size:
            raise ReadError("the grid changed size when turned upright; the picture is ambiguous")
        turned = GridLocation(corners=_lattice_corners(lattice, H), homography=H, warped=warped, lattice=lattice)
        return self._state(turned, scale, k, variants, dict(state.timing), image)

    def _state(self, loc: GridLocation, scale: float, rotation: int, variants: bool, timing: dict,
               image: np.ndarray | None = None) -> GridState:
        t = time.perf_counter()
        reading = self._read(loc)
        timing["read_s"] = timing.get("read_s", 0.0) + time.perf_counter() - t
        geometry = GridGeometry.of(loc, scale, rotation)
        marks = None
        if variants:
            t = time.perf_counter()
            # Line widths of a big picture are measured on an area-averaged warp (``image``: the picture).
            fine = smooth_warp(to_gray(image), loc.homography, scale=WIDTH_SCALE) if image is not None else None
            marks = read_variants(geometry, self.edge_net, self.clue_reader, widths_image=fine)
            if marks.marks.diagonal_style == "line":
                # An x-sudoku's drawn diagonals cross empty cells like a 1 or a 7: read again without them.
                reading = self._without_diagonal_lines(reading, geometry.size)
            if marks.cage_style == "thick":
                # KenKen has no givens: a digit read in a cage's first cell is its clue.
                reading = self._without_clues(reading, marks.cages, geometry.size)
            timing["variants_s"] = timing.get("variants_s", 0.0) + time.perf_counter() - t
        return GridState(geometry=geometry, reading=reading, variants=marks, timing=timing)

    def _read(self, loc: GridLocation) -> CellReading:
        lat = loc.lattice
        n = lat.size
        rects = [lat.cell_rect(r, c) for r in range(n) for c in range(n)]
        patches = cell_patches(loc.warped, rects, self.classifier.size)
        return CellReading.from_symbols(n, patches, self._classify(patches))

    def _classify(self, patches: np.ndarray) -> np.ndarray:
        """(len(patches), K) symbol probabilities; ink-less patches are blank unasked."""
        inked = has_ink(patches)
        sym = np.zeros((len(patches), len(self.classifier.labels)), np.float32)
        sym[:, 0] = 1.0
        if inked.any():
            sym[inked] = self.classifier.predict(np.ascontiguousarray(patches[inked]))
        return sym

    def _without_clues(self, reading: CellReading, cages, n: int) -> CellReading:
        """The reading with each cage's first cell read again, its clue text blanked,
        where a digit was read there: a clue a third of the cell high reads as a given."""
        edited = {}
        for cage in cages:
            k = cage.anchor[0] * n + cage.anchor[1]
            if cage.clue.extent is not None and reading.symbols[k, 0] < EMPTY_THRESHOLD:
                edited[k] = blank_clue(reading.patches[k], cage.clue.extent, INSET)
        return self._reread(reading, n, edited)

    def _without_diagonal_lines(self, reading: CellReading, n: int) -> CellReading:
        """The reading with the diagonal cells read again, their diagonal line erased."""
        edited = {}
        for k, antis in diagonal_lines(n).items():
            patch = reading.patches[k]
            for anti in antis:
                patch = erase_diagonal(patch, anti)
            edited[k] = patch
        return self._reread(reading, n, edited)

    def _reread(self, reading: CellReading, n: int, edited: dict[int, np.ndarray]) -> CellReading:
        """The reading with the cells of ``edited`` (cell index -> new patch) replaced and
        classified again; ``reading`` itself when there are none."""
        if not edited:
            return reading
        patches, sym = reading.patches.copy(), reading.symbols.copy()
        cells = sorted(edited)
        for k in cells:
            patches[k] = edited[k]
        sym[cells] = self._classify(patches[cells])
        return CellReading.from_symbols(n, patches, sym)


def extract_state(image, *, variants: bool = False, rotate: bool = True,
                  model: str | Path | None = None) -> GridState:
    """Read the grid in ``image`` (a path, PIL image, or BGR/gray numpy array): perception only.

    The grid is located, read and, with ``rotate``, turned upright when its digits
    read more confidently so; ``variants`` also reads borders, cages, clues,
    regions, diagonals and windows. No solver check or repair: the state's
    ``verdict`` is None (``vlm_puzzle.check.read_checked`` reads and checks;
    ``vlm_puzzle.pipeline.read_state`` does so under the rules the picture shows).
    Raises ImageError (unreadable input), GridNotFoundError (no grid) or
    ModelError (weights missing).
    """
    t0 = time.perf_counter()
    loaded = open_image(image)
    load_s = time.perf_counter() - t0
    reader = GridReader(model)
    state = reader.read(loaded.image, scale=loaded.scale, variants=variants)
    if rotate:
        k = reader.best_turn(state)
        if k:
            state = reader.turned(loaded.image, state, k, scale=loaded.scale, variants=variants)
    return replace(state, timing={**state.timing, "load_s": load_s, "total_s": time.perf_counter() - t0})


__all__ = ["GridReader", "extract_state", "has_ink", "SKIP_INK", "TURN_MARGIN"]
