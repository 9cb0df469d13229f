"""CPU time per board (this process, one thread), per category of ``eval_external.py``'s boards.

On a machine shared with other work the wall clock (``eval_external``'s ms column) moves with the
load; the CPU time of the solving process moves far less. Each board is solved as
``eval_external.py`` solves it (same boards, same seeds; rendering is not timed) and the table is
``eval_external``'s with its ms column in CPU ms. Run it under the code to time
(``PYTHONPATH=<checkout>/src``), alternating two checkouts to compare them::

    PYTHONPATH=src OMP_NUM_THREADS=1 nice python experiments/time_cpu.py --sources sgt --categories kenken9 sudoku16
    PYTHONPATH=src OMP_NUM_THREADS=1 nice python experiments/time_cpu.py --sources paper hand --per-category 5

sgt boards come from ``eval_external.py``'s cache (``--sources sgt`` draws them when missing).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_external as E  # noqa: E402  (the boards and the table)


class CpuTimed:
    """A solver whose ``solve_image`` records the CPU milliseconds of each call."""

    def __init__(self, solver):
        self.solver, self.ms = solver, []

    def solve_image(self, src, **kwargs):
        t = time.process_time()
        try:
            return self.solver.solve_image(src, **kwargs)
        finally:
            self.ms.append(1000 * (time.process_time() - t))


def main(argv=None) -> dict:
    from vlm_puzzle.eval import sgt
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", nargs="+", default=["sgt", "paper", "hand"], choices=["sgt", "paper", "hand"])
    ap.add_argument("--categories", nargs="+", default=list(sgt.CATEGORIES), choices=list(sgt.CATEGORIES))
    ap.add_argument("--paper-kinds", nargs="+", default=list(E.PAPER_KINDS), choices=list(E.PAPER_KINDS))
    ap.add_argument("--paper-variants", nargs="+", default=["bench"])
    ap.add_argument("--per-category", type=int, default=5)
    args = ap.parse_args(argv)

    import cv2
    from vlm_puzzle.pipeline import PuzzleSolver
    cv2.setNumThreads(1)
    solver = CpuTimed(PuzzleSolver(backend="geometry", keep_images=False))
    solver.solver.warm()
    rows: dict[str, list] = {}
    if "sgt" in args.sources:
        rows.update(E.eval_sgt(solver, args.categories, args.per_category, 1, E.CACHE, False))
    if "paper" in args.sources:
        rows.update(E.eval_paper(solver, args.per_category, args.paper_variants, False, tuple(args.paper_kinds)))
    if "hand" in args.sources:
        rows.update(E.eval_hand(solver, args.per_category, False))
    cpu = iter(solver.ms)
    for cat_rows in rows.values():   # the solves in the order the rows were made
        for row in cat_rows:
            row["ms"] = next(cpu)
    summary = {cat: E.summarise(r) for cat, r in rows.items()}
    E.print_table(summary)
    print("(ms: CPU time of this process per board, median)")
    return summary


if __name__ == "__main__":
    main()
