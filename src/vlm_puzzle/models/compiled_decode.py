"""The compiled decode steps of :class:`~vlm_puzzle.models.fast_decode.FastDecoder`, and where their
compiled kernels are kept.

* ``"regional"``: the decoder layers' MLP and RMSNorm compiled (one small graph each, shared by all
  layers: seconds to compile, not a minute); ``regional_parts`` (or $VLM_PUZZLE_REGIONAL_PARTS) names the
  parts: "mlp", "norm", "rope" (the text attention's rotary embedding, ``apply_rotary_pos_emb``: ten small
  elementwise kernels per layer become one or two; with ``emulate_precision_casts`` the same roundings as
  eager, as it has no reduction and no transcendental). RMSNorm's reduction is the likelier source of
  rounding differences. Two more parts fuse projections instead of compiling: "qkv" (the attention's q, k
  and v projections as one GEMM on their concatenated weights and biases) and "gateup" (the MLP's gate and
  up projections likewise; inside the compiled MLP when "mlp" is named too). One GEMM over concatenated
  rows computes each output element as the separate GEMMs do (bit-identical on the H200 for the 3B's
  shapes, ``experiments/gpu_fusion_probe.py``; on CPU, tests/test_fast_decode.py).
* ``"compiled"``: the whole step's forward through ``torch.compile`` (fused kernels, autotuned matmuls;
  $VLM_PUZZLE_COMPILE_MODE names another ``torch.compile`` mode). Over a minute to compile the first
  time on a machine.
* Both take ``emulate_precision_casts`` (argument, or $VLM_PUZZLE_EMULATE_PRECISION=1): Inductor then
  rounds fused intermediates to bf16/fp16 where eager rounds them (closer to eager's numbers;
  ``experiments/gpu_next_session.sh`` measures whether the tokens become identical).

Compiled kernels can round differently from eager ones, so tokens can differ from ``generate``'s:
``"compiled"`` (autotuned matmuls) is opt-in; ``"regional"`` with ``emulate_precision_casts`` and the parts
``mlp,norm,rope`` (with or without the fused ``qkv`` and ``gateup``) gave ``graph``'s tokens on the H200
(random 3B and the trained vlm-puzzle-tiny); with ``qkv`` it is what ``"auto"`` runs on CUDA
(``fast_decode.AUTO_CUDA_MODE``, ``AUTO_REGIONAL_PARTS``). While a compiled step runs, Inductor's on-disk caches (FX graphs,
AOTAutograd, autotuning, Triton kernels) point at :func:`compile_cache_dir` (:func:`compile_cache`), so
only the first process on a machine pays the full compile; the environment is restored afterwards.
"""
from __future__ import annotations

import os
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping

import torch
import torch.nn.functional as F

from vlm_puzzle.models import lean_import

INEXACT_MODES = ("regional", "compiled")
REGIONAL_PARTS = ("mlp", "norm", "rope", "qkv", "gateup")
_CACHE_VARS = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
_OFF = ("off", "0", "none")


