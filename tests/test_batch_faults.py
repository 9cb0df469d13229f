"""Issue 18: batch faults. Workers die with the batch, the results file is locked and
only ever ours, a full disk stops cleanly, a slow image is cut off, odd files are reported."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlm_puzzle.batch import run_batch, scan_inputs
from vlm_puzzle.errors import OutputError
from vlm_puzzle.eval.procs import session_pids

PHOTO = sorted((Path(__file__).resolve().parents[1] / "data" / "photos").glob("*.jpg"))[0]


def _copies(d: Path, n: int) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shutil.copy(PHOTO, d / f"p{i:03d}.jpg")
    return d


def _signal_masks(pid: int) -> str:
    """The process's ignored and blocked signal sets, as /proc shows them (for a failure's message)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return ""
    return " ".join(ln for ln in lines if ln.startswith(("SigIgn", "SigBlk")))


def _lines(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def _batch_cmd(inp: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vlm_puzzle", "batch", str(inp), "--out", str(out), "--workers", "2",
            "--backend", "geometry", "--no-progress", *extra]


@pytest.mark.parametrize("sig,group", [(signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["kill-9", "term", "ctrl-c"])
def test_no_process_outlives_a_killed_batch(tmp_path, sig, group):
    # far more images than finish before the signal: 12 could all finish on a loaded machine
    # between the first line and the kill, and the batch then exits 0 having nothing to stop
    inp, out = _copies(tmp_path / "in", 120), tmp_path / "res.jsonl"
    proc = subprocess.Popen(_batch_cmd(inp, out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None and not (out.exists() and out.read_text()):
            time.sleep(0.01)
        assert proc.poll() is None and len(session_pids(proc.pid)) >= 3  # batch, fork server, workers
        masks = _signal_masks(proc.pid)
        # kill: the batch process only, not its group; Ctrl-C: the whole group, as a terminal does
        (os.killpg if group else os.kill)(proc.pid, sig)
        rc = proc.wait(timeout=30)
        err = proc.stderr.read().decode()
        if sig != signal.SIGKILL:
            assert rc == 130 and "Traceback" not in err, (rc, err, masks)
        left = session_pids(proc.pid)
        deadline = time.time() + 10
        while left and time.time() < deadline:
            time.sleep(0.1)
            left = session_pids(proc.pid)
        assert not left, left
    finally:
        for pid in session_pids(proc.pid):
            os.kill(pid, signal.SIGKILL)
    assert all(d["image"] for d in _lines(out))  # whole lines only


def test_out_is_locked_against_a_second_writer(tmp_path):
    inp, out = _copies(tmp_path / "in", 1), tmp_path / "res.jsonl"
    with open(out, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another batch holds it
        with pytest.raises(OutputError) as exc:
            run_batch([str(inp)], out, workers=0, backend="geometry", progress=False)
        assert exc.value.code == "output_locked"
    assert out.read_text() == ""
    r = subprocess.run(_batch_cmd(inp, out, "--workers", "0"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and len(_lines(out)) == 1


def test_out_must_be_our_results_file(tmp_path):
    inp = _copies(tmp_path / "in", 1)
    photo = tmp_path / "photo.jpg"
    shutil.copy(PHOTO, photo)
    before = photo.read_bytes()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nline two")
    os.mkfifo(tmp_path / "fifo")
    for out, code in ((photo, "not_a_results_file"), (notes, "not_a_results_file"),
                      (tmp_path / "fifo", "out_not_regular"), (Path("/dev/full"), "out_not_regular")):
        with pytest.raises(OutputError) as exc:
            run_batch([str(inp)], out, workers=0, backend="geometry", progress=False)
        assert exc.value.code == code, out
    assert photo.read_bytes() == before and notes.read_text() == "my notes\nline two"
    r = subprocess.run(_batch_cmd(inp, photo), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not_a_results_file" in r.stderr and "Traceback" not in r.stderr
    assert photo.read_bytes() == before


def test_full_disk_stops_cleanly_keeping_every_whole_line(tmp_path):
    inp, out = _copies(tmp_path / "in", 4), tmp_path / "res.jsonl"
    run_batch([str(inp / "p000.jpg")], out, workers=0, backend="geometry", progress=False)
    one = out.stat().st_size
    out.unlink()
    limit = int(2.5 * one)  # room for two lines and half of a third

    def small_files():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run(_batch_cmd(inp, out, "--workers", "0"), capture_output=True, text=True, timeout=120,
                       preexec_fn=small_files)
    assert r.returncode == 2 and "write_failed" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    rows = _lines(out)  # every line whole
    assert len(rows) == 2 and out.read_bytes().endswith(b"\n")
    r = subprocess.run(_batch_cmd(inp, out, "--workers", "0", "--json"), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["skipped"] == 2 and len(_lines(out)) == 4


def test_per_image_time_limit(tmp_path):
    inp, out = _copies(tmp_path / "in", 3), tmp_path / "res.jsonl"
    summary = run_batch([str(inp)], out, workers=2, backend="geometry", progress=False, image_timeout_s=0.05)
    rows = _lines(out)
    assert len(rows) == 3 and summary.processed == 3
    assert {d["error"]["code"] for d in rows} == {"image_timeout"}


def test_fifo_in_a_folder_and_unsupported_types_reported(tmp_path):
    inp, out = _copies(tmp_path / "in", 1), tmp_path / "res.jsonl"
    os.mkfifo(inp / "pipe.jpg")  # no writer: must not hang the batch
    (inp / "scan.heic").write_bytes(b"\x00" * 64)
    (inp / "doc.pdf").write_bytes(b"%PDF-1.4\n")
    (inp / ".hidden").write_text("x")
    paths, others = scan_inputs([str(inp)])
    assert others == {".heic": 1, ".pdf": 1} and len(paths) == 2
    summary = run_batch([str(inp)], out, workers=1, backend="geometry", progress=False)
    assert summary.not_images == {".heic": 1, ".pdf": 1}
    codes = {Path(d["image"]).name: (d["error"] or {}).get("code") for d in _lines(out)}
    assert codes["pipe.jpg"] == "not_a_regular_file"


@pytest.mark.parametrize("kw", [dict(workers=-1), dict(workers=1.5), dict(vlm_batch=0), dict(timeout_s=-1),
                                dict(timeout_s=float("nan")), dict(image_timeout_s=0)])
def test_bad_option_values_are_option_errors(tmp_path, kw):
    from vlm_puzzle.errors import OptionError
    from vlm_puzzle.solver import solve
    from vlm_puzzle.spec import PuzzleSpec

    with pytest.raises(OptionError) as exc:
        run_batch([str(tmp_path)], tmp_path / "res.jsonl", backend="geometry", progress=False, **kw)
    assert exc.value.code == "bad_option" and not (tmp_path / "res.jsonl").exists()
    with pytest.raises(OptionError):
        solve(PuzzleSpec.from_line("1..4" "...." "...." "4..1"), timeout_s=float("nan"))
