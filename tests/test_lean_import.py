"""models/lean_import.py: transformers' model code imported without the heavy modules it never runs, with
the same behaviour: deferred names resolve on use, isinstance stays right, a failure falls back, and a
model loaded this way gives the tokens of one loaded the ordinary way."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vlm_puzzle.models import lean_import

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def probe(tmp_path, monkeypatch):
    """A heavy module and modules that bind names from it at import time, on a fresh path."""
    (tmp_path / "lp_heavy.py").write_text(textwrap.dedent("""
        import contextlib
        class Thing:
            pass
        def make():
            return Thing()
        @contextlib.contextmanager
        def scope():
            yield "inside"
    """))
    (tmp_path / "lp_user.py").write_text(textwrap.dedent("""
        from lp_heavy import Thing, make, scope
        DEFAULT = make()                      # a call at import time: deferred too
        def annotated(x: Thing | None = None) -> Thing:
            return x
        def build():
            return make()
        def is_thing(x):
            return isinstance(x, Thing)
        def enter():
            with scope() as got:
                return got
    """))
    (tmp_path / "lp_sub.py").write_text("from lp_heavy import Thing\nclass Sub(Thing):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(lean_import, "DEFERRED", ("lp_heavy",))
    yield
    for name in ("lp_heavy", "lp_user", "lp_sub"):
        sys.modules.pop(name, None)


def test_deferred_names_resolve_on_first_use(probe):
    [user] = lean_import.import_lean("lp_user")
    assert "lp_heavy" not in sys.modules, "importing the user did not import the heavy module"
    assert not user.is_thing(object()), "isinstance without the module loaded: nothing can be an instance"
    assert "lp_heavy" not in sys.modules
    made = user.build()                       # a real call imports it, the real way
    import lp_heavy

    assert type(made) is lp_heavy.Thing and user.is_thing(made)
    assert not isinstance(lp_heavy, lean_import._StandModule)
    assert type(user.DEFAULT._resolve()) is lp_heavy.Thing
    assert user.enter() == "inside"


def test_a_module_that_needs_the_real_class_at_import_falls_back(probe):
    [sub] = lean_import.import_lean("lp_sub")  # subclassing a stand-in fails: imported the ordinary way
    import lp_heavy

    assert issubclass(sub.Sub, lp_heavy.Thing)
    assert not any(isinstance(m, lean_import._StandModule) for m in sys.modules.values())


def test_missing_names_are_skipped_and_blocks_leave_nothing_behind(probe):
    assert lean_import.import_lean("lp_no_such_module") == []
    with lean_import.deferred():
        import lp_heavy  # noqa: F401

        assert isinstance(sys.modules["lp_heavy"], lean_import._StandModule)
    assert "lp_heavy" not in sys.modules


_CHILD = """
import json, sys
sys.path.insert(0, {src!r})
import torch
from vlm_puzzle.models import lean_import
from vlm_puzzle.models.loading import import_transformers
import_transformers({path!r})
left = [m for m in lean_import.DEFERRED if m in sys.modules]
from vlm_puzzle.models import QwenVL
vlm = QwenVL.from_pretrained({path!r}, device="cpu", decode="plain")
gens = vlm.generate({images!r}, "What puzzle is this?", max_new_tokens=12)
lean_import.resolve_for_tracing()  # what a compile does first: dynamo then traces the real classes
import transformers.masking_utils as mu, torch.nn.attention.flex_attention as fa
print("RESULT", json.dumps(dict(left=left, tokens=[g.token_ids for g in gens], real=mu.BlockMask is fa.BlockMask)))
"""


def test_lean_load_gives_the_ordinary_load_tokens():
    """A fresh process loads the shipped model with the lean import (the default): none of the deferred
    modules is imported by the imports, its answers are token for token those of this process, whose
    transformers was imported the ordinary way, and before a compile the stand-ins become the real objects."""
    torch = pytest.importorskip("torch")  # noqa: F841
    pytest.importorskip("transformers")
    from vlm_puzzle.models import QwenVL
    from vlm_puzzle.models.shipped import shipped_model_path

    path = str(shipped_model_path())
    images = [str(p) for p in sorted((ROOT / "data" / "samples").glob("*_2024.png"))[:2]]
    code = _CHILD.format(src=str(ROOT / "src"), path=path, images=images)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, proc.stderr[-2000:]
    child = json.loads(line[0][len("RESULT"):])
    assert child["left"] == [] and child["real"]
    ours = QwenVL.from_pretrained(path, device="cpu", decode="plain").generate(images, "What puzzle is this?",
                                                                               max_new_tokens=12)
    assert child["tokens"] == [list(g.token_ids) for g in ours]


_PREFETCH_CHILD = """
import sys, json
sys.path.insert(0, {src!r})
import torch
from vlm_puzzle.models import fast_load
from vlm_puzzle.models.loading import import_transformers
pre = fast_load.Prefetch({path!r}, "cpu")
import_transformers({path!r})
model, why = fast_load.load_fast({path!r}, device="cpu", dtype=torch.float32, prefetched=pre)
sums = {{n: float(t.double().sum()) for n, t in model.state_dict().items()}}
print("RESULT", json.dumps(dict(why=why, heavy=[m for m in ("sympy", "torch._dynamo") if m in sys.modules],
                                sums=sums)))
"""


def test_prefetched_load_builds_no_meta_model():
    """The prefetched fast load builds its shell in host memory, not on the meta device (whose kernels import
    sympy and torch._dynamo, seconds of a load): a fresh process loads the shipped model that way with
    neither imported, and the same weights and buffers as from_pretrained."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from vlm_puzzle.models.shipped import shipped_model_path

    path = str(shipped_model_path())
    code = _PREFETCH_CHILD.format(src=str(ROOT / "src"), path=path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, proc.stderr[-2000:]
    child = json.loads(line[0][len("RESULT"):])
    assert child["why"] == "" and child["heavy"] == []
    plain = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    assert child["sums"] == {n: float(t.double().sum()) for n, t in plain.state_dict().items()}
