"""The runner of the small perception networks (digits, edges, clue text, clue characters).

One registry of backends, the first available one running every network: onnxruntime
(optional; on one thread it runs these small CNNs in about half of OpenCV's time, with
logits equal to float rounding, under 2e-5) when installed, else OpenCV's dnn module (always
there). ``VLM_PUZZLE_NET_RUNNER`` names the backend to use instead (``onnxruntime`` or
``opencv``). Each network is loaded once by its owner (:class:`~vlm_puzzle.vision.GridReader`)
through :func:`load_net` and called with a float32 batch: ``net(blob) -> first output``.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vlm_puzzle.errors import ModelError

ENV = "VLM_PUZZLE_NET_RUNNER"


@dataclass(frozen=True)
class Backend:
    """A way to run an ONNX file: ``available()`` probes for it without importing it;
    ``open(path, classic)`` returns a function of a float32 batch giving the first output.
    ``thread_safe``: one loaded network may run calls from several threads at once."""

    name: str
    available: Callable[[], bool]
    open: Callable[[Path, bool], Callable[[np.ndarray], np.ndarray]]
    thread_safe: bool


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _open_onnxruntime(path: Path, classic: bool) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort
    options = ort.SessionOptions()
    # One thread, as OpenCV is set to: these networks take tens of patches per call, and
    # a batch of pictures is spread over cores by the caller, not inside one forward pass.
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda blob: session.run(None, {name: blob})[0]


def _open_opencv(path: Path, classic: bool) -> Callable[[np.ndarray], np.ndarray]:
    import cv2
    if classic and hasattr(cv2.dnn, "ENGINE_CLASSIC"):
        net = cv2.dnn.readNetFromONNX(str(path), cv2.dnn.ENGINE_CLASSIC)
    else:
        net = cv2.dnn.readNetFromONNX(str(path))

    def run(blob: np.ndarray) -> np.ndarray:
        net.setInput(blob)
        return net.forward()
    return run


BACKENDS = {
    "onnxruntime": Backend("onnxruntime", lambda: _has("onnxruntime"), _open_onnxruntime, thread_safe=True),
    "opencv": Backend("opencv", lambda: True, _open_opencv, thread_safe=False),
}


def backend() -> Backend:
    """The backend networks are loaded with: ``$VLM_PUZZLE_NET_RUNNER`` when set (a clear
    error when it names an unknown or missing one), else the first available."""
    forced = os.environ.get(ENV, "").strip().lower()
    if forced:
        if forced not in BACKENDS:
            raise ModelError(f"{ENV}={forced!r}: not one of {', '.join(BACKENDS)}", code="model_unavailable")
        if not BACKENDS[forced].available():
            raise ModelError(f"{ENV}={forced!r}: {forced} is not installed", code="model_unavailable")
        return BACKENDS[forced]
    return next(b for b in BACKENDS.values() if b.available())


@dataclass
class Net:
    """A loaded network: ``net(blob)`` runs a float32 batch and returns the first output."""

    path: Path
    backend: str
    run: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    lock: threading.Lock | nullcontext = field(repr=False)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        blob = np.ascontiguousarray(blob, dtype=np.float32)
        with self.lock:   # an OpenCV dnn network runs one forward pass at a time
            return self.run(blob)


def _open(path: Path, chosen: Backend, classic: bool) -> Callable[[np.ndarray], np.ndarray]:
    return chosen.open(path, classic)


def load_net(path: str | Path, what: str = "network", *, classic: bool = False) -> Net:
    """The ONNX network at ``path``, loaded by :func:`backend`. ``what`` names it in errors;
    ``classic``: OpenCV 5's classic dnn engine (faster on some networks; the OpenCV backend
    only). Raises ModelError ``weights_missing`` (no file) or ``weights_invalid``."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{what} weights not found: {path}", code="weights_missing")
    chosen = backend()
    try:
        run = _open(path, chosen, classic)
    except Exception as exc:   # each backend raises its own error types on a bad file
        raise ModelError(f"cannot load {what} {path.name}: {exc}", code="weights_invalid") from None
    return Net(path, chosen.name, run, nullcontext() if chosen.thread_safe else threading.Lock())


__all__ = ["BACKENDS", "Backend", "ENV", "Net", "backend", "load_net"]
