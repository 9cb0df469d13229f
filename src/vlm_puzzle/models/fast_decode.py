"""Fast greedy decoding for Qwen-VL models: the same tokens as ``model.generate``, less overhead.

    tokens = greedy_generate(model, inputs, generation_config=cfg)           # like model.generate
    dec = FastDecoder(model, mode="graph"); new = dec.generate(inputs, max_new_tokens=64, eos_token_id=[...])

What it does differently from ``generate`` (each part switchable by ``mode``):

* ``"static"``: a static KV cache sized once per (batch, length bucket); 3D mrope position ids for the
  decode steps computed from the prefill's (Qwen2-VL's ``get_rope_index``); argmax, EOS and padding of
  finished rows on the device; the host checks "all finished?" only every ``sync_every`` steps, so the
  loop never waits for the GPU in between. Runs on CPU too.
* ``"graph"``: the one-token decode step (forward, argmax, EOS, state update) captured once in a
  ``torch.cuda.CUDAGraph`` and replayed: one launch per token. Capture costs a few steps, not a compile.
* ``"regional"``, ``"compiled"``: as ``"graph"``, with parts of the step or all of it compiled
  first (``compiled_decode.py``). On CPU they run the compiled forward in the static loop (no CUDA
  graph): for tests and probes.
* ``"auto"``: on CUDA ``AUTO_CUDA_MODE``: ``"regional"`` with the MLP, RMSNorm and rotary embedding
  compiled with ``emulate_precision_casts`` and the q/k/v projections fused into one GEMM (H200, 3B:
  3.8 ms per step against 4.2 without the fusion and 5.6-5.7 for ``"graph"``, the same tokens as
  ``"graph"`` on the random 3B and on the trained model; the first call in a process compiles, or
  loads the compiled kernels from the cache: about 5 s; a failed compile falls back to ``"graph"``);
  ``"static"`` on CPU. The gate/up fusion ("gateup": 0.16 ms less per step than "qkv" alone at batch 1,
  +3.2 GB of weight copies on the 3B) is opt-in (``regional_parts`` or $VLM_PUZZLE_REGIONAL_PARTS).
  Prefills also batch the vision tower's window attention (``vision_batch.py``, same numbers).
* Every step builds its sdpa mask once as 0/-inf in the model's dtype (what sdpa itself makes of a bool
  mask in every layer; ``float_mask=False`` or $VLM_PUZZLE_DECODE_MASK=bool keeps the bool mask);
  ``sdpa_backend`` ($VLM_PUZZLE_DECODE_SDPA: cudnn, efficient, flash, math) forces the step's attention
  kernel (opt-in: another kernel rounds differently from ``generate``'s).

Exactness: the prefill is the model's own forward on the prompt; every step feeds what ``generate``
feeds (the last token, or the pad token for finished rows) at the same 3D position, with an attention
mask over the same keys (left padding masked). Generation configs with anything beyond greedy + EOS +
``min_new_tokens`` (sampling, penalties, ...) are refused by :func:`supports`; use ``generate`` for them.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import os
import time

import torch

from vlm_puzzle.models import compiled_decode
from vlm_puzzle.models.vision_batch import batched_vision_attention

MODES = ("auto", "static", "graph") + compiled_decode.INEXACT_MODES
# Opt-in attention kernels for the decode step (sdpa): another kernel rounds differently from generate's.
SDPA_BACKENDS = ("cudnn", "efficient", "flash", "math")
_GRAPH_MODES = ("graph",) + compiled_decode.INEXACT_MODES
# What "auto" runs on CUDA: the fastest step whose tokens equal generate's on the trained model in
# experiments/results/issue17_h200_s3 (README, "Rule inference on a GPU") without doubling the MLP's
# weights (gateup); for "regional", with these parts and Inductor's emulate_precision_casts. A compile
# that fails falls back to "graph" (logged).
AUTO_CUDA_MODE = "regional"
AUTO_REGIONAL_PARTS, AUTO_EMULATE = "mlp,norm,rope,qkv", True
log = logging.getLogger(__name__)

# Generation config fields that must be at their neutral value for the fast path to equal `generate`.
_NEUTRAL = dict(do_sample=False, num_beams=1, num_return_sequences=1, temperature=None, top_k=None,
                top_p=None, typical_p=None, min_p=None, repetition_penalty=None, no_repeat_ngram_size=None,
                bad_words_ids=None, suppress_tokens=None, begin_suppress_tokens=None, sequence_bias=None,
                forced_bos_token_id=None, forced_eos_token_id=None, stop_strings=None, guidance_scale=None,
                penalty_alpha=None, dola_layers=None, encoder_repetition_penalty=None,
                exponential_decay_length_penalty=None, watermarking_config=None, prompt_lookup_num_tokens=None,
                assistant_model=None, max_time=None, min_length=None)
_NEUTRAL_VALUES = {"temperature": (None, 1.0), "top_k": (None, 0), "top_p": (None, 1.0), "typical_p": (None, 1.0),
                   "min_p": (None, 0.0), "repetition_penalty": (None, 1.0), "no_repeat_ngram_size": (None, 0),
                   "encoder_repetition_penalty": (None, 1.0), "guidance_scale": (None, 1.0),
                   "num_beams": (None, 1), "num_return_sequences": (None, 1), "do_sample": (None, False),
                   "min_length": (None, 0)}


def supports(generation_config) -> tuple[bool, str]:
    """(True, "") if the fast path reproduces ``generate`` for this config, else (False, why)."""
    for key, neutral in _NEUTRAL.items():
        value = getattr(generation_config, key, neutral)
        allowed = _NEUTRAL_VALUES.get(key, (neutral,))
        if key == "top_k" and value is not None and not getattr(generation_config, "do_sample", False):
            continue  # greedy ignores top_k
        if key in ("temperature", "top_p", "typical_p", "min_p") and not getattr(generation_config, "do_sample",
                                                                                   False):
            continue  # greedy ignores the sampling warpers
        if value not in allowed:
            return False, f"generation_config.{key}={value!r} is not plain greedy"
    if getattr(generation_config, "max_new_tokens", None) is None:
        return False, "generation_config.max_new_tokens is needed"
    return True, ""


def _attn_impl(model) -> str:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return getattr(cfg, "_attn_implementation", None) or "eager"


class _Session:
    """Static KV cache, decode state and (for graph modes) the captured step for one (batch, cache length)."""

    def __init__(self, model, batch: int, cache_len: int, n_eos: int, device, capture: str | None):
        from transformers import StaticCache

        self.batch, self.cache_len, self.n_eos, self.capture = batch, cache_len, n_eos, capture
        self.cache = StaticCache(config=model.config, max_cache_len=cache_len)
        kw = dict(device=device)
        self.tok = torch.zeros((batch, 1), dtype=torch.long, **kw)
        self.pos = torch.zeros((3, batch, 1), dtype=torch.long, **kw)
        self.cpos = torch.zeros((), dtype=torch.long, **kw)  # cache slot of the token being fed
        self.step = torch.zeros((), dtype=torch.long, **kw)  # index of the token being produced
        self.valid = torch.zeros((batch, cache_len), dtype=torch.bool, **kw)  # keys a row may attend to
        self.slots = torch.arange(cache_len, **kw)
        self.finished = torch.zeros((batch,), dtype=torch.bool, **kw)
        self.eos = torch.zeros((max(n_eos, 1),), dtype=torch.long, **kw)
        self.pad = torch.zeros((), dtype=torch.long, **kw)
        self.min_new = torch.zeros((), dtype=torch.long, **kw)
        self.out = torch.zeros((batch, 1), dtype=torch.long, **kw)  # resized per call (outside the graph)
        self.graph = None
        self.forward = None  # without CUDA: the compiled forward the loop calls (graph modes on CPU)
        self.graph_out_cols = 0

    def state(self) -> list[torch.Tensor]:
        lens = [layer.cumulative_length for layer in self.cache.layers
                if isinstance(getattr(layer, "cumulative_length", None), torch.Tensor)]
        return [self.tok, self.pos, self.cpos, self.step, self.finished, self.out] + lens


class FastDecoder:
    """Greedy decoding of one Qwen-VL model with a static cache; see the module docstring.

    Sessions (cache + captured graph) are kept per (batch, cache-length bucket), the last
    ``max_sessions`` of them, so repeated solves of the same shape reuse them.
    """

    def __init__(self, model, mode: str = "auto", *, sync_every: int = 8, cache_multiple: int = 256,
                 max_sessions: int = 3, batch_vision: bool = True, emulate_precision_casts: bool | None = None,
                 regional_parts: str | None = None, float_mask: bool | None = None,
                 sdpa_backend: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown decode mode {mode!r}; expected one of {MODES}")
        if _attn_impl(model) not in ("sdpa", "eager"):
            raise ValueError(f"fast decode supports sdpa and eager attention, not {_attn_impl(model)!r}")
        self.model = model
        self.mode = mode
        self.sync_every = max(1, int(sync_every))
        self.cache_multiple = max(1, int(cache_multiple))
        self.max_sessions = max(1, int(max_sessions))
        self.device = model.device
        self._sessions: dict[tuple, _Session] = {}
        self.batch_vision = batch_vision
        self._inexact: dict[str, object] = {}  # "regional" / "compiled": the compiled step forward
        if mode == "auto" and AUTO_CUDA_MODE == "regional":
            regional_parts = regional_parts or AUTO_REGIONAL_PARTS
            emulate_precision_casts = AUTO_EMULATE if emulate_precision_casts is None else emulate_precision_casts
        self.emulate_precision_casts = compiled_decode.emulate_default() if emulate_precision_casts is None \
            else bool(emulate_precision_casts)
        self.regional_parts = compiled_decode.regional_parts(regional_parts)
        self.auto_fallback = ""  # why "auto" runs "graph" instead of AUTO_CUDA_MODE (a failed compile)
        self._pool = None  # CUDA graph memory pool shared by this decoder's captured steps
        self.last_stats: dict = {}
        # sdpa turns a bool mask into 0/-inf in every layer (a where and a fill per layer and step): the
        # step builds that float mask once instead, the same values ($VLM_PUZZLE_DECODE_MASK=bool: off).
        self.float_mask = os.environ.get("VLM_PUZZLE_DECODE_MASK", "float") != "bool" if float_mask is None \
            else bool(float_mask)
        backend = sdpa_backend or os.environ.get("VLM_PUZZLE_DECODE_SDPA") or None
        if backend is not None and backend not in SDPA_BACKENDS:
            raise ValueError(f"sdpa_backend must be one of {SDPA_BACKENDS}, not {backend!r}")
        self.sdpa_backend = backend  # None: torch's own choice, as generate

    # ---- public -----------------------------------------------------------------------------
    def resolve_mode(self, batch: int, cache_len: int) -> str:
        if self.mode != "auto":
            if self.mode == "graph" and self.device.type != "cuda":
                return "static"  # CUDA graphs need CUDA; the static loop is the CPU fallback
            return self.mode
        if self.device.type != "cuda":
            return "static"
        return "graph" if self.auto_fallback else AUTO_CUDA_MODE

    @torch.inference_mode()
    def generate(self, inputs, *, max_new_tokens: int, eos_token_id=None, pad_token_id: int | None = 0,
                 min_new_tokens: int = 0, streamer=None) -> torch.Tensor:
        """New tokens (batch, n <= max_new_tokens) for processor ``inputs``, as greedy ``generate`` would
        produce them (finished rows padded with ``pad_token_id``; n stops where every row has ended)."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        eos = [] if eos_token_id is None else ([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        if eos and pad_token_id is None:
            pad_token_id = eos[0]
        pad_token_id = int(pad_token_id or 0)
        input_ids = inputs["input_ids"]
        batch, prompt_len = input_ids.shape
        cache_len = -(-(prompt_len + max_new_tokens) // self.cache_multiple) * self.cache_multiple
        mode = self.resolve_mode(batch, cache_len)
        sess = self._session(batch, cache_len, len(eos), mode)

        t0 = time.perf_counter()
        first, positions = self._prefill(sess, inputs, min_new_tokens > 0 and bool(eos), eos)
        if streamer is not None:
            streamer.put(input_ids.cpu())
            streamer.put(first.cpu())  # synchronises: the time to the first token
        t_first = time.perf_counter()

        # Decode state: the first new token is fed at cache slot prompt_len, 3D position max+1.
        self._start(sess, inputs, first, positions, max_new_tokens, eos, pad_token_id, min_new_tokens)
        warm_s = 0.0
        if mode in _GRAPH_MODES and max_new_tokens > 1:
            warm_s = self._ensure_graph(sess, mode, max_new_tokens)
            mode = sess.capture  # "graph" where auto's compiled step could not be made
        n = 1
        for n in range(1, max_new_tokens):
            if sess.graph is not None:
                sess.graph.replay()
            else:
                self._step(sess, sess.forward)
            if eos and (n + 1) % self.sync_every == 0 and bool(sess.finished.all()):
                break
        else:
            n = max_new_tokens - 1
        new = sess.out[:, : n + 1]
        if eos:
            # Trim the columns after the step where the last row ended, as `generate` stops there.
            is_eos = torch.isin(new, sess.eos[: len(eos)])
            ended = is_eos.any(dim=1)
            if bool(ended.all()):
                last = int(is_eos.to(torch.int8).argmax(dim=1).max())
                new = new[:, : last + 1]
        new = new.clone()
        if streamer is not None:
            for j in range(1, new.shape[1]):
                streamer.put(new[:, j].cpu())
            streamer.end()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t_end = time.perf_counter()
        self.last_stats = dict(mode=mode, batch=batch, prompt_len=prompt_len, cache_len=cache_len,
                               new_tokens=int(new.shape[1]), prefill_s=t_first - t0, warmup_s=warm_s,
                               decode_s=t_end - t_first - warm_s)
        return new

    def greedy(self, inputs, *, generation_config, streamer=None) -> torch.Tensor:
        """Drop-in for ``model.generate(**inputs, generation_config=...)`` under greedy decoding: returns
        (batch, prompt + new) ids. ``streamer.put`` gets the prompt, the first token right after the prefill
        (time to first token), then the other tokens once decoding is done (no per-step host sync)."""
        ok, why = supports(generation_config)
        if not ok:
            raise ValueError(f"fast decode cannot reproduce this generation config: {why}")
        new = self.generate(inputs, max_new_tokens=int(generation_config.max_new_tokens),
                            eos_token_id=generation_config.eos_token_id, pad_token_id=generation_config.pad_token_id,
                            min_new_tokens=int(getattr(generation_config, "min_new_tokens", None) or 0),
                            streamer=streamer)
        return torch.cat([inputs["input_ids"], new.to(inputs["input_ids"].dtype)], dim=1)

    # ---- prefill ------------------------------------------------------------------------------
    def _rope_positions(self, inputs) -> torch.Tensor:
        """3D (temporal, height, width) positions of the prompt, (3, batch, len), as the model computes them."""
        inner = self.model.model
        input_ids = inputs["input_ids"]
        kwargs = dict(inputs)
        if "mm_token_type_ids" not in kwargs:
            cfg = self.model.config
            mm = torch.zeros_like(input_ids, dtype=torch.int32)
            mm[input_ids == cfg.image_token_id] = 1
            mm[input_ids == getattr(cfg, "video_token_id", -1)] = 2
            kwargs["mm_token_type_ids"] = mm
        params = inspect.signature(inner.get_rope_index).parameters
        kwargs = {k: v for k, v in kwargs.items() if k in params and k != "input_ids"}
        positions, _ = inner.get_rope_index(input_ids, **kwargs)
        return positions

    def _prefill(self, sess: _Session, inputs, suppress_eos: bool, eos: list[int]):
        positions = self._rope_positions(inputs)
        sess.cache.reset()
        model_inputs = {k: v for k, v in inputs.items() if k not in ("position_ids",)}
        with batched_vision_attention(self.model, self.batch_vision):
            out = self.model(**model_inputs, position_ids=positions, past_key_values=sess.cache, use_cache=True,
                             logits_to_keep=1)
        logits = out.logits[:, -1, :]
        if suppress_eos:  # min_new_tokens >= 1: EOS may not be the first token
            logits = logits.clone()
            logits[:, eos] = float("-inf")
        return logits.argmax(dim=-1), positions

    def _start(self, sess, inputs, first, positions, max_new_tokens, eos, pad, min_new_tokens) -> None:
        batch, prompt_len = inputs["input_ids"].shape
        attn = inputs.get("attention_mask")
        sess.valid.fill_(True)
        if attn is not None:
            sess.valid[:, :prompt_len] = attn.bool()
        if sess.out.shape[1] < max_new_tokens:
            # A new buffer changes the address a captured graph writes to: recapture.
            sess.out = torch.zeros((batch, max_new_tokens), dtype=torch.long, device=self.device)
            sess.graph = None
        sess.out.zero_()
        sess.out[:, 0] = first
        sess.tok.copy_(first.view(batch, 1))
        sess.pos.copy_((positions.amax(dim=(0, 2)) + 1).view(1, batch, 1).expand(3, batch, 1))
        sess.cpos.fill_(prompt_len)
        sess.step.fill_(1)
        if eos:
            sess.eos[: len(eos)] = torch.tensor(eos, device=self.device)
            sess.eos[len(eos):] = eos[0]
        sess.pad.fill_(pad)
        sess.min_new.fill_(min_new_tokens)
        sess.finished.copy_(torch.isin(first, sess.eos) if eos else torch.zeros_like(sess.finished))

    # ---- decode step ----------------------------------------------------------------------------
    def _mask(self, sess: _Session) -> torch.Tensor:
        allowed = sess.valid & (sess.slots <= sess.cpos)  # (batch, cache_len)
        mask = allowed[:, None, None, :]
        dtype = self.model.dtype
        if _attn_impl(self.model) == "eager":  # eager attention adds the mask to the scores
            mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
        elif self.float_mask:  # what sdpa makes of the bool mask (0 / -inf in the query's dtype), once per step
            mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))
        return mask  # 4D: the model's mask builders pass it through unchanged

    def _attention_kernel(self):
        if self.sdpa_backend is None:
            return contextlib.nullcontext()
        from torch.nn.attention import SDPBackend, sdpa_kernel

        names = dict(cudnn="CUDNN_ATTENTION", efficient="EFFICIENT_ATTENTION", flash="FLASH_ATTENTION", math="MATH")
        return sdpa_kernel(getattr(SDPBackend, names[self.sdpa_backend]))

    def _forward(self, tok, pos, mask, cache) -> torch.Tensor:
        out = self.model(input_ids=tok, position_ids=pos, attention_mask=mask, past_key_values=cache,
                         use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :]

    def _step(self, sess: _Session, forward=None) -> None:
        """One token for every row, entirely on the device (capturable: no host sync, fixed shapes)."""
        with self._attention_kernel():
            logits = (forward or self._forward)(sess.tok, sess.pos, self._mask(sess), sess.cache)
        if sess.n_eos:
            # min_new_tokens: EOS is forbidden while fewer than min_new tokens exist (as generate does).
            block = (sess.step < sess.min_new).to(logits.dtype) * torch.finfo(logits.dtype).min
            logits = logits.index_add(1, sess.eos, block.expand(logits.shape[0], sess.eos.shape[0]).contiguous())
        nxt = logits.argmax(dim=-1)
        if sess.n_eos:
            nxt = torch.where(sess.finished, sess.pad, nxt)
            sess.finished |= torch.isin(nxt, sess.eos)
        sess.out.index_copy_(1, sess.step.view(1), nxt.view(-1, 1))
        sess.tok.copy_(nxt.view(-1, 1))
        sess.pos.add_(1)
        sess.cpos.add_(1)
        sess.step.add_(1)

    def _ensure_graph(self, sess: _Session, mode: str, max_new_tokens: int) -> float:
        if sess.capture == mode and (sess.graph is not None or sess.forward is not None):
            return 0.0
        t0 = time.perf_counter()
        saved = [t.clone() for t in sess.state()]
        try:
            forward = self._inexact_forward(mode) if mode in compiled_decode.INEXACT_MODES else self._forward
            return self._capture(sess, mode, forward, saved, t0)
        except Exception as exc:  # noqa: BLE001 - compile stacks raise many types; only auto recovers
            if self.mode != "auto" or mode == "graph":
                raise
            for t, s in zip(sess.state(), saved):
                t.copy_(s)
            self.auto_fallback = f"{mode} step not made ({type(exc).__name__}: {str(exc)[:200]}); graph"
            log.warning("fast decode auto: %s", self.auto_fallback)
            return self._capture(sess, "graph", self._forward, saved, t0)

    def _capture(self, sess: _Session, mode: str, forward, saved: list, t0: float) -> float:
        """Warm ``forward`` up (compiling it) and capture the step in a CUDA graph (without CUDA: keep the
        forward for the loop); the decode state is put back as it was (``saved``)."""
        if self.device.type != "cuda":
            # No CUDA graph: compile on one throw-away step, then the loop calls the compiled forward.
            self._step(sess, forward)
            for t, s in zip(sess.state(), saved):
                t.copy_(s)
            sess.forward, sess.capture = forward, mode
            return time.perf_counter() - t0
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(2):  # warm-up (and compile) outside the capture
                self._step(sess, forward)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        for t, s in zip(sess.state(), saved):
            t.copy_(s)
        graph = torch.cuda.CUDAGraph()
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        with torch.cuda.graph(graph, pool=self._pool):
            self._step(sess, forward)
        for t, s in zip(sess.state(), saved):  # capture ran nothing, but be explicit
            t.copy_(s)
        sess.graph, sess.capture = graph, mode
        torch.cuda.synchronize(self.device)
        return time.perf_counter() - t0

    def _inexact_forward(self, mode: str):
        if mode not in self._inexact:
            cd = compiled_decode
            self._inexact[mode] = (
                cd.compiled_forward(self._forward, self.device.type, self.emulate_precision_casts)
                if mode == "compiled" else
                cd.regional_forward(self.model, self._forward, self.regional_parts, self.emulate_precision_casts))
        return self._inexact[mode]

    def _session(self, batch: int, cache_len: int, n_eos: int, mode: str) -> _Session:
        key = (batch, cache_len, n_eos)
        sess = self._sessions.pop(key, None)
        if sess is None:
            while len(self._sessions) >= self.max_sessions:
                self._sessions.pop(next(iter(self._sessions)))
            sess = _Session(self.model, batch, cache_len, n_eos, self.device,
                            capture=mode if mode in _GRAPH_MODES else None)
        self._sessions[key] = sess  # most recent last
        return sess


def greedy_generate(model, inputs, *, generation_config, streamer=None, mode: str = "auto") -> torch.Tensor:
    """Drop-in for ``model.generate(**inputs, generation_config=...)`` under greedy decoding, through a
    decoder made for this call (:meth:`FastDecoder.greedy` on a kept decoder reuses its sessions)."""
    return FastDecoder(model, mode).greedy(inputs, generation_config=generation_config, streamer=streamer)
