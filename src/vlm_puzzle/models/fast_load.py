"""Read a local safetensors checkpoint straight into GPU memory with large sequential reads.

``from_pretrained(device_map="cuda")`` reads each tensor through a memory map (page faults of a few KB)
and copies it from pageable memory. Here each shard's data block is read in large chunks into two
pinned host buffers and copied to one GPU buffer while the next chunk is read; the tensors are views
of that buffer (H100, 7 GB 3B checkpoint in the page cache: 1.9 s, where from_pretrained takes 7.8-12 s).
Handing those tensors to ``from_pretrained(state_dict=...)`` gained nothing (11.4 s), so
:func:`from_pretrained_fast` builds the model on the device without weight init and copies them in
(same weights as ``from_pretrained``: tests/test_fast_decode.py; its GPU time is not measured yet).

    model = from_pretrained_fast(path, device="cuda", dtype=torch.bfloat16, attn_implementation="sdpa")
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import torch

_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}


def shard_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    index = path / "model.safetensors.index.json"
    if index.exists():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [path / n for n in names]
    return sorted(path.glob("*.safetensors"))


def read_safetensors(path: str | Path, device="cuda", chunk_mb: int = 256) -> dict[str, torch.Tensor]:
    """All tensors of the checkpoint at ``path`` (a .safetensors file or a folder) on ``device``."""
    device = torch.device(device)
    out: dict[str, torch.Tensor] = {}
    chunk = chunk_mb << 20
    pinned = [torch.empty(chunk, dtype=torch.uint8, pin_memory=device.type == "cuda") for _ in range(2)]
    events = [None, None]
    for file in shard_files(path):
        with open(file, "rb", buffering=0) as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            header.pop("__metadata__", None)
            size = max((v["data_offsets"][1] for v in header.values()), default=0)
            data = torch.empty(size, dtype=torch.uint8, device=device)
            done, k = 0, 0
            while done < size:
                buf = pinned[k % 2]
                if events[k % 2] is not None:
                    events[k % 2].synchronize()  # the copy out of this buffer has finished
                m = f.readinto(memoryview(buf.numpy())[: min(chunk, size - done)])
                if not m:
                    raise OSError(f"{file}: truncated safetensors data")
                data[done:done + m].copy_(buf[:m], non_blocking=True)
                if device.type == "cuda":
                    events[k % 2] = torch.cuda.Event()
                    events[k % 2].record()
                done += m
                k += 1
        for name, meta in header.items():
            start, end = meta["data_offsets"]
            dtype = _DTYPES[meta["dtype"]]
            raw = data[start:end]
            if start % dtype.itemsize:  # unaligned: a copy instead of a view
                raw = raw.clone()
            out[name] = raw.view(dtype).view(meta["shape"])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out


# Hub Qwen-VL checkpoints use the pre-v5 layout; transformers renames these keys the same way when loading.
_LEGACY_KEYS = ((re.compile(r"^visual"), "model.visual"),
                (re.compile(r"^model(?!\.(language_model|visual))"), "model.language_model"))


def from_pretrained_fast(path: str | Path, *, device="cuda", dtype=torch.bfloat16,
                         attn_implementation: str | None = None):
    """The checkpoint at ``path`` as ``AutoModelForImageTextToText.from_pretrained(path, device_map=device)``
    gives it: the model is built on ``device`` without weight initialisation, then the tensors read by
    :func:`read_safetensors` are copied in. Returns None where the checkpoint's tensors do not map one to
    one onto the model (then use ``from_pretrained``)."""
    from transformers import AutoConfig, AutoModelForImageTextToText, GenerationConfig
    from transformers.initialization import no_init_weights

    config = AutoConfig.from_pretrained(path, local_files_only=True)
    cls = AutoModelForImageTextToText._model_mapping[type(config)]
    with torch.device(device), no_init_weights():
        model = cls._from_config(config, dtype=dtype, attn_implementation=attn_implementation)
    state_dict = {}
    for key, tensor in read_safetensors(path, device).items():
        for pattern, target in _LEGACY_KEYS:
            key = pattern.sub(target, key)
        state_dict[key] = tensor
    # A tied lm_head is not stored; tie_weights() below points it at the embeddings.
    tied = set(getattr(model, "_tied_weights_keys", None) or {}) if getattr(model.config, "tie_word_embeddings",
                                                                           False) else set()
    expected = set(model.state_dict())
    if set(state_dict) - expected or expected - set(state_dict) - tied:
        return None
    with torch.no_grad():
        model.load_state_dict(state_dict, strict=False)
    del state_dict
    model.tie_weights()
    model.eval()
    try:
        model.generation_config = GenerationConfig.from_pretrained(path, local_files_only=True)
    except OSError:
        pass  # no generation_config.json: keep the one derived from the config
    return model
