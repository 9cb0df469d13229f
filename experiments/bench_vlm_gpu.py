"""GPU benchmark of rule inference (prefill + greedy decode) for the Qwen-VL architectures.

Builds each architecture with random weights directly on the GPU (no hub access needed), feeds a fixed
prompt with one synthetic image per puzzle, decodes a fixed number of new tokens (EOS disabled) and
prints one row per (arch, image size, batch, mode):

    load s | warm-up s | prefill ms | decode ms/token | tokens/s | puzzles/s | end-to-end s | peak GiB

Modes:
  hf-dynamic   plain ``model.generate`` greedy, default dynamic KV cache (the baseline)
  hf-static    ``model.generate`` with ``cache_implementation="static"`` (transformers compiles the forward)
  static       vlm_puzzle fast loop: static KV cache, argmax/EOS on device, no CUDA graph
  graph        ... plus the one-token decode step captured in an explicit CUDA graph
  regional     ... plus the decoder layers' MLP, RMSNorm and/or rotary embedding compiled (shared by all layers);
               with --emulate on and --regional-parts mlp+norm+rope+qkv it is what decode="auto" runs on CUDA
  compiled     ... plus the whole step's forward compiled with torch.compile before capture
Fast modes run as MODE:vb-on / MODE:vb-off: with / without the batched vision attention in the prefill;
regional/compiled also as ...:em-off / ...:em-on: Inductor's emulate_precision_casts (``--emulate``);
regional as ...:rp-mlp+norm / ...:rp-mlp+norm+rope+qkv+gateup: which decoder parts are compiled, and which
projections are fused into one GEMM (qkv, gateup) (``--regional-parts``); every fast mode also as
...:mk-bool / ...:mk-float (the decode step's sdpa mask passed as bool, or built once as 0/-inf: the
default) and ...:sb-BACKEND (the step's attention kernel forced) through ``--variants``.

Timing: CUDA-synchronised wall clock; ``warmup`` untimed calls first, then the median of ``repeats`` runs.
prefill ms = median time of a call with 1 new token; decode ms/token = (t(N) - t(1)) / (N - 1).

Checkpoint loading (``--load DIR``; ``--load-device cpu`` runs without a GPU) times from_pretrained, the
QwenVL wrapper's plain / fast loads and fast_load's parts, each in a fresh process, and compares fast and
plain loads bit for bit; ``--save-random DIR`` writes a random-weight checkpoint without the slow init.
Issue 7's GPU measurements in one device command: ``experiments/gpu_next_session.sh``.

Example (one H100, well under 10 minutes)::

    python experiments/bench_vlm_gpu.py --archs qwen2.5-vl-3b --batches 1 16 --modes hf-dynamic graph \
        --new-tokens 64 --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Architecture configs as published on the hub (config.json), used when the repo's models/configs lacks one.
_COMMON_TEXT = dict(
    bos_token_id=151643, eos_token_id=151645, vision_start_token_id=151652, vision_end_token_id=151653,
    vision_token_id=151654, image_token_id=151655, video_token_id=151656, hidden_act="silu",
    max_position_embeddings=128000, rms_norm_eps=1e-6, use_sliding_window=False, attention_dropout=0.0,
)
ARCHS = {
    "qwen2-vl-2b": dict(
        model_type="qwen2_vl", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
        num_attention_heads=12, num_key_value_heads=2, vocab_size=151936, rope_theta=1000000.0,
        tie_word_embeddings=True, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
        vision_config=dict(depth=32, embed_dim=1280, mlp_ratio=4, num_heads=16, in_chans=3, hidden_size=1536,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
        **_COMMON_TEXT,
    ),
    "qwen2.5-vl-3b": dict(
        model_type="qwen2_5_vl", hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
        num_attention_heads=16, num_key_value_heads=2, vocab_size=151936, rope_theta=1000000.0,
        tie_word_embeddings=True, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
        vision_config=dict(depth=32, hidden_act="silu", hidden_size=1280, intermediate_size=3420, num_heads=16,
                           in_chans=3, out_hidden_size=2048, patch_size=14, spatial_merge_size=2,
                           spatial_patch_size=14, window_size=112, fullatt_block_indexes=[7, 15, 23, 31],
                           tokens_per_second=2, temporal_patch_size=2),
        **_COMMON_TEXT,
    ),
    "qwen2.5-vl-7b": dict(
        model_type="qwen2_5_vl", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
        num_attention_heads=28, num_key_value_heads=4, vocab_size=152064, rope_theta=1000000.0,
        tie_word_embeddings=False, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
        vision_config=dict(depth=32, hidden_act="silu", hidden_size=1280, intermediate_size=3420, num_heads=16,
                           in_chans=3, out_hidden_size=3584, patch_size=14, spatial_merge_size=2,
                           spatial_patch_size=14, window_size=112, fullatt_block_indexes=[7, 15, 23, 31],
                           tokens_per_second=2, temporal_patch_size=2),
        **_COMMON_TEXT,
    ),
    "qwen3-vl-4b": dict(
        model_type="qwen3_vl", image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
        vision_end_token_id=151653, tie_word_embeddings=True,
        text_config=dict(
            model_type="qwen3_vl_text", hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
            num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936, hidden_act="silu",
            max_position_embeddings=262144, rms_norm_eps=1e-6, rope_theta=5000000, attention_bias=False,
            bos_token_id=151643, eos_token_id=151645, tie_word_embeddings=True,
            rope_scaling={"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": True},
        ),
        vision_config=dict(
            model_type="qwen3_vl", depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, in_channels=3,
            out_hidden_size=2560, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
            num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17], hidden_act="gelu_pytorch_tanh",
        ),
    ),
}


def load_config(arch: str):
    """The repo's config (src/vlm_puzzle/models/configs/<arch>.json) if present, else the built-in one."""
    from transformers import AutoConfig

    path = ROOT / "src" / "vlm_puzzle" / "models" / "configs" / f"{arch}.json"
    cfg = json.loads(path.read_text()) if path.exists() else dict(ARCHS[arch])
    cfg = dict(cfg)
    model_type = cfg.pop("model_type")
    return AutoConfig.for_model(model_type, **cfg), ("repo" if path.exists() else "builtin")


