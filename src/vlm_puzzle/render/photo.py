"""Make a clean rendering look photographed.

The printed grid is pasted on a page with other print around it (headline,
text lines, rules), the page is laid on a background, then warped by a
perspective/rotation homography plus a slight page curl, lit unevenly with a
soft shadow, blurred, noised and JPEG-compressed. Every point of the clean
grid (corners, line crossings) is carried through the same geometry so the
ground truth stays exact. All randomness comes from the given Generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from vlm_puzzle.render.fonts import load_font, text_font

WORDS = ("puzzle", "sudoku", "daily", "logic", "solve", "grid", "easy", "hard", "medium", "weekend",
         "answers", "page", "tomorrow", "number", "every", "row", "column", "box", "contains",
         "digits", "once", "fill", "the", "each", "so", "that", "and", "in", "to", "of", "a")


@dataclass(frozen=True)
class PhotoParams:
    """The random draws of one photo (recorded in the ground truth)."""

    rotation_deg: float
    tilt: float
    curl: float
    blur_sigma: float
    noise_sigma: float
    jpeg_quality: int
    light_gain: float
    shadow: bool


def make_page(grid_img: np.ndarray, rng: np.random.Generator, font: str,
              paper: tuple[int, int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """A page holding ``grid_img`` with unrelated print around it.

    Returns the page and the (x, y) where the grid's top-left pixel was pasted.
    """
    gh, gw = grid_img.shape[:2]
    mx, top, bottom = int(gw * rng.uniform(0.12, 0.35)), int(gh * rng.uniform(0.2, 0.4)), int(gh * rng.uniform(0.1, 0.35))
    font = text_font(font)
    page = Image.new("RGB", (gw + 2 * mx, gh + top + bottom), paper)
    draw = ImageDraw.Draw(page)
    ink = (int(rng.integers(0, 60)),) * 3
    head = load_font(font, max(8, int(top * rng.uniform(0.25, 0.4))))
    draw.text((mx, top * 0.12), f"{' '.join(_words(rng, 2)).upper()} No. {int(rng.integers(1, 999))}",
              font=head, fill=ink)
    line_y = top * rng.uniform(0.6, 0.8)
    draw.line((mx * 0.5, line_y, page.width - mx * 0.5, line_y), fill=ink, width=max(1, int(gh * 0.004)))
    body = load_font(font, max(6, int(gh * rng.uniform(0.025, 0.04))))
    y = gh + top + bottom * 0.1
    while y < page.height - body.size:
        draw.text((mx * rng.uniform(0.3, 1.0), y), " ".join(_words(rng, 12)), font=body, fill=ink)
        y += body.size * 1.5
    for _ in range(int(rng.integers(0, 3))):  # stray column rules at the sides
        x = float(rng.uniform(0.1, 0.6) * mx) * (1 if rng.random() < 0.5 else -1)
        x = x if x > 0 else page.width + x
        draw.line((x, top * 0.9, x, page.height * rng.uniform(0.6, 1.0)), fill=ink, width=1)
    page_np = np.asarray(page).copy()
    page_np[top:top + gh, mx:mx + gw] = grid_img
    return page_np, (mx, top)


def _words(rng: np.random.Generator, k: int) -> list[str]:
    return [WORDS[int(i)] for i in rng.integers(0, len(WORDS), k)]


def photograph(page: np.ndarray, points: np.ndarray, out_wh: tuple[int, int],
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, PhotoParams]:
    """Photograph ``page``; ``points`` (..., 2) in page pixels are returned in
    output pixels, with the output image (``out_wh`` = width, height) and params."""
    W, H = out_wh
    ph, pw = page.shape[:2]
    params = PhotoParams(
        rotation_deg=float(rng.uniform(-12, 12) if rng.random() < 0.8 else rng.uniform(-30, 30)),
        tilt=float(rng.uniform(0.0, 0.18)),
        curl=float(rng.uniform(0.0, 0.03)),
        blur_sigma=float(rng.uniform(0.0, 1.6)),
        noise_sigma=float(rng.uniform(1.0, 7.0)),
        jpeg_quality=int(rng.integers(35, 92)),
        light_gain=float(rng.uniform(0.55, 1.0)),
        shadow=bool(rng.random() < 0.5),
    )
    curl_fn = _curl_field(pw, ph, params.curl, rng)
    draw = _Draws(rng)
    # The grid (the first 4 points) must stay fully in frame: shrink until it does.
    for shrink in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4):
        hom = _homography(pw, ph, W, H, params, draw, shrink)
        corners = _forward(np.asarray(points, float).reshape(-1, 2)[:4], hom, curl_fn)
        if np.all(corners >= [0.02 * W, 0.02 * H]) and np.all(corners <= [0.98 * W, 0.98 * H]):
            break
    # Inverse map for remap: output pixel -> page pixel = curl(H^-1(q)).
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    src = cv2.perspectiveTransform(np.stack([gx, gy], -1).reshape(-1, 1, 2), np.linalg.inv(hom)).reshape(H, W, 2)
    sx, sy = curl_fn(src[..., 0], src[..., 1])
    background = _background(W, H, rng)
    warped = cv2.remap(page, sx.astype(np.float32), sy.astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    inside = cv2.remap(np.full((ph, pw), 255, np.uint8), sx.astype(np.float32), sy.astype(np.float32),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = (inside.astype(np.float32) / 255.0)[..., None]
    img = warped.astype(np.float32) * a + background * (1 - a)
    img = _lighting(img, params, rng)
    if params.blur_sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), params.blur_sigma)
    img += rng.normal(0, params.noise_sigma, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    out_pts = _forward(points, hom, curl_fn)
    return img, out_pts, params


class _Draws:
    """The homography's random numbers, drawn once so that retries differ only in scale."""

    def __init__(self, rng: np.random.Generator):
        self.scale = rng.uniform(0.85, 1.15)
        self.pull = rng.uniform(0, 1, (4, 1))
        self.shift = rng.uniform(-0.06, 0.06, 2)


