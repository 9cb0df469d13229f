"""LoRA fine-tuning of a real Qwen-VL checkpoint on the rule prompt, with ``peft``.

    python training/finetune_qwen_vl.py --model ~/models/Qwen2.5-VL-3B-Instruct --out ~/adapters/rules \
        --samples 4000 --epochs 1 --batch 8 --lr 2e-4 --grad-ckpt            # one GPU, bf16
    vlm-puzzle solve photo.jpg --backend qwen --model ~/models/Qwen2.5-VL-3B-Instruct --adapter ~/adapters/rules

Data: the same as ``vlm-puzzle-tiny``'s (``training/vlm_data.py``: renders of every kind and size,
clean and photo, training fonts, seeds of their own), target ``rules.prompt.answer_for`` then the
end-of-turn token. Pictures are bounded as the wrapper bounds them (``--min-pixels``/``--max-pixels``,
default the wrapper's) and prompts are built by the wrapper's own ``prepare_inputs`` (chat template,
processor), so training sees exactly what inference sends. Batches are left-padded (prompt and
answer together), the loss is on the answer only. LoRA goes on the language model's projections
and the vision blocks' attention (``--targets``). The adapter is saved with ``save_pretrained``
(``adapter_config.json``, ``adapter_model.safetensors``) plus ``vlm_puzzle_adapter.json`` (the run);
``QwenVL.from_pretrained(..., adapter=DIR)`` merges it into the weights, or ``--merge-to DIR``
writes a merged checkpoint here.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

# Linear layers LoRA adapts: the language model's attention and MLP, the vision blocks' attention
# (names shared by Qwen2-VL, Qwen2.5-VL and Qwen3-VL in transformers 5).
TARGETS = r".*(language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|visual\.blocks\.\d+\.attn\.(qkv|proj))"
FINETUNE_SEED0 = 40_000_000  # pictures' seeds: apart from vlm-puzzle-tiny's and the evaluations'


def make_pictures(n: int, factor: int, pixels: tuple[int, int], workers: int) -> list[tuple]:
    """``n`` (RGB picture, answer) pairs at the model's pixel bounds."""
    import itertools
    from multiprocessing import get_context

    import vlm_data

    fonts = vlm_data.train_fonts()
    per = -(-n // workers)
    jobs = [(w, fonts, pixels, per, factor) for w in range(workers)]
    if workers == 1:
        parts = [_take(*jobs[0])]
    else:
        with get_context("fork").Pool(workers) as pool:
            parts = pool.starmap(_take, jobs)
    return list(itertools.chain(*parts))[:n]


def _take(worker, fonts, pixels, k, factor):
    import itertools

    import vlm_data

    stream = vlm_data.sample_stream(worker, fonts, pixels, FINETUNE_SEED0, factor=factor, view="picture")
    return list(itertools.islice(stream, k))


def batch_inputs(vlm, pictures, answers):
    """Left-padded prompt + answer rows with labels on the answer and its end token only."""
    import torch
    from PIL import Image

    from vlm_puzzle.rules.prompt import build_prompt

    inputs, _ = vlm.prepare_inputs([Image.fromarray(p) for p in pictures], [build_prompt()] * len(pictures))
    tok = vlm.tokenizer
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    rows, labels = [], []
    for ids, mask, answer in zip(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist(), answers):
        prompt = [t for t, m in zip(ids, mask) if m]
        ans = tok(answer, add_special_tokens=False)["input_ids"] + [eos]
        rows.append(prompt + ans)
        labels.append([-100] * len(prompt) + ans)
    width = max(map(len, rows))
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos
    dev = vlm.device
    out = dict(inputs)
    out["input_ids"] = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=dev)
    out["attention_mask"] = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=dev)
    out["labels"] = torch.tensor([[-100] * (width - len(r)) + lab for r, lab in zip(rows, labels)], device=dev)
    if "mm_token_type_ids" in out:
        out["mm_token_type_ids"] = (out["input_ids"] == vlm.model.config.image_token_id).int()
    return out


def finetune(args) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model

    from vlm_puzzle.models import QwenVL

    vlm = QwenVL.from_pretrained(args.model, device=args.device, dtype=args.dtype, decode="plain",
                                 min_pixels=args.min_pixels, max_pixels=args.max_pixels)
    t0 = time.perf_counter()
    data = make_pictures(args.samples, vlm.factor, (vlm.min_pixels, vlm.max_pixels), args.workers)
    print(f"{len(data)} pictures in {time.perf_counter() - t0:.1f} s; {vlm}", flush=True)
    model = get_peft_model(vlm.model, LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout,
                                                 target_modules=args.targets, bias="none"))
    if args.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:  # LoRA weights in float32 even on a bf16 model: small, and stable updates
        p.data = p.data.float()
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.0)
    rng = random.Random(args.seed)
    steps = args.steps or max(1, args.epochs * len(data) // args.batch)
    model.train()
    losses = []
    for step in range(steps):
        idx = [rng.randrange(len(data)) for _ in range(args.batch)] if args.steps else \
            [(step * args.batch + i) % len(data) for i in range(args.batch)]
        batch = batch_inputs(vlm, [data[i][0] for i in idx], [data[i][1] for i in idx])
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, (step + 1) / max(1, args.warmup))
        with torch.autocast(vlm.device.type, dtype=vlm.model.dtype, enabled=vlm.model.dtype != torch.float32):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % args.log_every == 0 or step == steps - 1:
            print(json.dumps({"step": step, "loss": round(losses[-1], 4), "s": round(time.perf_counter() - t0, 1)}),
                  flush=True)
    out = Path(args.out)
    model.save_pretrained(out)
    record = {"base": str(args.model), "samples": len(data), "steps": steps, "batch": args.batch, "lr": args.lr,
              "rank": args.rank, "alpha": args.alpha, "targets": args.targets, "min_pixels": vlm.min_pixels,
              "max_pixels": vlm.max_pixels, "loss_first": losses[0], "loss_last": losses[-1],
              "seconds": round(time.perf_counter() - t0, 1)}
    (out / "vlm_puzzle_adapter.json").write_text(json.dumps(record, indent=1))
    if args.merge_to:
        merged = model.merge_and_unload()
        merged.save_pretrained(args.merge_to)
        vlm.processor.save_pretrained(args.merge_to)
    print(f"adapter saved to {out}", flush=True)
    return record


def parse_args(argv=None):
    from vlm_puzzle.models.qwen import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a local Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint folder")
    ap.add_argument("--out", required=True, type=Path, help="folder for the adapter")
    ap.add_argument("--samples", type=int, default=4000, help="rendered pictures to train on")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="a fixed number of steps on random batches instead")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=int, default=32)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--targets", default=TARGETS, help="regex of the Linear layers LoRA adapts")
    ap.add_argument("--min-pixels", type=int, default=DEFAULT_MIN_PIXELS)
    ap.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None, help="bf16 (GPU default) or fp32 (CPU default)")
    ap.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing (3B on one 24 GB GPU)")
    ap.add_argument("--workers", type=int, default=4, help="processes rendering the pictures")
    ap.add_argument("--merge-to", type=Path, help="also write the merged model (and processor) here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    return ap.parse_args(argv)


if __name__ == "__main__":
    finetune(parse_args())
