"""Read a VLM's rule answer into :class:`~vlm_puzzle.rules.base.RuleHints`, tolerantly.

Models wrap JSON in code fences, add a sentence after it, use single quotes or
Python's ``True``/``None``, leave trailing commas, stop mid-string at the token
bound, or answer ``"9x9"`` where a number was asked. Each is repaired where the
intent is unambiguous; values that are not allowed by :mod:`vlm_puzzle.spec`
(kinds, sizes, box shapes) become ``None`` with a sentence in ``evidence``, so the
merge step knows what the model did not decide.

Hostile answers cost linear time: the text is cut at ``MAX_ANSWER_CHARS``, no regex
can backtrack quadratically (no two adjacent runs can match the same characters,
repeats are bounded), nesting deeper than ``MAX_DEPTH`` is not handed to the JSON or
literal readers, and numbers are range-checked before use.
"""
from __future__ import annotations

import ast
import json
import re

from vlm_puzzle.findings import Finding, info
from vlm_puzzle.rules.base import RuleHints
from vlm_puzzle.spec import KENKEN_SIZES, KINDS, SUDOKU_SIZES

FIELDS = ("kind", "size", "box", "diagonals", "windows", "cages", "cage_op", "rules")
MAX_RULE_TEXT = 300
MAX_ANSWER_CHARS = 8000  # rule answers are a few hundred characters; the rest is ignored
MAX_DEPTH = 16  # a rule object nests two levels; deeper is not a rule answer

# Finding codes, one a fact: the answer was empty, held no rule object, needed repair
# to read, gave a field value that is not allowed, gave fields that contradict each
# other (one is dropped or overridden), had its kind follow from another field, or
# decided nothing.
EMPTY, UNREADABLE, REPAIRED = "vlm_answer_empty", "vlm_answer_unreadable", "vlm_answer_repaired"
INVALID, CONTRADICTION = "vlm_field_invalid", "vlm_fields_contradict"
KIND_IMPLIED, UNDECIDED = "vlm_kind_implied", "vlm_answer_undecided"

# Confidence by how much repair the answer needed.
CONF_JSON, CONF_REPAIRED, CONF_SALVAGED = 0.9, 0.75, 0.5

_KIND_WORDS = [  # checked in order: the first match wins
    ("kenken", ("kenken", "ken-ken", "ken ken", "calcudoku", "mathdoku", "kendoku")),
    ("killer", ("killer", "sum sudoku", "sumdoku", "addoku")),
    ("jigsaw", ("jigsaw", "irregular", "nonomino", "squiggly", "geometric")),
    ("windoku", ("windoku", "hyper", "window", "nrc")),
    ("x-sudoku", ("x-sudoku", "x sudoku", "sudoku-x", "sudoku x", "diagonal", "xsudoku")),
    ("sudoku", ("sudoku", "classic", "standard", "normal", "latin")),
]
_TRUE = {"true", "yes", "y", "1", "on", "present"}
_FALSE = {"false", "no", "n", "0", "off", "none", "null", "absent", ""}


