"""Image loading: any path, PIL image, bytes or array -> BGR uint8 (H x W x 3).

Every failure is an :class:`~vlm_puzzle.errors.ImageError` with a specific ``code``:

===================  ==========================================================
``file_not_found``   the path does not exist
``is_directory``     the path is a folder
``permission``       the file cannot be read
``empty_file``       the file has 0 bytes
``not_an_image``     the bytes are not an image format we can decode
``truncated_image``  the file ends before the image data does
``image_too_large``  the header claims more pixels than we are willing to decode
``empty_image``      an image or array with no pixels
``image_too_small``  fewer than ``MIN_SIDE`` pixels on a side: no grid can be read
``bad_array``        an array with a shape or dtype that is not an image
``unsupported_input``something that is not a path, bytes, PIL image or array
===================  ==========================================================

Huge images are downsized (JPEGs while decoding, via ``draft``) to at most
``MAX_PIXELS``; :func:`open_image` records the scale so coordinates can be mapped
back to the original. Phone photos are turned upright by their EXIF orientation.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vlm_puzzle.errors import ImageError

MIN_SIDE = 32
# 16 MP: four times a good phone photo; more only costs time in every later stage.
MAX_PIXELS = 16_000_000
# Beyond this a non-JPEG would have to be decoded in full first (~3 bytes/px): refuse.
HARD_MAX_PIXELS = 400_000_000

ImageSource = Union[str, os.PathLike, bytes, "Image.Image", np.ndarray]


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image and where it came from.

    ``scale`` is ``loaded / original`` (1.0 unless the image was downsized), so a
    point ``(x, y)`` in ``image`` is ``(x / scale, y / scale)`` in the original.
    """

    image: np.ndarray
    source: str
    original_size: tuple[int, int]  # (width, height) before downsizing
    scale: float = 1.0
    exif_rotated: bool = False

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.image.shape[:2]
        return (w, h)


def describe_source(src: Any) -> str:
    """A short printable name for an image source (used as ``image`` in results)."""
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    if isinstance(src, np.ndarray):
        return f"<array {'x'.join(map(str, src.shape))} {src.dtype}>"
    if isinstance(src, Image.Image):
        return f"<PIL.Image {src.mode} {src.width}x{src.height}>"
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    return f"<{type(src).__name__}>"


def load_image(src: ImageSource, *, max_pixels: int = MAX_PIXELS, exif: bool = True) -> np.ndarray:
    """Decode ``src`` to a BGR uint8 array of shape (H, W, 3).

    Arrays are taken to be in OpenCV's channel order (BGR / BGRA); PIL images and
    files are converted from RGB. Raises :class:`ImageError` (see module doc).
    """
    return open_image(src, max_pixels=max_pixels, exif=exif).image


def open_image(src: ImageSource, *, max_pixels: int = MAX_PIXELS, exif: bool = True) -> LoadedImage:
    """Like :func:`load_image`, with the original size and the downsizing scale.

    ``exif=False`` ignores the EXIF orientation tag (some edited photos keep a stale one).
    """
    name = describe_source(src)
    if isinstance(src, np.ndarray):
        img = _from_array(src, name)
        return _finish(img, name, (img.shape[1], img.shape[0]), 1.0, False, max_pixels)
    if isinstance(src, Image.Image):
        size = src.size
        try:
            img = _pil_to_bgr(src, name)
        except OSError as exc:  # a lazily opened, truncated file
            raise ImageError(f"{name}: the image data is truncated or damaged ({exc})",
                             code="truncated_image") from None
        return _finish(img, name, size, 1.0, False, max_pixels)
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise ImageError(f"{name}: no bytes to decode", code="empty_file")
        return _decode(io.BytesIO(bytes(src)), name, max_pixels, exif)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not os.fspath(src):
            raise ImageError("empty image path", code="file_not_found")
        if path.is_dir():
            raise ImageError(f"{path} is a directory, not an image file", code="is_directory")
        if not path.exists():
            raise ImageError(f"{path}: no such file", code="file_not_found")
        try:
            size = path.stat().st_size
            fh = open(path, "rb")
        except PermissionError:
            raise ImageError(f"{path}: permission denied", code="permission") from None
        except OSError as exc:
            raise ImageError(f"{path}: cannot open ({exc.strerror or exc})", code="file_not_found") from None
        if size == 0:
            fh.close()
            raise ImageError(f"{path} is an empty file (0 bytes)", code="empty_file")
        with fh:
            return _decode(fh, name, max_pixels, exif)
    raise ImageError(f"cannot read an image from a {type(src).__name__}; pass a path, bytes, "
                     "a PIL image or a numpy array", code="unsupported_input")


# ---- decoding ----------------------------------------------------------------

