"""Train ``vlm-puzzle-tiny``: a small Qwen2-VL model, from scratch, that answers the rule prompt.

    python training/tiny_vlm.py --out /tmp/tiny --minutes 6 --workers 15      # one GPU (device machine)
    python training/tiny_vlm.py --out /tmp/tiny --steps 3 --workers 1 --batch 4 --device cpu   # smoke test

The model is an ordinary ``Qwen2VLForConditionalGeneration`` (``AutoModelForImageTextToText``) with
a ``Qwen2VLProcessor``, saved with ``save_pretrained``, so the wrapper loads it like any download:

* tokenizer: byte-level BPE trained here on the chat template, the rule prompt and the answers, its
  pre-tokenizer cutting only before ``, "size"`` and ``, "box"``, so a merge may span spaces: the
  prompt is about 20 tokens and an answer 3 (kind, size, the other fields) plus ``<|im_end|>``, few
  decode steps; any other text still encodes byte by byte;
* images: ``max_pixels = side**2`` (``--side``, default ``SIDE`` = 308: 121 visual tokens for a square
  picture); by default (``--view grid``, recorded in ``vlm_puzzle.json`` with its margin
  ``view_margin``) the grid rectified (``rules.view.grid_view``) with ``vlm_data.VIEW_MARGIN`` of the
  view around it, as the pipeline then shows it the grid its vision stage located (a margin wide
  enough to show the cells beyond a block of cells the locator took for the grid);
* vision tower 6 layers x 192, language model 2 layers x 192, tied embeddings; stored in bf16.

Training data stream from ``training/vlm_data.py`` worker processes (renders of every kind and
size, clean and photo, training fonts) into a replay buffer on the GPU that batches are drawn from,
half from samples never trained on (their accuracy is the log's ``fresh`` column). The loss is the
answer's tokens only. ``vlm_puzzle.json`` beside the weights records the pixel bounds (read by
``QwenVL.from_pretrained``) and the training run.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import multiprocessing as mp
import queue as queue_mod
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

import vlm_data  # noqa: E402

SIDE = 308                # the view's side: max_pixels = SIDE ** 2, 121 visual tokens
PIXELS = SIDE * SIDE
MIN_PIXELS = 32 * 28 * 28  # min_pixels: only small pictures are enlarged
NAME = "vlm-puzzle-tiny"
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
# Qwen2-VL's chat template, one image per user turn (the wrapper's only use).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MEAN = (0.48145466, 0.4578275, 0.40821073)  # the Qwen2-VL image processor's normalisation
STD = (0.26862954, 0.26130258, 0.27577711)


def all_answers() -> list[str]:
    """The answer of every (kind, size) the renderer draws."""
    from vlm_puzzle.rules.prompt import answer_text
    from vlm_puzzle.spec import DEFAULT_BOX

    return [answer_text(k, n, DEFAULT_BOX[n] if k not in ("jigsaw", "kenken") else None)
            for k, n in vlm_data.COMBOS]


def build_tokenizer(vocab_size: int = 1024):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from vlm_puzzle.rules.prompt import RULES_PROMPT

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(', "(?=size|box)'), behavior="merged_with_next"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    answers = all_answers()
    corpus = ["system\nYou are a helpful assistant.", "\n", "user\n", RULES_PROMPT, "assistant\n"] * 8 + answers
    tok.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        extra_special_tokens=list(SPECIAL_TOKENS[1:]))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer, pixels: int = PIXELS):
    import transformers

    image = transformers.Qwen2VLImageProcessor(patch_size=14, merge_size=2, temporal_patch_size=2,
                                               min_pixels=MIN_PIXELS, max_pixels=pixels, image_mean=list(MEAN),
                                               image_std=list(STD))
    video = transformers.Qwen2VLVideoProcessor(patch_size=14, merge_size=2, temporal_patch_size=2)
    return transformers.Qwen2VLProcessor(image_processor=image, tokenizer=tokenizer, video_processor=video,
                                         chat_template=CHAT_TEMPLATE)


def build_config(tokenizer, *, hidden: int = 192, layers: int = 2, vision_dim: int = 192, vision_depth: int = 6):
    import transformers

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=int(hidden * 8 / 3) // 32 * 32,
                num_hidden_layers=layers, num_attention_heads=hidden // 32, num_key_value_heads=2,
                max_position_embeddings=2048, rms_norm_eps=1e-6, tie_word_embeddings=True,
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                rope_parameters={"rope_type": "default", "mrope_section": [4, 6, 6], "rope_theta": 10000.0})
    vision = dict(depth=vision_depth, embed_dim=vision_dim, hidden_size=hidden, num_heads=vision_dim // 32,
                  mlp_ratio=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    return transformers.Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                                      image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                                      vision_start_token_id=ids["<|vision_start|>"],
                                      vision_end_token_id=ids["<|vision_end|>"])


class Encoder:
    """Token ids of one training example: the wrapper's prompt (chat template, one image of
    ``n`` visual tokens, the rule prompt), then the answer and ``<|im_end|>``."""

    def __init__(self, processor):
        from vlm_puzzle.rules.prompt import build_prompt

        self.tok = processor.tokenizer
        text = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": build_prompt()}]}],
            tokenize=False, add_generation_prompt=True)
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        self.pad = self.tok.convert_tokens_to_ids("<|image_pad|>")
        at = ids.index(self.pad)
        self.prefix, self.suffix = ids[:at], ids[at + 1:]
        self.eos = self.tok.convert_tokens_to_ids("<|im_end|>")
        self.mm_token_types = "mm_token_type_ids" in processor.model_input_names
        self._answers: dict[str, list[int]] = {}

    def answer_ids(self, answer: str) -> list[int]:
        if answer not in self._answers:
            self._answers[answer] = self.tok(answer, add_special_tokens=False)["input_ids"] + [self.eos]
        return self._answers[answer]

    def prompt_ids(self, n_visual: int) -> list[int]:
        return self.prefix + [self.pad] * n_visual + self.suffix


def patchify(images, device, dtype, rng: random.Random | None = None):
    """(pixel_values, image_grid_thw) for RGB uint8 pictures of one size (H, W multiples of 28) as the
    Qwen2-VL image processor makes them (``models.pixel_inputs.patchify``, on ``device``, the whole
    batch at once). With ``rng`` (training) each picture is first mirrored at random (rules
    unchanged) and its contrast and brightness jittered."""
    import torch

    from vlm_puzzle.models.pixel_inputs import patchify as to_patches

    if len({tuple(im.shape) for im in images}) > 1:  # whole pictures (--view picture): one at a time
        parts = [patchify([im], device, dtype, rng) for im in images]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    x = torch.stack([torch.as_tensor(im, device=device) for im in images])
    if rng is not None:
        flips = [[d for d, p in ((0, rng.random()), (1, rng.random())) if p < 0.5] for _ in images]
        x = torch.stack([im.flip(f) if f else im for im, f in zip(x, flips)]).float().div_(255)
        gain = torch.tensor([rng.uniform(0.7, 1.2) for _ in images], device=device).view(-1, 1, 1, 1)
        shift = torch.tensor([rng.uniform(-0.12, 0.12) for _ in images], device=device).view(-1, 1, 1, 1)
        x = ((x - 0.5) * gain + 0.5 + shift).clamp_(0, 1)
    return to_patches(x, MEAN, STD, dtype=dtype)


def make_batch(enc: Encoder, images, answers, device, dtype, rng: random.Random | None = None):
    """Right-padded training batch: input_ids, attention_mask, labels (answer only), pixels
    (augmented with ``rng``: see :func:`patchify`)."""
    import torch

    pixel_values, grid = patchify(images, device, dtype, rng)
    seqs, labels = [], []
    for (_, gh, gw), answer in zip(grid.tolist(), answers):
        prompt, ans = enc.prompt_ids(gh * gw // 4), enc.answer_ids(answer)
        seqs.append(prompt + ans)
        labels.append([-100] * len(prompt) + ans)
    width = max(map(len, seqs))
    pad = enc.tok.pad_token_id
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=device)
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=device)
    lab = torch.tensor([s + [-100] * (width - len(s)) for s in labels], device=device)
    batch = dict(input_ids=ids, attention_mask=mask, labels=lab, pixel_values=pixel_values, image_grid_thw=grid)
    if enc.mm_token_types:  # transformers >= 5.2x: the image tokens' positions, as the processor gives them
        batch["mm_token_type_ids"] = (ids == enc.pad).int()
    return batch


def answer_accuracy(logits, labels) -> tuple[int, int]:
    """(rows whose every answer token is the argmax, rows)."""
    pred = logits[:, :-1].argmax(-1)
    gold = labels[:, 1:]
    ok = ((pred == gold) | (gold == -100)).all(dim=1)
    return int(ok.sum()), int(ok.numel())


def build_model(seed: int = 0, init: Path | None = None, pixels: int = PIXELS, **sizes):
    """A new model and processor, or (``init``) a saved checkpoint's, to train further; the
    processor's pictures bounded by ``pixels`` (max_pixels; the vision tower's rotary positions
    let a checkpoint go on at another view size)."""
    import torch
    import transformers

    if init is not None:
        model = transformers.Qwen2VLForConditionalGeneration.from_pretrained(init, dtype=torch.float32)
        processor = transformers.AutoProcessor.from_pretrained(init)
        set_pixel_bounds(processor.image_processor, MIN_PIXELS, pixels)
        return model, processor
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer, pixels)
    config = build_config(tokenizer, **sizes)
    torch.manual_seed(seed)
    model = transformers.Qwen2VLForConditionalGeneration(config)
    return model, processor


def set_pixel_bounds(image_processor, min_pixels: int, max_pixels: int) -> None:
    """The Qwen2-VL image processor's bounds, in both forms it keeps them."""
    image_processor.min_pixels, image_processor.max_pixels = min_pixels, max_pixels
    image_processor.size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}


