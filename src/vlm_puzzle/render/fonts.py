"""Fonts the renderer can draw digits with.

``available_fonts()`` lists every installed TrueType/OpenType font that draws
the ten digits as distinct glyphs (symbol and dingbat fonts drop out), plus
``"builtin"``: Pillow's own scalable default font, always present (CI has only
DejaVu). A font is named by its file stem (``"DejaVuSans-Bold"``); any path to a
font file is accepted too.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from vlm_puzzle.errors import PuzzleError

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")
BUILTIN = "builtin"
# Families that are symbols, not text (digits map to pictures or are missing).
_NOT_TEXT = ("dingbat", "symbol", "d050000l", "emoji", "math", "music")


class FontError(PuzzleError):
    code = "bad_font"


def available_fonts() -> dict[str, str]:
    """Font name -> file path (``"builtin"`` -> ``"builtin"``), sorted by name.

    Extra directories can be listed in ``VLM_PUZZLE_FONT_DIRS`` (os.pathsep-separated).
    """
    extra = tuple(d for d in os.environ.get("VLM_PUZZLE_FONT_DIRS", "").split(os.pathsep) if d)
    return dict(_fonts_in(FONT_DIRS + extra))


# Memoised per list of folders (scanning draws every font's digits: seconds), so a changed
# VLM_PUZZLE_FONT_DIRS is seen; the font files themselves are taken not to change while a process runs.
@lru_cache(maxsize=8)
def _fonts_in(dirs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {BUILTIN: BUILTIN}
    for d in dirs:
        root = Path(d).expanduser()
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in (".ttf", ".otf") or any(w in path.name.lower() for w in _NOT_TEXT):
                continue
            if path.stem not in found and _draws_digits(str(path)):
                found[path.stem] = str(path)
    return tuple(sorted(found.items()))


def _draws_digits(path: str) -> bool:
    try:
        font = ImageFont.truetype(path, 24)
    except OSError:
        return False
    masks = {bytes(font.getmask(ch)) for ch in "0123456789"}
    return len(masks) == 10


@lru_cache(maxsize=256)
def load_font(name: str, size_px: int) -> ImageFont.FreeTypeFont:
    """The font ``name`` (a name from :func:`available_fonts` or a font file path) at ``size_px``."""
    size_px = max(4, int(size_px))
    if name == BUILTIN:
        return ImageFont.load_default(size_px)
    path = available_fonts().get(name, name)
    try:
        return ImageFont.truetype(path, size_px)
    except OSError as exc:
        raise FontError(f"cannot load font {name!r}: {exc}; see available_fonts()") from None


@lru_cache(maxsize=4096)
def has_glyph(name: str, char: str) -> bool:
    """Whether font ``name`` draws ``char`` (rather than a blank or a 'missing' box)."""
    font = load_font(name, 32)
    mask = font.getmask(char)
    if mask.size[0] == 0 or not any(bytes(mask)):
        return False
    return bytes(mask) != bytes(font.getmask("\ue000")) or mask.size != font.getmask("\ue000").size


def font_family(name: str) -> str:
    """The family part of a font name, for held-out-font splits (``DejaVuSans-Bold`` -> ``DejaVuSans``)."""
    return name.split("-")[0]


def text_font(name: str) -> str:
    """``name`` if it draws Latin letters (for page text around a grid), else a fallback
    (some fonts only carry digits next to another script)."""
    if all(has_glyph(name, ch) for ch in "Aeg"):
        return name
    return "DejaVuSerif" if "DejaVuSerif" in available_fonts() else BUILTIN


@lru_cache(maxsize=1024)
def font_for_height(name: str, digit_px: float) -> ImageFont.FreeTypeFont:
    """Font ``name`` sized so that its digit "8" is ``digit_px`` pixels tall
    (fonts differ widely in digit height per em; Z003's are half the size of DejaVu's)."""
    probe = load_font(name, 100)
    x0, y0, x1, y1 = probe.getbbox("8")
    return load_font(name, max(4, round(100 * digit_px / max(1, y1 - y0))))
