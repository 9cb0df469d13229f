"""Batch solving: many images -> one JSON line each, crash-safe and resumable.

* Inputs are files, folders (searched recursively for images) and glob patterns;
  files of other types in a folder are counted in ``BatchSummary.not_images``.
* Each result is written as one whole line as soon as it is ready, so a killed run
  loses nothing finished; a rerun skips every image already in the output file (a
  torn last line from a kill is dropped first). The output file is locked, and only
  ever one of our results files (see :mod:`vlm_puzzle.results_file`).
* Workers die with the batch: SIGTERM is handled like Ctrl-C (workers killed, exit
  130), and each worker watches the batch's process and exits when it is gone
  (``kill -9``). An image that takes over ``image_timeout_s`` gets an
  ``image_timeout`` line and its worker is replaced.
* CPU stages (decode, grid extraction, geometry rules, CSP) run in worker
  processes; workers never import torch. With the ``qwen`` backend the workers hand
  back their readings and the main process, which holds the model, gathers them
  into batched rule-inference calls. With the ``openai`` backend the main process sends each
  reading to the serving engine as it comes back, with at most the client's ``concurrency``
  requests in flight, and finishes each image when its answer arrives.
* One bad image never stops the others: errors become result lines, and a worker
  that dies (e.g. a native crash) is replaced; the images it held are retried one at
  a time so only the one that kills a worker again is marked ``worker_crashed``.
"""
from __future__ import annotations

import glob
import math
import multiprocessing as mp
import os
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from vlm_puzzle.errors import OptionError
from vlm_puzzle.imageio import IMAGE_EXTS
from vlm_puzzle.result import STAGES, ErrorInfo, SolveResult
from vlm_puzzle.results_file import ResultsFile, image_key

_PARENT_POLL_S = 0.5  # how often a worker checks that the batch still runs


# ---- inputs -----------------------------------------------------------------------

def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files as given, folders searched recursively for image files, globs expanded.

    Order is stable (sorted within each input) and duplicates are dropped. A name
    that matches nothing is kept, so that it gets its own ``file_not_found`` line."""
    return scan_inputs(inputs)[0]


def scan_inputs(inputs: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    """:func:`expand_inputs`, and per extension the files of other types that folders
    held (hidden files aside): skipped, but said so (``{".heic": 2, ".pdf": 1}``)."""
    out: list[str] = []
    seen: set[str] = set()
    others: dict[str, int] = {}

    def add(p: str) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)

    for item in inputs:
        item = os.path.expanduser(str(item))
        if os.path.isdir(item):
            found = []
            for root, _, files in os.walk(item):
                for f in files:
                    ext = os.path.splitext(f)[1].lower()
                    if ext in IMAGE_EXTS:
                        found.append(os.path.join(root, f))
                    elif not f.startswith("."):
                        others[ext or "(no extension)"] = others.get(ext or "(no extension)", 0) + 1
            for p in sorted(found):
                add(p)
        elif os.path.exists(item):
            add(item)
        elif glob.has_magic(item):
            for p in sorted(glob.glob(item, recursive=True)):
                if os.path.isfile(p):
                    add(p)
        else:
            add(item)
    return out, others


def read_done(out_path: str | os.PathLike, *, retry_errors: bool = False) -> set[str]:
    """Keys of the images already in a results file; drops a torn last line in place.

    With ``retry_errors`` the lines of images that ended in ``status: "error"`` are
    removed from the file (rewritten atomically) so those images run again. Raises
    OutputError for a file that is not a results file, or one another batch holds."""
    if not os.path.exists(out_path):
        return set()
    with ResultsFile(out_path, retry_errors=retry_errors) as rf:
        return rf.done


# ---- workers --------------------------------------------------------------------

_WORKER_SOLVER = None


def _init_worker(timeout_s: float | None, exif: bool, batch_pid: int, require_unique: bool = False) -> None:
    global _WORKER_SOLVER
    import cv2

    # Ctrl-C reaches the whole process group: the batch handles it and ends the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_gone, args=(batch_pid,), daemon=True).start()

    # Parallelism comes from the processes; threads inside each would only fight.
    cv2.setNumThreads(1)
    from vlm_puzzle.pipeline import PuzzleSolver

    _WORKER_SOLVER = PuzzleSolver("geometry", timeout_s=timeout_s, exif=exif, keep_images=False,
                                  require_unique=require_unique)
    try:  # load the digit network now, once per worker, not inside the first image's timing
        from vlm_puzzle.vision.classifier import DIGITS_MODEL, load_classifier

        load_classifier(DIGITS_MODEL)
    except Exception:  # missing weights are reported per image, with their own error code
        pass


def _exit_when_gone(pid: int) -> None:
    """A worker's watch: end this process once the batch process is gone (``kill -9``
    leaves no handler to run; the fork server, the workers' parent, may linger)."""
    while _alive(pid):
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process stays a zombie until its parent reaps it
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True


