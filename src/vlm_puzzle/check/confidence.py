"""An answer's ``confidence``: the probability that it is right, calibrated on development data.

:func:`signals` gathers the pipeline's raw evidence about one answer (how sure the reader was
of its least sure cell and of the whole grid, of its least sure cage clue, rule inference's own
score, repairs, findings, whether the answer is the puzzle's only one); :func:`probability`
maps them to a probability with a :class:`Calibration`: a logistic model on those signals
followed by an isotonic (monotone, piecewise-linear) map of its output to the accuracy measured
on development data (``experiments/calibrate_confidence.py`` fits both and writes
``calibration.json`` beside this module). Numpy only; the table is loaded by
:func:`load_calibration` and held by its user (:class:`~vlm_puzzle.pipeline.PuzzleSolver`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from vlm_puzzle.check.givens import MAX_CHANGES
from vlm_puzzle.check.judge import CLUE_AMBIGUOUS, NOT_UNIQUE, UNIQUENESS_UNKNOWN
from vlm_puzzle.findings import Finding
from vlm_puzzle.rules.geometry import DOUBTFUL

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
# Logits are clipped here: beyond it a reader's probability is rounding, not evidence.
MAX_LOGIT = 12.0
# Findings counted apart (their own signals), not among the uncertain ones.
UNIQUENESS_CODES = (NOT_UNIQUE, UNIQUENESS_UNKNOWN)
REPAIR_CODES = ("clue_repaired",)
# Ceilings whatever the fit says: an answer not proven the only one (the puzzle's own, or a
# missed given) and one whose rules or reading the checks doubted (rule confidence at most
# ``DOUBTFUL``). Development data holds too few wrong answers of these kinds to
# calibrate them, and a wrong answer must not look sure.
NOT_UNIQUE_CAP = 0.5
DOUBTED_CAP = 0.85
# An answer whose reading needed more repairs than the change search makes (the likeliest
# solution's, on a big handwritten board) is right about 9 times in 10 (development boards: 25
# of 28), whatever else the signals say; the fit saw too few of them to tell.
MANY_REPAIRS, MANY_REPAIRS_CAP = MAX_CHANGES, 0.85
# An answer whose repaired clues have a rival reading about as likely, a puzzle of one solution
# with another answer (or a likelier one of several solutions): a coin toss. (Doubtful givens read
# two ways, GIVENS_AMBIGUOUS, are often right: the rule confidence caps them, at DOUBTED_CAP.)
AMBIGUITY_CODES = (CLUE_AMBIGUOUS,)
AMBIGUOUS_CAP = 0.5
# An answer whose cage clues the solver repaired is right about 9 times in 10 (handwritten KenKen
# development boards, seeds 9,703,000-9,709,014: 45 of 50; 9 of 10 where nothing else doubted it):
# the repaired clue may be the wrong one of two misread (a sure 4 that was a 1 left as read).
CLUE_REPAIRED_CAP = 0.85
FEATURES = ("read_logit", "read_nll", "clue_logit", "rule_confidence", "repairs", "uncertain", "problems",
            "not_unique", "ambiguous", "clue_repairs")


@dataclass(frozen=True)
class Calibration:
    """A fitted map from :func:`signals` to a probability: ``sigmoid(weights . (x - mean) / scale
    + bias)`` then ``interp(iso_x, iso_y)`` (non-decreasing)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    iso_x: tuple[float, ...]
    iso_y: tuple[float, ...]
    fitted_on: Mapping = None

    def __post_init__(self) -> None:
        k = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.weights) == k) or len(self.iso_x) != len(self.iso_y) \
                or not self.iso_x or np.any(np.diff(self.iso_x) < 0) or np.any(np.diff(self.iso_y) < 0):
            raise ValueError("a calibration needs one mean/scale/weight per feature and a non-decreasing map")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown calibration feature(s): {', '.join(sorted(unknown))}")

    @classmethod
    def from_dict(cls, d: Mapping) -> "Calibration":
        return cls(features=tuple(d["features"]), mean=tuple(map(float, d["mean"])),
                   scale=tuple(map(float, d["scale"])), weights=tuple(map(float, d["weights"])),
                   bias=float(d["bias"]), iso_x=tuple(map(float, d["iso_x"])), iso_y=tuple(map(float, d["iso_y"])),
                   fitted_on=d.get("fitted_on"))

    def to_dict(self) -> dict:
        r = lambda xs: [round(float(x), 6) for x in xs]  # noqa: E731
        return {"features": list(self.features), "mean": r(self.mean), "scale": r(self.scale),
                "weights": r(self.weights), "bias": round(float(self.bias), 6), "iso_x": r(self.iso_x),
                "iso_y": r(self.iso_y), "fitted_on": self.fitted_on}

    def score(self, x: np.ndarray) -> np.ndarray:
        """The logistic model's probability for rows of features ``x`` (M, K)."""
        z = (np.asarray(x, float) - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def probability(self, x: np.ndarray) -> np.ndarray:
        return np.interp(self.score(x), self.iso_x, self.iso_y)


def load_calibration(path: str | Path = CALIBRATION_PATH) -> Calibration:
    """The calibration table at ``path`` (the shipped one by default). Raises OSError / ValueError."""
    with open(path, encoding="utf-8") as fh:
        return Calibration.from_dict(json.load(fh))


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-12), 1 - 1e-12)
    return float(np.clip(np.log(p) - np.log1p(-p), -MAX_LOGIT, MAX_LOGIT))


