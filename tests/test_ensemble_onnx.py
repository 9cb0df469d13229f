"""training/ensemble_onnx.py: the joined network gives the members' mean probabilities through the reader."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))
import ensemble_onnx  # noqa: E402

from vlm_puzzle.vision.classifier import load_classifier  # noqa: E402

MEMBERS = ROOT / "experiments" / "results" / "readers_13c"


@pytest.mark.parametrize("mean", ["arithmetic", "geometric"])
def test_ensemble_gives_mean_probabilities(tmp_path, mean):
    a, b = MEMBERS / "digits_prev.onnx", MEMBERS / "digits.onnx"
    out = tmp_path / "joined.onnx"
    ensemble_onnx.main([str(out), str(a), str(b), "--mean", mean])
    assert json.loads(out.with_suffix(".json").read_text())["classes"][0] == ""
    patches = (np.random.default_rng(0).random((9, 32, 32)) * 255).astype(np.uint8)
    pa, pb = (load_classifier(p).predict(patches).astype(np.float64) for p in (a, b))
    want = (pa + pb) / 2 if mean == "arithmetic" else np.sqrt(pa * pb)
    want /= want.sum(axis=1, keepdims=True)
    got = load_classifier(out).predict(patches)
    assert np.abs(got - want).max() < 1e-5
    assert np.abs(pa - pb).max() > 0.01  # the members differ, so the check means something


def test_shipped_digits_is_the_two_member_mean_at_its_temperature():
    shipped = ROOT / "src" / "vlm_puzzle" / "vision" / "weights" / "digits.onnx"
    card = json.loads(shipped.with_suffix(".json").read_text())
    assert len(card["ensemble"]) == 2
    patches = (np.random.default_rng(1).random((5, 32, 32)) * 255).astype(np.uint8)
    members = ROOT / "experiments" / "results" / "digits_s5"
    pa, pb = (load_classifier(members / n).predict(patches).astype(np.float64) for n in ("digits_a.onnx", "digits_b.onnx"))
    want = ((pa + pb) / 2) ** (1 / card["temperature"])
    want /= want.sum(axis=1, keepdims=True)
    assert np.abs(load_classifier(shipped).predict(patches) - want).max() < 1e-5


def test_members_must_share_classes(tmp_path):
    a = MEMBERS / "digits_prev.onnx"
    b = tmp_path / "other.onnx"
    b.write_bytes(a.read_bytes())
    card = json.loads(a.with_suffix(".json").read_text())
    card["classes"] = card["classes"][::-1]
    b.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(SystemExit):
        ensemble_onnx.main([str(tmp_path / "x.onnx"), str(a), str(b)])


def test_temperature_divides_the_joint_log_probabilities(tmp_path):
    a, b = MEMBERS / "digits_prev.onnx", MEMBERS / "digits.onnx"
    plain, warm = tmp_path / "plain.onnx", tmp_path / "warm.onnx"
    ensemble_onnx.main([str(plain), str(a), str(b)])
    ensemble_onnx.main([str(warm), str(a), str(b), "--temperature", "2.0"])
    assert json.loads(warm.with_suffix(".json").read_text())["temperature"] == 2.0
    patches = (np.random.default_rng(2).random((9, 32, 32)) * 255).astype(np.uint8)
    p = load_classifier(plain).predict(patches).astype(np.float64)
    want = np.sqrt(p) / np.sqrt(p).sum(axis=1, keepdims=True)
    got = load_classifier(warm).predict(patches)
    assert np.abs(got - want).max() < 1e-5
    assert (got.argmax(1) == p.argmax(1)).all() and got.max() < p.max()
