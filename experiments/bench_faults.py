"""Reliability benchmark (issue 18): every hostile case, its outcome and its time.

One script (over 400 lines) because it is one table: each case is a few lines, and the
cases are read together against the promises they check.

Each case runs the real ``vlm-puzzle`` command (or the library call) the way a hostile
user would, and prints one row: what happened, what was promised, the wall time and,
for commands, the peak memory of the process. The last case is a batch of ``--big``
images (default 1,000) with 5% bad inputs, killed with ``kill -9`` twice and rerun: it
must end with exactly one valid line per image and no process left behind.

    nice python experiments/bench_faults.py                 # everything, 1,000-image batch
    nice python experiments/bench_faults.py --big 100       # a smaller batch
    nice python experiments/bench_faults.py --only solver   # one group (inputs parsers solver batch big)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from vlm_puzzle.eval.procs import session_pids

REPO = Path(__file__).resolve().parents[1]
PHOTO = sorted((REPO / "data" / "photos").glob("*.jpg"))[0]
CLI = [sys.executable, "-m", "vlm_puzzle"]
ROWS: list[dict] = []


def row(group: str, case: str, outcome: str, ok: bool, seconds: float, peak_mb: float | None = None) -> None:
    ROWS.append({"group": group, "case": case, "outcome": outcome, "ok": ok, "s": round(seconds, 3),
                 "peak_mb": None if peak_mb is None else round(peak_mb)})
    mem = f"{peak_mb:7.0f} MB" if peak_mb is not None else " " * 10
    print(f"{'ok ' if ok else 'BAD'} {group:8s} {case:48s} {seconds:8.2f} s {mem}  {outcome}", flush=True)


def run(args, *, stdin: bytes | None = None, timeout: float = 120, preexec=None) -> dict:
    """Run a command; rc, stdout, stderr, wall time and the process's own peak RSS (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen([str(a) for a in args], stdin=subprocess.PIPE if stdin is not None else
                             subprocess.DEVNULL, stdout=out, stderr=err, preexec_fn=preexec,
                             start_new_session=True)
        killer = threading.Timer(timeout, lambda: _kill_session(p.pid))
        killer.start()
        if stdin is not None:
            try:
                p.stdin.write(stdin)
                p.stdin.close()
            except BrokenPipeError:
                pass
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        killer.cancel()
        wall = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        return {"rc": p.returncode, "out": out.read().decode(errors="replace"),
                "err": err.read().decode(errors="replace"), "s": wall, "peak_mb": usage.ru_maxrss / 1024,
                "timed_out": wall >= timeout}


def _kill_session(sid: int) -> None:
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def code_of(r: dict) -> str:
    try:
        return json.loads(r["out"])["error"]["code"]
    except Exception:
        line = (r["err"].strip().splitlines() or [""])[-1]
        return line.split(": ")[1] if line.count(": ") >= 1 else line[:60]


def expect_cli(group, case, args, code, rc=2, **kw) -> None:
    r = run(CLI + list(args), **kw)
    got = code_of(r) if r["rc"] != 0 else "solved"
    ok = r["rc"] == rc and (code is None or got == code) and "Traceback" not in r["err"] and not r["timed_out"]
    row(group, case, f"exit {r['rc']}, {got}" + (" (killed at time limit)" if r["timed_out"] else ""), ok,
        r["s"], r["peak_mb"])


# ---- inputs -----------------------------------------------------------------------------

