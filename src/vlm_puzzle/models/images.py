"""Images for a Qwen-VL model, bounded like ``qwen_vl_utils.fetch_image`` does it.

The image is resized so both sides are multiples of ``factor`` (patch size x merge
size: 28 for Qwen2/2.5-VL, 32 for Qwen3-VL) and its area lies in
``[min_pixels, max_pixels]``, keeping the aspect ratio. The model then sees
``(h / factor) * (w / factor)`` visual tokens.
"""
from __future__ import annotations

import math

MAX_RATIO = 200
# Image bounds in pixels (qwen-vl-utils convention), shared by the in-process wrapper and the
# serving client. A 9x9 grid at ~450-630 px a side keeps ~50-70 px per cell (cage sums and corner
# clues stay legible) for 256-512 visual tokens with Qwen2/2.5-VL (28 px per token), far under
# the 1280-token default.
DEFAULT_MIN_PIXELS = 256 * 28 * 28
DEFAULT_MAX_PIXELS = 512 * 28 * 28
# Patch size x merge size: pixels per visual token side (Qwen2/2.5-VL; Qwen3-VL uses 32).
QWEN2_FACTOR = 28


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) rounded to multiples of ``factor`` with area in [min_pixels, max_pixels]."""
    if max(height, width) / max(1, min(height, width)) > MAX_RATIO:
        from vlm_puzzle.errors import ImageError

        raise ImageError(f"image aspect ratio {max(height, width) / min(height, width):.0f}:1 is over "
                         f"{MAX_RATIO}:1; no puzzle grid is that thin", code="bad_aspect_ratio")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def bounded_bgr(source, *, factor: int, min_pixels: int, max_pixels: int):
    """Any image source ``vlm_puzzle.imageio`` accepts -> a BGR array resized within the pixel bounds."""
    import cv2

    from vlm_puzzle.imageio import load_image

    bgr = load_image(source)
    h, w = bgr.shape[:2]
    rh, rw = smart_resize(h, w, factor, min_pixels, max_pixels)
    if (rh, rw) != (h, w):
        interp = cv2.INTER_AREA if rh * rw < h * w else cv2.INTER_CUBIC
        bgr = cv2.resize(bgr, (rw, rh), interpolation=interp)
    return bgr


def to_model_image(source, *, factor: int, min_pixels: int, max_pixels: int):
    """Any image source ``vlm_puzzle.imageio`` accepts (path, bytes, PIL, BGR array)
    -> an RGB PIL image resized within the pixel bounds (:func:`bounded_bgr`: resizing
    works channel by channel, so the order of resize and colour swap does not matter)."""
    import cv2
    from PIL import Image

    bgr = bounded_bgr(source, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def png_bytes(bgr, level: int = 0) -> bytes:
    """A lossless PNG of a BGR uint8 image. ``level`` 0 writes the pixels uncompressed with no
    row filter, directly (~1 ms for 512 visual tokens where libpng's level 0 takes several:
    it still runs its filter machinery); 1-9 go through OpenCV (2-3x smaller, tens of ms)."""
    import struct
    import zlib

    import cv2
    import numpy as np

    if level:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(level)])
        if not ok:
            raise ValueError("OpenCV could not encode the image as PNG")
        return buf.tobytes()
    h, w = bgr.shape[:2]
    rows = np.zeros((h, 1 + 3 * w), np.uint8)  # each row: filter type 0 ("none"), then the pixels
    cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2RGB, dst=rows[:, 1:].reshape(h, w, 3))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(data, zlib.crc32(kind))
        return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"".join((b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header), chunk(b"IDAT", zlib.compress(rows.tobytes(), 0)),
                     chunk(b"IEND", b"")))