def save(model, processor, out: Path, record: dict, view: str = "grid", pixels: int = PIXELS,
         margin: float = vlm_data.VIEW_MARGIN) -> Path:
    import torch
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    tok = processor.tokenizer
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    model.generation_config = transformers.GenerationConfig(
        do_sample=False, num_beams=1, max_new_tokens=32, eos_token_id=eos, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"))
    model.to(torch.bfloat16).save_pretrained(out)
    processor.save_pretrained(out)
    (out / "vlm_puzzle.json").write_text(json.dumps({
        "name": NAME, "min_pixels": MIN_PIXELS, "max_pixels": pixels, "view": view,
        **({"view_margin": margin} if view == "grid" else {}), **record}, indent=1))
    return out


def _pump(q, inbox, stop) -> None:
    """Move (picture, answer) pairs from the workers' queue to ``inbox`` until ``stop``."""
    while not stop.is_set():
        try:
            inbox.append(q.get(timeout=0.2))
        except queue_mod.Empty:
            pass
        except (EOFError, OSError):  # the workers ended
            return


def train(args) -> dict:
    import torch

    from vlm_puzzle.models.vision_batch import batched_vision_attention

    fonts = vlm_data.train_fonts()
    real = None
    if args.real:
        import vlm_real

        real = vlm_real.load(args.real)
        print(f"real photos: {len(real)} from {args.real}, share {args.real_share}", flush=True)
    ctx = mp.get_context("fork")  # before CUDA is touched; workers use no torch
    q = ctx.Queue(maxsize=4000)
    workers = [ctx.Process(target=vlm_data.queue_worker, daemon=True,
                           args=(w + args.worker0, fonts, (MIN_PIXELS, args.side ** 2), q, vlm_data.TRAIN_SEED0, args.view,
                                 real, args.real_share))
               for w in range(args.workers)]
    for p in workers:
        p.start()
    device = torch.device(args.device)
    init_record = json.loads((args.init / "vlm_puzzle.json").read_text()).get("training") if args.init else None
    model, processor = build_model(args.seed, args.init, args.side ** 2)
    model.to(device).train()
    enc = Encoder(processor)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params / 1e6:.2f} M, fonts {len(fonts)}, workers {args.workers}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05, betas=(0.9, 0.98))
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    buf_img, buf_ans, fresh = [], [], []
    t0 = time.perf_counter()
    budget = args.minutes * 60
    step, seen, log = 0, 0, []
    acc_fresh = [0, 0]
    rng = random.Random(args.seed)

    def progress() -> float:
        return step / args.steps if args.steps else (time.perf_counter() - t0 - warm) / max(1.0, budget - warm)

    # A thread empties the queue all the time: the workers' pictures (190 KB each) go through one pipe
    # whose writers wait for its reader, so reading only between steps (as before) let through about
    # 5 pictures a step, 18/s of the 15 workers' ~100/s.
    inbox: collections.deque = collections.deque()
    stop = threading.Event()
    pump = threading.Thread(target=_pump, args=(q, inbox, stop), daemon=True)
    pump.start()
    warm = 0.0
    while True:
        # Take what the workers made (GPU buffer; the newest are "fresh": never trained on).
        while inbox:
            im, ans = inbox.popleft()
            buf_img.append(torch.as_tensor(im).to(device, non_blocking=True))
            buf_ans.append(ans)
            fresh.append(len(buf_img) - 1)
        if len(fresh) > 20 * args.batch:
            fresh = fresh[-20 * args.batch:]
        if len(buf_img) < args.min_fill:
            time.sleep(0.05)
            continue
        if step == 0:
            warm = time.perf_counter() - t0
            print(f"buffer of {len(buf_img)} after {warm:.1f} s; training", flush=True)
        frac = progress()
        if frac >= 1.0:
            break
        k_new = min(len(fresh), args.batch // 2)
        new = [fresh.pop() for _ in range(k_new)]
        idx = new + [rng.randrange(len(buf_img)) for _ in range(args.batch - k_new)]
        batch = make_batch(enc, [buf_img[i] for i in idx], [buf_ans[i] for i in idx], device, torch.float32,
                           rng if args.augment else None)
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.5 * (1 + math.cos(math.pi * min(1.0, frac))) * 0.97 + 0.03)
        for g in opt.param_groups:
            g["lr"] = lr
        with amp, batched_vision_attention(model):
            out = model(**batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if k_new:
            with torch.no_grad():
                ok, n = answer_accuracy(out.logits[:k_new].float(), batch["labels"][:k_new])
            acc_fresh[0] += ok
            acc_fresh[1] += n
        step += 1
        seen += len(idx)
        if step % args.log_every == 0 or step == 1:
            el = time.perf_counter() - t0
            row = dict(step=step, s=round(el, 1), loss=round(out.loss.item(), 4), lr=round(lr, 6),
                       buffer=len(buf_img), pictures_per_s=round(len(buf_img) / el, 1),
                       fresh_acc=round(acc_fresh[0] / max(1, acc_fresh[1]), 4))
            acc_fresh = [0, 0]
            log.append(row)
            print(json.dumps(row), flush=True)
    stop.set()
    for p in workers:
        p.terminate()
    el = time.perf_counter() - t0
    record = {"training": {"steps": step, "batch": args.batch, "samples_drawn": seen, "distinct_samples": len(buf_img),
                           "seconds": round(el, 1), "lr": args.lr, "workers": args.workers, "seed": args.seed,
                           "params": n_params, "fonts": fonts, "augment": bool(args.augment),
                           "real_photos": {"pack": str(args.real), "n": len(real), "share": args.real_share} if real else None,
                           "jigsaw_odd_weight": vlm_data.JIGSAW_ODD,
                           "view_margins": list(vlm_data.MARGINS),
                           "subgrid": {"share": vlm_data.SUBGRID_SHARE, "miss": vlm_data.SUBGRID_MISS},
                           "style_shares": {"wide": vlm_data.WIDE_SHARE, "paper": vlm_data.PAPER_SHARE,
                                            "hand": vlm_data.HAND_SHARE},
                           "init": str(args.init) if args.init else None, "init_training": init_record, "seed0": vlm_data.TRAIN_SEED0,
                           "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                           "last_log": log[-3:]}}
    model.eval().float()
    save(model.cpu(), processor, Path(args.out), record, view=args.view, pixels=args.side ** 2)
    print(f"saved {args.out}: {step} steps, {len(buf_img)} distinct samples, {el:.0f} s", flush=True)
    return record


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--minutes", type=float, default=6.0, help="training time after the buffer's first fill")
    ap.add_argument("--steps", type=int, default=0, help="a fixed number of steps instead of --minutes")
    ap.add_argument("--workers", type=int, default=max(1, mp.cpu_count() - 1))
    ap.add_argument("--worker0", type=int, default=0, help="first worker number (seed range)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--min-fill", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--init", type=Path, help="continue from this checkpoint (same tokenizer)")
    ap.add_argument("--view", default="grid", choices=["grid", "picture"],
                    help="what the model is shown: the located grid rectified, or the whole picture")
    ap.add_argument("--side", type=int, default=SIDE, help="the view's side in px (a multiple of 28)")
    ap.add_argument("--real", type=Path, help="a training/vlm_real.py pack of real photos (9x9 sudoku) mixed in")
    ap.add_argument("--real-share", type=float, default=vlm_data.REAL_SHARE, help="their share of the pictures")
    ap.add_argument("--no-augment", dest="augment", action="store_false",
                    help="no random mirroring and contrast/brightness jitter")
    train(ap.parse_args(argv))


if __name__ == "__main__":
    main()