def model_class(config):
    import transformers

    name = {"qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
            "qwen3_vl": "Qwen3VLForConditionalGeneration"}[config.model_type]
    return getattr(transformers, name)


def make_inputs(config, batch: int, image_px: int, prompt_tokens: int, device, ragged: bool = False):
    """A chat-like prompt per puzzle: text, <vision_start>, image pads, <vision_end>, text. Random pixels.

    ``ragged`` gives the puzzles different prompt lengths (left padding), as a real batch has.
    """
    import torch

    vc = config.vision_config
    patch = vc.patch_size
    merge = vc.spatial_merge_size
    tp = vc.temporal_patch_size
    in_ch = getattr(vc, "in_channels", getattr(vc, "in_chans", 3))
    side = image_px // patch
    side -= side % merge
    n_patch = side * side
    n_vis = n_patch // (merge * merge)
    g = torch.Generator().manual_seed(0)
    rows = []
    for b in range(batch):
        extra = (b % 4) * 3 if ragged else 0
        pre = torch.randint(1000, 150000, (14,), generator=g).tolist()
        post = torch.randint(1000, 150000, (max(prompt_tokens - 14, 1) - extra,), generator=g).tolist()
        rows.append(pre + [config.vision_start_token_id] + [config.image_token_id] * n_vis
                    + [config.vision_end_token_id] + post)
    width = max(len(r) for r in rows)
    pad = 151643
    input_ids = torch.full((batch, width), pad, dtype=torch.long)
    attn = torch.zeros((batch, width), dtype=torch.long)
    for b, r in enumerate(rows):
        input_ids[b, width - len(r):] = torch.tensor(r)
        attn[b, width - len(r):] = 1
    mm = (input_ids == config.image_token_id).to(torch.int32)
    pixel_values = torch.randn((batch * n_patch, in_ch * tp * patch * patch), generator=g)
    grid = torch.tensor([[1, side, side]] * batch, dtype=torch.long)
    inputs = dict(input_ids=input_ids, attention_mask=attn, pixel_values=pixel_values, image_grid_thw=grid,
                  mm_token_type_ids=mm)
    inputs = {k: v.to(device) for k, v in inputs.items()}
    inputs["pixel_values"] = inputs["pixel_values"].to(torch.bfloat16)
    return inputs, n_vis, width


