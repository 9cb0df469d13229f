"""Handwritten boards of ``eval_external.py --styles hand``, any board range (the Sudoku categories, the
digit reader's part, unless ``--categories`` names others).

``eval_external.py --styles hand --per-category N`` scores boards 0..N-1 of every handwritten
category; this scores boards ``--first`` .. ``--first + --per - 1`` (held-out MNIST writers, held-out
letter fonts), so that a range beyond the reported one can be looked at. Usage::

    PYTHONPATH=src python experiments/eval_hand_digits.py --first 20 --per 40 [--categories sudoku16]
    PYTHONPATH=src python experiments/eval_hand_digits.py --first 20 --per 20 --categories kenken3 kenken9
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_external as ee  # noqa: E402

SUDOKU = ("sudoku4", "sudoku9", "sudoku16")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--first", type=int, default=20)
    ap.add_argument("--per", type=int, default=20)
    ap.add_argument("--categories", nargs="+", default=list(SUDOKU), help="handwritten.CATEGORIES names")
    ap.add_argument("--json", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    from vlm_puzzle import PuzzleSolver
    from vlm_puzzle.eval import handwritten
    unknown = set(args.categories) - set(handwritten.CATEGORIES)
    if unknown:
        ap.error(f"unknown categories {sorted(unknown)}; known: {', '.join(handwritten.CATEGORIES)}")
    solver = PuzzleSolver(backend="geometry", keep_images=False)
    t0 = time.time()
    rows = {}
    for k, cat in enumerate(handwritten.CATEGORIES):
        if cat not in args.categories:
            continue
        out = []
        for i in range(args.first, args.first + args.per):
            seed = ee.HAND_SEED0 + 1000 * k + i
            spec, solution, image, info = handwritten.hand_board(cat, seed, i)
            row = ee._row(f"{cat}/{seed}", solver.solve_image(image), spec, solution)
            row.update(info)
            out.append(row)
            if args.verbose:
                ee._say(f"hand/{cat}", row)
        rows[f"own-hand/{cat}"] = out
    summary = {cat: ee.summarise(r) for cat, r in rows.items()}
    ee.print_table(summary)
    print(f"({time.time() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "summary": summary,
                                         "rows": rows}, indent=1, default=str))
    return summary


if __name__ == "__main__":
    main()
