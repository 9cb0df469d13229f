"""Read a local safetensors checkpoint straight into GPU memory with large sequential reads.

``from_pretrained(device_map="cuda")`` reads each tensor through a memory map (page faults of a few KB)
and copies it from pageable memory. Here each shard's data block is read in large chunks into two
pinned host buffers and copied to one GPU buffer while the next chunk is read; the tensors are views
of that buffer (H100, 7 GB 3B checkpoint in the page cache: 1.9 s, where from_pretrained takes 7.8-12 s).
Handing those tensors to ``from_pretrained(state_dict=...)`` gained nothing (11.4 s).

Where from_pretrained's time goes besides the bytes (2-core CPU VM, 3B bf16, imports done, file in the
page cache, cProfile): ~1.8 s building the checkpoint-conversion regexes of every model type, ~0.8 s
building the model on the meta device, the per-tensor loading machinery; the first call in a process
also imports the modeling code (9-12 s there). :func:`load_fast` skips the first and third: it builds the
model on the device without weight init (0.65 s there, all included but the bytes) and streams each
shard's bytes straight into the parameters: on CPU ``readinto`` the parameter's own memory, on CUDA
through two pinned chunks (one copy of the weights, no staging buffer). :class:`Prefetch` instead reads
onto the device in a thread started before the imports (the read overlaps them); the model is then built
as an uninitialised shell in host memory and adopts the read tensors (:func:`adopt_prefetched`, one copy
on the device). Not on the meta device: meta kernels import sympy and torch._dynamo (2-core VM, tiny
model after the lean imports: 6.3 s on meta, 0.05 s in host memory; untouched pages cost nothing). Anything that does not map one to one (unexpected/missing keys, a tied weight stored, shape
mismatch) returns None with the reason; the caller then uses ``from_pretrained``. Same parameters,
buffers (rotary inv_freq recomputed as from_pretrained does), generation_config and tokens as
``from_pretrained``: tests/test_models.py.

    model, why = load_fast(path, device="cuda", dtype=torch.bfloat16, attn_implementation="sdpa")
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


def _pinned_chunks(f, file, size: int, chunk: int, pinned, events, device):
    """Read ``size`` bytes of the open ``f`` in ``chunk`` pieces, alternating between the two
    ``pinned`` buffers; yields ``(buffer, offset, length)``. The caller queues its copies out of
    the buffer before the next step, which records an event so that the buffer is not refilled
    until those copies have finished."""
    done, k = 0, 0
    while done < size:
        buf = pinned[k % 2]
        if events[k % 2] is not None:
            events[k % 2].synchronize()  # the copies out of this buffer have finished
        m = f.readinto(memoryview(buf.numpy())[: min(chunk, size - done)])
        if not m:
            raise OSError(f"{file}: truncated safetensors data")
        yield buf, done, m
        if device.type == "cuda":
            events[k % 2] = torch.cuda.Event()
            events[k % 2].record()
        done, k = done + m, k + 1


def _header(f) -> tuple[int, dict]:
    """(data block start, tensor table) of an open safetensors file, read past its header."""
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return 8 + n, header


def read_safetensors(path: str | Path, device="cuda", chunk_mb: int = 256) -> dict[str, torch.Tensor]:
    """All tensors of the checkpoint at ``path`` (a .safetensors file or a folder) on ``device``."""
    device = torch.device(device)
    out: dict[str, torch.Tensor] = {}
    chunk = chunk_mb << 20
    pinned = [torch.empty(chunk, dtype=torch.uint8, pin_memory=device.type == "cuda") for _ in range(2)]
    events = [None, None]
    for file in shard_files(path):
        with open(file, "rb", buffering=0) as f:
            _, header = _header(f)
            size = max((v["data_offsets"][1] for v in header.values()), default=0)
            data = torch.empty(size, dtype=torch.uint8, device=device)
            for buf, lo, m in _pinned_chunks(f, file, size, chunk, pinned, events, device):
                data[lo:lo + m].copy_(buf[:m], non_blocking=True)
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


def _target_key(key: str) -> str:
    for pattern, target in _LEGACY_KEYS:
        key = pattern.sub(target, key)
    return key


def _plan(path, targets: dict[str, torch.Tensor]) -> tuple[list, str]:
    """[(file, data start, [(start, end, file dtype, target, name), ...] by offset)] for every shard, or
    ([], why) where the checkpoint does not map one to one onto ``targets``."""
    plan, seen = [], set()
    for file in shard_files(path):
        with open(file, "rb") as f:
            base, header = _header(f)
        items = []
        for name, meta in header.items():
            key = _target_key(name)
            if key not in targets:
                return [], f"checkpoint key {name!r} is not a model parameter"
            if key in seen:
                return [], f"checkpoint key {name!r} stored twice"
            seen.add(key)
            dst, dtype = targets[key], _DTYPES.get(meta["dtype"])
            if dtype is None or list(dst.shape) != list(meta["shape"]):
                return [], f"{name}: {meta['dtype']} {meta['shape']} in the checkpoint, {dst.dtype} " \
                           f"{list(dst.shape)} in the model"
            start, end = meta["data_offsets"]
            if end - start != dst.numel() * dtype.itemsize:
                return [], f"{name}: {end - start} bytes for {dst.numel()} {meta['dtype']} values"
            items.append((start, end, dtype, dst, name))
        plan.append((file, base, sorted(items, key=lambda t: t[0])))
    missing = sorted(set(targets) - seen)
    if missing:
        return [], f"model parameters missing from the checkpoint: {', '.join(missing[:3])}" + \
                   (f" (+{len(missing) - 3})" if len(missing) > 3 else "")
    return plan, ""


def _model_plan(model, path) -> tuple[list, str]:
    """:func:`_plan` of ``path`` onto ``model``'s parameters and persistent buffers, tied copies left out."""
    tied = _tied_keys_for(type(model), model.config)
    return _plan(path, {k: v for k, v in model.state_dict(keep_vars=True).items() if k not in tied})


