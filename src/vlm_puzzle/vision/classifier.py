"""A small ONNX image classifier run by :mod:`~vlm_puzzle.vision.nets` (no torch).

Used for the grid digits (``weights/digits.onnx``) and, by the variants
reader, for clue characters. Input: a batch of ``(M, S, S)`` uint8 patches;
output: ``(M, K)`` float32 class probabilities. Its owner loads it once and keeps it
(:class:`~vlm_puzzle.vision.GridReader`); :meth:`Classifier.predict` runs one batched forward pass.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlm_puzzle.errors import ModelError
from vlm_puzzle.vision.nets import Net, load_net

WEIGHTS_DIR = Path(__file__).parent / "weights"
DIGITS_MODEL = WEIGHTS_DIR / "digits.onnx"


@dataclass
class Classifier:
    """An ONNX classifier: patches in, softmax probabilities out.

    ``labels``: the class names, in output order (read from the JSON card next
    to the ``.onnx`` file when it exists). ``size``: the patch side it expects.
    """

    path: Path
    net: Net
    labels: tuple[str, ...]
    size: int
    card: dict

    def predict(self, patches: np.ndarray) -> np.ndarray:
        """(M, S, S) uint8 patches -> (M, K) float32 probabilities (softmax)."""
        if len(patches) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if patches.shape[1:] != (self.size, self.size):
            raise ValueError(f"classifier {self.path.name} expects {self.size}x{self.size} patches, "
                             f"got {patches.shape[1:]}")
        blob = patches.astype(np.float32)[:, None, :, :] / 255.0
        logits = self.net(blob).reshape(len(patches), -1).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def load_classifier(path: str | Path = DIGITS_MODEL) -> Classifier:
    """Load the ONNX network at ``path`` and its JSON card (``.json`` beside it)."""
    path = Path(path)
    net = load_net(path, "classifier")
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    labels = tuple(card.get("classes", ()))
    size = int(card.get("input_size", 32))
    if not labels:
        raise ModelError(f"{card_path.name} is missing or names no classes", code="weights_invalid")
    return Classifier(path, net, labels, size, card)
