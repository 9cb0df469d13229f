"""The run loop: images handed to the worker pool (or solved in this process), the
VLM's rule calls batched or sent to the server, every result written as it comes."""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

from vlm_puzzle.batch.plan import check_options, scan_inputs
from vlm_puzzle.batch.summary import BatchSummary, progress_bar, summarize
from vlm_puzzle.batch.workers import end_pool, make_pool, worker_read, worker_solve
from vlm_puzzle.result import SolveResult
from vlm_puzzle.results_file import ResultsFile, image_key


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
    check_options(workers, vlm_batch, timeout_s, image_timeout_s)
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
        new_pool = lambda: make_pool(workers, timeout_s, exif, solver.require_unique)  # noqa: E731
        pool = None
        results: list[dict] = []
        solved = [0]
        bar = progress_bar(len(todo), progress)

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
            end_pool(pool)
            pool = None
            raise
        finally:
            if bar is not None:
                bar.close()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    summarize(summary, results)
    summary.wall_s = time.perf_counter() - t_start
    return summary


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
    hints = solver.infer_vlm_rules(solver.vlm_images(ok)) if ok else []
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
    fn = worker_read if qwen or served else worker_solve
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
            end_pool(pool)  # an image past its limit is stopped only by ending its worker
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
