"""Batches of rendered puzzles on disk, and the shipped ``data/samples/``.

``python -m vlm_puzzle.render.samples`` regenerates ``data/samples/`` exactly
(same seeds, same bytes on the same library versions).
"""
from __future__ import annotations

import argparse
import zlib
from pathlib import Path

from vlm_puzzle.render.fonts import BUILTIN, available_fonts
from vlm_puzzle.render.generate import DEFAULT_SIZE, generate_puzzle
from vlm_puzzle.render.rendered import render_puzzle, save_rendered
from vlm_puzzle.spec import SpecError

# What data/samples/ holds: (kind, size) pairs, each clean and as a photo.
SHIPPED = (("sudoku", 9), ("sudoku", 4), ("sudoku", 6), ("sudoku", 16), ("x-sudoku", 9),
           ("windoku", 9), ("jigsaw", 9), ("killer", 9), ("kenken", 4), ("kenken", 6))
SHIPPED_SEED = 2024
SHIPPED_PX = 480


def _parse_kind(item) -> tuple[str, int | None]:
    """``"kenken"``, ``"kenken:6"`` or ``("kenken", 6)`` -> (kind, size or None)."""
    if isinstance(item, tuple):
        return item[0], item[1]
    kind, _, size = str(item).partition(":")
    try:
        return kind, int(size) if size else None
    except ValueError:
        raise SpecError(f"bad kind:size {item!r}; write e.g. 'kenken:6'") from None


def render_samples(out_dir, kinds=tuple(DEFAULT_SIZE), n: int = 1, seed: int = 0,
                   photo: bool = False, size_px: int = 800, *, clean_and_photo: bool = False,
                   fonts: list[str] | None = None) -> list[Path]:
    """Generate and render ``n`` puzzles of each kind into ``out_dir``.

    kinds : kind names, optionally with a size (``"sudoku:16"``) or (kind, size) pairs.
    photo : photo mode (JPEG); with ``clean_and_photo`` both versions are written.
    fonts : font names the random styles may use (default: all installed).
    Files are ``<kind><size>_<seed>[_photo].{png,jpg,json}``; puzzle ``i`` of a kind
    is generated with seed ``seed + i`` (its rendering seed is in the JSON). Returns the image paths written.
    """
    out = Path(out_dir)
    written: list[Path] = []
    for item in kinds:
        kind, size = _parse_kind(item)
        for i in range(n):
            s = seed + i
            spec, solution = generate_puzzle(kind, size, seed=s)
            modes = (False, True) if clean_and_photo else (photo,)
            # Distinct look per kind and size, reproducible (crc32, unlike hash(), is stable).
            look = s * 7919 + zlib.crc32(f"{kind}{spec.size}".encode())
            for as_photo in modes:
                rendered = render_puzzle(spec, seed=look, photo=as_photo, size_px=size_px, solution=solution,
                                         fonts=fonts)
                stem = out / f"{kind}{spec.size}_{s}{'_photo' if as_photo else ''}"
                written.append(save_rendered(rendered, stem)[0])
    return written


def regenerate_shipped(out_dir=None) -> list[Path]:
    """Rewrite ``data/samples/`` (or ``out_dir``): every shipped kind, clean and photo.

    Only DejaVu fonts and Pillow's built-in one are used, so any machine with
    DejaVu (CI included) regenerates the same files."""
    out = Path(out_dir) if out_dir else Path(__file__).resolve().parents[3] / "data" / "samples"
    fonts = [f for f in available_fonts() if f.startswith("DejaVu")] + [BUILTIN]
    return render_samples(out, kinds=SHIPPED, n=1, seed=SHIPPED_SEED, size_px=SHIPPED_PX,
                          clean_and_photo=True, fonts=fonts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=None, help="directory (default: the repository's data/samples)")
    args = ap.parse_args(argv)
    for path in regenerate_shipped(args.out):
        print(path)


if __name__ == "__main__":
    main()
