"""``QwenVL``: a Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint, loaded and run greedily.

    vlm = QwenVL.from_pretrained("/models/Qwen2.5-VL-3B-Instruct")
    [answer] = vlm.generate(["puzzle.png"], "What puzzle is this?", max_new_tokens=64)
    answer.text, answer.timings.prefill_s, answer.tokens_per_s

* Loading goes through ``AutoModelForImageTextToText`` / ``AutoProcessor`` with
  ``local_files_only=True`` by default: no network. bf16 on a GPU, float32 on CPU.
* Weights: ``load="auto"`` streams a local safetensors checkpoint straight into a model built
  without weight init (``fast_load.load_fast``: same tensors, buffers and generation_config as
  ``from_pretrained``) on CUDA, and uses ``from_pretrained`` on CPU, where it maps the file lazily
  and is faster. A checkpoint that does not map one to one falls back to ``from_pretrained``
  (logged; ``.load_path`` and ``.load_reason`` say which ran and why). ``load="fast"|"plain"`` or
  $VLM_PUZZLE_LOAD force one.
* Imports: transformers' auto classes and the checkpoint type's modeling/processing code are imported
  without the tensor-parallel, dynamo, flex-attention and scipy modules they only bind names from
  (``lean_import.py``; $VLM_PUZZLE_LEAN_IMPORT=0: the ordinary import).
* Attention: flash_attention_2 when usable, else sdpa, else eager; a load that fails
  with one tries the next (``.attn_implementation``, ``.attn_reason``).
* Generation is TRUE greedy: one complete ``GenerationConfig`` (see ``greedy.py``),
  whatever the checkpoint's ``generation_config.json`` says, which is left untouched.
* Every :class:`~vlm_puzzle.models.types.Generation` carries load, preprocess,
  prefill (time to first token) and decode timings, token counts and tokens/s.
* ``decode``: ``"plain"`` is ``model.generate``; ``"static"``, ``"graph"``, ``"regional"``,
  ``"compiled"`` hand the decode loop to ``models/fast_decode.py`` (static KV cache,
  CUDA-graph / compiled step); ``"auto"`` uses fast_decode's own choice on CUDA (when
  it supports the config and attention) and plain ``generate`` elsewhere. The choice
  and why: ``.decode_reason``; per result: ``Generation.decode``.

Errors are :class:`vlm_puzzle.errors.ModelError` with codes ``model_not_found``,
``model_wrong_architecture``, ``model_load_failed``, ``model_out_of_memory``,
``model_no_device``, ``model_bad_request``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import torch

from vlm_puzzle.errors import ModelError
from vlm_puzzle.models.attention import attention_candidates
from vlm_puzzle.models.fast_decode import FastDecoder, supports
from vlm_puzzle.models.greedy import greedy_generation_config, only_this_config
from vlm_puzzle.models.images import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, to_model_image
from vlm_puzzle.models.loading import (HOW_TO_POINT, LOAD_MODES, default_device, default_dtype, free_cuda,
                                       import_transformers, load_config, load_weights, maybe_prefetch,
                                       parse_dtype)
from vlm_puzzle.models.types import GenerateTimings, Generation

DECODE_MODES = ("auto", "plain", "static", "graph", "regional", "compiled")


class _StepClock:
    """A ``generate`` streamer that only timestamps: ``put`` is called with the prompt,
    then once per generated step (after a device->host copy, so the clock is synced)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.t_end: float | None = None

    def put(self, value) -> None:
        self.stamps.append(time.perf_counter())

    def end(self) -> None:
        self.t_end = time.perf_counter()


