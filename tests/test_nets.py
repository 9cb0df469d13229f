"""The runner of the small perception networks (vision.nets): every installed backend runs the
shipped networks to the same outputs, a forced backend is used or refused with a typed error,
and bad weight files fail as ModelError."""
from __future__ import annotations

import numpy as np
import pytest

from vlm_puzzle.errors import ModelError
from vlm_puzzle.vision import nets
from vlm_puzzle.vision.classifier import DIGITS_MODEL, load_classifier
from vlm_puzzle.vision.clues import WEIGHTS as CLUE_WEIGHTS
from vlm_puzzle.vision.edge_net import EDGE_MODEL

INSTALLED = [name for name, b in nets.BACKENDS.items() if b.available()]


@pytest.mark.parametrize("name", INSTALLED)
def test_forced_backend_is_used(monkeypatch, name):
    monkeypatch.setenv(nets.ENV, name)
    assert nets.backend().name == name
    assert load_classifier().net.backend == name


def test_unknown_or_missing_backend_is_a_model_error(monkeypatch):
    monkeypatch.setenv(nets.ENV, "no-such-runner")
    with pytest.raises(ModelError) as err:
        nets.load_net(DIGITS_MODEL)
    assert err.value.code == "model_unavailable"
    monkeypatch.setattr(nets, "BACKENDS", {**nets.BACKENDS, "gone": nets.Backend("gone", lambda: False, None, True)})
    monkeypatch.setenv(nets.ENV, "gone")
    with pytest.raises(ModelError) as err:
        nets.backend()
    assert err.value.code == "model_unavailable"


def test_default_is_the_first_available(monkeypatch):
    monkeypatch.delenv(nets.ENV, raising=False)
    assert nets.backend().name == INSTALLED[0]


@pytest.mark.parametrize("name", INSTALLED)
def test_bad_weights_are_typed_errors(monkeypatch, tmp_path, name):
    monkeypatch.setenv(nets.ENV, name)
    with pytest.raises(ModelError) as err:
        nets.load_net(tmp_path / "none.onnx")
    assert err.value.code == "weights_missing"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError) as err:
        nets.load_net(bad, "test network")
    assert err.value.code == "weights_invalid"


@pytest.mark.skipif(len(INSTALLED) < 2, reason="only one backend installed")
@pytest.mark.parametrize("path,shape", [(DIGITS_MODEL, (1, 32, 32)), (EDGE_MODEL, (1, 32, 32)),
                                        (CLUE_WEIGHTS, (1, 24, 56))])
def test_backends_agree(monkeypatch, path, shape):
    """Each shipped network gives the same outputs, to float rounding, under every backend."""
    blob = np.random.default_rng(0).random((7, *shape), dtype=np.float32)
    outs = []
    for name in INSTALLED:
        monkeypatch.setenv(nets.ENV, name)
        outs.append(nets.load_net(path)(blob))
    for out in outs[1:]:
        assert out.shape == outs[0].shape
        np.testing.assert_allclose(out, outs[0], atol=1e-4)
