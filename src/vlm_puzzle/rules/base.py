"""What rule inference produces, whichever backend (geometry or Qwen-VL) made it."""
from __future__ import annotations

from dataclasses import dataclass, field

from vlm_puzzle.findings import Finding


@dataclass(frozen=True)
class RuleHints:
    """The rules of a puzzle as a backend understood them.

    ``kind`` is one of ``vlm_puzzle.spec.KINDS``; ``box`` the (rows, cols) box shape or
    ``None``; ``box_measured`` True when the box shape was seen in the picture
    (thick lines forming the boxes) rather than assumed from the grid size (only a
    seen box can contradict the VLM); ``cages`` whether the picture shows cages and
    ``cage_op`` what their clues mean (``"sum"`` for killer, ``"arith"`` for KenKen's + - x /).
    ``evidence`` holds :class:`~vlm_puzzle.findings.Finding` values (code and short
    human sentence: "9 regions of 9 cells not aligned to 3x3 boxes: jigsaw");
    ``confidence`` is in 0..1; ``source`` is "geometry" or "qwen". ``problems``, the
    findings of level "problem", name what makes the rules as read fail their own
    checks (an unreadable clue, cage sums that do not total the grid, givens with no
    solution under them): any means the rules are not to be trusted (the pipeline
    then prefers a unique plain-sudoku reading of the digits).
    Fields a backend could not decide are ``None``. ``disagreements`` (merged hints only) names
    the rule fields that the VLM and geometry both decided, differently (see ``rules.merge``).
    """

    kind: str | None
    size: int | None = None
    box: tuple[int, int] | None = None
    box_measured: bool = False
    diagonals: bool | None = None
    windows: bool | None = None
    cages: bool | None = None
    cage_op: str | None = None
    rule_text: str | None = None
    confidence: float = 0.0
    evidence: tuple[Finding, ...] = field(default_factory=tuple)
    source: str = "geometry"
    disagreements: tuple[str, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> tuple[Finding, ...]:
        """The findings that make the rules as read fail their own checks."""
        return tuple(f for f in self.evidence if f.level == "problem")

    @property
    def has_problems(self) -> bool:
        """Whether the rules as read failed their own checks (see ``problems``)."""
        return bool(self.problems)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "size": self.size, "box": list(self.box) if self.box else None,
                "box_measured": self.box_measured,
                "diagonals": self.diagonals, "windows": self.windows, "cages": self.cages,
                "cage_op": self.cage_op, "rule_text": self.rule_text, "confidence": self.confidence,
                "evidence": [str(e) for e in self.evidence], "source": self.source,
                "problems": [p.text for p in self.problems],
                "disagreements": list(self.disagreements)}
