"""imageio.load_image / open_image: every kind of input, every kind of bad input."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlm_puzzle.errors import ImageError, PuzzleError
from vlm_puzzle.imageio import HARD_MAX_PIXELS, MIN_SIDE, load_image, open_image

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"


def _code(src, **kw) -> str:
    with pytest.raises(ImageError) as exc:
        load_image(src, **kw)
    assert isinstance(exc.value, PuzzleError)
    assert str(exc.value)  # a human message
    return exc.value.code


def _gradient(w=120, h=90) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 2 % 256, y * 2 % 256, (x + y) % 256]).astype(np.uint8)


# ---- good inputs -----------------------------------------------------------------

def test_photo_path_gives_bgr_uint8():
    path = sorted(PHOTOS.glob("*.jpg"))[0]
    img = load_image(path)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    with Image.open(path) as im:
        assert (img.shape[1], img.shape[0]) == im.size
        rgb = np.asarray(im.convert("RGB"))
    # BGR channel order, same pixels as PIL's RGB decode
    assert np.array_equal(img[:, :, ::-1], rgb)
    assert load_image(str(path)).shape == img.shape


def test_png_roundtrip_keeps_pixels_and_channel_order(tmp_path):
    bgr = _gradient()
    Image.fromarray(bgr[:, :, ::-1]).save(tmp_path / "g.png")
    assert np.array_equal(load_image(tmp_path / "g.png"), bgr)
    # arrays are taken as BGR as they are; PIL images and bytes are converted from RGB
    assert np.array_equal(load_image(bgr), bgr)
    assert np.array_equal(load_image(Image.fromarray(bgr[:, :, ::-1])), bgr)
    assert np.array_equal(load_image((tmp_path / "g.png").read_bytes()), bgr)


def test_grayscale_rgba_palette_16bit(tmp_path):
    gray = (np.arange(100 * 80) % 256).astype(np.uint8).reshape(80, 100)
    Image.fromarray(gray).save(tmp_path / "l.png")
    out = load_image(tmp_path / "l.png")
    assert out.shape == (80, 100, 3) and np.array_equal(out[:, :, 0], gray) and np.array_equal(out[:, :, 2], gray)

    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[:32, :, 3] = 255  # top half opaque black, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out[0, 0].tolist() == [0, 0, 0] and out[-1, -1].tolist() == [255, 255, 255]  # transparent -> paper white

    Image.fromarray(_gradient()[:, :, ::-1]).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (90, 120, 3)

    deep = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "d16.png")
    out = load_image(tmp_path / "d16.png")
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    assert abs(int(out[-1, -1, 0]) - 255) <= 1 and out[0, 0, 0] == 0
    assert np.abs(out[:, :, 0].astype(int) - np.round(deep / 257.0)).max() <= 1

    assert load_image(deep).shape == (48, 64, 3)                       # uint16 array
    assert load_image(np.ones((40, 40), np.float32))[0, 0, 0] == 255   # float 0..1
    assert load_image(np.zeros((40, 40, 1), bool)).shape == (40, 40, 3)


def test_cmyk_converted(tmp_path):
    Image.new("CMYK", (50, 40), (0, 0, 0, 0)).save(tmp_path / "c.jpg")
    out = load_image(tmp_path / "c.jpg")
    assert out.shape == (40, 50, 3) and out.mean() > 200


def test_huge_image_downsized_with_scale_recorded(tmp_path):
    # Same code path as a 50 MP photo, with a lower limit to keep the test fast.
    Image.fromarray(np.full((1500, 2000, 3), 128, np.uint8)).save(tmp_path / "big.jpg")
    li = open_image(tmp_path / "big.jpg", max_pixels=300_000)
    h, w = li.image.shape[:2]
    assert w * h <= 300_000 and w > 300 and li.original_size == (2000, 1500)
    assert li.scale == pytest.approx(w / 2000, rel=1e-6)
    assert abs(w / h - 4 / 3) < 0.02
    Image.fromarray(np.full((1500, 2000, 3), 128, np.uint8)).save(tmp_path / "big.png")
    li = open_image(tmp_path / "big.png", max_pixels=300_000)
    assert li.image.shape[0] * li.image.shape[1] <= 300_000 and li.scale < 1


def test_exif_orientation_applied_and_optional(tmp_path):
    img = Image.fromarray(np.full((60, 100, 3), 200, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees for display
    img.save(tmp_path / "r.jpg", exif=exif)
    li = open_image(tmp_path / "r.jpg")
    assert li.image.shape[:2] == (100, 60) and li.exif_rotated and li.original_size == (60, 100)
    raw = open_image(tmp_path / "r.jpg", exif=False)
    assert raw.image.shape[:2] == (60, 100) and not raw.exif_rotated


def test_jpeg_decoded_as_pil_decodes_it(tmp_path):
    # Ordinary JPEGs are decoded by OpenCV (faster); the pixels must be PIL's, bit for bit,
    # and a JPEG that PIL must turn (EXIF) or cannot trust (no end marker) goes through PIL.
    from vlm_puzzle.imageio.pixels import pil_to_bgr
    for path in sorted(PHOTOS.glob("*.jpg")):
        with Image.open(path) as im:
            want = pil_to_bgr(im.convert("RGB"), path.name)
        assert np.array_equal(open_image(path).image, want)
    data = sorted(PHOTOS.glob("*.jpg"))[0].read_bytes()
    (tmp_path / "tail.jpg").write_bytes(data + b"trailing bytes after the end marker")
    with Image.open(tmp_path / "tail.jpg") as im:
        assert np.array_equal(open_image(tmp_path / "tail.jpg").image, pil_to_bgr(im.convert("RGB"), "tail"))


# ---- bad inputs -------------------------------------------------------------------

def test_missing_file(tmp_path):
    assert _code(tmp_path / "nope.jpg") == "file_not_found"
    assert _code("") == "file_not_found"


def test_directory(tmp_path):
    assert _code(tmp_path) == "is_directory"


def test_not_an_image(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a picture\n" * 20)
    assert _code(tmp_path / "notes.jpg") == "not_an_image"
    assert _code(b"\x00\x01garbage" * 50) == "not_an_image"


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert _code(tmp_path / "empty.png") == "empty_file"
    assert _code(b"") == "empty_file"


def test_truncated_jpeg_and_png(tmp_path):
    data = sorted(PHOTOS.glob("*.jpg"))[0].read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert _code(tmp_path / "cut.jpg") == "truncated_image"
    buf = io.BytesIO()
    Image.fromarray(_gradient(300, 200)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert _code(tmp_path / "cut.png") == "truncated_image"


def test_tiny_and_empty_images(tmp_path):
    Image.new("RGB", (MIN_SIDE - 1, 200)).save(tmp_path / "thin.png")
    assert _code(tmp_path / "thin.png") == "image_too_small"
    assert _code(np.zeros((10, 10, 3), np.uint8)) == "image_too_small"
    assert _code(np.zeros((0, 40, 3), np.uint8)) == "empty_image"


def test_bad_arrays_and_types():
    assert _code(np.zeros((40, 40, 5), np.uint8)) == "bad_array"
    assert _code(np.zeros((40, 40), complex)) == "bad_array"
    assert _code(12345) == "unsupported_input"


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) \
        + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding(tmp_path):
    # A tiny file claiming 100k x 100k pixels must not be decoded (it would need 30 GB).
    side = 100_000
    assert side * side > HARD_MAX_PIXELS
    (tmp_path / "bomb.png").write_bytes(_png_header_only(side, side))
    assert _code(tmp_path / "bomb.png") == "image_too_large"


# ---- hostile inputs (issue 18) ------------------------------------------------------

def _png_declaring(w: int, h: int, depth: int, color: int) -> bytes:
    """A small PNG whose header declares w x h at ``depth`` bits, colour type ``color``."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) \
        + chunk(b"IEND", b"")