def signals(cell_confidence: np.ndarray | None, clue_confidence: Iterable[float], rule_confidence: float | None,
            findings: Iterable[Finding], repairs: int, unique: bool | None) -> dict[str, float]:
    """The raw evidence about one answer, by name (:data:`FEATURES`).

    ``cell_confidence``: (N, N) probability the reader gave each cell's value (the givens after
    repairs; empty cells too); ``clue_confidence``: each cage clue's; ``findings``: rule inference's
    and the solver's; ``repairs``: givens the checking stage changed; ``unique``: the answer's (see
    :class:`~vlm_puzzle.result.SolveResult`)."""
    cells = np.asarray(cell_confidence, float) if cell_confidence is not None else np.ones((1, 1))
    cells = cells if cells.size else np.ones((1, 1))
    clues = [float(c) for c in clue_confidence]
    findings = list(findings)
    return {
        "read_logit": _logit(cells.min()),
        "read_nll": float(np.log1p(-np.log(np.clip(cells, 1e-12, 1.0)).sum())),
        "clue_logit": _logit(min(clues)) if clues else MAX_LOGIT,
        "rule_confidence": float(rule_confidence or 0.0),
        "repairs": float(repairs + sum(f.code in REPAIR_CODES for f in findings)),
        "uncertain": float(sum(f.level == "uncertain" and f.code not in UNIQUENESS_CODES + REPAIR_CODES
                               for f in findings)),
        "problems": float(sum(f.level == "problem" for f in findings)),
        "not_unique": float(unique is not True),
        "ambiguous": float(sum(f.code in AMBIGUITY_CODES for f in findings)),
        "clue_repairs": float(sum(f.code in REPAIR_CODES for f in findings)),
    }


def probability(sig: Mapping[str, float], calibration: Calibration) -> float:
    """The calibrated probability that the answer with these :func:`signals` is right (at most
    ``NOT_UNIQUE_CAP`` / ``DOUBTED_CAP`` / ``MANY_REPAIRS_CAP`` / ``CLUE_REPAIRED_CAP`` / ``AMBIGUOUS_CAP``
    where those apply)."""
    x = np.array([[float(sig[f]) for f in calibration.features]])
    p = float(calibration.probability(x)[0])
    if sig.get("not_unique", 0.0):
        p = min(p, NOT_UNIQUE_CAP)
    if sig.get("rule_confidence", 1.0) <= DOUBTFUL:
        p = min(p, DOUBTED_CAP)
    if sig.get("repairs", 0.0) > MANY_REPAIRS:
        p = min(p, MANY_REPAIRS_CAP)
    if sig.get("clue_repairs", 0.0):
        p = min(p, CLUE_REPAIRED_CAP)
    if sig.get("ambiguous", 0.0):
        p = min(p, AMBIGUOUS_CAP)
    return p


__all__ = ["Calibration", "CALIBRATION_PATH", "FEATURES", "load_calibration", "signals", "probability"]
