"""A real OpenAI-compatible server for the tests and ``experiments/bench_serving.py``:
``transformers serve`` started on a loopback port with a local checkpoint, and a loopback
proxy in front of it that records every request and can inject faults (a status, a broken
body, an API key check) the way a busy or misconfigured server would answer.

    with TransformersServe(model_dir) as server:      # server.url = http://127.0.0.1:PORT/v1
        with RecordingProxy(server.url) as proxy:     # proxy.url, proxy.requests, proxy.faults
            ...
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command() -> list[str] | None:
    """The ``transformers serve`` command of this interpreter's environment, or None when
    its serving extras (fastapi, uvicorn, openai) are not installed."""
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("transformers", "fastapi", "uvicorn", "openai")):
        return None
    exe = Path(sys.executable).with_name("transformers")
    if exe.exists():
        return [str(exe), "serve"]
    found = shutil.which("transformers")
    return [found, "serve"] if found else None


class TransformersServe:
    """``transformers serve MODEL`` (pinned to that one model) on 127.0.0.1, CPU, offline.
    :meth:`stop` kills it (SIGKILL: a crash, not a drain) and :meth:`start` brings it back on the
    same port. ``threads`` bounds its torch threads (a tiny model is fastest on one)."""

    def __init__(self, model: str | os.PathLike, *, port: int | None = None, threads: int = 1,
                 log: str | os.PathLike | None = None, start_timeout_s: float = 180.0):
        self.model = str(model)
        self.port = port or free_port()
        self.threads = threads
        self.log = Path(log) if log else None
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.start_s = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "TransformersServe":
        cmd = serve_command()
        if cmd is None:
            raise RuntimeError("transformers serve is not available (pip install 'vlm-puzzle[serve]')")
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS=str(self.threads),
                   MKL_NUM_THREADS=str(self.threads), TOKENIZERS_PARALLELISM="false", NO_COLOR="1")
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd + [self.model, "--host", "127.0.0.1", "--port", str(self.port),
                                            "--device", "cpu", "--log-level", "warning"],
                                     stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        while time.perf_counter() - t0 < self.start_timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.proc.returncode} while starting"
                                   + (f"; see {self.log}" if self.log else ""))
            if self.healthy():
                self.start_s = time.perf_counter() - t0
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"transformers serve did not answer within {self.start_timeout_s:g} s")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the server and nothing else
            self.proc.wait(timeout=30)
        self.proc = None

    def __enter__(self) -> "TransformersServe":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


CANNED = {"id": "canned", "object": "chat.completion", "created": 0, "model": "canned",
          "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content":
                       '{"kind": "sudoku", "size": 9, "box": [3, 3], "diagonals": false, "windows": false, '
                       '"cages": false, "cage_op": null, "rules": ""}'}}],
          "usage": {"prompt_tokens": 500, "completion_tokens": 40, "total_tokens": 540}}


class RecordingProxy:
    """A loopback HTTP proxy to ``upstream`` (an ``.../v1`` URL). ``requests`` holds each
    request's method, path, headers (lower-case names) and JSON body; ``faults`` is a list of
    what to answer instead of forwarding, taken one per POST in order: an int status (with an
    OpenAI-style error body), ``"garbage"`` (200 with a body that is not JSON), ``"no_choices"``
    (200, a JSON object without choices), ``"canned"`` (200, a fixed rule answer: what another
    engine would say). ``api_key``: answer 401 to requests without that bearer token.
    ``retry_after``: the Retry-After header of injected statuses. ``models``: the ``GET /models``
    listing to answer with instead of the upstream's (to look like vLLM or SGLang)."""

    def __init__(self, upstream: str, *, api_key: str | None = None, retry_after: str | None = None,
                 models: list[dict] | None = None):
        self.upstream = upstream.rstrip("/")
        self.models = models
        self.api_key = api_key
        self.retry_after = retry_after
        self.requests: list[dict] = []
        self.faults: list = []
        self.in_flight = self.max_in_flight = 0  # chat requests being answered at once
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each reply waits ~40 ms for a delayed ACK

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                proxy._handle(self, None)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                proxy._handle(self, self.rfile.read(n))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def chat_requests(self) -> list[dict]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def _handle(self, h: BaseHTTPRequestHandler, raw: bytes | None) -> None:
        if raw is None:
            return self._answer(h, raw)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(h, raw)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, h: BaseHTTPRequestHandler, raw: bytes | None) -> None:
        body = json.loads(raw) if raw else None
        with self._lock:
            headers = {k.lower(): v for k, v in h.headers.items()}
            self.requests.append({"method": h.command, "path": h.path, "headers": headers, "body": body})
            fault = self.faults.pop(0) if self.faults and raw is not None else None
        if self.api_key is not None and h.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._send(h, 401, json.dumps({"error": {"message": "Invalid API key", "type": "auth"}}).encode())
        if isinstance(fault, int):
            msg = json.dumps({"error": {"message": f"injected {fault}", "type": "test"}}).encode()
            return self._send(h, fault, msg, {"Retry-After": self.retry_after} if self.retry_after else None)
        if fault == "garbage":
            return self._send(h, 200, b"<html>upstream said something odd</html>", ctype="text/html")
        if fault == "no_choices":
            return self._send(h, 200, json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode())
        if fault == "canned":
            return self._send(h, 200, json.dumps(CANNED).encode())
        if self.models is not None and h.path.rstrip("/").endswith("/models"):
            return self._send(h, 200, json.dumps({"object": "list", "data": self.models}).encode())
        url = self.upstream + h.path[len("/v1"):] if h.path.startswith("/v1") else self.upstream + h.path
        req = urllib.request.Request(url, data=raw, method=h.command,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                self._send(h, r.status, r.read())
        except urllib.error.HTTPError as e:
            self._send(h, e.code, e.read())
        except OSError as e:  # upstream down: what a gateway says
            self._send(h, 502, json.dumps({"error": {"message": f"bad gateway: {e}"}}).encode())

    @staticmethod
    def _send(h, status: int, payload: bytes, headers: dict | None = None, ctype: str = "application/json"):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    def __enter__(self) -> "RecordingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
