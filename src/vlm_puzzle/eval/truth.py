"""Ground truth next to an image: ``IMAGE.json`` (renderer: spec, solution, grid corners) or ``IMAGE.dat``
(the Wicht & Hennebert photo data set: 2 header lines, then 9 rows of 9 digits, 0 = empty)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from vlm_puzzle.spec import PuzzleSpec, SpecError


@dataclass(frozen=True)
class Truth:
    source: str                       # the truth file
    givens: list[list[int]]
    kind: str | None = None           # None when the file does not say (.dat: plain sudoku)
    solution: list[list[int]] | None = None
    spec: PuzzleSpec | None = None
    corners: tuple[tuple[float, float], ...] | None = None  # the grid's outer corners TL, TR, BR, BL (renders)

    @property
    def size(self) -> int:
        return len(self.givens)


def truth_path(image: str) -> str | None:
    stem = os.path.splitext(image)[0]
    for ext in (".json", ".dat"):
        if os.path.isfile(stem + ext):
            return stem + ext
    return None


def load_truth(image: str) -> Truth | None:
    """The ground truth for ``image``, or None when there is none. Raises ValueError
    for a truth file that cannot be parsed (a broken benchmark must be loud)."""
    path = truth_path(image)
    if path is None:
        return None
    if path.endswith(".dat"):
        return read_dat(path)
    return read_json(path)


def read_dat(path: str) -> Truth:
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = [ln.split() for ln in fh.read().splitlines()[2:] if ln.strip()]
    rows = [[int(v) for v in ln] for ln in lines[:9]]
    if len(rows) != 9 or any(len(r) != 9 for r in rows):
        raise ValueError(f"{path}: expected 9 rows of 9 digits after 2 header lines")
    # The photos are all classic 9x9 sudoku; the .dat says nothing about the kind.
    return Truth(source=path, givens=rows, kind="sudoku")


def read_json(path: str) -> Truth:
    with open(path, encoding="utf-8") as fh:
        d = json.load(fh)
    if not isinstance(d, dict):
        raise ValueError(f"{path}: ground truth must be a JSON object")
    spec_d = d.get("spec") if isinstance(d.get("spec"), dict) else (d if "size" in d else None)
    spec = None
    if spec_d is not None:
        try:
            spec = PuzzleSpec.from_dict(spec_d)
        except SpecError as exc:
            raise ValueError(f"{path}: bad spec: {exc}") from None
    givens = d.get("givens") or (spec_d or {}).get("givens")
    if givens is None and spec is not None:
        givens = [list(r) for r in spec.givens]
    if givens is None:
        raise ValueError(f"{path}: no givens in ground truth")
    solution = d.get("solution") or (spec_d or {}).get("solution")
    kind = d.get("kind") or (spec.kind if spec is not None else None)
    corners = tuple((float(x), float(y)) for x, y in d["corners"]) if d.get("corners") else None
    return Truth(source=path, givens=[[int(v) for v in r] for r in givens], kind=kind,
                 solution=[[int(v) for v in r] for r in solution] if solution else None, spec=spec, corners=corners)