def versions() -> dict:
    import torch
    import transformers

    info = dict(python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__,
                cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, gpu_mem_gib=round(p.total_memory / 2**30, 1), sms=p.multi_processor_count)
    try:
        info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                        capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # noqa: BLE001 - informational only
        pass
    return info


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    ts = []
    for _ in range(repeats):
        _sync()
        t0 = time.perf_counter()
        fn()
        _sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def decoder_for(model, mode: str, name: str | None = None):
    """A FastDecoder for a bench mode string MODE[:vb-..][:em-..][:rp-a+b][:mk-float|bool][:sb-BACKEND]
    (``name`` overrides MODE: the profile runs "graph" as "static")."""
    from vlm_puzzle.models.fast_decode import FastDecoder

    parts = mode.split(":")
    opt = {p[:2]: p[3:] for p in parts[1:] if len(p) > 3 and p[2] == "-"}
    rp = opt.get("rp")
    return FastDecoder(model, name or parts[0], batch_vision=opt.get("vb") != "off",
                       emulate_precision_casts=opt.get("em") == "on", regional_parts=rp and rp.replace("+", ","),
                       float_mask=None if "mk" not in opt else opt["mk"] == "float", sdpa_backend=opt.get("sb"))


def run_mode(model, inputs, mode: str, new_tokens: int, repeats: int, warmup: int) -> dict:
    import torch
    from transformers import GenerationConfig

    # EOS disabled so that every run decodes exactly `new_tokens` tokens.
    if mode.startswith("hf-"):
        cache = "static" if mode == "hf-static" else None

        def gen(n):
            gc = GenerationConfig(do_sample=False, max_new_tokens=n, min_new_tokens=n, eos_token_id=None,
                                  pad_token_id=151643, cache_implementation=cache, use_cache=True)
            with torch.inference_mode():
                return model.generate(**inputs, generation_config=gc)
    else:
        dec = getattr(model, "_bench_fast", {}).get(mode)
        if dec is None:
            dec = decoder_for(model, mode)
            model.__dict__.setdefault("_bench_fast", {})[mode] = dec

        def gen(n):
            return dec.generate(inputs, max_new_tokens=n, eos_token_id=None, pad_token_id=151643)

    _sync()
    t0 = time.perf_counter()
    out_first = gen(new_tokens)  # first call pays compilation / graph capture
    capture_s = dec.last_stats.get("warmup_s", 0.0) if not mode.startswith("hf-") else None
    gen(1)
    _sync()
    first_s = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        gen(new_tokens)
        gen(1)
    t1, _ = timed(lambda: gen(1), repeats)
    tn, all_n = timed(lambda: gen(new_tokens), repeats)
    n_out = out_first.shape[-1] - (inputs["input_ids"].shape[1] if mode.startswith("hf-") else 0)
    return dict(first_call_s=first_s, capture_or_compile_s=capture_s, prefill_ms=t1 * 1e3, e2e_s=tn, e2e_all_s=all_n,
                decode_ms_per_step=(tn - t1) * 1e3 / max(new_tokens - 1, 1), new_tokens_out=int(n_out),
                tokens=out_first[..., -min(new_tokens, 8):].tolist())


def bench(args) -> list[dict]:
    import torch

    rows = []
    for arch in args.archs:
        try:
            config, src = load_config(arch)
        except (KeyError, ValueError) as exc:
            print(f"skip {arch}: {exc}", flush=True)
            continue
        config._attn_implementation = args.attn
        for sub in ("text_config", "vision_config"):
            if hasattr(config, sub):
                getattr(config, sub)._attn_implementation = args.attn
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        torch.manual_seed(0)
        with torch.device("cuda"):
            model = model_class(config)._from_config(config, dtype=torch.bfloat16, attn_implementation=args.attn)
        model.eval()
        torch.cuda.synchronize()
        load_s = time.perf_counter() - t0
        weights_gib = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
        print(f"{arch}: built on GPU in {load_s:.1f}s, {weights_gib:.2f} GiB weights ({src} config)", flush=True)
        if args.save:
            save_checkpoint(model, config, args.save)
        for px in args.image_px:
            for batch in args.batches:
                inputs, n_vis, width = make_inputs(config, batch, px, args.prompt_tokens, "cuda", args.ragged)
                modes = [m for m in args.modes if m.startswith("hf-")] + _fast_modes(args, args.vision_batch)
                for mode in modes:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                    try:
                        r = run_mode(model, inputs, mode, args.new_tokens, args.repeats, args.warmup)
                    except Exception as exc:  # noqa: BLE001 - a failed mode is reported, others still run
                        print(f"  {arch} {px}px b{batch} {mode}: FAILED {type(exc).__name__}: {exc}", flush=True)
                        rows.append(dict(arch=arch, image_px=px, batch=batch, mode=mode, error=repr(exc)[:500]))
                        continue
                    r.update(arch=arch, image_px=px, visual_tokens=n_vis, prompt_len=width, batch=batch, mode=mode,
                             attn=args.attn, new_tokens=args.new_tokens, load_s=load_s,
                             weights_gib=weights_gib, peak_gib=torch.cuda.max_memory_allocated() / 2**30)
                    r["tok_per_s"] = batch * args.new_tokens / r["e2e_s"]
                    r["puzzles_per_s"] = batch / r["e2e_s"]
                    if args.check and not mode.startswith("hf-"):
                        r.update(check_equal(model, inputs, mode, args.new_tokens))
                    if args.profile and not mode.startswith("hf-") and batch in (args.profile_batches or [batch]):
                        args.profile.mkdir(parents=True, exist_ok=True)
                        try:
                            profile_step(model, inputs, mode, args.profile / f"profile_b{batch}_{mode.replace(':', '_')}.txt")
                        except Exception as exc:  # noqa: BLE001 - a diagnostic only
                            print(f"  profile {mode} failed: {exc!r}"[:300], flush=True)
                    rows.append(r)
                    print("  " + fmt_row(r), flush=True)
                    save(args, rows)
        del model
        torch.cuda.empty_cache()
    return rows