def png_streamed(path: Path, side: int, depth: int, color: int) -> None:
    """A real, complete PNG of side x side blank pixels, written row by row (never in memory)."""
    channels = {0: 1, 2: 3, 6: 4}[color]
    row_bytes = b"\x00" + b"\xff" * (side * channels * depth // 8)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    comp = zlib.compressobj(6)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", side.to_bytes(4, "big") * 2 + bytes([depth, color, 0, 0, 0])))
        buf = []
        for _ in range(side):
            buf.append(comp.compress(row_bytes))
        buf.append(comp.flush())
        fh.write(chunk(b"IDAT", b"".join(buf)))
        fh.write(chunk(b"IEND", b""))


def bench_inputs(tmp: Path) -> None:
    g = "inputs"
    fifo = tmp / "f"
    os.mkfifo(fifo)
    expect_cli(g, "FIFO with no writer: solve f", ["solve", fifo, "--json"], "not_a_regular_file", timeout=30)
    good = PHOTO.read_bytes()
    expect_cli(g, "picture piped to stdin: solve -", ["solve", "-", "--json", "--backend", "geometry"],
               None, rc=0, stdin=good)
    expect_cli(g, "nothing on stdin: solve -", ["solve", "-", "--backend", "geometry"], "empty_file", stdin=b"")
    expect_cli(g, "device: solve /dev/zero", ["solve", "/dev/zero", "--json"], "not_a_regular_file")
    expect_cli(g, "file name of 300 characters", ["solve", tmp / ("n" * 300 + ".jpg"), "--json"], "name_too_long")
    from PIL import Image

    Image.new("L", (100_000, 40), 255).save(tmp / "strip.png")
    expect_cli(g, "100000x40 image", ["solve", tmp / "strip.png", "--json"], "bad_aspect_ratio")
    for cut in (0.02, 0.10, 0.30, 0.60, 0.90):
        (tmp / f"cut{cut}.jpg").write_bytes(good[: int(len(good) * cut)])
        expect_cli(g, f"JPEG cut at {cut:.0%}", ["solve", tmp / f"cut{cut}.jpg", "--json"], "truncated_image")
    for name, depth, color in (("16-bit RGBA", 16, 6), ("16-bit grey", 16, 0)):
        path = tmp / f"big_{depth}_{color}.png"
        png_streamed(path, 13_340, depth, color)
        mb = path.stat().st_size / 2**20
        expect_cli(g, f"{mb:.1f} MB {name} PNG declaring 13340x13340", ["solve", path, "--json"], "image_too_large")
        path.unlink()
    # The largest pictures still decoded: memory must stay under 1 GB.
    for name, w, depth, color in (("8-bit RGBA", 9000, 8, 6), ("16-bit grey", 7300, 16, 0)):
        path = tmp / f"edge_{depth}_{color}.png"
        png_streamed(path, w, depth, color)
        r = run(CLI + ["solve", path, "--json", "--backend", "geometry"], timeout=300)
        row(g, f"largest decoded: {w}x{w} {name} PNG", f"exit {r['rc']}, {code_of(r)}",
            r["rc"] in (1, 2) and r["peak_mb"] < 1024 and "Traceback" not in r["err"], r["s"], r["peak_mb"])
        path.unlink()
    for value in ("-1", "nan", "inf"):
        expect_cli(g, f"--timeout {value}", ["solve", PHOTO, "--timeout", value], None)
    shutil.copy(PHOTO, tmp / "in.jpg")
    expect_cli(g, "--overlay is the input picture", ["solve", tmp / "in.jpg", "--overlay", tmp / "in.jpg"], None)
    row(g, "  ... the input picture", "unchanged" if (tmp / "in.jpg").read_bytes() == good else "OVERWRITTEN",
        (tmp / "in.jpg").read_bytes() == good, 0.0)


# ---- parsers ----------------------------------------------------------------------------

def bench_parsers() -> None:
    from vlm_puzzle.rules.parse import parse_rule_answer
    from vlm_puzzle.spec import Cage, PuzzleSpec, SpecError

    g = "parsers"
    hostile = {"box 1e999": '{"box":[1e999,3]}', "5,000-digit size": '{"size":' + "5" * 5000 + "}",
               "1,000-deep nesting": "[" * 1000 + "]" * 1000, "box of 40,000 spaces": '{"box":"' + " " * 40_000 + '!"}',
               "{ + 10^6 spaces + :": "{" + " " * 10**6 + ":"}
    for name, text in hostile.items():
        t0 = time.perf_counter()
        try:
            parse_rule_answer(text)
            outcome, ok = "RuleHints", True
        except Exception as exc:
            outcome, ok = f"raised {type(exc).__name__}", False
        dt = time.perf_counter() - t0
        row(g, f"parse_rule_answer: {name}", outcome, ok and dt < 1.0, dt)

    rng = random.Random(18)
    base = PuzzleSpec.killer([Cage(((0, 0), (0, 1)), "sum", 3), Cage(((1, 0), (1, 1)), "sum", 7)], size=4).to_dict()
    junk = [None, True, "false", -3, 0, 50_000, 10**400, 1e999, float("nan"), "9", [], [-3, -3], [[1]], {"a": 1},
            "ß" * 10, [[0] * 4] * 4, [[1, 2], [3]]]
    bad = raised = 0
    t0 = time.perf_counter()
    for _ in range(6000):
        d = json.loads(json.dumps(base))
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(["kind", "size", "box", "regions", "diagonals", "windows", "cages", "givens",
                              "confidence", "cages.target", "cages.cells", "cages.op"])
            value = rng.choice(junk)
            if key.startswith("cages."):
                if isinstance(d["cages"], list) and d["cages"] and isinstance(d["cages"][0], dict):
                    d["cages"][0][key[6:]] = value
            else:
                d[key] = value
        try:
            PuzzleSpec.from_dict(d)
        except SpecError:
            raised += 1
        except Exception:
            bad += 1
    row(g, "from_dict: 6,000 mutated dicts", f"{raised} SpecError, {bad} other exceptions", bad == 0,
        time.perf_counter() - t0)
    alphabet = "0123456789.ABCDEFGHzß²İ \t"
    bad = 0
    t0 = time.perf_counter()
    for _ in range(20_000):
        n = rng.choice([16, 36, 64, 81, 256, rng.randint(0, 300)])
        line = "".join(rng.choice(alphabet) for _ in range(n))
        try:
            PuzzleSpec.from_line(line)
        except SpecError:
            pass
        except Exception:
            bad += 1
    row(g, "from_line: 20,000 random lines", f"{bad} non-SpecError exceptions", bad == 0, time.perf_counter() - t0)


# ---- solver -----------------------------------------------------------------------------

def bench_solver() -> None:
    from vlm_puzzle.solver.solving import solve
    from vlm_puzzle.spec import Cage, PuzzleSpec

    g = "solver"
    grid = [(r, c) for r in range(9) for c in range(9)]

    def kenken(cells):
        cages = [Cage(tuple(grid[:cells]), "mul", math.factorial(9) ** (cells // 9), distinct=False)]
        cages += [Cage((x,), None, 1 + (x[0] + 2 * x[1]) % 9, distinct=False) for x in grid[cells:]]
        return PuzzleSpec.kenken(9, cages)

    big16 = tuple((r, c) for r in range(16) for c in range(16))
    cases = [(f"9x9 KenKen, one {k}-cell multiply cage", kenken(k), 1.0) for k in (27, 36, 45, 81)]
    cases += [("16x16 killer, one 256-cell cage (repeats allowed)",
               PuzzleSpec.killer([Cage(big16, "sum", 2176, distinct=False)], size=16), 1.0),
              ("16x16 killer, one 256-cell cage (distinct)", PuzzleSpec.killer([Cage(big16, "sum", 2176)], size=16), 1.0),
              ("timeout_s=0 on a 4x4 sudoku", PuzzleSpec.from_line("1..4........4..1"), 0.0)]
    for name, spec, limit in cases:
        t0 = time.perf_counter()
        out = solve(spec, timeout_s=limit)
        dt = time.perf_counter() - t0
        ok = dt <= limit + max(0.1 * limit, 0.05) and (limit > 0 or out.stats.nodes == 0)
        row(g, f"{name}, timeout_s={limit:g}", f"{out.status}, {out.stats.nodes} nodes", ok, dt)


# ---- batch ------------------------------------------------------------------------------

def batch_cmd(inp, out, *extra):
    return CLI + ["batch", str(inp), "--out", str(out), "--backend", "geometry", "--no-progress", *extra]


def wait_lines(out: Path, n: int, proc, limit_s: float = 600) -> int:
    t_end = time.time() + limit_s
    while time.time() < t_end and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= n:
            break
        time.sleep(0.02)
    return out.read_bytes().count(b"\n") if out.exists() else 0


def kill_and_check(proc, sig, out: Path, after_lines: int) -> tuple[float, int, int]:
    """Kill the batch process alone with ``sig`` once ``out`` has ``after_lines`` lines;
    (seconds until its session was empty, lines then, processes left after 10 s)."""
    lines = wait_lines(out, after_lines, proc)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    t0 = time.perf_counter()
    while session_pids(proc.pid) and time.perf_counter() - t0 < 10:
        time.sleep(0.05)
    left = session_pids(proc.pid)
    _kill_session(proc.pid)
    return time.perf_counter() - t0, lines, len(left)


def bench_batch(tmp: Path) -> None:
    g = "batch"
    inp = tmp / "in"
    inp.mkdir()
    for i in range(12):
        os.link(PHOTO, inp / f"p{i:02d}.jpg")
    for sig, name in ((signal.SIGKILL, "kill -9"), (signal.SIGTERM, "kill (SIGTERM)")):
        out = tmp / f"kill{int(sig)}.jsonl"
        t0 = time.perf_counter()
        proc = subprocess.Popen(batch_cmd(inp, out, "--workers", "2"), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gone_s, _, left = kill_and_check(proc, sig, out, 1)
        row(g, f"{name} of batch: processes left after 10 s", f"{left} left, all gone {gone_s:.2f} s after "
            f"the kill (exit {proc.returncode})", left == 0, time.perf_counter() - t0)
    out = tmp / "shared.jsonl"
    first = subprocess.Popen(batch_cmd(inp, out, "--workers", "1"), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_lines(out, 0, first, 30)
    time.sleep(0.5)
    r = run(batch_cmd(inp, out, "--workers", "1"))
    row(g, "two batches, same --out", f"second: exit {r['rc']}, {code_of(r)}", r["rc"] == 2
        and "output_locked" in r["err"], r["s"])
    first.wait(timeout=600)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    row(g, "  ... the first batch's file", f"{len(lines)} lines, {len({d['image'] for d in lines})} images",
        len(lines) == 12 == len({d["image"] for d in lines}), 0.0)
    photo = tmp / "photo.jpg"
    shutil.copy(PHOTO, photo)
    r = run(batch_cmd(inp / "p00.jpg", photo))
    row(g, "--out an existing JPEG", f"exit {r['rc']}, {code_of(r)}, photo "
        f"{'unchanged' if photo.read_bytes() == PHOTO.read_bytes() else 'CHANGED'}",
        r["rc"] == 2 and photo.read_bytes() == PHOTO.read_bytes(), r["s"])
    os.mkfifo(tmp / "outfifo")
    for name, target in (("--out /dev/full", "/dev/full"), ("--out a FIFO", tmp / "outfifo")):
        r = run(batch_cmd(inp / "p00.jpg", target), timeout=60)
        row(g, name, f"exit {r['rc']}, {code_of(r)}", r["rc"] == 2 and not r["timed_out"], r["s"])
    t0 = time.perf_counter()
    piped = subprocess.run("set -o pipefail; " + " ".join(batch_cmd(inp / "p00.jpg", "/dev/stdout")) + " | cat",
                           shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60)
    row(g, "--out /dev/stdout piped", f"exit {piped.returncode}, "
        f"{'out_not_regular' if 'out_not_regular' in piped.stdout + piped.stderr else '?'}",
        piped.returncode == 2 and "out_not_regular" in piped.stderr, time.perf_counter() - t0)
    r = run(batch_cmd(inp, tmp / "slow.jsonl", "--workers", "2", "--image-timeout", "0.05", "--json"))
    s = json.loads(r["out"]) if r["rc"] in (0, 1) else {}
    row(g, "per-image limit 0.05 s (every image slower)", f"exit {r['rc']}, {s.get('error_codes')}",
        s.get("error_codes") == {"image_timeout": 12}, r["s"])
    out = tmp / "full.jsonl"
    r = run(batch_cmd(inp / "p00.jpg", out, "--workers", "0"))
    limit = int(out.stat().st_size * 3.5)
    out.unlink()

    def small_disk():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = run(batch_cmd(inp, out, "--workers", "2"), preexec=small_disk)
    data = out.read_bytes()
    whole = data.endswith(b"\n") and all(json.loads(x) for x in data.splitlines())
    n_lines = data.count(b"\n")
    row(g, "disk full (file size limit) mid-batch", f"exit {r['rc']}, {code_of(r)}, {n_lines} whole "
        f"lines, torn line: {'no' if whole else 'YES'}", r["rc"] == 2 and whole and "Traceback" not in r["err"], r["s"])
    os.mkfifo(inp / "pipe.jpg")
    (inp / "scan.heic").write_bytes(b"\0" * 64)
    (inp / "doc.pdf").write_bytes(b"%PDF-1.4\n")
    r = run(batch_cmd(inp, tmp / "fifo_in.jsonl", "--workers", "2", "--json"), timeout=300)
    s = json.loads(r["out"]) if r["rc"] in (0, 1) else {}
    row(g, "folder with a FIFO pipe.jpg, .heic, .pdf", f"exit {r['rc']}, {s.get('processed')} lines, "
        f"not images {s.get('not_images')}", s.get("not_images") == {".heic": 1, ".pdf": 1}
        and s.get("processed") == 13, r["s"])


def make_big_folder(d: Path, n: int, seed: int = 0) -> int:
    """n images: 95% links to a few rendered puzzles and the photo, 5% bad ones of each kind."""
    from vlm_puzzle.render import render_samples

    src = d.parent / "src"
    good = [PHOTO] + [p for p in render_samples(src, kinds=["sudoku", "killer", "kenken", "x-sudoku"], n=2,
                                                 seed=seed, size_px=500)]
    d.mkdir()
    rng = random.Random(seed)
    n_bad = n // 20
    bad_kinds = ["cut", "text", "empty", "fifo", "tiny"]
    for i in range(n):
        if i < n_bad:
            kind, p = bad_kinds[i % len(bad_kinds)], d / f"img{i:05d}.jpg"
            if kind == "cut":
                p.write_bytes(PHOTO.read_bytes()[: rng.randint(100, 5000)])
            elif kind == "text":
                p.write_text("not a picture\n")
            elif kind == "empty":
                p.touch()
            elif kind == "fifo":
                os.mkfifo(p)
            else:
                p.write_bytes(PHOTO.read_bytes()[:600] + b"\0" * 10)
        else:
            g = good[i % len(good)]
            os.link(g, d / f"img{i:05d}{g.suffix}")
    return n_bad


def bench_big(tmp: Path, n: int, workers: int) -> None:
    g = "big"
    inp, out = tmp / "big", tmp / "big.jsonl"
    n_bad = make_big_folder(inp, n)
    t_all = time.perf_counter()
    left_total = 0
    for k, frac in enumerate((0.25, 0.6)):
        t0 = time.perf_counter()
        proc = subprocess.Popen(batch_cmd(inp, out, "--workers", str(workers)), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gone_s, lines, left = kill_and_check(proc, signal.SIGKILL, out, int(n * frac))
        left_total += left
        row(g, f"{n} images ({n_bad} bad): kill -9 #{k + 1} at {lines} lines",
            f"{left} processes left, all gone {gone_s:.2f} s after", left == 0, time.perf_counter() - t0)
    r = run(batch_cmd(inp, out, "--workers", str(workers), "--json"), timeout=3600)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    images = {os.path.realpath(d["image"]) for d in rows}
    expected = {os.path.realpath(inp / f) for f in os.listdir(inp)}
    errors = sum(d["status"] == "error" for d in rows)
    ok = len(rows) == n and images == expected and left_total == 0 and r["rc"] in (0, 1)
    row(g, f"rerun to the end: {n} images", f"{len(rows)} lines, {len(images)} distinct images, {errors} "
        f"errors, exit {r['rc']}", ok, r["s"], r["peak_mb"])
    row(g, "  ... whole run, kills and reruns included", f"{len(rows) / (time.perf_counter() - t_all):.1f} images/s",
        ok, time.perf_counter() - t_all)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=int, default=1000, help="images in the kill -9 batch (0: skip it)")
    ap.add_argument("--workers", type=int, default=2, help="workers of the big batch (default 2)")
    ap.add_argument("--only", nargs="+", choices=["inputs", "parsers", "solver", "batch", "big"])
    ap.add_argument("--json", metavar="FILE", help="also write the rows to FILE")
    args = ap.parse_args(argv)
    groups = args.only or ["inputs", "parsers", "solver", "batch", "big"]
    with tempfile.TemporaryDirectory(prefix="bench_faults_") as tmp:
        tmp = Path(tmp)
        for name in groups:
            (tmp / name).mkdir()
            if name == "inputs":
                bench_inputs(tmp / name)
            elif name == "parsers":
                bench_parsers()
            elif name == "solver":
                bench_solver()
            elif name == "batch":
                bench_batch(tmp / name)
            elif name == "big" and args.big > 0:
                bench_big(tmp / name, args.big, args.workers)
    bad = [r for r in ROWS if not r["ok"]]
    print(f"\n{len(ROWS) - len(bad)}/{len(ROWS)} cases as promised")
    if args.json:
        Path(args.json).write_text(json.dumps(ROWS, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