def _worker_solve(path: str) -> dict:
    return _WORKER_SOLVER.solve_image(path).to_dict()


def _worker_read(path: str):
    reading = _WORKER_SOLVER.read(path)
    if reading.loaded is not None:
        # Ship only what the VLM needs back to the main process, not the full photo.
        from dataclasses import replace

        reading.loaded = replace(reading.loaded, image=reading.vlm_image())
    return reading


def _make_pool(workers: int, timeout_s, exif, require_unique: bool = False) -> ProcessPoolExecutor:
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        # Workers fork from a server that already imported the CPU stages: cheap start-up.
        ctx.set_forkserver_preload(["vlm_puzzle.pipeline", "vlm_puzzle.vision", "vlm_puzzle.solver",
                                    "vlm_puzzle.rules.geometry", "vlm_puzzle.check", "cv2", "numpy", "PIL.Image"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(timeout_s, exif, os.getpid(), require_unique))


def _end_pool(pool: ProcessPoolExecutor | None) -> None:
    """Stop a pool now: kill its workers (running images included), do not wait."""
    if pool is None:
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):  # no public API (3.14 has one)
        try:
            proc.kill()
        except (OSError, ValueError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)


# ---- the run ---------------------------------------------------------------------

@dataclass
class BatchSummary:
    total: int = 0
    skipped: int = 0
    solved: int = 0
    not_unique: int = 0   # of the solved: ``unique`` false or null
    unsolved: int = 0
    errors: int = 0
    error_codes: dict = field(default_factory=dict)
    median_s: dict = field(default_factory=dict)
    wall_s: float = 0.0
    out: str = ""
    not_images: dict = field(default_factory=dict)  # extension -> files skipped in folders

    @property
    def processed(self) -> int:
        return self.solved + self.unsolved + self.errors

    def to_dict(self) -> dict:
        return {"total": self.total, "skipped": self.skipped, "processed": self.processed,
                "solved": self.solved, "not_unique": self.not_unique, "unsolved": self.unsolved, "errors": self.errors,
                "error_codes": dict(sorted(self.error_codes.items())),
                "median_s": self.median_s, "wall_s": round(self.wall_s, 3),
                "images_per_s": round(self.processed / self.wall_s, 3) if self.wall_s else None,
                "out": self.out, "not_images": dict(sorted(self.not_images.items()))}


def run_batch(inputs: Sequence[str], out: str | os.PathLike, *, workers: int | None = None,
              backend: str = "auto", model: str | None = None, timeout_s: float | None = 20.0,
              exif: bool = True, vlm_batch: int = 8, progress: bool | None = None,
              on_result: Callable[[dict], None] | None = None, solver=None,
              retry_errors: bool = False, image_timeout_s: float | None = None,
              base_url: str | None = None, serving_options: dict | None = None,
              require_unique: bool = False) -> BatchSummary:
    """Solve every image in ``inputs`` into the JSON-lines file ``out`` (appending).

    ``workers``: CPU worker processes (default: the number of CPUs; 0 = in this process).
    ``progress``: a progress bar on stderr (default: only when stderr is a terminal).
    ``retry_errors``: images already in ``out`` with ``status: "error"`` run again.
    ``image_timeout_s``: wall-time limit per image with workers (default 3 x ``timeout_s``
    + 60 s). ``base_url``, ``serving_options`` (e.g. ``{"concurrency": 8}``): the ``openai``
    backend's server. ``require_unique``: refuse puzzles not proven unique (see
    :class:`~vlm_puzzle.pipeline.PuzzleSolver`; a given ``solver`` keeps its own). Raises OutputError when ``out`` is not ours, is locked, or cannot be written."""
    from vlm_puzzle.pipeline import PuzzleSolver

    t_start = time.perf_counter()
    _check_options(workers, vlm_batch, timeout_s, image_timeout_s)
    paths, not_images = scan_inputs(inputs)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if image_timeout_s is None and timeout_s is not None:
        image_timeout_s = 3 * timeout_s + 60
    with ResultsFile(out, retry_errors=retry_errors) as rf, _sigterm_interrupts():
        todo = [p for p in paths if image_key(p) not in rf.done]
        summary = BatchSummary(total=len(paths), skipped=len(paths) - len(todo), out=os.fspath(out),
                               not_images=not_images)
        if workers is None:
            workers = max(1, min(len(todo), os.cpu_count() or 1))
        if solver is None:
            solver = PuzzleSolver(backend, model, timeout_s=timeout_s, exif=exif, keep_images=False,
                                  base_url=base_url, serving_options=serving_options, require_unique=require_unique)
        elif solver.keep_images:
            solver.keep_images = False  # results are written out; holding every photo would only cost memory
        if solver.backend == "openai":
            solver.load()  # no request yet; with auto, an unusable server leaves the run to geometry
        new_pool = lambda: _make_pool(workers, timeout_s, exif, solver.require_unique)  # noqa: E731
        pool = None
        results: list[dict] = []
        solved = [0]
        bar = _progress(len(todo), progress)

        def emit(d: dict) -> None:
            rf.append(d)
            results.append(d)
            if on_result:
                on_result(d)
            if bar is not None:
                solved[0] += d.get("status") == "solved"
                bar.set_postfix_str(f"solved {solved[0]}/{len(results)}", refresh=False)
                bar.update(1)

        try:
            if solver.backend == "qwen":
                # Create the pool (and its fork server) before torch is imported here.
                pool = new_pool() if workers > 0 and todo else None
                solver.load()
            if not todo:
                pass
            elif workers <= 0:
                _run_inline(todo, solver, emit, vlm_batch)
            else:
                pool = _run_pool(todo, solver, pool or new_pool(), new_pool, workers, emit, vlm_batch,
                                 image_timeout_s)
        except BaseException:  # Ctrl-C, SIGTERM, a write error: workers go now, finished lines stay
            _end_pool(pool)
            pool = None
            raise
        finally:
            if bar is not None:
                bar.close()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    _summarize(summary, results)
    summary.wall_s = time.perf_counter() - t_start
    return summary