def check_equal(model, inputs, mode: str, new_tokens: int) -> dict:
    """Share of new tokens equal to generate's, per reference: static cache without compile (the same
    kernels as the fast path's eager forward) and the default dynamic cache."""
    import torch
    from transformers import GenerationConfig

    got = model._bench_fast[mode].generate(inputs, max_new_tokens=new_tokens, eos_token_id=None,
                                           pad_token_id=151643)
    res = {}
    for name, cache in (("eq_static", "static"), ("eq_dynamic", None)):
        gc = GenerationConfig(do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                              eos_token_id=None, pad_token_id=151643, cache_implementation=cache,
                              disable_compile=True)
        with torch.inference_mode():
            ref = model.generate(**inputs, generation_config=gc)[:, inputs["input_ids"].shape[1]:]
        res[name] = float((ref == got).float().mean())
        # tokens until the first difference, per row (a difference changes everything after it)
        diff = (ref != got).int()
        res[name + "_prefix"] = float(torch.where(diff.any(1), diff.argmax(1), diff.shape[1]).float().mean())
    return res


def save(args, rows) -> None:
    env = getattr(args, "_env", {})
    if args.json:
        args.json.write_text(json.dumps(dict(env=env, argv=sys.argv, rows=rows), indent=1, default=str))
    if args.markdown:
        args.markdown.write_text(markdown(rows, env, sys.argv))


def save_checkpoint(model, config, out: Path) -> None:
    """The random-weight model as a local checkpoint (safetensors) plus a processor, for load timing."""
    sys.path.insert(0, str(ROOT / "tests"))
    import tiny_qwen

    t0 = time.perf_counter()
    model.save_pretrained(out, max_shard_size="4GB")  # 2 shards, as the published 3B
    arch = config.model_type
    tiny_qwen.build_processor(arch if arch in tiny_qwen.ARCHS else "qwen2_5_vl").save_pretrained(out)
    os.sync()
    print(f"saved checkpoint to {out} in {time.perf_counter() - t0:.1f}s", flush=True)


def save_random_checkpoint(arch: str, out: Path, device: str = "cpu", max_shard_size: str = "2GB") -> Path:
    """A random-weight ``arch`` checkpoint (bf16 safetensors, save_pretrained) plus a tiny processor, built
    without transformers' slow weight init: allocate under ``no_init_weights``, then fill each tensor
    in place (normal(0, 0.02), norms 1). On CPU the shards bound the extra memory of saving (one
    shard's bytes at a time), so the peak stays near one copy of the weights (3B: ~7.5 GB)."""
    import torch
    from transformers.initialization import no_init_weights

    sys.path.insert(0, str(ROOT / "tests"))
    import tiny_qwen

    t0 = time.perf_counter()
    config, _ = load_config(arch)
    gen = torch.Generator(device).manual_seed(0)
    with torch.device(device), no_init_weights():
        model = model_class(config)._from_config(config, dtype=torch.bfloat16)
    model.tie_weights()  # tied lm_head: one tensor, not saved twice (as published checkpoints)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or ".norm" in name and name.endswith(".weight"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=gen)
    t_fill = time.perf_counter() - t0
    model.save_pretrained(out, max_shard_size=max_shard_size)
    del model
    tiny_qwen.build_processor(config.model_type if config.model_type in tiny_qwen.ARCHS else "qwen2_5_vl"
                              ).save_pretrained(out)
    os.sync()
    print(f"random {arch} checkpoint in {out}: built {t_fill:.1f}s, saved {time.perf_counter() - t0:.1f}s total",
          flush=True)
    return Path(out)


