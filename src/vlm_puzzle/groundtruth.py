"""Moved to :mod:`vlm_puzzle.eval.truth`; this name stays for code written before the move."""
from vlm_puzzle.eval.truth import Truth, load_truth, read_dat, read_json, truth_path  # noqa: F401
