"""Draw a solution into the photo, in perspective.

The digits are drawn upright on a flat canvas in the rectified grid's coordinates
(where every cell is a rectangle) and that canvas is warped back onto the photo with
the inverse of the extractor's perspective warp, so they lean and shrink with the page.
"""
from __future__ import annotations

import cv2
import numpy as np

from vlm_puzzle.vision.state import GridState

# Solution digits in a blue that stands out from black print (BGR).
DIGIT_COLOR = (200, 70, 20)
# A solution not proven the only one (``result.unique`` false or null): orange, a visible flag.
NOT_UNIQUE_COLOR = (0, 140, 255)
CELL_PX = 64  # canvas resolution per cell when only the corners are known


def draw_solution(image: np.ndarray, state: GridState, givens, solution, *, color=DIGIT_COLOR,
                  scale: float = 1.0) -> np.ndarray:
    """A copy of ``image`` (BGR) with ``solution`` digits drawn into the cells that are
    empty in ``givens``. ``state`` is perception's GridState (its homography and cell
    lines, or its corners). ``scale`` maps the state's pixel
    coordinates to ``image``'s (image px = state px * scale)."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    out = image.copy()
    n = len(solution)
    givens = np.asarray(givens if givens is not None else np.zeros((n, n), int))
    canvas_size, rects, to_image = _cell_geometry(state, n)
    if scale != 1.0:
        to_image = np.diag([scale, scale, 1.0]) @ to_image
    w, h = canvas_size
    canvas = np.zeros((h, w), np.uint8)
    for r in range(n):
        for c in range(n):
            if givens[r, c]:
                continue
            _put_digit(canvas, int(solution[r][c]), rects(r, c), n)
    # Warp and blend only inside the grid's bounding box (the rest of the photo is untouched).
    H, W = out.shape[:2]
    quad = cv2.perspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]).reshape(-1, 1, 2),
                                    to_image).reshape(-1, 2)
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 <= x0 or y1 <= y0:
        return out
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64)
    mask = cv2.warpPerspective(canvas, shift @ to_image, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    roi = out[y0:y1, x0:x1]
    on = mask > 0  # blend only the pixels the digits touch
    a = mask[on].astype(np.uint32)[:, None]
    ink = np.asarray(color, dtype=np.uint32).reshape(1, 3)
    roi[on] = ((roi[on].astype(np.uint32) * (255 - a) + ink * a + 127) // 255).astype(np.uint8)
    return out


def _put_digit(canvas: np.ndarray, v: int, rect, n: int) -> None:
    x0, y0, x1, y1 = rect
    cw, ch = x1 - x0, y1 - y0
    text = str(v)
    font = cv2.FONT_HERSHEY_SIMPLEX
    target_h = 0.62 * ch
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    fs = target_h / max(th, 1)
    if tw * fs > 0.8 * cw:  # two-digit symbols (10..16) must fit the cell width
        fs = 0.8 * cw / max(tw, 1)
    thick = max(1, int(round(fs * 2.2)))
    (tw, th), base = cv2.getTextSize(text, font, fs, thick)
    org = (int(round(x0 + (cw - tw) / 2)), int(round(y0 + (ch + th) / 2)))
    cv2.putText(canvas, text, org, font, fs, 255, thick, cv2.LINE_AA)


def cell_quads(state: GridState, n: int) -> np.ndarray:
    """(n, n, 4, 2) float32: each cell's corners (TL TR BR BL) in image pixels."""
    _, rects, to_image = _cell_geometry(state, n)
    quads = np.zeros((n, n, 4, 2), np.float32)
    for r in range(n):
        for c in range(n):
            x0, y0, x1, y1 = rects(r, c)
            pts = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]).reshape(-1, 1, 2)
            quads[r, c] = cv2.perspectiveTransform(pts, to_image).reshape(4, 2)
    return quads


def _cell_geometry(state: GridState, n: int):
    """(canvas size, cell rect function, canvas -> image homography): the rectified
    grid's cells (following the page's curvature) when the grid's homography is
    known, else an even grid spanned by its corners."""
    loc = state.geometry.location
    if loc is not None:
        wh, ww = state.warped.shape[:2]
        return (ww, wh), state.cell_rect, np.linalg.inv(np.asarray(loc.homography, dtype=np.float64))
    corners = np.asarray(state.corners, dtype=np.float32).reshape(4, 2)
    side = n * CELL_PX
    square = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    to_image = cv2.getPerspectiveTransform(square, corners).astype(np.float64)

    def rects(r, c):
        return c * CELL_PX, r * CELL_PX, (c + 1) * CELL_PX, (r + 1) * CELL_PX
    return (side, side), rects, to_image


def overlay_result(result, source=None, *, exif: bool = True) -> np.ndarray:
    """The solved picture at its original size with the solution drawn in.

    ``result`` is a solved :class:`~vlm_puzzle.result.SolveResult` that kept its image
    (``keep_images``). When the pipeline worked on a downsized copy, the original
    ``source`` (path, bytes, PIL image or array) is decoded again at full size (up to
    100 MP), with the same ``exif`` setting as the solve. A solution not proven unique
    is drawn in ``NOT_UNIQUE_COLOR``."""
    if not result.solved or result.loaded is None or result.state is None:
        raise ValueError("only a solved result that kept its image can be drawn")
    loaded = result.loaded
    image, scale = loaded.image, 1.0
    if loaded.scale != 1.0 and source is not None:
        from vlm_puzzle.imageio import MAX_PIXELS, open_image

        w, h = loaded.original_size
        full = open_image(source, exif=exif, max_pixels=max(MAX_PIXELS, min(w * h, 100_000_000)))
        image, scale = full.image, full.scale / loaded.scale
    color = DIGIT_COLOR if result.unique is True else NOT_UNIQUE_COLOR
    return draw_solution(image, result.state, result.givens, result.solution, scale=scale, color=color)


def save_overlay(path, image: np.ndarray, state=None, givens=None, solution=None, scale: float = 1.0) -> None:
    """Write an overlay: ``image`` already drawn (state None), or drawn here from the
    grid ``state``. Raises OSError/ValueError when it cannot be written."""
    out = image if state is None else draw_solution(image, state, givens, solution, scale=scale)
    ext = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if ext not in ("png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"):
        raise ValueError(f"overlay file must end in .png, .jpg, .bmp, .tif or .webp: {path}")
    ok, buf = cv2.imencode("." + ext, out)
    if not ok:
        raise ValueError(f"cannot encode the overlay as {ext}")
    with open(path, "wb") as fh:
        fh.write(buf.tobytes())
