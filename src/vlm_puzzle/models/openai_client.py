"""A Qwen-VL behind a serving engine (vLLM, SGLang, ``transformers serve``), asked through the
OpenAI chat-completions API.

One module (over 400 lines) because it is one client: the request it sends, the engines'
quirks and its retries depend on each other and are read together.

    client = ServedVL("http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-VL-3B-Instruct")
    answer = client.complete(image, prompt, schema=RULE_ANSWER_SCHEMA)   # or client.submit(...)
    answer.text, answer.structured, answer.network_s

* The image is bounded exactly as the in-process wrapper bounds it (``models/images.py``:
  same ``min_pixels``/``max_pixels``, sides multiples of the model's 28 px), and sent as a
  lossless PNG data URL, so the server's processor sees the pixels ``QwenVL`` would: stored
  (uncompressed) by default, about 1 ms to write and 1.1 MB for 512 visual tokens; with
  ``png_level`` 1-9 compressed, 2-3x smaller for a thin link, tens of ms on a slow CPU.
  (PNG, not BMP: ``transformers serve`` decodes data URLs with torchvision, which reads
  PNG, JPEG, WebP and GIF only; JPEG would change the pixels.)
* Every request carries one complete greedy configuration: ``temperature`` 0, ``top_p`` 1,
  ``max_tokens``, ``seed``, ``n`` 1, no frequency/presence penalty; on vLLM and SGLang also
  ``top_k`` -1, ``min_p`` 0 and ``repetition_penalty`` 1, which they would otherwise take from
  the checkpoint's ``generation_config.json`` (Qwen ships 1.05). ``transformers serve`` maps a
  ``frequency_penalty`` of 0 to a repetition penalty of 1.
* JSON answers: ``structured="auto"`` asks vLLM with ``structured_outputs``, other servers with
  ``response_format`` json_schema, and ``transformers serve`` (which ignores ``response_format``)
  not at all; a server that refuses the field (400/422) is asked again without it, and
  :attr:`ServedAnswer.structured` says which was used.
* The server is found out once, lazily (``GET /models``): its engine and, when no model was
  named and it serves exactly one, the model's name.
* Transient failures (connection refused or reset, time-outs, 408/409/425/429/5xx) are retried
  with capped exponential back-off and jitter (longer where the server's Retry-After asks) until
  ``retry_s`` has passed; the rest become a
  :class:`ServingError` with a stable code at once. ``submit`` runs requests on a pool of
  ``concurrency`` threads: that is the bound on requests in flight.

The ``openai`` package is imported on first use only (``pip install 'vlm-puzzle[serve]'``).
"""
from __future__ import annotations

import base64
import os
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from vlm_puzzle.errors import ModelError, PuzzleError
from vlm_puzzle.models.images import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, QWEN2_FACTOR

ENV_BASE_URL = "VLM_PUZZLE_BASE_URL"
ENV_API_KEY = "VLM_PUZZLE_API_KEY"
STRUCTURED_MODES = ("auto", "structured_outputs", "response_format", "none")
# HTTP statuses worth another try: the server is busy, restarting or behind a failing proxy.
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# Sampling fields vLLM and SGLang accept beyond OpenAI's, at their neutral (greedy) values.
ENGINE_GREEDY = {"vllm": {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0},
                 "sglang": {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}}
# The next thing to try when a server refuses a way of asking for JSON.
_DOWNGRADE = {"structured_outputs": "response_format", "response_format": "none"}


class ServingError(ModelError):
    """The server could not give an answer. Codes: ``server_unreachable`` (connection refused
    or reset, after retries), ``server_timeout`` (no reply in time, after retries),
    ``server_error`` (5xx/429 after retries), ``server_not_configured`` (no or a bad URL),
    ``server_auth`` (401/403), ``model_not_served`` (the model name is not what the server
    serves), ``model_not_configured`` (no name given and the server serves several or none),
    ``server_rejected`` (another 4xx), ``server_bad_answer`` (a reply that is not a chat completion),
    ``serving_unavailable`` (the ``openai`` package is missing)."""

    code = "server_error"


