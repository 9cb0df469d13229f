"""Benchmark: variant puzzles from rendered images to a correct spec, and solved.

For every kind (sudoku, x-sudoku, windoku, jigsaw, killer, kenken) puzzles are
generated and rendered by ``vlm_puzzle.render`` in clean and photo mode with font
families *held out* from every reader's training (``vlm_puzzle.render.heldout``) and seeds
disjoint from training's.
Each image goes through the real pipeline parts:
``pipeline.read_state`` (grid, digits, ``read_variants``, givens repaired against
the inferred rules; ``--no-repair``: as read) then ``check.infer_rules``.
Reported per kind and mode:

* ``read``: puzzles read entirely right (kind, box, regions / cages with ops and
  targets, diagonals, windows, givens);
* ``solved``: the solver's answer to the read puzzle is the true solution;
* ``wrong>0.3``: puzzles read wrong (or not at all) whose spec still came with a
  confidence above ``rules.geometry.DOUBTFUL``: presented as surer than they are;
* ``ms_total``: median ms per image for the whole read (grid + digits + variants +
  rules); ``ms_variants``: median ms of ``read_variants`` + ``infer_rules`` alone.

Killer puzzles skip the renderer's uniqueness search (minutes per puzzle): cages
are drawn over a random solution (``render.quick.quick_caged_puzzle``), then
solution digits are revealed as givens, one at a time where a second solution
differs from the true one (seeded), until the solver proves the solution unique
(``eval.puzzles.unique_killer``, well under a second each). Every benchmark puzzle
thus has exactly one solution, as published ones do, and the pipeline's digit
repair (which assumes that) is tested fairly. A puzzle counts as solved when the solver's answer
is the true solution or satisfies the true puzzle.
Timings run on one thread (``cv2.setNumThreads(1)``); on a shared machine they are
noisy: re-run on a quiet one. Usage::

    nice python experiments/eval_variants.py --per-kind 20
    nice python experiments/eval_variants.py --kinds kenken killer --modes photo --per-kind 10
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from vlm_puzzle.eval.puzzles import benchmark_case
from vlm_puzzle.eval.score import canonical, solved_right
from vlm_puzzle.render.heldout import KINDS, held_out_fonts
from vlm_puzzle.rules.geometry import DOUBTFUL

SEED0 = 7_000_000  # far from training seeds (0.., 100003*k)


def read_image(image, repair: bool = True, reader=None) -> dict:
    """The pipeline's reading of one image (``pipeline.read_state``: grid, digits,
    variants, givens repaired against the inferred rules), then the rules:
    state, variants, hints, spec, timings (s). ``reader``: a ``GridReader`` kept
    across images (its networks load once)."""
    from vlm_puzzle.check import infer_rules
    from vlm_puzzle.pipeline import read_state
    t0 = time.perf_counter()
    state = read_state(image, repair=repair, reader=reader)
    t1 = time.perf_counter()
    hints, spec = infer_rules(state)
    t2 = time.perf_counter()
    return {"state": state, "hints": hints, "spec": spec, "total_s": t2 - t0,
            "variants_s": state.timing.get("variants_s", 0.0) + (t2 - t1)}


def read_structure(image, givens, reader=None) -> dict:
    """Like :func:`read_image` but without the digit reader: the grid finder, then
    ``read_variants`` and ``infer_rules`` with the *true* givens. Measures the
    variant reading alone (structure, cages, clues, marks). ``reader``: as for
    :func:`read_image` (its edge and clue networks are used)."""
    from vlm_puzzle.check import infer_rules
    from vlm_puzzle.vision import CellReading, GridGeometry, GridReader, GridState, locate_grid
    from vlm_puzzle.vision.variants import read_variants
    reader = reader or GridReader()
    t0 = time.perf_counter()
    loc = locate_grid(image)
    n = loc.lattice.size
    geometry = GridGeometry.of(loc)
    truth = CellReading.certain(givens if len(givens) == n else np.zeros((n, n), int))
    t1 = time.perf_counter()
    variants = read_variants(geometry, reader.edge_net, reader.clue_reader)
    state = GridState(geometry=geometry, reading=truth, variants=variants)
    hints, spec = infer_rules(state)
    t2 = time.perf_counter()
    return {"state": state, "hints": hints, "spec": spec, "total_s": t2 - t0, "variants_s": t2 - t1}


def evaluate_variants(kinds=KINDS, modes=("clean", "photo"), per_kind: int = 20, seed0: int = SEED0,
                      fonts: list[str] | None = None, verbose: bool = False,
                      true_givens: bool = False, repair: bool = True) -> dict:
    """Render, read and solve ``per_kind`` puzzles of each kind in each mode.

    Returns ``{"<kind>/<mode>": {"n", "read", "solved", "ms_total", "ms_variants",
    "errors": [...]}}`` with ``read`` / ``solved`` as fractions; failures are listed
    (seed, what differed) so a reader can look at them. Callable from
    ``experiments/eval_reader.py``. ``true_givens``: skip the digit reader and use
    the true givens (:func:`read_structure`), to measure the variant reading alone.
    ``repair``: let the solver repair the read givens (as the pipeline does).
    """
    import cv2
    from vlm_puzzle.errors import PuzzleError
    from vlm_puzzle.vision import GridReader
    cv2.setNumThreads(1)
    fonts = fonts or held_out_fonts()
    reader = GridReader()  # the networks load once, not inside each image's time
    results = {}
    for kind in kinds:
        for mode in modes:
            rows = []
            for i in range(per_kind):
                seed, spec, solution, bgr = benchmark_case(kind, i, seed0, mode == "photo", fonts)
                try:
                    out = read_structure(bgr, spec.givens, reader) if true_givens else read_image(bgr, repair, reader)
                except PuzzleError as exc:
                    rows.append({"seed": seed, "read": False, "solved": False, "error": f"{exc.code}: {exc}"})
                    continue
                got = out["spec"]
                read = got is not None and canonical(got) == canonical(spec)
                row = {"seed": seed, "size": size, "read": read, "total_s": out["total_s"],
                       "variants_s": out["variants_s"], "kind_read": out["hints"].kind,
                       "confidence": out["hints"].confidence if got is not None else 0.0,
                       "solved": read or solved_right(got, spec, solution)}
                if not read:
                    row["error"] = describe_difference(got, spec, out["hints"])
                rows.append(row)
                if verbose:
                    print(kind, mode, seed, "ok" if read else row["error"], flush=True)
            results[f"{kind}/{mode}"] = summarise(rows)
    return results


def describe_difference(got, truth, hints) -> str:
    if got is None:
        bad = [str(e) for e in hints.evidence if e.is_note]
        return f"no spec (kind {hints.kind}): {'; '.join(bad[:2])}"
    if got.kind != truth.kind:
        return f"kind {got.kind} for {truth.kind}"
    a, b = canonical(got), canonical(truth)
    names = ("kind", "size", "box", "regions", "diagonals", "windows", "cages", "givens")
    diffs = [n for n, x, y in zip(names, a, b) if x != y]
    if "cages" in diffs:
        mine = {c[0]: c[1:] for c in a[6]}
        wrong = [f"{cells[0]}: {mine.get(cells)} for {rest}" for cells, *rest in b[6]
                 if mine.get(cells) != tuple(rest)]
        return f"cages differ ({len(wrong)}): {'; '.join(wrong[:3])}"
    return "differs in " + ", ".join(diffs)


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    timed = [r for r in rows if "total_s" in r]
    return {"n": n,
            "read": sum(r["read"] for r in rows) / n if n else 0.0,
            "solved": sum(r["solved"] for r in rows) / n if n else 0.0,
            # A spec read wrong yet given more than DOUBTFUL confidence: presented as surer than it is.
            "wrong_confident": sum(1 for r in rows if not r["read"] and r.get("confidence", 0.0) > DOUBTFUL),
            "ms_total": round(1000 * statistics.median(r["total_s"] for r in timed), 1) if timed else None,
            "ms_variants": round(1000 * statistics.median(r["variants_s"] for r in timed), 1) if timed else None,
            "errors": [f"seed {r['seed']}: {r['error']}" for r in rows if "error" in r]}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of this evaluation (shared with ``eval_reader.py --variants``)."""
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--modes", nargs="+", default=["clean", "photo"], choices=["clean", "photo"])
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--seed0", type=int, default=SEED0)
    ap.add_argument("--true-givens", action="store_true",
                    help="skip the digit reader: grid finder + variants + rules, true givens")


def run(args, verbose: bool = False) -> dict:
    """Evaluate with parsed ``args`` (see :func:`add_arguments`) and print the table."""
    res = evaluate_variants(args.kinds, args.modes, args.per_kind, args.seed0, verbose=verbose,
                            true_givens=args.true_givens, repair=not getattr(args, "no_repair", False))
    print_table(res)
    return res


def print_table(res: dict) -> None:
    wrong = f"wrong>{DOUBTFUL}"
    print(f"{'kind/mode':<18}{'n':>4}{'read':>8}{'solved':>8}{wrong:>10}{'ms total':>10}{'ms variants':>13}")
    for key, r in res.items():
        print(f"{key:<18}{r['n']:>4}{r['read']:>8.1%}{r['solved']:>8.1%}{r['wrong_confident']:>10}"
              f"{r['ms_total'] or 0:>10.1f}{r['ms_variants'] or 0:>13.1f}")
    for key, r in res.items():
        for e in r["errors"][:5]:
            print(f"  {key} {e}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Variant puzzles: read and solved from rendered images")
    add_arguments(ap)
    ap.add_argument("--no-repair", action="store_true", help="givens as read, without the solver's repair")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    res = run(args, verbose=args.verbose)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
