"""A batch's progress bar and its summary: counts, error codes, median stage times."""
from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from typing import Iterable

from vlm_puzzle.result import STAGES


@dataclass
class BatchSummary:
    total: int = 0
    skipped: int = 0
    solved: int = 0
    unsolved: int = 0
    errors: int = 0
    error_codes: dict = field(default_factory=dict)
    median_s: dict = field(default_factory=dict)
    wall_s: float = 0.0
    out: str = ""
    not_images: dict = field(default_factory=dict)  # extension -> files skipped in folders

    @property
    def processed(self) -> int:
        return self.solved + self.unsolved + self.errors

    def to_dict(self) -> dict:
        return {"total": self.total, "skipped": self.skipped, "processed": self.processed,
                "solved": self.solved, "unsolved": self.unsolved, "errors": self.errors,
                "error_codes": dict(sorted(self.error_codes.items())),
                "median_s": self.median_s, "wall_s": round(self.wall_s, 3),
                "images_per_s": round(self.processed / self.wall_s, 3) if self.wall_s else None,
                "out": self.out, "not_images": dict(sorted(self.not_images.items()))}


def progress_bar(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def summarize(summary: BatchSummary, results: Iterable[dict]) -> None:
    per_stage: dict[str, list[float]] = {k: [] for k in STAGES}
    for d in results:
        st = d.get("status")
        if st == "solved":
            summary.solved += 1
        elif st == "unsolved":
            summary.unsolved += 1
        else:
            summary.errors += 1
        if d.get("error"):
            code = d["error"]["code"]
            summary.error_codes[code] = summary.error_codes.get(code, 0) + 1
        if st != "error" or (d.get("timings_s") or {}).get("extract"):
            for k in STAGES:
                per_stage[k].append(float((d.get("timings_s") or {}).get(k, 0.0)))
    summary.median_s = {k: round(statistics.median(v), 4) for k, v in per_stage.items() if v}