def parse_rule_answer(text: str | None) -> RuleHints:
    """RuleHints (``source="qwen"``) from a model's answer; never raises.

    An answer with nothing usable gives ``kind=None`` and ``confidence=0``.
    """
    evidence: list[Finding] = []
    raw = (text or "")[:MAX_ANSWER_CHARS].strip()
    if not raw:
        return RuleHints(kind=None, confidence=0.0, evidence=(info(EMPTY, "the model gave an empty answer"),),
                         source="qwen")
    obj, how = _extract_object(raw)
    if obj is None:
        return RuleHints(kind=None, confidence=0.0, source="qwen",
                         evidence=(info(UNREADABLE, f"no rule fields in the model's answer: {_short(raw)!r}"),))
    if how != "json":
        evidence.append(info(REPAIRED, f"answer read after repair ({how.rstrip('; ')})"))
    fields = {_norm_key(k): v for k, v in obj.items()}
    kind = _kind(fields.get("kind"), evidence)
    size = _size(fields.get("size"), evidence)
    box = _box(fields.get("box"), evidence)
    diagonals = _bool(fields.get("diagonals", fields.get("diagonal")), "diagonals", evidence)
    windows = _bool(fields.get("windows", fields.get("window")), "windows", evidence)
    cages = _bool(fields.get("cages", fields.get("cage")), "cages", evidence)
    cage_op = _cage_op(fields.get("cage_op", fields.get("op")), evidence)
    rule_text = fields.get("rules", fields.get("rule_text", fields.get("rule")))
    if rule_text is not None:
        rule_text = str(rule_text).strip()[:MAX_RULE_TEXT] or None

    # What one field implies about another: make the hints consistent, say so.
    if kind == "x-sudoku" and diagonals is None:
        diagonals = True
    if kind == "windoku" and windows is None:
        windows = True
    if kind in ("killer", "kenken"):
        if cages is False:
            evidence.append(info(CONTRADICTION, f"answer says {kind} but no cages: cages assumed"))
        cages = True
        cage_op = cage_op or ("sum" if kind == "killer" else "arith")
    if kind == "kenken" and box is not None:
        evidence.append(info(CONTRADICTION, "answer gives a box shape for kenken, which has no boxes: ignored"))
        box = None
    if kind in ("sudoku", None) and cages and cage_op:
        kind = "killer" if cage_op == "sum" else "kenken"
        evidence.append(info(KIND_IMPLIED, f"cages with {cage_op} clues: kind {kind}"))
    if kind == "sudoku" and diagonals:
        kind = "x-sudoku"
        evidence.append(info(KIND_IMPLIED, "diagonals rule: kind x-sudoku"))
    if kind == "sudoku" and windows:
        kind = "windoku"
        evidence.append(info(KIND_IMPLIED, "windows rule: kind windoku"))
    if kind == "sudoku":
        # A plain sudoku has no extra rules: "sudoku" alone is a "no" to each of them.
        diagonals = False if diagonals is None else diagonals
        windows = False if windows is None else windows
        cages = False if cages is None else cages
    if size is not None and kind is not None:
        allowed = KENKEN_SIZES if kind == "kenken" else (range(4, 17) if kind == "jigsaw" else SUDOKU_SIZES)
        if size not in allowed:
            evidence.append(info(CONTRADICTION, f"size {size} is not allowed for {kind}: ignored"))
            size = None
    if box is not None:
        if size is None and box[0] * box[1] in SUDOKU_SIZES:
            size = box[0] * box[1]
        elif size is not None and box[0] * box[1] != size:
            evidence.append(info(CONTRADICTION, f"box {box[0]}x{box[1]} does not tile a {size}x{size} grid: ignored"))
            box = None

    decided = [v for v in (kind, size, box, diagonals, windows, cages, cage_op) if v is not None]
    conf = {"json": CONF_JSON, "regex": CONF_SALVAGED}.get(how, CONF_REPAIRED) if decided else 0.0
    if kind is None:
        conf = min(conf, CONF_SALVAGED)
    if not decided:
        evidence.append(info(UNDECIDED, f"the answer decides none of {', '.join(FIELDS[:-1])}: {_short(raw)!r}"))
    return RuleHints(kind=kind, size=size, box=box, diagonals=diagonals, windows=windows, cages=cages,
                     cage_op=cage_op, rule_text=rule_text, confidence=conf,
                     evidence=tuple(evidence),
                     source="qwen")


# ---- finding the object ------------------------------------------------------------

def _extract_object(raw: str) -> tuple[dict | None, str]:
    text = re.sub(r"```(?:json|JSON)?", "", raw).strip()
    start = text.find("{")
    if start >= 0:
        body, complete = _balanced(text[start:])
        if body is None:  # nested too deep to be a rule object
            salvaged = _salvage(text)
            return (salvaged, "regex") if salvaged else (None, "none")
        cut = "" if complete else "answer cut short, closed; "
        try:
            obj = json.loads(body)
            if isinstance(obj, dict):
                if complete and body == text:
                    return obj, "json"
                return obj, cut or "json with surrounding text"
        except ValueError:  # JSONDecodeError, or an integer of over 4,300 digits
            pass
        fixed = _repair(body)
        for loader, how in ((json.loads, cut + "quotes/literals/commas fixed"), (_literal, cut + "python literal")):
            try:
                obj = loader(fixed if loader is json.loads else body)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(obj, dict):
                return obj, how
    salvaged = _salvage(text)
    return (salvaged, "regex") if salvaged else (None, "none")


def _balanced(s: str) -> tuple[str | None, bool]:
    """(the text from the first '{' to its matching '}', True), or a closed-off
    version of a truncated object (open string and brackets closed) and False;
    (None, False) when brackets nest deeper than MAX_DEPTH."""
    depth, in_str, quote, esc = 0, False, "", False
    stack: list[str] = []
    for i, ch in enumerate(s):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                in_str = False
            continue
        if ch in "\"'":
            in_str, quote = True, ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
            depth += 1
            if depth > MAX_DEPTH:
                return None, False
        elif ch in "}]":
            if stack:
                stack.pop()
            depth -= 1
            if depth == 0:
                return s[:i + 1], True
    # Truncated (the token bound hit mid-answer): close what is open.
    tail = s.rstrip()
    if in_str:
        tail += quote
    tail = _drop_dangling_key(tail.rstrip().removesuffix(",").rstrip())
    return tail + "".join(reversed(stack)), False


def _drop_dangling_key(tail: str) -> str:
    """``..., "key":`` (cut before the value) -> ``...``; string scans, no regex."""
    if not tail.endswith(":"):
        return tail
    rest = tail[:-1].rstrip()
    if rest.endswith('"'):
        open_quote = rest.rfind('"', 0, len(rest) - 1)
        if open_quote >= 0:
            rest = rest[:open_quote].rstrip()
    return rest.removesuffix(",")


