"""A trained rule-reading checkpoint on a GPU: decode exactness per mode, and batched throughput.

    python experiments/bench_tiny_vlm.py MODEL --n 256 --batches 64 256 --json out.json

Exactness: the same pictures (renders from ``training/vlm_data.py``'s stream, seeds apart from
training's) answered with plain ``model.generate`` and with each fast decode mode
(``models/fast_decode.py``); the share of pictures whose tokens are identical, and of tokens
identical position by position. Throughput: ``QwenVL.generate`` on a batch of pictures already
resized (puzzles/s end to end, preprocessing included, after one warm-up call) per batch size and
decode mode. ``--cpu-only`` times one answer at a time on the CPU instead (one thread).

``--end-to-end N``: N renders' pictures (and grid corners) in memory, answered batch by batch as
the pipeline feeds the model: the grid view cut (``rules.view.grid_view``) in ``--workers`` worker
processes while the GPU answers the previous batch, the views stacked and patchified on the GPU
(``models.pixel_inputs.direct_inputs``: no processor), per decode mode; puzzles/s from the first
cut to the last answer. Its exactness rows compare the answers with ``QwenVL.generate``'s
(processor inputs) on the same views.
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


_SOURCES: list = []  # (RGB picture, corners) of the end-to-end renders: inherited by forked workers
_VIEW = (252, None)  # (side, margin) of the checkpoint's grid view (models.shipped.checkpoint_view)


def _sources(n: int, workers: int) -> list:
    import multiprocessing as mp

    with mp.get_context("fork").Pool(workers) as pool:
        return [x for x in pool.map(_source, range(n), chunksize=8) if x is not None]


def _source(i: int):
    import numpy as np

    import vlm_data

    rng = np.random.default_rng(SEED0 + 500_000 + i)
    kind, n = vlm_data.COMBOS[int(rng.choice(len(vlm_data.COMBOS), p=vlm_data.combo_weights()))]
    try:
        spec, solution = vlm_data.PuzzleMaker(rng).puzzle(kind, n)
        image, corners = vlm_data.shot_of(spec, SEED0 + 500_000 + i, bool(i % 2), vlm_data.train_fonts(), solution,
                                          vlm_data.pick_family(rng))
    except Exception:  # a rare unfillable layout or unlucky warp
        return None
    return image, corners


def _view(i: int):
    from vlm_puzzle.rules.view import grid_view

    image, corners = _SOURCES[i % len(_SOURCES)]
    side, margin = _VIEW
    return grid_view(image, corners, side, *(() if margin is None else (margin,)))


def end_to_end(model: str, n: int, batch: int, modes, workers: int, sources: int = 0) -> dict:
    """Puzzles/s from the pictures in memory to the answers (see the module docs), per mode, and the
    share of answers identical to ``QwenVL.generate``'s. ``sources``: render only this many pictures
    and cut the ``n`` views from them in turn (rendering is not timed; it took minutes for 3,072)."""
    import multiprocessing as mp

    import torch

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.models.fast_decode import FastDecoder
    from vlm_puzzle.models.greedy import greedy_generation_config, only_this_config
    from vlm_puzzle.models.pixel_inputs import direct_inputs
    from vlm_puzzle.rules.prompt import build_prompt

    global _SOURCES, _VIEW
    from vlm_puzzle.models.shipped import checkpoint_view

    view = checkpoint_view(model)
    _VIEW = view[1:] if view[0] == "grid" else _VIEW
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    t0 = time.perf_counter()
    _SOURCES = _sources(min(n, sources) if sources else n, workers)
    n = n if sources else len(_SOURCES)
    out = {"n": n, "batch": batch, "workers": workers, "render_s": round(time.perf_counter() - t0, 1)}
    pool = mp.get_context("fork").Pool(workers)  # forked before CUDA is touched
    try:
        prompt = build_prompt()
        ref_vlm = QwenVL.from_pretrained(model, decode="plain")
        views = pool.map(_view, range(min(n, 512)), chunksize=16)
        ref = [g.token_ids for g in ref_vlm.generate([v[..., ::-1] for v in views], prompt, batch_size=batch)]
        model_obj = ref_vlm.model
        cfg = greedy_generation_config(model_obj, ref_vlm.tokenizer, max_new_tokens=96)
        eos = set(cfg.eos_token_id)
        prompt_len = direct_inputs(ref_vlm, views[:1], prompt)["input_ids"].shape[1]

        def answer(dec, pics):
            inputs = direct_inputs(ref_vlm, pics, prompt)
            with torch.inference_mode(), only_this_config(model_obj, cfg):
                ids = dec.greedy(inputs, generation_config=cfg) if dec else model_obj.generate(**inputs, generation_config=cfg)
            rows = ids[:, prompt_len:].tolist()
            return [tuple(r[:next((j + 1 for j, t in enumerate(r) if t in eos), len(r))]) for r in rows]

        for mode in ["plain", *modes]:
            dec = None if mode == "plain" else FastDecoder(model_obj, mode)
            got = []
            for i in range(0, len(views), batch):
                got += answer(dec, views[i:i + batch])
            same = sum(a == tuple(b) for a, b in zip(got, ref)) / len(ref)
            answer(dec, views[:batch])  # warm-up at the timed batch size (graph capture)
            sync()
            t = time.perf_counter()
            done, chunk = 0, []
            for v in pool.imap(_view, range(n), chunksize=8):
                chunk.append(v)
                if len(chunk) == batch:
                    done += len(answer(dec, chunk))
                    chunk = []
            if chunk:
                done += len(answer(dec, chunk))
            sync()
            el = time.perf_counter() - t
            out[mode] = {"puzzles_per_s": round(done / el, 1), "s": round(el, 3),
                         "identical_to_generate": round(same, 4)}
            print("end-to-end", mode, out[mode], flush=True)
    finally:
        pool.terminate()
    return out


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
    ap.add_argument("--modes", nargs="*", default=["static", "graph"])
    ap.add_argument("--batches", nargs="+", type=int, default=[64, 256])
    ap.add_argument("--cpu-only", nargs="*", default=None, metavar="IMAGE",
                    help="time single answers on one CPU thread for these images instead")
    ap.add_argument("--end-to-end", type=int, default=0, metavar="N",
                    help="N renders answered with the grid view cut in worker processes (GPU only)")
    ap.add_argument("--e2e-batch", type=int, default=256)
    ap.add_argument("--e2e-sources", type=int, default=0, help="render only this many pictures, cut views in turn")
    ap.add_argument("--workers", type=int, default=15)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.end_to_end:
        result = {"end_to_end": end_to_end(args.model, args.end_to_end, args.e2e_batch, args.modes, args.workers,
                                            args.e2e_sources)}
    elif args.cpu_only is not None:
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
