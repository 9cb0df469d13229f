"""Import a Qwen-VL model's transformers code without the heavy modules it binds names from but never runs.

Importing ``transformers.models.qwen2_5_vl.modeling_qwen2_5_vl`` (transformers 5.x) pulls, through
transformers' own shared modules, ``torch.distributed.tensor`` (tensor parallelism, itself mostly
``sympy``), FSDP, ``torch._dynamo`` (``masking_utils``: a context manager for flex-attention masks) and
``scipy.optimize`` (detection losses): 4-5 s of the 6-7 s of imports on the H200 host. Loading runs none
of them; scipy, FSDP, distributed checkpointing and accelerate are never needed for inference, while
the first decode still imports dynamo (static cache, compile) and sympy (torch's ``torch._check``), so
for the default compiled decode the lean import moves that time from the load to the first call
(experiments/results/issue17_h200_s4).

Inside :func:`deferred`, importing one of ``DEFERRED`` (or a submodule) gives a stand-in module whose
attributes are stand-ins for the real objects: using one (calling it, reading its attributes,
entering it) imports the real module then and forwards, so any code path that needs it still gets it.
``isinstance(x, stand_in)`` is False without importing while the real module is not loaded (no
instance of a class can exist before its module is imported), and forwards once it is. The stand-ins
leave ``sys.modules`` and their parents' attributes when the block ends, so a later import (a compile
imports torch._dynamo) is the real one; :func:`resolve_for_tracing` swaps them for the real objects
before a compile traces the code holding them. If the import under the block fails for any reason (e.g.
a module subclasses a deferred class at import time), it is repeated the ordinary way.

    with deferred():
        import transformers.models.qwen2_5_vl.modeling_qwen2_5_vl
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Iterator

DEFERRED = ("torch.distributed.tensor", "torch.distributed.fsdp", "torch.distributed._composable",
            "torch.distributed.checkpoint", "torch._dynamo", "torch.nn.attention.flex_attention", "scipy",
            "accelerate")


def _deferred_name(name: str) -> bool:
    return any(name == d or name.startswith(d + ".") for d in DEFERRED)


_ACTIVE = [0]  # blocks of deferred() now running (calls made inside one are deferred too)


class _Stand:
    """A name bound from a deferred module, or what calling one at import time returned: resolves to the
    real object (``thunk()``) on first real use."""

    __slots__ = ("_thunk", "_module", "_label", "_real")

    def __init__(self, thunk, module: str, label: str) -> None:
        object.__setattr__(self, "_thunk", thunk)
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_real", None)

    def _resolve(self):
        real = object.__getattribute__(self, "_real")
        if real is None:
            if _ACTIVE[0]:  # needed while the block runs: the import in progress needs the real module
                raise ImportError(f"{object.__getattribute__(self, '_label')} used at import time")
            real = object.__getattribute__(self, "_thunk")()
            object.__setattr__(self, "_real", real)
        return real

    def _unloaded(self) -> bool:
        return object.__getattribute__(self, "_real") is None and \
            object.__getattribute__(self, "_module") not in sys.modules

    def __getattr__(self, name):
        return getattr(self._resolve(), name)

    def __call__(self, *args, **kwargs):
        if _ACTIVE[0]:  # a module-level call under the block (``Replicate()``): its result is deferred too
            return _Stand(lambda: self._resolve()(*args, **kwargs), object.__getattribute__(self, "_module"),
                          f"{object.__getattribute__(self, '_label')}(...)")
        return self._resolve()(*args, **kwargs)

    def __enter__(self):
        return self._resolve().__enter__()

    def __exit__(self, *exc):
        return self._resolve().__exit__(*exc)

    def __instancecheck__(self, obj) -> bool:
        # Nothing can be an instance of a class whose module was never imported.
        return False if self._unloaded() else isinstance(obj, self._resolve())

    def __subclasscheck__(self, cls) -> bool:
        return False if self._unloaded() else issubclass(cls, self._resolve())

    # Annotations evaluated at import time (``DeviceMesh | None``, ``Foo[int]``): no use at run time.
    def __or__(self, other):
        return self

    __ror__ = __or__

    def __getitem__(self, item):
        return self

    def __repr__(self) -> str:
        return f"<deferred {object.__getattribute__(self, '_label')}>"


def _attribute(module: str, name: str) -> _Stand:
    return _Stand(lambda: getattr(importlib.import_module(module), name), module, f"{module}.{name}")


class _StandModule(types.ModuleType):
    """A deferred module: every attribute (but submodules being imported) is a :class:`_Stand`."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        stand = _attribute(self.__name__, name)
        setattr(self, name, stand)
        return stand


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self.made: list[str] = []

    def find_spec(self, name, path=None, target=None):
        if name in sys.modules or not _deferred_name(name):
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        module = _StandModule(spec.name)
        module.__path__ = []  # a package: its submodules come through this finder too
        self.made.append(spec.name)
        return module

    def exec_module(self, module) -> None:
        pass


