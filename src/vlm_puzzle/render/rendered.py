"""Render a puzzle to an image with its ground truth, and save both.

The truth dict (JSON-ready) holds:

* ``spec``: ``spec.to_dict()``; ``solution``: N lists of N ints (or None);
* ``corners``: the grid's outer corners in image pixels, TL, TR, BR, BL as
  [x, y] (cell (0, 0) is at TL whatever the rotation);
* ``lattice``: (N+1) x (N+1) [x, y] grid-line crossings, through the same
  warp as the corners (so cells can be cut out exactly even from a curled page);
* ``cell_px``: the cell side in the clean rendering (before any photo warp);
* ``image_size``: [width, height]; ``seed``; ``photo``: the photo parameters or None;
* ``style``: the :class:`Style` used plus the resulting pixel sizes.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vlm_puzzle.errors import PuzzleError
from vlm_puzzle.render.draw import draw_puzzle, line_widths
from vlm_puzzle.render.photo import make_page, photograph
from vlm_puzzle.render.style import Style, random_style
from vlm_puzzle.spec import PuzzleSpec

MIN_PX, MAX_PX = 64, 4096


@dataclass(frozen=True)
class Rendered:
    """An image (H x W x 3 uint8 RGB) and its ground truth (see module docs)."""

    image: np.ndarray
    truth: dict

    @property
    def corners(self) -> np.ndarray:
        return np.asarray(self.truth["corners"], float)

    @property
    def is_photo(self) -> bool:
        return self.truth.get("photo") is not None


def _size(size_px) -> tuple[int, int]:
    w, h = (size_px, size_px) if np.isscalar(size_px) else tuple(size_px)
    if not all(MIN_PX <= int(v) <= MAX_PX for v in (w, h)):
        raise PuzzleError(f"image size {size_px!r} is outside {MIN_PX}..{MAX_PX} px", code="bad_size")
    return int(w), int(h)


def render_puzzle(spec: PuzzleSpec, *, seed: int, style: Style | None = None, photo: bool = False,
                  size_px: int | tuple[int, int] = 800, solution=None,
                  fonts: list[str] | None = None) -> Rendered:
    """Draw ``spec`` as a printed puzzle (or, with ``photo``, a photo of one).

    Parameters
    ----------
    seed : drives every random choice (style when not given, hand-writing, photo).
    style : how it looks; default a random style from ``seed`` (see ``random_style``).
    photo : place the print on a page and photograph it (warp, curl, light, blur,
        noise, JPEG).
    size_px : output width = height, or (width, height), in pixels (64..4096).
    solution : the solution to record in the truth (not drawn).
    fonts : font names a random style may use (e.g. a training split). The
        default, every installed font, differs between machines, and so then does
        the image for a seed; pass ``style`` or ``fonts`` for machine-independent output.
    """
    w, h = _size(size_px)
    rng = np.random.default_rng(seed)
    style = style if style is not None else random_style(rng, fonts)
    truth = {"spec": spec.to_dict(),
             "solution": [list(map(int, row)) for row in solution] if solution is not None else None,
             "seed": seed, "image_size": [w, h]}
    if not photo:
        image, geo = draw_puzzle(spec, style, (w, h), rng)
        corners, lattice = geo.corners, geo.lattice
        truth["photo"] = None
    else:
        # Print at a resolution matching the photo, so the print is as crisp as a real page.
        side = int(min(w, h) * rng.uniform(0.55, 0.8))
        clean, geo = draw_puzzle(spec, replace(style, margin=0.01), (side, side), rng)
        page, (ox, oy) = make_page(clean, rng, style.clue_font or style.font, style.paper)
        pts = np.concatenate([geo.corners.reshape(-1, 2), geo.lattice.reshape(-1, 2)]) + [ox, oy]
        image, out, params = photograph(page, pts, (w, h), rng)
        corners, lattice = out[:4], out[4:].reshape(geo.lattice.shape)
        truth["photo"] = asdict(params)
    truth["corners"] = np.round(corners, 2).tolist()
    truth["lattice"] = np.round(lattice, 2).tolist()
    truth["cell_px"] = round(geo.cell, 3)
    thin_px, thick_px = line_widths(style, geo.cell)
    truth["style"] = {**style.to_dict(), "thin_px": round(thin_px, 2), "thick_px": round(thick_px, 2),
                      "digit_px": round(geo.cell * style.digit_scale, 2)}
    return Rendered(image=image, truth=truth)


def save_rendered(rendered: Rendered, path_stem) -> tuple[Path, Path]:
    """Write ``<stem>.png`` (``<stem>.jpg`` for a photo) and ``<stem>.json``; returns both paths."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    img_path = stem.with_name(stem.name + (".jpg" if rendered.is_photo else ".png"))
    bgr = np.ascontiguousarray(rendered.image[..., ::-1])
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if rendered.is_photo else [cv2.IMWRITE_PNG_COMPRESSION, 9]
    if not cv2.imwrite(str(img_path), bgr, params):
        raise PuzzleError(f"could not write image {img_path}", code="write_failed")
    json_path = stem.with_name(stem.name + ".json")
    json_path.write_text(json.dumps({**rendered.truth, "image": img_path.name}, indent=1))
    return img_path, json_path