@dataclass(frozen=True)
class ServingOptions:
    """How to talk to the server. ``concurrency``: requests in flight at most; ``timeout_s``: one
    request; ``retry_s``: how long transient failures are retried before the image gets an error;
    ``structured``: one of :data:`STRUCTURED_MODES`; ``min_pixels``/``max_pixels``/``factor``: the
    image bounds (the in-process wrapper's defaults; ``factor`` 32 for Qwen3-VL); ``png_level``:
    the PNG's compression (0: stored, fastest)."""

    concurrency: int = 8
    timeout_s: float = 60.0
    retry_s: float = 60.0
    structured: str = "auto"
    min_pixels: int = DEFAULT_MIN_PIXELS
    max_pixels: int = DEFAULT_MAX_PIXELS
    factor: int = QWEN2_FACTOR
    seed: int = 0
    png_level: int = 0

    def __post_init__(self):
        if self.structured not in STRUCTURED_MODES:
            raise ValueError(f"structured must be one of {', '.join(STRUCTURED_MODES)}, not {self.structured!r}")
        if self.concurrency < 1 or self.timeout_s <= 0 or self.retry_s < 0:
            raise ValueError("need concurrency >= 1, timeout_s > 0 and retry_s >= 0")
        if not 0 <= self.png_level <= 9:
            raise ValueError(f"png_level must be 0..9, not {self.png_level}")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"need 0 < min_pixels <= max_pixels, got {self.min_pixels} and {self.max_pixels}")


@dataclass(frozen=True)
class ServedAnswer:
    """One image's answer from the server and what it cost.

    ``structured`` is how JSON was asked for ("structured_outputs", "response_format" or
    "none") and ``structured_note`` why; ``finish_reason`` is the server's ("stop", "length");
    ``attempts`` counts the requests sent (retries included). ``encode_s`` is resizing and PNG
    encoding, ``network_s`` the wall time from the first send to the reply (the server's work,
    the network, back-off waits between attempts and the client library), ``parse_s`` reading the reply.
    """

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str
    engine: str
    structured: str
    structured_note: str
    attempts: int
    image_size: tuple[int, int]
    visual_tokens: int
    request_bytes: int
    encode_s: float
    network_s: float
    parse_s: float

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


