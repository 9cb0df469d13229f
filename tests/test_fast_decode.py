"""The fast decode path (models/fast_decode.py) gives exactly the tokens of greedy ``model.generate``.

Tiny random-weight Qwen2-VL / Qwen2.5-VL / Qwen3-VL models (tests/tiny_qwen.py) on CPU: batch 1 and
batches with left padding, EOS in the middle, min_new_tokens, eager attention. The CUDA-graph part runs
only where CUDA is present; on CPU the static-cache loop is what runs.
"""
from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).parent))
import tiny_qwen  # noqa: E402

from vlm_puzzle.models import compiled_decode  # noqa: E402
from vlm_puzzle.models.fast_decode import FastDecoder, greedy_generate, supports  # noqa: E402

PROMPTS = ["What puzzle is this?", "sudoku", "Reply with one JSON object: killer cages sum add"]
SIZES = [(56, 56), (84, 112), (112, 56)]  # (h, w): different visual token counts -> left padding


@functools.lru_cache(maxsize=None)
def _build(arch: str, attn: str = "sdpa"):
    tok = tiny_qwen.build_tokenizer()
    ids = tiny_qwen.token_ids(tok)
    cfg = tiny_qwen.tiny_config(arch, len(tok), ids)
    torch.manual_seed(0)
    model = transformers.AutoModelForImageTextToText.from_config(cfg, dtype=torch.float32,
                                                                 attn_implementation=attn).eval()
    proc = tiny_qwen.build_processor(arch, tok)
    proc.tokenizer.padding_side = "left"
    return model, proc, ids


def _inputs(proc, n: int):
    from PIL import Image

    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in SIZES[:n]]
    texts = [proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p}]}],
                                      tokenize=False, add_generation_prompt=True) for p in PROMPTS[:n]]
    return proc(text=texts, images=images, padding=True, return_tensors="pt")


def _config(ids, max_new: int, eos, min_new: int | None = None):
    # Every field explicit: generate fills unset ones from the model's stored config.
    return transformers.GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new,
                                         min_new_tokens=min_new, eos_token_id=eos,
                                         pad_token_id=ids["pad_token_id"], repetition_penalty=1.0)


def _reference(model, inputs, cfg):
    with torch.inference_mode():
        return model.generate(**inputs, generation_config=cfg)


@pytest.fixture(params=tiny_qwen.ARCHS)
def tiny(request):
    return _build(request.param)


def test_batched_left_padding_eos_in_the_middle(tiny):
    model, proc, ids = tiny
    inputs = _inputs(proc, 3)
    assert (inputs["attention_mask"] == 0).any(), "the batch must be left-padded"
    prompt_len = inputs["input_ids"].shape[1]
    free = _reference(model, inputs, _config(ids, 16, [ids["eos_token_id"]]))
    # A token row 0 produces mid-answer becomes the EOS: row 0 stops there, others go on or stop elsewhere.
    eos = int(free[0, prompt_len + 4])
    cfg = _config(ids, 16, [eos, ids["eos_token_id"]])
    ref = _reference(model, inputs, cfg)
    got = greedy_generate(model, inputs, generation_config=cfg, mode="static")
    assert torch.equal(got, ref)
    new = ref[0, prompt_len:].tolist()
    cut = new.index(eos)
    assert cut < len(new) - 1 and set(new[cut + 1:]) == {ids["pad_token_id"]}, "EOS mid-row, pad after it"


def test_batch_one_and_min_new_tokens(tiny):
    model, proc, ids = tiny
    inputs = _inputs(proc, 1)
    prompt_len = inputs["input_ids"].shape[1]
    free = _reference(model, inputs, _config(ids, 12, [ids["eos_token_id"]]))
    eos = int(free[0, prompt_len + 2])
    for min_new in (None, 6):
        cfg = _config(ids, 12, [eos], min_new)
        ref = _reference(model, inputs, cfg)
        got = greedy_generate(model, inputs, generation_config=cfg, mode="static")
        assert torch.equal(got, ref)
    assert got.shape[1] > prompt_len + 3, "min_new_tokens kept EOS from ending the answer early"


