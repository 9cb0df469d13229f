"""The ``openai`` backend against a real server: ``transformers serve`` started here on a
loopback port with the tiny random-weight Qwen2-VL checkpoint (tests/tiny_qwen.py), once for
the module (and once more where a test kills and restarts it). A loopback proxy in front of it
records what the server received and injects the faults a busy or misconfigured server answers with.
"""
from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from serve_fixtures import RecordingProxy, TransformersServe, serve_command  # noqa: E402

from vlm_puzzle.batch import run_batch  # noqa: E402
from vlm_puzzle.errors import ModelError  # noqa: E402
from vlm_puzzle.models.images import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, smart_resize  # noqa: E402
from vlm_puzzle.models.openai_client import ServedVL, ServingError, ServingOptions  # noqa: E402
from vlm_puzzle.pipeline import PuzzleSolver  # noqa: E402
from vlm_puzzle.rules.parse import parse_rule_answer  # noqa: E402
from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS, RULE_ANSWER_SCHEMA, RULES_PROMPT  # noqa: E402
from vlm_puzzle.rules.serving import SPECIAL_TOKEN, rules_from_answer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Small images keep the tiny model's prefill short; the request must carry exactly these bounds.
SMALL = {"min_pixels": 32 * 28 * 28, "max_pixels": 96 * 28 * 28}
needs_serve = pytest.mark.skipif(serve_command() is None,
                                 reason="transformers serve needs fastapi, uvicorn and openai ('serve' extra)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    from tiny_qwen import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("serve") / "qwen2_vl", "qwen2_vl")


@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    if serve_command() is None:
        pytest.skip("transformers serve needs fastapi, uvicorn and openai ('serve' extra)")
    srv = TransformersServe(tiny, threads=1, log=tmp_path_factory.mktemp("serve_log") / "serve.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from e2e_images import render_to

    out = tmp_path_factory.mktemp("serve_in")
    return [render_to(out, "sudoku", 9, seed=s) for s in (7, 8)]


def _client(url, **options) -> ServedVL:
    return ServedVL(url, options=ServingOptions(**{**SMALL, **options}))


def _png_size(data_url: str) -> tuple[int, int]:
    from PIL import Image

    head, b64 = data_url.split(",", 1)
    assert head == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(b64))).size


def _cli(*args, env=None, timeout=240):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "vlm_puzzle", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


# ---- no server needed -------------------------------------------------------------------------

