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

Only regular files are opened (checked with ``stat`` first, opened non-blocking so a
FIFO swapped in meanwhile cannot hang us); the size a decode will take is computed
from the header (PIL reads only the header until ``load``) before any pixel is decoded,
so no input takes more than a few hundred MB.

Huge images are downsized (JPEGs while decoding, via ``draft``) to at most
``MAX_PIXELS``; :func:`open_image` records the scale so coordinates can be mapped
back to the original. Phone photos are turned upright by their EXIF orientation.
"""
from __future__ import annotations

import errno
import io
import math
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from typing import Any, Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vlm_puzzle.errors import ImageError

# The one list of file types: what a folder scan picks up, what an overlay may be written as.
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                        ".pgm", ".ppm", ".pbm"})
WRITE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

MIN_SIDE = 32
MAX_ASPECT = 50  # a grid is square; a strip 50 times longer than wide holds none
# 16 MP: four times a good phone photo; more only costs time in every later stage.
MAX_PIXELS = 16_000_000
# Beyond this nothing is decoded, whatever the format (a JPEG shrinks 8x while decoding at most).
HARD_MAX_PIXELS = 400_000_000
# PIL's in-memory size of the decoded image, from the header: beyond it, refuse before decoding.
MAX_DECODE_BYTES = 320 * 2**20
MAX_INPUT_BYTES = 128 * 2**20  # compressed bytes read from a file or stdin
# Leading bytes of the formats we decode: such a file that fails to decode is cut or damaged.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")

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
        _check_header(src, name, *size)  # a lazily opened picture is decoded here: same bounds
        _check_decode_size(src, name)
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
        with _open_regular(src) as fh:
            return _decode(fh, name, max_pixels, exif)
    raise ImageError(f"cannot read an image from a {type(src).__name__}; pass a path, bytes, "
                     "a PIL image or a numpy array", code="unsupported_input")


def read_stream(stream, name: str = "<stdin>", limit: int = MAX_INPUT_BYTES) -> bytes:
    """All bytes of a pipe or stream (e.g. ``sys.stdin.buffer``), at most ``limit`` of them."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageError(f"{name}: more than {limit // 2**20} MB of input; no picture needs that much",
                         code="image_too_large")
    if not data:
        raise ImageError(f"{name}: no bytes to decode", code="empty_file")
    return data


_ERRNO_CODES = {errno.ENOENT: "file_not_found", errno.ENOTDIR: "file_not_found",
                errno.EACCES: "permission", errno.EPERM: "permission", errno.ENAMETOOLONG: "name_too_long",
                errno.ELOOP: "file_not_found", errno.EISDIR: "is_directory"}


def _os_error(path: str, exc: OSError) -> ImageError:
    code = _ERRNO_CODES.get(exc.errno, "file_not_found")
    what = {"file_not_found": "no such file", "permission": "permission denied",
            "name_too_long": "the name is too long for the file system",
            "is_directory": "a directory, not an image file"}[code]
    if exc.errno not in _ERRNO_CODES:
        what = f"cannot open ({exc.strerror or exc})"
    shown = path if len(path) <= 200 else path[:120] + "..." + path[-40:]
    return ImageError(f"{shown}: {what}", code=code)


def _open_regular(src):
    """A binary file object for a regular, non-empty file of at most MAX_INPUT_BYTES, or an
    ImageError. Never blocks: FIFOs and devices are refused from ``stat``, and the open is
    non-blocking in case one replaced the file since."""
    path = os.fspath(src)
    if not path:
        raise ImageError("empty image path", code="file_not_found")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(path, exc) from None
    except ValueError:  # a NUL byte in the name
        raise ImageError(f"{path!r}: a file name cannot hold a NUL byte", code="file_not_found") from None
    _check_regular(path, st)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        _check_regular(path, os.fstat(fd))
    except ImageError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_regular(path: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{path} is a directory, not an image file", code="is_directory")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else \
            "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else \
            "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        raise ImageError(f"{path} is {kind}, not an image file (to read a pipe, pass - and feed it on stdin)",
                         code="not_a_regular_file")
    if st.st_size == 0:
        raise ImageError(f"{path} is an empty file (0 bytes)", code="empty_file")
    if st.st_size > MAX_INPUT_BYTES:
        raise ImageError(f"{path}: {st.st_size / 2**20:.0f} MB is more than the "
                         f"{MAX_INPUT_BYTES // 2**20} MB an image file may have", code="image_too_large")


# ---- decoding ----------------------------------------------------------------

def _decode(fh, name: str, max_pixels: int, exif: bool = True) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            # We enforce our own limits below; PIL's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fh)  # reads the header only
            w, h = im.size
            _check_header(im, name, w, h)
            if im.format == "JPEG" and w * h > max_pixels:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a 50 MP photo never
                # exists in memory at full size.
                # Ask for half the target: draft picks the strongest reduction whose
                # result is still at least that big, so the result lands within 4x of it.
                tw, th = _fit(w, h, max_pixels)
                im.draft("RGB", (max(1, tw // 2), max(1, th // 2)))
            _check_decode_size(im, name)
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
            img = _pil_to_bgr(im, name)
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
    # Scale relative to the (upright) original; draft and reduce may already have shrunk it.
    return _finish(img, name, (w, h), img.shape[1] / w, exif_rotated, max_pixels)


def _check_header(im: "Image.Image", name: str, w: int, h: int) -> None:
    if w <= 0 or h <= 0:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})", code="empty_image")
    if w * h > HARD_MAX_PIXELS:
        raise ImageError(f"{name}: {w}x{h} ({w * h / 1e6:.0f} MP) is too large to decode "
                         f"(limit {HARD_MAX_PIXELS / 1e6:.0f} MP)", code="image_too_large")
    _check_shape(name, w, h)


def _check_shape(name: str, w: int, h: int) -> None:
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


def _check_decode_size(im: "Image.Image", name: str) -> None:
    need = _decoded_bytes(im)
    if need > MAX_DECODE_BYTES:
        w, h = im.size
        raise ImageError(f"{name}: {w}x{h} {im.mode} would take {need / 2**20:.0f} MB to decode "
                         f"(limit {MAX_DECODE_BYTES // 2**20} MB)", code="image_too_large")


def _reduce(im: "Image.Image", max_pixels: int) -> "Image.Image":
    """Shrink a decoded image by a whole factor (box filter) to at most twice ``max_pixels``,
    before the conversions, which take several times its size; _finish does the rest."""
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
    except ValueError:  # a mode reduce() does not take: _finish resizes instead
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
        _check_shape(name, w, h)
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
    return _from_array(img, name)


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


def _fit(w: int, h: int, max_pixels: int) -> tuple[int, int]:
    s = (max_pixels / float(w * h)) ** 0.5
    return max(1, int(w * s)), max(1, int(h * s))


def _finish(img: np.ndarray, name: str, original: tuple[int, int], scale: float,
            exif_rotated: bool, max_pixels: int) -> LoadedImage:
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})", code="empty_image")
    _check_shape(name, w, h)
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
