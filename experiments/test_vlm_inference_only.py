"""Inference-only speed test of VLM rule inference: load, preprocess, prefill, decode.

Runs the real rule-inference prompt through :class:`vlm_puzzle.models.QwenVL` on
puzzle images and prints, per image: load time, attention implementation, visual
tokens, prefill ms, decode tokens/s and total ms per image; ``--json`` writes the
whole record.

Model: ``--model PATH`` (a downloaded Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint), or
``--random-weights NAME`` to build the real architecture (configs in
``src/vlm_puzzle/models/configs/``, no hub access) with random weights directly on the
target device in the target dtype, with the offline tokenizer/processor of
``tests/tiny_qwen.py``. Random weights answer noise, so every image is made to decode
exactly ``--max-new-tokens`` tokens (EOS forbidden until then) and timings compare.
``tiny`` is the 2-layer test model.

Images: arguments, else ``data/samples/*`` when present, else two generated grids.

Examples (figures: experiments/results/vlm_inference_only.md):

    # CPU, seconds
    python experiments/test_vlm_inference_only.py --random-weights tiny --max-new-tokens 16
    # CPU, a real architecture, a few tokens (~5 GB RAM in bf16)
    python experiments/test_vlm_inference_only.py --random-weights qwen2-vl-2b --dtype bf16 \\
        --max-new-tokens 4 --max-pixels 200704
    # GPU
    python experiments/test_vlm_inference_only.py --random-weights qwen2.5-vl-3b --device cuda \\
        --max-new-tokens 64 --batch 1 8 --decode plain auto --json out.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # tiny_qwen: offline tokenizer/processor builder

CONFIG_DIR = ROOT / "src" / "vlm_puzzle" / "models" / "configs"
RANDOM_CHOICES = ("tiny", "qwen2-vl-2b", "qwen2.5-vl-3b", "qwen2.5-vl-7b", "qwen3-vl-4b")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def sample_images(args_images: list[str]) -> list:
    if args_images:
        return [str(p) for p in args_images]
    samples = ROOT / "data" / "samples"
    if samples.is_dir():
        found = sorted(p for p in samples.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if found:
            return [str(p) for p in found[:8]]
    return [generated_grid(9, seed=1), generated_grid(6, seed=2)]


def generated_grid(n: int, *, seed: int, side: int = 900):
    """A printed-looking n x n Sudoku page (BGR array): thin/thick lines, some digits."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    box = {4: (2, 2), 6: (2, 3), 9: (3, 3)}[n]
    img = np.full((side + 80, side + 80, 3), 250, np.uint8)
    o, cell = 40, side / n
    for i in range(n + 1):
        w_r = 5 if i % box[0] == 0 else 1
        w_c = 5 if i % box[1] == 0 else 1
        p = int(o + i * cell)
        cv2.line(img, (o, p), (o + side, p), (20, 20, 20), w_r)
        cv2.line(img, (p, o), (p, o + side), (20, 20, 20), w_c)
    for r in range(n):
        for c in range(n):
            if rng.random() < 0.35:
                d = str(int(rng.integers(1, n + 1)))
                cv2.putText(img, d, (int(o + c * cell + cell * 0.3), int(o + r * cell + cell * 0.75)),
                            cv2.FONT_HERSHEY_SIMPLEX, cell / 45, (0, 0, 0), 3, cv2.LINE_AA)
    return img


