"""Two ``experiments/eval_external.py --json`` runs of the same images compared image by image:
solved in one and not the other (regressions, fixes) and kinds answered differently; with
``--fields``, every field but ``ms`` row by row, floats (confidence, signals) by their largest
difference: for changes that must not change answers (a faster runner: logits equal to float rounding).

    python experiments/compare_external.py geometry.json qwen.json
    python experiments/compare_external.py --fields before.json after.json

Used for the ``--backend auto`` decision (``models/shipped.AUTO_DEFAULT``): the model may become the
default only where, against geometry alone, it has fixes and no regressions on every set.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def compare(before: dict, after: dict) -> dict:
    out = {}
    for cat, rows in before["rows"].items():
        other = {r["image"]: r for r in after["rows"].get(cat, [])}
        pairs = [(r, other[r["image"]]) for r in rows if r["image"] in other]
        out[cat] = {"n": len(pairs),
                    "regressions": [a["image"] for a, b in pairs if a["solved"] and not b["solved"]],
                    "fixes": [a["image"] for a, b in pairs if b["solved"] and not a["solved"]],
                    "kind_changed": [(a["image"], a.get("kind"), b.get("kind")) for a, b in pairs if a.get("kind") != b.get("kind")]}
    return out


def _diffs(x, y, path: str) -> list[tuple[str, float | None]]:
    """(field path, |difference|) of differing floats, (field path, None) of other differences."""
    if isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
        return [d for k in x for d in _diffs(x[k], y[k], f"{path}.{k}")]
    if isinstance(x, float) and isinstance(y, float):
        return [(path, abs(x - y))] if x != y else []
    return [(path, None)] if x != y else []


def field_diffs(before: dict, after: dict) -> dict:
    """Every field but ``ms``, row by row: rows differing in a field other than a float (status, kind,
    read, solved, notes, error...), rows differing in floats only, the largest difference per float field."""
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
    fields = "--fields" in argv
    before, after = (json.loads(Path(p).read_text()) for p in [a for a in argv if a != "--fields"][:2])
    if fields:
        out = field_diffs(before, after)
        for cat, image, names in out["discrete"]:
            print(f"{cat} {image}: {', '.join(names)}")
        print(f"{out['rows']} rows: {out['differ_discrete']} differ in a field other than a float, "
              f"{out['differ_floats_only']} in floats only; largest float differences: "
              + ", ".join(f"{k} {v:.1e}" for k, v in out["largest_float_difference"].items()))
        return out
    out = compare(before, after)
    total = {k: sum(len(v[k]) for v in out.values()) for k in ("regressions", "fixes", "kind_changed")}
    for cat, c in out.items():
        if c["regressions"] or c["fixes"] or c["kind_changed"]:
            print(f"{cat}: {json.dumps({k: v for k, v in c.items() if v and k != 'n'})}")
    print(f"{sum(c['n'] for c in out.values())} images: {json.dumps(total)}")
    return out

if __name__ == "__main__":
    main()
