"""The shipped vlm-puzzle-tiny model, its training pieces, the LoRA adapter round trip and the
report of VLM/geometry disagreement."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vlm_puzzle.findings import info
from vlm_puzzle.rules import RuleHints, merge, parse_rule_answer, resolve_backend
from vlm_puzzle.rules.prompt import answer_text
from vlm_puzzle.spec import PuzzleSpec

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
sys.path.insert(0, str(ROOT / "training"))

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def shipped():
    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.models.shipped import shipped_model_path

    path = shipped_model_path()
    assert path is not None, "the package ships vlm-puzzle-tiny"
    return QwenVL.from_pretrained(path, device="cpu")


def test_shipped_model_loads_offline_with_its_own_pixel_bounds(shipped):
    from vlm_puzzle.models.shipped import SHIPPED_DIR

    record = json.loads((SHIPPED_DIR / "vlm_puzzle.json").read_text())
    assert (shipped.min_pixels, shipped.max_pixels) == (record["min_pixels"], record["max_pixels"])
    assert shipped.model.config.model_type == "qwen2_vl" and shipped.device.type == "cpu"
    size = sum(f.stat().st_size for f in SHIPPED_DIR.iterdir())
    assert size < 16 * 2**20


# The shipped samples it is asked about: (file, kind, size) as their ground truth states.
CASES = [(p.name, json.loads(p.with_suffix(".json").read_text())["spec"]) for p in
         sorted(SAMPLES.glob("*_2024.png")) + sorted(SAMPLES.glob("*_2024_photo.jpg"))]


def test_shipped_model_answers_the_rule_prompt_on_the_samples(shipped):
    # How often it is right is a benchmark (experiments/eval_vlm_rules.py), not asserted here.
    from vlm_puzzle.rules.vlm import infer_rules_vlm_detailed
    from vlm_puzzle.spec import KINDS

    answers = infer_rules_vlm_detailed(shipped, [SAMPLES / name for name, _ in CASES])
    for (name, _), ans in zip(CASES, answers):
        obj = json.loads(ans.text)  # strict JSON, every field the prompt asks for, in its order
        assert list(obj) == ["kind", "size", "box", "diagonals", "windows", "cages", "cage_op", "rules"], name
        assert ans.generation.n_tokens <= 4 and ans.generation.stopped_by == "eos"
        assert obj["kind"] in KINDS and ans.text == answer_text(obj["kind"], obj["size"], obj["box"])
        assert (ans.hints.kind, ans.hints.size, ans.hints.cage_op) == (obj["kind"], obj["size"], obj["cage_op"])
        assert ans.hints.source == "qwen" and ans.hints.confidence > 0


# One print and one photo of each kind; the model is shown what the pipeline shows it (its grid view).
READ_RIGHT = ["kenken4_2024.png", "killer9_2024.png", "windoku9_2024.png", "jigsaw9_2024_photo.jpg",
              "sudoku16_2024_photo.jpg", "x-sudoku9_2024_photo.jpg"]


def test_shipped_model_reads_the_rules_of_shipped_samples_through_the_pipeline(shipped):
    from vlm_puzzle.models.shipped import SHIPPED_DIR, checkpoint_view
    from vlm_puzzle.pipeline import PuzzleSolver
    from vlm_puzzle.rules.prompt import answer_for
    from vlm_puzzle.rules.vlm import infer_rules_vlm_detailed

    solver = PuzzleSolver(backend="geometry")
    view = checkpoint_view(SHIPPED_DIR)
    assert view[0] == "grid" and view[1] % 28 == 0
    readings = [solver.read(str(SAMPLES / name)) for name in READ_RIGHT]
    pictures = [r.vlm_image(*view) for r in readings]
    assert all(p.shape == (view[1], view[1], 3) for p in pictures)
    for name, ans in zip(READ_RIGHT, infer_rules_vlm_detailed(shipped, pictures)):
        spec = PuzzleSpec.from_dict(json.loads((SAMPLES / name).with_suffix(".json").read_text())["spec"])
        truth, got = json.loads(answer_for(spec)), json.loads(ans.text)
        assert {k: got[k] for k in ("kind", "size", "box", "diagonals", "windows", "cage_op")} == \
            {k: truth[k] for k in ("kind", "size", "box", "diagonals", "windows", "cage_op")}, name
        assert (ans.hints.kind, ans.hints.size) == (spec.kind, spec.size)


def test_backend_qwen_without_weights_runs_the_shipped_model(monkeypatch, tmp_path):
    from vlm_puzzle.errors import ModelError
    from vlm_puzzle.models import shipped as shipped_mod

    monkeypatch.delenv("VLM_PUZZLE_MODEL", raising=False)
    backend, path, _ = resolve_backend("qwen", None)
    assert (backend, path) == ("qwen", str(shipped_mod.SHIPPED_DIR))
    assert resolve_backend("auto", "vlm-puzzle-tiny")[:2] == ("qwen", str(shipped_mod.SHIPPED_DIR))
    auto = resolve_backend("auto", None)[:2]
    assert auto == (("qwen", str(shipped_mod.SHIPPED_DIR)) if shipped_mod.AUTO_DEFAULT else ("geometry", None))
    monkeypatch.setattr(shipped_mod, "SHIPPED_DIR", tmp_path / "absent")
    with pytest.raises(ModelError) as err:
        resolve_backend("qwen", None)
    assert err.value.code == "model_not_configured"


def test_tokenizer_answers_are_kind_size_rest():
    import tiny_vlm

    tok = tiny_vlm.build_tokenizer()
    answers = tiny_vlm.all_answers()
    assert len(set(answers)) == len(answers) == 39
    for a in answers:
        ids = tok(a, add_special_tokens=False)["input_ids"]
        assert len(ids) == 3 and tok.decode(ids) == a
        assert parse_rule_answer(a).kind == json.loads(a)["kind"]
    odd = "any other text, ünïcode too"
    assert tok.decode(tok(odd, add_special_tokens=False)["input_ids"]) == odd


def test_training_patches_match_the_processor():
    import numpy as np
    from PIL import Image

    import tiny_vlm

    processor = tiny_vlm.build_processor(tiny_vlm.build_tokenizer())
    pic = np.random.default_rng(0).integers(0, 256, (224, 280, 3), dtype=np.uint8)
    ref = processor.image_processor(images=[Image.fromarray(pic)], return_tensors="pt")
    pixels, grid = tiny_vlm.patchify([pic], "cpu", torch.float32)
    assert grid.tolist() == ref["image_grid_thw"].tolist()
    assert torch.allclose(pixels, ref["pixel_values"], atol=1e-5)


# ---- disagreement report -------------------------------------------------------------

def _geo(**kw):
    base = dict(kind="sudoku", size=9, box=(3, 3), box_measured=True, diagonals=False, windows=False, cages=False,
                confidence=0.8, evidence=(info("geometry_read", "geometry read"),))
    return RuleHints(**{**base, **kw})


def test_merge_reports_where_vlm_and_geometry_disagree():
    sudoku = PuzzleSpec.sudoku([[0] * 9 for _ in range(9)])
    vlm = replace(parse_rule_answer(answer_text("x-sudoku", 9, (3, 3))), rule_text="1-9 on each diagonal")
    hints, spec = merge(_geo(), vlm, geometry_spec=sudoku)
    assert hints.disagreements == ("kind", "diagonals") and spec.kind == "x-sudoku"
    assert [f.code for f in hints.evidence if f.level == "uncertain"] == ["vlm_disagrees"]
    assert hints.to_dict()["disagreements"] == ["kind", "diagonals"]
    # contradicted by the image: geometry's rules stand, the disagreement is still reported
    vlm = parse_rule_answer(answer_text("sudoku", 6, (2, 3)))
    hints, spec = merge(_geo(), vlm, geometry_spec=sudoku)
    assert hints.source == "geometry" and spec is sudoku and hints.disagreements == ("size", "box")
    # agreement: nothing to report
    hints, _ = merge(_geo(), parse_rule_answer(answer_text("sudoku", 9, (3, 3))), geometry_spec=sudoku)
    assert hints.disagreements == () and "vlm_disagrees" not in [f.code for f in hints.evidence]


# ---- LoRA adapter round trip on a tiny random checkpoint ------------------------------------

def test_lora_adapter_trains_saves_loads_and_changes_the_answer(tmp_path):
    pytest.importorskip("peft")
    sys.path.insert(0, str(ROOT / "tests"))
    import finetune_qwen_vl as ft
    from tiny_qwen import build_tiny_qwen

    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.rules.prompt import build_prompt

    ckpt = build_tiny_qwen(tmp_path / "tiny", "qwen2_vl")
    px = ["--min-pixels", str(16 * 28 * 28), "--max-pixels", str(16 * 28 * 28)]
    record = ft.finetune(ft.parse_args(["--model", str(ckpt), "--out", str(tmp_path / "adapter"), "--samples", "2",
                                        "--steps", "6", "--batch", "2", "--lr", "1e-2", "--warmup", "1", "--rank", "4",
                                        "--workers", "1", "--device", "cpu", *px]))
    assert record["loss_last"] < record["loss_first"]
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    opts = dict(device="cpu", min_pixels=16 * 28 * 28, max_pixels=16 * 28 * 28)
    image = SAMPLES / "kenken6_2024.png"
    base = QwenVL.from_pretrained(ckpt, **opts).generate([image], build_prompt(), max_new_tokens=12)[0]
    tuned = QwenVL.from_pretrained(ckpt, adapter=tmp_path / "adapter", **opts)
    assert tuned.generate([image], build_prompt(), max_new_tokens=12)[0].token_ids != base.token_ids
    assert "adapter" in tuned.name


def _grid_split(folder: Path, cell: int = 110, off: tuple[int, int] = (150, 260)) -> np.ndarray:
    """A kubiesa-like split of one photo: a 9x9 grid (box lines 3x wider) on tinted paper, its
    corners in ``metadata.csv`` as the data set gives them (TL, BL, BR, TR; relative and absolute)."""
    import cv2

    folder.mkdir()
    img = np.full((1600, 1200, 3), (230, 200, 180), np.uint8)  # BGR paper, bluish
    x0, y0 = off
    for k in range(10):
        w = 9 if k % 3 == 0 else 3
        cv2.rectangle(img, (x0 + k * cell, y0), (x0 + k * cell + w - 1, y0 + 9 * cell), (20, 20, 20), -1)
        cv2.rectangle(img, (x0, y0 + k * cell), (x0 + 9 * cell, y0 + k * cell + w - 1), (20, 20, 20), -1)
    cv2.imwrite(str(folder / "p.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    q = np.array([[x0, y0], [x0, y0 + 9 * cell], [x0 + 9 * cell, y0 + 9 * cell], [x0 + 9 * cell, y0]], float)
    names = [f"{a}_{c}" for c in ("topleft", "bottomleft", "bottomright", "topright") for a in ("x", "y")]
    rel = (q / [1200, 1600]).ravel()
    (folder / "metadata.csv").write_text(
        "Name,Source,Puzzle,Width,Height," + ",".join(names) + "," + ",".join(n + "_absolute" for n in names) + "\n"
        + "p.jpg,phone,01_01,1200,1600," + ",".join(map(str, rel)) + "," + ",".join(str(int(v)) for v in q.ravel()) + "\n")
    return q


def test_real_photo_pack_cuts_the_labelled_grid_as_the_view(tmp_path):
    import cv2
    import vlm_data
    import vlm_real

    _grid_split(tmp_path / "split")
    vlm_real.pack(tmp_path / "split", tmp_path / "pack")
    (image, q, answer), = vlm_real.load(tmp_path / "pack")
    side = np.linalg.norm(q[1] - q[0])
    assert abs(side - vlm_real.GRID_PX) < 3  # shrunk
    assert max(image.shape[:2]) < (1 + 2 * vlm_real.CROP_MARGIN) * vlm_real.GRID_PX + 3  # and cut
    assert json.loads(answer) == json.loads(answer_text("sudoku", 9, (3, 3)))
    view, = vlm_data.jittered_views(image, q, np.random.default_rng(0), 252, 1, jitter=0.0, margins=(0.05, 0.05))
    assert view.shape == (252, 252, 3)
    assert view[126 - 10, 126 - 10, 0] < view[126 - 10, 126 - 10, 2]  # RGB: the bluish paper's blue is last
    gray = cv2.cvtColor(view, cv2.COLOR_RGB2GRAY).astype(float)
    for axis in (0, 1):  # the 10 grid lines where a view with 5% margins puts them
        profile = gray.mean(axis=axis)
        dark = np.flatnonzero(profile < np.median(profile) - 25)
        centres = [g.mean() for g in np.split(dark, np.flatnonzero(np.diff(dark) > 1) + 1)]
        assert np.allclose(centres, np.linspace(0.05 * 252, 0.95 * 252, 10), atol=3), centres
    # all real: the stream yields the pack's views without rendering anything
    stream = vlm_data.sample_stream(0, [], (32 * 28 * 28, 252 * 252), real=vlm_real.load(tmp_path / "pack"), real_share=1.0)
    assert [json.loads(next(stream)[1])["kind"] for _ in range(4)] == ["sudoku"] * 4


# ---- inputs made on the device, training's style spaces -------------------------------------

def test_direct_inputs_are_the_processors_inputs(shipped):
    from vlm_puzzle.models.pixel_inputs import direct_inputs
    from vlm_puzzle.rules.prompt import build_prompt

    rng = np.random.default_rng(1)
    pics = [rng.integers(0, 256, (252, 252, 3), dtype=np.uint8) for _ in range(3)]
    ref, _ = shipped.prepare_inputs([p[..., ::-1] for p in pics], [build_prompt()] * 3)  # it takes BGR
    got = direct_inputs(shipped, pics, build_prompt())
    assert set(got) == set(ref)
    for key in ref:
        assert got[key].shape == ref[key].shape, key
        assert torch.allclose(got[key].float(), ref[key].float(), atol=1e-5), key
    with pytest.raises(ValueError):
        direct_inputs(shipped, [pics[0][:250]], build_prompt())


@pytest.mark.parametrize("family", ["paper", "hand", "wide"])
def test_training_style_spaces_give_a_picture_and_its_grid_corners(family):
    import vlm_data

    maker = vlm_data.PuzzleMaker(np.random.default_rng(3))
    for kind, n in (("kenken", 4), ("sudoku", 6)):
        spec, solution = maker.puzzle(kind, n)
        for photo in (False, True):
            image, corners = vlm_data.shot_of(spec, 11, photo, ["DejaVuSans"], solution, family)
            h, w = image.shape[:2]
            assert image.dtype == np.uint8 and image.shape[2] == 3
            assert corners.shape == (4, 2) and (corners >= -1).all() and (corners[:, 0] <= w + 1).all() \
                and (corners[:, 1] <= h + 1).all()
            # the grid is drawn where the corners say: darker lines inside than the paper outside
            side = float(np.linalg.norm(corners[1] - corners[0]))
            assert side > 0.3 * min(h, w)


# ---- the VLM's rules on the digits, when geometry's fail ----------------------------------------

def _x_sudoku_state():
    from types import SimpleNamespace

    truth = json.loads((SAMPLES / "x-sudoku9_2024.json").read_text())
    givens = np.array(truth["spec"]["givens"])
    return SimpleNamespace(givens=givens, box=(3, 3), confidence=np.ones(givens.shape), verdict=None), truth


def test_digit_rules_take_only_cage_free_kinds_of_the_grids_size():
    from vlm_puzzle.rules.merge import digit_rules

    givens = [[0] * 9 for _ in range(9)]
    spec = digit_rules(parse_rule_answer(answer_text("x-sudoku", 9, (3, 3))), givens)
    assert spec.kind == "x-sudoku" and spec.diagonals and spec.box == (3, 3)
    assert digit_rules(parse_rule_answer(answer_text("windoku", 9, (3, 3))), givens).windows
    assert digit_rules(parse_rule_answer(answer_text("killer", 9, (3, 3))), givens) is None
    assert digit_rules(parse_rule_answer(answer_text("jigsaw", 9, None)), givens) is None
    assert digit_rules(parse_rule_answer(answer_text("sudoku", 6, (2, 3))), givens) is None
    assert digit_rules(RuntimeError("no answer"), givens) is None


def test_failed_geometry_rules_give_way_to_the_vlms_kind_the_solver_confirms():
    from vlm_puzzle.check.policy import conclude
    from vlm_puzzle.findings import problem
    from vlm_puzzle.solver import solve, violations

    state, truth = _x_sudoku_state()
    failed = RuleHints(kind="killer", size=9, box=(3, 3), cages=True, cage_op="sum",
                       evidence=(problem("cage_total", "the cage sums do not total the grid"),))
    vlm = parse_rule_answer(answer_text("x-sudoku", 9, (3, 3)))
    hints, spec = conclude(state, failed, None, use_vlm=True, vlm_hints=vlm)
    assert spec.kind == "x-sudoku" and hints.source == "qwen" and hints.kind == "x-sudoku"
    assert "vlm_rules_on_digits" in [f.code for f in hints.evidence]
    out = solve(spec)
    assert out.status == "solved" and not violations(PuzzleSpec.from_dict(truth["spec"]), out.solution)
    # without the model, or with an answer the digits do not solve uniquely: no such rules
    assert conclude(state, failed, None)[1] is None
    plain = parse_rule_answer(answer_text("sudoku", 9, (3, 3)))  # the plain sudoku of these digits is not unique
    assert solve(PuzzleSpec.sudoku(state.givens.tolist())).status == "multiple"
    assert conclude(state, failed, None, use_vlm=True, vlm_hints=plain)[1] is None


# ---- the sub-grids the locator takes for a grid ---------------------------------------------

def _cell_units(q_true, q, n):
    import cv2

    unit = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)
    hom = cv2.getPerspectiveTransform(np.asarray(q_true, np.float32), unit)
    return cv2.perspectiveTransform(np.asarray(q, np.float32)[None], hom)[0]


@pytest.mark.parametrize("n,m", [(10, 9), (11, 9), (13, 12), (15, 12)])
def test_located_corners_of_a_size_the_locator_lacks_are_a_block_of_its_largest_size(n, m):
    import vlm_data

    q = np.array([[40, 30], [420, 50], [410, 440], [30, 420]], float)  # a perspective quad
    blocks = [_cell_units(q, vlm_data.located_corners(q, n, np.random.default_rng(s), miss=1.0), n) for s in range(20)]
    for b in blocks:  # an m x m block of whole cells inside the grid
        assert np.allclose(b[2] - b[0], [m, m], atol=1e-3) and np.allclose(b, np.round(b), atol=1e-3)
        assert b.min() > -1e-3 and b.max() < n + 1e-3
    assert len({tuple(np.round(b[0]).astype(int)) for b in blocks}) > 1  # the cells left out fall on either side
    assert np.allclose(vlm_data.located_corners(q, n, np.random.default_rng(0), miss=0.0, share=0.0), q)


def test_located_corners_of_a_known_size_are_mostly_the_grid():
    import vlm_data

    q = np.array([[0, 0], [90, 0], [90, 90], [0, 90]], float)
    rng = np.random.default_rng(3)
    got = [vlm_data.located_corners(q, 9, rng, share=0.5) for _ in range(200)]
    whole = sum(np.allclose(g, q) for g in got)
    assert 60 < whole < 140  # about half the grid, the rest blocks of 6..8 cells
    sides = {round(float(g[1, 0] - g[0, 0])) for g in got}
    assert sides <= {60, 70, 80, 90} and len(sides) > 2
    assert np.allclose(vlm_data.located_corners(q[:, ::1] * 4 / 9, 4, rng, share=1.0), q * 4 / 9)  # 4x4: never cut


def test_checkpoint_view_margin_from_the_record(tmp_path):
    from vlm_puzzle.models.shipped import checkpoint_view

    (tmp_path / "vlm_puzzle.json").write_text(json.dumps({"view": "grid", "max_pixels": 308 * 308, "view_margin": 0.15}))
    assert checkpoint_view(tmp_path) == ("grid", 308, 0.15)


def test_eval_table_counts_the_fields_the_model_misses():
    sys.path.insert(0, str(ROOT / "experiments"))
    import eval_vlm_rules as E

    truth = {"kind": "jigsaw", "size": 10, "box": None, "diagonals": False, "windows": False, "cage_op": None}
    answers = [dict(truth), dict(truth, size=9), dict(truth, size=9), dict(truth, kind="windoku", windows=True)]
    rows = []
    for i, got in enumerate(answers):
        row = {"name": f"c{i}", "truth": truth, "model": got, "ms": 1.0, "text": "{}", "tokens": 4, "invalid_json": False}
        row["model_score"] = E.score(got, truth)
        rows.append(row)
    t = E.table(rows)
    assert t["model"]["whole"] == 0.25 and t["model"]["size"] == 0.5
    assert t["model_wrong_fields"] == {"size": 2, "kind+marks": 1}
    assert t["model_size_misses"] == {"10->9": 2}
    assert [name for name, _ in t["model_wrong"]] == ["c1", "c2", "c3"]
