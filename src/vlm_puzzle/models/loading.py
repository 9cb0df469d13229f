"""Loading a Qwen-VL checkpoint for :class:`~vlm_puzzle.models.qwen.QwenVL`: device and dtype defaults,
config check before any weights, the fast or plain weight load and the prefetch that overlaps it.

Errors are :class:`vlm_puzzle.errors.ModelError` (``model_not_found``, ``model_wrong_architecture``,
``model_bad_request``); the caller turns out-of-memory and attention failures into its own.
"""
from __future__ import annotations

import json
import logging
import os
import struct
from pathlib import Path

import torch

from vlm_puzzle.errors import ModelError

# model_type in config.json -> family name. Other types are refused before any weights load.
SUPPORTED_MODEL_TYPES = {
    "qwen2_vl": "Qwen2-VL",
    "qwen2_5_vl": "Qwen2.5-VL",
    "qwen3_vl": "Qwen3-VL",
    "qwen3_vl_moe": "Qwen3-VL-MoE",
}
LOAD_MODES = ("auto", "fast", "plain")
log = logging.getLogger(__name__)

HOW_TO_POINT = ("Download the weights once (e.g. `huggingface-cli download Qwen/Qwen2.5-VL-3B-Instruct "
                "--local-dir ~/models/Qwen2.5-VL-3B-Instruct`) and pass that folder with --model or the "
                "VLM_PUZZLE_MODEL environment variable; nothing is downloaded at run time.")


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> "torch.dtype":
    """bf16 on GPUs that support it (fp16 on older ones), float32 on CPU (bf16 matmuls
    on CPU are slow on most machines and fp16 is not supported everywhere)."""
    if str(device).startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def parse_dtype(dtype) -> "torch.dtype | None":
    if dtype is None or dtype == "auto" or isinstance(dtype, torch.dtype):
        return None if dtype == "auto" else dtype
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "half": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if str(dtype).lower() not in names:
        raise ModelError(f"unknown dtype {dtype!r}; use one of {sorted(names)}", code="model_bad_request")
    return names[str(dtype).lower()]


def free_cuda() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_config(auto_config, name: str, local_files_only: bool):
    """Read config.json first: a wrong or missing checkpoint fails before any weights load."""
    path = Path(name).expanduser()
    looks_local = path.is_absolute() or name.startswith((".", "~")) or path.exists()
    if looks_local and not path.exists():
        raise ModelError(f"no model weights at {name}: the path does not exist. " + HOW_TO_POINT,
                         code="model_not_found")
    if path.is_dir() and not (path / "config.json").is_file():
        raise ModelError(f"{name} has no config.json: not a downloaded checkpoint folder. " + HOW_TO_POINT,
                         code="model_not_found")
    try:
        config = auto_config.from_pretrained(str(path) if path.exists() else name,
                                             local_files_only=local_files_only)
    except (OSError, ValueError) as exc:
        if "model type" in str(exc) or "model_type" in str(exc):
            raise ModelError(f"{name}: config.json names an architecture this transformers does not know "
                             f"({str(exc).splitlines()[0]}); a Qwen2-VL, Qwen2.5-VL or Qwen3-VL checkpoint "
                             "is needed", code="model_wrong_architecture") from exc
        raise ModelError(f"no model weights for {name!r} in this folder or the local Hugging Face cache "
                         f"(offline, local_files_only={local_files_only}). " + HOW_TO_POINT,
                         code="model_not_found") from exc
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        archs = ", ".join(getattr(config, "architectures", None) or []) or "unknown"
        raise ModelError(f"{name} is a {model_type!r} checkpoint ({archs}), not a Qwen-VL model; "
                         f"supported: {', '.join(SUPPORTED_MODEL_TYPES.values())}",
                         code="model_wrong_architecture")
    return config


