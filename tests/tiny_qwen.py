"""Build tiny, offline Qwen-VL checkpoints with random weights.

Used by the tests and by ``experiments/test_vlm_inference_only.py``: a real
Qwen2-VL / Qwen2.5-VL / Qwen3-VL model class with a few layers, a byte-level BPE
tokenizer trained here with the ``tokenizers`` library (the Qwen special tokens
included), a real processor (image processor, video processor, tokenizer, chat
template) and a ``generation_config.json`` that asks for sampling, exactly the
trap real Qwen checkpoints ship. Everything is saved with ``save_pretrained`` so it
loads through ``AutoProcessor`` / ``AutoModelForImageTextToText`` like a download.

    python tests/tiny_qwen.py /tmp/tiny-qwen2-vl --arch qwen2_vl
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The special tokens of every Qwen-VL tokenizer (the ids differ here: tiny vocab) and a compact
# version of Qwen2-VL's chat template (same markers, same layout): the shipped model's own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from tiny_vlm import CHAT_TEMPLATE, SPECIAL_TOKENS  # noqa: E402

# Text the tokenizer learns its merges from: the words rule inference uses.
_CORPUS = [
    'Reply with one JSON object: {"kind": "sudoku", "size": 9, "box": [3, 3], "diagonals": false, '
    '"windows": false, "cages": false, "cage_op": null, "rules": "Fill the grid"}',
    "What puzzle is this? sudoku x-sudoku windoku jigsaw killer kenken cages sum add sub mul div",
    "You are a helpful assistant. The grid has rows, columns and boxes; every digit 1-9 once.",
    "0123456789 true false null [ ] { } : , \" ' ( ) + - * / x = . ! ?",
]

# Sampling defaults as real Qwen-VL checkpoints ship them (the greedy trap).
SAMPLING_GENERATION_CONFIG = dict(do_sample=True, temperature=0.7, top_k=20, top_p=0.8,
                                  repetition_penalty=1.05)

ARCHS = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


def build_tokenizer(vocab_size: int = 1024):
    """A byte-level BPE Qwen2Tokenizer trained on a tiny corpus (the rule prompt
    included, so prompts tokenize to roughly real-tokenizer lengths), Qwen special
    tokens at ids 0-6."""
    import json

    from vlm_puzzle.rules.prompt import RULES_PROMPT

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(_CORPUS * 4 + [RULES_PROMPT] * 4, trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, unk_token="<|endoftext|>",
                               eos_token="<|im_end|>", pad_token="<|endoftext|>",
                               extra_special_tokens=list(SPECIAL_TOKENS[1:]))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def token_ids(tokenizer) -> dict[str, int]:
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return {"image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
            "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
            "eos_token_id": ids["<|im_end|>"], "bos_token_id": ids["<|endoftext|>"],
            "pad_token_id": ids["<|endoftext|>"]}


def tiny_config(arch: str, vocab_size: int, ids: dict[str, int], *, hidden: int = 64, layers: int = 2,
                tie_word_embeddings: bool = False):
    """A Qwen-VL config of the given architecture, a few layers wide ``hidden`` (lm_head tied to the
    embeddings if asked, as the 2B-4B checkpoints are)."""
    import transformers

    text = dict(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                max_position_embeddings=4096, rms_norm_eps=1e-6,
                bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"],
                pad_token_id=ids["pad_token_id"], tie_word_embeddings=tie_word_embeddings)
    tokens = {k: ids[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                  "vision_end_token_id")}
    tokens["tie_word_embeddings"] = tie_word_embeddings
    head_dim = hidden // 4
    # mrope sections are in units of head_dim/2 frequencies (temporal, height, width).
    half = head_dim // 2
    section = [half - 2 * (half // 4 + half // 8), half // 4 + half // 8, half // 4 + half // 8]
    if arch == "qwen2_vl":
        text["rope_parameters"] = {"rope_type": "default", "mrope_section": section, "rope_theta": 1e6}
        vision = dict(depth=1, embed_dim=32, hidden_size=hidden, num_heads=2, mlp_ratio=2,
                      patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
        return transformers.Qwen2VLConfig(text_config=text, vision_config=vision, **tokens)
    if arch == "qwen2_5_vl":
        text["rope_parameters"] = {"rope_type": "default", "mrope_section": section, "rope_theta": 1e6}
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden,
                      patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                      fullatt_block_indexes=[1])
        return transformers.Qwen2_5_VLConfig(text_config=text, vision_config=vision, **tokens)
    if arch == "qwen3_vl":
        text.update(head_dim=head_dim, rope_parameters={"rope_type": "default", "mrope_section": section,
                                                        "mrope_interleaved": True, "rope_theta": 5e6})
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden,
                      patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                      num_position_embeddings=64, deepstack_visual_indexes=[0])
        return transformers.Qwen3VLConfig(text_config=text, vision_config=vision, **tokens)
    raise ValueError(f"unknown tiny architecture {arch!r}; expected one of {ARCHS}")


def build_processor(arch: str, tokenizer=None):
    """The real processor class of ``arch`` around ``tokenizer`` (a tiny one by default)."""
    import transformers

    tokenizer = tokenizer or build_tokenizer()
    patch = 16 if arch == "qwen3_vl" else 14
    image_processor = transformers.Qwen2VLImageProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2)
    if arch == "qwen3_vl":
        video = transformers.Qwen3VLVideoProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2)
        cls = transformers.Qwen3VLProcessor
    else:
        video = transformers.Qwen2VLVideoProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2)
        cls = transformers.Qwen2_5_VLProcessor if arch == "qwen2_5_vl" else transformers.Qwen2VLProcessor
    return cls(image_processor=image_processor, tokenizer=tokenizer, video_processor=video,
               chat_template=CHAT_TEMPLATE)


def build_tiny_qwen(out_dir: str | Path, arch: str = "qwen2_vl", *, seed: int = 0,
                    hidden: int = 64, layers: int = 2, tie_word_embeddings: bool = False,
                    generation_config: dict | None = None) -> Path:
    """Save a tiny random-weight ``arch`` checkpoint (model, processor, sampling
    generation_config.json) into ``out_dir`` and return it."""
    import torch
    import transformers

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    ids = token_ids(tokenizer)
    config = tiny_config(arch, len(tokenizer), ids, hidden=hidden, layers=layers,
                         tie_word_embeddings=tie_word_embeddings)
    torch.manual_seed(seed)
    model = transformers.AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    gen = dict(SAMPLING_GENERATION_CONFIG, bos_token_id=ids["bos_token_id"],
               eos_token_id=[ids["eos_token_id"], ids["bos_token_id"]], pad_token_id=ids["pad_token_id"])
    gen.update(generation_config or {})
    model.generation_config = transformers.GenerationConfig(**gen)
    model.save_pretrained(out)
    build_processor(arch, tokenizer).save_pretrained(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--arch", choices=ARCHS, default="qwen2_vl")
    args = ap.parse_args()
    print(build_tiny_qwen(args.out_dir, args.arch))


if __name__ == "__main__":
    main()
