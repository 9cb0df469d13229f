"""QwenVL wrapper on tiny random-weight Qwen-VL checkpoints built offline (tests/tiny_qwen.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).parent))
from tiny_qwen import build_tiny_qwen  # noqa: E402

from vlm_puzzle.errors import ImageError, ModelError  # noqa: E402
from vlm_puzzle.models import QwenVL  # noqa: E402
from vlm_puzzle.models import loading  # noqa: E402

PROMPT = "What puzzle is this? Reply in JSON."
# Small images keep these tests fast; the default bounds are exercised by the experiment.
PIXELS = dict(min_pixels=32 * 28 * 28, max_pixels=96 * 28 * 28)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and CI's 2 cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny") / "qwen2_vl", "qwen2_vl")


@pytest.fixture(scope="module")
def vlm(ckpt):
    return QwenVL.from_pretrained(ckpt, device="cpu", **PIXELS)


def _grid_image(w=300, h=260, seed=0):
    """A drawn grid with a few dark cells: a real, non-uniform image."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 255, np.uint8)
    for i in range(10):
        img[int(i * (h - 1) / 9), :] = 0
        img[:, int(i * (w - 1) / 9)] = 0
    for _ in range(12):
        r, c = rng.integers(0, 9, 2)
        img[int(r * h / 9) + 5:int((r + 1) * h / 9) - 5, int(c * w / 9) + 5:int((c + 1) * w / 9) - 5] = 60
    return img


def _argmax_reference(model, inputs, n, eos=()):
    """Greedy by hand: full forward (no cache) each step, argmax of the last logits."""
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    mm = inputs.get("mm_token_type_ids")
    out = []
    with torch.inference_mode():
        for _ in range(n):
            kw = dict(input_ids=ids, attention_mask=mask, pixel_values=inputs["pixel_values"],
                      image_grid_thw=inputs["image_grid_thw"], use_cache=False)
            if mm is not None:
                kw["mm_token_type_ids"] = mm
            t = int(model(**kw).logits[0, -1].argmax())
            out.append(t)
            if t in eos:
                break
            ids = torch.cat([ids, torch.tensor([[t]])], 1)
            mask = torch.cat([mask, torch.ones(1, 1, dtype=mask.dtype)], 1)
            if mm is not None:
                mm = torch.cat([mm, torch.zeros(1, 1, dtype=mm.dtype)], 1)
    return out


