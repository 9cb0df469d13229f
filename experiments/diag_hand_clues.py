"""Where handwritten KenKen boards are lost: per board, the cages read right? each clue string
read right, what kind of character was wrong, and how often the reader's whole-clue readings
(``Clue.readings``) hold the true clue (first, in the first three, at all).

    nice python experiments/diag_hand_clues.py --sizes 3 5 7 9 --per 10 --seed0 9600000
Seeds apart from the benchmark's (8,500,000 + 1000 k + i): tune here, report there.
"""
from __future__ import annotations

import argparse
import collections
import json

import numpy as np

from vlm_puzzle.eval import handwritten
from vlm_puzzle.vision.extract import GridReader


def truth_text(cage) -> str:
    sym = {"add": "+", "sub": "-", "mul": "x", "div": "/"}
    return f"{cage.target}{sym[cage.op] if cage.op and len(cage.cells) > 1 else ''}"


def kind_of_error(got: str, want: str) -> str:
    if len(got) != len(want):
        return "length"
    bad = [(a, b) for a, b in zip(got, want) if a != b]
    if all(b.isdigit() for _, b in bad):
        return "digit"
    if all(not b.isdigit() for _, b in bad):
        return "op"
    return "both"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[3, 4, 5, 6, 7, 8, 9])
    ap.add_argument("--per", type=int, default=10)
    ap.add_argument("--seed0", type=int, default=9_600_000)
    ap.add_argument("--solve", action="store_true", help="also solve each board (PuzzleSolver, geometry)")
    ap.add_argument("--no-chars", action="store_true", help="without the character reader (vision.clue_chars)")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args(argv)
    reader = GridReader()
    if args.no_chars:
        reader.clue_reader.chars = None
    solver = None
    if args.solve:
        from vlm_puzzle import PuzzleSolver
        from vlm_puzzle.solver import violations
        solver = PuzzleSolver(backend="geometry")
        solver._grid_reader = reader   # the same networks (and --no-chars) for both
    conf = collections.Counter()
    for n in args.sizes:
        cat = f"kenken{n}"
        stats = collections.Counter()
        for i in range(args.per):
            seed = args.seed0 + 1000 * n + i
            spec, _, image, _ = handwritten.hand_board(cat, seed, i)
            if solver is not None:
                res = solver.solve_image(image)
                right = res.status == "solved" and res.solution is not None and not violations(
                    spec, [list(map(int, row)) for row in res.solution])
                stats["solved_right"] += right
                stats["solved_wrong"] += res.status == "solved" and not right
                stats["wrong_conf>=.9"] += res.status == "solved" and not right and (res.confidence or 0) >= 0.9
            try:
                state = reader.read(image)
            except Exception as exc:   # noqa: BLE001  (a grid not found counts, and says why)
                stats["no_grid"] += 1
                if args.v:
                    print(cat, seed, "not read:", exc)
                continue
            v = state.variants
            truth = {tuple(sorted(k.cells)): truth_text(k) for k in spec.cages}
            got = {tuple(sorted(k.cells)): k.clue for k in (v.cages if v else ())}
            stats["boards"] += 1
            if state.size != n or set(got) != set(truth):
                stats["cages_wrong"] += 1
                if args.v:
                    print(cat, seed, "cages wrong", state.size, len(got), len(truth))
                continue
            wrong = [(truth[c], got[c].text, got[c].confidence) for c in truth if got[c].text != truth[c]]
            stats["clues"] += len(truth)
            stats["clues_wrong"] += len(wrong)
            stats[f"board_{min(len(wrong), 4)}wrong"] += 1
            # The reader's whole-clue readings (vision.clue_chars.readings_of), where it gives them.
            for c in truth:
                texts = [t for t, _ in got[c].readings]
                if texts:
                    stats["with_readings"] += 1
                    stats["truth_first"] += texts[0] == truth[c]
                    stats["truth_in_top3"] += truth[c] in texts[:3]
                    stats["truth_in_readings"] += truth[c] in texts
            for want, text, p in wrong:
                k = kind_of_error(text, want)
                stats["err_" + k] += 1
                if k == "length":
                    conf[("len", want, text)] += 1
                else:
                    for a, b in zip(text, want):
                        if a != b:
                            conf[(b, a)] += 1
                if p >= 0.9:
                    stats["wrong_sure"] += 1
            if args.v:
                print(cat, seed, f"{len(wrong)}/{len(truth)} wrong:", wrong)
        print(cat, json.dumps(dict(sorted(stats.items()))))
    print("confusions (truth, read):", conf.most_common(40))


if __name__ == "__main__":
    main()
