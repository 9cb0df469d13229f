"""The Qwen-VL model wrapper. Importing this package is cheap: torch and
transformers load only when :class:`QwenVL` (or ``vlm_puzzle.models.qwen``) is used.

    from vlm_puzzle.models import QwenVL
    vlm = QwenVL.from_pretrained("/models/Qwen2.5-VL-3B-Instruct")
"""
from __future__ import annotations

from vlm_puzzle.models.types import GenerateTimings, Generation

__all__ = ["QwenVL", "Generation", "GenerateTimings", "SUPPORTED_MODEL_TYPES"]


def __getattr__(name: str):
    # Lazy: `from vlm_puzzle.models import QwenVL` is the first point torch is imported.
    if name in ("QwenVL", "DEFAULT_MIN_PIXELS", "DEFAULT_MAX_PIXELS"):
        from vlm_puzzle.models import qwen

        return getattr(qwen, name)
    if name == "SUPPORTED_MODEL_TYPES":
        from vlm_puzzle.models import loading

        return loading.SUPPORTED_MODEL_TYPES
    raise AttributeError(f"module 'vlm_puzzle.models' has no attribute {name!r}")