LOAD_VARIANTS = ("plain", "wrapper", "wrapper_fast", "wrapper_stream", "read_safetensors", "fast_load", "compare",
                 "imports", "wrapper_fast_ordinary", "first_call", "first_call_ordinary")


def load_times(path: Path, drop_caches: bool, variants=LOAD_VARIANTS, device: str = "cuda") -> dict:
    """Seconds to load a local checkpoint onto ``device``, each variant in a fresh process (imports included,
    as a user sees it): plain ``from_pretrained(device_map=device)``, the QwenVL wrapper with ``load="plain"``
    / ``load="fast"`` (processor included; on CUDA the read is prefetched in a thread) / ``load="fast"``
    streaming without prefetch (``wrapper_stream``), ``fast_load.read_safetensors`` (bytes only) and
    ``fast_load.load_fast``; ``compare`` loads both ways in one process and counts the parameters and
    buffers that are not bit-identical (must be 0)."""
    res = {}
    p, dev = str(path), device
    sync = "torch.cuda.synchronize()" if dev.startswith("cuda") else "None"
    pre = "import sys,time,torch; sys.path.insert(0, 'src'); "
    plain = (pre + "import transformers as t; t0=time.perf_counter(); "
             f"m=t.AutoModelForImageTextToText.from_pretrained({p!r}, dtype=torch.bfloat16, "
             f"device_map={{'': {dev!r}}}, attn_implementation='sdpa'); {sync}; print('LOAD', time.perf_counter()-t0)")
    wrapper = (pre + "from vlm_puzzle.models.qwen import QwenVL; t0=time.perf_counter(); "
               f"v=QwenVL.from_pretrained({p!r}, device={dev!r}, dtype='bf16', attn_implementation='sdpa', load=%r); "
               f"{sync}; print('LOAD', time.perf_counter()-t0, v.load_s, v.load_path, v.load_reason, "
               "{k: round(x, 3) for k, x in v.load_stats.items()})")
    raw = (pre + "from vlm_puzzle.models.fast_load import read_safetensors; "
           f"t0=time.perf_counter(); sd=read_safetensors({p!r}, {dev!r}); {sync}; "
           "print('LOAD', time.perf_counter()-t0, sum(t.numel()*t.element_size() for t in sd.values())/2**30, 'GiB')")
    fast = (pre + "from vlm_puzzle.models import fast_load; "
            f"t0=time.perf_counter(); st={{}}; m, why=fast_load.load_fast({p!r}, device={dev!r}, "
            f"attn_implementation='sdpa', stats=st); {sync}; print('LOAD', time.perf_counter()-t0, st, why)")
    compare = (pre + "import transformers as t; from vlm_puzzle.models import fast_load; "
               f"a, why = fast_load.load_fast({p!r}, device={dev!r}, attn_implementation='sdpa'); "
               f"b = t.AutoModelForImageTextToText.from_pretrained({p!r}, dtype=torch.bfloat16, "
               f"device_map={{'': {dev!r}}}, attn_implementation='sdpa'); "
               "ta = dict(a.named_parameters()) | dict(a.named_buffers()); tb = dict(b.named_parameters()) | dict(b.named_buffers()); "
               "bad = sorted(ta.keys() ^ tb.keys()) + [k for k in ta.keys() & tb.keys() if ta[k].dtype != tb[k].dtype or not torch.equal(ta[k], tb[k])]; "
               "print('LOAD', len(bad), len(ta), bad[:5], a.generation_config.to_dict() == b.generation_config.to_dict())")
    # What a fresh process pays before any weights: transformers, the model class, the processor classes.
    imports = (pre + "t0=time.perf_counter(); import transformers as t; t.AutoModelForImageTextToText; "
               "t1=time.perf_counter(); import transformers.models.qwen2_5_vl.modeling_qwen2_5_vl; "
               "t2=time.perf_counter(); t.AutoProcessor; import transformers.models.qwen2_5_vl.processing_qwen2_5_vl; "
               "t3=time.perf_counter(); torch.zeros(1, device=" + repr(dev) + "); " + sync + "; t4=time.perf_counter(); "
               "print('LOAD', t4-t0, dict(transformers=t1-t0, modeling=t2-t1, processing=t3-t2, device_init=t4-t3))")
    # A user's process from its start: torch, the wrapper's load (lean imports unless *_ordinary), then the
    # first and second 64-token answer of the default decode (batch 1, 324 visual tokens; the compile cache of
    # an earlier process on this machine, if any, is used): "the first call on a machine that ran before".
    first = ("import sys,time; T0=time.perf_counter(); import torch; sys.path.insert(0, 'src'); "
             "sys.path.insert(0, 'experiments'); T1=time.perf_counter(); "
             "from vlm_puzzle.models.qwen import QwenVL; from vlm_puzzle.models.fast_decode import FastDecoder; "
             f"v=QwenVL.from_pretrained({p!r}, device={dev!r}, dtype='bf16', attn_implementation='sdpa', load='fast'); "
             f"{sync}; T2=time.perf_counter(); import bench_vlm_gpu as B; "
             f"x, _, _ = B.make_inputs(v.model.config, 1, 504, 60, {dev!r}); d=FastDecoder(v.model); "
             "g=lambda: d.generate(x, max_new_tokens=64, eos_token_id=None, pad_token_id=151643); "
             f"a=g(); {sync}; T3=time.perf_counter(); b=g(); {sync}; T4=time.perf_counter(); "
             "print('LOAD', T2-T1, dict(torch_import=T1-T0, load=T2-T1, first_call=T3-T2, second_call=T4-T3, "
             "start_to_first_answer=T3-T0, mode=d.last_stats['mode'], same=bool(torch.equal(a, b)), "
             "load_stats={k: round(x, 3) for k, x in v.load_stats.items()}, "
             "heavy=[m for m in ('torch.distributed.tensor', 'torch._dynamo', 'scipy', 'sympy') if m in sys.modules], "
             "tokens_sha1=__import__('hashlib').sha1(a.cpu().numpy().tobytes()).hexdigest()[:16], "
             "first_tokens=a[0, :8].tolist()))")
    codes = dict(plain=plain, imports=imports, wrapper=wrapper % "plain", wrapper_fast=wrapper % "fast", wrapper_stream=wrapper % "fast",
                 read_safetensors=raw, fast_load=fast, compare=compare, wrapper_fast_ordinary=wrapper % "fast",
                 first_call=first, first_call_ordinary=first)
    ordinary = dict(os.environ, VLM_PUZZLE_LEAN_IMPORT="0")  # transformers' model code imported the ordinary way
    env = {"wrapper_stream": dict(os.environ, VLM_PUZZLE_LOAD_PREFETCH="0"),  # streamed: no prefetch
           "wrapper_fast_ordinary": ordinary, "first_call_ordinary": ordinary}
    for name in variants:
        code = codes[name]
        cold = drop_caches and name in ("plain", "wrapper_fast")
        for cache in (["cold", "warm"] if cold else ["warm"]):
            if cache == "cold":
                subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True, check=False)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                                  env=env.get(name))
            wall = time.perf_counter() - t0
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("LOAD")]
            res[f"{name}_{cache}"] = dict(load_s=float(line[0].split()[1]) if line else None, process_s=wall,
                                          out=line[0][5:][:1500] if line else "",
                                          err=proc.stderr[-600:] if not line else "")
            print(f"load {name} ({cache} page cache): {res[f'{name}_{cache}']}", flush=True)
            if args_json := os.environ.get("BENCH_LOAD_JSON"):
                Path(args_json).write_text(json.dumps(res, indent=1))
    return res


