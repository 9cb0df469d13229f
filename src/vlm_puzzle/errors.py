"""Typed errors shared by every stage.

Each carries a stable ``code`` (used as ``error.code`` in results and by the CLI's
exit codes) and a human message that says what was wrong with which input.
"""
from __future__ import annotations


class PuzzleError(Exception):
    """Base class: an input or run problem that is reported, never a traceback."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ImageError(PuzzleError):
    """The input is not a readable image (missing, a directory, truncated, not an image...)."""

    code = "bad_image"


class GridNotFoundError(PuzzleError):
    """The image is readable but holds no puzzle grid that could be located."""

    code = "no_grid"


class ReadError(PuzzleError):
    """A grid was found but its contents could not be read with enough confidence."""

    code = "unreadable"


class ModelError(PuzzleError):
    """The VLM could not be loaded or run (no weights, wrong architecture, out of memory)."""

    code = "model_error"
