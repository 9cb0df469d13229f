"""Two ``experiments/eval_external.py --json`` runs of the same images compared row by row, every
field but ``ms``: fields other than floats (status, kind, read, solved, notes, error...) must be
equal; floats (confidence, signals) are reported by their largest difference. For changes that must
not change answers (a faster runner: logits equal to float rounding)::

    python experiments/compare_rows.py before.json after.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _diffs(x, y, path: str) -> list[tuple[str, float | None]]:
    """(field path, |difference|) of differing floats, (field path, None) of other differences."""
    if isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
        return [d for k in x for d in _diffs(x[k], y[k], f"{path}.{k}")]
    if isinstance(x, float) and isinstance(y, float):
        return [(path, abs(x - y))] if x != y else []
    return [(path, None)] if x != y else []


def compare(before: dict, after: dict) -> dict:
    rows = other = floats = 0
    discrete, largest = [], {}
    for cat, cat_rows in before["rows"].items():
        theirs = {r["image"]: r for r in after["rows"].get(cat, [])}
        for r in cat_rows:
            if r["image"] not in theirs:
                continue
            rows += 1
            d = _diffs({k: v for k, v in r.items() if k != "ms"},
                       {k: v for k, v in theirs[r["image"]].items() if k != "ms"}, "")
            if any(v is None for _, v in d):
                other += 1
                discrete.append((cat, r["image"], [p for p, v in d if v is None]))
            elif d:
                floats += 1
            for p, v in d:
                if v is not None:
                    key = p.rsplit(".", 1)[-1]
                    largest[key] = max(largest.get(key, 0.0), v)
    return {"rows": rows, "differ_discrete": other, "differ_floats_only": floats,
            "largest_float_difference": largest, "discrete": discrete}


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    out = compare(*(json.loads(Path(p).read_text()) for p in argv[:2]))
    for cat, image, fields in out["discrete"]:
        print(f"{cat} {image}: {', '.join(fields)}")
    print(f"{out['rows']} rows: {out['differ_discrete']} differ in a field other than a float, "
          f"{out['differ_floats_only']} in floats only; largest float differences: "
          + ", ".join(f"{k} {v:.1e}" for k, v in out["largest_float_difference"].items()))
    return out


if __name__ == "__main__":
    main()
