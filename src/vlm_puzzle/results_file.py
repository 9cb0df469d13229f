"""The JSON-lines results file of ``batch``: one writer, whole lines, nothing else touched.

* Only a new path, an empty file or a results file this tool wrote is accepted: every
  complete line must be a JSON object with ``image`` and ``status``. A photo, a FIFO,
  a device (``/dev/full``, a piped ``/dev/stdout``) is refused before anything is read
  or written, so it is never truncated or appended to.
* An exclusive ``flock`` is held while the batch runs: a second batch writing to the
  same file is refused at once with :class:`~vlm_puzzle.errors.OutputError` ``output_locked``.
* A line is appended with ``O_APPEND`` writes; when one fails (disk full, file size
  limit) the file is cut back to its last whole line and ``write_failed`` is raised:
  every line written before stays, none is torn.
* A last line torn by a kill (no newline) is dropped when the file is opened again.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import stat

from vlm_puzzle.errors import OutputError

_FIRST_LINE_MAX = 1 << 20  # a results line is a few KB; a "first line" longer is not one


def image_key(path: str) -> str:
    return os.path.realpath(path)


class ResultsFile:
    """``with ResultsFile(path) as rf: done = rf.done; rf.append(result_dict)``."""

    def __init__(self, path: str | os.PathLike, *, retry_errors: bool = False):
        self.path = os.fspath(path)
        self.retry_errors = retry_errors
        self.fd: int | None = None
        self.size = 0
        self.lines = 0
        self.done: set[str] = set()

    # ---- opening -------------------------------------------------------------------
    def open(self) -> "ResultsFile":
        self._check_kind()
        self.fd = self._open_locked(self.path)
        try:
            data = self._read_all()
            keep, torn = self._parse(data)
            if self.retry_errors and len(keep) != self.lines:
                self._rewrite(keep)
            elif torn:
                os.ftruncate(self.fd, len(data) - torn)  # a kill mid-write: drop the torn line
            self.size = os.fstat(self.fd).st_size
        except BaseException:
            self.close()
            raise
        return self

    def _check_kind(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(f"--out {self.path}: {exc.strerror}", code="write_failed") from None
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"--out {self.path} is a directory; give a file such as results.jsonl",
                              code="out_not_regular")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"--out {self.path} is not a regular file (a pipe or device); results go "
                              "to a .jsonl file that can be reread to resume", code="out_not_regular")

    def _open_locked(self, path: str) -> int:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot open --out {path}: {exc.strerror}", code="write_failed") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a pipe since the stat
                raise OutputError(f"--out {path} is not a regular file", code="out_not_regular")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutputError(f"--out {path} is being written by another vlm-puzzle batch; wait for "
                                      "it to finish or choose another file", code="output_locked") from None
                raise
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _read_all(self) -> bytes:
        head = os.pread(self.fd, _FIRST_LINE_MAX, 0)
        if head and not head.lstrip().startswith(b"{"):
            raise self._not_results("it does not start with a JSON object")
        if len(head) == _FIRST_LINE_MAX and b"\n" not in head:
            raise self._not_results("its first line is over 1 MB")
        chunks, pos = [head], len(head)
        while True:
            chunk = os.pread(self.fd, 1 << 24, pos)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            pos += len(chunk)

    def _parse(self, data: bytes) -> tuple[list[bytes], int]:
        """The lines to keep (all, or all but errors with retry_errors) and the length
        of a torn last line (0 if none). Refuses a file that is not results lines."""
        body, _, tail = data.rpartition(b"\n")
        if tail and not tail.lstrip().startswith(b"{"):
            raise self._not_results("its last line is not a JSON object")
        keep = []
        for i, line in enumerate(body.split(b"\n")):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except (ValueError, RecursionError):
                raise self._not_results(f"line {i + 1} is not JSON") from None
            if not (isinstance(d, dict) and isinstance(d.get("image"), str) and "status" in d):
                raise self._not_results(f"line {i + 1} is not a result (no image and status)")
            self.lines += 1
            if self.retry_errors and d.get("status") == "error":
                continue
            self.done.add(image_key(d["image"]))
            keep.append(line)
        return keep, len(tail)

    def _not_results(self, why: str) -> OutputError:
        return OutputError(f"--out {self.path} is not a results file written by vlm-puzzle ({why}); "
                           "refusing to touch it: give a new .jsonl path", code="not_a_results_file")

    def _rewrite(self, keep: list[bytes]) -> None:
        """Replace the file by ``keep`` (atomically, lock held on the new file first)."""
        tmp = self.path + ".tmp"
        fd = self._open_locked(tmp)
        try:
            os.ftruncate(fd, 0)
            _write_all(fd, b"".join(line + b"\n" for line in keep))
            os.replace(tmp, self.path)
        except BaseException:
            os.close(fd)
            raise
        os.close(self.fd)
        self.fd = fd
        self.lines = len(keep)

    # ---- writing ---------------------------------------------------------------------
    def append(self, d: dict) -> None:
        """Append one result as one whole line, or raise OutputError (file left whole)."""
        line = (json.dumps(d, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            _write_all(self.fd, line)
        except OSError as exc:
            try:
                os.ftruncate(self.fd, self.size)  # no torn line left behind
            except OSError:
                pass  # the next open drops it
            why = "the disk is full" if exc.errno == errno.ENOSPC else \
                "the file size limit is reached" if exc.errno == errno.EFBIG else exc.strerror
            raise OutputError(f"cannot write to {self.path}: {why}; its {self.lines} results are intact, "
                              "rerun the same command to continue", code="write_failed") from None
        self.size += len(line)
        self.lines += 1

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None

    def __enter__(self) -> "ResultsFile":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
