"""Reliability of a confidence: answers binned by it against how many were right.

Rows are benchmark outcomes (``experiments/eval_external.py``): ``status``, ``solved`` (solved
right, or None where only the reading is judged), ``read`` (read entirely right) and the
confidences. Right: solved right, else read entirely right.
"""
from __future__ import annotations

from typing import Iterable, Mapping

BINS = (0.0, 0.5, 0.9, 0.99, 1.0001)


def right(row: Mapping) -> bool:
    """Whether an answered row is right: solved right (or read entirely right where not judged)."""
    return bool(row["read"] if row["solved"] is None else row["solved"])


def answers(rows: Mapping[str, list] | Iterable[Mapping]) -> list:
    """The rows with an answer (status solved), from a {category: rows} dict or a flat list."""
    flat = [r for cat in rows.values() for r in cat] if isinstance(rows, Mapping) else list(rows)
    return [r for r in flat if r["status"] == "solved"]


def reliability(rows, keys=("confidence", "rule_confidence")) -> dict[str, list]:
    """Answers binned by each of ``keys``: per bin [low, high, answers, right]."""
    out = {}
    for key in keys:
        table = [[lo, hi, 0, 0] for lo, hi in zip(BINS, BINS[1:])]
        for row in answers(rows):
            p = row[key] or 0.0
            b = next(b for b in table if b[0] <= p < b[1])
            b[2] += 1
            b[3] += int(right(row))
        out[key] = table
    return out


def format_reliability(table: dict[str, list]) -> list[str]:
    """One line per confidence: ``[lo,hi) right/answers`` per bin."""
    return [f"answers right by {key}: " + "  ".join(
        f"[{lo:.2f},{min(hi, 1.0):.2f}{']' if hi > 1 else ')'} {ok}/{n}" for lo, hi, n, ok in bins)
        for key, bins in table.items()]


def print_reliability(table: dict[str, list]) -> None:
    print("\n".join(format_reliability(table)))


__all__ = ["BINS", "right", "answers", "reliability", "format_reliability", "print_reliability"]
