"""Alex Kubiesa's phone photos of newspaper Sudoku being solved (``sudoku-scanner``, MIT).

Each ``NAME.jpg`` has ``NAME.txt``: 9 rows of 9 integers, ``0`` blank, ``1``-``9`` one digit
(printed or handwritten), ``10`` small pencil-mark candidates. A reader should read the
digits and take pencil marks for an empty cell: :func:`expected_cells` maps ``10`` to 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MARKS = 10


@dataclass(frozen=True)
class Photo:
    path: Path
    labels: tuple[tuple[int, ...], ...]   # as in the data set: 0, 1..9, 10 = pencil marks

    @property
    def expected(self) -> list[list[int]]:
        """What a reader should return: the digits, 0 for blanks and pencil marks."""
        return expected_cells(self.labels)


def expected_cells(labels) -> list[list[int]]:
    return [[0 if v == MARKS else int(v) for v in row] for row in labels]


def read_labels(path: Path) -> tuple[tuple[int, ...], ...]:
    rows = [tuple(int(v) for v in line.split()) for line in Path(path).read_text().splitlines() if line.strip()]
    if len(rows) != 9 or any(len(r) != 9 or not all(0 <= v <= MARKS for v in r) for r in rows):
        raise ValueError(f"{path}: expected 9 rows of 9 integers 0..10")
    return tuple(rows)


def load_split(root: Path, split: str) -> list[Photo]:
    """The photos of ``root/split`` (``train`` or ``val``) with their labels, sorted by name."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"no split folder {folder}")
    return [Photo(jpg, read_labels(jpg.with_suffix(".txt"))) for jpg in sorted(folder.glob("*.jpg"))
            if jpg.with_suffix(".txt").exists()]