def _bytes_of(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1).view(torch.uint8)


def _stream_cpu(file, base: int, items) -> None:
    """Each tensor read straight into its parameter's memory (no staging copy)."""
    with open(file, "rb", buffering=0) as f:
        for start, end, dtype, dst, _ in items:
            f.seek(base + start)
            direct = dst.dtype == dtype and dst.is_contiguous()
            buf = _bytes_of(dst) if direct else torch.empty(end - start, dtype=torch.uint8)
            view, done = memoryview(buf.numpy()), 0
            while done < end - start:
                m = f.readinto(view[done:])
                if not m:
                    raise OSError(f"{file}: truncated safetensors data")
                done += m
            if not direct:  # another dtype: the cast transformers applies (round to nearest)
                dst.copy_(buf.view(dtype).view(dst.shape))


def _stream_device(file, base: int, items, device, chunk: int, pinned, events) -> None:
    """The shard's data block read sequentially in ``chunk`` pieces into two pinned buffers, each piece
    copied asynchronously into the parameters it overlaps while the next one is read."""
    size = max((e for _, e, _, _, _ in items), default=0)
    staged: dict[int, torch.Tensor] = {}  # tensors of another dtype, collected on the device then cast
    with open(file, "rb", buffering=0) as f:
        f.seek(base)
        j = 0
        for buf, lo, m in _pinned_chunks(f, file, size, chunk, pinned, events, device):
            hi = lo + m
            while j < len(items) and items[j][1] <= lo:
                j += 1
            i = j
            while i < len(items) and items[i][0] < hi:
                start, end, dtype, dst, _ = items[i]
                a, b = max(start, lo), min(end, hi)
                if dst.dtype == dtype and dst.is_contiguous():
                    out = _bytes_of(dst)
                else:
                    out = staged.setdefault(i, torch.empty(end - start, dtype=torch.uint8, device=device))
                out[a - start:b - start].copy_(buf[a - lo:b - lo], non_blocking=True)
                if b == end and i in staged:
                    dst.copy_(staged.pop(i).view(dtype).view(dst.shape))
                i += 1


class Prefetch:
    """:func:`read_safetensors` of ``path`` onto ``device`` in a background thread, started before the
    slow imports and model construction so that the read overlaps them (reads and copies release the
    GIL). Costs a second copy of the weights on ``device`` while it is referenced."""

    def __init__(self, path: str | Path, device="cuda") -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.path, self.device = str(path), torch.device(device)
        pool = ThreadPoolExecutor(1, thread_name_prefix="vlm-prefetch")
        self._future = pool.submit(read_safetensors, path, device)
        pool.shutdown(wait=False)

    def result(self) -> dict[str, torch.Tensor]:
        return self._future.result()


def load_into(model, path: str | Path, *, chunk_mb: float = 64, chunked: bool | None = None) -> str:
    """Stream the checkpoint at ``path`` into ``model``'s parameters in place. Returns "" when done, else
    why it did not map one to one (then nothing was written). ``chunked``: the pinned-chunk path also on
    CPU (tests: it is the CUDA path)."""
    plan, why = _model_plan(model, path)
    if why:
        return why
    device = next(iter(model.parameters())).device
    chunk = max(1, int(chunk_mb * 2**20))
    chunked = device.type != "cpu" if chunked is None else chunked
    pinned = events = None
    if chunked:
        pinned = [torch.empty(chunk, dtype=torch.uint8, pin_memory=device.type == "cuda") for _ in range(2)]
        events = [None, None]
    with torch.no_grad():
        for file, base, items in plan:
            if not chunked:
                _stream_cpu(file, base, items)
            else:
                _stream_device(file, base, items, device, chunk, pinned, events)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return ""


