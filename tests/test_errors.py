"""The error tree (issue 18): one base, typed branches, every code mapped back to its type."""
from __future__ import annotations

import pickle

from vlm_puzzle import errors
from vlm_puzzle.errors import (DeadlineError, GridNotFoundError, ImageError, InputError, ModelError,
                               OptionError, PuzzleError, ReadError, SolveError, SpecError, error_type,
                               is_input_error)
from vlm_puzzle.spec import SpecError as SpecErrorFromSpec


def _classes():
    todo, out = [PuzzleError], []
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def test_every_code_belongs_to_one_class_and_maps_back():
    seen = {}
    for cls in _classes():
        for code in cls.__dict__.get("codes", ()):
            assert code not in seen, (code, cls, seen.get(code))
            seen[code] = cls
            assert error_type(code) is cls
        if cls.__module__ == errors.__name__:
            assert cls.code in cls.__dict__["codes"], cls
    assert error_type("no_such_code") is PuzzleError


def test_input_errors_by_type():
    for code in ImageError.codes | OptionError.codes:
        assert is_input_error(code)
    for code in ("no_grid", "timeout", "invalid_puzzle", "model_not_found", "internal_error", "unknown_rules"):
        assert not is_input_error(code)
    assert issubclass(GridNotFoundError, ReadError) and issubclass(DeadlineError, SolveError)
    assert issubclass(ImageError, InputError) and issubclass(ModelError, PuzzleError)
    # SpecError is the spec module's error and still a ValueError for older callers.
    assert SpecError is SpecErrorFromSpec and issubclass(SpecError, ValueError)


def test_code_and_field_survive_pickling():
    exc = pickle.loads(pickle.dumps(ImageError("cut", code="truncated_image")))
    assert type(exc) is ImageError and exc.code == "truncated_image" and str(exc) == "cut"
    exc = pickle.loads(pickle.dumps(SpecError("bad size", field="size")))
    assert exc.field == "size" and exc.code == "invalid_puzzle"


def test_tree_is_drawn_in_the_module_docstring():
    for cls in _classes():
        if cls.__module__ == errors.__name__:
            assert cls.__name__ in errors.__doc__
