"""Decoding a file's bytes: PIL first (header checked before any pixel, huge JPEGs
shrunk while decoding, EXIF orientation applied), OpenCV for the formats PIL lacks;
each failure classified (truncated, not an image, too large)."""
from __future__ import annotations

import math
import struct
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vlm_puzzle.errors import ImageError
from vlm_puzzle.imageio.limits import (MAX_DECODE_BYTES, MAX_INPUT_BYTES, check_decode_size, check_header,
                                       check_shape, fit)
from vlm_puzzle.imageio.pixels import from_array, pil_to_bgr

# Leading bytes of the formats we decode: such a file that fails to decode is cut or damaged.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")


def decode(fh, name: str, max_pixels: int, exif: bool = True) -> tuple[np.ndarray, tuple[int, int], bool]:
    """(BGR image, (width, height) of the upright original, whether EXIF turned it) from
    an open file. Large images may come part-shrunk (JPEG draft, whole-factor reduce);
    the caller shrinks them the rest of the way to ``max_pixels``."""
    try:
        with warnings.catch_warnings():
            # We enforce our own limits below; PIL's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fh)  # reads the header only
            w, h = im.size
            check_header(im, name, w, h)
            if im.format == "JPEG" and w * h > max_pixels:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 50 MP photo never
                # exists in memory at full size.
                # Ask for half the target: draft picks the strongest reduction whose
                # result is still at least that big, so the result lands within 4x of it.
                tw, th = fit(w, h, max_pixels)
                im.draft("RGB", (max(1, tw // 2), max(1, th // 2)))
            check_decode_size(im, name)
            fast = _opencv_jpeg(fh, im, exif) if im.format == "JPEG" and w * h <= max_pixels else None
            if fast is not None:
                return fast, (w, h), False
            im.load()
            im = _reduce(im, max_pixels)
            exif_rotated = False
            try:
                orientation = im.getexif().get(0x0112, 1) if exif else 1
            except Exception:  # broken EXIF must not cost the picture
                orientation = 1
            if orientation not in (None, 1):
                im = ImageOps.exif_transpose(im)
                exif_rotated = True
                if orientation in (5, 6, 7, 8):
                    w, h = h, w
            img = pil_to_bgr(im, name)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: {exc}", code="image_too_large") from None
    except UnidentifiedImageError:
        img = _cv2_fallback(fh, name)
        w, h = img.shape[1], img.shape[0]
        exif_rotated = False
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as exc:
        msg = str(exc)
        if "truncated" in msg or isinstance(exc, EOFError) or "broken data stream" in msg \
                or "premature end" in msg.lower():
            raise ImageError(f"{name}: the file is truncated or damaged ({msg})",
                             code="truncated_image") from None
        if not _known_format(fh):
            raise ImageError(f"{name}: cannot decode image ({msg})", code="not_an_image") from None
        img = _cv2_fallback(fh, name)  # a variant PIL cannot decode (some TIFFs); else damaged
        w, h = img.shape[1], img.shape[0]
        exif_rotated = False
    # Draft and reduce may already have shrunk it: the caller scales relative to (w, h).
    return img, (w, h), exif_rotated


def _opencv_jpeg(fh, im: "Image.Image", exif: bool) -> np.ndarray | None:
    """An ordinary JPEG (colour, upright, whole: ending in its end-of-image marker) decoded
    by OpenCV straight to BGR, the same pixels as PIL's with no copy through PIL's
    buffers (a third of a phone photo's load time); None for anything else, which PIL
    decodes (and classifies when it is damaged)."""
    if im.mode != "RGB":
        return None
    try:
        if exif and im.getexif().get(0x0112, 1) not in (None, 1):
            return None
        fh.seek(0)
        raw = fh.read(MAX_INPUT_BYTES)
    except Exception:  # broken EXIF or an unreadable file: PIL's path says what is wrong
        return None
    if not raw.rstrip(b"\0").endswith(b"\xff\xd9"):   # cut short: PIL reports it truncated
        return None
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None or img.shape != (im.height, im.width, 3):
        return None
    return img


def _reduce(im: "Image.Image", max_pixels: int) -> "Image.Image":
    """Shrink a decoded image by a whole factor (box filter) to at most twice ``max_pixels``,
    before the conversions, which take several times its size; the caller does the rest."""
    w, h = im.size
    k = int(math.ceil(math.sqrt(w * h / (2.0 * max_pixels)))) if w * h > 2 * max_pixels else 1
    if k < 2:
        return im
    if im.mode == "1":
        im = im.convert("L")
    elif im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode.startswith("I;16"):
        im = im.convert("I")
    try:
        return im.reduce(k)
    except ValueError:  # a mode reduce() does not take: the caller resizes instead
        return im


def _known_format(fh) -> bool:
    try:
        fh.seek(0)
        head = fh.read(16)
    except (OSError, ValueError):
        return False
    return (head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or (head[:2] == b"BM" and head[6:10] == b"\0\0\0\0")                     # BMP
            or (head[:1] == b"P" and head[1:2] in b"123456" and head[2:3] in b" \t\r\n"))  # PNM


def _cv2_fallback(fh, name: str) -> np.ndarray:
    """Formats PIL does not know but OpenCV does (e.g. some TIFF/EXR variants)."""
    try:
        fh.seek(0)
        raw = fh.read(MAX_INPUT_BYTES)
    except (OSError, ValueError):
        raw = b""
    size = _float_image_size(raw[:256])
    if size is not None:  # OpenCV has no header probe: bound these from their text header
        w, h = size
        check_shape(name, w, h)
        if w * h * 12 > MAX_DECODE_BYTES:  # decoded as 3 float32 channels
            raise ImageError(f"{name}: {w}x{h} floating-point image would take {w * h * 12 / 2**20:.0f} MB "
                             f"to decode (limit {MAX_DECODE_BYTES // 2**20} MB)", code="image_too_large")
    try:
        data = np.frombuffer(raw, dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except Exception:
        img = None
    if img is None:
        if _known_format(fh):  # the start of a format we read, then bytes that do not decode
            raise ImageError(f"{name}: the file is truncated or damaged (it starts as an image, "
                             "its data does not decode)", code="truncated_image")
        raise ImageError(f"{name} is not an image (unrecognised file format)", code="not_an_image")
    return from_array(img, name)


def _float_image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the text header of the two formats only OpenCV reads here:
    Radiance HDR (``-Y 480 +X 640``) and PFM (``PF\\n640 480``); None for anything else."""
    try:
        text = head.decode("latin-1")
        if text.startswith("#?"):
            for line in text.splitlines()[1:]:
                parts = line.split()
                axes = ("-Y", "+Y", "-X", "+X")
                if len(parts) == 4 and parts[0] in axes and parts[2] in axes:
                    a, b = int(parts[1]), int(parts[3])
                    return (b, a) if parts[0][1] == "Y" else (a, b)
            return None
        if text[:2] in ("PF", "Pf"):
            w, h = text.split()[1:3]
            return int(w), int(h)
    except ValueError:
        return None
    return None