def adopt_prefetched(model, path: str | Path, prefetched: Prefetch, device: torch.device) -> str:
    """Fill a model shell (built without weight init, on the meta device or in host memory) from a
    :class:`Prefetch` of ``path``: its tensors become the parameters (``load_state_dict(assign=True)``: no
    second copy on the device; another dtype is cast), tied weights are tied, non-persistent buffers
    (rotary inv_freq) recomputed as ``from_pretrained`` does and moved to ``device``. "" when done, else
    why the checkpoint does not map."""
    plan, why = _model_plan(model, path)
    if why:
        return why
    shell_params = list(model.parameters())  # held so that their ids are not reused below
    shell = {id(t) for t in shell_params}
    tensors = prefetched.result()
    state = {}
    for _, _, items in plan:
        for _, _, _, dst, name in items:
            t = tensors[name]
            key = _target_key(name)
            state[key] = t if t.dtype == dst.dtype else t.to(dst.dtype)  # the cast from_pretrained applies
    model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    for module in model.modules():
        for name in getattr(module, "_non_persistent_buffers_set", ()):
            buf = module._buffers.get(name)
            if buf is not None and buf.is_meta:
                module._buffers[name] = torch.empty_like(buf, device=device)
    _reinit_non_persistent_buffers(model)
    for module in model.modules():
        for name, buf in module._buffers.items():
            if buf is not None and not buf.is_meta and buf.device != device:
                module._buffers[name] = buf.to(device)
    left = [n for n, t in model.named_parameters() if id(t) in shell or t.is_meta]
    left += [n for n, t in model.named_buffers() if t.is_meta]
    if left:  # nothing may stay unloaded (a shell's memory is garbage; a buffer nobody computes)
        return f"left unloaded: {', '.join(left[:3])}"
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return ""


def _reinit_non_persistent_buffers(model) -> None:
    """Recompute non-persistent buffers (rotary inv_freq) with the model's own ``_init_weights``, as
    ``from_pretrained`` does after loading, outside any device context (so on CPU, then copied), so the
    values are those of ``from_pretrained`` bit for bit, not those of __init__ under ``torch.device``."""
    for module in model.modules():
        persistent_off = getattr(module, "_non_persistent_buffers_set", set())
        if persistent_off and not any(True for _ in module.parameters(recurse=False)):
            with torch.no_grad():
                model._init_weights(module)


def load_fast(path: str | Path, *, device="cuda", dtype=torch.bfloat16, attn_implementation: str | None = None,
              prefetched: Prefetch | None = None, stats: dict | None = None):
    """(model, "") with the checkpoint at ``path`` loaded as ``AutoModelForImageTextToText.from_pretrained(
    path, dtype=dtype, device_map=device)`` gives it, or (None, why) where the checkpoint's tensors do not map
    one to one onto the model (then use ``from_pretrained``). ``prefetched``: a :class:`Prefetch` of ``path``
    started earlier (its read overlaps imports and construction); else the shards stream in here.
    ``stats``: filled with the seconds of a successful load: build (config + model without init), weights,
    finish, total."""
    import time

    from transformers import AutoConfig, AutoModelForImageTextToText
    from transformers.initialization import no_init_weights

    t0 = time.perf_counter()
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    cls = AutoModelForImageTextToText._model_mapping.get(type(config), None)
    if cls is None:
        return None, f"no image-text-to-text class for {type(config).__name__}"
    tied = _tied_keys_for(cls, config)
    for file in shard_files(path):
        with open(file, "rb") as f:
            _, header = _header(f)
        stored = tied & {_target_key(k) for k in header}
        if stored:  # from_pretrained compares them and may untie: its own logic decides
            return None, f"tied weight {sorted(stored)[0]} is stored in the checkpoint"
    if prefetched is not None:
        # The weights are already on the device: build a shell whose pages are never touched and adopt them.
        with torch.device("cpu"), no_init_weights():
            model = cls._from_config(config, dtype=dtype, attn_implementation=attn_implementation)
        t1 = time.perf_counter()
        why = adopt_prefetched(model, path, prefetched, torch.device(device))
    else:
        with torch.device(device), no_init_weights():
            model = cls._from_config(config, dtype=dtype, attn_implementation=attn_implementation)
        model.tie_weights()
        _reinit_non_persistent_buffers(model)
        t1 = time.perf_counter()
        why = load_into(model, path)
    if why:
        return None, why
    t2 = time.perf_counter()
    model.eval()
    model.config.name_or_path = str(path)
    if model.can_generate():
        # from_pretrained's own step: generation_config.json, else one derived from config.json.
        model.adjust_generation_fn(None, True, False, str(path), None, False, None, True, None, "main", "", False)
    t3 = time.perf_counter()
    if stats is not None:
        stats.update(build_s=t1 - t0, weights_s=t2 - t1, finish_s=t3 - t2, total_s=t3 - t0)
    return model, ""


def _tied_keys_for(cls, config) -> set[str]:
    cfg = config.get_text_config() if hasattr(config, "get_text_config") else config
    if not (getattr(config, "tie_word_embeddings", False) or getattr(cfg, "tie_word_embeddings", False)):
        return set()
    return set(getattr(cls, "_tied_weights_keys", None) or {})