def test_auto_and_graph_fall_back_to_the_static_loop_on_cpu():
    model, proc, ids = _build("qwen2_5_vl")
    if torch.cuda.is_available():
        pytest.skip("CPU behaviour")
    inputs = _inputs(proc, 2)
    cfg = _config(ids, 10, [ids["eos_token_id"]])
    ref = _reference(model, inputs, cfg)
    for mode in ("auto", "graph"):
        dec = FastDecoder(model, mode)
        new = dec.generate(inputs, max_new_tokens=10, eos_token_id=[ids["eos_token_id"]],
                           pad_token_id=ids["pad_token_id"])
        assert dec.last_stats["mode"] == "static"
        assert torch.equal(new, ref[:, inputs["input_ids"].shape[1]:])


def test_sessions_are_reused_and_stay_exact():
    model, proc, ids = _build("qwen2_5_vl")
    dec = FastDecoder(model, "static")
    one, three = _inputs(proc, 1), _inputs(proc, 3)
    for inputs, max_new in ((three, 9), (one, 5), (three, 9), (three, 3)):
        new = dec.generate(inputs, max_new_tokens=max_new, eos_token_id=[ids["eos_token_id"]],
                           pad_token_id=ids["pad_token_id"])
        ref = _reference(model, inputs, _config(ids, max_new, [ids["eos_token_id"]]))
        assert torch.equal(new, ref[:, inputs["input_ids"].shape[1]:])
    assert len(dec._sessions) == 2  # (batch 3, bucket) and (batch 1, bucket)


def test_eager_attention_mask_path():
    model, proc, ids = _build("qwen2_vl", attn="eager")
    inputs = _inputs(proc, 3)
    cfg = _config(ids, 10, [ids["eos_token_id"]])
    assert torch.equal(greedy_generate(model, inputs, generation_config=cfg, mode="static"),
                       _reference(model, inputs, cfg))


@pytest.mark.parametrize("float_mask", [True, False])
def test_decode_mask_as_float_or_bool_gives_generate_tokens(tiny, float_mask):
    """The step's sdpa mask built once as 0/-inf (the default) or passed as bool (sdpa converts it in every
    layer): generate's tokens either way, on a left-padded batch."""
    model, proc, ids = tiny
    inputs = _inputs(proc, 3)
    cfg = _config(ids, 10, [ids["eos_token_id"]])
    dec = FastDecoder(model, "static", float_mask=float_mask)
    assert torch.equal(dec.greedy(inputs, generation_config=cfg), _reference(model, inputs, cfg))
    sess = next(iter(dec._sessions.values()))
    assert dec._mask(sess).dtype == (model.dtype if float_mask else torch.bool)


def test_decode_sdpa_backend_is_checked(monkeypatch):
    model, _, _ = _build("qwen2_5_vl")
    with pytest.raises(ValueError):
        FastDecoder(model, "static", sdpa_backend="fastest")
    monkeypatch.setenv("VLM_PUZZLE_DECODE_MASK", "bool")
    monkeypatch.setenv("VLM_PUZZLE_DECODE_SDPA", "math")
    dec = FastDecoder(model, "static")
    assert (dec.float_mask, dec.sdpa_backend) == (False, "math")


def test_streamer_sees_prompt_then_every_token():
    model, proc, ids = _build("qwen3_vl")
    inputs = _inputs(proc, 2)

    class Rec:
        def __init__(self):
            self.puts, self.ended = [], False

        def put(self, value):
            self.puts.append(value)

        def end(self):
            self.ended = True

    rec = Rec()
    cfg = _config(ids, 7, [ids["eos_token_id"]], 7)
    out = greedy_generate(model, inputs, generation_config=cfg, streamer=rec)
    assert rec.ended and torch.equal(rec.puts[0], inputs["input_ids"])
    assert len(rec.puts) == 1 + 7 == 1 + out.shape[1] - inputs["input_ids"].shape[1]


def test_refuses_what_greedy_generate_would_not_reproduce():
    ok, why = supports(transformers.GenerationConfig(do_sample=True, max_new_tokens=4))
    assert not ok and "do_sample" in why
    ok, why = supports(transformers.GenerationConfig(do_sample=False, max_new_tokens=4, repetition_penalty=1.05))
    assert not ok and "repetition_penalty" in why
    assert supports(transformers.GenerationConfig(do_sample=False, max_new_tokens=4, temperature=0.7))[0]
    with pytest.raises(ValueError):
        FastDecoder(object.__new__(type("M", (), {})), "turbo")


