"""VLM rule inference: the answer parser, the merge with geometry, backend choice, and
the whole ask -> greedy answer -> parse path on a tiny offline Qwen2-VL."""
from __future__ import annotations

from dataclasses import replace

import sys
from pathlib import Path

import numpy as np
import pytest

from vlm_puzzle.errors import ModelError
from vlm_puzzle.findings import codes, info, problem
from vlm_puzzle.rules import parse as P
from vlm_puzzle.rules import (RuleHints, build_prompt, merge, parse_rule_answer, resolve_backend)
from vlm_puzzle.spec import Cage, PuzzleSpec

GOOD = ('{"kind": "killer", "size": 9, "box": [3, 3], "diagonals": false, "windows": false, '
        '"cages": true, "cage_op": "sum", "rules": "Digits in a cage sum to its clue"}')


# ---- parser -------------------------------------------------------------------------

def test_parses_a_clean_answer():
    h = parse_rule_answer(GOOD)
    assert (h.kind, h.size, h.box, h.diagonals, h.windows, h.cages, h.cage_op) == \
        ("killer", 9, (3, 3), False, False, True, "sum")
    assert h.rule_text == "Digits in a cage sum to its clue"
    assert h.source == "qwen" and h.confidence == 0.9 and h.evidence == ()


@pytest.mark.parametrize("answer, expect", [
    # code fence + trailing prose
    ('```json\n{"kind": "x-sudoku", "size": 9}\n```\nThe diagonals are shaded.',
     dict(kind="x-sudoku", size=9, diagonals=True)),
    # single quotes, Python literals, trailing comma
    ("{'kind': 'sudoku', 'size': 6, 'box': [2, 3], 'diagonals': False, 'cages': None,}",
     dict(kind="sudoku", size=6, box=(2, 3), diagonals=False, cages=False)),
    # strings where numbers/lists were asked
    ('{"kind": "Sudoku", "size": "9x9", "box": "3x3"}', dict(kind="sudoku", size=9, box=(3, 3))),
    # unquoted keys and an unquoted box
    ('{kind: "windoku", size: 9, box: 3x3}', dict(kind="windoku", size=9, box=(3, 3), windows=True)),
    # cut at the token bound in the middle of the rule text
    ('{"kind": "kenken", "size": 6, "box": null, "cages": true, "cage_op": "arith", "rules": "Each row has',
     dict(kind="kenken", size=6, box=None, cages=True, cage_op="arith", rule_text="Each row has")),
    # cut right after a key
    ('{"kind": "jigsaw", "size": 9, "box":', dict(kind="jigsaw", size=9, box=None)),
    # synonyms for the kind and the cage meaning
    ('{"kind": "Calcudoku", "size": 5, "cage_op": "+-x/"}', dict(kind="kenken", size=5, cages=True,
                                                                  cage_op="arith")),
    ('{"kind": "Diagonal Sudoku", "size": 9}', dict(kind="x-sudoku", diagonals=True)),
    ('{"kind": "irregular sudoku", "size": 8}', dict(kind="jigsaw", size=8)),
    # yes/no words for booleans
    ('{"kind": "sudoku", "diagonals": "yes", "size": 9}', dict(kind="x-sudoku", diagonals=True)),
    # field-by-field salvage of a broken object
    ('kind: killer, size: 9, cages: true, cage_op: sum )', dict(kind="killer", size=9, cages=True,
                                                             cage_op="sum")),
    # prose only
    ("This looks like a killer sudoku puzzle.", dict(kind="killer", cages=True, cage_op="sum")),
    # cages with sums but kind left as sudoku: the fields decide
    ('{"kind": "sudoku", "size": 9, "cages": true, "cage_op": "sum"}', dict(kind="killer")),
])
def test_parses_malformed_answers(answer, expect):
    h = parse_rule_answer(answer)
    for key, value in expect.items():
        assert getattr(h, key) == value, (key, h)
    assert h.source == "qwen" and 0 < h.confidence <= 0.9


