"""The question Qwen-VL is asked about a puzzle picture.

The answer is one small JSON object (about 40-60 tokens with Qwen's tokenizer), so
rule inference is bounded by ``MAX_NEW_TOKENS`` rather than by the model's wish to
explain itself. The free-text ``rules`` field comes last: if the answer is cut at the
bound, only that field is lost, and the parser still reads the rest.
"""
from __future__ import annotations

import json

from vlm_puzzle.spec import KINDS

# Enough for the JSON object plus a short rule sentence; measured answers are < 64 tokens.
MAX_NEW_TOKENS = 96

RULES_PROMPT = (
    "This picture shows a grid logic puzzle. Identify its rules. "
    "Reply with only one JSON object and nothing else, in this form:\n"
    '{"kind": "sudoku", "size": 9, "box": [3, 3], "diagonals": false, "windows": false, '
    '"cages": false, "cage_op": null, "rules": ""}\n'
    f"kind: one of {', '.join(KINDS)} (x-sudoku: the two diagonals also hold each digit once; "
    "windoku: four extra shaded 3x3 windows; jigsaw: irregular thick-bordered regions instead of boxes; "
    "killer: dashed cages with sums; kenken: cages with a target and an operation + - x /, no boxes).\n"
    "size: cells per row. box: [rows, cols] of a box, or null when there are no boxes. "
    "cages: true when cages are drawn; cage_op: \"sum\" (killer), \"arith\" (kenken) or null. "
    "rules: the rule text printed with the puzzle, at most 15 words, or \"\"."
)


def build_prompt() -> str:
    """The rule-inference prompt (one text for every image, so prompts batch well)."""
    return RULES_PROMPT


def answer_for(spec) -> str:
    """The answer the prompt asks for about a known puzzle (a ``PuzzleSpec``): the training target
    of the project's own model and the reference its evaluation scores against."""
    return answer_text(spec.kind, spec.size, spec.box)


def answer_text(kind: str, size: int, box=None) -> str:
    """The rule answer of a ``kind`` puzzle of ``size`` (``box``: its box shape, None without boxes),
    same keys and order as the prompt's example; ``rules`` is empty (renders print no rule text)."""
    caged = kind in ("killer", "kenken")
    return json.dumps({"kind": kind, "size": size, "box": list(box) if box else None,
                       "diagonals": kind == "x-sudoku", "windows": kind == "windoku", "cages": caged,
                       "cage_op": {"killer": "sum", "kenken": "arith"}.get(kind), "rules": ""})


# The answer's JSON schema, for servers that can constrain decoding to it (vLLM
# ``structured_outputs``, ``response_format`` json_schema): the fields and values the prompt asks for.
RULE_ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": list(KINDS)},
        "size": {"type": "integer", "minimum": 1, "maximum": 16},
        "box": {"anyOf": [{"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                          {"type": "null"}]},
        "diagonals": {"type": "boolean"},
        "windows": {"type": "boolean"},
        "cages": {"type": "boolean"},
        "cage_op": {"anyOf": [{"type": "string", "enum": ["sum", "arith"]}, {"type": "null"}]},
        "rules": {"type": "string", "maxLength": 120},
    },
    "required": ["kind", "size", "box", "diagonals", "windows", "cages", "cage_op", "rules"],
    "additionalProperties": False,
}
