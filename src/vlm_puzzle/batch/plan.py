"""What a batch runs: inputs expanded into image paths, images already in the results
file skipped, options refused before anything starts."""
from __future__ import annotations

import glob
import math
import os
from typing import Sequence

from vlm_puzzle.errors import OptionError
from vlm_puzzle.imageio import IMAGE_EXTS
from vlm_puzzle.results_file import ResultsFile

def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files as given, folders searched recursively for image files, globs expanded.

    Order is stable (sorted within each input) and duplicates are dropped. A name
    that matches nothing is kept, so that it gets its own ``file_not_found`` line."""
    return scan_inputs(inputs)[0]


def scan_inputs(inputs: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    """:func:`expand_inputs`, and per extension the files of other types that folders
    held (hidden files aside): skipped, but said so (``{".heic": 2, ".pdf": 1}``)."""
    out: list[str] = []
    seen: set[str] = set()
    others: dict[str, int] = {}

    def add(p: str) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)

    for item in inputs:
        item = os.path.expanduser(str(item))
        if os.path.isdir(item):
            found = []
            for root, _, files in os.walk(item):
                for f in files:
                    ext = os.path.splitext(f)[1].lower()
                    if ext in IMAGE_EXTS:
                        found.append(os.path.join(root, f))
                    elif not f.startswith("."):
                        others[ext or "(no extension)"] = others.get(ext or "(no extension)", 0) + 1
            for p in sorted(found):
                add(p)
        elif os.path.exists(item):
            add(item)
        elif glob.has_magic(item):
            for p in sorted(glob.glob(item, recursive=True)):
                if os.path.isfile(p):
                    add(p)
        else:
            add(item)
    return out, others


def read_done(out_path: str | os.PathLike, *, retry_errors: bool = False) -> set[str]:
    """Keys of the images already in a results file; drops a torn last line in place.

    With ``retry_errors`` the lines of images that ended in ``status: "error"`` are
    removed from the file (rewritten atomically) so those images run again. Raises
    OutputError for a file that is not a results file, or one another batch holds."""
    if not os.path.exists(out_path):
        return set()
    with ResultsFile(out_path, retry_errors=retry_errors) as rf:
        return rf.done


def check_options(workers, vlm_batch, timeout_s, image_timeout_s) -> None:
    """Refuse bad values (OptionError ``bad_option``) before anything runs."""
    def whole(v, lo):
        return isinstance(v, int) and not isinstance(v, bool) and v >= lo

    def seconds(v, lo):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v < math.inf

    for name, v, ok, what in (("workers", workers, workers is None or whole(workers, 0), "a whole number >= 0"),
                              ("vlm_batch", vlm_batch, whole(vlm_batch, 1), "a whole number >= 1"),
                              ("timeout_s", timeout_s, timeout_s is None or seconds(timeout_s, 0), "seconds >= 0"),
                              ("image_timeout_s", image_timeout_s,
                               image_timeout_s is None or seconds(image_timeout_s, 1e-3), "seconds > 0")):
        if not ok:
            raise OptionError(f"{name} must be {what} (or None), not {v!r}")
