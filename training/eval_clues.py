"""Clue reader alone, on held-out fonts: every cage clue of rendered killer / KenKen
puzzles read right (op and target), and no confident text in other cells.

Independent of the border reader: cells come from the grid finder's lattice and
the true cages. Default seeds 5,000,000.. (a dev range: neither training's
~1,000,000 nor the benchmark's 7,000,000 / 9,000,000). Usage::

    nice python training/eval_clues.py --per-kind 12 --weights path/to/clues.onnx
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    import cv2
    from vlm_puzzle.render.heldout import KINDS, SIZES, held_out_fonts
    from vlm_puzzle.render.quick import quick_caged_puzzle
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.vision.gray import to_gray
    from vlm_puzzle.vision.ink import ink_map, paper_map
    from vlm_puzzle.vision.clues import ClueReader, read_clues
    from vlm_puzzle.vision.grid import locate_grid
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-kind", type=int, default=12)
    ap.add_argument("--seed0", type=int, default=5_000_000)
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--second", type=Path, help="a second network read beside --weights (vision.clues.ClueReader)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    fonts = held_out_fonts()
    reader = ClueReader(args.weights, second=args.second or (None if args.weights is None else False))
    for kind in ("killer", "kenken"):
        for mode in ("clean", "photo"):
            right, ms, bad = 0, [], []
            n_clues = n_ok = n_sure = 0
            for i in range(args.per_kind):
                seed = args.seed0 + 1000 * KINDS.index(kind) + i
                size = SIZES[kind][i % len(SIZES[kind])]
                spec, sol = quick_caged_puzzle(kind, size, seed)
                shot = render_puzzle(spec, seed=seed, photo=mode == "photo", fonts=fonts, solution=sol)
                loc = locate_grid(np.ascontiguousarray(shot.image[..., ::-1]))
                lat = loc.lattice
                if lat.size != size:
                    bad.append(f"seed {seed}: grid {lat.size} for {size}")
                    continue
                gray = to_gray(loc.warped)
                cell = float(min(np.diff(lat.cols_x).mean(), np.diff(lat.rows_y).mean()))
                ink = ink_map(gray, cell, paper_map(gray, cell))
                cells = [(r, c) for r in range(size) for c in range(size)]
                t = time.perf_counter()
                got = dict(zip(cells, read_clues(ink, [lat.cell_rect(*rc) for rc in cells], cell,
                                                 ops=kind == "kenken", weights=reader)))
                ms.append(1000 * (time.perf_counter() - t))
                anchors = {min(c.cells): c for c in spec.cages}
                errs = []
                for rc, k in got.items():
                    if rc in anchors:
                        cage = anchors[rc]
                        want = (None if kind == "killer" or len(cage.cells) == 1 else cage.op, cage.target)
                        n_clues += 1
                        n_ok += (k.op, k.target) == want
                        n_sure += (k.op, k.target) == want and k.confidence >= 0.8
                        if (k.op, k.target) != want or k.confidence < 0.8:
                            errs.append(f"{rc}: {k.text!r} ({k.confidence:.2f}) for {want}")
                    elif k.target is not None and k.confidence >= 0.9:
                        errs.append(f"{rc}: stray {k.text!r}")
                right += not errs
                if errs:
                    bad.append(f"seed {seed}: {'; '.join(errs[:3])}")
            print(f"{kind}/{mode}: {right}/{args.per_kind} puzzles with all clues right (conf >= 0.8); "
                  f"clues right {n_ok}/{n_clues}, right and sure {n_sure}; "
                  f"read_clues median {statistics.median(ms) if ms else 0:.1f} ms", flush=True)
            if args.verbose:
                for b in bad:
                    print("   ", b)


if __name__ == "__main__":
    main()