@pytest.mark.parametrize("answer, field, code", [
    ('{"kind": "sudoku", "size": 7}', "size", P.CONTRADICTION),
    ('{"kind": "kenken", "size": 12}', "size", P.CONTRADICTION),
    ('{"kind": "sudoku", "size": 9, "box": [2, 4]}', "box", P.CONTRADICTION),
    ('{"kind": "sudoku", "size": 9, "box": [2, 5]}', "box", P.INVALID),
    ('{"kind": "nurikabe", "size": 9}', "kind", P.INVALID),
    ('{"kind": "sudoku", "size": "big"}', "size", P.INVALID),
    ('{"kind": "killer", "size": 9, "diagonals": "maybe"}', "diagonals", P.INVALID),
    ('{"kind": "kenken", "size": 6, "box": [2, 3]}', "box", P.CONTRADICTION),
])
def test_invalid_values_become_none_with_evidence(answer, field, code):
    h = parse_rule_answer(answer)
    assert getattr(h, field) is None
    assert code in codes(h.evidence), h.evidence


@pytest.mark.parametrize("answer, code", [
    ("", P.EMPTY),
    ("I cannot tell.", P.UNREADABLE),
    ("{'kind': 'sudoku', 'size': 9,}", P.REPAIRED),
    ('{"kind": "sudoku", "size": 9, "diagonals": true}', P.KIND_IMPLIED),
    ('{"kind": "killer", "size": 9, "cages": false}', P.CONTRADICTION),
    ('{"rules": "fill the grid"}', P.UNDECIDED),
])
def test_each_fact_about_an_answer_has_its_code(answer, code):
    assert code in codes(parse_rule_answer(answer).evidence)


def test_a_clean_answer_has_no_evidence():
    assert parse_rule_answer('{"kind": "sudoku", "size": 9, "box": [3, 3]}').evidence == ()


@pytest.mark.parametrize("answer", ["", "   ", "I cannot tell.", "{}", "[1, 2, 3]", "{{{{", None])
def test_unusable_answers(answer):
    h = parse_rule_answer(answer)
    assert h.kind is None and h.size is None and h.confidence == 0.0 and h.evidence


def test_prompt_is_bounded_and_names_every_kind():
    from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS
    from vlm_puzzle.spec import KINDS

    p = build_prompt()
    assert all(k in p for k in KINDS) and '"kind"' in p and "JSON" in p
    assert 32 <= MAX_NEW_TOKENS <= 128


# ---- merge ----------------------------------------------------------------------------

SUDOKU = PuzzleSpec.sudoku([[0] * 9 for _ in range(9)])


def _geo(kind="sudoku", size=9, box=(3, 3), measured=True, problems=(), **kw):
    ev = ((info("boxes_seen", "thick lines form 9 3x3 boxes"),) if measured
          else (info("boxes_assumed", "no thick lines; assuming 3x3 boxes"),))
    return RuleHints(kind=kind, size=size, box=box, box_measured=measured, diagonals=kind == "x-sudoku",
                     windows=kind == "windoku", cages=kind in ("killer", "kenken"), confidence=0.8,
                     evidence=ev + tuple(problems), source="geometry", **kw)


def _vlm(**kw):
    return RuleHints(**{"kind": None, "confidence": 0.9, "source": "qwen", **kw})


def test_vlm_adds_a_rule_geometry_cannot_see():
    hints, spec = merge(_geo(), _vlm(kind="x-sudoku", size=9, diagonals=True, rule_text="1-9 on diagonals"),
                        geometry_spec=SUDOKU)
    assert spec.kind == "x-sudoku" and spec.diagonals and spec.givens == SUDOKU.givens
    assert hints.source == "qwen" and hints.kind == "x-sudoku" and hints.rule_text == "1-9 on diagonals"
    assert hints.evidence[-1].code == "vlm_used" and "kind sudoku -> x-sudoku" in hints.evidence[-1].text
    hints, spec = merge(_geo(), _vlm(kind="windoku", size=9, windows=True, rule_text="and in each shaded window"),
                        geometry_spec=SUDOKU)
    assert spec == PuzzleSpec.windoku(SUDOKU.givens)


