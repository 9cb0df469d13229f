"""Speed shortcuts of session 5 give what the plain computation gives: the clue window's line finders
(vision.clues._solid, _dashed) match a plain row-by-row reading of their definitions, a grey
picture is shrunk to the same pixels on one channel; and the row comparison used to show it."""
from __future__ import annotations

import numpy as np
import pytest

from vlm_puzzle.vision import clues as C


def _longest_runs(on):
    out = []
    for row in on:
        best = cur = 0
        for v in row:
            cur = cur + 1 if v else 0
            best = max(best, cur)
        out.append(best)
    return np.array(out)


def _flank(mask):
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    return out


def _solid_plain(on):
    return _flank(_longest_runs(on) >= C.LINE_RUN * on.shape[1]) if on.shape[1] else np.zeros(len(on), bool)


def _dashed_plain(on, thick):
    n, w = on.shape
    if w == 0:
        return np.zeros(n, bool)
    cover = on.mean(axis=1)
    spread = np.zeros(n, bool)
    for r in range(n):
        cols = np.flatnonzero(on[r])
        if len(cols) == 0:
            continue
        span = cols[-1] - cols[0] + 1
        runs = 1 + int(np.sum(np.diff(cols) > 1))
        spread[r] = (cover[r] >= C.LINE_COVER and span >= C.LINE_SPAN * w) or \
            (cover[r] >= C.DASH_COVER and runs >= 4 and span >= 0.5 * w)
    line = np.zeros(n, bool)
    side = max(2, int(round(0.5 * thick)))
    r = 0
    while r < n:
        if not spread[r]:
            r += 1
            continue
        e = r
        while e + 1 < n and spread[e + 1]:
            e += 1
        level = 0.5 * cover[r:e + 1].mean()
        above, below = cover[max(0, r - 1 - side):max(0, r - 1)], cover[e + 2:e + 2 + side]
        if e - r + 1 <= thick and all(len(a) == 0 or a.mean() < level for a in (above, below)):
            line[r:e + 1] = True
        r = e + 1
    return _flank(line)


def test_line_finders_match_their_definitions():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n, w = int(rng.integers(1, 30)), int(rng.integers(1, 60))
        on = rng.random((n, w)) < rng.random()
        for _ in range(int(rng.integers(0, 3))):   # solid and dashed lines across the window
            r = int(rng.integers(0, n))
            on[r] = True if rng.random() < 0.5 else (np.arange(w) // int(rng.integers(1, 6))) % 2 == 0
        thick = float(rng.random() * 8)
        assert np.array_equal(C._solid(on), _solid_plain(on))
        assert np.array_equal(C._dashed(on, thick), _dashed_plain(on, thick))


@pytest.mark.parametrize("shape", [(2100, 1990), (1777, 2501), (3001, 1500)])
def test_a_grey_picture_is_shrunk_to_the_same_pixels_as_a_colour_one(shape):
    import cv2

    from vlm_puzzle.imageio import fit, open_image
    rng = np.random.default_rng(shape[0])
    grey = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (5, 5), 0)
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    tw, th = fit(shape[1], shape[0], 4_000_000)
    expected = cv2.resize(bgr, (tw, th), interpolation=cv2.INTER_AREA)   # all three channels resized
    for img in (grey, bgr):
        assert np.array_equal(open_image(img, max_pixels=4_000_000).image, expected)
    colour = bgr.copy()
    colour[::7, ::5, 2] = 255 - colour[::7, ::5, 2]
    assert np.array_equal(open_image(colour, max_pixels=4_000_000).image,
                          cv2.resize(colour, (tw, th), interpolation=cv2.INTER_AREA))


def test_compare_fields_tells_float_noise_from_changed_answers():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    from compare_external import field_diffs as compare

    row = {"image": "a.png", "status": "solved", "kind": "kenken", "solved": True, "confidence": 0.97,
           "signals": {"clue_logit": 4.2}, "ms": 80.0}
    before = {"rows": {"sgt/kenken4": [row, dict(row, image="b.png")]}}
    after = {"rows": {"sgt/kenken4": [dict(row, confidence=0.97 + 1e-8, signals={"clue_logit": 4.2 + 3e-5}, ms=60.0),
                                      dict(row, image="b.png", status="no_solution", solved=False)]}}
    out = compare(before, after)
    assert (out["rows"], out["differ_discrete"], out["differ_floats_only"]) == (2, 1, 1)
    assert out["discrete"] == [("sgt/kenken4", "b.png", [".status", ".solved"])]
    assert out["largest_float_difference"]["clue_logit"] == pytest.approx(3e-5, rel=1e-3)
