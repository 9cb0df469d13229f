"""A trained rule-reading checkpoint on a GPU: decode exactness per mode, and batched throughput.

    python experiments/bench_tiny_vlm.py MODEL --n 256 --batches 64 256 --json out.json

Exactness: the same pictures (renders from ``training/vlm_data.py``'s stream, seeds apart from
training's) answered with plain ``model.generate`` and with each fast decode mode
(``models/fast_decode.py``); the share of pictures whose tokens are identical, and of tokens
identical position by position. Throughput: ``QwenVL.generate`` on a batch of pictures already
resized (puzzles/s end to end, preprocessing included, after one warm-up call) per batch size and
decode mode. ``--cpu-only`` times one answer at a time on the CPU instead (one thread).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

SEED0 = 70_000_000  # apart from training's seeds


def pictures(n: int, pixels: tuple[int, int], workers: int = 8) -> list[tuple]:
    """``n`` (picture, answer) pairs from the training stream's generator on other seeds."""
    import multiprocessing as mp

    import vlm_data

    fonts = vlm_data.train_fonts()
    per = -(-n // workers)
    with mp.get_context("fork").Pool(workers) as pool:
        parts = pool.starmap(_take, [(w, fonts, pixels, per) for w in range(workers)])
    return [x for part in parts for x in part][:n]


def _take(worker, fonts, pixels, k):
    import itertools

    import vlm_data

    return list(itertools.islice(vlm_data.sample_stream(worker, fonts, pixels, SEED0), k))


def exactness(model: str, pics, modes) -> dict:
    from PIL import Image

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.rules.prompt import build_prompt

    images = [Image.fromarray(p) for p, _ in pics]
    out = {}
    ref = None
    for mode in ["plain", *modes]:
        vlm = QwenVL.from_pretrained(model, decode=mode)
        gens = vlm.generate(images, build_prompt(), batch_size=64)
        right = sum(g.text == a for g, (_, a) in zip(gens, pics)) / len(pics)
        ids = [g.token_ids for g in gens]
        row = {"answer_right": round(right, 4), "decode": gens[0].decode}
        if ref is None:
            ref = ids
        else:
            same_rows = sum(a == b for a, b in zip(ids, ref)) / len(ids)
            pos = sum(len(b) for b in ref)
            same_tok = sum(sum(x == y for x, y in zip(a, b)) for a, b in zip(ids, ref)) / pos
            row.update(identical_answers=round(same_rows, 4), identical_tokens=round(same_tok, 4))
        out[mode] = row
        print(mode, row, flush=True)
    return out


def throughput(model: str, pics, batches, modes, repeats: int = 3) -> list[dict]:
    import torch
    from PIL import Image

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.rules.prompt import build_prompt

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    rows = []
    for mode in modes:
        vlm = QwenVL.from_pretrained(model, decode=mode)
        for b in batches:
            images = [Image.fromarray(pics[i % len(pics)][0]) for i in range(b)]
            vlm.generate(images, build_prompt())  # warm-up (graph capture)
            times, parts = [], []
            for _ in range(repeats):
                sync()
                t0 = time.perf_counter()
                gens = vlm.generate(images, build_prompt())
                times.append(time.perf_counter() - t0)
                t = gens[0].timings
                parts.append((t.preprocess_s, t.prefill_s, t.decode_s))
            best = min(times)
            pre, prefill, dec = (statistics.median(p[i] for p in parts) for i in range(3))
            row = dict(mode=mode, batch=b, puzzles_per_s=round(b / best, 1), s=round(best, 4),
                       preprocess_s=round(pre, 4), prefill_s=round(prefill, 4), decode_s=round(dec, 4),
                       model_puzzles_per_s=round(b / (prefill + dec), 1))
            rows.append(row)
            print(row, flush=True)
    return rows


def cpu_times(model: str, images, repeats: int = 3) -> dict:
    import torch

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.rules.vlm import infer_rules_vlm_detailed

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    vlm = QwenVL.from_pretrained(model, device="cpu")
    load = time.perf_counter() - t0
    times = {}
    for _ in range(repeats):
        for im in images:
            t = time.perf_counter()
            infer_rules_vlm_detailed(vlm, [im])
            times.setdefault(str(im), []).append(time.perf_counter() - t)
    per = {k: round(min(v) * 1e3, 1) for k, v in times.items()}
    return {"load_s": round(load, 3), "ms_per_answer_min_of_repeats": per,
            "median_ms": round(statistics.median(per.values()), 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=256, help="pictures for the exactness check")
    ap.add_argument("--modes", nargs="+", default=["static", "graph"])
    ap.add_argument("--batches", nargs="+", type=int, default=[64, 256])
    ap.add_argument("--cpu-only", nargs="*", default=None, metavar="IMAGE",
                    help="time single answers on one CPU thread for these images instead")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.cpu_only is not None:
        result = {"cpu": cpu_times(args.model, args.cpu_only)}
    else:
        from vlm_puzzle.models.qwen import checkpoint_pixels

        px = checkpoint_pixels(args.model)
        pics = pictures(max(args.n, max(args.batches)), (px.get("min_pixels", 25088), px.get("max_pixels", 63504)))
        result = {"exactness": exactness(args.model, pics[:args.n], args.modes),
                  "throughput": throughput(args.model, pics, args.batches, ["plain", *args.modes])}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