def _homography(pw: int, ph: int, W: int, H: int, params: PhotoParams, draw: _Draws,
                shrink: float) -> np.ndarray:
    """Page -> output: scale the page to fill most of the frame, rotate, then tilt
    (random corner pull towards the centre, as a camera off the normal does)."""
    scale = min(W, H) * draw.scale * shrink / max(pw, ph)
    c, s = np.cos(np.radians(params.rotation_deg)), np.sin(np.radians(params.rotation_deg))
    corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], float) - [pw / 2, ph / 2]
    pts = corners @ np.array([[c, s], [-s, c]]) * scale
    pts *= 1 - params.tilt * draw.pull  # uneven shrink of the corners
    pts += [W / 2, H / 2] + draw.shift * [W, H]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    return cv2.getPerspectiveTransform(src, pts.astype(np.float32))


def _curl_field(pw: int, ph: int, amount: float, rng: np.random.Generator):
    """A smooth page-coordinate displacement: the page bulges along one axis like
    a curled or bent sheet. Returns f(x, y) -> (x', y') on numpy arrays."""
    amp = amount * max(pw, ph)
    freq = rng.uniform(0.5, 1.2)
    phase = rng.uniform(0, np.pi)
    vertical = bool(rng.random() < 0.5)

    def f(x, y):
        if vertical:
            return x, y + amp * np.sin(np.pi * freq * x / pw + phase)
        return x + amp * np.sin(np.pi * freq * y / ph + phase), y
    return f


def _forward(points: np.ndarray, hom: np.ndarray, curl_fn) -> np.ndarray:
    """Page points -> output points: solve curl(H^-1(q)) = p for q by fixed-point
    iteration (the curl is a small smooth displacement, so this converges fast)."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    hinv = np.linalg.inv(hom)
    q = cv2.perspectiveTransform(p.reshape(-1, 1, 2), hom).reshape(-1, 2)
    for _ in range(30):
        u = cv2.perspectiveTransform(q.reshape(-1, 1, 2), hinv).reshape(-1, 2)
        cx, cy = curl_fn(u[:, 0], u[:, 1])
        err = p - np.stack([cx, cy], -1)  # how far curl(u) is from the target, page px
        q = cv2.perspectiveTransform((u + err).reshape(-1, 1, 2), hom).reshape(-1, 2)
        if np.abs(err).max() < 1e-3:
            break
    return q.reshape(np.asarray(points).shape)


def _background(W: int, H: int, rng: np.random.Generator) -> np.ndarray:
    """A table-like surface: a random base colour, low-frequency blotches, grain."""
    base = rng.uniform(40, 200, 3)
    # Blotches mostly in brightness, a little in colour: tables are not rainbows.
    blotch = rng.normal(0, 18, (6, 6, 1)) + rng.normal(0, 5, (6, 6, 3))
    low = cv2.resize(blotch.astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 6, (H, W, 1)).astype(np.float32)
    if rng.random() < 0.5:  # wood-like streaks
        streak = np.sin(np.linspace(0, rng.uniform(20, 60), W, dtype=np.float32))[None, :, None] * 8
        grain = grain + streak
    return np.clip(base + low + grain, 0, 255).astype(np.float32)


def _lighting(img: np.ndarray, params: PhotoParams, rng: np.random.Generator) -> np.ndarray:
    H, W = img.shape[:2]
    gy, gx = np.mgrid[0:H, 0:W].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * gx / W + np.sin(ang) * gy / H)
    ramp = (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))
    gain = params.light_gain + (1 - params.light_gain) * ramp
    cx, cy = rng.uniform(0, W), rng.uniform(0, H)
    spot = np.exp(-(((gx - cx) / W) ** 2 + ((gy - cy) / H) ** 2) * 2.0)
    gain = gain * (0.9 + 0.15 * spot)
    if params.shadow:
        mask = np.zeros((H, W), np.float32)
        pts = (rng.uniform(0, 1, (4, 2)) * [W, H]).astype(np.int32)
        edge = int(rng.integers(0, 4))  # shadows come in from a side of the frame
        pts[:2] = [[0, 0], [W, 0]] if edge == 0 else [[W, 0], [W, H]] if edge == 1 else \
            [[W, H], [0, H]] if edge == 2 else [[0, H], [0, 0]]
        cv2.fillPoly(mask, [cv2.convexHull(pts)], 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), max(W, H) * rng.uniform(0.02, 0.08))
        gain = gain * (1 - mask * rng.uniform(0.25, 0.5))
    tint = rng.uniform(0.92, 1.05, 3).astype(np.float32)
    return img * gain[..., None] * tint
