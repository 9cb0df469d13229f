"""The vectorised border helpers equal their plain one-at-a-time versions, and the
benchmark's killers (vlm_puzzle.eval.puzzles) have exactly one solution."""
from __future__ import annotations

import numpy as np
import pytest

from vlm_puzzle.eval.puzzles import make_puzzle
from vlm_puzzle.solver import solve
from vlm_puzzle.vision import borders as B


def _union_find_labels(n, join_v, join_h):
    """Reference: union-find labels, 0.. in reading order of each group's first cell."""
    parent = list(range(n * n))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for r in range(n):
        for c in range(n):
            if c + 1 < n and join_v[r, c]:
                parent[find(r * n + c + 1)] = find(r * n + c)
            if r + 1 < n and join_h[r, c]:
                parent[find((r + 1) * n + c)] = find(r * n + c)
    ids: dict[int, int] = {}
    return np.array([ids.setdefault(find(i), len(ids)) for i in range(n * n)], np.int32).reshape(n, n)


def test_line_runs_equal_line_run_on_every_profile():
    rng = np.random.default_rng(0)
    for trial in range(400):
        e, w = int(rng.integers(1, 12)), int(rng.integers(1, 36))
        if trial % 3 == 0:
            profiles = rng.random((e, w))
        elif trial % 3 == 1:  # plateaus and ties
            profiles = rng.integers(0, 4, (e, w)) / 4
        else:  # blurred lines with noise
            x = np.arange(w)
            centre, width = rng.uniform(0, w, (e, 1)), rng.uniform(0.5, 4, (e, 1))
            profiles = np.exp(-((x - centre) / width) ** 2) + rng.normal(0, 0.03, (e, w))
        profiles = profiles.astype(np.float32)
        search, level = int(rng.integers(1, 6)), (0.25, 0.6)[trial % 2]
        starts, stops = B.line_runs(profiles, search, level)
        assert [B.line_run(p, search, level) for p in profiles] == list(zip(starts.tolist(), stops.tolist()))


def test_components_and_groups_match_union_find():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(1, 13))
        share = rng.random()
        join_v = rng.random((n, max(n - 1, 0))) < share
        join_h = rng.random((max(n - 1, 0), n)) < share
        labels = B.components(n, join_v, join_h)
        ref = _union_find_labels(n, join_v, join_h)
        assert labels.dtype == np.int32 and np.array_equal(labels, ref)
        groups = B.groups_of(labels)
        expected: dict[int, list] = {}
        for r in range(n):
            for c in range(n):
                expected.setdefault(int(ref[r, c]), []).append((r, c))
        assert groups == [tuple(expected[k]) for k in sorted(expected)]
        assert all(type(x) is int for g in groups for cell in g for x in cell)


@pytest.mark.parametrize("size,seed", [(6, 9004015), (6, 9004027), (6, 9004029), (9, 9004018)])
def test_benchmark_killers_have_one_solution(size, seed):
    spec, solution = make_puzzle("killer", size, seed)
    out = solve(spec, unique=True, timeout_s=30)
    assert out.status == "solved"
    assert out.solution == [list(map(int, row)) for row in solution]
    # Seeded: the same puzzle every time.
    again, _ = make_puzzle("killer", size, seed)
    assert again.givens == spec.givens and again.cages == spec.cages