def test_compile_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VLM_PUZZLE_COMPILE_CACHE", str(tmp_path / "cc"))
    assert compiled_decode.compile_cache_dir() == tmp_path / "cc"
    monkeypatch.delenv("VLM_PUZZLE_COMPILE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compiled_decode.compile_cache_dir() == tmp_path / "xdg" / "vlm_puzzle" / "torch_compile"
    monkeypatch.setenv("VLM_PUZZLE_COMPILE_CACHE", "off")
    assert compiled_decode.compile_cache_dir() is None
    with compiled_decode.compile_cache() as path:
        assert path is None


def test_compile_cache_is_scoped_to_the_block(monkeypatch, tmp_path):
    # An explicit cache dir wins over an Inductor default already in the environment, inside the block only.
    monkeypatch.setenv("VLM_PUZZLE_COMPILE_CACHE", str(tmp_path / "cc"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_someone")
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    with compiled_decode.compile_cache() as path:
        assert path == tmp_path / "cc" and path.is_dir()
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cc" / "inductor")
        assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "cc" / "triton")
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/tmp/torchinductor_someone"
    assert "TRITON_CACHE_DIR" not in os.environ
    # The default folder only fills what is unset.
    monkeypatch.delenv("VLM_PUZZLE_COMPILE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with compiled_decode.compile_cache():
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/tmp/torchinductor_someone"
        assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "xdg" / "vlm_puzzle" / "torch_compile" / "triton")
    assert "TRITON_CACHE_DIR" not in os.environ


def test_compile_options_and_emulate_knob(monkeypatch):
    assert compiled_decode.compile_options(None, False) == {}
    assert compiled_decode.compile_options(None, True) == {"emulate_precision_casts": True}
    assert compiled_decode.compile_options("max-autotune-no-cudagraphs", True)["max_autotune"] is True
    model, _, _ = _build("qwen2_5_vl")
    monkeypatch.setenv("VLM_PUZZLE_EMULATE_PRECISION", "1")
    assert FastDecoder(model, "regional").emulate_precision_casts is True
    assert FastDecoder(model, "regional", emulate_precision_casts=False).emulate_precision_casts is False
    assert FastDecoder(model, "regional").resolve_mode(1, 256) == "regional"  # compiled without graph on CPU
    assert FastDecoder(model, "regional").regional_parts == ("mlp", "norm")
    assert FastDecoder(model, "regional", regional_parts="mlp").regional_parts == ("mlp",)
    with pytest.raises(ValueError):
        FastDecoder(model, "regional", regional_parts="attention")


def test_regional_rope_is_bound_only_while_the_step_runs():
    """"rope" swaps the attention module's apply_rotary_pos_emb for a compiled one during the step only
    (prefill and generate keep the eager function), and puts it back after an error too."""
    import sys as _sys

    model, _, _ = _build("qwen2_5_vl")
    module = vars(_sys.modules[type(model.model.language_model.layers[0].self_attn).__module__])
    eager = module["apply_rotary_pos_emb"]
    seen = []

    def forward(tok, pos, mask, cache):
        seen.append(module["apply_rotary_pos_emb"])
        if len(seen) == 2:
            raise RuntimeError("boom")
        return tok

    step = compiled_decode.regional_forward(model, forward, ("rope",), True)
    assert step(1, None, None, None) == 1 and module["apply_rotary_pos_emb"] is eager
    with pytest.raises(RuntimeError):
        step(1, None, None, None)
    assert module["apply_rotary_pos_emb"] is eager
    assert seen[0] is seen[1] and seen[0] is not eager  # one compiled function, made once
    assert FastDecoder(model, "regional", regional_parts="mlp,norm,rope").regional_parts == ("mlp", "norm", "rope")


def test_fused_projections_give_generate_tokens(tiny):
    """"qkv" and "gateup" (no compiled part named: eager, so no compiler needed) run the q/k/v and gate/up
    projections of each decode step as one GEMM on concatenated weights: the tokens stay generate's
    (left-padded batch, EOS mid-answer), and the modules' own forwards are back after the step."""
    model, proc, ids = tiny
    inputs = _inputs(proc, 3)
    prompt_len = inputs["input_ids"].shape[1]
    free = _reference(model, inputs, _config(ids, 16, [ids["eos_token_id"]]))
    eos = [int(free[0, prompt_len + 4]), ids["eos_token_id"]]
    ref = _reference(model, inputs, _config(ids, 16, eos))[:, prompt_len:]
    layer = model.model.language_model.layers[0]
    for parts in ("qkv", "gateup", "qkv,gateup"):
        dec = FastDecoder(model, "regional", regional_parts=parts)
        new = dec.generate(inputs, max_new_tokens=16, eos_token_id=eos, pad_token_id=ids["pad_token_id"])
        assert dec.last_stats["mode"] == "regional" and torch.equal(new, ref), parts
        assert "forward" not in vars(layer.self_attn.k_proj) and "forward" not in vars(layer.mlp)


def test_fused_qkv_falls_back_for_another_input():
    """k and v hand back the fused GEMM's outputs only for the input q saw; for any other input they run
    their own linear (a model calling them in another order stays exact)."""
    model, _, _ = _build("qwen2_5_vl")
    attn = model.model.language_model.layers[0].self_attn
    (q, fq), (k, fk), (v, fv) = compiled_decode._qkv_forwards(attn)
    x, y = torch.randn(2, 1, q.in_features), torch.randn(2, 1, q.in_features)
    with torch.inference_mode():
        assert torch.equal(fq(x), q(x)) and torch.equal(fk(x), k(x)) and torch.equal(fv(x), v(x))
        fq(x)
        assert torch.equal(fk(y), k(y)) and torch.equal(fv(y), v(y))


def test_auto_falls_back_to_the_graph_step_where_a_compile_fails(monkeypatch):
    """Where "auto" would run a compiled step and making it fails, it runs the plain step (logged, said in
    .auto_fallback) and stays exact; an explicit compiled mode raises instead."""
    model, proc, ids = _build("qwen2_5_vl")
    inputs = _inputs(proc, 1)

    def broken(mode):
        raise RuntimeError("no compiler here")

    dec = FastDecoder(model, "auto")
    ref = dec.generate(inputs, max_new_tokens=4, eos_token_id=None, pad_token_id=0)  # CPU: the static loop
    sess = next(iter(dec._sessions.values()))
    monkeypatch.setattr(dec, "_inexact_forward", broken)
    with torch.inference_mode():
        sess.step.fill_(1)
        dec._ensure_graph(sess, "regional", 4)
    assert sess.capture == "graph" and sess.forward == dec._forward and "no compiler" in dec.auto_fallback
    assert torch.equal(dec.generate(inputs, max_new_tokens=4, eos_token_id=None, pad_token_id=0), ref)
    explicit = FastDecoder(model, "regional")
    monkeypatch.setattr(explicit, "_inexact_forward", broken)
    with pytest.raises(RuntimeError), torch.inference_mode():
        explicit._ensure_graph(explicit._session(1, 256, 0, "regional"), "regional", 4)


# Inductor on CPU compiles C++ (g++): 5-30 s per case on a 2-core box, too slow for the default run.
inductor_cpu = pytest.mark.skipif(
    os.environ.get("VLM_PUZZLE_SLOW_TESTS") != "1" or shutil.which(os.environ.get("CXX", "g++")) is None,
    reason="Inductor CPU compile: slow (set VLM_PUZZLE_SLOW_TESTS=1) and needs a C++ compiler (g++)")


def _compiled_case(mode: str, emulate: bool, dtype: str, cache: str, parts: str = "mlp,norm") -> dict:
    """One decode of ``mode`` on the tiny Qwen2.5-VL in a fresh process (compile cache ``cache``): warm-up
    seconds and whether its 24 tokens equal greedy generate's (EOS off, so all 24 count)."""
    code = f"""
import json, sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
import torch
torch.set_num_threads(1)
import test_fast_decode as T
model, proc, ids = T._build("qwen2_5_vl")
model = model.to(torch.{dtype})
inputs = T._inputs(proc, 1)
inputs["pixel_values"] = inputs["pixel_values"].to(torch.{dtype})
ref = T._reference(model, inputs, T._config(ids, 24, None))[:, inputs["input_ids"].shape[1]:]
dec = T.FastDecoder(model, {mode!r}, emulate_precision_casts={emulate!r}, regional_parts={parts!r})
new = dec.generate(inputs, max_new_tokens=24, eos_token_id=None, pad_token_id=ids["pad_token_id"])
print(json.dumps(dict(mode=dec.last_stats["mode"], warmup_s=dec.last_stats["warmup_s"], same=bool(torch.equal(new, ref)),
                      same_share=float((new == ref).float().mean()))))
"""
    env = dict(os.environ, VLM_PUZZLE_COMPILE_CACHE=cache, TORCHINDUCTOR_CACHE_DIR=cache + "/inductor")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode, emulate, dtype", [("regional", False, "float32"), ("regional", False, "bfloat16"),
                                                  ("regional", True, "bfloat16"), ("regional-rope", True, "bfloat16"),
                                                  ("regional-fused", True, "bfloat16"),
                                                  ("compiled", False, "float32"),
                                                  ("compiled", True, "bfloat16")])
