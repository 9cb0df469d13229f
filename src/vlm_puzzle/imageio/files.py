"""Reading the bytes of an image safely: regular files only, never blocking, bounded.

Only regular files are opened (checked with ``stat`` first, opened non-blocking so a
FIFO swapped in meanwhile cannot hang us), and no file or stream gives more than
``MAX_INPUT_BYTES``. Every failure is an :class:`~vlm_puzzle.errors.ImageError`.
"""
from __future__ import annotations

import errno
import os
import stat

from vlm_puzzle.errors import ImageError
from vlm_puzzle.imageio.limits import MAX_INPUT_BYTES

def read_stream(stream, name: str = "<stdin>", limit: int = MAX_INPUT_BYTES) -> bytes:
    """All bytes of a pipe or stream (e.g. ``sys.stdin.buffer``), at most ``limit`` of them."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageError(f"{name}: more than {limit // 2**20} MB of input; no picture needs that much",
                         code="image_too_large")
    if not data:
        raise ImageError(f"{name}: no bytes to decode", code="empty_file")
    return data


_ERRNO_CODES = {errno.ENOENT: "file_not_found", errno.ENOTDIR: "file_not_found",
                errno.EACCES: "permission", errno.EPERM: "permission", errno.ENAMETOOLONG: "name_too_long",
                errno.ELOOP: "file_not_found", errno.EISDIR: "is_directory"}


def _os_error(path: str, exc: OSError) -> ImageError:
    code = _ERRNO_CODES.get(exc.errno, "file_not_found")
    what = {"file_not_found": "no such file", "permission": "permission denied",
            "name_too_long": "the name is too long for the file system",
            "is_directory": "a directory, not an image file"}[code]
    if exc.errno not in _ERRNO_CODES:
        what = f"cannot open ({exc.strerror or exc})"
    shown = path if len(path) <= 200 else path[:120] + "..." + path[-40:]
    return ImageError(f"{shown}: {what}", code=code)


def open_regular(src):
    """A binary file object for a regular, non-empty file of at most MAX_INPUT_BYTES, or an
    ImageError. Never blocks: FIFOs and devices are refused from ``stat``, and the open is
    non-blocking in case one replaced the file since."""
    path = os.fspath(src)
    if not path:
        raise ImageError("empty image path", code="file_not_found")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(path, exc) from None
    except ValueError:  # a NUL byte in the name
        raise ImageError(f"{path!r}: a file name cannot hold a NUL byte", code="file_not_found") from None
    _check_regular(path, st)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        _check_regular(path, os.fstat(fd))
    except ImageError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_regular(path: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{path} is a directory, not an image file", code="is_directory")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else \
            "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else \
            "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        raise ImageError(f"{path} is {kind}, not an image file (to read a pipe, pass - and feed it on stdin)",
                         code="not_a_regular_file")
    if st.st_size == 0:
        raise ImageError(f"{path} is an empty file (0 bytes)", code="empty_file")
    if st.st_size > MAX_INPUT_BYTES:
        raise ImageError(f"{path}: {st.st_size / 2**20:.0f} MB is more than the "
                         f"{MAX_INPUT_BYTES // 2**20} MB an image file may have", code="image_too_large")
