#!/usr/bin/env python
"""Rule inference on a serving engine: throughput, latency, client overhead, fault tolerance.

    nice python experiments/bench_serving.py                      # starts transformers serve (tiny Qwen2-VL)
    python experiments/bench_serving.py --base-url http://gpu:8000/v1 --model Qwen/Qwen2.5-VL-3B-Instruct \\
        --only sweep                                              # against a running vLLM / SGLang
    python experiments/bench_serving.py --only overhead          # the client alone (a stub server)

Parts (``--only`` picks some):

* ``sweep``: puzzles/s and latency percentiles of rule inference (the request: encode, send,
  serve, parse) at 1, 8 and 64 requests in flight (``--concurrency``), on the shipped pictures
  (data/samples, data/photos) as the pipeline hands them over (at most 1024 px a side);
* ``overhead``: the client's own cost per request (resize, PNG, base64, JSON, HTTP, parse) against
  a stub server in another process that answers at once: the client process's CPU time per
  request, and the wall time (an upper bound: the stub reading the body and the loopback are in
  it). Goal <= 5 ms;
* ``equal``: the server's answers against the in-process ``QwenVL`` on the same checkpoint and
  image bounds (needs the checkpoint: the tiny one built here, or ``--checkpoint``). Goal: all equal;
* ``faults``: ``vlm-puzzle batch`` of ``--batch`` images (copies of the pictures) at concurrency 8
  with the server killed (SIGKILL) after ``--kill-after`` results and restarted at once (only with
  the server started here). Goal: every image once, none an error, every rule from the server.

Results go to stdout and ``--out`` (JSON). The server started here runs the tiny random-weight
checkpoint of ``tests/tiny_qwen.py`` on the CPU (``--threads`` torch threads): its figures are the
plumbing's, not a real model's.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))  # tiny_qwen, serve_fixtures

PARTS = ("sweep", "overhead", "equal", "faults")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", help="a running server (default: start transformers serve here)")
    ap.add_argument("--model", help="the served model's name (default: the server's only one)")
    ap.add_argument("--checkpoint", help="local checkpoint for the server started here and for 'equal' "
                                         "(default: the tiny Qwen2-VL, built)")
    ap.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--requests", type=int, default=0, help="requests per concurrency (default 2x it, >= 16)")
    ap.add_argument("--min-pixels", type=int, default=None)
    ap.add_argument("--max-pixels", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the server started here")
    ap.add_argument("--png-level", type=int, default=0, help="PNG compression of the pictures sent (0: stored)")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--kill-after", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="CPU workers of the faults batch")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    import cv2

    from vlm_puzzle.models.images import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS
    from vlm_puzzle.pipeline import VLM_MAX_SIDE

    bounds = {"min_pixels": args.min_pixels or DEFAULT_MIN_PIXELS, "max_pixels": args.max_pixels or DEFAULT_MAX_PIXELS}
    global PNG_LEVEL
    PNG_LEVEL = args.png_level
    paths = sorted(p for d in ("data/samples", "data/photos") for p in (REPO / d).iterdir()
                   if p.suffix in (".png", ".jpg"))
    pictures = [_bounded(cv2.imread(str(p)), VLM_MAX_SIDE) for p in paths]
    results: dict = {"bounds": bounds, "pictures": len(pictures), "machine": _machine()}
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        checkpoint = args.checkpoint
        if args.base_url is None and set(args.only) - {"overhead"}:  # the overhead needs no real server
            from serve_fixtures import TransformersServe

            if checkpoint is None:
                from tiny_qwen import build_tiny_qwen

                checkpoint = str(build_tiny_qwen(Path(tmp) / "tiny", "qwen2_vl"))
            server = TransformersServe(checkpoint, threads=args.threads, log=Path(tmp) / "serve.log").start()
            results["server"] = {"engine": "transformers serve", "checkpoint": checkpoint,
                                 "threads": args.threads, "start_s": round(server.start_s, 2)}
            print(f"transformers serve up in {server.start_s:.1f} s at {server.url}", flush=True)
        url = args.base_url or (server.url if server else None)
        try:
            if "overhead" in args.only:
                results["overhead"] = overhead(pictures, bounds)
            if "sweep" in args.only:
                results["sweep"] = sweep(url, args.model, pictures, bounds, args.concurrency, args.requests)
            if "equal" in args.only and checkpoint:
                results["equal"] = equal(url, args.model, checkpoint, pictures, bounds)
            if "faults" in args.only and server is not None:
                results["faults"] = faults(server, args.model, paths, bounds, Path(tmp), args.batch,
                                           args.kill_after, args.workers)
        finally:
            if server is not None:
                server.stop()
    print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _bounded(img, side):
    import cv2

    s = side / max(img.shape[:2])
    return cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)), interpolation=cv2.INTER_AREA) \
        if s < 1 else img


PNG_LEVEL = 0


def _client(url, model, bounds, concurrency=8, **more):
    from vlm_puzzle.models.openai_client import ServedVL, ServingOptions

    return ServedVL(url, model=model, options=ServingOptions(concurrency=concurrency, png_level=PNG_LEVEL,
                                                             **bounds, **more))


def _pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def _ms(x):
    return round(1e3 * x, 2)


# ---- sweep --------------------------------------------------------------------------------

def sweep(url, model, pictures, bounds, levels, n_requests) -> list[dict]:
    from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS, RULE_ANSWER_SCHEMA, build_prompt

    rows = []
    warm = _client(url, model, bounds, 1)
    warm.complete(pictures[0], build_prompt(), max_tokens=MAX_NEW_TOKENS, schema=RULE_ANSWER_SCHEMA)  # server warm-up
    for c in levels:
        client = _client(url, model, bounds, c)
        n = n_requests or max(16, 2 * c)
        imgs = [pictures[i % len(pictures)] for i in range(n)]
        lat: list[float] = []

        def one(img):
            t0 = time.perf_counter()
            a = client.complete(img, build_prompt(), max_tokens=MAX_NEW_TOKENS, schema=RULE_ANSWER_SCHEMA)
            lat.append(time.perf_counter() - t0)
            return a

        t0 = time.perf_counter()
        answers = [f.result() for f in [client.submit(one, im) for im in imgs]]
        wall = time.perf_counter() - t0
        client.close()
        row = {"concurrency": c, "requests": n, "wall_s": round(wall, 2), "puzzles_per_s": round(n / wall, 3),
               "latency_ms": {f"p{q}": _ms(_pct(lat, q)) for q in (50, 90, 99)},
               "tokens_out_mean": round(statistics.mean(a.completion_tokens or 0 for a in answers), 1),
               "visual_tokens_mean": round(statistics.mean(a.visual_tokens for a in answers), 1),
               "structured": answers[0].structured, "engine": answers[0].engine}
        rows.append(row)
        print(f"concurrency {c:3d}: {row['puzzles_per_s']:.2f} puzzles/s, latency p50 {row['latency_ms']['p50']} ms "
              f"p90 {row['latency_ms']['p90']} ms p99 {row['latency_ms']['p99']} ms", flush=True)
    return rows


# ---- client overhead ------------------------------------------------------------------------

def _stub(port_q) -> None:
    """A server that answers every chat completion at once with a fixed rule answer."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer = json.dumps({"id": "stub", "object": "chat.completion", "created": 0, "model": "stub",
                         "choices": [{"index": 0, "finish_reason": "stop", "message": {
                             "role": "assistant", "content": '{"kind": "sudoku", "size": 9, "box": [3, 3], '
                             '"diagonals": false, "windows": false, "cages": false, "cage_op": null, "rules": ""}'}}],
                         "usage": {"prompt_tokens": 500, "completion_tokens": 40, "total_tokens": 540}}).encode()
    models = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "stub"}]}).encode()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each reply waits ~40 ms for a delayed ACK

        def log_message(self, *a):
            pass

        def _send(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._send(models)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(answer)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    port_q.put(httpd.server_address[1])
    httpd.serve_forever()


def overhead(pictures, bounds, rounds: int = 3) -> dict:
    from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS, RULE_ANSWER_SCHEMA, build_prompt
    from vlm_puzzle.models.images import bounded_bgr
    from vlm_puzzle.rules.serving import rules_from_answer

    q = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_stub, args=(q,), daemon=True)
    proc.start()
    try:
        client = _client(f"http://127.0.0.1:{q.get(timeout=60)}/v1", None, bounds, 1)
        client.complete(pictures[0], build_prompt(), max_tokens=MAX_NEW_TOKENS, schema=RULE_ANSWER_SCHEMA)
        total, cpu, enc, parse, resize = [], [], [], [], []
        o = client.options
        for _ in range(rounds):
            for img in pictures:
                c0 = time.process_time()  # the resize alone: the in-process wrapper does the same one
                bounded_bgr(img, factor=o.factor, min_pixels=o.min_pixels, max_pixels=o.max_pixels)
                resize.append(time.process_time() - c0)
                t0, c0 = time.perf_counter(), time.process_time()
                a = client.complete(img, build_prompt(), max_tokens=MAX_NEW_TOKENS, schema=RULE_ANSWER_SCHEMA)
                t1 = time.perf_counter()
                rules_from_answer(a)  # the project's parse of the answer, as the pipeline does it
                total.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                parse.append(a.parse_s + time.perf_counter() - t1)
                enc.append(a.encode_s)
        client.close()
    finally:
        proc.kill()
    out = {"requests": len(total), "request_bytes": a.request_bytes,
           "client_cpu_ms": {"p50": _ms(statistics.median(cpu)), "p90": _ms(_pct(cpu, 90))},
           "resize_cpu_ms_p50": _ms(statistics.median(resize)),
           "client_cpu_beyond_resize_ms_p50": _ms(statistics.median(c - r for c, r in zip(cpu, resize))),
           "wall_ms": {"p50": _ms(statistics.median(total)), "p90": _ms(_pct(total, 90))},
           "encode_ms_p50": _ms(statistics.median(enc)), "parse_ms_p50": _ms(statistics.median(parse)),
           "send_and_stub_ms_p50": _ms(statistics.median(total) - statistics.median(enc) - statistics.median(parse)),
           "png_level": client.options.png_level}
    print(f"client overhead per request: CPU p50 {out['client_cpu_ms']['p50']} ms p90 {out['client_cpu_ms']['p90']} ms "
          f"(of which the resize the wrapper also does {out['resize_cpu_ms_p50']} ms);"
          f" wall p50 {out['wall_ms']['p50']} ms (encode {out['encode_ms_p50']} ms, parse {out['parse_ms_p50']} ms), "
          f"p90 {out['wall_ms']['p90']} ms; {a.request_bytes} bytes", flush=True)
    return out


