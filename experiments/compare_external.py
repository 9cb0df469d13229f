"""Two ``experiments/eval_external.py --json`` runs of the same images compared image by image:
solved in one and not the other (regressions, fixes) and kinds answered differently.

    python experiments/compare_external.py geometry.json qwen.json

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


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    before, after = (json.loads(Path(p).read_text()) for p in argv[:2])
    out = compare(before, after)
    total = {k: sum(len(v[k]) for v in out.values()) for k in ("regressions", "fixes", "kind_changed")}
    for cat, c in out.items():
        if c["regressions"] or c["fixes"] or c["kind_changed"]:
            print(f"{cat}: {json.dumps({k: v for k, v in c.items() if v and k != 'n'})}")
    print(f"{sum(c['n'] for c in out.values())} images: {json.dumps(total)}")
    return out


if __name__ == "__main__":
    main()