@pytest.mark.parametrize("arch", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_loads_every_family_and_reports(tmp_path, arch):
    path = build_tiny_qwen(tmp_path / arch, arch)
    vlm = QwenVL.from_pretrained(path, device="cpu", **PIXELS)
    assert vlm.model.dtype == torch.float32
    assert vlm.attn_implementation == "sdpa" == vlm.model.config._attn_implementation
    assert "flash_attention_2 needs a CUDA GPU" in vlm.attn_reason
    [g] = vlm.generate([_grid_image()], PROMPT, max_new_tokens=4)
    w, h = g.image_size
    assert w % vlm.factor == 0 and h % vlm.factor == 0
    assert vlm.min_pixels <= w * h <= vlm.max_pixels
    assert g.visual_tokens == (w // vlm.factor) * (h // vlm.factor) == vlm.visual_tokens(300, 260)
    assert g.prompt_tokens > g.visual_tokens
    assert 1 <= g.n_tokens <= 4 and len(g.token_ids) == g.n_tokens
    t = g.timings
    assert t.load_s > 0 and t.preprocess_s > 0 and t.prefill_s > 0 and t.decode_s >= 0
    assert g.attn_implementation == "sdpa" and g.decode == "plain"


def test_requested_flash_falls_back_to_sdpa(ckpt):
    # flash_attn is not installed here and there is no GPU: transformers refuses it at load.
    vlm = QwenVL.from_pretrained(ckpt, device="cpu", attn_implementation="flash_attention_2", **PIXELS)
    assert vlm.attn_implementation == "sdpa" == vlm.model.config._attn_implementation
    assert vlm.attn_reason.startswith("flash_attention_2 failed")


def test_failing_sdpa_falls_back_to_eager(ckpt, monkeypatch):
    real = loading.load_model

    def sdpa_breaks(auto, name, impl, *args):
        if impl == "sdpa":
            raise RuntimeError("sdpa kernel unavailable (forced by the test)")
        return real(auto, name, impl, *args)

    monkeypatch.setattr(loading, "load_model", sdpa_breaks)
    vlm = QwenVL.from_pretrained(ckpt, device="cpu", **PIXELS)
    assert vlm.attn_implementation == "eager" == vlm.model.config._attn_implementation
    assert "sdpa failed (RuntimeError: sdpa kernel unavailable" in vlm.attn_reason
    [g] = vlm.generate([_grid_image()], PROMPT, max_new_tokens=2)
    assert g.attn_implementation == "eager"


def test_greedy_whatever_the_checkpoint_says(vlm):
    stored = vlm.model.generation_config
    before = stored.to_dict()
    assert before["do_sample"] and before["repetition_penalty"] == 1.05  # the trap is armed
    img = _grid_image()
    runs = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        runs.append(vlm.generate([img], PROMPT, max_new_tokens=10)[0].token_ids)
    assert runs[0] == runs[1] == runs[2]
    inputs, _ = vlm.prepare_inputs([img], [PROMPT])
    assert list(runs[0]) == _argmax_reference(vlm.model, inputs, 10, set(vlm.last_generation_config.eos_token_id))
    assert vlm.model.generation_config is stored and stored.to_dict() == before
    cfg = vlm.last_generation_config
    assert cfg.do_sample is False and cfg.num_beams == 1 and cfg.repetition_penalty == 1.0
    assert cfg.max_new_tokens == 10 and cfg.use_cache is True and cfg.eos_token_id


def test_checkpoint_fields_do_not_leak_into_generation(vlm):
    """A stored field our config leaves unset would be merged in by generate(); it must not be."""
    img = _grid_image(seed=3)
    [ref] = vlm.generate([img], PROMPT, max_new_tokens=3)
    stored = vlm.model.generation_config
    stored.suppress_tokens = [ref.token_ids[0]]  # as if generation_config.json said so
    try:
        inputs, _ = vlm.prepare_inputs([img], [PROMPT])
        naive = vlm.model.generate(**inputs, generation_config=transformers.GenerationConfig(
            do_sample=False, max_new_tokens=3))
        assert naive[0, inputs["input_ids"].shape[1]].item() != ref.token_ids[0]  # the trap is real
        [again] = vlm.generate([img], PROMPT, max_new_tokens=3)
        assert again.token_ids == ref.token_ids
        assert vlm.model.generation_config.suppress_tokens == [ref.token_ids[0]]
    finally:
        stored.suppress_tokens = None


def test_max_new_tokens_is_a_hard_bound(vlm):
    for n in (1, 5):
        [g] = vlm.generate([_grid_image()], PROMPT, max_new_tokens=n, min_new_tokens=n)
        assert g.n_tokens == n and g.stopped_by == "max_new_tokens"
    with pytest.raises(ValueError):
        vlm.generate([_grid_image()], PROMPT, max_new_tokens=0)


def test_stops_at_eos(vlm):
    img = _grid_image(seed=5)
    [free] = vlm.generate([img], PROMPT, max_new_tokens=8, min_new_tokens=8)
    eos = vlm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    calls = {"n": 0}

    def eos_wins_at_step_3(module, args, output):
        calls["n"] += 1
        if calls["n"] == 3:
            output = output.clone()
            output[:, -1, eos] += 1e4
        return output

    handle = vlm.model.lm_head.register_forward_hook(eos_wins_at_step_3)
    try:
        [g] = vlm.generate([img], PROMPT, max_new_tokens=8)
    finally:
        handle.remove()
    assert g.stopped_by == "eos" and g.n_tokens == 3
    assert g.token_ids[-1] == eos and g.token_ids[:2] == free.token_ids[:2]
    assert "<|im_end|>" not in g.text


def test_batch_with_left_padding_equals_one_by_one(vlm):
    images = [_grid_image(300, 260, 1), _grid_image(520, 400, 2), _grid_image(200, 420, 3)]
    prompts = [PROMPT, "Which rules apply?", "Size of the grid and kind of puzzle, as JSON please."]
    batch = vlm.generate(images, prompts, max_new_tokens=6)
    single = [vlm.generate([im], p, max_new_tokens=6)[0] for im, p in zip(images, prompts)]
    assert [g.token_ids for g in batch] == [g.token_ids for g in single]
    assert [g.text for g in batch] == [g.text for g in single]
    assert all(g.batch_size == 3 for g in batch) and single[0].batch_size == 1
    assert len({g.prompt_tokens for g in batch}) > 1  # really padded
    assert [g.token_ids for g in vlm.generate(images, prompts, max_new_tokens=6, batch_size=2)] == \
        [g.token_ids for g in single]


def test_out_of_memory_retries_with_fewer_pixels(vlm, monkeypatch):
    real = QwenVL._generate_batch
    seen = []

    def oom_over(limit):
        def fake(self, images, prompts, n, m, max_pixels):
            seen.append(max_pixels)
            if max_pixels > limit:
                raise torch.OutOfMemoryError("CUDA out of memory (forced by the test)")
            return real(self, images, prompts, n, m, max_pixels)
        return fake

    monkeypatch.setattr(QwenVL, "_generate_batch", oom_over(vlm.max_pixels // 2))
    [g] = vlm.generate([_grid_image()], PROMPT, max_new_tokens=2)
    assert seen == [vlm.max_pixels, vlm.max_pixels // 2] and g.max_pixels == vlm.max_pixels // 2
    monkeypatch.setattr(QwenVL, "_generate_batch", oom_over(0))
    with pytest.raises(ModelError) as err:
        vlm.generate([_grid_image()], PROMPT, max_new_tokens=2)
    assert err.value.code == "model_out_of_memory" and "max_pixels" in err.value.message


def test_missing_weights(tmp_path):
    with pytest.raises(ModelError) as err:
        QwenVL.from_pretrained(tmp_path / "nowhere")
    assert err.value.code == "model_not_found" and "VLM_PUZZLE_MODEL" in err.value.message
    with pytest.raises(ModelError) as err:
        QwenVL.from_pretrained(tmp_path)  # a folder, but no checkpoint in it
    assert err.value.code == "model_not_found" and "config.json" in err.value.message
    with pytest.raises(ModelError) as err:
        QwenVL.from_pretrained("no-such-org/no-such-qwen-vl-model")  # a hub id not in the cache
    assert err.value.code == "model_not_found" and "local_files_only=True" in err.value.message


def test_wrong_architecture(tmp_path):
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=64))
    gpt2.save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ModelError) as err:
        QwenVL.from_pretrained(tmp_path / "gpt2")
    assert err.value.code == "model_wrong_architecture" and "'gpt2'" in err.value.message


def test_bad_requests(vlm, tmp_path):
    with pytest.raises(ModelError) as err:
        vlm.generate([_grid_image(), _grid_image()], [PROMPT], max_new_tokens=2)
    assert err.value.code == "model_bad_request"
    with pytest.raises(ImageError):
        vlm.generate([tmp_path / "missing.png"], PROMPT, max_new_tokens=2)
    assert vlm.generate([], PROMPT) == []
    if not torch.cuda.is_available():
        with pytest.raises(ModelError) as err:
            QwenVL.from_pretrained(vlm.name, device="cuda")
        assert err.value.code == "model_no_device"
    with pytest.raises(ModelError) as err:
        QwenVL.from_pretrained(vlm.name, device="cpu", dtype="float8")
    assert err.value.code == "model_bad_request"


def test_import_stays_light():
    code = ("import sys, vlm_puzzle, vlm_puzzle.models, vlm_puzzle.rules, vlm_puzzle.rules.vlm; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fast_decode_switch_matches_plain(ckpt):
    """decode="static" goes through models/fast_decode.py (its CPU path) and gives the same tokens."""
    pytest.importorskip("vlm_puzzle.models.fast_decode")
    plain = QwenVL.from_pretrained(ckpt, device="cpu", decode="plain", **PIXELS)
    fast = QwenVL.from_pretrained(ckpt, device="cpu", decode="static", **PIXELS)
    images = [_grid_image(300, 260, 1), _grid_image(420, 300, 2)]
    a = plain.generate(images, PROMPT, max_new_tokens=6)
    b = fast.generate(images, PROMPT, max_new_tokens=6)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert a[0].decode == "plain" and b[0].decode == "fast-static"
    auto = QwenVL.from_pretrained(ckpt, device="cpu", **PIXELS)
    assert auto.generate(images[:1], PROMPT, max_new_tokens=2)[0].decode == "plain"
    assert "plain generate on cpu" in auto.decode_reason


@pytest.mark.parametrize("h, w", [(980, 980), (300, 200), (4000, 3000), (57, 1200), (1080, 1920), (28, 28)])
@pytest.mark.parametrize("factor", [28, 32])
def test_image_bounds_follow_qwen_vl_utils(h, w, factor):
    qvu = pytest.importorskip("qwen_vl_utils.vision_process")
    from vlm_puzzle.models.images import smart_resize

    lo, hi = 256 * 28 * 28, 512 * 28 * 28
    assert smart_resize(h, w, factor, lo, hi) == qvu.smart_resize(h, w, factor, min_pixels=lo, max_pixels=hi)


def test_absurd_aspect_ratio_is_an_image_error():
    from vlm_puzzle.models.images import smart_resize

    with pytest.raises(ImageError) as err:
        smart_resize(10, 5000, 28, 3136, 401408)
    assert err.value.code == "bad_aspect_ratio"


def _same_tensors(a, b) -> list[str]:
    """Names whose tensors differ (value, dtype or presence) between two models, buffers included."""
    ta = dict(a.named_parameters()) | dict(a.named_buffers())
    tb = dict(b.named_parameters()) | dict(b.named_buffers())
    if ta.keys() != tb.keys():
        return sorted(ta.keys() ^ tb.keys())
    return [k for k in ta if ta[k].dtype != tb[k].dtype or not torch.equal(ta[k], tb[k])]


@pytest.mark.parametrize("arch, tied, dtype", [("qwen2_vl", True, torch.float32), ("qwen2_5_vl", False, torch.bfloat16),
                                               ("qwen3_vl", True, torch.bfloat16)])
def test_fast_load_equals_from_pretrained(tmp_path, arch, tied, dtype):
    """fast_load.load_fast: every parameter and buffer (rotary inv_freq included), the configs and the
    greedy tokens as from_pretrained; float32 weights cast to bf16 the same way; tied lm_head tied."""
    from vlm_puzzle.models.fast_load import load_fast

    path = build_tiny_qwen(tmp_path / arch, arch, tie_word_embeddings=tied)
    fast, why = load_fast(path, device="cpu", dtype=dtype, attn_implementation="sdpa")
    assert why == "" and fast is not None
    plain = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    assert _same_tensors(fast, plain) == []
    assert any(n.endswith("inv_freq") for n, _ in fast.named_buffers())
    assert (fast.lm_head.weight is fast.model.language_model.embed_tokens.weight) == tied
    assert fast.generation_config.to_dict() == plain.generation_config.to_dict()
    assert fast.config.to_dict() == plain.config.to_dict() and not fast.training

    a = QwenVL.from_pretrained(path, device="cpu", dtype=dtype, load="fast", decode="plain", **PIXELS)
    b = QwenVL.from_pretrained(path, device="cpu", dtype=dtype, load="plain", decode="plain", **PIXELS)
    assert (a.load_path, b.load_path) == ("fast", "plain")
    images = [_grid_image(300, 260, 1), _grid_image(420, 300, 2)]
    assert [g.token_ids for g in a.generate(images, PROMPT, max_new_tokens=8)] == \
        [g.token_ids for g in b.generate(images, PROMPT, max_new_tokens=8)]


def test_fast_load_falls_back_where_the_checkpoint_does_not_map(tmp_path, caplog):
    from safetensors.torch import load_file, save_file

    from vlm_puzzle.models.fast_load import load_fast

    path = build_tiny_qwen(tmp_path / "m", "qwen2_5_vl")
    weights = load_file(str(path / "model.safetensors"))
    weights["model.extra.weight"] = torch.zeros(3)
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    model, why = load_fast(path, device="cpu", dtype=torch.float32)
    assert model is None and "model.extra.weight" in why
    with caplog.at_level("INFO", logger="vlm_puzzle.models.loading"):
        vlm = QwenVL.from_pretrained(path, device="cpu", load="fast", **PIXELS)
    assert vlm.load_path == "plain" and "model.extra.weight" in vlm.load_reason
    assert "model.extra.weight" in caplog.text
    assert vlm.generate([_grid_image()], PROMPT, max_new_tokens=2)[0].n_tokens >= 1
    # a parameter the checkpoint lacks: from_pretrained would initialise it randomly, fast load refuses
    del weights["model.extra.weight"]
    key = next(k for k in weights if k.endswith(".norm.weight") and "visual" not in k)
    del weights[key]
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    model, why = load_fast(path, device="cpu", dtype=torch.float32)
    assert model is None and "missing" in why and "norm.weight" in why


def test_load_mode_auto_is_from_pretrained_on_cpu(ckpt, monkeypatch):
    vlm = QwenVL.from_pretrained(ckpt, device="cpu", **PIXELS)
    assert vlm.load_path == "plain" and "memory-mapped" in vlm.load_reason
    monkeypatch.setenv("VLM_PUZZLE_LOAD", "fast")
    assert QwenVL.from_pretrained(ckpt, device="cpu", **PIXELS).load_path == "fast"
    with pytest.raises(ModelError) as err:
        QwenVL.from_pretrained(ckpt, device="cpu", load="turbo")
    assert err.value.code == "model_bad_request"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_load_chunked_and_prefetched_paths(tmp_path, dtype):
    """The CUDA code paths, run on CPU: pinned-chunk streaming with chunks far smaller than the tensors
    (and float32 -> bf16 casts across chunk borders), and the background Prefetch copy."""
    from transformers.initialization import no_init_weights

    from vlm_puzzle.models import fast_load

    path = build_tiny_qwen(tmp_path / "m", "qwen2_5_vl", tie_word_embeddings=True)
    plain = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
    config = transformers.AutoConfig.from_pretrained(path)
    for chunk_mb in (0.01, 1):
        with no_init_weights():
            model = type(plain)._from_config(config, dtype=dtype)
        model.tie_weights()
        fast_load._reinit_non_persistent_buffers(model)
        assert fast_load.load_into(model, path, chunked=True, chunk_mb=chunk_mb) == ""
        assert _same_tensors(model, plain) == []
    model, why = fast_load.load_fast(path, device="cpu", dtype=dtype, prefetched=fast_load.Prefetch(path, "cpu"))
    assert why == "" and _same_tensors(model, plain) == []
