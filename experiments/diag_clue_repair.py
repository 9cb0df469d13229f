"""Where handwritten KenKen boards are lost in the clue REPAIR: per board, the state just before
:func:`vlm_puzzle.check.clues.repair_clues` is cached (perception and the givens check are the slow
part), then the repair is run on it and its answer checked against the truth; for each misread clue,
the rank and cost of the true reading among :func:`~vlm_puzzle.check.clues.kenken_readings`.

    nice python experiments/diag_clue_repair.py --sizes 5 7 9 --per 10 --seed0 9700000 -v
Seeds apart from the benchmark's (8,500,000 + 1000 k + i): tune here, report there.
"""
from __future__ import annotations

import argparse
import collections
import pickle
import time
from pathlib import Path

from vlm_puzzle.check import clues as clue_mod
from vlm_puzzle.eval import handwritten

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "clue_repair"
SYM = {"add": "+", "sub": "-", "mul": "x", "div": "/"}


def truth_text(cage) -> str:
    return f"{cage.target}{SYM[cage.op] if cage.op and len(cage.cells) > 1 else ''}"


def before_repair(cat: str, seed: int, i: int, reader):
    """(spec, solution, state before the clue repair, decision), cached."""
    path = CACHE / f"{cat}_{seed}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    from vlm_puzzle.check import stage
    from vlm_puzzle.rules.geometry import decide
    spec, solution, image, _ = handwritten.hand_board(cat, seed, i)
    caught = {}

    def catch(state, decision):
        caught["state"], caught["decision"] = state, decision
        return state
    real = stage.repair_clues
    stage.repair_clues = catch
    try:
        state = reader.read(image)
        decision = decide(state.size, state.box, state.variants)
        stage.settle(state, decision, image=image, reader=reader)
    except Exception as exc:   # noqa: BLE001  (a grid not found: cached as such)
        caught = {"error": repr(exc)}
    finally:
        stage.repair_clues = real
    out = (spec, solution, caught.get("state"), caught.get("decision"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[3, 4, 5, 6, 7, 8, 9])
    ap.add_argument("--per", type=int, default=10)
    ap.add_argument("--seed0", type=int, default=9_700_000)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args(argv)
    from vlm_puzzle.solver import violations
    from vlm_puzzle.vision.extract import GridReader
    reader = GridReader()
    total = collections.Counter()
    for n in args.sizes:
        cat = f"kenken{n}"
        stats = collections.Counter()
        times = []
        for i in range(args.per):
            seed = args.seed0 + 1000 * n + i
            spec, solution, state, decision = before_repair(cat, seed, i, reader)
            stats["boards"] += 1
            if state is None or state.variants is None:
                stats["not_read"] += 1
                continue
            truth = {tuple(sorted(k.cells)): truth_text(k) for k in spec.cages}
            cages = state.variants.cages
            got = {tuple(sorted(k.cells)): k.clue.text for k in cages}
            if set(got) != set(truth):
                stats["cages_wrong"] += 1
            wrong = [(j, truth.get(tuple(sorted(k.cells))), k.clue.text) for j, k in enumerate(cages)
                     if truth.get(tuple(sorted(k.cells))) != k.clue.text]
            stats["misread_clues"] += len(wrong)
            t0 = time.process_time()
            out = clue_mod.repair_clues(state, decision)
            times.append(time.process_time() - t0)
            v = out.verdict
            sol = v.solution if v is not None else None
            right = v is not None and v.solver_status == "solved" and sol is not None and not violations(
                spec, [list(map(int, r)) for r in sol])
            stats["right"] += right
            stats["wrong"] += v is not None and v.solver_status == "solved" and not right
            flagged = any(f.code == clue_mod.CLUE_AMBIGUOUS for f in out.variants.uncertainties)
            doubted = out.variants.confidence <= clue_mod.DOUBTFUL
            stats["right_flagged"] += right and flagged
            stats["right_doubted"] += right and doubted
            stats["wrong_flagged"] += (not right and flagged)
            stats["wrong_doubted"] += (v is not None and v.solver_status == "solved" and not right and doubted)
            ranks = []
            for j, want, text in wrong:
                if want is None:
                    ranks.append("cage?")
                    continue
                opts = clue_mod.kenken_readings(j, cages[j], n, per_cage=50)
                texts = [clue_mod.changed_clue(cages[j].clue, ch).text if ch else cages[j].clue.text
                         for _, ch in opts]
                ranks.append(f"{text}->{want}@{texts.index(want) if want in texts else 'X'}")
                stats["true_in_readings"] += want in texts
            if args.v:
                print(cat, seed, "right" if right else ("WRONG" if v and v.solver_status == "solved" else "none"),
                      "flag" if flagged else "", "doubt" if doubted else "",
                      f"{times[-1]:.2f}s", len(cages), "cages", " ".join(ranks))
        times.sort()
        stats["median_ms"] = int(1000 * times[len(times) // 2]) if times else 0
        print(cat, dict(stats), flush=True)
        total.update({k: v for k, v in stats.items() if k != "median_ms"})
    print("all", dict(total))


if __name__ == "__main__":
    main()
