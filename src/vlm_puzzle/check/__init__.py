"""The checking stage: every solver-backed decision about a reading.

Between rule inference and solving (``vision -> rules -> check -> solve``):
perception (:mod:`vlm_puzzle.vision`) reads pixels into a
:class:`~vlm_puzzle.vision.state.GridState`, geometry (:mod:`vlm_puzzle.rules`)
says what the rules are, and this stage decides what to believe:

* :mod:`~vlm_puzzle.check.stage` - the solver's verdict on the givens, which way is
  up, the givens repair (:mod:`~vlm_puzzle.check.givens`) and the clue repair
  (:mod:`~vlm_puzzle.check.clues`), against the rules of
  :mod:`~vlm_puzzle.check.templates`;
* :mod:`~vlm_puzzle.check.judge` - the rules with their findings and confidence
  (repairs the reader doubted, two readings that both solve, ...);
* :mod:`~vlm_puzzle.check.policy` - the VLM merge and the plain-sudoku fallback.
"""
from vlm_puzzle.check.clues import repair_clues
from vlm_puzzle.check.givens import RepairResult, conflicts, repair_givens, verdict
from vlm_puzzle.check.judge import infer_rules
from vlm_puzzle.check.policy import FALLBACK_CONFIDENCE, conclude, no_rules_message
from vlm_puzzle.check.stage import read_checked, settle
from vlm_puzzle.check.templates import repair_template

__all__ = ["settle", "read_checked", "infer_rules", "conclude", "no_rules_message", "repair_givens",
           "repair_clues", "repair_template", "verdict", "conflicts", "RepairResult", "FALLBACK_CONFIDENCE"]
