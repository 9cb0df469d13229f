"""The worker processes: each holds one geometry solver, watches the batch's process
and dies with it; the pool they run in is started from a fork server that has
already imported the CPU stages, and ended at once when the batch stops."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_PARENT_POLL_S = 0.5  # how often a worker checks that the batch still runs

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
    try:  # the solver's networks load now, once per worker, not inside the first image's timing
        _WORKER_SOLVER.warm()
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


def worker_solve(path: str) -> dict:
    return _WORKER_SOLVER.solve_image(path).to_dict()


def worker_read(path: str):
    reading = _WORKER_SOLVER.read(path)
    if reading.loaded is not None:
        # Ship only what the VLM needs back to the main process, not the full photo.
        from dataclasses import replace

        small = reading.vlm_image()
        reading.picture_scale = small.shape[1] / reading.loaded.image.shape[1]  # the grid view's corners follow
        reading.loaded = replace(reading.loaded, image=small)
    return reading


def make_pool(workers: int, timeout_s, exif, require_unique: bool = False) -> ProcessPoolExecutor:
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        # Workers fork from a server that already imported the CPU stages: cheap start-up.
        ctx.set_forkserver_preload(["vlm_puzzle.pipeline", "vlm_puzzle.vision", "vlm_puzzle.solver",
                                    "vlm_puzzle.rules.geometry", "vlm_puzzle.check", "cv2", "numpy", "PIL.Image"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(timeout_s, exif, os.getpid(), require_unique))


def end_pool(pool: ProcessPoolExecutor | None) -> None:
    """Stop a pool now: kill its workers (running images included), do not wait."""
    if pool is None:
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):  # no public API (3.14 has one)
        try:
            proc.kill()
        except (OSError, ValueError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)