def test_vlm_agreeing_keeps_the_spec():
    hints, spec = merge(_geo(), _vlm(kind="sudoku", size=9, box=(3, 3), cages=False), geometry_spec=SUDOKU)
    assert spec == SUDOKU and hints.source == "qwen"
    assert hints.evidence[-1].code == "vlm_agrees"


@pytest.mark.parametrize("vlm, why", [
    (None, "no VLM answer"),
    (ModelError("boom", code="model_out_of_memory"), "the VLM failed (ModelError: boom)"),
    (parse_rule_answer("no idea"), "the VLM answer was not usable"),
    (_vlm(kind="sudoku", size=6), "it says 6x6, the grid read is 9x9"),
    (_vlm(kind="killer", cages=True, cage_op="sum"), "it says there are cages, none were found"),
    (_vlm(kind="jigsaw", size=9), "it says jigsaw, no irregular regions were found"),
    # Rules the picture does not show: the givens may well allow them, so only this refuses them.
    (_vlm(kind="x-sudoku", diagonals=True), "diagonals, none are marked"),
    (_vlm(kind="windoku", windows=True), "windows, none are shaded"),
])
def test_geometry_wins_when_the_vlm_fails_or_contradicts(vlm, why):
    geo = _geo()
    hints, spec = merge(geo, vlm, geometry_spec=SUDOKU)
    assert spec is SUDOKU and hints.source == "geometry" and hints.kind == "sudoku"
    assert hints.evidence[:len(geo.evidence)] == geo.evidence
    assert hints.evidence[-1].code in ("vlm_unusable", "vlm_contradicts") and why in hints.evidence[-1].text


def test_box_shape_measured_vs_assumed():
    six = PuzzleSpec.sudoku([[0] * 6 for _ in range(6)])  # 2x3 boxes
    vlm = _vlm(kind="sudoku", size=6, box=(3, 2))
    hints, spec = merge(_geo(size=6, box=(2, 3), measured=True), vlm, geometry_spec=six)
    assert spec.box == (2, 3) and hints.source == "geometry"
    assert hints.evidence[-1].code == "vlm_contradicts" and "thick lines show 2x3" in hints.evidence[-1].text
    hints, spec = merge(_geo(size=6, box=(2, 3), measured=False), vlm, geometry_spec=six)
    assert spec.box == (3, 2) and hints.source == "qwen"


def test_box_measured_is_the_flag_not_the_wording():
    six = PuzzleSpec.sudoku([[0] * 6 for _ in range(6)])
    vlm = _vlm(kind="sudoku", size=6, box=(3, 2))
    worded = replace(_geo(size=6, box=(2, 3), measured=False), evidence=(info("boxes_seen", "thick lines form 6 2x3 boxes"),))
    hints, spec = merge(worded, vlm, geometry_spec=six)
    assert spec.box == (3, 2) and hints.source == "qwen"
    silent = replace(_geo(size=6, box=(2, 3), measured=True), evidence=())
    hints, spec = merge(silent, vlm, geometry_spec=six)
    assert spec.box == (2, 3) and hints.source == "geometry"


