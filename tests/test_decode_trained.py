"""Every default decode and load path against plain ``generate`` / ``from_pretrained`` on the TRAINED
shipped model (vlm-puzzle-tiny): random weights have nearly tied logits, a trained model is where
exactness matters. CPU; the CUDA graph of the same step is checked on the GPU by
``experiments/bench_vlm_gpu.py --trained-check``."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vlm_puzzle.models import QwenVL  # noqa: E402
from vlm_puzzle.models.fast_decode import FastDecoder  # noqa: E402
from vlm_puzzle.models.greedy import greedy_generation_config, only_this_config  # noqa: E402
from vlm_puzzle.models.shipped import shipped_model_path  # noqa: E402
from vlm_puzzle.rules.prompt import build_prompt  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
IMAGES = sorted(SAMPLES.glob("*_2024.png"))[:3] + sorted(SAMPLES.glob("*_2024_photo.jpg"))[:2]


@pytest.fixture(scope="module")
def shipped():
    path = shipped_model_path()
    assert path is not None, "the package ships vlm-puzzle-tiny"
    return path


@pytest.fixture(scope="module")
def vlm(shipped):
    return QwenVL.from_pretrained(shipped, device="cpu", decode="plain")


def _prompts() -> list[str]:
    # The rule prompt, and every other one shortened: rows of different lengths (left padding).
    full = build_prompt()
    return [full if i % 2 == 0 else full[: len(full) // 2] for i in range(len(IMAGES))]


def _generate(vlm, inputs, cfg):
    with torch.inference_mode(), only_this_config(vlm.model, cfg):
        return vlm.model.generate(**inputs, generation_config=cfg)


@pytest.mark.parametrize("min_new", [0, 24])
def test_fast_decode_equals_generate_on_the_trained_model(vlm, min_new):
    """Batch of 5 real puzzle pictures (left padding), the project's rule prompt: the static loop (what
    ``auto`` and ``graph`` run on CPU, and the step the CUDA graph captures) gives generate's tokens, also
    when 24 tokens are forced past the model's usual 3-4 (more steps where a rounding could flip one)."""
    assert len(IMAGES) == 5
    inputs, _ = vlm.prepare_inputs(IMAGES, _prompts())
    assert (inputs["attention_mask"] == 0).any(), "prompts of different lengths: a left-padded batch"
    cfg = greedy_generation_config(vlm.model, vlm.tokenizer, max_new_tokens=24, min_new_tokens=min_new)
    ref = _generate(vlm, inputs, cfg)
    for mode in ("auto", "graph", "static"):
        dec = FastDecoder(vlm.model, mode)
        with only_this_config(vlm.model, cfg):
            got = dec.greedy(inputs, generation_config=cfg)
        assert dec.last_stats["mode"] == "static"
        assert torch.equal(got, ref), mode
    one, _ = vlm.prepare_inputs(IMAGES[:1], [build_prompt()])
    with only_this_config(vlm.model, cfg):
        assert torch.equal(FastDecoder(vlm.model).greedy(one, generation_config=cfg), _generate(vlm, one, cfg))


def test_wrapper_default_answers_equal_plain_generate(shipped, vlm):
    """QwenVL's default decode and the fast decode forced on give the same answers as decode="plain"."""
    plain = [g.token_ids for g in vlm.generate(IMAGES, _prompts(), max_new_tokens=16)]
    for decode in ("auto", "static"):
        other = QwenVL(vlm.model, vlm.processor, min_pixels=vlm.min_pixels, max_pixels=vlm.max_pixels, decode=decode)
        assert [g.token_ids for g in other.generate(IMAGES, _prompts(), max_new_tokens=16)] == plain, decode
        assert [g.token_ids for g in other.generate(IMAGES, _prompts(), max_new_tokens=16, batch_size=2)] == plain


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_prefetched_fast_load_of_the_trained_model_is_bit_identical(shipped, dtype):
    """The CUDA default (read prefetched, model built on meta adopting the read tensors) run on CPU: every
    parameter and buffer (rotary inv_freq recomputed, not left on meta) equals from_pretrained's; the
    parameters are the read tensors themselves (no second copy)."""
    from vlm_puzzle.models import fast_load

    pre = fast_load.Prefetch(shipped, "cpu")
    stats: dict = {}
    fast, why = fast_load.load_fast(shipped, device="cpu", dtype=dtype, attn_implementation="sdpa", prefetched=pre,
                                    stats=stats)
    assert why == "" and stats["total_s"] > 0
    plain = transformers.AutoModelForImageTextToText.from_pretrained(shipped, dtype=dtype, attn_implementation="sdpa")
    ta = dict(fast.named_parameters()) | dict(fast.named_buffers())
    tb = dict(plain.named_parameters()) | dict(plain.named_buffers())
    assert ta.keys() == tb.keys()
    assert [k for k in ta if ta[k].dtype != tb[k].dtype or not torch.equal(ta[k], tb[k])] == []
    assert not any(t.is_meta for t in ta.values())
    assert any(k.endswith("inv_freq") for k in ta)
    assert fast.lm_head.weight is fast.model.language_model.embed_tokens.weight
    assert fast.generation_config.to_dict() == plain.generation_config.to_dict()
    if dtype == torch.bfloat16:  # the checkpoint is bf16: adopted, not copied
        read = pre.result()
        ptrs = {t.untyped_storage().data_ptr() for t in read.values()}
        assert fast.model.language_model.embed_tokens.weight.untyped_storage().data_ptr() in ptrs
