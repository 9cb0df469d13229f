"""Rule inference with Qwen-VL: ask (prompt.py), answer greedily (models/), parse (parse.py).

Also the backend choice for the pipeline: :func:`resolve_backend`.
Torch and transformers are imported only when a model is actually used.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from vlm_puzzle.errors import ModelError
from vlm_puzzle.findings import info
from vlm_puzzle.rules.base import RuleHints
from vlm_puzzle.rules.parse import parse_rule_answer
from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS, build_prompt

ENV_MODEL = "VLM_PUZZLE_MODEL"
ENV_BASE_URL = "VLM_PUZZLE_BASE_URL"  # the same name as models.openai_client's (which imports more)
BACKENDS = ("auto", "qwen", "geometry", "openai")


@dataclass(frozen=True)
class VlmRules:
    """The parsed hints, the model's raw answer and the generation record (timings, tokens)."""

    hints: RuleHints
    text: str
    generation: object  # vlm_puzzle.models.types.Generation

    def to_dict(self) -> dict:
        return {"hints": self.hints.to_dict(), "text": self.text, "generation": self.generation.to_dict()}


def infer_rules_vlm_detailed(vlm, images: Sequence, *, max_new_tokens: int = MAX_NEW_TOKENS,
                             batch_size: int | None = None) -> list[VlmRules]:
    """One :class:`VlmRules` per image (paths, bytes, PIL images or BGR arrays), batched."""
    gens = vlm.generate(list(images), build_prompt(), max_new_tokens=max_new_tokens, batch_size=batch_size)
    out = []
    for g in gens:
        hints = parse_rule_answer(g.text)
        t = g.timings
        cost = (f"qwen: {g.n_tokens} tokens ({g.stopped_by}), {g.visual_tokens} visual tokens, "
                f"prefill {t.prefill_s * 1e3:.0f} ms, decode {t.decode_s * 1e3:.0f} ms")
        if g.stopped_by == "max_new_tokens":
            cost += f"; answer cut at the {max_new_tokens}-token bound"
        out.append(VlmRules(replace(hints, evidence=hints.evidence + (info("vlm_cost", cost),)), g.text, g))
    return out


def infer_rules_vlm_batch(vlm, images: Sequence, *, max_new_tokens: int = MAX_NEW_TOKENS,
                          batch_size: int | None = None) -> list[RuleHints]:
    """The VLM's RuleHints for each image (``source="qwen"``), in one batched call."""
    return [r.hints for r in infer_rules_vlm_detailed(vlm, images, max_new_tokens=max_new_tokens,
                                                      batch_size=batch_size)]


def infer_rules_vlm(vlm, image, *, max_new_tokens: int = MAX_NEW_TOKENS) -> RuleHints:
    """The VLM's RuleHints for one image."""
    return infer_rules_vlm_batch(vlm, [image], max_new_tokens=max_new_tokens)[0]


# ---- backend selection ---------------------------------------------------------------

def resolve_backend(backend: str = "auto", model: str | os.PathLike | None = None, *,
                    base_url: str | None = None) -> tuple[str, str | None, str]:
    """(backend actually used, model path or id or None, why).

    ``auto``: a served VLM when a server is configured (``base_url``, else the
    ``VLM_PUZZLE_BASE_URL`` environment variable), else the in-process VLM when weights
    are configured (``model``, else ``VLM_PUZZLE_MODEL``) and present offline, else the shipped
    ``vlm-puzzle-tiny`` where ``models.shipped.AUTO_DEFAULT`` says it helps, else geometry.
    ``qwen``: the VLM (the shipped model when no weights are configured), or a
    :class:`ModelError` saying what is missing. ``model="vlm-puzzle-tiny"`` names the shipped model.
    ``openai``: the VLM behind an OpenAI-compatible server; ``model`` is the name it serves
    (None: the server's only one).
    ``geometry``: rules from the extracted grid only.
    """
    from vlm_puzzle.models import shipped

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "geometry":
        return "geometry", None, "geometry backend requested"
    url = base_url or os.environ.get(ENV_BASE_URL)
    if backend == "openai" or (backend == "auto" and url):
        if not url:
            raise ModelError(f"the openai backend needs a server: pass --base-url or set {ENV_BASE_URL} "
                             "(e.g. http://127.0.0.1:8000/v1)", code="server_not_configured")
        return "openai", (str(model) if model else None), f"server at {url}" + (
            " (from " + ENV_BASE_URL + ")" if not base_url else "")
    source = "--model" if model else ENV_MODEL
    model = str(model) if model else (os.environ.get(ENV_MODEL) or None)
    own = shipped.shipped_model_path()
    if model == shipped.NAME and own is not None:
        model, source = str(own), f"{source} ({shipped.NAME}, shipped)"
    if model is None and own is not None and (backend == "qwen" or shipped.AUTO_DEFAULT) \
            and _vlm_unavailable() is None:
        return "qwen", str(own), f"no weights configured (--model or {ENV_MODEL}): the shipped {shipped.NAME}"
    if model is None:
        why = f"no weights configured (--model or {ENV_MODEL})"
        if backend == "qwen":
            raise ModelError(f"the qwen backend needs weights: {why}. Download e.g. Qwen/Qwen2.5-VL-3B-Instruct "
                             "once and pass its folder.", code="model_not_configured")
        return "geometry", None, why
    problem = _vlm_unavailable() or _weights_missing(model)
    if problem:
        if backend == "qwen":
            code = "model_unavailable" if "not installed" in problem else "model_not_found"
            raise ModelError(f"the qwen backend cannot run: {problem}", code=code)
        return "geometry", None, f"{source}={model} configured but {problem}"
    return "qwen", model, f"weights from {source}: {model}"


def _vlm_unavailable() -> str | None:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install 'vlm-puzzle[vlm]')"
    return None


def _weights_missing(model: str) -> str | None:
    """Why ``model`` has no usable weights offline, or None (cheap: no torch)."""
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            return f"{model} has no config.json (not a checkpoint folder)"
        return None
    if path.is_absolute() or model.startswith((".", "~")) or model.count("/") != 1:
        return f"{model} does not exist"
    try:  # a hub id: usable only if already in the local cache
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return f"{model} is not a folder and huggingface_hub is not installed"
    hit = try_to_load_from_cache(model, "config.json")
    if not isinstance(hit, str):
        return f"{model} is not a folder and not in the local Hugging Face cache (no download at run time)"
    return None