def _decode(fh, name: str, max_pixels: int, exif: bool = True) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            # We enforce our own limits below; PIL's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fh)
            w, h = im.size
            if w * h > HARD_MAX_PIXELS and im.format != "JPEG":
                raise ImageError(f"{name}: {w}x{h} ({w * h / 1e6:.0f} MP) is too large to decode "
                                 f"(limit {HARD_MAX_PIXELS / 1e6:.0f} MP)", code="image_too_large")
            if w == 0 or h == 0:
                raise ImageError(f"{name}: image has no pixels ({w}x{h})", code="empty_image")
            if im.format == "JPEG" and w * h > max_pixels:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 50 MP photo never
                # exists in memory at full size.
                # Ask for half the target: draft picks the strongest reduction whose
                # result is still at least that big, so the result lands within 4x of it.
                tw, th = _fit(w, h, max_pixels)
                im.draft("RGB", (max(1, tw // 2), max(1, th // 2)))
            im.load()
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
            img = _pil_to_bgr(im, name)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: {exc}", code="image_too_large") from None
    except UnidentifiedImageError:
        img = _cv2_fallback(fh, name)
        w, h = img.shape[1], img.shape[0]
        exif_rotated = False
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc)
        if "truncated" in msg or isinstance(exc, EOFError) or "broken data stream" in msg \
                or "unrecognized data stream" in msg or "premature end" in msg.lower():
            raise ImageError(f"{name}: the file is truncated or damaged ({msg})",
                             code="truncated_image") from None
        raise ImageError(f"{name}: cannot decode image ({msg})", code="not_an_image") from None
    # Scale relative to the (upright) original; draft may already have shrunk it.
    return _finish(img, name, (w, h), img.shape[1] / w, exif_rotated, max_pixels)


def _cv2_fallback(fh, name: str) -> np.ndarray:
    """Formats PIL does not know but OpenCV does (e.g. some TIFF/EXR variants)."""
    try:
        fh.seek(0)
        data = np.frombuffer(fh.read(), dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except Exception:
        img = None
    if img is None:
        raise ImageError(f"{name} is not an image (unrecognised file format)", code="not_an_image")
    return _from_array(img, name)


def _fit(w: int, h: int, max_pixels: int) -> tuple[int, int]:
    s = (max_pixels / float(w * h)) ** 0.5
    return max(1, int(w * s)), max(1, int(h * s))


def _finish(img: np.ndarray, name: str, original: tuple[int, int], scale: float,
            exif_rotated: bool, max_pixels: int) -> LoadedImage:
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})", code="empty_image")
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"{name}: {w}x{h} is too small to hold a readable puzzle "
                         f"(need at least {MIN_SIDE} px a side)", code="image_too_small")
    if w * h > max_pixels:
        tw, th = _fit(w, h, max_pixels)
        img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
        scale *= tw / w
    if not img.flags["C_CONTIGUOUS"]:
        img = np.ascontiguousarray(img)
    return LoadedImage(image=img, source=name, original_size=original, scale=float(scale),
                       exif_rotated=exif_rotated)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float32))
        hi = float(a.max()) if a.size else 0.0
        if hi <= 1.0:  # 0..1 float convention
            a = a * 255.0
        return np.clip(a + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        hi = int(a.max()) if a.size else 0
        if a.dtype == np.uint16 or hi > 255:
            # 16-bit data (also PIL's 32-bit "I" mode holding 16-bit PNG samples).
            top = 65535 if hi <= 65535 else hi
            return np.clip(a.astype(np.float32) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return np.clip(a, 0, 255).astype(np.uint8)
    raise ImageError(f"array of dtype {a.dtype} is not an image", code="bad_array")


def _from_array(a: np.ndarray, name: str) -> np.ndarray:
    if a.size == 0:
        raise ImageError(f"{name}: image has no pixels", code="empty_image")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return cv2.cvtColor(_to_uint8(a), cv2.COLOR_GRAY2BGR)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ImageError(f"{name}: expected H x W, H x W x 3 or H x W x 4, got shape {a.shape}",
                         code="bad_array")
    a = _to_uint8(a)
    if a.shape[2] == 4:
        return _flatten_alpha(a[:, :, :3], a[:, :, 3])
    return a


def _flatten_alpha(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # Puzzles are dark ink on light paper: transparent areas become white, not black.
    alpha = alpha.astype(np.float32)[:, :, None] / 255.0
    out = color.astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _pil_to_bgr(im: "Image.Image", name: str) -> np.ndarray:
    try:
        if im.width == 0 or im.height == 0:
            raise ImageError(f"{name}: image has no pixels ({im.width}x{im.height})", code="empty_image")
        mode = im.mode
        if mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            mode = im.mode
        elif mode == "PA":
            im = im.convert("RGBA")
            mode = "RGBA"
        if mode in ("RGBA", "LA", "La", "RGBa"):
            rgba = np.asarray(im.convert("RGBA"))
            return cv2.cvtColor(_flatten_alpha(rgba[:, :, :3], rgba[:, :, 3]), cv2.COLOR_RGB2BGR)
        if mode == "RGB":
            return cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR)
        if mode in ("L", "1"):
            return cv2.cvtColor(np.asarray(im.convert("L")), cv2.COLOR_GRAY2BGR)
        if mode.startswith("I") or mode == "F":
            return cv2.cvtColor(_to_uint8(np.asarray(im)), cv2.COLOR_GRAY2BGR)
        # CMYK, YCbCr, LAB, HSV...: let PIL do the colour science.
        return cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2BGR)
    except ImageError:
        raise
    except OSError:
        raise  # truncation surfaces here for lazily loaded images; _decode classifies it
    except Exception as exc:
        raise ImageError(f"{name}: cannot convert {im.mode} image ({exc})", code="bad_array") from None
