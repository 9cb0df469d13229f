"""Findings: what a stage noticed about a reading, as typed values.

A :class:`Finding` has a ``level`` (``"info"``: how a decision was made;
``"uncertain"``: something that may be wrong; ``"problem"``: the rules or digits as
read fail a check), a stable ``code`` for programs and tests to filter on, and a
``text`` for people. ``str(finding)`` is the readable note (``"uncertain: ..."``,
``"problem: ..."``, or the bare text for ``info``), the form the result's ``notes``
list keeps. Imports nothing of the project: every stage may use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

LEVELS = ("info", "uncertain", "problem")


@dataclass(frozen=True)
class Finding:
    level: str
    code: str
    text: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"finding level must be one of {LEVELS}, not {self.level!r}")

    def __str__(self) -> str:
        return self.text if self.level == "info" else f"{self.level}: {self.text}"

    @property
    def is_note(self) -> bool:
        """Whether a reader of the result is told (uncertain or problem)."""
        return self.level != "info"

    def to_dict(self) -> dict:
        return {"level": self.level, "code": self.code, "text": self.text}


def info(code: str, text: str) -> Finding:
    return Finding("info", code, text)


def uncertain(code: str, text: str) -> Finding:
    return Finding("uncertain", code, text)


def problem(code: str, text: str) -> Finding:
    return Finding("problem", code, text)


def notes(findings: Iterable[Finding]) -> list[str]:
    """The readable notes of the findings a result reports (uncertain and problem)."""
    return [str(f) for f in findings if f.is_note]


def codes(findings: Iterable[Finding]) -> list[str]:
    return [f.code for f in findings]


__all__ = ["Finding", "LEVELS", "info", "uncertain", "problem", "notes", "codes"]