def test_drawn_marks_and_read_operators_beat_the_vlm():
    x = PuzzleSpec.x_sudoku([[0] * 9 for _ in range(9)])
    hints, spec = merge(_geo(kind="x-sudoku"), _vlm(kind="sudoku", diagonals=False), geometry_spec=x)
    assert spec is x and "diagonals are marked" in hints.evidence[-1].text
    # "sudoku" alone means no extra rules: it contradicts marked diagonals too.
    hints, spec = merge(_geo(kind="x-sudoku"), parse_rule_answer('{"kind": "sudoku", "size": 9}'), geometry_spec=x)
    assert spec is x and hints.source == "geometry" and "diagonals are marked" in hints.evidence[-1].text
    cages = [Cage(((0, 0), (0, 1)), "sub", 1), Cage(((1, 0), (1, 1)), "add", 3),
             Cage(((0, 2), (1, 2)), "div", 2), Cage(((2, 0), (2, 1), (2, 2)), "mul", 6)]
    ken = PuzzleSpec.kenken(3, cages)
    hints, spec = merge(_geo(kind="kenken", size=3, box=None), _vlm(kind="killer", cages=True, cage_op="sum"),
                        geometry_spec=ken)
    assert spec is ken and "cage clues with div/mul/sub were read" in hints.evidence[-1].text


def test_vlm_decides_what_cage_clues_mean():
    # Thick cages without operator symbols: geometry guessed kenken, the VLM says killer sums.
    cells = [((r, c), (r, c + 1)) for r in range(4) for c in (0, 2)]
    ken = PuzzleSpec.kenken(4, [Cage(cs, "add", 3 + i % 4) for i, cs in enumerate(cells)])
    hints, spec = merge(_geo(kind="kenken", size=4, box=None), _vlm(kind="killer", size=4, cage_op="sum",
                                                                     cages=True), geometry_spec=ken)
    assert spec.kind == "killer" and spec.box == (2, 2)
    assert all(c.op == "sum" and c.distinct for c in spec.cages)
    assert hints.source == "qwen" and hints.cage_op == "sum"


def test_clues_without_operators_stay_a_killer():
    # Geometry read a killer (clues without any operator); a VLM answering KenKen is refused, boxes
    # measured or only assumed.
    cells = [((r, c), (r, c + 1)) for r in range(4) for c in (0, 2)]
    killer = PuzzleSpec.killer([Cage(cs, "sum", 3 + i % 4) for i, cs in enumerate(cells)], size=4)
    vlm = _vlm(kind="kenken", size=4, cage_op="arith", cages=True)
    for measured in (True, False):
        hints, spec = merge(_geo(kind="killer", size=4, box=(2, 2), measured=measured), vlm, geometry_spec=killer)
        assert spec is killer and hints.source == "geometry" and "kind" in hints.disagreements
        assert hints.evidence[-1].code == "vlm_contradicts" and "no operator" in hints.evidence[-1].text


def test_invalid_result_falls_back_to_geometry():
    six = PuzzleSpec.sudoku([[0] * 6 for _ in range(6)])
    hints, spec = merge(_geo(size=6, box=(2, 3)), _vlm(kind="windoku", size=6, windows=True, rule_text="windows"),
                        geometry_spec=six)
    assert spec is six and hints.source == "geometry"
    assert hints.evidence[-1].code == "vlm_invalid" and "windows are defined for 9x9" in hints.evidence[-1].text


def test_no_geometry_spec_means_no_puzzle():
    geo = RuleHints(kind="killer", size=9, confidence=0.2, evidence=(problem("cannot_build", "unreadable clue"),))
    hints, spec = merge(geo, _vlm(kind="killer", size=9, cages=True), geometry_spec=None)
    assert spec is None and hints.source == "geometry"
    assert hints.evidence[-1].code == "vlm_without_cells"
    assert hints.problems == geo.problems and hints.has_problems


def test_geometry_problems_are_carried_through_the_merge():
    # A puzzle built by geometry whose reading failed a check: the VLM's rules applied
    # to it keep the problem (the pipeline falls back on it), as does geometry winning.
    nine = PuzzleSpec.sudoku([[0] * 9 for _ in range(9)])
    geo = _geo(size=9, box=(3, 3), problems=(problem("givens_no_solution", "the givens as read have no solution"),))
    hints, spec = merge(geo, _vlm(kind="x-sudoku", size=9, diagonals=True, rule_text="diagonals too"),
                        geometry_spec=nine)
    assert hints.source == "qwen" and spec.kind == "x-sudoku"
    assert hints.problems == geo.problems and hints.to_dict()["problems"] == ["the givens as read have no solution"]
    hints, _ = merge(geo, None, geometry_spec=nine)
    assert hints.source == "geometry" and hints.problems == geo.problems
    hints, _ = merge(_geo(size=9, box=(3, 3)), _vlm(kind="x-sudoku", size=9, diagonals=True, rule_text="diagonals too"),
                        geometry_spec=nine)
    assert hints.problems == () and not hints.has_problems