def import_transformers(name: str):
    """transformers' ``AutoConfig``, ``AutoModelForImageTextToText``, ``AutoProcessor``, with the auto classes
    and the modeling and processing code of the type config.json names imported through
    :mod:`~vlm_puzzle.models.lean_import` (without the tensor-parallel, FSDP, dynamo, flex-attention, scipy
    and accelerate modules they only bind names from at import time); $VLM_PUZZLE_LEAN_IMPORT=0 imports them
    the ordinary way."""
    if os.environ.get("VLM_PUZZLE_LEAN_IMPORT", "1").lower() not in ("0", "off", "no"):
        from vlm_puzzle.models import lean_import

        model_type = _model_type(Path(name).expanduser())
        lean_import.import_lean(*lean_import.model_modules(
            model_type if model_type in SUPPORTED_MODEL_TYPES else None))
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    return AutoConfig, AutoModelForImageTextToText, AutoProcessor


def maybe_prefetch(name: str, device: str, load: str):
    """A ``fast_load.Prefetch`` (background read onto the GPU, started before transformers is imported so that
    the read and the CUDA start overlap the imports, the processor and the model's construction; the model
    then adopts the read tensors, no second copy) where the fast load will run on CUDA, config.json names a
    supported Qwen-VL type and the GPU has room for the weights; $VLM_PUZZLE_LOAD_PREFETCH=0/1 turns it
    off/on regardless."""
    env = os.environ.get("VLM_PUZZLE_LOAD_PREFETCH", "auto").lower()
    if load == "plain" or not device.startswith("cuda") or env in ("0", "off", "no"):
        return None
    from vlm_puzzle.models import fast_load

    path = Path(name).expanduser()
    files = fast_load.shard_files(path) if path.is_dir() else []
    if not files or _model_type(path) not in SUPPORTED_MODEL_TYPES:
        return None  # load_config reports what is wrong
    if env == "auto":
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        if free < sum(f.stat().st_size for f in files) + (2 << 30):
            return None
    return fast_load.Prefetch(path, device)


def _model_type(path: Path) -> str | None:
    try:
        return json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def load_weights(auto_model, name: str, impl: str, device: str, dtype, local_files_only: bool, load: str,
                  prefetch=None):
    """(model, "fast" | "plain", why): ``fast_load.load_fast`` where asked for (or ``auto`` on CUDA) and
    the checkpoint is a local safetensors folder that maps one to one, else ``from_pretrained``."""
    if load == "plain":
        return load_model(auto_model, name, impl, device, dtype, local_files_only), "plain", "load='plain' asked for"
    if load == "auto" and not device.startswith("cuda"):
        # On CPU from_pretrained maps the file and reads pages lazily; the fast path has to copy every byte
        # into fresh memory (3B on a 2-core VM: 29 s against 2.3 s).
        return (load_model(auto_model, name, impl, device, dtype, local_files_only), "plain",
                f"auto: from_pretrained on {device} (memory-mapped)")
    from vlm_puzzle.models import fast_load

    path = Path(name).expanduser()
    if not (path.is_dir() and fast_load.shard_files(path)):
        why = "not a local folder of safetensors files"
    else:
        try:
            model, why = fast_load.load_fast(path, device=device, dtype=dtype, attn_implementation=impl,
                                             prefetched=prefetch)
        except (OSError, KeyError, struct.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
            # An unreadable checkpoint: from_pretrained reports it its own way. Attention errors
            # (ImportError/ValueError from the model's construction) go to the caller's fallback loop.
            model, why = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        if model is not None:
            return model, "fast", f"load={load!r}: safetensors streamed into the model (fast_load)"
    log.info("fast load of %s not possible (%s); using from_pretrained", name, why)
    return (load_model(auto_model, name, impl, device, dtype, local_files_only), "plain",
            f"fast load not possible ({why}); from_pretrained")


def load_model(auto_model, name: str, impl: str, device: str, dtype, local_files_only: bool):
    kwargs = dict(dtype=dtype, attn_implementation=impl, local_files_only=local_files_only)
    if device != "cpu":
        kwargs["device_map"] = {"": device}  # load straight onto the device
    try:
        return auto_model.from_pretrained(name, **kwargs)
    except OSError as exc:
        raise ModelError(f"{name}: the weights could not be read ({str(exc).splitlines()[0]}). " + HOW_TO_POINT,
                         code="model_not_found") from exc