@inductor_cpu
def test_compiled_modes_same_tokens_on_cpu(mode, emulate, dtype, tmp_path):
    """CPU Inductor only: says nothing about GPU (Triton) numerics; experiments/gpu_next_session.sh checks those."""
    parts = {"regional-rope": "mlp,norm,rope", "regional-fused": "mlp,norm,rope,qkv,gateup"}.get(mode, "mlp,norm")
    mode = mode.split("-")[0]
    got = _compiled_case(mode, emulate, dtype, str(tmp_path / "cc"), parts)
    assert got["mode"] == mode and got["same"], got


@inductor_cpu
def test_second_process_reuses_the_compile_cache(tmp_path):
    cold = _compiled_case("regional", False, "float32", str(tmp_path / "cc"))
    warm = _compiled_case("regional", False, "float32", str(tmp_path / "cc"))
    print(f"regional warm-up on CPU: cold {cold['warmup_s']:.1f} s, warm {warm['warmup_s']:.1f} s")
    assert warm["warmup_s"] < cold["warmup_s"] and any((tmp_path / "cc" / "inductor").iterdir())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("mode", ["graph"])
def test_cuda_graph_same_tokens(mode):
    model, proc, ids = _build("qwen2_5_vl")
    model = copy.deepcopy(model).cuda()
    inputs = _inputs(proc, 3).to("cuda")
    prompt_len = inputs["input_ids"].shape[1]
    free = _reference(model, inputs, _config(ids, 16, [ids["eos_token_id"]]))
    cfg = _config(ids, 16, [int(free[0, prompt_len + 4]), ids["eos_token_id"]])
    ref = _reference(model, inputs, cfg)
    for _ in range(2):  # capture, then replay of the captured graph
        assert torch.equal(greedy_generate(model, inputs, generation_config=cfg, mode=mode), ref)


