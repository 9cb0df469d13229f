"""What fusing the decode step's projections, or FP8 weights, would give, before building either (one GPU).

For the Qwen2.5-VL-3B decoder's shapes at batch 1 (and 64), bf16, random weights:

* fused QKV (one ``F.linear`` on the concatenated q/k/v weights and biases, then split) and fused gate/up
  against the separate projections: time per call (CUDA events, median of 200 after warm-up) and whether
  the outputs are BIT-identical over 64 random inputs (the same GEMM rounding: only then could fusion be
  a default of the exact path);
* FP8 (e4m3) weights with ``torch._scaled_mm`` (per-tensor weight scale, the activation quantised per call):
  time per call and the largest relative difference to bf16, for the same shapes.

    python experiments/gpu_fusion_probe.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

HIDDEN, INTER, HEADS, KV_HEADS, HEAD_DIM = 2048, 11008, 16, 2, 128


def timed(fn, n: int = 200) -> float:
    """Median milliseconds per call (CUDA events)."""
    for _ in range(20):
        fn()
    ts = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def probe(batch: int) -> dict:
    dev, dt = "cuda", torch.bfloat16
    g = torch.Generator(dev).manual_seed(0)
    w = lambda o, i: torch.randn(o, i, device=dev, dtype=dt, generator=g) * 0.02  # noqa: E731
    wq, wk, wv = w(HEADS * HEAD_DIM, HIDDEN), w(KV_HEADS * HEAD_DIM, HIDDEN), w(KV_HEADS * HEAD_DIM, HIDDEN)
    bq, bk, bv = (torch.randn(t.shape[0], device=dev, dtype=dt, generator=g) * 0.02 for t in (wq, wk, wv))
    wg, wu = w(INTER, HIDDEN), w(INTER, HIDDEN)
    wqkv, bqkv, wgu = torch.cat([wq, wk, wv]), torch.cat([bq, bk, bv]), torch.cat([wg, wu])
    splits = [wq.shape[0], wk.shape[0], wv.shape[0]]
    xs = [torch.randn(batch, 1, HIDDEN, device=dev, dtype=dt, generator=g) for _ in range(64)]

    sep_qkv = lambda x: (F.linear(x, wq, bq), F.linear(x, wk, bk), F.linear(x, wv, bv))  # noqa: E731
    fus_qkv = lambda x: F.linear(x, wqkv, bqkv).split(splits, dim=-1)  # noqa: E731
    sep_gu = lambda x: (F.linear(x, wg), F.linear(x, wu))  # noqa: E731
    fus_gu = lambda x: F.linear(x, wgu).split([INTER, INTER], dim=-1)  # noqa: E731
    res = dict(batch=batch)
    for name, sep, fus in (("qkv", sep_qkv, fus_qkv), ("gate_up", sep_gu, fus_gu)):
        same = all(all(torch.equal(a, b) for a, b in zip(sep(x), fus(x))) for x in xs)
        res[name] = dict(bit_identical=same, separate_ms=timed(lambda: sep(xs[0])), fused_ms=timed(lambda: fus(xs[0])))

    # FP8 weights: torch._scaled_mm wants A row-major, B column-major (a transposed row-major weight).
    f8 = torch.float8_e4m3fn
    out = {}
    for name, wt in (("gate", wg), ("down", w(HIDDEN, INTER)), ("q", wq)):
        ws = (wt.abs().amax().float() / torch.finfo(f8).max).clamp(min=1e-12)
        w8 = (wt.float() / ws).to(f8)
        x = torch.randn(max(batch, 16), wt.shape[1], device=dev, dtype=dt, generator=g)  # _scaled_mm: M >= 16

        def fp8():
            xsc = (x.abs().amax().float() / torch.finfo(f8).max).clamp(min=1e-12)
            return torch._scaled_mm((x.float() / xsc).to(f8), w8.t(), scale_a=xsc, scale_b=ws, out_dtype=dt)

        ref = F.linear(x, wt)
        try:
            got = fp8()
            rel = float(((got.float() - ref.float()).abs().max() / ref.float().abs().max()))
            out[name] = dict(bf16_ms=timed(lambda: F.linear(x, wt)), fp8_ms=timed(fp8),
                             fp8_prequantised_x_ms=timed(lambda: torch._scaled_mm(
                                 x.to(f8), w8.t(), scale_a=torch.ones((), device=dev), scale_b=ws, out_dtype=dt)),
                             max_rel_diff=rel, m=int(x.shape[0]))
        except (RuntimeError, TypeError) as exc:
            out[name] = dict(error=repr(exc)[:300])
    res["fp8"] = out
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    with torch.inference_mode():
        for b in args.batches:
            rows.append(probe(b))
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(dict(torch=torch.__version__, gpu=torch.cuda.get_device_name(0), rows=rows),
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