class ServedVL:
    """An OpenAI-compatible server running a Qwen-VL model; see the module docstring.

    ``base_url`` ends in ``/v1`` (default: ``$VLM_PUZZLE_BASE_URL``); ``api_key`` defaults to
    ``$VLM_PUZZLE_API_KEY`` (servers without authentication accept any); ``model`` is the name
    the server serves it under (default: the only model it lists)."""

    def __init__(self, base_url: str | None = None, *, model: str | None = None, api_key: str | None = None,
                 options: ServingOptions | None = None) -> None:
        base_url = base_url or os.environ.get(ENV_BASE_URL)
        if not base_url:
            raise ServingError(f"no server configured: pass base_url (--base-url) or set {ENV_BASE_URL}",
                               code="server_not_configured")
        if not base_url.startswith(("http://", "https://")):
            raise ServingError(f"base URL {base_url!r} must start with http:// or https://",
                               code="server_not_configured")
        self.base_url = base_url.rstrip("/")
        self.model = model or None
        self.api_key = api_key or os.environ.get(ENV_API_KEY) or "none"
        self.options = options or ServingOptions()
        self.engine: str | None = None        # "vllm", "sglang", "transformers", "unknown"
        self.served_models: tuple[str, ...] = ()
        self._structured: str | None = None   # chosen on first use, downgraded on refusal
        self._structured_note = ""
        self._lock = threading.Lock()
        self._client = None
        self._pool: ThreadPoolExecutor | None = None

    # ---- set-up -----------------------------------------------------------------------
    def _openai(self):
        try:
            import openai
        except ImportError as exc:
            raise ServingError(f"the openai backend needs the 'openai' package (pip install 'vlm-puzzle[serve]'): "
                               f"{exc}", code="serving_unavailable") from None
        return openai

    def client(self):
        """The ``openai.OpenAI`` client (its own retries off: :meth:`complete` retries)."""
        with self._lock:
            if self._client is None:
                openai = self._openai()
                self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0,
                                             timeout=self.options.timeout_s)
            return self._client

    def probe(self) -> None:
        """Find out the engine and the model name (``GET /models``), once. Raises the
        library's errors (the caller retries the transient ones) or a :class:`ServingError`."""
        if self.engine is not None:
            return
        openai = self._openai()
        try:
            listed = self.client().models.list(timeout=min(10.0, self.options.timeout_s))
            entries = [m.model_dump() if hasattr(m, "model_dump") else dict(m) for m in listed.data]
        except openai.NotFoundError:
            entries = None  # no model listing: an engine we cannot tell apart
        with self._lock:
            if self.engine is not None:
                return
            self.served_models = tuple(str(e.get("id")) for e in entries or ())
            self.engine = _engine_of(entries)
            if self.model is None:
                if len(self.served_models) != 1:
                    names = ", ".join(self.served_models) or "none listed"
                    raise ServingError(f"no model name given and {self.base_url} serves {len(self.served_models)} "
                                       f"models ({names}); pass one with --model", code="model_not_configured")
                self.model = self.served_models[0]
            self._structured, self._structured_note = _structured_for(self.options.structured, self.engine)

    # ---- requests -----------------------------------------------------------------------
    def encode_image(self, image) -> tuple[str, tuple[int, int]]:
        """(data URL, (width, height)) of ``image`` bounded like the in-process wrapper's."""
        from vlm_puzzle.models.images import bounded_bgr, png_bytes

        o = self.options
        bgr = bounded_bgr(image, factor=o.factor, min_pixels=o.min_pixels, max_pixels=o.max_pixels)
        url = "data:image/png;base64," + base64.b64encode(png_bytes(bgr, o.png_level)).decode("ascii")
        return url, (bgr.shape[1], bgr.shape[0])

    def request(self, data_url: str, prompt: str, *, max_tokens: int, schema: dict | None = None,
                structured: str = "none") -> dict:
        """The keyword arguments of ``chat.completions.create`` (standard fields; the rest in ``extra_body``)."""
        kwargs = dict(
            model=self.model,
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url}},
                                                   {"type": "text", "text": prompt}]}],
            temperature=0.0, top_p=1.0, max_tokens=int(max_tokens), seed=self.options.seed, n=1,
            frequency_penalty=0.0, presence_penalty=0.0, stream=False)
        extra = dict(ENGINE_GREEDY.get(self.engine or "", {}))
        if schema is not None and structured == "structured_outputs":
            extra["structured_outputs"] = {"json": schema}
        elif schema is not None and structured == "response_format":
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def complete(self, image, prompt: str, *, max_tokens: int, schema: dict | None = None) -> ServedAnswer:
        """The server's greedy answer for one image; retries transient failures (see the module
        docstring). Raises :class:`ServingError`."""
        openai = self._openai()
        t0 = time.perf_counter()
        data_url, size = self.encode_image(image)
        t_sent = time.perf_counter()
        deadline = time.monotonic() + self.options.retry_s
        delay, attempts = 0.25, 0
        while True:
            attempts += 1
            structured = "none"
            try:
                self.probe()
                structured = self._structured if schema is not None else "none"
                kwargs = self.request(data_url, prompt, max_tokens=max_tokens, schema=schema, structured=structured)
                reply = self.client().chat.completions.create(**kwargs)
                break
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status in (400, 422) and structured != "none" and _refuses(exc, structured):
                    self._downgrade(structured, exc)
                    continue  # asked the wrong way: ask again at once, no back-off
                if status not in TRANSIENT_STATUS:
                    raise self._final_error(exc) from None
                wait, last = _retry_after(exc), ("server_error", f"{status}: {_short(exc)}")
            except openai.APITimeoutError:
                wait, last = None, ("server_timeout", f"no reply within {self.options.timeout_s:g} s")
            except openai.APIConnectionError as exc:  # refused, reset, DNS
                wait, last = None, ("server_unreachable", _short(exc.__cause__ or exc))
            except ServingError:
                raise
            except openai.OpenAIError as exc:  # e.g. a reply body that is not JSON
                raise ServingError(f"{self.base_url} gave a reply that is not a chat completion "
                                   f"({type(exc).__name__}: {_short(exc)})", code="server_bad_answer") from None
            left = deadline - time.monotonic()
            sleep = max(wait or 0.0, delay * random.uniform(0.5, 1.0))  # a Retry-After may lengthen it
            if left <= 0 or sleep > left:
                raise self._gave_up(attempts, time.perf_counter() - t_sent, *last) from None
            time.sleep(sleep)
            delay = min(2 * delay, 4.0)
        t_back = time.perf_counter()
        text, finish, usage = _read_reply(reply, self.base_url)
        t_end = time.perf_counter()
        return ServedAnswer(
            text=text, finish_reason=finish, prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None), model=str(self.model),
            engine=self.engine or "unknown", structured=structured,
            structured_note=self._structured_note if schema is not None else "no schema asked for",
            attempts=attempts, image_size=size,
            visual_tokens=(size[0] // self.options.factor) * (size[1] // self.options.factor),
            request_bytes=len(data_url) + len(prompt), encode_s=t_sent - t0, network_s=t_back - t_sent,
            parse_s=t_end - t_back)

    def submit(self, fn, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` (typically a :meth:`complete` call) on the request pool:
        at most ``concurrency`` run at once, the rest wait their turn."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="vlm-serve")
            pool = self._pool
        return pool.submit(fn, *args, **kwargs)

    def complete_many(self, images, prompt: str, *, max_tokens: int, schema: dict | None = None) -> list:
        """One :class:`ServedAnswer` or typed error (:class:`ServingError`, an image's
        :class:`~vlm_puzzle.errors.ImageError`) per image, in order, ``concurrency`` at a time."""
        futures = [self.submit(_answer_or_error, self, im, prompt, max_tokens, schema) for im in images]
        return [f.result() for f in futures]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            client, self._client = self._client, None
        if pool is not None:
            pool.shutdown(wait=True)
        if client is not None:
            client.close()

    def describe(self) -> str:
        how = f", structured output: {self._structured} ({self._structured_note})" if self._structured else ""
        model = self.model or "(model from the server)"
        return f"{model} served by {self.engine or 'a server'} at {self.base_url}{how}"

    # ---- failures -----------------------------------------------------------------------
    def _downgrade(self, tried: str, exc) -> None:
        with self._lock:
            if self._structured == tried:
                self._structured = _DOWNGRADE[tried]
                self._structured_note = f"the server refused {tried} ({exc.status_code}: {_short(exc)})"

    def _final_error(self, exc) -> ServingError:
        status, msg = exc.status_code, _short(exc)
        if status in (401, 403):
            return ServingError(f"{self.base_url} refused the API key ({status}: {msg}); set {ENV_API_KEY}",
                                code="server_auth")
        listed = ", ".join(self.served_models)
        if status in (400, 404) and self.served_models and self.model not in self.served_models:
            return ServingError(f"{self.base_url} does not serve {self.model!r} (it serves {listed}; {status}: {msg})",
                                code="model_not_served")
        if status == 404:
            return ServingError(f"{self.base_url}: not found ({msg}); is the model name {self.model!r} right "
                                "and does the URL end in /v1?", code="model_not_served")
        return ServingError(f"{self.base_url} rejected the request ({status}: {msg})", code="server_rejected")

    def _gave_up(self, attempts: int, spent: float, code: str, why: str) -> ServingError:
        return ServingError(f"no answer from {self.base_url} after {attempts} attempt(s) over {spent:.1f} s "
                            f"(retried for up to {self.options.retry_s:g} s; last: {why})", code=code)


def _answer_or_error(client: ServedVL, image, prompt, max_tokens, schema):
    try:
        return client.complete(image, prompt, max_tokens=max_tokens, schema=schema)
    except PuzzleError as exc:  # a ServingError, or an image the bounds refuse
        return exc


def _engine_of(entries: list[dict] | None) -> str:
    """Which engine a ``/models`` listing comes from: vLLM and SGLang name themselves in
    ``owned_by``; ``transformers serve`` adds a ``status`` to each entry."""
    if not entries:
        return "unknown"
    owners = {str(e.get("owned_by", "")).lower() for e in entries}
    if "vllm" in owners:
        return "vllm"
    if "sglang" in owners:
        return "sglang"
    if all(isinstance(e.get("status"), dict) for e in entries):
        return "transformers"
    return "unknown"


def _structured_for(mode: str, engine: str) -> tuple[str, str]:
    if mode != "auto":
        return mode, f"{mode} asked for"
    if engine == "vllm":
        return "structured_outputs", "vLLM: structured_outputs json"
    if engine == "transformers":
        return "none", "transformers serve ignores response_format"
    return "response_format", f"{engine} server: response_format json_schema"


def _refuses(exc, field: str) -> bool:
    """Whether a 400/422 is about the way JSON was asked for."""
    text = _short(exc, 2000).lower()
    words = {"structured_outputs": ("structured_outputs", "structured outputs"),
             "response_format": ("response_format", "json_schema", "response format")}[field]
    return any(w in text for w in words)


def _retry_after(exc) -> float | None:
    try:
        value = float(exc.response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None
    return min(max(value, 0.0), 30.0)


def _read_reply(reply, base_url: str):
    """(text, finish_reason, usage) of a chat completion, or a ``server_bad_answer`` error."""
    choices = getattr(reply, "choices", None)
    if not choices:
        raise ServingError(f"{base_url} replied without choices: {_short(reply)}", code="server_bad_answer")
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str):
        raise ServingError(f"{base_url} replied without a text answer: {_short(choices[0])}",
                           code="server_bad_answer")
    return text, getattr(choices[0], "finish_reason", None), getattr(reply, "usage", None)


def _short(obj, limit: int = 200) -> str:
    body = getattr(obj, "body", None)
    text = str(body) if body else str(obj)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = ["ServedVL", "ServedAnswer", "ServingOptions", "ServingError", "ENV_BASE_URL", "ENV_API_KEY",
           "STRUCTURED_MODES"]
