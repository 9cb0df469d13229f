"""Typed errors shared by every stage.

Every problem a user can meet is one of these, with a stable ``code`` (the
``error.code`` of results; codes never change meaning)::

    PuzzleError                      internal_error, worker_crashed, out_of_memory
    ├── InputError                   the input cannot be used at all (CLI exit 2)
    │   ├── ImageError               file_not_found, is_directory, not_a_regular_file, permission,
    │   │                            name_too_long, empty_file, not_an_image, truncated_image,
    │   │                            image_too_large, empty_image, image_too_small,
    │   │                            bad_aspect_ratio, bad_array, unsupported_input, bad_image
    │   └── OptionError              bad_option (an option or argument value; also a ValueError)
    ├── SpecError                    invalid_puzzle (a puzzle description or answer; also a ValueError)
    ├── ReadError                    unreadable, unknown_rules (the picture was read, not understood)
    │   └── GridNotFoundError        no_grid
    ├── SolveError                   no_solution, multiple_solutions, verification_failed, solver_error
    │   └── DeadlineError            timeout, image_timeout
    ├── OutputError                  output_locked, not_a_results_file, out_not_regular, write_failed
    └── ModelError                   model_error, model_unavailable, model_not_found, ... (the VLM)

Results carry only the code (JSON lines cross processes), so :func:`error_type`
maps a code back to its class: callers decide by type (``issubclass(error_type(code),
InputError)``), never by a list of code strings of their own.
"""
from __future__ import annotations


class PuzzleError(Exception):
    """Base class: an input or run problem that is reported, never a traceback."""

    code = "error"
    codes: frozenset[str] = frozenset({"error", "internal_error", "worker_crashed", "out_of_memory"})

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    def __reduce__(self):  # keep the code across processes (pickle)
        return _rebuild, (type(self), str(self), self.code, dict(self.__dict__))

    @property
    def message(self) -> str:
        return str(self)


def _rebuild(cls, message, code, state):
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    exc.code = code
    return exc


class InputError(PuzzleError):
    """The input (a file, stdin, an option value) cannot be used at all."""

    code = "bad_input"
    codes = frozenset({"bad_input"})


class ImageError(InputError):
    """The input is not a readable image (missing, a directory, truncated, not an image...)."""

    code = "bad_image"
    codes = frozenset({"bad_image", "file_not_found", "is_directory", "not_a_regular_file", "permission",
                       "name_too_long", "empty_file", "not_an_image", "truncated_image", "image_too_large",
                       "empty_image", "image_too_small", "bad_aspect_ratio", "bad_array",
                       "unsupported_input"})


class OptionError(InputError, ValueError):
    """A value given to an option or argument is out of range or of the wrong kind
    (also a ValueError, what such a call raised before)."""

    code = "bad_option"
    codes = frozenset({"bad_option"})


class SpecError(PuzzleError, ValueError):
    """A puzzle description that cannot be a valid puzzle; the message names the cell,
    group or field (``field``: the key of the malformed field, when there is one)."""

    code = "invalid_puzzle"
    codes = frozenset({"invalid_puzzle"})

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message, code=code)
        self.field = field


class ReadError(PuzzleError):
    """A grid was found but its contents (digits, rules) could not be read with enough confidence."""

    code = "unreadable"
    codes = frozenset({"unreadable", "unknown_rules"})


class GridNotFoundError(ReadError):
    """The image is readable but holds no puzzle grid that could be located."""

    code = "no_grid"
    codes = frozenset({"no_grid"})


class SolveError(PuzzleError):
    """The puzzle as read has no single verified answer."""

    code = "solver_error"
    codes = frozenset({"solver_error", "no_solution", "multiple_solutions", "verification_failed"})


class DeadlineError(SolveError):
    """A time limit passed (the solver's ``timeout_s``, a batch's per-image limit)."""

    code = "timeout"
    codes = frozenset({"timeout", "image_timeout"})


class OutputError(PuzzleError):
    """A results or picture file cannot be written: locked by another run, not ours to
    overwrite, not a regular file, or the write failed (disk full)."""

    code = "write_failed"
    codes = frozenset({"write_failed", "output_locked", "not_a_results_file", "out_not_regular"})


class ModelError(PuzzleError):
    """The VLM could not be loaded or run (no weights, wrong architecture, out of memory)."""

    code = "model_error"
    codes = frozenset({"model_error", "model_unavailable", "model_not_found", "model_not_configured",
                       "model_wrong_architecture", "model_out_of_memory", "model_load_failed",
                       "model_no_device", "model_bad_request", "weights_missing", "weights_invalid"})


def _by_code() -> dict[str, type[PuzzleError]]:
    out: dict[str, type[PuzzleError]] = {}
    todo = [PuzzleError]
    while todo:  # parents first, so a subclass listing a code wins
        cls = todo.pop(0)
        for code in cls.__dict__.get("codes", ()):
            out[code] = cls
        todo.extend(cls.__subclasses__())
    return out


def error_type(code: str) -> type[PuzzleError]:
    """The class of errors that carry ``code`` (:class:`PuzzleError` for an unknown code)."""
    return _by_code().get(code, PuzzleError)


def is_input_error(code: str) -> bool:
    """Whether an error ``code`` means the input cannot be used at all (CLI exit 2)."""
    return issubclass(error_type(code), InputError)
