"""Which fonts the readers are trained on and which are kept from them, and the benchmark's kinds and sizes.

Training (``training/``) draws only ``TRAIN_FAMILIES``; ``DEV_FAMILIES`` (fetched, never trained on)
choose between trained models; ``HELD_OUT_FAMILIES`` are seen only by the evaluations
(``experiments/eval_variants.py``, ``training/eval_clues.py``), so their figures are for prints no
network saw. A family is a font name's part before the first "-" (:func:`~vlm_puzzle.render.fonts.font_family`).
"""
from __future__ import annotations

from vlm_puzzle.render.fonts import available_fonts, font_family

# The second and third lines are fonts from PyPI packages (training/font_packs.py): with
# VLM_PUZZLE_FONT_DIRS pointing at them they join the training set.
TRAIN_FAMILIES = ("DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "NimbusSansNarrow",
                  "NotoSansDisplay", "NotoSerifDisplay",
                  "Roboto", "SourceSansPro", "FredokaOne", "AmaticSC", "STIXGeneral", "STIXGeneralBol",
                  "STIXGeneralItalic", "STIXGeneralBolIta", "cmr10", "cmb10", "cmss10", "cmtt10", "cmti10",
                  "Vera", "VeraBd", "VeraIt", "VeraBI")
# Fetched families never trained on: the validation set for choosing a model (the held-out
# families stay unseen until the final evaluation).
DEV_FAMILIES = ("Lato", "SourceSerifPro")
# Families never used in training; Latin-script text fonts only (some installed fonts draw no
# ASCII operators, e.g. Arabic ones).
HELD_OUT_FAMILIES = ("DejaVuSansCondensed", "DejaVuSerifCondensed", "LiberationSans", "LiberationSerif",
                     "LiberationSansNarrow", "LiberationMono", "NimbusSans", "NimbusRoman", "NimbusMonoPS",
                     "FreeSans", "FreeSerif", "FreeMono", "C059", "P052", "URWGothic", "URWBookman",
                     "NotoSans", "NotoSerif", "builtin")
# File-name prefixes the synthetic digit grids (training/synth.py) never train on; eval_reader.py
# --render draws with them.
SYNTH_HELD_OUT = ("FreeSerif", "URWGothic", "NotoSerif-", "LiberationSansNarrow", "NimbusSansNarrow")

# The variant benchmark's kinds and the sizes drawn for each (the i-th puzzle of a kind takes
# SIZES[kind][i % len]). The order fixes the seeds: seed0 + 1000 * KINDS.index(kind) + i.
KINDS = ("sudoku", "x-sudoku", "windoku", "jigsaw", "killer", "kenken")
SIZES = {"sudoku": (9,), "x-sudoku": (9,), "windoku": (9,), "jigsaw": (9, 6), "killer": (9, 6),
         "kenken": (4, 5, 6, 7, 9)}


def fonts_of(families) -> list[str]:
    """Installed font names of ``families`` (DejaVu is everywhere)."""
    return [name for name in available_fonts() if font_family(name) in families]


def held_out_fonts() -> list[str]:
    """Installed fonts of ``HELD_OUT_FAMILIES`` that no training family shares."""
    return [f for f in fonts_of(HELD_OUT_FAMILIES) if font_family(f) not in TRAIN_FAMILIES]