def test_the_backend_needs_a_server_and_import_stays_light(monkeypatch):
    from vlm_puzzle.rules.vlm import resolve_backend

    monkeypatch.delenv("VLM_PUZZLE_BASE_URL", raising=False)
    with pytest.raises(ModelError) as e:
        resolve_backend("openai", None)
    assert e.value.code == "server_not_configured"
    assert resolve_backend("openai", "m", base_url="http://127.0.0.1:1/v1")[:2] == ("openai", "m")
    monkeypatch.setenv("VLM_PUZZLE_BASE_URL", "http://127.0.0.1:1/v1")
    assert resolve_backend("auto", None)[0] == "openai"  # a configured server comes first
    with pytest.raises(ValueError):
        ServingOptions(structured="maybe")
    # The client module and the rules on top of it import neither openai nor torch.
    code = ("import sys, vlm_puzzle, vlm_puzzle.pipeline, vlm_puzzle.models.openai_client, vlm_puzzle.rules.serving; "
            "print(sorted(m for m in ('openai', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    assert out.stdout.strip() == "[]", out.stderr


def test_cli_without_a_server_is_a_usage_error(tmp_path, images):
    env = {"VLM_PUZZLE_BASE_URL": ""}
    r = _cli("solve", str(images[0]), "--backend", "openai", env=env)
    assert r.returncode == 2 and "server_not_configured" in r.stderr and "Traceback" not in r.stderr
    r = _cli("batch", str(images[0]), "--out", str(tmp_path / "r.jsonl"), "--backend", "openai",
             "--base-url", "http://127.0.0.1:1/v1", "--concurrency", "0", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_vllm_and_sglang_get_their_greedy_and_json_fields():
    # What a vLLM or SGLang server would receive (told apart by their model listing): the sampling
    # fields they would otherwise take from the checkpoint, and their way of constraining to JSON.
    img = np.full((200, 200, 3), 255, np.uint8)
    for owner, field in (("vllm", "structured_outputs"), ("sglang", "response_format")):
        with RecordingProxy("http://127.0.0.1:1/v1", models=[{"id": "qwen", "object": "model", "owned_by": owner}]) \
                as proxy:
            proxy.faults = ["canned"]
            a = _client(proxy.url).complete(img, RULES_PROMPT, max_tokens=MAX_NEW_TOKENS, schema=RULE_ANSWER_SCHEMA)
            [body] = proxy.chat_requests()
        assert (body["top_k"], body["min_p"], body["repetition_penalty"], body["temperature"]) == (-1, 0, 1, 0)
        assert body["model"] == "qwen" and a.engine == owner and a.structured == field
        schema = body["structured_outputs"]["json"] if field == "structured_outputs" else \
            body["response_format"]["json_schema"]["schema"]
        assert schema == RULE_ANSWER_SCHEMA
        assert rules_from_answer(a).hints.kind == "sudoku"


# ---- against transformers serve -------------------------------------------------------------

@needs_serve
def test_cli_solve_sends_one_greedy_bounded_request(server, images):
    # The "Done when" command, through a recording proxy: what did the server receive?
    with RecordingProxy(server.url) as proxy:
        r = _cli("solve", str(images[0]), "--backend", "openai", "--base-url", proxy.url, "--model", str(server.model),
                 "--json")
    assert "Traceback" not in r.stderr and r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["status"] == "solved" and d["rule_source"] in ("qwen", "geometry")
    t = d["timings_s"]
    assert 0 < t["network"] <= t["rules"] <= t["total"]
    assert any(q["path"] == "/v1/models" for q in proxy.requests)  # the engine found out
    [body] = proxy.chat_requests()
    assert body["model"] == str(server.model)
    assert (body["temperature"], body["top_p"], body["n"], body["max_tokens"]) == (0, 1, 1, MAX_NEW_TOKENS)
    assert isinstance(body["seed"], int) and body["frequency_penalty"] == 0 and body["stream"] is False
    assert "response_format" not in body and "structured_outputs" not in body  # transformers ignores them
    [msg] = body["messages"]
    image, text = msg["content"]
    assert text == {"type": "text", "text": RULES_PROMPT}
    # The picture the pipeline hands over (the 640 px render) bounded as the in-process wrapper bounds it.
    h, w = smart_resize(640, 640, 28, DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS)
    assert _png_size(image["image_url"]["url"]) == (w, h)


@needs_serve
def test_answers_equal_the_in_process_wrapper(server, tiny, images):
    torch = pytest.importorskip("torch")
    import cv2

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.rules.prompt import build_prompt

    img = cv2.imread(str(images[1]))
    client = _client(server.url)
    answer = client.complete(img, build_prompt(), max_tokens=MAX_NEW_TOKENS, schema=RULE_ANSWER_SCHEMA)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        vlm = QwenVL.from_pretrained(tiny, device="cpu", **SMALL)
        [local] = vlm.generate([img], build_prompt(), max_new_tokens=MAX_NEW_TOKENS)
    finally:
        torch.set_num_threads(threads)
    # Same pixels, same template, true greedy on both sides (the checkpoint asks for sampling
    # and a 1.05 repetition penalty): the same tokens. (The server strips the text's ends and
    # keeps special-token markers a random model emits mid-answer; the wrapper drops them.)
    assert SPECIAL_TOKEN.sub("", answer.text) == local.text.strip() and answer.completion_tokens == local.n_tokens
    served = rules_from_answer(answer).hints
    assert served.to_dict() | {"evidence": None} == parse_rule_answer(local.text).to_dict() | {"evidence": None}
    assert served.evidence[-1].code == "served_cost"
    assert answer.image_size == local.image_size and answer.visual_tokens == local.visual_tokens
    assert answer.engine == "transformers" and answer.structured == "none" and answer.attempts == 1
    assert answer.finish_reason == ("length" if local.stopped_by == "max_new_tokens" else "stop")


@needs_serve
def test_batch_sends_every_image_once_with_bounded_concurrency(server, images, tmp_path):
    (tmp_path / "in").mkdir()
    for p in images:
        (tmp_path / "in" / p.name).write_bytes(p.read_bytes())
    (tmp_path / "in" / "junk.png").write_text("junk")
    out = tmp_path / "res.jsonl"
    with RecordingProxy(server.url) as proxy:
        solver = PuzzleSolver("openai", base_url=proxy.url, model_options=SMALL, serving_options={"concurrency": 2})
        summary = run_batch([str(tmp_path / "in")], out, workers=1, solver=solver, progress=False)
    assert solver._vlm.model == str(server.model)  # no name given: the server's only model
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_name = {Path(d["image"]).name: d for d in rows}
    assert len(rows) == 3 and set(by_name) == {p.name for p in images} | {"junk.png"}
    assert summary.processed == 3 and by_name["junk.png"]["error"]["code"] == "not_an_image"
    for p in images:
        d = by_name[p.name]
        assert d["status"] == "solved" and 0 < d["timings_s"]["network"] <= d["timings_s"]["rules"]
    sent = proxy.chat_requests()
    assert len(sent) == 2  # one request per readable image, none for the junk, none twice
    side = smart_resize(640, 640, 28, SMALL["min_pixels"], SMALL["max_pixels"])[0]
    assert [_png_size(b["messages"][0]["content"][0]["image_url"]["url"]) for b in sent] == [(side, side)] * 2


@needs_serve
def test_transient_failures_are_retried_and_bad_replies_are_typed(server):
    img = np.full((200, 200, 3), 255, np.uint8)
    with RecordingProxy(server.url, retry_after="0") as proxy:
        client = _client(proxy.url, retry_s=30)
        proxy.faults = [503, 429, 502]
        a = client.complete(img, "What puzzle?", max_tokens=4)
        assert a.attempts == 4 and len(proxy.chat_requests()) == 4 and a.completion_tokens == 4
        for fault, code in (("garbage", "server_bad_answer"), ("no_choices", "server_bad_answer"),
                            (400, "server_rejected")):
            proxy.faults = [fault]
            with pytest.raises(ServingError) as e:
                client.complete(img, "What puzzle?", max_tokens=4)
            assert e.value.code == code
        # Retrying stops at the deadline with the last failure's code.
        proxy.faults = [503] * 50
        quick = _client(proxy.url, retry_s=0.6)
        with pytest.raises(ServingError) as e:
            quick.complete(img, "What puzzle?", max_tokens=4)
        assert e.value.code == "server_error"


@needs_serve
def test_requests_in_flight_are_bounded(server):
    imgs = [np.full((200, 200, 3), v, np.uint8) for v in range(0, 250, 40)]
    with RecordingProxy(server.url) as proxy:
        answers = _client(proxy.url, concurrency=2).complete_many(imgs, "x", max_tokens=8)
    assert [a.completion_tokens for a in answers] == [8] * len(imgs)
    assert len(proxy.chat_requests()) == len(imgs) and proxy.max_in_flight == 2


@needs_serve
def test_auth_and_model_name_failures_are_typed(server, images, monkeypatch):
    img = np.full((200, 200, 3), 255, np.uint8)
    with RecordingProxy(server.url, api_key="sekrit") as proxy:
        with pytest.raises(ServingError) as e:
            ServedVL(proxy.url, api_key="wrong").complete(img, "x", max_tokens=2)
        assert e.value.code == "server_auth"
        monkeypatch.setenv("VLM_PUZZLE_API_KEY", "sekrit")
        assert _client(proxy.url).complete(img, "x", max_tokens=2).completion_tokens == 2
        assert proxy.requests[-1]["headers"]["authorization"] == "Bearer sekrit"
    with pytest.raises(ServingError) as e:
        ServedVL(server.url, model="no-such-model").complete(img, "x", max_tokens=2)
    assert e.value.code == "model_not_served" and str(server.model) in str(e.value)
    # In the pipeline: the image is an error with that code; with auto, geometry's rules stand.
    res = PuzzleSolver("openai", "no-such-model", base_url=server.url).solve_image(str(images[0]))
    assert res.status == "error" and res.error.code == "model_not_served" and res.givens is not None
    res = PuzzleSolver("auto", "no-such-model", base_url=server.url).solve_image(str(images[0]))
    assert res.status == "solved" and res.rule_source == "geometry"
    assert any(e.code == "vlm_unusable" and ("model_not_served" in e.text or "does not serve" in e.text)
               for e in res.hints.evidence)


@needs_serve
def test_a_refused_structured_output_falls_back_and_says_so(server):
    img = np.full((200, 200, 3), 255, np.uint8)
    with RecordingProxy(server.url) as proxy:
        client = _client(proxy.url, structured="structured_outputs")
        a = client.complete(img, "x", max_tokens=2, schema=RULE_ANSWER_SCHEMA)
        first, second = proxy.chat_requests()
    # transformers serve refuses the unknown field (422); response_format is the next thing to try.
    assert first["structured_outputs"] == {"json": RULE_ANSWER_SCHEMA} and "response_format" not in first
    assert second["response_format"]["json_schema"]["schema"] == RULE_ANSWER_SCHEMA
    assert a.structured == "response_format" and "structured_outputs" in a.structured_note
    assert a.attempts == 2 and client.engine == "transformers"


@needs_serve
def test_server_gone_then_restarted(server, images, tmp_path):
    # Gone: a typed per-image error (explicit backend), geometry (auto), and no traceback on the CLI.
    server.stop()
    res = PuzzleSolver("openai", base_url=server.url, serving_options={"retry_s": 0.5}).solve_image(str(images[0]))
    assert res.status == "error" and res.error.code == "server_unreachable"
    auto = PuzzleSolver("auto", base_url=server.url)
    res = auto.solve_image(str(images[0]))
    assert res.status == "solved" and res.rule_source == "geometry" and auto.backend == "geometry"
    r = _cli("solve", str(images[0]), "--backend", "openai", "--base-url", server.url, "--retry-for", "0.5", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert json.loads(r.stdout)["error"]["code"] == "server_unreachable"

    # Restarted while a batch is retrying: nothing lost, nothing twice, every rule from the server.
    copies = []
    for i in range(4):
        dst = tmp_path / f"img{i}.png"
        dst.write_bytes(images[i % len(images)].read_bytes())
        copies.append(str(dst))
    out = tmp_path / "res.jsonl"
    solver = PuzzleSolver("openai", base_url=server.url, model_options=SMALL,
                          serving_options={"concurrency": 2, "retry_s": 300})
    t = threading.Thread(target=run_batch, args=(copies, out), kwargs=dict(workers=0, solver=solver, progress=False))
    t.start()
    time.sleep(1.0)
    server.start()
    t.join(timeout=300)
    assert not t.is_alive()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(d["image"] for d in rows) == sorted(copies)
    assert all(d["status"] == "solved" and d["timings_s"]["network"] > 0 for d in rows)
    assert max(d["timings_s"]["network"] for d in rows) > 1.0  # the first ones waited for the restart