class QwenVL:
    """A loaded Qwen-VL model with its processor; see the module docstring."""

    def __init__(self, model, processor, *, min_pixels: int = DEFAULT_MIN_PIXELS,
                 max_pixels: int = DEFAULT_MAX_PIXELS, decode: str = "auto",
                 attn_implementation: str | None = None, attn_reason: str = "",
                 load_s: float = 0.0, name: str = "") -> None:
        if decode not in DECODE_MODES:
            raise ModelError(f"unknown decode mode {decode!r}; expected one of {DECODE_MODES}",
                             code="model_bad_request")
        if not 0 < min_pixels <= max_pixels:
            raise ModelError(f"need 0 < min_pixels <= max_pixels, got {min_pixels} and {max_pixels}",
                             code="model_bad_request")
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        # Batched prompts end where generation starts: pad on the left.
        self.tokenizer.padding_side = "left"
        self.min_pixels = int(min_pixels)
        self.max_pixels = int(max_pixels)
        self.decode = decode
        self.attn_implementation = attn_implementation or getattr(model.config, "_attn_implementation", "eager")
        self.attn_reason = attn_reason
        self.load_s = load_s
        self.name = name or getattr(model.config, "_name_or_path", "") or type(model).__name__
        ip = processor.image_processor
        self.factor = int(ip.patch_size) * int(ip.merge_size)
        self.last_generation_config = None
        self.decode_reason = ""
        self.load_path, self.load_reason = "given", "model passed in"
        self.load_stats: dict = {}  # from_pretrained: seconds per part of the load
        self._decoders: dict[str, FastDecoder] = {}  # per fast decode mode: sessions reused across calls

    # ---- loading ------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike, *, device: str | None = None, dtype=None,
                        attn_implementation: str | None = None, min_pixels: int | None = None,
                        max_pixels: int | None = None, local_files_only: bool = True,
                        decode: str = "auto", load: str | None = None,
                        adapter: str | os.PathLike | None = None) -> "QwenVL":
        """Load a local (or already cached) Qwen-VL checkpoint; see the module docstring.

        ``min_pixels``/``max_pixels`` default to the checkpoint's own bounds where its folder
        records them (``vlm_puzzle.json``, as the project's own model does), else to
        ``DEFAULT_MIN_PIXELS``/``DEFAULT_MAX_PIXELS``. ``adapter``: a LoRA adapter folder
        (``training/finetune_qwen_vl.py``, needs ``peft``) merged into the weights after loading,
        so every decode path runs it at the base model's speed."""
        t0 = time.perf_counter()
        name = str(path_or_id)
        device = str(device or default_device())
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"device {device!r} asked for, but this torch sees no CUDA GPU; use device='cpu'",
                             code="model_no_device")
        dtype = parse_dtype(dtype) or default_dtype(device)
        load = load or os.environ.get("VLM_PUZZLE_LOAD") or "auto"
        if load not in LOAD_MODES:
            raise ModelError(f"unknown load mode {load!r}; expected one of {LOAD_MODES}", code="model_bad_request")
        # Before transformers is imported (seconds): the weights' read overlaps the imports and what follows.
        prefetch = maybe_prefetch(name, device, load)
        t_pre = time.perf_counter()
        AutoConfig, AutoModelForImageTextToText, AutoProcessor = import_transformers(name)
        t_imp = time.perf_counter()
        load_config(AutoConfig, name, local_files_only)  # fails fast: missing or not a Qwen-VL
        own = checkpoint_pixels(name)
        min_pixels = min_pixels or own.get("min_pixels") or DEFAULT_MIN_PIXELS
        max_pixels = max_pixels or own.get("max_pixels") or DEFAULT_MAX_PIXELS
        t_cfg = time.perf_counter()
        try:
            processor = AutoProcessor.from_pretrained(name, local_files_only=local_files_only)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{name}: the processor/tokenizer files could not be loaded ({exc}). "
                             + HOW_TO_POINT, code="model_load_failed") from exc
        t_proc = time.perf_counter()
        tried: list[str] = []
        for impl, reason in attention_candidates(attn_implementation, device, dtype):
            try:
                model, load_path, load_reason = load_weights(AutoModelForImageTextToText, name, impl, device,
                                                              dtype, local_files_only, load, prefetch)
            except torch.OutOfMemoryError as exc:
                raise ModelError(f"{name} does not fit in {device} memory in {dtype} ({exc}); "
                                 "try a smaller checkpoint or another device", code="model_out_of_memory") from exc
            except (ImportError, ValueError, RuntimeError, NotImplementedError) as exc:
                # A kernel that is missing or refuses this model/device: try the next one.
                tried.append(f"{impl} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})")
                continue
            if adapter is not None:
                model = merge_adapter(model, adapter)
                name = f"{name} + {adapter}"
            used = getattr(model.config, "_attn_implementation", impl)
            why = "; ".join(tried + [reason if not tried else f"{impl}: {reason}"])
            vlm = cls(model, processor, min_pixels=min_pixels, max_pixels=max_pixels, decode=decode,
                      attn_implementation=used, attn_reason=why, load_s=time.perf_counter() - t0, name=name)
            vlm.load_path, vlm.load_reason = load_path, load_reason + (" (prefetched)" if prefetch else "")
            t_end = time.perf_counter()
            # Where the load's seconds went (imports: 0 in a process that imported transformers before).
            vlm.load_stats = dict(prefetch_start_s=t_pre - t0, imports_s=t_imp - t_pre, config_s=t_cfg - t_imp,
                                  processor_s=t_proc - t_cfg, weights_s=t_end - t_proc, total_s=t_end - t0)
            del prefetch
            free_cuda()  # a prefetched copy not adopted goes back to the driver
            return vlm
        raise ModelError(f"{name}: no attention implementation could load the model: {'; '.join(tried)}",
                         code="model_load_failed")

    # ---- generation -----------------------------------------------------------------
    @property
    def device(self) -> "torch.device":
        return self.model.device

    def visual_tokens(self, width: int, height: int) -> int:
        """Visual tokens an image of (width, height) costs after resizing (before the vision tokens' markers)."""
        from vlm_puzzle.models.images import smart_resize

        h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)
        return (h // self.factor) * (w // self.factor)

    def generate(self, images: Sequence, prompt: str | Sequence[str], *, max_new_tokens: int = 96,
                 min_new_tokens: int = 0, batch_size: int | None = None) -> list[Generation]:
        """Greedy answers for ``images`` (paths, bytes, PIL images or BGR arrays), one per image.

        ``prompt`` is one text for all images or one per image. Images are run in
        batches of ``batch_size`` (default: all at once) with left padding. On CUDA
        out-of-memory the batch is retried once with half the ``max_pixels``.
        """
        images = list(images)
        prompts = [prompt] * len(images) if isinstance(prompt, str) else list(prompt)
        if len(prompts) != len(images):
            raise ModelError(f"{len(prompts)} prompts for {len(images)} images; give one prompt or one per image",
                             code="model_bad_request")
        if not images:
            return []
        step = max(1, batch_size or len(images))
        out: list[Generation] = []
        for i in range(0, len(images), step):
            out += self._generate_batch_with_retry(images[i:i + step], prompts[i:i + step],
                                                   max_new_tokens, min_new_tokens)
        return out

    def _generate_batch_with_retry(self, images, prompts, max_new_tokens, min_new_tokens):
        try:
            return self._generate_batch(images, prompts, max_new_tokens, min_new_tokens, self.max_pixels)
        except torch.OutOfMemoryError as first:
            free_cuda()
            smaller = max(self.min_pixels, self.max_pixels // 2)
            try:
                return self._generate_batch(images, prompts, max_new_tokens, min_new_tokens, smaller)
            except torch.OutOfMemoryError as exc:
                free_cuda()
                raise ModelError(
                    f"out of GPU memory generating for {len(images)} image(s), also after retrying with "
                    f"max_pixels={smaller} (was {self.max_pixels}): {str(exc).splitlines()[0]}. "
                    "Use a smaller batch, a smaller max_pixels or a smaller checkpoint.",
                    code="model_out_of_memory") from first

    def prepare_inputs(self, images: Sequence, prompts: Sequence[str], *, max_pixels: int | None = None):
        """(processor inputs on the model's device, the resized PIL images): chat
        template with one image and the prompt per row, left-padded."""
        max_pixels = max_pixels or self.max_pixels
        min_pixels = min(self.min_pixels, max_pixels)
        pil = [to_model_image(im, factor=self.factor, min_pixels=min_pixels, max_pixels=max_pixels)
               for im in images]
        texts = [self.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p}]}],
            tokenize=False, add_generation_prompt=True) for p in prompts]
        # The images are already resized within the bounds; the same bounds for the
        # processor keep it from resizing them again.
        inputs = self.processor(text=texts, images=pil, padding=True, return_tensors="pt",
                                images_kwargs={"size": {"shortest_edge": min_pixels, "longest_edge": max_pixels}})
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        return inputs, pil

    def _generate_batch(self, images, prompts, max_new_tokens, min_new_tokens, max_pixels) -> list[Generation]:
        t0 = time.perf_counter()
        inputs, pil = self.prepare_inputs(images, prompts, max_pixels=max_pixels)
        cfg = greedy_generation_config(self.model, self.tokenizer, max_new_tokens=max_new_tokens,
                                       min_new_tokens=min_new_tokens)
        self.last_generation_config = cfg
        prompt_len = inputs["input_ids"].shape[1]
        t_pre = time.perf_counter()

        clock = _StepClock()
        mode = self._decode_mode(cfg)
        warmup_s = 0.0
        with torch.inference_mode():
            if mode != "plain":
                sequences, mode, warmup_s = self._fast_decode(inputs, cfg, clock, mode)
            else:
                with only_this_config(self.model, cfg):
                    sequences = self.model.generate(**inputs, generation_config=cfg, streamer=clock)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t_end = clock.t_end or time.perf_counter()
        # stamps[0] is the prompt handed to the streamer, stamps[1] the first new token.
        t_first = clock.stamps[1] if len(clock.stamps) > 1 else t_end
        prefill_s, decode_s = t_first - t_pre, max(0.0, t_end - t_first - warmup_s)
        timings = GenerateTimings(load_s=self.load_s, preprocess_s=t_pre - t0, prefill_s=prefill_s,
                                  decode_s=decode_s, warmup_s=warmup_s)

        eos = set(cfg.eos_token_id)
        new = sequences[:, prompt_len:].tolist()
        rows = []
        for ids in new:
            cut = next((j + 1 for j, t in enumerate(ids) if t in eos), None)
            rows.append((ids[:cut] if cut else ids, "eos" if cut else "max_new_tokens"))
        # Decode rate: the tokens of every row after its first (the prefill makes the first), per second.
        decoded = sum(max(0, len(ids) - 1) for ids, _ in rows)
        tps = decoded / decode_s if decode_s > 0 and decoded else 0.0
        grid = inputs.get("image_grid_thw")
        merge = int(self.processor.image_processor.merge_size) ** 2
        attn = inputs["attention_mask"].sum(dim=1).tolist()
        out = []
        for k, ((ids, why), im) in enumerate(zip(rows, pil)):
            text_ids = [t for t in ids if t not in eos]
            out.append(Generation(
                text=self.tokenizer.decode(text_ids, skip_special_tokens=True),
                token_ids=tuple(int(t) for t in ids), n_tokens=len(ids), stopped_by=why,
                prompt_tokens=int(attn[k]),
                visual_tokens=int(grid[k].prod().item()) // merge if grid is not None else 0,
                image_size=im.size, timings=timings, tokens_per_s=tps, batch_size=len(rows),
                attn_implementation=self.attn_implementation, decode=mode, max_pixels=max_pixels))
        return out

    def _decode_mode(self, cfg) -> str:
        """The decode path for this call: "plain" (model.generate) or a fast_decode mode."""
        if self.decode == "plain":
            self.decode_reason = "plain model.generate requested"
            return "plain"
        usable, why = supports(cfg)
        if usable and self.attn_implementation not in ("sdpa", "eager"):
            usable, why = False, f"fast decode runs with sdpa/eager attention, not {self.attn_implementation}"
        if self.decode != "auto":
            if not usable:
                raise ModelError(f"decode={self.decode!r} is not possible: {why}", code="model_bad_request")
            self.decode_reason = f"{self.decode} decode requested"
            return self.decode
        if usable and self.device.type == "cuda":
            # fast_decode's own auto (AUTO_CUDA_MODE): the step as measured fastest with generate's answers.
            self.decode_reason = "auto: CUDA, fast_decode (static KV cache + CUDA graph of the step, its MLP, " \
                                 "RMSNorm and rotary embedding compiled, its q/k/v projections one GEMM)"
            return "auto"
        self.decode_reason = (f"auto: plain generate on {self.device.type}" if usable
                              else f"auto: plain generate ({why})")
        return "plain"

    def _fast_decode(self, inputs, cfg, clock, mode: str):
        """``FastDecoder.greedy``: the same (batch, prompt + new) ids as ``model.generate``;
        the streamer gets the prompt, the first token right after the prefill, the rest
        when decoding ends. Returns (ids, mode used, one-time graph capture/compile
        seconds included in the decode time)."""
        dec = self._decoders.get(mode)
        if dec is None:
            dec = self._decoders[mode] = FastDecoder(self.model, mode)
        with only_this_config(self.model, cfg):
            ids = dec.greedy(inputs, generation_config=cfg, streamer=clock)
        stats = dec.last_stats
        return ids, f"fast-{stats.get('mode', mode)}", float(stats.get("warmup_s", 0.0))

    def __repr__(self) -> str:
        return (f"QwenVL({self.name!r}, device={self.device}, dtype={self.model.dtype}, "
                f"attn={self.attn_implementation}, pixels=[{self.min_pixels}, {self.max_pixels}])")


def merge_adapter(model, adapter: str | os.PathLike):
    """``model`` with the LoRA adapter saved in ``adapter`` merged into its weights."""
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ModelError(f"no LoRA adapter at {adapter} (no adapter_config.json)", code="model_not_found")
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ModelError(f"loading an adapter needs peft (pip install 'vlm-puzzle[train]'): {exc}",
                         code="model_unavailable") from None
    try:
        merged = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        raise ModelError(f"the adapter at {adapter} does not fit this model: {str(exc).splitlines()[0][:200]}",
                         code="model_wrong_architecture") from exc
    return merged.eval()


def checkpoint_pixels(name: str) -> dict:
    """The pixel bounds a checkpoint folder records for itself in ``vlm_puzzle.json`` (a model trained
    on small pictures answers best on the same), or {}."""
    path = Path(name).expanduser() / "vlm_puzzle.json"
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: int(rec[k]) for k in ("min_pixels", "max_pixels") if isinstance(rec.get(k), int) and rec[k] > 0}