# ---- answers equal the in-process wrapper ------------------------------------------------------

def equal(url, model, checkpoint, pictures, bounds) -> dict:
    import torch

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.rules.parse import parse_rule_answer
    from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS, build_prompt
    from vlm_puzzle.rules.serving import SPECIAL_TOKEN, rules_from_answer

    client = _client(url, model, bounds, 4)
    served = client.complete_many(pictures, build_prompt(), max_tokens=MAX_NEW_TOKENS)
    client.close()
    torch.set_num_threads(1)
    vlm = QwenVL.from_pretrained(checkpoint, device="cpu", **bounds)
    local = vlm.generate(pictures, build_prompt(), max_new_tokens=MAX_NEW_TOKENS, batch_size=1)
    # transformers serve leaves special-token markers a (random) model emits mid-answer in the text,
    # the wrapper decodes without them: equal texts once they are dropped means the same tokens.
    pairs = [(s.text, g.text.strip()) for s, g in zip(served, local)]
    same_raw = sum(a == b for a, b in pairs)
    same_text = sum(SPECIAL_TOKEN.sub("", a) == b for a, b in pairs)
    same_rules = sum(rules_from_answer(s).hints.to_dict() | {"evidence": None}
                     == parse_rule_answer(g.text).to_dict() | {"evidence": None} for s, g in zip(served, local))
    out = {"images": len(pictures), "same_text_raw": same_raw, "same_text": same_text,
           "same_parsed_rules": same_rules,
           "same_token_count": sum(s.completion_tokens == g.n_tokens for s, g in zip(served, local))}
    print(f"answers equal to the in-process wrapper: {same_text}/{len(pictures)} texts ({same_raw} before "
          f"dropping special-token markers), {same_rules}/{len(pictures)} parsed rules", flush=True)
    return out


