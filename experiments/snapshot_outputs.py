"""Snapshot of the pipeline's results, to prove a refactor changes nothing.

Runs ``PuzzleSolver(backend="geometry").solve_image`` over three sets and writes one
JSONL file per set (``SolveResult.to_dict()`` without ``timings_s``, plus the full
rule evidence text), then prints a sha256 per file:

* ``photos``: every ``*.jpg`` of the Wicht-Hennebert v2 training photos;
* ``variants``: the variant benchmark's renders (``eval.puzzles.benchmark_case``:
  renders in held-out fonts), clean and photo, ``--per-kind`` per kind,
  for each ``--seeds`` start;
* ``samples``: the shipped ``data/samples`` and ``data/photos`` pictures.

Usage (same machine before and after, compare the printed hashes)::

    nice python experiments/snapshot_outputs.py --out /tmp/snap-before
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "datasets" / "wichtounet-sudoku-v2-train"


def _record(name: str, result) -> str:
    d = result.to_dict()
    d.pop("timings_s")
    d["image"] = name
    hints = result.hints
    d["evidence"] = [str(e) for e in hints.evidence] if hints is not None else None
    return json.dumps(d, sort_keys=True)


def _images(folder: Path, patterns) -> list[Path]:
    return sorted(p for pat in patterns for p in folder.glob(pat))


def snapshot_files(solver, paths: list[Path], base: Path) -> list[str]:
    return [_record(str(p.relative_to(base)), solver.solve_image(p)) for p in paths]


def snapshot_variants(solver, seeds, per_kind: int) -> list[str]:
    from vlm_puzzle.eval.puzzles import benchmark_case
    from vlm_puzzle.render.heldout import KINDS, held_out_fonts
    fonts = held_out_fonts()
    out = []
    for seed0 in seeds:
        for kind in KINDS:
            for mode in ("clean", "photo"):
                for i in range(per_kind):
                    seed, _, _, bgr = benchmark_case(kind, i, seed0, mode == "photo", fonts)
                    out.append(_record(f"{kind}/{mode}/{seed}", solver.solve_image(bgr)))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sets", nargs="+", default=["photos", "variants", "samples"])
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[9_000_000, 7_000_000])
    ap.add_argument("--per-kind", type=int, default=10)
    args = ap.parse_args(argv)
    import cv2
    from vlm_puzzle import PuzzleSolver
    cv2.setNumThreads(1)
    solver = PuzzleSolver(backend="geometry")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.sets:
        if name == "photos":
            lines = snapshot_files(solver, _images(args.photos, ["*.jpg"]), args.photos)
        elif name == "samples":
            lines = snapshot_files(solver, _images(ROOT / "data", ["samples/*.png", "samples/*.jpg",
                                                                   "photos/*.jpg"]), ROOT / "data")
        elif name == "variants":
            lines = snapshot_variants(solver, args.seeds, args.per_kind)
        else:
            raise SystemExit(f"unknown set {name!r}")
        text = "".join(line + "\n" for line in lines)
        (args.out / f"{name}.jsonl").write_text(text)
        print(f"{name}: {len(lines)} results, sha256 {hashlib.sha256(text.encode()).hexdigest()}", flush=True)


if __name__ == "__main__":
    main()
