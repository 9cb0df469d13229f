"""training/calibrate_digits.py: the fitted temperature undoes a known over- or under-confidence."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
import calibrate_digits as cd  # noqa: E402


def _readings(t_true: float, seed: int = 0, m: int = 4000, k: int = 25):
    """Probabilities calibrated at temperature 1, then distorted by 1 / t_true, and labels drawn from them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (m, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p])
    return cd.scaled(p, 1 / t_true), y


@pytest.mark.parametrize("t_true", [0.6, 1.6])
def test_fit_recovers_the_distortion(t_true):
    probs, y = _readings(t_true)
    t = cd.fit(probs, y)
    assert abs(t - t_true) / t_true < 0.15
    before, after = cd.report(probs, y), cd.report(cd.scaled(probs, t), y)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]
    assert after["acc"] == before["acc"]   # a temperature never changes the argmax


def test_scaled_rows_are_distributions():
    probs, _ = _readings(1.0, m=50)
    for t in (0.5, 2.0):
        s = cd.scaled(probs, t)
        assert np.allclose(s.sum(1), 1.0) and (s.argmax(1) == probs.argmax(1)).all()
