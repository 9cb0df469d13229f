"""True greedy decoding whatever the checkpoint's ``generation_config.json`` says.

Qwen-VL checkpoints ship ``do_sample=true`` with temperature/top-k/top-p and some a
``repetition_penalty`` of 1.05, which ``generate`` applies in greedy mode too (and
which hurts reading repetitive grids). ``generate`` also fills every field a passed
config leaves unset (``None``) from the model's stored config. So we build one
complete config, and for the duration of the call present a copy of it as the
model's stored config, so nothing can leak in; the stored one is put back after.
"""
from __future__ import annotations

import contextlib
import copy
import threading

# Every generation parameter that changes which token is picked, at its neutral value.
NEUTRAL = dict(
    do_sample=False, num_beams=1, num_return_sequences=1, use_cache=True,
    temperature=1.0, top_k=None, top_p=1.0, typical_p=1.0, min_p=None,
    epsilon_cutoff=0.0, eta_cutoff=0.0,
    repetition_penalty=1.0, encoder_repetition_penalty=1.0, length_penalty=1.0,
    no_repeat_ngram_size=0, encoder_no_repeat_ngram_size=0, bad_words_ids=None,
    suppress_tokens=None, begin_suppress_tokens=None, sequence_bias=None,
    forced_bos_token_id=None, forced_eos_token_id=None, exponential_decay_length_penalty=None,
    remove_invalid_values=False, renormalize_logits=False, guidance_scale=None,
    watermarking_config=None, min_length=None, max_length=None,  # None: the neutral global default (0)
    output_scores=False, output_logits=False, return_dict_in_generate=False,
    # Other decoding strategies, stop rules and caches a checkpoint could switch on.
    num_beam_groups=1, diversity_penalty=0.0, penalty_alpha=None, dola_layers=None, top_h=None,
    prompt_lookup_num_tokens=None, stop_strings=None, max_time=None, cache_implementation=None,
)

_SWAP_LOCK = threading.RLock()


def eos_token_ids(model, tokenizer) -> list[int]:
    """The stop tokens: the checkpoint's EOS ids, the tokenizer's EOS and ``<|im_end|>``."""
    ids: list[int] = []
    stored = getattr(model.generation_config, "eos_token_id", None)
    for value in (stored if isinstance(stored, (list, tuple)) else [stored]):
        if value is not None:
            ids.append(int(value))
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.append(im_end)
    return sorted(set(ids))


def greedy_generation_config(model, tokenizer, *, max_new_tokens: int, min_new_tokens: int = 0):
    """One complete, explicit greedy ``GenerationConfig`` bounded to ``max_new_tokens``.

    ``min_new_tokens`` > 0 forbids EOS before that many tokens (benchmarks use
    ``min_new_tokens == max_new_tokens`` for a fixed amount of decode work).
    """
    from transformers import GenerationConfig

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    eos = eos_token_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = getattr(model.generation_config, "pad_token_id", None)
    if pad is None and eos:
        pad = eos[0]
    params = dict(NEUTRAL, max_new_tokens=int(max_new_tokens), min_new_tokens=int(min_new_tokens) or None,
                  eos_token_id=eos, pad_token_id=pad,
                  bos_token_id=getattr(model.generation_config, "bos_token_id", None))
    known = set(GenerationConfig().to_dict())
    # Older/newer transformers may lack a field: drop it rather than pass it as a custom entry.
    return GenerationConfig(**{k: v for k, v in params.items() if k in known or k in (
        "max_new_tokens", "min_new_tokens", "eos_token_id", "pad_token_id", "bos_token_id")})


@contextlib.contextmanager
def only_this_config(model, config):
    """Present a copy of ``config`` as ``model.generation_config`` inside the block.

    ``generate`` fills unset fields from the stored config; with this, it fills
    them from our own. The stored object is restored (the same object, untouched).
    """
    with _SWAP_LOCK:
        stored = model.generation_config
        model.generation_config = copy.deepcopy(config)
        try:
            yield
        finally:
            model.generation_config = stored
