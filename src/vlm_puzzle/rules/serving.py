"""Rule inference on a serving engine: the same question as the in-process Qwen-VL
(``prompt.py``), sent to an OpenAI-compatible server (``models/openai_client.py``), and its
answer read by the same parser (``parse.py``) into the same :class:`RuleHints` that
``merge.py`` combines with geometry, exactly as ``rules/vlm.py`` does for ``QwenVL``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Sequence

from vlm_puzzle.findings import info
from vlm_puzzle.rules.base import RuleHints
from vlm_puzzle.rules.parse import parse_rule_answer
from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS, RULE_ANSWER_SCHEMA, build_prompt


# Qwen's special-token markers (<|im_start|>, <|video_pad|>...): the in-process wrapper decodes
# without them; a server may leave the ones a model emits mid-answer in the text.
SPECIAL_TOKEN = re.compile(r"<\|[a-z_]+\|>")


@dataclass(frozen=True)
class ServedRules:
    """The parsed hints and the server's answer (text, timings, how JSON was asked for)."""

    hints: RuleHints
    answer: object  # vlm_puzzle.models.openai_client.ServedAnswer

    def to_dict(self) -> dict:
        return {"hints": self.hints.to_dict(), "answer": self.answer.to_dict()}


def rules_from_answer(answer, *, max_new_tokens: int = MAX_NEW_TOKENS) -> ServedRules:
    """RuleHints (``source="qwen"``: a Qwen-VL read them) from a served answer, with one evidence
    line saying where they came from and what they cost."""
    hints = parse_rule_answer(SPECIAL_TOKEN.sub("", answer.text))
    cost = (f"served: {answer.model} on {answer.engine}, {answer.completion_tokens} tokens "
            f"({answer.finish_reason}), {answer.visual_tokens} visual tokens, structured output "
            f"{answer.structured} ({answer.structured_note}), {answer.attempts} attempt(s), "
            f"network {answer.network_s * 1e3:.0f} ms")
    if answer.finish_reason == "length":
        cost += f"; answer cut at the {max_new_tokens}-token bound"
    return ServedRules(replace(hints, evidence=hints.evidence + (info("served_cost", cost),)), answer)


def infer_rules_served(client, image, *, max_new_tokens: int = MAX_NEW_TOKENS) -> ServedRules:
    """The served model's rules for one image (path, bytes, PIL image or BGR array). Raises
    :class:`~vlm_puzzle.models.openai_client.ServingError`."""
    answer = client.complete(image, build_prompt(), max_tokens=max_new_tokens, schema=RULE_ANSWER_SCHEMA)
    return rules_from_answer(answer, max_new_tokens=max_new_tokens)


def infer_rules_served_batch(client, images: Sequence, *, max_new_tokens: int = MAX_NEW_TOKENS) -> list:
    """One :class:`ServedRules` or typed error per image, in order, the client's ``concurrency`` at a time."""
    answers = client.complete_many(list(images), build_prompt(), max_tokens=max_new_tokens,
                                   schema=RULE_ANSWER_SCHEMA)
    return [a if isinstance(a, BaseException) else rules_from_answer(a, max_new_tokens=max_new_tokens)
            for a in answers]
