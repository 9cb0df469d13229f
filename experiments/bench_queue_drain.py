"""Why training/tiny_vlm.py was starved of pictures: reading the workers' queue only between steps.

    python experiments/bench_queue_drain.py --workers 4 --seconds 6

Workers busy with computation (as render workers are) put 190 KB pictures on one
``multiprocessing`` queue; the reader either empties it between 0.25-s "training steps" (the old
loop: ``get(timeout=0)`` until Empty) or lets a thread empty it all the time (the current loop).
Prints pictures/s taken each way.
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import queue
import threading
import time

import numpy as np


def _worker(q, seconds_each: float) -> None:
    picture = np.zeros((252, 252, 3), np.uint8)
    while True:
        t = time.perf_counter()
        while time.perf_counter() - t < seconds_each:  # busy, like rendering
            pass
        q.put((picture, "answer"))


def run(mode: str, workers: int, seconds: float, seconds_each: float = 0.05, step_s: float = 0.25) -> float:
    ctx = mp.get_context("fork")
    q = ctx.Queue(maxsize=4000)
    procs = [ctx.Process(target=_worker, args=(q, seconds_each), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    inbox: collections.deque = collections.deque()
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            try:
                inbox.append(q.get(timeout=0.2))
            except queue.Empty:
                pass

    if mode == "thread":
        threading.Thread(target=pump, daemon=True).start()
    got, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if mode == "between-steps":
            try:
                while True:
                    q.get(timeout=0.0)
                    got += 1
            except queue.Empty:
                pass
        while inbox:
            inbox.popleft()
            got += 1
        t = time.perf_counter()
        while time.perf_counter() - t < step_s:  # a training step
            pass
    stop.set()
    for p in procs:
        p.terminate()
    return got / seconds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args(argv)
    for mode in ("between-steps", "thread"):
        print(f"{mode}: {run(mode, args.workers, args.seconds):.1f} pictures/s "
              f"(workers could make {args.workers * 20}/s)", flush=True)


if __name__ == "__main__":
    main()
