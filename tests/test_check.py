"""Stage boundaries: perception imports no solver, rules no solver, types are immutable,
findings carry codes, and the pipeline visits each stage once."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from vlm_puzzle.findings import Finding, info, notes, problem, uncertain
from vlm_puzzle.verdict import GivensVerdict, Repair


def _modules_after(importing: str) -> set[str]:
    code = f"import sys, {importing}; print(' '.join(m for m in sys.modules if m.startswith('vlm_puzzle')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("stage", ["vlm_puzzle.vision", "vlm_puzzle.rules.geometry", "vlm_puzzle.rules"])
def test_lower_stages_import_no_solver_and_no_check(stage):
    loaded = _modules_after(stage)
    assert stage in loaded
    assert not any(m == "vlm_puzzle.solver" or m.startswith(("vlm_puzzle.solver.", "vlm_puzzle.check"))
                   for m in loaded), sorted(loaded)


def test_findings_carry_codes_and_render_as_notes():
    fs = (info("boxes_seen", "thick lines form 9 3x3 boxes"), uncertain("unlikely_repair", "x"),
          problem("killer_total", "y"))
    assert notes(fs) == ["uncertain: x", "problem: y"]
    assert str(fs[0]) == "thick lines form 9 3x3 boxes" and not fs[0].is_note
    with pytest.raises(ValueError):
        Finding("warning", "code", "text")
    with pytest.raises(FrozenInstanceError):
        fs[1].code = "other"


def test_verdict_and_repair_are_immutable():
    v = GivensVerdict("sudoku", np.zeros((4, 4), int), "repaired", "solved", (Repair((0, 1), 3, 4),))
    assert v.ok and v.repairs[0].to_dict() == {"cell": [0, 1], "from": 3, "to": 4}
    with pytest.raises(FrozenInstanceError):
        v.kind = "killer"
    with pytest.raises(ValueError):
        GivensVerdict("sudoku", np.zeros((4, 4), int), "fixed", None)


def test_pipeline_result_findings_match_notes(tmp_path):
    from e2e_images import render_to
    from vlm_puzzle.pipeline import PuzzleSolver
    img = render_to(tmp_path, "killer", 6)
    res = PuzzleSolver(backend="geometry").solve_image(img)
    assert res.notes == notes(res.findings)
    assert all(f.code and isinstance(f, Finding) for f in res.findings)
    with pytest.raises(FrozenInstanceError):
        res.state.verdict = None
    assert res.state.verdict is not None and res.state.variants is not None


def test_each_stage_once_and_decide_once(tmp_path, monkeypatch):
    # vision -> rules -> check -> solve: the grid is read once, the kind decided once,
    # the image decoded once (an upright, uniquely solvable picture).
    import vlm_puzzle.check.stage as stage
    import vlm_puzzle.pipeline as pipeline
    from e2e_images import render_to
    from vlm_puzzle import imageio
    from vlm_puzzle.vision.extract import GridReader
    calls = {"decode": 0, "read": 0, "decide": 0, "turned": 0}

    def counting(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapped
    monkeypatch.setattr(pipeline, "open_image", counting("decode", imageio.open_image))
    monkeypatch.setattr(GridReader, "read", counting("read", GridReader.read))
    monkeypatch.setattr(GridReader, "turned", counting("turned", GridReader.turned))
    monkeypatch.setattr(pipeline, "decide", counting("decide", pipeline.decide))
    monkeypatch.setattr(stage, "decide", counting("decide", stage.decide))
    img = render_to(tmp_path, "jigsaw", 9)
    res = pipeline.PuzzleSolver(backend="geometry").solve_image(img)
    assert res.status == "solved"
    assert calls == {"decode": 1, "read": 1, "decide": 1, "turned": 0}
