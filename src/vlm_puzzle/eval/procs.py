"""Processes a run leaves behind (Linux ``/proc``): what the fault benchmark and the batch tests
check after killing a batch."""
from __future__ import annotations

import os
from pathlib import Path


def session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid`` (a batch started with ``start_new_session``
    and every child it made)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != b"Z":  # after the name: state, ppid, pgrp, session
                out.append(int(entry))
    return out