def compile_cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where compiled kernels persist across processes: $VLM_PUZZLE_COMPILE_CACHE, else
    $XDG_CACHE_HOME/vlm_puzzle/torch_compile (~/.cache/...); None if that variable is "off"."""
    env = environ.get("VLM_PUZZLE_COMPILE_CACHE")
    if env and env.lower() in _OFF:
        return None
    if env:
        return Path(env).expanduser()
    base = Path(environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return base / "vlm_puzzle" / "torch_compile"


@contextmanager
def compile_cache() -> Iterator[Path | None]:
    """Inductor's and Triton's cache folders under :func:`compile_cache_dir` inside the block, the
    environment as it was after it (Inductor reads these folders from the environment only).

    An explicit $VLM_PUZZLE_COMPILE_CACHE wins over a TORCHINDUCTOR_CACHE_DIR already set (Inductor writes
    its default into that variable the first time it looks, so "set if unset" would lose to an earlier
    compile); the default folder only fills unset variables; "off" leaves Inductor's own default."""
    path = compile_cache_dir()
    if path is None:
        yield None
        return
    path.mkdir(parents=True, exist_ok=True)
    explicit = bool(os.environ.get("VLM_PUZZLE_COMPILE_CACHE"))
    saved = {k: os.environ.get(k) for k in _CACHE_VARS}
    for key, sub in zip(_CACHE_VARS, ("inductor", "triton")):
        if explicit or saved[key] is None:
            os.environ[key] = str(path / sub)
    try:
        yield path
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def emulate_default(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("VLM_PUZZLE_EMULATE_PRECISION", "0").lower() in ("1", "true", "yes", "on")


def regional_parts(parts: str | None, environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The parts "regional" compiles or fuses: ``parts`` ("mlp,norm", "mlp,norm,rope,qkv"), else
    $VLM_PUZZLE_REGIONAL_PARTS, else "mlp,norm". ValueError for anything else."""
    text = parts or environ.get("VLM_PUZZLE_REGIONAL_PARTS", "mlp,norm")
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    if not names or not set(names) <= set(REGIONAL_PARTS):
        raise ValueError(f"regional_parts must name some of {', '.join(REGIONAL_PARTS)}, not {text!r}")
    return names


def compile_options(mode: str | None, emulate: bool) -> dict:
    """torch.compile ``options`` for a named mode plus ``emulate_precision_casts`` (compile takes
    options or mode, not both)."""
    import torch._inductor

    opts = dict(torch._inductor.list_mode_options(mode)) if mode else {}
    if emulate:
        opts["emulate_precision_casts"] = True
    return opts


def _in_compile_cache(fn: Callable) -> Callable:
    """``fn`` run inside :func:`compile_cache`: compiles (first call, new shapes) land in that cache. The
    transformers code the compile may trace sees real objects, not lean_import's stand-ins."""
    def run(*args):
        with compile_cache():
            lean_import.resolve_for_tracing()
            return fn(*args)

    return run


def compiled_forward(forward: Callable, device_type: str, emulate: bool) -> Callable:
    """The step's ``forward`` through ``torch.compile``, without CUDA graphs inside (the decoder captures
    the whole step itself)."""
    mode = os.environ.get("VLM_PUZZLE_COMPILE_MODE", "max-autotune-no-cudagraphs")
    if device_type != "cuda" and "VLM_PUZZLE_COMPILE_MODE" not in os.environ:
        mode = None  # CPU: no GEMM autotuning (minutes on a small CPU for nothing)
    compiled = torch.compile(forward, dynamic=False, fullgraph=False, options=compile_options(mode, emulate))
    return _in_compile_cache(compiled)


def _fused_mlp(mlp, x, gate_up: torch.Tensor, inter: int):
    """``mlp.forward`` (``down(act(gate(x)) * up(x))``) with gate and up as one GEMM on their concatenated
    weights: the same products as the two GEMMs (each output element is one row's dot product)."""
    gate, up = F.linear(x, gate_up).split(inter, dim=-1)
    return mlp.down_proj(mlp.act_fn(gate) * up)


def _fused(linears) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The linears' weights (and biases) concatenated along the outputs: one GEMM for all of them.

    A copy, not the parameters re-pointed at blocks of one tensor: fast_load's parameters are views of
    one buffer per shard, which would stay allocated anyway, and moving them would change the alignment
    the prefill's GEMMs see (and so, possibly, their choice of kernel)."""
    if any(type(m) is not torch.nn.Linear for m in linears):
        raise ValueError(f"fused projections need plain nn.Linear, not {sorted({type(m).__name__ for m in linears})}")
    weight = torch.cat([m.weight for m in linears])
    bias = None if linears[0].bias is None else torch.cat([m.bias for m in linears])
    return weight, bias


def _qkv_forwards(attn) -> list[tuple[torch.nn.Module, Callable]]:
    """Forwards for ``attn``'s q, k and v projections that run ONE GEMM on their concatenated weights:
    q's computes all three and keeps k's and v's outputs, which k and v then hand back for the same input
    (any other input: their own linear, so a call order other than q, k, v stays exact)."""
    projs = (attn.q_proj, attn.k_proj, attn.v_proj)
    weight, bias = _fused(projs)
    sizes = [p.weight.shape[0] for p in projs]
    kept: dict[str, torch.Tensor] = {}

    def q(x):
        out, kept["k"], kept["v"] = F.linear(x, weight, bias).split(sizes, dim=-1)
        kept["x"] = x
        return out

    def handed(proj, key):
        def forward(x):
            if kept.get("x") is x and key in kept:
                return kept.pop(key)
            return F.linear(x, proj.weight, proj.bias)
        return forward

    return [(projs[0], q), (projs[1], handed(projs[1], "k")), (projs[2], handed(projs[2], "v"))]


def regional_forward(model, forward: Callable, parts: tuple[str, ...], emulate: bool) -> Callable:
    """The step's ``forward`` with every decoder layer's MLP, RMSNorms and rotary embedding (``parts``) running
    compiled code, and (``"qkv"``, ``"gateup"``) the attention's q/k/v projections and the MLP's gate/up
    projections each as one GEMM on concatenated weights (copies made here: +0.4 GB for qkv, +3.2 GB for
    gateup on the 3B; eager unless "mlp" is compiled too; weights changed after this keep their old copies
    here: make a new decoder then).

    The compiled functions are the classes' forwards (and the attention module's ``apply_rotary_pos_emb``),
    so all layers share one graph each; they are bound to the modules (the module global) only while the
    step runs (warm-up and capture), so the prefill and plain ``generate`` keep the eager code."""
    import sys

    lm = model.model.language_model
    norms = "norm" in parts  # RMSNorm is a reduction: its order may differ from eager's
    options = compile_options(None, emulate)
    bound: list[tuple[torch.nn.Module, Callable]] = []
    if "gateup" in parts:
        fn = _fused_mlp
        if "mlp" in parts:
            fn = torch.compile(_fused_mlp, dynamic=False, fullgraph=True, options=options)
        for layer in lm.layers:
            mlp = layer.mlp
            gate_up, _ = _fused((mlp.gate_proj, mlp.up_proj))
            inter = mlp.gate_proj.weight.shape[0]
            bound.append((mlp, lambda x, mlp=mlp, w=gate_up, n=inter: fn(mlp, x, w, n)))
    mods = [m for layer in lm.layers for m in ((layer.mlp,) if "mlp" in parts and "gateup" not in parts else ())
            + ((layer.input_layernorm, layer.post_attention_layernorm) if norms else ())]
    mods += [lm.norm] if norms else []
    compiled: dict[type, Callable] = {}
    for m in mods:
        cls = type(m)
        if cls not in compiled:
            compiled[cls] = torch.compile(cls.forward, dynamic=False, fullgraph=True, options=options)
    bound += [(m, types.MethodType(compiled[type(m)], m)) for m in mods]
    if "qkv" in parts:
        bound += [pair for layer in lm.layers for pair in _qkv_forwards(layer.self_attn)]
    globs: list[tuple[dict, str, Callable, Callable]] = []  # (module dict, name, eager, compiled)
    if "rope" in parts:
        attn_module = vars(sys.modules[type(lm.layers[0].self_attn).__module__])
        eager = attn_module.get("apply_rotary_pos_emb")
        if eager is None:
            raise ValueError(f"regional rope: {type(lm.layers[0].self_attn).__module__} has no apply_rotary_pos_emb")
        globs.append((attn_module, "apply_rotary_pos_emb", eager,
                      torch.compile(eager, dynamic=False, fullgraph=True, options=options)))

    def step(tok, pos, mask, cache):
        for m, fn in bound:
            m.forward = fn
        for d, name, _, fn in globs:
            d[name] = fn
        try:
            return forward(tok, pos, mask, cache)
        finally:
            for m, _ in bound:
                del m.forward
            for d, name, eager, _ in globs:
                d[name] = eager

    return _in_compile_cache(step)
