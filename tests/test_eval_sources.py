"""Third-party development data: sgt-puzzles game IDs parsed into puzzles the solver
solves uniquely, images drawn by sgt-puzzles + ghostscript (skipped where they are not
installed), and the kubiesa photo labels."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vlm_puzzle.eval import kubiesa, sgt
from vlm_puzzle.solver import solve

DATASETS = Path(os.environ.get("VLM_PUZZLE_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))

# Game IDs as sgt-keen / sgt-solo 20230122 print them (--generate 1 'PARAMS#SEED').
KEEN5 = "5:_aa_3aa_3a__b_aab_b_3a__,m5m12m60a7a7a6s1m15s3s3d2"
SOLO6 = "2x3:4_5f2a4a2a6f2a4a3a4f1_5"
SOLO16 = ("4x4:13_9a11_15_8a2c6_16c8b6b14a11a16_13b15_9b3a7b13_15c6_2a14b12_1_9a16a2c10a13_4_3e6a10_13a15b8"
          "a11c2a5_4_14a1_3a9a13b8a13_12_3_16_7a9c5b7j12_3a2_9a11_15j4b1c14a8_3_9_11_4a6b2a10a16_3a11_5_15a8c1a14"
          "b4a12_15a7e11_16_8a7c12a2a10_15_4b5a14_2c10_1b16a12b12_13b5_16a14a11b2b8c3_1c8a15_12_13a16_5")


def test_keen_id_gives_its_cages_and_a_unique_kenken():
    spec = sgt.parse_keen(KEEN5)
    assert spec.kind == "kenken" and spec.size == 5
    clues = [(min(c.cells), c.op, c.target) for c in sorted(spec.cages, key=lambda c: min(c.cells))]
    # The clues in the order of each cage's first cell, as printed: 5x 12x 60x 7+ 7+ 6+ 1- 15x 3- 3- 2/
    assert [(op, t) for _, op, t in clues] == [("mul", 5), ("mul", 12), ("mul", 60), ("add", 7), ("add", 7),
                                              ("add", 6), ("sub", 1), ("mul", 15), ("sub", 3), ("sub", 3),
                                              ("div", 2)]
    assert sum(len(c.cells) for c in spec.cages) == 25
    assert solve(spec, unique=True, timeout_s=10).status == "solved"


def test_block_structure_run_lengths():
    # A 3x3 grid split into three rows: no vertical lines, every horizontal line.
    # Vertical lines: 6 non-lines; horizontal (transposed order): per column, 2 lines.
    blocks = sgt.decode_blocks("f_6", 3)
    assert blocks == [[0, 0, 0], [3, 3, 3], [6, 6, 6]]
    with pytest.raises(sgt.SgtError):
        sgt.decode_blocks("f_", 3)


def test_solo_ids_sudoku_boxes_and_16x16_values():
    six = sgt.parse_solo(SOLO6)
    assert (six.kind, six.size, six.box) == ("sudoku", 6, (2, 3))
    assert six.givens[0][:2] == (4, 5) and six.givens[5][4:] == (1, 5)
    assert solve(six, unique=True, timeout_s=10).status == "solved"
    big = sgt.parse_solo(SOLO16)
    assert (big.size, big.box) == (16, (4, 4)) and big.givens[0][:3] == (13, 9, 0)
    assert max(v for row in big.givens for v in row) == 16


def test_solo_jigsaw_x_and_killer_ids():
    jig = sgt.parse_solo("6j:e4_3_2a4c4a1d3a2c6a4_5_2e,ababaabbaa_aedcabab_ad_")
    assert jig.kind == "jigsaw" and jig.size == 6 and jig.box is None
    assert sorted(len(g) for g in jig.box_groups()) == [6] * 6
    assert solve(jig, unique=True, timeout_s=10).status == "solved"
    killer = sgt.parse_solo("2x2k:p,b_a___aaa__a_c_,8b7_5_5c6_9e")
    assert killer.kind == "killer" and killer.size == 4 and killer.n_givens == 0
    assert sorted(c.target for c in killer.cages) == [5, 5, 6, 7, 8, 9] and sum(c.target for c in killer.cages) == 40
    assert solve(killer, unique=True, timeout_s=10).status == "solved"
    x = sgt.parse_solo("3x3x:a1_5g2b4_5b9c7_8_2_1f6a5_8k8_9a7f7_4_3_6c8b5_1b9g3_4a")
    assert x.kind == "x-sudoku" and x.diagonals and x.box == (3, 3)
    assert solve(x, unique=True, timeout_s=10).status == "solved"
    with pytest.raises(sgt.SgtError):
        sgt.parse_solo("3x3:a1_5")  # too few cells
    with pytest.raises(sgt.SgtError):
        sgt.parse_keen("5:_aa,m5")  # a structure that does not fit the size


needs_sgt = pytest.mark.skipif(not sgt.available(), reason="sgt-puzzles / ghostscript not installed")


@needs_sgt
@pytest.mark.parametrize("category,kind,size", [("kenken4", "kenken", 4), ("jigsaw9", "jigsaw", 9),
                                                ("killer9", "killer", 9), ("sudoku6", "sudoku", 6)])
def test_drawn_and_cached_with_truth(tmp_path, category, kind, size):
    import cv2
    first = sgt.build_category(category, 1, seed=5, cache=tmp_path)[0]
    assert (first.spec.kind, first.spec.size) == (kind, size)
    img = cv2.imread(str(first.path), cv2.IMREAD_GRAYSCALE)
    assert sgt.MIN_SIDE * 0.9 <= max(img.shape) <= sgt.MAX_SIDE * 1.7   # grid side plus margin
    assert img.min() < 60 and np.median(img) > 200                       # dark print on white paper
    got = np.array(first.solution)
    assert sorted(got[0]) == list(range(1, size + 1))
    assert solve(first.spec, unique=True, timeout_s=20).solution == first.solution
    again = sgt.build_category(category, 1, seed=5, cache=tmp_path)[0]   # from the cache, same truth
    assert again.game_id == first.game_id and again.path == first.path


def test_kubiesa_labels_marks_count_as_empty(tmp_path):
    rows = [[0] * 9 for _ in range(9)]
    rows[0][0], rows[4][5], rows[8][8] = 7, 10, 3
    txt = tmp_path / "a.txt"
    txt.write_text("\n".join(" ".join(f"{v:2d}" for v in r) for r in rows))
    (tmp_path / "a.jpg").write_bytes(b"")
    labels = kubiesa.read_labels(txt)
    assert labels[4][5] == kubiesa.MARKS
    photo = kubiesa.Photo(tmp_path / "a.jpg", labels)
    assert photo.expected[0][0] == 7 and photo.expected[4][5] == 0 and photo.expected[8][8] == 3
    txt.write_text("1 2 3")
    with pytest.raises(ValueError):
        kubiesa.read_labels(txt)


@pytest.mark.skipif(not (DATASETS / "kubiesa-sudoku-photos" / "val").is_dir(), reason="data set not present")
def test_kubiesa_splits_load():
    photos = kubiesa.load_split(DATASETS / "kubiesa-sudoku-photos", "val")
    assert len(photos) == 80 and all(p.path.exists() for p in photos)
    assert any(v == kubiesa.MARKS for p in photos for row in p.labels for v in row)
