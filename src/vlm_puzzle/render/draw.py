"""Draw a :class:`PuzzleSpec` as a clean printed puzzle (numpy uint8 RGB).

Geometry (lines, shading, dashed cage outlines) is drawn with OpenCV at
sub-pixel precision with anti-aliasing; text with Pillow. Image coordinates are
pixels, x to the right, y down; the grid's corner (x0, y0) is the outer edge
of the border line's centre.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from vlm_puzzle.render.fonts import font_for_height, has_glyph, load_font
from vlm_puzzle.render.style import Style
from vlm_puzzle.spec import Cell, PuzzleSpec

_SHIFT = 4  # cv2 fixed-point bits: coordinates are multiplied by 16
OPS_UNICODE = {"add": "+", "sub": "\u2212", "mul": "\u00d7", "div": "\u00f7", "sum": ""}
OPS_ASCII = {"add": "+", "sub": "-", "mul": "x", "div": "/", "sum": ""}
PASTELS = ((255, 236, 200), (205, 232, 255), (215, 245, 210), (245, 215, 240), (250, 250, 200), (225, 220, 250))


@dataclass(frozen=True)
class GridGeometry:
    """Where the grid lies: top-left corner (x0, y0) and cell side, in pixels."""

    n: int
    x0: float
    y0: float
    cell: float

    def x(self, c: float) -> float:
        return self.x0 + c * self.cell

    def y(self, r: float) -> float:
        return self.y0 + r * self.cell

    @property
    def corners(self) -> np.ndarray:
        """(4, 2) float array: TL, TR, BR, BL as (x, y)."""
        s = self.n * self.cell
        return np.array([[self.x0, self.y0], [self.x0 + s, self.y0],
                         [self.x0 + s, self.y0 + s], [self.x0, self.y0 + s]])

    @property
    def lattice(self) -> np.ndarray:
        """(n+1, n+1, 2) float array: the (x, y) of every grid-line crossing."""
        idx = np.arange(self.n + 1) * self.cell
        xs, ys = np.meshgrid(self.x0 + idx, self.y0 + idx)
        return np.stack([xs, ys], axis=-1)


def draw_puzzle(spec: PuzzleSpec, style: Style, size_px: tuple[int, int],
                rng: np.random.Generator, text: bool = True) -> tuple[np.ndarray, GridGeometry]:
    """Render ``spec`` on a ``size_px`` = (width, height) canvas in ``style``.

    Returns the RGB image and the grid geometry. ``rng`` drives hand-writing jitter.
    ``text=False`` draws the grid, shading and cages only (no givens, no clues).
    """
    w, h = size_px
    side = min(w, h) * (1 - 2 * style.margin)
    geo = GridGeometry(spec.size, (w - side) / 2, (h - side) / 2, side / spec.size)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = style.paper
    _shade(img, spec, style, geo)
    _grid_lines(img, spec, style, geo)
    if (spec.kind == "killer" or (spec.cages and spec.kind != "kenken")) and not style.killer_solid:
        _killer_outlines(img, spec, style, geo)
    if not text:
        return img, geo
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    if not style.antialias:
        draw.fontmode = "1"  # hard-edged text: every pixel paper or ink
    _cage_labels(pil, draw, spec, style, geo)
    _givens(pil, draw, spec, style, geo, rng)
    return np.asarray(pil).copy(), geo


# ---- geometry helpers ----------------------------------------------------------------

def _poly(img: np.ndarray, pts, color, aa: bool = True) -> None:
    p = np.round(np.asarray(pts, float) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillConvexPoly(img, p, tuple(int(v) for v in color), cv2.LINE_AA if aa else cv2.LINE_8, _SHIFT)


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color, aa: bool = True) -> None:
    if not aa:  # a hard-edged fill covers both end pixels: keep a w px wide rectangle w px wide
        x1, y1 = max(x0, x1 - 1), max(y0, y1 - 1)
    _poly(img, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], color, aa)


def _segment(img, p, q, width: float, color, aa: bool = True) -> None:
    """An axis-aligned line from p to q, ``width`` px thick, with square caps."""
    (x0, y0), (x1, y1) = p, q
    t = width / 2
    _rect(img, min(x0, x1) - t, min(y0, y1) - t, max(x0, x1) + t, max(y0, y1) + t, color, aa)


def _fill_cell(img, geo: GridGeometry, cell: Cell, color, aa: bool = True) -> None:
    r, c = cell
    _rect(img, geo.x(c), geo.y(r), geo.x(c + 1), geo.y(r + 1), color, aa)


def _shade(img, spec: PuzzleSpec, style: Style, geo: GridGeometry) -> None:
    n = spec.size
    if spec.regions is not None and style.jigsaw_fill:
        colours = _region_colours(spec.regions)
        for r in range(n):
            for c in range(n):
                _fill_cell(img, geo, (r, c), PASTELS[colours[spec.regions[r][c]]], style.antialias)
    for window in spec.windows:
        for cell in window:
            _fill_cell(img, geo, cell, style.shade, style.antialias)
    if spec.diagonals and style.diagonal == "shade":
        for i in range(n):
            _fill_cell(img, geo, (i, i), style.shade, style.antialias)
            _fill_cell(img, geo, (i, n - 1 - i), style.shade, style.antialias)


def _region_colours(regions) -> dict[int, int]:
    """Greedy colouring so that touching regions get different pastels."""
    n = len(regions)
    touching: dict[int, set] = {}
    for r in range(n):
        for c in range(n):
            a = regions[r][c]
            touching.setdefault(a, set())
            for rr, cc in ((r + 1, c), (r, c + 1)):
                if rr < n and cc < n and regions[rr][cc] != a:
                    touching[a].add(regions[rr][cc])
                    touching.setdefault(regions[rr][cc], set()).add(a)
    colour: dict[int, int] = {}
    for rid in sorted(touching):
        used = {colour[o] for o in touching[rid] if o in colour}
        colour[rid] = next(i for i in range(len(PASTELS)) if i not in used) if len(used) < len(PASTELS) else 0
    return colour


def _labels(spec: PuzzleSpec, style: Style | None = None) -> list[list[int]] | None:
    """The id whose borders are drawn thick: KenKen cage (or killer cage in a solid-cage
    ``style``), jigsaw region or box."""
    n = spec.size
    if spec.kind == "kenken" or (spec.cages and style is not None and style.killer_solid):
        lab = [[-1] * n for _ in range(n)]
        for i, cage in enumerate(spec.cages):
            for r, c in cage.cells:
                lab[r][c] = i
        return lab
    if spec.regions is not None:
        return [list(row) for row in spec.regions]
    if spec.box is not None:
        br, bc = spec.box
        return [[(r // br) * 1000 + c // bc for c in range(n)] for r in range(n)]
    return None


def line_widths(style: Style, cell: float) -> tuple[float, float]:
    """(thin, thick) line widths in pixels for cells of ``cell`` px. Widths in pixels
    (``Style.thin_px``) stop at a tenth and a fifth of a small cell, as no print is darker."""
    thin = max(1.0, style.thin * cell) if style.thin_px is None else min(style.thin_px, max(1.0, 0.1 * cell))
    thick = max(2.0, style.thick * cell) if style.thick_px is None else min(style.thick_px, max(thin, 0.2 * cell))
    return thin, thick


def _grid_lines(img, spec: PuzzleSpec, style: Style, geo: GridGeometry) -> None:
    n, cell, aa = spec.size, geo.cell, style.antialias
    thin, thick = line_widths(style, cell)
    if spec.diagonals and style.diagonal == "line":
        dark = tuple(int(v * 0.7) for v in style.shade)
        for (a, b) in ((geo.corners[0], geo.corners[2]), (geo.corners[1], geo.corners[3])):
            cv2.line(img, tuple(int(v * 16) for v in a), tuple(int(v * 16) for v in b), dark,
                     max(1, int(round(thin * 1.5))), cv2.LINE_AA if aa else cv2.LINE_8, _SHIFT)
    if style.cell_lines or spec.kind != "kenken":  # a KenKen may show its cages only
        colour = style.thin_color or style.line_color
        for i in range(n + 1):
            _segment(img, (geo.x(i), geo.y(0)), (geo.x(i), geo.y(n)), thin, colour, aa)
            _segment(img, (geo.x(0), geo.y(i)), (geo.x(n), geo.y(i)), thin, colour, aa)
    lab = _labels(spec, style)
    if lab is not None:
        for r in range(n):
            for c in range(n):
                if c + 1 < n and lab[r][c] != lab[r][c + 1]:
                    _segment(img, (geo.x(c + 1), geo.y(r)), (geo.x(c + 1), geo.y(r + 1)), thick, style.line_color, aa)
                if r + 1 < n and lab[r][c] != lab[r + 1][c]:
                    _segment(img, (geo.x(c), geo.y(r + 1)), (geo.x(c + 1), geo.y(r + 1)), thick, style.line_color, aa)
    for a, b in ((0, 1), (1, 2), (2, 3), (3, 0)):
        _segment(img, geo.corners[a], geo.corners[b], thick, style.line_color, aa)


# ---- killer cages --------------------------------------------------------------------

def cage_outline_segments(cells, inset: float, geo: GridGeometry) -> list[tuple[tuple, tuple]]:
    """Straight pieces of a cage's outline drawn ``inset`` px inside its cells.

    Each boundary side of a cell yields one piece; its ends are pulled in at convex
    corners, pushed out at concave ones and left flush where the side continues.
    """
    cs = set(map(tuple, cells))
    out = []
    for r, c in cs:
        L, R, T, B = geo.x(c), geo.x(c + 1), geo.y(r), geo.y(r + 1)
        d = inset
        # (outward normal (dr, dc), along-axis neighbours at the start/end sides)
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            if (r + dr, c + dc) in cs:
                continue
            if dr:  # horizontal side
                y = T + d if dr < 0 else B - d
                x_start = _end(cs, (r, c - 1), (r + dr, c - 1), L, +d)
                x_end = _end(cs, (r, c + 1), (r + dr, c + 1), R, -d)
                out.append(((x_start, y), (x_end, y)))
            else:
                x = L + d if dc < 0 else R - d
                y_start = _end(cs, (r - 1, c), (r - 1, c + dc), T, +d)
                y_end = _end(cs, (r + 1, c), (r + 1, c + dc), B, -d)
                out.append(((x, y_start), (x, y_end)))
    return out


def _end(cs: set, along: Cell, diagonal: Cell, edge: float, d: float) -> float:
    if along not in cs:
        return edge + d  # convex corner: stop short
    if diagonal in cs:
        return edge - d  # concave corner: reach into the neighbour's outline
    return edge  # the side continues straight into the neighbour


def _dashed(img, p, q, dash: float, width: float, color, aa: bool = True) -> None:
    (x0, y0), (x1, y1) = p, q
    length = abs(x1 - x0) + abs(y1 - y0)
    if length <= 0:
        return
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    s = 0.0
    while s < length:
        e = min(length, s + dash)
        _segment(img, (x0 + ux * s, y0 + uy * s), (x0 + ux * e, y0 + uy * e), width, color, aa)
        s += 2 * dash


def _killer_outlines(img, spec: PuzzleSpec, style: Style, geo: GridGeometry) -> None:
    inset = geo.cell * 0.09
    width = max(1.0, style.thin * geo.cell * 0.9) if style.thin_px is None else max(1.0, style.thin_px * 0.9)
    dash = max(2.0, style.cage_dash * geo.cell)
    for cage in spec.cages:
        for p, q in cage_outline_segments(cage.cells, inset, geo):
            _dashed(img, p, q, dash, width, style.cage_color, style.antialias)


# ---- text ------------------------------------------------------------------------------

def symbol(v: int, style: Style, n: int) -> str:
    """How value ``v`` is printed (12x12 and 16x16: see ``Style.notation``)."""
    if n == 16 and style.notation in ("hex0", "hex0a"):
        text = "0123456789ABCDEF"[v - 1]
        return text.lower() if style.notation == "hex0a" else text
    if n in (12, 16) and style.notation in ("hexA", "hexa") and v >= 10:
        return chr((ord("a") if style.notation == "hexa" else ord("A")) + v - 10)
    if style.notation:  # "numeric", and 0-F on a 12x12
        return str(v)
    if v >= 10 and n == 16 and style.letters16:
        return chr(ord("A") + v - 10)
    return str(v)


def cage_label(cage, style: Style) -> str:
    """The clue text of a cage: ``12+``, ``3−``, ``60×``, ``2÷``, ``17`` (killer), ``4`` (fixed)."""
    font = style.clue_font or style.font
    if style.op_glyphs is not None:
        ops = dict(zip(("add", "sub", "mul", "div"), style.op_glyphs), sum="")
        ops = {k: g if not g or has_glyph(font, g) else OPS_ASCII[k] for k, g in ops.items()}
    else:
        ops = OPS_ASCII if style.ascii_ops or not all(
            has_glyph(font, ch) for ch in "\u2212\u00d7\u00f7") else OPS_UNICODE
    return f"{cage.target}{ops.get(cage.op, '') if cage.op else ''}"


def _cage_labels(pil: Image.Image, draw: ImageDraw.ImageDraw, spec: PuzzleSpec, style: Style,
                 geo: GridGeometry) -> None:
    if not spec.cages:
        return
    scale = style.clue_scale or (0.17 if spec.kind == "killer" else 0.19)
    if spec.n_givens:  # a large clue would run into the givens
        scale = min(scale, 0.3)
    base = font_for_height(style.clue_font or style.font, round(geo.cell * scale))
    for cage in spec.cages:
        r, c = min(cage.cells)
        text, font = cage_label(cage, style), base
        if style.clue_scale is not None:  # a large clue shrinks to fit its cell, as printed ones do
            while font.size > 6 and font.getlength(text) > 0.85 * geo.cell:
                font = load_font(style.clue_font or style.font, font.size - 1)
        if style.clue_offset is not None:
            clear = line_widths(style, geo.cell)[1] / 2 + 1  # never under the border it sits against
            x = geo.x(c) + max(clear, style.clue_offset[0] * geo.cell)
            y = geo.y(r) + max(clear, style.clue_offset[1] * geo.cell)
            bx, by, _, _ = draw.textbbox((x, y), text, font=font)  # the ink's corner, not the em box's
            x, y = 2 * x - bx, 2 * y - by
        else:
            # Clear of a thick cage border (half its width) as printed puzzles are.
            pad = max(0.05 * geo.cell, 0.5 * max(2.0, style.thick * geo.cell) + 0.03 * geo.cell)
            x, y = geo.x(c) + pad + geo.cell * 0.01, geo.y(r) + pad
        if spec.kind == "killer" and not style.killer_solid and style.sum_gap:  # a gap in the outline behind the sum
            x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
            bg = pil.getpixel((int(geo.x(c) + geo.cell * 0.5), int(geo.y(r) + geo.cell * 0.5)))
            draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), fill=bg)
        draw.text((x, y), text, font=font, fill=style.clue_ink or style.ink)


def _givens(pil, draw, spec: PuzzleSpec, style: Style, geo: GridGeometry,
            rng: np.random.Generator) -> None:
    n = spec.size
    longest = max(len(symbol(v, style, n)) for v in range(1, n + 1))
    height = geo.cell * style.digit_scale * (0.8 if longest > 1 else 1.0)
    if spec.cages:  # leave room for the clue in the corner
        height *= 0.85
    font = font_for_height(style.font, round(height))
    for r, row in enumerate(spec.givens):
        for c, v in enumerate(row):
            if not v:
                continue
            cx, cy = geo.x(c + 0.5), geo.y(r + 0.5)
            if spec.cages:
                cy += geo.cell * 0.06
            text = symbol(v, style, n)
            if style.handwritten:
                _handwritten(pil, text, style, geo.cell, (cx, cy), height, rng)
            else:
                draw.text((cx, cy), text, font=font, fill=style.ink, anchor="mm")


def _handwritten(pil: Image.Image, text: str, style: Style, cell: float, centre, height: float,
                 rng: np.random.Generator) -> None:
    """One hand-written-looking digit: size, slant, rotation and position jitter plus
    a smooth elastic warp of the glyph, blended onto the page in the ink colour."""
    font = font_for_height(style.font, round(height * rng.uniform(0.85, 1.12)))
    size = font.size
    pad = size
    patch = Image.new("L", (size * 2 + pad, size * 2 + pad), 0)
    ImageDraw.Draw(patch).text((patch.width / 2, patch.height / 2), text, font=font, fill=255, anchor="mm")
    a = np.asarray(patch, np.float32) / 255.0
    ph, pw = a.shape
    angle = rng.uniform(-10, 10)
    shear = rng.uniform(-0.05, 0.3)
    m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, 1.0)
    m[0, 1] += -shear
    m[0, 2] += shear * ph / 2
    a = cv2.warpAffine(a, m, (pw, ph), flags=cv2.INTER_LINEAR)
    # Elastic warp: a random displacement field smoothed to stroke scale.
    amp, sigma = size * 0.06, size * 0.25
    dx = cv2.GaussianBlur(rng.standard_normal((ph, pw)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.standard_normal((ph, pw)).astype(np.float32), (0, 0), sigma)
    scale = amp / max(1e-6, float(np.abs(np.concatenate([dx, dy])).max()))
    gx, gy = np.meshgrid(np.arange(pw, dtype=np.float32), np.arange(ph, dtype=np.float32))
    a = cv2.remap(a, gx + dx * scale, gy + dy * scale, cv2.INTER_LINEAR)
    a = np.clip(a * rng.uniform(0.8, 1.0), 0, 1)
    jx, jy = rng.uniform(-0.08, 0.08, 2) * cell
    x0 = int(round(centre[0] + jx - pw / 2))
    y0 = int(round(centre[1] + jy - ph / 2))
    page = np.asarray(pil, np.float32)
    H, W = page.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(W, x0 + pw), min(H, y0 + ph)
    if dx1 <= dx0 or dy1 <= dy0:
        return
    alpha = a[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0, None]
    region = page[dy0:dy1, dx0:dx1]
    page[dy0:dy1, dx0:dx1] = region * (1 - alpha) + np.array(style.ink, np.float32) * alpha
    pil.paste(Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)))