def _fast_modes(args, vision_batch=("on",)) -> list[str]:
    """The fast modes of ``--modes`` as mode strings for :func:`decoder_for` (regional/compiled with their
    variants, each ``--variants`` suffix: "mk-bool", "sb-efficient"...)."""
    return [f"{m}:vb-{vb}" + (f":em-{em}" if em else "") + (f":rp-{rp}" if rp else "") + (f":{v}" if v else "")
            for m in args.modes if not m.startswith("hf-") for vb in vision_batch
            for rp in (args.regional_parts if m == "regional" else [None])
            for em in (args.emulate if m in ("regional", "compiled") else [None])
            for v in args.variants]


def trained_check(args, path: Path | None = None) -> dict:
    """Exactness where it matters: the shipped TRAINED vlm-puzzle-tiny on the GPU, every picture of
    data/samples, the rule prompt, each fast mode against plain ``generate`` (decode="plain") at batch 1 and
    batch 8: share of identical token sequences, texts and parsed rules; free answers (EOS) and 48 forced
    tokens (EOS blocked: more steps where a rounding could flip a token)."""
    import torch

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.models.shipped import shipped_model_path
    from vlm_puzzle.rules.parse import parse_rule_answer
    from vlm_puzzle.rules.prompt import build_prompt

    images = sorted((ROOT / "data" / "samples").glob("*.png")) + sorted((ROOT / "data" / "samples").glob("*.jpg"))
    device = "cuda" if torch.cuda.is_available() else "cpu"  # CPU: the static loop stands in for the graph
    ref_vlm = QwenVL.from_pretrained(shipped_model_path(), device=device, decode="plain")
    prompt = build_prompt()
    out: dict = dict(model="vlm-puzzle-tiny", images=len(images), dtype=str(ref_vlm.model.dtype), rows=[])

    def rules(g):
        h = parse_rule_answer(g.text)
        return (h.kind, h.size, getattr(h, "box", None), getattr(h, "cage_op", None))

    for forced in (0, 48):
        kw = dict(max_new_tokens=96 if not forced else forced, min_new_tokens=forced)
        for batch in (1, 8):
            ref = ref_vlm.generate(images, prompt, batch_size=batch, **kw)
            for mode in ["graph"] + [m for m in _fast_modes(args) if m != "graph:vb-on"]:
                parts = mode.split(":")
                vlm = QwenVL(ref_vlm.model, ref_vlm.processor, min_pixels=ref_vlm.min_pixels,
                             max_pixels=ref_vlm.max_pixels, decode=parts[0])
                vlm._decoders[parts[0]] = decoder_for(ref_vlm.model, mode)
                try:
                    got = vlm.generate(images, prompt, batch_size=batch, **kw)
                except Exception as exc:  # noqa: BLE001 - reported, the others still run
                    out["rows"].append(dict(mode=mode, batch=batch, forced=forced, error=repr(exc)[:300]))
                    continue
                n = len(ref)
                row = dict(mode=mode, batch=batch, forced=forced, decode_used=got[0].decode,
                           same_tokens=sum(a.token_ids == b.token_ids for a, b in zip(ref, got)) / n,
                           same_text=sum(a.text == b.text for a, b in zip(ref, got)) / n,
                           same_rules=sum(rules(a) == rules(b) for a, b in zip(ref, got)) / n,
                           tokens=sum(g.n_tokens for g in got))
                out["rows"].append(row)
                print(f"trained {mode} b{batch} forced={forced}: {row}", flush=True)
                if path:  # written as it goes: a run cut short keeps its rows
                    path.write_text(json.dumps(dict(env=getattr(args, "_env", {}), argv=sys.argv, **out), indent=1))
    return out