def test_fifo_and_devices_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # no writer: opening it for reading would block forever
    assert _code(fifo) == "not_a_regular_file"
    assert _code("/dev/zero") == "not_a_regular_file"


def test_name_too_long_is_typed(tmp_path):
    assert _code(tmp_path / ("x" * 300 + ".png")) == "name_too_long"


def test_thin_strip_is_typed_before_decoding(tmp_path):
    Image.new("L", (100_000, 40), 255).save(tmp_path / "strip.png")
    assert _code(tmp_path / "strip.png") == "bad_aspect_ratio"


@pytest.mark.parametrize("depth,color", [(16, 6), (16, 0), (8, 6), (8, 2)])
def test_declared_size_x_depth_bounded_before_decoding(tmp_path, depth, color):
    # 13340 x 13340 is under HARD_MAX_PIXELS but would take GBs once decoded and converted.
    side = 13_340
    assert side * side < HARD_MAX_PIXELS
    (tmp_path / "big.png").write_bytes(_png_declaring(side, side, depth, color))
    assert _code(tmp_path / "big.png") == "image_too_large"


@pytest.mark.parametrize("cut", [0.005, 0.02, 0.1, 0.3, 0.6, 0.95])
def test_truncation_recognised_at_any_cut(tmp_path, cut):
    data = sorted(PHOTOS.glob("*.jpg"))[0].read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: max(4, int(len(data) * cut))])
    assert _code(tmp_path / "cut.jpg") == "truncated_image"
    buf = io.BytesIO()
    Image.fromarray(_gradient(300, 200)).save(buf, "PNG")
    png = buf.getvalue()
    assert _code(png[: max(12, int(len(png) * cut))]) == "truncated_image"


def test_stream_read_is_bounded():
    from vlm_puzzle.imageio import read_stream

    assert read_stream(io.BytesIO(b"abc"), limit=3) == b"abc"
    with pytest.raises(ImageError) as exc:
        read_stream(io.BytesIO(b"abcd"), limit=3)
    assert exc.value.code == "image_too_large"
    with pytest.raises(ImageError) as exc:
        read_stream(io.BytesIO(b""))
    assert exc.value.code == "empty_file"


def test_big_image_shrunk_while_loading_keeps_scale(tmp_path):
    # Over twice max_pixels: reduced by a whole factor right after decoding, then resized.
    Image.fromarray(_gradient(400, 300)).save(tmp_path / "g.png")
    loaded = open_image(tmp_path / "g.png", max_pixels=10_000)
    w, h = loaded.size
    assert w * h <= 10_000 and loaded.original_size == (400, 300)
    assert abs(loaded.scale - w / 400) < 1e-9


def test_opencv_only_formats_are_bounded_by_their_header(tmp_path):
    import cv2

    ok, buf = cv2.imencode(".hdr", np.random.default_rng(0).random((64, 64, 3)).astype(np.float32))
    assert load_image(buf.tobytes()).shape == (64, 64, 3)  # PIL cannot read it; OpenCV does
    # A Radiance header declaring 20000 x 20000 (4.8 GB as floats) is refused before decoding.
    head = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 20000 +X 20000\n"
    assert _code(head + bytes(buf.tobytes()[buf.tobytes().index(b"+X 64\n") + 6:])) == "image_too_large"
    assert _code(b"PF\n20000 20000\n-1.0\n" + b"\0" * 1000) == "image_too_large"


def test_lazily_opened_pil_image_is_bounded_too():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(io.BytesIO(_png_declaring(13_340, 13_340, 16, 6)))  # header read, nothing decoded
    assert _code(im) == "image_too_large"