def build_random(name: str, *, device: str, dtype, attn, min_pixels: int, max_pixels: int, decode: str,
                 workdir: Path):
    """QwenVL with random weights of a real architecture, built on ``device`` in ``dtype`` (``"tiny"``: a
    checkpoint saved under ``workdir`` and loaded from there)."""
    import torch
    import transformers
    from tiny_qwen import SAMPLING_GENERATION_CONFIG, build_processor, build_tiny_qwen, build_tokenizer, token_ids

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.models.attention import attention_candidates
    from vlm_puzzle.models.loading import default_dtype, parse_dtype

    if name == "tiny":
        path = build_tiny_qwen(workdir / "qwen2_vl", "qwen2_vl")
        return QwenVL.from_pretrained(path, device=device, dtype=dtype, attn_implementation=attn,
                                      min_pixels=min_pixels, max_pixels=max_pixels, decode=decode)
    dtype = parse_dtype(dtype) or default_dtype(device)
    t0 = time.perf_counter()
    spec = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    spec.pop("_source", None)
    tokenizer = build_tokenizer()
    ids = token_ids(tokenizer)
    # The architecture is the real one; only the special-token ids follow the offline tokenizer.
    for key in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"):
        spec[key] = ids[key]
    text = spec["text_config"] if "text_config" in spec else spec
    text.update(bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"])
    config = transformers.AutoConfig.for_model(**spec)
    processor = build_processor(config.model_type, tokenizer)
    tried = []
    torch.manual_seed(0)
    for impl, reason in attention_candidates(attn, device, dtype):
        try:
            with torch.device(device):
                model = transformers.AutoModelForImageTextToText.from_config(
                    config, dtype=dtype, attn_implementation=impl)
            break
        except (ImportError, ValueError, RuntimeError) as exc:
            tried.append(f"{impl} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
    else:
        raise RuntimeError("no attention implementation worked: " + "; ".join(tried))
    # The same sampling trap a real checkpoint ships: the wrapper must ignore it.
    model.generation_config = transformers.GenerationConfig(
        **SAMPLING_GENERATION_CONFIG, eos_token_id=[ids["eos_token_id"], ids["bos_token_id"]],
        pad_token_id=ids["pad_token_id"])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return QwenVL(model, processor, min_pixels=min_pixels, max_pixels=max_pixels, decode=decode,
                  attn_implementation=model.config._attn_implementation,
                  attn_reason="; ".join(tried + [reason]), load_s=time.perf_counter() - t0,
                  name=f"{name} (random weights)")


def environment() -> dict:
    import torch
    import transformers

    env = dict(python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__,
               machine=platform.machine(), cpu_threads=torch.get_num_threads())
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_mem_gib=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return env


def run(args, workdir: Path) -> dict:
    import torch

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.models.loading import default_device
    from vlm_puzzle.rules import build_prompt, parse_rule_answer

    device = args.device or default_device()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = sample_images(args.images)
    names = [im if isinstance(im, str) else f"generated-{i}" for i, im in enumerate(images)]
    random = args.random_weights is not None
    record = dict(env=environment(), device=device, model=args.model or args.random_weights,
                  random_weights=random, runs=[])
    mp = args.max_pixels or [None]
    decode_modes = args.decode
    vlm = None
    for decode in decode_modes:
        for max_pixels in mp:
            if vlm is None:
                first_max = max_pixels or args.default_max_pixels
                kw = dict(device=device, dtype=args.dtype, attn_implementation=args.attn,
                          min_pixels=min(args.min_pixels, first_max), max_pixels=first_max, decode=decode)
                if random:
                    attn = kw.pop("attn_implementation")
                    vlm = build_random(args.random_weights, attn=attn, workdir=workdir, **kw)
                else:
                    vlm = QwenVL.from_pretrained(args.model, **kw)
                record.update(load_s=vlm.load_s, dtype=str(vlm.model.dtype), attn_implementation=vlm.attn_implementation,
                              attn_reason=vlm.attn_reason, params_b=sum(p.numel() for p in vlm.model.parameters()) / 1e9)
                print(f"model   {vlm.name}: {record['params_b']:.2f} B params, {vlm.model.dtype} on {device}, "
                      f"loaded in {vlm.load_s:.1f} s", flush=True)
                print(f"attn    {vlm.attn_implementation} ({vlm.attn_reason})", flush=True)
            vlm.decode = decode
            vlm.max_pixels = max_pixels or args.default_max_pixels
            vlm.min_pixels = min(args.min_pixels, vlm.max_pixels)
            n_new = args.max_new_tokens
            forced = n_new if random else 0
            for batch in args.batch:
                batch_images = [images[i % len(images)] for i in range(max(batch, 1))]
                batch_names = [names[i % len(names)] for i in range(max(batch, 1))]
                for _ in range(args.warmup):
                    vlm.generate(batch_images, build_prompt(), max_new_tokens=n_new, min_new_tokens=forced)
                reps = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    gens = vlm.generate(batch_images, build_prompt(), max_new_tokens=n_new, min_new_tokens=forced)
                    reps.append((time.perf_counter() - t0, gens))
                wall, gens = sorted(reps, key=lambda r: r[0])[len(reps) // 2]  # the median run
                g = gens[0]
                t = g.timings
                row = dict(decode=g.decode, decode_reason=vlm.decode_reason, max_pixels=vlm.max_pixels,
                           batch=len(gens), images=batch_names, image_size=list(g.image_size),
                           visual_tokens=[x.visual_tokens for x in gens], prompt_tokens=[x.prompt_tokens for x in gens],
                           new_tokens=[x.n_tokens for x in gens], stopped_by=[x.stopped_by for x in gens],
                           preprocess_ms=t.preprocess_s * 1e3, prefill_ms=t.prefill_s * 1e3,
                           decode_ms=t.decode_s * 1e3, warmup_ms=t.warmup_s * 1e3,
                           decode_tok_s=g.tokens_per_s,
                           decode_ms_per_step=t.decode_s * 1e3 / max(1, max(x.n_tokens for x in gens) - 1),
                           total_ms=wall * 1e3, total_ms_per_image=wall * 1e3 / len(gens),
                           wall_ms_all_repeats=[r[0] * 1e3 for r in reps],
                           text=[x.text for x in gens][:2] if not random else None,
                           parsed=[parse_rule_answer(x.text).to_dict() for x in gens][:2] if not random else None)
                record["runs"].append(row)
                print(f"run     decode={row['decode']:<12} batch={row['batch']:<3} max_pixels={vlm.max_pixels:<8} "
                      f"image {g.image_size[0]}x{g.image_size[1]} -> {g.visual_tokens} visual tokens, "
                      f"prompt {g.prompt_tokens} tok | prefill {row['prefill_ms']:.1f} ms | "
                      f"decode {g.n_tokens} tok {row['decode_ms']:.1f} ms = {row['decode_tok_s']:.1f} tok/s "
                      f"({row['decode_ms_per_step']:.2f} ms/step) | total {row['total_ms']:.1f} ms, "
                      f"{row['total_ms_per_image']:.1f} ms/image"
                      + (f" | warm-up {row['warmup_ms']:.0f} ms" if row["warmup_ms"] else ""), flush=True)
                if not random:
                    print(f"        answer: {g.text!r}", flush=True)
    record["median_of"] = args.repeats
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="*", help="puzzle images (default: data/samples/* or generated grids)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="path (or cached id) of a Qwen-VL checkpoint")
    src.add_argument("--random-weights", choices=RANDOM_CHOICES, help="real architecture, random weights")
    ap.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    ap.add_argument("--dtype", default=None, help="bf16 / fp16 / fp32 (default: bf16 on GPU, fp32 on CPU)")
    ap.add_argument("--attn", default=None, choices=["flash_attention_2", "sdpa", "eager"])
    ap.add_argument("--decode", nargs="+", default=["auto"], choices=["auto", "plain", "static", "graph", "compiled"])
    ap.add_argument("--max-new-tokens", type=int, default=None,
                    help="bound (real weights) or exact count (random weights); default 96 / 32")
    ap.add_argument("--min-pixels", type=int, default=None)
    ap.add_argument("--max-pixels", type=int, nargs="+", default=None, help="one run per value (a sweep)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls per configuration")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls; the median is reported")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", type=Path, help="write the record here ('-' prints it)")
    args = ap.parse_args(argv)

    from vlm_puzzle.models.qwen import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS
    from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS

    args.default_max_pixels = DEFAULT_MAX_PIXELS
    args.min_pixels = args.min_pixels or DEFAULT_MIN_PIXELS
    if args.max_new_tokens is None:
        args.max_new_tokens = 32 if args.random_weights else MAX_NEW_TOKENS
    with tempfile.TemporaryDirectory(prefix="tiny-qwen-") as workdir:
        record = run(args, Path(workdir))
    record["command"] = "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])
    text = json.dumps(record, indent=1, default=str)
    if args.json:
        if str(args.json) == "-":
            print(text)
        else:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(text + "\n")
            print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
