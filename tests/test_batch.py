"""Batch mode: one line per image, crash-safe resume, bad images isolated."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlm_puzzle.batch import expand_inputs, read_done, run_batch
from vlm_puzzle.result import RESULT_KEYS

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "data" / "photos"


def _lines(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def _photo_copies(dst: Path, n: int) -> list[Path]:
    photos = sorted(PHOTOS.glob("*.jpg"))
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = dst / f"p{i:02d}_{photos[i % len(photos)].name}"
        shutil.copy(photos[i % len(photos)], p)
        out.append(p)
    return out


def test_expand_inputs_folders_globs_files(tmp_path):
    imgs = _photo_copies(tmp_path / "a", 3)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    sub = tmp_path / "a" / "deeper"
    sub.mkdir()
    shutil.copy(imgs[0], sub / "x.jpg")
    got = expand_inputs([str(tmp_path / "a"), str(tmp_path / "a" / "*.jpg"), str(imgs[1]),
                         str(tmp_path / "missing.png")])
    # folder searched recursively, images only; glob/file duplicates dropped; a missing name kept
    assert [Path(p).name for p in got] == ["x.jpg"] + [p.name for p in imgs] + ["missing.png"]


def test_bad_images_do_not_stop_the_others(tmp_path):
    good = _photo_copies(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.jpg").write_bytes(good[0].read_bytes()[:3000])
    (tmp_path / "in" / "text.png").write_text("hello")
    out = tmp_path / "res.jsonl"
    summary = run_batch([str(tmp_path / "in"), str(tmp_path / "nope.jpg")], out, workers=2,
                        backend="geometry", progress=False)
    rows = {Path(d["image"]).name: d for d in _lines(out)}
    assert set(rows) == {good[0].name, good[1].name, "broken.jpg", "text.png", "nope.jpg"}
    for d in rows.values():
        assert tuple(d) == RESULT_KEYS
    assert rows["broken.jpg"]["error"]["code"] == "truncated_image"
    assert rows["text.png"]["error"]["code"] == "not_an_image"
    assert rows["nope.jpg"]["error"]["code"] == "file_not_found"
    for g in good:  # real photos got through the extractor (whatever it concluded)
        assert rows[g.name]["timings_s"]["extract"] > 0
    assert summary.processed == 5 and summary.errors >= 3
    assert summary.solved + summary.unsolved + summary.errors == 5
    assert set(summary.median_s) == {"load", "rules", "extract", "solve", "total", "network"}


def test_rerun_skips_done_and_drops_torn_line(tmp_path):
    imgs = _photo_copies(tmp_path / "in", 3)
    out = tmp_path / "res.jsonl"
    s1 = run_batch([str(imgs[0])], out, workers=0, backend="geometry", progress=False)
    assert s1.processed == 1
    # a kill in the middle of a write leaves a torn last line
    with open(out, "a") as fh:
        fh.write('{"image": "' + str(imgs[1]) + '", "status": "sol')
    assert read_done(out) == {os.path.realpath(imgs[0])}
    s2 = run_batch([str(tmp_path / "in")], out, workers=0, backend="geometry", progress=False)
    assert s2.skipped == 1 and s2.processed == 2
    names = [Path(d["image"]).name for d in _lines(out)]  # every line parses
    assert sorted(names) == sorted(p.name for p in imgs)


def test_killed_batch_resumes_each_image_exactly_once(tmp_path):
    imgs = _photo_copies(tmp_path / "in", 10)
    out = tmp_path / "res.jsonl"
    cmd = [sys.executable, "-m", "vlm_puzzle", "batch", str(tmp_path / "in"), "--out", str(out),
           "--workers", "1", "--backend", "geometry"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    try:
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and out.read_text().count("\n") >= 2:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "batch finished before it could be killed: " + proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes, mid-run
    finally:
        proc.wait(timeout=30)
    first = out.read_text().count("\n")
    assert 2 <= first < len(imgs)
    rerun = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=120)
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] == first and summary["processed"] == len(imgs) - first
    names = [Path(d["image"]).name for d in _lines(out)]
    assert sorted(names) == sorted(p.name for p in imgs)  # each exactly once
    assert "Traceback" not in rerun.stderr


def test_qwen_backend_batches_rule_inference_in_the_main_process(tmp_path):
    # A real (tiny, random-weight) Qwen2-VL checkpoint: workers read the grids, the main
    # process runs the model on gathered readings; its rules are merged with geometry.
    torch = pytest.importorskip("torch")
    from tiny_qwen import build_tiny_qwen

    from e2e_images import render_to
    from vlm_puzzle.pipeline import PuzzleSolver

    model = build_tiny_qwen(tmp_path / "tiny", "qwen2_vl")
    img = render_to(tmp_path / "in", "sudoku", 9)
    (tmp_path / "in" / "junk.png").write_text("junk")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        solver = PuzzleSolver("qwen", str(model), device="cpu",
                              model_options={"min_pixels": 32 * 28 * 28, "max_pixels": 96 * 28 * 28})
        out = tmp_path / "res.jsonl"
        summary = run_batch([str(tmp_path / "in")], out, workers=1, solver=solver, progress=False, vlm_batch=4)
    finally:
        torch.set_num_threads(threads)
    rows = {Path(d["image"]).name: d for d in _lines(out)}
    assert set(rows) == {img.name, "junk.png"} and summary.processed == 2
    assert rows["junk.png"]["error"]["code"] == "not_an_image"
    good = rows[img.name]
    assert tuple(good) == RESULT_KEYS
    # random weights answer nonsense: the merge keeps geometry's rules, so it is still solved
    assert good["status"] == "solved" and good["rule_source"] in ("qwen", "geometry")
    assert good["timings_s"]["rules"] > 0 and solver.model_load_s > 0


def test_a_dying_worker_costs_nothing(tmp_path):
    # Kill the worker processes after the first result: the pool breaks, is replaced,
    # and the images that were in flight are retried; every image ends up exactly once.
    import multiprocessing

    imgs = _photo_copies(tmp_path / "in", 6)
    killed = []

    def kill_workers(d):
        if not killed:
            for p in multiprocessing.active_children():
                os.kill(p.pid, signal.SIGKILL)
                killed.append(p.pid)

    out = tmp_path / "res.jsonl"
    summary = run_batch([str(tmp_path / "in")], out, workers=2, backend="geometry", progress=False,
                        on_result=kill_workers)
    assert killed
    names = [Path(d["image"]).name for d in _lines(out)]
    assert sorted(names) == sorted(p.name for p in imgs)
    assert summary.processed == len(imgs)
    assert not any(d["error"] and d["error"]["code"] == "worker_crashed" for d in _lines(out))


def test_retry_errors_reruns_only_the_failed_images(tmp_path):
    imgs = _photo_copies(tmp_path / "in", 2)
    late = tmp_path / "in" / "late.jpg"
    out = tmp_path / "res.jsonl"
    run_batch([str(tmp_path / "in"), str(late)], out, workers=0, backend="geometry", progress=False)
    assert {d["image"]: d["status"] for d in _lines(out)}[str(late)] == "error"  # not there yet
    shutil.copy(imgs[0], late)
    s = run_batch([str(tmp_path / "in")], out, workers=0, backend="geometry", progress=False,
                  retry_errors=True)
    assert s.processed == 1 and s.skipped == 2
    rows = _lines(out)
    assert sorted(Path(d["image"]).name for d in rows) == sorted([imgs[0].name, imgs[1].name, "late.jpg"])
    assert next(d for d in rows if Path(d["image"]).name == "late.jpg")["status"] != "error"
