"""Image size limits: what we refuse to decode, and the sizes we shrink to.

Bounds are checked from the header (PIL reads only the header until ``load``)
before any pixel is decoded, so no input takes more than a few hundred MB.
"""
from __future__ import annotations

from PIL import Image

from vlm_puzzle.errors import ImageError

MIN_SIDE = 32
MAX_ASPECT = 50  # a grid is square; a strip 50 times longer than wide holds none
# 16 MP: four times a good phone photo; more only costs time in every later stage.
MAX_PIXELS = 16_000_000
# Beyond this nothing is decoded, whatever the format (a JPEG shrinks 8x while decoding at most).
HARD_MAX_PIXELS = 400_000_000
# PIL's in-memory size of the decoded image, from the header: beyond it, refuse before decoding.
MAX_DECODE_BYTES = 320 * 2**20
MAX_INPUT_BYTES = 128 * 2**20  # compressed bytes read from a file or stdin


def check_header(im: "Image.Image", name: str, w: int, h: int) -> None:
    if w <= 0 or h <= 0:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})", code="empty_image")
    if w * h > HARD_MAX_PIXELS:
        raise ImageError(f"{name}: {w}x{h} ({w * h / 1e6:.0f} MP) is too large to decode "
                         f"(limit {HARD_MAX_PIXELS / 1e6:.0f} MP)", code="image_too_large")
    check_shape(name, w, h)


def check_shape(name: str, w: int, h: int) -> None:
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"{name}: {w}x{h} is too small to hold a readable puzzle "
                         f"(need at least {MIN_SIDE} px a side)", code="image_too_small")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageError(f"{name}: {w}x{h} is over {MAX_ASPECT} times longer than wide; "
                         "no puzzle grid is that thin", code="bad_aspect_ratio")


def _decoded_bytes(im: "Image.Image") -> int:
    """What decoding (and the first conversion) will hold, from the header alone: PIL keeps
    1 byte a pixel for L and 1, 4 for every other mode; 16-bit grey is widened to 32 bits."""
    w, h = im.size
    per_px = 1 if im.mode in ("1", "L") else 6 if im.mode.startswith("I;16") else 4
    return w * h * per_px


def check_decode_size(im: "Image.Image", name: str) -> None:
    need = _decoded_bytes(im)
    if need > MAX_DECODE_BYTES:
        w, h = im.size
        raise ImageError(f"{name}: {w}x{h} {im.mode} would take {need / 2**20:.0f} MB to decode "
                         f"(limit {MAX_DECODE_BYTES // 2**20} MB)", code="image_too_large")


def fit(w: int, h: int, max_pixels: int) -> tuple[int, int]:
    s = (max_pixels / float(w * h)) ** 0.5
    return max(1, int(w * s)), max(1, int(h * s))