def test_fast_load_reads_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    from vlm_puzzle.models.fast_load import load_fast, read_safetensors

    path = tiny_qwen.build_tiny_qwen(tmp_path / "m", "qwen2_5_vl")
    ref = load_file(str(path / "model.safetensors"))
    got = read_safetensors(path, "cpu", chunk_mb=1)  # several chunks through both buffers
    assert ref.keys() == got.keys()
    assert all(torch.equal(ref[k], got[k]) and ref[k].dtype == got[k].dtype for k in ref)
    stats: dict = {}
    model, why = load_fast(path, device="cpu", dtype=torch.float32, stats=stats)
    assert why == ""
    assert set(stats) == {"build_s", "weights_s", "finish_s", "total_s"} and stats["total_s"] > 0
    plain = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    a, b = model.state_dict(), plain.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert model.generation_config.do_sample == plain.generation_config.do_sample


@pytest.mark.parametrize("arch", tiny_qwen.ARCHS)
def test_batched_vision_attention_gives_the_same_features(arch):
    from vlm_puzzle.models.vision_batch import batched_vision_attention

    model, proc, ids = _build(arch)
    inputs = _inputs(proc, 3)  # three image sizes: windows of several lengths (the gather path)
    with torch.inference_mode():
        ref = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output
        with batched_vision_attention(model) as patched:
            got = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output
    assert patched == len(model.model.visual.blocks)
    assert all(torch.equal(a, b) for a, b in zip(ref, got))
    assert "forward" not in vars(model.model.visual.blocks[0].attn)  # the class's forward is back
