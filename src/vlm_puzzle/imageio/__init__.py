"""Image loading: any path, PIL image, bytes or array -> BGR uint8 (H x W x 3).

Every failure is an :class:`~vlm_puzzle.errors.ImageError` with a specific ``code``:

======================  ==========================================================
``file_not_found``      the path does not exist
``is_directory``        the path is a folder
``not_a_regular_file``  a FIFO, device or socket (read a pipe with ``-``: :func:`read_stream`)
``permission``          the file cannot be read
``name_too_long``       the path (or one of its names) is longer than the system allows
``empty_file``          the file has 0 bytes
``not_an_image``        the bytes are not an image format we can decode
``truncated_image``     an image format we know whose data ends or breaks early (any cut)
``image_too_large``     the header declares more pixels (x bit depth) than we decode, or the
                        file/stream holds more than ``MAX_INPUT_BYTES``
``empty_image``         an image or array with no pixels
``image_too_small``     fewer than ``MIN_SIDE`` pixels on a side: no grid can be read
``bad_aspect_ratio``    longer than ``MAX_ASPECT`` times its width (or the other way)
``bad_array``           an array with a shape or dtype that is not an image
``unsupported_input``   something that is not a path, bytes, PIL image or array
======================  ==========================================================

The jobs live apart: :mod:`~vlm_puzzle.imageio.files` opens files and streams safely,
:mod:`~vlm_puzzle.imageio.limits` holds the size limits, :mod:`~vlm_puzzle.imageio.decode`
decodes bytes and :mod:`~vlm_puzzle.imageio.pixels` converts pixels to BGR uint8; this
module ties them into :func:`open_image`.

Huge images are downsized (JPEGs while decoding, via ``draft``) to at most
``MAX_PIXELS``; :func:`open_image` records the scale so coordinates can be mapped
back to the original. Phone photos are turned upright by their EXIF orientation.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, Union

import cv2
import numpy as np
from PIL import Image

from vlm_puzzle.errors import ImageError
from vlm_puzzle.imageio.decode import decode
from vlm_puzzle.imageio.files import open_regular, read_stream
from vlm_puzzle.imageio.limits import (HARD_MAX_PIXELS, MAX_ASPECT, MAX_DECODE_BYTES, MAX_INPUT_BYTES, MAX_PIXELS,
                                       MIN_SIDE, check_decode_size, check_header, check_shape, fit)
from vlm_puzzle.imageio.pixels import from_array, pil_to_bgr

# The one list of file types: what a folder scan picks up, what an overlay may be written as.
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                        ".pgm", ".ppm", ".pbm"})
WRITE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

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
        img = from_array(src, name)
        return _finish(img, name, (img.shape[1], img.shape[0]), 1.0, False, max_pixels)
    if isinstance(src, Image.Image):
        size = src.size
        check_header(src, name, *size)  # a lazily opened picture is decoded here: same bounds
        check_decode_size(src, name)
        try:
            img = pil_to_bgr(src, name)
        except OSError as exc:  # a lazily opened, truncated file
            raise ImageError(f"{name}: the image data is truncated or damaged ({exc})",
                             code="truncated_image") from None
        return _finish(img, name, size, 1.0, False, max_pixels)
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise ImageError(f"{name}: no bytes to decode", code="empty_file")
        return _decoded(io.BytesIO(bytes(src)), name, max_pixels, exif)
    if isinstance(src, (str, os.PathLike)):
        with open_regular(src) as fh:
            return _decoded(fh, name, max_pixels, exif)
    raise ImageError(f"cannot read an image from a {type(src).__name__}; pass a path, bytes, "
                     "a PIL image or a numpy array", code="unsupported_input")


def _decoded(fh, name: str, max_pixels: int, exif: bool) -> LoadedImage:
    img, (w, h), exif_rotated = decode(fh, name, max_pixels, exif)
    # Scale relative to the (upright) original; draft and reduce may already have shrunk it.
    return _finish(img, name, (w, h), img.shape[1] / w, exif_rotated, max_pixels)


def _grey(img: np.ndarray) -> bool:
    """Whether a BGR image's three channels are the same (a grey picture): a sparse sample
    first, so that a colour picture costs next to nothing."""
    def same(a: np.ndarray) -> bool:
        return bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())
    return img.ndim == 3 and img.shape[2] == 3 and same(img[::31, ::29]) and same(img)


def _finish(img: np.ndarray, name: str, original: tuple[int, int], scale: float,
            exif_rotated: bool, max_pixels: int) -> LoadedImage:
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})", code="empty_image")
    check_shape(name, w, h)
    if w * h > max_pixels:
        tw, th = fit(w, h, max_pixels)
        if _grey(img):   # one channel resized: the same pixels in a third of the time
            img = cv2.cvtColor(cv2.resize(img[:, :, 0], (tw, th), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
        else:
            img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
        scale *= tw / w
    if not img.flags["C_CONTIGUOUS"]:
        img = np.ascontiguousarray(img)
    return LoadedImage(image=img, source=name, original_size=original, scale=float(scale),
                       exif_rotated=exif_rotated)


__all__ = ["LoadedImage", "ImageSource", "open_image", "load_image", "describe_source", "read_stream",
           "IMAGE_EXTS", "WRITE_EXTS", "MIN_SIDE", "MAX_ASPECT", "MAX_PIXELS", "HARD_MAX_PIXELS",
           "MAX_DECODE_BYTES", "MAX_INPUT_BYTES"]
