"""How a puzzle looks on paper: :class:`Style` and random styles.

Sizes are fractions of the cell size, so one style renders at any resolution;
the renderer records the resulting pixel values in the ground truth.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from vlm_puzzle.render.fonts import available_fonts

RGB = tuple[int, int, int]

# Fonts that look hand-written; used for handwriting-like givens when installed.
SCRIPT_FONTS = ("Z003-MediumItalic", "URWBookman-LightItalic", "FreeSerifItalic", "DejaVuSans-Oblique")


@dataclass(frozen=True)
class Style:
    """Every visual choice of one rendering.

    font / clue_font : font names or paths (see ``available_fonts()``).
    digit_scale : digit height (of an "8") as a fraction of the cell.
    thin / thick : line widths as fractions of the cell.
    diagonal : x-sudoku diagonals drawn as ``"shade"`` (shaded cells) or ``"line"``.
    jigsaw_fill : also tint jigsaw regions (besides thick borders).
    cage_dash : killer cage outline dash length as a fraction of the cell.
    ascii_ops : KenKen operators as ``+ - x /`` instead of ``+ − × ÷``.
    handwritten : givens drawn hand-written (slanted font, jitter, elastic warp).
    letters16 : 16x16 values 10..16 drawn as A..G.
    margin : blank border around the grid, fraction of the image side.
    """

    font: str = "DejaVuSans"
    clue_font: str | None = None
    digit_scale: float = 0.5
    thin: float = 0.025
    thick: float = 0.075
    ink: RGB = (20, 20, 20)
    line_color: RGB = (0, 0, 0)
    paper: RGB = (255, 255, 255)
    shade: RGB = (215, 215, 215)
    diagonal: str = "shade"
    jigsaw_fill: bool = False
    cage_color: RGB = (60, 60, 60)
    cage_dash: float = 0.07
    ascii_ops: bool = False
    handwritten: bool = False
    letters16: bool = False
    margin: float = 0.04

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Style":
        d = dict(d)
        for key in ("ink", "line_color", "paper", "shade", "cage_color"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def random_style(rng: np.random.Generator, fonts: list[str] | None = None, *,
                 handwritten: float = 0.15) -> Style:
    """A random plausible print style.

    ``fonts`` restricts the font choice (e.g. a training split of
    ``available_fonts()``); ``handwritten`` is the chance of hand-written givens.
    """
    fonts = list(fonts) if fonts else list(available_fonts())
    font = _pick(rng, fonts)
    grey = int(rng.integers(0, 70))
    paper_tint = int(rng.integers(232, 256))
    warm = int(rng.integers(0, 10))
    hand = bool(rng.random() < handwritten)
    # Hand-writing uses a script/oblique font from the allowed list, else the chosen one.
    script = [f for f in SCRIPT_FONTS if f in fonts] or \
        [f for f in fonts if any(w in f for w in ("Italic", "Oblique"))] or [font]
    thin = float(rng.uniform(0.012, 0.03))
    return Style(
        font=_pick(rng, script) if hand else font,
        clue_font=font if rng.random() < 0.7 else _pick(rng, fonts),
        digit_scale=float(rng.uniform(0.4, 0.6)),
        thin=thin,
        thick=float(thin * rng.uniform(2.6, 4.5)),
        ink=(grey, grey, min(255, grey + int(rng.integers(0, 40))) if hand else grey),
        line_color=_line_colour(rng, grey),
        paper=(paper_tint, paper_tint - warm // 2, paper_tint - warm),
        shade=tuple(int(v) for v in rng.integers(190, 236, 3)) if rng.random() < 0.4 else (int(rng.integers(195, 230)),) * 3,
        diagonal="shade" if rng.random() < 0.6 else "line",
        jigsaw_fill=bool(rng.random() < 0.4),
        cage_color=(int(rng.integers(30, 110)),) * 3,
        cage_dash=float(rng.uniform(0.04, 0.1)),
        ascii_ops=bool(rng.random() < 0.2),
        handwritten=hand,
        letters16=bool(rng.random() < 0.5),
        margin=float(rng.uniform(0.02, 0.08)),
    )


def _line_colour(rng: np.random.Generator, grey: int) -> RGB:
    """Mostly black or dark grey; sometimes a dark newspaper blue, green or red."""
    if rng.random() < 0.85:
        return (grey // 2,) * 3
    hue = [(20, 40, 120), (20, 90, 50), (130, 30, 30)][int(rng.integers(3))]
    return tuple(int(v) for v in hue)


def with_font(style: Style, font: str) -> Style:
    return replace(style, font=font, clue_font=font)