# ---- kill and restart during a batch -----------------------------------------------------------

def faults(server, model, paths, bounds, tmp: Path, n: int, kill_after: int, workers: int) -> dict:
    import shutil

    from vlm_puzzle.batch import run_batch
    from vlm_puzzle.pipeline import PuzzleSolver

    src = tmp / "batch"
    src.mkdir()
    for i in range(n):
        p = paths[i % len(paths)]
        shutil.copy(p, src / f"{i:04d}{p.suffix}")
    out = tmp / "faults.jsonl"
    events: dict = {}
    seen = [0]

    def restart():
        t0 = time.perf_counter()
        server.stop()
        events["killed_at_result"] = seen[0]
        server.start()
        events["down_s"] = round(time.perf_counter() - t0, 2)

    def on_result(_d):
        seen[0] += 1
        if seen[0] == kill_after:
            threading.Thread(target=restart, daemon=True).start()

    solver = PuzzleSolver("openai", model, base_url=server.url, model_options=bounds, keep_images=False,
                          serving_options={"concurrency": 8, "retry_s": 300})
    t0 = time.perf_counter()
    summary = run_batch([str(src)], out, workers=workers, solver=solver, progress=False, on_result=on_result)
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    names = [Path(d["image"]).name for d in rows]
    expected = sorted(p.name for p in src.iterdir())
    res = {"images": n, "lines": len(rows), "each_once": sorted(names) == expected,
           "errors": sum(d["status"] == "error" for d in rows),
           "error_codes": summary.error_codes, "served": sum(d["timings_s"]["network"] > 0 for d in rows),
           "solved": summary.solved, "wall_s": round(wall, 1), "images_per_s": round(n / wall, 3),
           "max_network_s": round(max(d["timings_s"]["network"] for d in rows), 2), **events}
    print(f"batch of {n} at concurrency 8, server killed after {events.get('killed_at_result')} results and back "
          f"in {events.get('down_s')} s: {len(rows)} lines, each once: {res['each_once']}, errors {res['errors']}, "
          f"rules from the server {res['served']}, {res['images_per_s']} images/s", flush=True)
    return res


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
            "python": sys.version.split()[0]}


if __name__ == "__main__":
    sys.exit(main())
