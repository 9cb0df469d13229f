"""``vlm-puzzle-tiny``: the project's own Qwen2-VL checkpoint, shipped inside the package.

A small Qwen2-VL model trained from scratch on the project's renders (``training/tiny_vlm.py``)
to answer the rule prompt; see its ``vlm_puzzle.json`` for the training run. No torch here:
only where the folder is.
"""
from __future__ import annotations

import json
from pathlib import Path

NAME = "vlm-puzzle-tiny"
SHIPPED_DIR = Path(__file__).resolve().parent / "weights" / NAME
# Whether ``--backend auto`` uses it when no weights are configured (``--backend qwen`` always
# does): only where experiments/eval_vlm_rules.py showed the merge with it losing nothing that
# geometry alone gets right.
AUTO_DEFAULT = False


def shipped_model_path() -> Path | None:
    """The shipped checkpoint's folder, or None when this install lacks it."""
    return SHIPPED_DIR if (SHIPPED_DIR / "config.json").is_file() else None


def checkpoint_view(path) -> tuple[str, int, float | None]:
    """(view, side, margin): which picture the checkpoint at ``path`` was trained on, from its
    ``vlm_puzzle.json``: ("grid", side, margin) for the located grid rectified to ``side`` px (the
    largest square within its ``max_pixels``) with ``margin`` of the side around it (``view_margin``;
    None, a record without one: ``rules.view.GRID_MARGIN``), else ("picture", 0, None): the whole
    picture, as any other Qwen-VL checkpoint is asked."""
    try:
        rec = json.loads((Path(path).expanduser() / "vlm_puzzle.json").read_text())
        if rec.get("view") == "grid":
            margin = rec.get("view_margin")
            return "grid", square_side(int(rec["max_pixels"])), None if margin is None else float(margin)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    return "picture", 0, None


def square_side(max_pixels: int, factor: int = 28) -> int:
    """The largest square side, a multiple of ``factor`` (patch x merge size), within ``max_pixels``."""
    return max(factor, int(max_pixels ** 0.5) // factor * factor)
