"""Pixels of any layout -> BGR uint8 (H x W x 3): arrays of other dtypes and channel
counts, PIL images of every mode; transparency is flattened onto white paper."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from vlm_puzzle.errors import ImageError


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


def from_array(a: np.ndarray, name: str) -> np.ndarray:
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


def pil_to_bgr(im: "Image.Image", name: str) -> np.ndarray:
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
        raise  # truncation surfaces here for lazily loaded images; decode.decode classifies it
    except Exception as exc:
        raise ImageError(f"{name}: cannot convert {im.mode} image ({exc})", code="bad_array") from None