def _check_options(workers, vlm_batch, timeout_s, image_timeout_s) -> None:
    """Refuse bad values (OptionError ``bad_option``) before anything runs."""
    def whole(v, lo):
        return isinstance(v, int) and not isinstance(v, bool) and v >= lo

    def seconds(v, lo):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v < math.inf

    for name, v, ok, what in (("workers", workers, workers is None or whole(workers, 0), "a whole number >= 0"),
                              ("vlm_batch", vlm_batch, whole(vlm_batch, 1), "a whole number >= 1"),
                              ("timeout_s", timeout_s, timeout_s is None or seconds(timeout_s, 0), "seconds >= 0"),
                              ("image_timeout_s", image_timeout_s,
                               image_timeout_s is None or seconds(image_timeout_s, 1e-3), "seconds > 0")):
        if not ok:
            raise OptionError(f"{name} must be {what} (or None), not {v!r}")


@contextmanager
def _sigterm_interrupts():
    """SIGTERM (``kill``) stops the batch the way Ctrl-C does (main thread only)."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _raise_interrupt) if main else None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _run_inline(todo, solver, emit, vlm_batch) -> None:
    if solver.backend == "openai":
        remote: dict = {}
        for p in todo:
            _send(solver, solver.read(p), remote, emit)
            while len(remote) >= _remote_cap(solver):
                _take_answers(solver, remote, emit, wait(list(remote), return_when=FIRST_COMPLETED)[0])
        _take_answers(solver, remote, emit, list(remote))
        return
    if solver.backend != "qwen":
        for p in todo:
            emit(solver.solve_image(p).to_dict())
        return
    pending = []
    for i, p in enumerate(todo):
        pending.append(solver.read(p))
        if len(pending) >= vlm_batch or i == len(todo) - 1:
            _finish_batch(solver, pending, emit)
            pending = []


def _finish_batch(solver, readings, emit) -> None:
    ok = [r for r in readings if r.error is None]
    t0 = time.perf_counter()
    hints = solver.infer_vlm_rules([r.vlm_image() for r in ok]) if ok else []
    share = (time.perf_counter() - t0) / max(1, len(ok))  # each image's share of the batched call
    by_id = {id(r): h for r, h in zip(ok, hints)}
    for r in readings:
        if id(r) in by_id:
            r.timings.rules += share
        emit(solver.finish(r, by_id.get(id(r))).to_dict())


def _send(solver, reading, remote: dict, emit) -> None:
    """``openai``: send a reading to the server (its future into ``remote``), or finish it now
    when there is nothing to ask about (no grid, unreadable image)."""
    if reading.error is not None:
        emit(solver.finish(reading).to_dict())
    else:
        remote[solver.submit_rules(reading)] = reading


def _take_answers(solver, remote: dict, emit, done) -> None:
    for fut in done:
        emit(solver.finish(remote.pop(fut), fut.result()).to_dict())


def _remote_cap(solver) -> int:
    # Readings waiting for the server hold images: keep only enough to keep it busy.
    return 2 * solver.serving_concurrency


def _run_pool(todo, solver, pool, new_pool, workers, emit, vlm_batch, image_timeout_s):
    qwen = solver.backend == "qwen"
    served = solver.backend == "openai"
    fn = _worker_read if qwen or served else _worker_solve
    queue = list(reversed(todo))          # pop() from the end = input order
    suspects: list[str] = []               # held by a worker that died: retried alone
    in_flight: dict = {}
    started: dict = {}                     # future -> when a worker could first take it
    remote: dict = {}                      # openai: the server's answers in flight -> their readings
    pending_readings: list = []
    # Enough queued work that the workers keep going while the model runs a batch.
    window = max(2 * workers, 2 * vlm_batch) if qwen else 2 * workers
    poll = None if image_timeout_s is None else min(1.0, max(0.01, image_timeout_s / 4))

    def flush_vlm(force: bool) -> None:
        nonlocal pending_readings
        if pending_readings and (force or len(pending_readings) >= vlm_batch):
            _finish_batch(solver, pending_readings, emit)
            pending_readings = []

    while queue or suspects or in_flight or remote:
        # Suspects run alone so that a second crash can be pinned on one image.
        if suspects and not in_flight:
            p = suspects.pop()
            in_flight[pool.submit(fn, p)] = (p, True)
        elif not suspects:
            while queue and len(in_flight) < window and (not served or len(remote) < _remote_cap(solver)):
                p = queue.pop()
                in_flight[pool.submit(fn, p)] = (p, False)
        if not in_flight and not remote:
            continue
        done, _ = wait(list(in_flight) + list(remote), return_when=FIRST_COMPLETED, timeout=poll)
        _take_answers(solver, remote, emit, [f for f in done if f in remote])
        broken = False
        for fut in done:
            if fut not in in_flight:
                continue
            p, alone = in_flight.pop(fut)
            started.pop(fut, None)
            try:
                value = fut.result()
            except BrokenProcessPool:
                broken = True
                if alone:
                    emit(SolveResult.failure(p, "error", "worker_crashed",
                                             f"{p}: the worker process died while reading this image").to_dict())
                else:
                    suspects.append(p)
                continue
            except Exception as exc:  # should not happen: workers catch their errors
                emit(SolveResult.failure(p, "error", "internal_error", f"{type(exc).__name__}: {exc}").to_dict())
                continue
            if qwen:
                pending_readings.append(value)
            elif served:
                _send(solver, value, remote, emit)
            else:
                emit(value)
        expired = _expired(in_flight, started, image_timeout_s)
        for fut in expired:
            p, _ = in_flight.pop(fut)
            emit(SolveResult.failure(p, "error", "image_timeout",
                                     f"{p}: gave up after {image_timeout_s:g} s (the per-image limit)").to_dict())
        if broken or expired:
            for fut, (p, alone) in list(in_flight.items()):
                (suspects if broken or alone else queue).append(p)
            in_flight.clear()
            started.clear()
            _end_pool(pool)  # an image past its limit is stopped only by ending its worker
            pool = new_pool()
        if qwen:
            flush_vlm(force=not in_flight)
    if qwen:
        flush_vlm(force=True)
    return pool


def _expired(in_flight: dict, started: dict, limit: float | None) -> list:
    """Futures running for over ``limit`` seconds. A future counts as started once the
    pool hands it to its call queue (at most one call ahead of the workers)."""
    if limit is None:
        return []
    now = time.perf_counter()
    for fut in in_flight:
        if fut not in started and fut.running():
            started[fut] = now
    return [fut for fut, t in started.items() if fut in in_flight and now - t > limit]


def _progress(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _summarize(summary: BatchSummary, results: Iterable[dict]) -> None:
    per_stage: dict[str, list[float]] = {k: [] for k in STAGES}
    for d in results:
        st = d.get("status")
        if st == "solved":
            summary.solved += 1
            summary.not_unique += d.get("unique") is not True
        elif st == "unsolved":
            summary.unsolved += 1
        else:
            summary.errors += 1
        if d.get("error"):
            code = d["error"]["code"]
            summary.error_codes[code] = summary.error_codes.get(code, 0) + 1
        if st != "error" or (d.get("timings_s") or {}).get("extract"):
            for k in STAGES:
                per_stage[k].append(float((d.get("timings_s") or {}).get(k, 0.0)))
    summary.median_s = {k: round(statistics.median(v), 4) for k, v in per_stage.items() if v}


__all__ = ["expand_inputs", "scan_inputs", "read_done", "run_batch", "BatchSummary", "IMAGE_EXTS", "ErrorInfo"]
