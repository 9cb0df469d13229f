"""``confidence`` as the calibrated probability that an answer is right (issue 13 item 5)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vlm_puzzle.check.confidence import CALIBRATION_PATH, FEATURES, Calibration, load_calibration, probability, signals
from vlm_puzzle.findings import problem, uncertain


def test_shipped_table_loads_and_maps_into_0_1():
    cal = load_calibration()
    assert set(cal.features) <= set(FEATURES)
    assert 0.0 <= min(cal.iso_y) <= max(cal.iso_y) <= 1.0
    assert Calibration.from_dict(json.loads(CALIBRATION_PATH.read_text())).to_dict()["features"] == list(cal.features)


def test_bad_tables_are_refused(tmp_path):
    d = load_calibration().to_dict()
    for bad in ({**d, "weights": d["weights"] + [1.0]}, {**d, "iso_x": [0.0, 1.0], "iso_y": [0.9, 0.1]},
                {**d, "features": ["nope"] * len(d["features"])}):
        with pytest.raises(ValueError):
            Calibration.from_dict(bad)
    (tmp_path / "c.json").write_text("{")
    with pytest.raises(ValueError):
        load_calibration(tmp_path / "c.json")


def test_signals_name_every_feature_and_count_findings():
    cells = np.full((4, 4), 0.999)
    cells[1, 2] = 0.4
    sig = signals(cells, [0.9, 0.6], 0.85, [uncertain("two_readings", "x"), uncertain("not_unique", "y"),
                                            uncertain("clue_repaired", "z"), problem("givens_no_solution", "w")],
                  repairs=1, unique=False)
    assert set(sig) == set(FEATURES)
    assert sig["read_logit"] == pytest.approx(np.log(0.4 / 0.6))
    assert sig["clue_logit"] == pytest.approx(np.log(0.6 / 0.4))
    assert (sig["uncertain"], sig["problems"], sig["repairs"], sig["not_unique"]) == (1.0, 1.0, 2.0, 1.0)
    assert signals(None, [], None, [], 0, True)["not_unique"] == 0.0


def test_probability_follows_the_score_monotonically():
    cal = Calibration(features=("read_logit",), mean=(0.0,), scale=(1.0,), weights=(1.0,), bias=0.0,
                      iso_x=(0.2, 0.8), iso_y=(0.1, 0.95))
    ps = [probability({"read_logit": v}, cal) for v in (-5, -1, 0, 1, 5)]
    assert ps == sorted(ps) and ps[0] == pytest.approx(0.1) and ps[-1] == pytest.approx(0.95)


def test_a_doubtful_answer_is_less_confident_than_a_sure_one():
    """The shipped table on two readings of one puzzle: the same signals but for a weak cell, a
    repair and a finding of doubt."""
    cal = load_calibration()
    sure = signals(np.full((9, 9), 0.9999), [], 0.85, [], 0, True)
    doubtful = signals(np.where(np.eye(9, dtype=bool), 0.35, 0.9999), [], 0.3,
                       [uncertain("unlikely_repair", "x"), uncertain("two_readings", "y")], 2, True)
    assert probability(doubtful, cal) < probability(sure, cal)
    assert probability(doubtful, cal) < 0.9


def test_ceilings_whatever_the_table():
    from vlm_puzzle.check.confidence import DOUBTED_CAP, NOT_UNIQUE_CAP
    cal = Calibration(features=("read_logit",), mean=(0.0,), scale=(1.0,), weights=(1.0,), bias=0.0,
                      iso_x=(0.0, 1.0), iso_y=(0.0, 1.0))
    sure = signals(np.full((9, 9), 0.9999), [], 1.0, [], 0, True)
    assert probability(sure, cal) > 0.99
    assert probability({**sure, "not_unique": 1.0}, cal) == NOT_UNIQUE_CAP
    assert probability({**sure, "rule_confidence": 0.3}, cal) == DOUBTED_CAP
    from vlm_puzzle.check.confidence import MANY_REPAIRS, MANY_REPAIRS_CAP
    assert probability({**sure, "repairs": float(MANY_REPAIRS + 1)}, cal) == MANY_REPAIRS_CAP
    assert probability({**sure, "repairs": float(MANY_REPAIRS)}, cal) > 0.99


def test_ambiguous_and_clue_repaired_answers_are_capped():
    from vlm_puzzle.check.confidence import AMBIGUOUS_CAP, CLUE_REPAIRED_CAP
    from vlm_puzzle.check.judge import CLUE_AMBIGUOUS
    cal = Calibration(features=("read_logit",), mean=(0.0,), scale=(1.0,), weights=(1.0,), bias=0.0,
                      iso_x=(0.0, 1.0), iso_y=(0.0, 1.0))
    sure = signals(np.full((4, 4), 0.9999), [0.99], 1.0, [], 0, True)
    repaired = signals(np.full((4, 4), 0.9999), [0.99], 1.0, [uncertain("clue_repaired", "x")], 0, True)
    both = signals(np.full((4, 4), 0.9999), [0.99], 1.0,
                   [uncertain("clue_repaired", "x"), uncertain(CLUE_AMBIGUOUS, "y")], 0, True)
    assert probability(sure, cal) > 0.99
    assert (repaired["clue_repairs"], both["ambiguous"]) == (1.0, 1.0)
    assert probability(repaired, cal) == CLUE_REPAIRED_CAP
    assert probability(both, cal) == AMBIGUOUS_CAP