def _repair(body: str) -> str:
    s = body
    # Single-quoted strings -> double-quoted (apostrophes inside double quotes are left alone).
    s = re.sub(r"'([^'\"]*)'", lambda m: json.dumps(m.group(1)), s)
    s = re.sub(r"\bTrue\b", "true", s)
    s = re.sub(r"\bFalse\b", "false", s)
    s = re.sub(r"\bNone\b", "null", s)
    s = re.sub(r",\s*([}\]])", r"\1", s)  # trailing commas
    s = re.sub(r'([{,]\s*)([A-Za-z_][\w-]*)\s*:', r'\1"\2":', s)  # unquoted keys
    s = re.sub(r":\s*(\d+)\s*[xX×]\s*(\d+)\s*([,}])", r": [\1, \2]\3", s)  # box: 3x3 unquoted
    return s


def _literal(body: str):
    s = re.sub(r"\btrue\b", "True", body)
    s = re.sub(r"\bfalse\b", "False", s)
    s = re.sub(r"\bnull\b", "None", s)
    return ast.literal_eval(s)


# Bounded repeats: a value scan can never run across the whole answer from every key.
_FIELD_RE = re.compile(
    r"""["']?(kind|size|box|diagonals?|windows?|cages?|cage_op|rules?)["']?\s*[:=]\s*"""
    r"""(\[[^\]]{0,200}\]|"[^"]{0,300}"?|'[^']{0,300}'?|[^,}\n]{1,300})""", re.IGNORECASE)


def _salvage(text: str) -> dict | None:
    """Field by field, for answers too broken to be an object."""
    out: dict = {}
    for key, value in _FIELD_RE.findall(text):
        value = value.strip().strip("\"'").strip()
        if value.startswith("["):
            try:
                value = json.loads(value.replace("'", '"'))
            except json.JSONDecodeError:
                pass
        out.setdefault(key.lower(), value)
    if not out:
        # A bare kind in prose ("This is a killer sudoku.") is still an answer.
        kind = _kind(text, [])
        if kind is not None:
            out["kind"] = kind
    return out or None


# ---- field values --------------------------------------------------------------------

def _norm_key(k) -> str:
    return str(k).strip().lower().replace(" ", "_").replace("-", "_")


def _short(s: str, n: int = 80) -> str:
    return s if len(s) <= n else s[:n] + "..."


def _kind(value, evidence: list[Finding]) -> str | None:
    if value is None:
        return None
    v = str(value).strip().lower().replace("_", "-")
    if v in KINDS:
        return v
    for kind, words in _KIND_WORDS:
        if any(w in v for w in words):
            return kind
    if v not in ("", "none", "null", "unknown"):
        evidence.append(info(INVALID, f"unknown kind {_short(str(value), 40)!r}: ignored"))
    return None


def _size(value, evidence: list[Finding]) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    m = re.fullmatch(r"(\d{1,3})(?:\s*[xX×*]\s*(\d{1,3}))?", str(value).strip())
    if not m or (m.group(2) and m.group(1) != m.group(2)):
        if str(value).strip().lower() not in ("", "none", "null"):
            evidence.append(info(INVALID, f"size {_short(str(value), 40)!r} is not a square grid size: ignored"))
        return None
    n = int(m.group(1))
    if not 3 <= n <= 16:
        evidence.append(info(INVALID, f"size {n} is outside 3..16: ignored"))
        return None
    return n


def _box(value, evidence: list[Finding]) -> tuple[int, int] | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        m = re.fullmatch(r"\[?\(?\s*(\d{1,3})\s*(?:[xX×*,]|by)\s*(\d{1,3})\s*\)?\]?", value.strip())
        if not m:
            if value.strip().lower() not in ("", "none", "null", "no"):
                evidence.append(info(INVALID, f"box {_short(value, 40)!r} is not a box shape: ignored"))
            return None
        value = [m.group(1), m.group(2)]
    if isinstance(value, dict):
        value = [value.get("rows"), value.get("cols", value.get("columns"))]
    try:
        r, c = (int(x) for x in value)
    except (TypeError, ValueError, OverflowError):  # not two numbers, inf, nan
        evidence.append(info(INVALID, f"box {_short(str(value), 40)!r} is not a box shape: ignored"))
        return None
    if r < 1 or c < 1 or r * c not in SUDOKU_SIZES:
        evidence.append(info(INVALID, f"box {r}x{c} does not tile an allowed grid: ignored"))
        return None
    return (r, c)


def _bool(value, name: str, evidence: list[Finding]) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return len(value) > 0
    v = str(value).strip().lower().rstrip(".")
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    evidence.append(info(INVALID, f"{name} {_short(str(value), 40)!r} is not yes/no: ignored"))
    return None


def _cage_op(value, evidence: list[Finding]) -> str | None:
    if value is None:
        return None
    v = str(value).strip().lower()
    if v in ("", "none", "null", "no"):
        return None
    if v in ("sum", "sums", "add", "addition", "+", "total", "killer"):
        return "sum"
    if any(w in v for w in ("arith", "operat", "kenken", "+-", "+ -", "mul", "div", "×", "÷")):
        return "arith"
    evidence.append(info(INVALID, f"cage_op {_short(str(value), 40)!r} is not sum/arith: ignored"))
    return None