# ---- backend choice --------------------------------------------------------------------

def test_resolve_backend(tmp_path, monkeypatch):
    from vlm_puzzle.models import shipped

    monkeypatch.delenv("VLM_PUZZLE_MODEL", raising=False)
    # Without the shipped model (tests/test_tiny_vlm.py covers the choice with it).
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "no-shipped-model")
    assert resolve_backend("geometry", "whatever")[:2] == ("geometry", None)
    b, path, why = resolve_backend("auto", None)
    assert (b, path) == ("geometry", None) and "VLM_PUZZLE_MODEL" in why
    with pytest.raises(ModelError) as err:
        resolve_backend("qwen", None)
    assert err.value.code == "model_not_configured"
    # configured but missing: auto degrades with the reason, qwen refuses
    monkeypatch.setenv("VLM_PUZZLE_MODEL", str(tmp_path / "nope"))
    b, path, why = resolve_backend("auto", None)
    assert b == "geometry" and "VLM_PUZZLE_MODEL=" in why and "does not exist" in why
    with pytest.raises(ModelError) as err:
        resolve_backend("qwen", None)
    assert err.value.code == "model_not_found"
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    assert "no config.json" in resolve_backend("auto", ckpt)[2]
    (ckpt / "config.json").write_text("{}")
    assert resolve_backend("auto", ckpt) == ("qwen", str(ckpt), f"weights from --model: {ckpt}")
    monkeypatch.setenv("VLM_PUZZLE_MODEL", str(ckpt))
    assert resolve_backend("auto", None)[:2] == ("qwen", str(ckpt))
    b, _, why = resolve_backend("auto", "no-such-org/no-such-model")
    assert b == "geometry" and "not in the local Hugging Face cache" in why
    with pytest.raises(ValueError):
        resolve_backend("magic", None)


# ---- the whole path on a tiny model ------------------------------------------------------

def test_infer_rules_with_a_tiny_qwen(tmp_path):
    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_qwen import build_tiny_qwen

    from vlm_puzzle.models import QwenVL

    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: one thread is fastest on a shared CPU
    try:
        vlm = QwenVL.from_pretrained(build_tiny_qwen(tmp_path / "m", "qwen2_vl"), device="cpu",
                                     min_pixels=32 * 28 * 28, max_pixels=96 * 28 * 28)
        _check_tiny(vlm)
    finally:
        torch.set_num_threads(threads)


def _check_tiny(vlm):
    from vlm_puzzle.rules import infer_rules_vlm_batch, infer_rules_vlm_detailed

    img = np.full((240, 240, 3), 255, np.uint8)
    img[::26, :] = 0
    img[:, ::26] = 0
    [detail] = infer_rules_vlm_detailed(vlm, [img], max_new_tokens=12)
    g = detail.generation
    assert g.n_tokens <= 12 and detail.text == g.text
    parsed = parse_rule_answer(g.text)
    assert detail.hints.to_dict() | {"evidence": None} == parsed.to_dict() | {"evidence": None}
    assert detail.hints.source == "qwen" and detail.hints.evidence[-1].code == "vlm_cost"
    [h1, h2] = infer_rules_vlm_batch(vlm, [img, img], max_new_tokens=12)
    assert h1.kind == h2.kind == detail.hints.kind
    # A random model answers noise: merging falls back to geometry and says why.
    merged, spec = merge(_geo(), detail.hints, geometry_spec=SUDOKU)
    if detail.hints.kind is None and detail.hints.size is None:
        assert merged.source == "geometry" and spec is SUDOKU
