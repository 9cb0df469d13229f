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
    margin : blank border around the grid, fraction of the image side (negative: the
        grid is cut at the image border).

    The fields below default to the original drawing (so old seeds render the same);
    ``random_style(..., wide=True)`` draws them:

    thin_px / thick_px : line widths in pixels, overriding ``thin`` / ``thick``.
    cell_lines : draw the thin cell lines; False (KenKen only): the cages' thick borders alone.
    thin_color : colour of the thin lines (faint grey with dark borders), else ``line_color``.
    killer_solid : killer cages drawn as thick solid borders and boxes thin, instead of
        dashed inset outlines and thick box lines.
    antialias : anti-aliased lines and text; False: hard-edged (no grey edge pixels).
    clue_scale : clue digit height as a fraction of the cell (None: 0.17 killer, 0.19 KenKen).
    clue_offset : (x, y) of the clue's top-left corner inside its cell, fractions of the cell.
    clue_ink : colour of the clue text, else ``ink``.
    op_glyphs : the KenKen operators drawn for (add, sub, mul, div), e.g. ("+", "-", "*", ":").
    notation : 12x12 and 16x16 symbols: "" (``letters16`` decides, 16x16 only), "numeric"
        (1..16), "hex0" (0..F for 1..16; 16x16 only; "hex0a": 0..f), "hexA" (1..9 then A..G),
        "hexa" (1..9 then a..g, as sgt-puzzles prints them).
    sum_gap : a killer sum cuts a gap in the dashed cage outline; False: the outline runs on
        and the sum sits inside its corner (as sgt-puzzles prints it).
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
    thin_px: float | None = None
    thick_px: float | None = None
    cell_lines: bool = True
    thin_color: RGB | None = None
    killer_solid: bool = False
    antialias: bool = True
    clue_scale: float | None = None
    clue_offset: tuple[float, float] | None = None
    clue_ink: RGB | None = None
    op_glyphs: tuple[str, str, str, str] | None = None
    notation: str = ""
    sum_gap: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Style":
        d = dict(d)
        for key in ("ink", "line_color", "paper", "shade", "cage_color", "thin_color", "clue_ink",
                    "clue_offset", "op_glyphs"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def random_style(rng: np.random.Generator, fonts: list[str] | None = None, *,
                 handwritten: float = 0.15, wide: bool = False) -> Style:
    """A random plausible print style.

    ``fonts`` restricts the font choice (e.g. a training split of
    ``available_fonts()``); ``handwritten`` is the chance of hand-written givens.
    ``wide``: also draw the styles other programs and publishers use (:func:`widen`);
    without it the draws, and so the renders of a seed, are those of earlier versions.
    """
    fonts = list(fonts) if fonts else list(available_fonts())
    if wide:
        return widen(random_style(rng, fonts, handwritten=handwritten), rng)
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


OP_GLYPHS = {"add": ("+",), "sub": ("-", "\u2212", "\u2013"), "mul": ("x", "\u00d7", "*", "X"),
             "div": ("/", "\u00f7", ":")}
NOTATIONS = ("numeric", "hex0", "hexA", "hexa")
CLUE_INKS = ((170, 20, 20), (20, 40, 160), (20, 110, 40), (120, 20, 120), (90, 90, 90))


def widen(style: Style, rng: np.random.Generator) -> Style:
    """``style`` redrawn in the wide style space: line widths of 1..6 px with thick
    1.5..5x thin (or the same width, faint cell lines, dark borders), sometimes no cell
    lines at all, solid killer cages, no / narrow / wide margin or a grid cut at the
    border, hard-edged drawing, clue text of 15..45% of the cell at varying offsets and
    in colour, killer sums inside an unbroken outline, any operator glyphs, every 12x12 and
    16x16 notation."""
    thin_px = float(rng.uniform(1.0, 6.0) if rng.random() < 0.5 else rng.uniform(1.0, 2.5))
    faint = rng.random() < 0.15
    thick_px = thin_px if faint else thin_px * float(rng.uniform(1.5, 5.0))
    m = rng.random()
    margin = 0.0 if m < 0.2 else float(-rng.uniform(0.002, 0.012)) if m < 0.3 else \
        float(rng.uniform(0.005, 0.04)) if m < 0.6 else float(rng.uniform(0.04, 0.25))
    clue_scale = float(rng.uniform(0.15, 0.45))
    colour = rng.random() < 0.2
    sum_gap = bool(rng.random() < 0.65)
    # A sum without a gap sits inside the outline's corner (the outline is inset 0.09 cell).
    offset = (0.02, 0.12, 0.01, 0.1) if sum_gap else (0.12, 0.17, 0.12, 0.17)
    return replace(
        style,
        thin_px=thin_px, thick_px=thick_px,
        cell_lines=bool(rng.random() > 0.1),
        thin_color=(int(rng.integers(150, 215)),) * 3 if faint else None,
        killer_solid=bool(rng.random() < 0.25),
        antialias=bool(rng.random() < 0.7),
        clue_scale=clue_scale,
        clue_offset=(float(rng.uniform(*offset[:2])), float(rng.uniform(*offset[2:]))),
        sum_gap=sum_gap,
        clue_ink=_pick(rng, CLUE_INKS) if colour else None,
        op_glyphs=tuple(_pick(rng, OP_GLYPHS[op]) for op in ("add", "sub", "mul", "div")),
        notation=_pick(rng, NOTATIONS),
        margin=margin,
    )


def wide_side(rng: np.random.Generator) -> int:
    """An image side for the wide style space: 250..2500 px, log-uniform (a thumbnail to a scan)."""
    return int(round(float(np.exp(rng.uniform(np.log(250), np.log(2500))))))


def _line_colour(rng: np.random.Generator, grey: int) -> RGB:
    """Mostly black or dark grey; sometimes a dark newspaper blue, green or red."""
    if rng.random() < 0.85:
        return (grey // 2,) * 3
    hue = [(20, 40, 120), (20, 90, 50), (130, 30, 30)][int(rng.integers(3))]
    return tuple(int(v) for v in hue)


def with_font(style: Style, font: str) -> Style:
    return replace(style, font=font, clue_font=font)


# The computer-drawn look of KenKen apps and puzzle generators (issue 13's benchmark style), and
# the variants the issue lists beside it: "bench" thin cell lines with cage borders 2.5..3.5x as
# thick; "cages" the cage borders alone, no cell lines; "faint" faint grey cell lines and dark cage
# borders of the same width; "ratio" thin 1..6 px and thick only 1.5..2x thin. Each adds coloured
# clue text, no / narrow / wide margin and anti-aliased or hard-edged drawing at random.
PAPER_VARIANTS = ("bench", "cages", "faint", "ratio")
_SANS = ("Sans", "Gothic", "Arial", "Helvet")


def paper_style(rng: np.random.Generator, fonts: list[str], variant: str = "bench") -> Style:
    """A computer-drawn style of ``variant`` (one of ``PAPER_VARIANTS``): a plain sans font from
    ``fonts`` (upright; any of them when none is sans), clue top-left at 20..32% of the cell,
    operators ``+ − × ÷``, no operator on single cells, killer cages dashed or solid."""
    if variant not in PAPER_VARIANTS:
        raise ValueError(f"paper variant {variant!r}: one of {PAPER_VARIANTS}")
    sans = [f for f in fonts if any(s in f for s in _SANS) and not any(
        w in f for w in ("Italic", "Oblique", "Condensed", "Narrow", "Mono"))] or list(fonts)
    font = _pick(rng, sans)
    thin_px = float(rng.uniform(1.5, 4.0) if variant in ("bench", "cages") else rng.uniform(1.0, 6.0))
    ratio = {"bench": rng.uniform(2.5, 3.5), "cages": rng.uniform(1.5, 5.0), "faint": 1.0,
             "ratio": rng.uniform(1.5, 2.0)}[variant]
    m = rng.random()
    margin = 0.0 if m < 0.15 else float(rng.uniform(0.01, 0.05)) if m < 0.75 else float(rng.uniform(0.1, 0.25))
    return Style(
        font=font, clue_font=font, digit_scale=float(rng.uniform(0.45, 0.6)),
        thin_px=thin_px, thick_px=thin_px * float(ratio),
        line_color=(0, 0, 0), ink=(0, 0, 0), paper=(255, 255, 255), cage_color=(40, 40, 40),
        cell_lines=variant != "cages",
        thin_color=(int(rng.integers(150, 215)),) * 3 if variant == "faint" else None,
        killer_solid=bool(rng.random() < 0.5) or variant == "cages",
        antialias=bool(rng.random() < 0.6),
        clue_scale=float(rng.uniform(0.2, 0.32)),
        clue_offset=(float(rng.uniform(0.04, 0.1)), float(rng.uniform(0.03, 0.08))),
        clue_ink=_pick(rng, CLUE_INKS) if rng.random() < 0.2 else None,
        op_glyphs=("+", "\u2212", "\u00d7", "\u00f7"),
        margin=margin,
    )


def paper_side(rng: np.random.Generator) -> int:
    """The benchmark's image sides: 1500..1800 px."""
    return int(rng.integers(1500, 1801))
