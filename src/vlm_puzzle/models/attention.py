"""Which attention kernel to load a model with, and why.

Order of preference: ``flash_attention_2`` (only when the ``flash_attn`` package
imports and the GPU can run it: Ampere or newer, half precision), then PyTorch's
``sdpa``, then ``eager``. A load that fails with one falls back to the next; the
wrapper records the choice and the reason.
"""
from __future__ import annotations

import importlib

IMPLEMENTATIONS = ("flash_attention_2", "sdpa", "eager")


def flash_attn_status(device: str, dtype) -> tuple[bool, str]:
    """Whether flash_attention_2 can be used on ``device`` with ``dtype``, and why (not)."""
    import torch

    if not str(device).startswith("cuda"):
        return False, f"flash_attention_2 needs a CUDA GPU (device is {device})"
    if dtype not in (torch.float16, torch.bfloat16):
        return False, f"flash_attention_2 needs float16/bfloat16 (dtype is {dtype})"
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    if major < 8:
        return False, f"flash_attention_2 needs compute capability >= 8.0 (GPU has {major}.{minor})"
    try:
        importlib.import_module("flash_attn")
    except Exception as exc:  # missing, or built against another torch/CUDA
        return False, f"flash_attn does not import ({type(exc).__name__}: {str(exc)[:120]})"
    return True, "flash_attn imports and the GPU supports it"


def attention_candidates(requested: str | None, device: str, dtype) -> list[tuple[str, str]]:
    """The implementations to try, in order, each with the reason it is tried.

    ``requested`` (one of IMPLEMENTATIONS) goes first when given, followed by the
    ones after it in the preference order; ``None`` or ``"auto"`` picks the best
    available.
    """
    if requested not in (None, "auto") and requested not in IMPLEMENTATIONS:
        raise ValueError(f"unknown attention implementation {requested!r}; "
                         f"expected one of {IMPLEMENTATIONS} or 'auto'")
    if requested not in (None, "auto"):
        start = IMPLEMENTATIONS.index(requested)
        return [(requested, "requested")] + [
            (impl, "fallback") for impl in IMPLEMENTATIONS[start + 1:]]
    ok, why = flash_attn_status(device, dtype)
    if ok:
        return [("flash_attention_2", why), ("sdpa", "fallback"), ("eager", "fallback")]
    return [("sdpa", f"{why}; using PyTorch sdpa"), ("eager", "fallback")]