def profile_step(model, inputs, mode: str, path: Path, steps: int = 8) -> None:
    """torch.profiler tables (CUDA and CPU time by op) of one prefill and ``steps`` decode steps run WITHOUT
    the CUDA graph (the same kernels the graph replays), plus the kernel count per step."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    name = "static" if mode.split(":")[0] == "graph" else mode.split(":")[0]
    dec = decoder_for(model, mode, name)
    dec.generate(inputs, max_new_tokens=steps + 1, eos_token_id=None, pad_token_id=151643)  # warm (and compile)
    sess = next(iter(dec._sessions.values()))
    forward = dec._inexact_forward(name) if name in ("regional", "compiled") else None  # the graph's forward
    lines = []
    with torch.inference_mode():
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            dec._prefill(sess, inputs, False, [])
            torch.cuda.synchronize()
        lines += [f"# prefill, {mode}", prof.key_averages().table(sort_by="cuda_time_total", row_limit=30),
                  prof.key_averages().table(sort_by="cpu_time_total", row_limit=20)]
        sess.step.fill_(1)
        for _ in range(2):
            dec._step(sess, forward)
        sess.step.fill_(1)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                dec._step(sess, forward)
            torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = sum(e.device_time for e in kernels) / steps / 1e3
    lines = [f"# decode step, {mode}: {len(kernels) / steps:.0f} kernels per step, {busy:.3f} ms of kernel time "
             f"per step (batch {inputs['input_ids'].shape[0]})",
             prof.key_averages().table(sort_by="cuda_time_total", row_limit=30)] + lines
    path.write_text("\n".join(lines) + "\n")
    print(lines[0], flush=True)


HEADER = ("| arch | image px (vis tok) | batch | mode | attn | load s | first call s | prefill ms | "
          "decode ms/step | tok/s | puzzles/s | e2e s | peak GiB | same tokens (static/dynamic) |")


def fmt_row(r: dict) -> str:
    if "error" in r:
        return f"| {r['arch']} | {r['image_px']} | {r['batch']} | {r['mode']} | FAILED: {r['error'][:80]} |"
    return (f"| {r['arch']} | {r['image_px']} ({r['visual_tokens']}) | {r['batch']} | {r['mode']} | {r['attn']} | "
            f"{r['load_s']:.1f} | {r['first_call_s']:.1f} | {r['prefill_ms']:.1f} | {r['decode_ms_per_step']:.2f} | "
            f"{r['tok_per_s']:.0f} | {r['puzzles_per_s']:.2f} | {r['e2e_s']:.3f} | {r['peak_gib']:.1f} | "
            + (f"{r['eq_static']:.2f}/{r['eq_dynamic']:.2f} |" if "eq_static" in r else "- |"))


def markdown(rows: list[dict], env: dict, argv: list[str]) -> str:
    lines = [HEADER, "|" + " --- |" * 14]
    lines += [fmt_row(r) for r in rows]
    lines += ["", "Environment: " + ", ".join(f"{k}={v}" for k, v in env.items()),
              "", "Command: `python " + " ".join(argv) + "`"]
    return "\n".join(lines) + "\n"


def _regional_parts(text: str) -> str:
    from vlm_puzzle.models.compiled_decode import regional_parts

    try:
        regional_parts(text.replace("+", ","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["qwen2.5-vl-3b"], choices=sorted(ARCHS))
    ap.add_argument("--modes", nargs="+", default=["hf-dynamic", "graph"],
                    choices=["hf-dynamic", "hf-static", "static", "graph", "regional", "compiled"])
    ap.add_argument("--vision-batch", nargs="+", default=["on"], choices=["on", "off"],
                    help="fast modes: batch the vision tower's window attention in the prefill")
    ap.add_argument("--emulate", nargs="+", default=["off"], choices=["off", "on"],
                    help="regional/compiled: Inductor's emulate_precision_casts off and/or on")
    ap.add_argument("--regional-parts", nargs="+", default=["mlp+norm"], type=_regional_parts,
                    help="regional: the decoder parts compiled or fused, '+'-joined (mlp, norm, rope, qkv, gateup; "
                         "mode suffix :rp-...)")
    ap.add_argument("--variants", nargs="+", default=[""], type=lambda t: "" if t == "-" else t,
                    help="suffixes of every fast mode: '-' (none), mk-bool / mk-float (the decode step's sdpa "
                         "mask), sb-cudnn / sb-efficient / sb-math (its attention kernel), joined by ':'")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    ap.add_argument("--image-px", nargs="+", type=int, default=[504])
    ap.add_argument("--prompt-tokens", type=int, default=60, help="text tokens around the image")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--ragged", action="store_true", help="different prompt lengths in a batch (left padding)")
    ap.add_argument("--check", action="store_true", help="compare fast-path tokens with generate's")
    ap.add_argument("--trained-check", type=Path, metavar="JSON",
                    help="only: every fast mode of --modes against generate on the shipped trained model, to JSON")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="also write a torch.profiler table per (batch, fast mode): prefill and decode step kernels")
    ap.add_argument("--profile-batches", nargs="+", type=int, help="profile only these batches (default: all)")
    ap.add_argument("--save", type=Path, help="save the (last) model as a local checkpoint here")
    ap.add_argument("--load", type=Path, help="only time loading the checkpoint saved with --save")
    ap.add_argument("--load-variants", nargs="+", default=list(LOAD_VARIANTS), choices=LOAD_VARIANTS)
    ap.add_argument("--load-device", default="cuda", help="device for --load (cpu works too)")
    ap.add_argument("--save-random", type=Path, metavar="DIR",
                    help="only save a random-weight checkpoint of the first --archs (no slow init) to DIR")
    ap.add_argument("--save-device", default="cuda", help="where --save-random builds the model")
    ap.add_argument("--shard-size", default="4GB", help="--save-random shard size (the hub's 3B has 2 shards)")
    ap.add_argument("--drop-caches", action="store_true", help="also time a load after dropping the page cache")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)

    import torch

    env = versions()
    args._env = env
    print(json.dumps(env), flush=True)
    if args.save_random:
        save_random_checkpoint(args.archs[0], args.save_random, args.save_device, args.shard_size)
        return 0
    if args.load:
        res = load_times(args.load, args.drop_caches, args.load_variants, args.load_device)
        if args.json:
            args.json.write_text(json.dumps(dict(env=env, argv=sys.argv, load=res), indent=1))
        return 0
    if args.trained_check:
        trained_check(args, args.trained_check)
        return 0
    if not torch.cuda.is_available():
        print("bench_vlm_gpu needs a CUDA GPU (only --save-random and --load run without one)", file=sys.stderr)
        return 2
    rows = bench(args)
    save(args, rows)
    print(markdown(rows, env, sys.argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