def _drop(names: list[str]) -> None:
    """Remove stand-in modules from sys.modules and from their parents' attributes."""
    for name in names:
        module = sys.modules.get(name)
        if isinstance(module, _StandModule):
            del sys.modules[name]
        parent, _, child = name.rpartition(".")
        if parent in sys.modules and isinstance(getattr(sys.modules[parent], child, None), _StandModule):
            delattr(sys.modules[parent], child)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside the block, ``DEFERRED`` modules not yet imported are stand-ins (see the module docstring)."""
    finder = _Finder()
    sys.meta_path.insert(0, finder)
    _ACTIVE[0] += 1
    try:
        yield
    finally:
        _ACTIVE[0] -= 1
        sys.meta_path.remove(finder)
        _drop(finder.made)


def import_lean(*names: str) -> list[types.ModuleType]:
    """``importlib.import_module`` of each name that exists under :func:`deferred`; on any failure the
    names are imported again the ordinary way."""
    names = tuple(n for n in names if _exists(n))
    try:
        with deferred():
            return [importlib.import_module(n) for n in names]
    except Exception:  # noqa: BLE001 - whatever broke, the ordinary import decides
        # Python already removed the module that failed (and its importers); what finished stays: its
        # stand-ins still resolve on use, and re-running a module with side effects (torch registers
        # operator libraries at import) would fail.
        return [importlib.import_module(n) for n in names]


# Deferred modules whose names the model code's traced paths use (masking_utils' isinstance on BlockMask...).
TRACED = ("torch._dynamo", "torch.distributed.tensor", "torch.nn.attention.flex_attention")


def resolve_for_tracing() -> int:
    """Import ``TRACED`` and replace every stand-in bound in a loaded module's globals whose real module is
    imported by now with the real object; returns how many. torch.compile's dynamo cannot trace
    ``isinstance(x, (torch.Tensor, stand_in))``; the compile imports these modules anyway."""
    for name in TRACED:
        importlib.import_module(name)
    n = 0
    for module in list(sys.modules.values()):
        names = getattr(module, "__dict__", None)
        if not isinstance(names, dict):
            continue
        for key, value in list(names.items()):
            if type(value) is _Stand and not value._unloaded():
                try:
                    names[key] = value._resolve()
                except Exception:  # noqa: BLE001 - a name the real module lacks: leave the stand-in
                    continue
                n += 1
    return n


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def model_modules(model_type: str | None) -> tuple[str, ...]:
    """The transformers modules loading a checkpoint of ``model_type`` imports: the auto classes, the type's
    modeling and processing code (those that exist)."""
    names = ("transformers", "transformers.models.auto.modeling_auto", "transformers.models.auto.processing_auto")
    if model_type:
        base = f"transformers.models.{model_type}"
        names += (f"{base}.modeling_{model_type}", f"{base}.processing_{model_type}")
    return names
