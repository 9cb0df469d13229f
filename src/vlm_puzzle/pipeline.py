"""The end-to-end pipeline: image -> perception -> rules -> check -> solve.

One module (over 400 lines) because :class:`PuzzleSolver` is one object: the backend it
holds, the stages it runs in order and their timings are read together; each stage's
work lives in its own package.

Each stage runs once, in order, and is timed (see :mod:`vlm_puzzle.result`):

1. ``load``     decode the image, once (:mod:`vlm_puzzle.imageio`);
2. ``extract``  perception (:class:`vlm_puzzle.vision.GridReader`: grid, digits,
                variant marks), geometry's kind of puzzle
                (:func:`vlm_puzzle.rules.geometry.decide`) and the checking stage's
                verdict on the reading, with its repairs (:func:`vlm_puzzle.check.settle`);
3. ``rules``    the rules with what the check found (:func:`vlm_puzzle.check.infer_rules`);
                with the ``qwen`` or ``openai`` backend also the VLM's, merged, and the
                rule policy (:func:`vlm_puzzle.check.conclude`);
4. ``solve``    complete the grid with the CSP solver and verify the solution independently.

:class:`PuzzleSolver` keeps the model loaded across calls. The stages are also exposed
separately (:meth:`PuzzleSolver.read`, :meth:`PuzzleSolver.infer_vlm_rules`,
:meth:`PuzzleSolver.finish`) so that :mod:`vlm_puzzle.batch` can run the CPU stages
in worker processes while the model serves batched rule inference in the main process.
"""
from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from vlm_puzzle.check import conclude, infer_rules, no_rules_message, settle
from vlm_puzzle.errors import ModelError, PuzzleError
from vlm_puzzle.check.confidence import load_calibration, probability, signals
from vlm_puzzle.check.judge import NOT_UNIQUE, UNIQUENESS_UNKNOWN
from vlm_puzzle.findings import codes, notes, uncertain
from vlm_puzzle.imageio import LoadedImage, describe_source, open_image
from vlm_puzzle.models.shipped import checkpoint_view
from vlm_puzzle.result import ErrorInfo, SolveResult, Timings
from vlm_puzzle.rules import RuleHints, infer_rules_vlm, infer_rules_vlm_batch, resolve_backend
from vlm_puzzle.rules.geometry import decide
from vlm_puzzle.solver import solve
from vlm_puzzle.solver.verify import violations as check_solution
from vlm_puzzle.spec import PuzzleSpec, SpecError
from vlm_puzzle.vision import GridReader, GridState

BACKENDS = ("auto", "qwen", "geometry", "openai")
VLM_BACKENDS = ("qwen", "openai")  # rule inference by a VLM: in this process, or on a serving engine
# Working resolution: bigger photos are decoded smaller (JPEG: at 1/2..1/8 scale while
# decoding, far faster). 4 MP leaves a grid that fills a third of the frame > 1000 px,
# well above what the extractor reads at (its rectified grid is 576 px).
WORK_MAX_PIXELS = 4_000_000
# Longest side of the picture handed to the VLM: enough to see cage clues and shading.
VLM_MAX_SIDE = 1024


@dataclass
class Reading:
    """What the CPU stages made of one image: everything :meth:`PuzzleSolver.finish` needs.

    Picklable (numpy + dataclasses), so worker processes can hand it back.
    """

    image: str
    timings: Timings = field(default_factory=Timings)
    loaded: LoadedImage | None = None
    state: GridState | None = None   # checked
    hints: RuleHints | None = None   # geometry's, with the check's findings
    spec: PuzzleSpec | None = None   # geometry's spec (None when it could not decide)
    error: ErrorInfo | None = None
    error_status: str = "error"
    picture_scale: float = 1.0       # loaded.image is the read picture scaled so (batch workers ship less)

    def vlm_image(self, view: str = "picture", side: int = 0, margin: float | None = None) -> np.ndarray | None:
        """The picture for the VLM (BGR): the whole picture at most VLM_MAX_SIDE px a side, or
        with ``view`` "grid" (a model trained on it: ``models.shipped.checkpoint_view``) the located
        grid rectified to ``side`` x ``side`` px, ``margin`` of it around the grid (default
        ``rules.view.GRID_MARGIN``; the whole picture when no grid was located)."""
        if self.loaded is None:
            return None
        import cv2

        img = self.loaded.image
        if view == "grid" and self.state is not None:
            from vlm_puzzle.rules.view import GRID_MARGIN, grid_view

            return grid_view(img, np.asarray(self.state.corners) * self.picture_scale, side,
                             GRID_MARGIN if margin is None else margin)
        h, w = img.shape[:2]
        s = VLM_MAX_SIDE / max(h, w)
        if s < 1:
            img = cv2.resize(img, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
        return img


class PuzzleSolver:
    """Solve puzzle pictures; the model (if any) is loaded once and reused.

    ``backend``: ``"geometry"`` (rules from the extracted grid only, no weights),
    ``"qwen"`` (a Qwen-VL model reads the rules too; needs weights: ``model`` is a
    local path or an id resolvable offline), or ``"auto"`` (qwen when weights are
    configured, else geometry). ``timeout_s`` bounds the CSP search per image.
    ``keep_images`` keeps the decoded image and grid state on each result (for overlays).
    ``model_options`` go to ``QwenVL.from_pretrained`` (dtype, min_pixels, max_pixels...).
    ``"openai"``: the VLM runs behind an OpenAI-compatible server at ``base_url`` (default
    ``$VLM_PUZZLE_BASE_URL``; ``auto`` picks it when one is configured), ``model`` is the name it
    serves, ``api_key`` defaults to ``$VLM_PUZZLE_API_KEY``; ``serving_options`` go to
    :class:`~vlm_puzzle.models.openai_client.ServingOptions` (concurrency, timeout_s, retry_s,
    structured), with ``model_options``' min_pixels/max_pixels. A request that fails for good makes
    the image an error (code ``server_*``/``model_*``); with ``auto`` geometry's rules stand instead.
    ``max_pixels``: larger pictures are worked on downsized (the scale is on ``result.loaded``).
    ``require_unique``: refuse a puzzle with several solutions (``multiple_solutions``) or whose
    uniqueness the deadline left unproven (``timeout``); by default one verified solution is
    given with ``unique`` false / null and a note.
    """

    def __init__(self, backend: str = "auto", model: str | None = None, *,
                 device: str | None = None, timeout_s: float | None = 20.0, repair: bool = True,
                 exif: bool = True, keep_images: bool = True, load_model: bool = False,
                 model_options: dict | None = None, max_pixels: int = WORK_MAX_PIXELS,
                 base_url: str | None = None, api_key: str | None = None, serving_options: dict | None = None,
                 require_unique: bool = False):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.requested_backend = backend
        self.backend, self.model_path, self.backend_reason = _resolve_backend(backend, model, base_url)
        self.base_url, self.api_key, self.serving_options = base_url, api_key, dict(serving_options or {})
        self.device = device
        self.timeout_s = timeout_s
        self.repair = repair
        self.require_unique = require_unique
        self.exif = exif
        self.keep_images = keep_images
        self.max_pixels = max_pixels
        self.model_options = dict(model_options or {})  # e.g. dtype, min_pixels, max_pixels
        self.model_load_s = 0.0
        # What turns an answer's signals into the probability that it is right (check.confidence).
        self.calibration = load_calibration()
        self._vlm = None
        self._grid_reader: GridReader | None = None
        # Which picture the in-process model is shown (Reading.vlm_image): what it was trained on.
        self.vlm_view = checkpoint_view(self.model_path) if self.backend == "qwen" else ("picture", 0, None)
        if load_model:
            self.load()

    # ---- model ------------------------------------------------------------------
    def load(self) -> float:
        """Load the VLM now (no-op for the geometry backend); returns the seconds it took.

        Raises :class:`ModelError` when the weights cannot be loaded."""
        if self.backend == "openai" and self._vlm is None:
            return self._connect()
        if self.backend != "qwen" or self._vlm is not None:
            return 0.0
        t0 = time.perf_counter()
        try:
            from vlm_puzzle.models import QwenVL  # lazy: imports torch/transformers
        except ImportError as exc:
            raise ModelError(f"the qwen backend needs the 'vlm' extra (pip install 'vlm-puzzle[vlm]'): {exc}",
                             code="model_unavailable") from None
        kwargs = dict(self.model_options)
        if self.device:
            kwargs["device"] = self.device
        try:
            self._vlm = QwenVL.from_pretrained(self.model_path, **kwargs)
        except ModelError:
            raise
        except Exception as exc:  # weights missing or broken: say which, keep the type
            raise ModelError(f"cannot load Qwen-VL from {self.model_path}: {type(exc).__name__}: {exc}") from None
        self.model_load_s = time.perf_counter() - t0
        return self.model_load_s

    def _connect(self) -> float:
        """The serving client (no request yet). With ``auto``, a server that does not answer
        one quick probe leaves the whole run to geometry."""
        from vlm_puzzle.models.openai_client import ServedVL, ServingError, ServingOptions

        bounds = {k: self.model_options[k] for k in ("min_pixels", "max_pixels") if k in self.model_options}
        try:
            options = ServingOptions(**{**bounds, **self.serving_options})
        except (TypeError, ValueError) as exc:
            raise ModelError(f"bad serving options: {exc}", code="model_bad_request") from None
        client = ServedVL(self.base_url, model=self.model_path, api_key=self.api_key, options=options)
        if self.requested_backend != "auto":
            client.client()  # imports openai now (a missing package fails here), not in the first image's time
        else:
            try:
                client.probe()  # one attempt, no retries
            except Exception as exc:  # unreachable, auth, no openai package...: geometry for the run
                why = f"{exc.code}: {exc}" if isinstance(exc, ServingError) else \
                    f"{type(exc).__name__}: {exc.__cause__ or exc}"
                self.backend, self.backend_reason = "geometry", f"server at {client.base_url} not usable ({why})"
                client.close()
                return 0.0
        self._vlm = client
        return 0.0  # nothing loaded here: the weights live on the server

    @property
    def serving_concurrency(self) -> int:
        """``openai``: requests in flight at most (1 before the client exists)."""
        return self._vlm.options.concurrency if self.backend == "openai" and self._vlm is not None else 1

    def describe(self) -> str:
        """One line for humans: which rule inference runs and why."""
        if self.backend == "qwen":
            return f"Qwen-VL at {self.model_path}"
        if self.backend == "openai":
            return "Qwen-VL " + (self._vlm.describe() if self._vlm is not None else self.backend_reason)
        return f"geometry: {self.backend_reason}"

    # ---- one image --------------------------------------------------------------
    def solve_image(self, src, *, timeout_s: float | None = ..., exif: bool | None = None) -> SolveResult:
        """Solve one picture (path, bytes, PIL image or BGR array). Never raises for a
        bad input: problems come back as ``status`` "error"/"unsolved" with ``error.code``."""
        t0 = time.perf_counter()
        exif = self.exif if exif is None else exif
        if self.backend == "openai":
            self.load()  # with auto, an unusable server turns this solver to geometry
        reading = self.read(src, exif=exif)
        vlm = None
        if self.backend == "openai" and reading.error is None:
            vlm = [self.submit_rules(reading).result()]
        elif self.backend == "qwen" and reading.error is None:
            vlm, t_vlm = self._timed_vlm([reading])
            reading.timings.rules += t_vlm
        # (A stale EXIF orientation needs no retry here: the extractor turns a
        # sideways or upside-down grid upright from how its digits read.)
        result = self.finish(reading, vlm[0] if vlm else None, timeout_s=timeout_s)
        result.timings.total = time.perf_counter() - t0
        return result

    def read(self, src, *, exif: bool | None = None) -> Reading:
        """CPU stages: decode, perceive, decide the kind, check, the rules. Never raises.

        ``src`` may also be a :class:`~vlm_puzzle.imageio.LoadedImage` already decoded."""
        exif = self.exif if exif is None else exif
        name = src.source if isinstance(src, LoadedImage) else describe_source(src)
        reading = Reading(image=name)
        tm = reading.timings
        t0 = time.perf_counter()
        try:
            try:  # an already decoded LoadedImage is used as is (load time 0)
                if isinstance(src, LoadedImage):
                    reading.loaded = src
                else:
                    reading.loaded = open_image(src, exif=exif, max_pixels=self.max_pixels)
            finally:
                tm.load = time.perf_counter() - t0
            t1 = time.perf_counter()
            try:
                reading.state, decision = _perceive_and_check(reading.loaded.image, self.repair, self._reader())
            finally:
                tm.extract = time.perf_counter() - t1
            t2 = time.perf_counter()
            reading.error_status = "unsolved"  # from here on there is a grid to show
            reading.hints, reading.spec = infer_rules(reading.state, decision=decision)
            tm.rules = time.perf_counter() - t2
        except SpecError as exc:  # before PuzzleError, its base
            reading.error = ErrorInfo("invalid_puzzle", f"the grid as read is not a valid puzzle: {exc}")
        except PuzzleError as exc:
            reading.error = ErrorInfo(exc.code, str(exc))
        except MemoryError:
            reading.error = ErrorInfo("out_of_memory", f"{name}: ran out of memory")
        except Exception as exc:  # a bug must cost one image, not a batch
            reading.error = ErrorInfo("internal_error", f"{type(exc).__name__}: {exc}")
        tm.total = time.perf_counter() - t0
        return reading

    def infer_vlm_rules(self, images: Sequence[np.ndarray]) -> list:
        """Batched VLM rule inference (BGR arrays) -> one RuleHints (or an exception) each."""
        self.load()
        if self.backend == "openai":
            from vlm_puzzle.rules.serving import infer_rules_served_batch

            return [r if isinstance(r, BaseException) else r.hints
                    for r in infer_rules_served_batch(self._vlm, list(images))]
        try:
            return list(infer_rules_vlm_batch(self._vlm, list(images)))
        except Exception as exc:  # fall back to one at a time so one bad image stays alone
            if len(images) == 1:
                return [exc]
        out = []
        for img in images:
            try:
                out.append(infer_rules_vlm(self._vlm, img))
            except Exception as exc:
                out.append(exc)
        return out

    def submit_rules(self, reading: Reading) -> Future:
        """``openai`` backend: ask the server for this reading's rules without waiting (at most
        ``concurrency`` requests in flight). The future's result is what :meth:`finish` takes
        (RuleHints, or the typed error); the request's time is added to the reading's ``rules``
        and its wait on the server to ``network``."""
        self.load()
        from vlm_puzzle.rules.serving import infer_rules_served

        image = reading.vlm_image()

        def ask():
            t0 = time.perf_counter()
            try:
                served = infer_rules_served(self._vlm, image)
                reading.timings.network += served.answer.network_s
                return served.hints
            except Exception as exc:  # typed ServingError, or a bug: it costs this image only
                return exc
            finally:
                reading.timings.rules += time.perf_counter() - t0

        return self._vlm.submit(ask)

    def vlm_images(self, readings: Sequence[Reading]) -> list:
        """The pictures the in-process VLM is asked about, one per reading (:meth:`Reading.vlm_image`
        in the view the model was trained on)."""
        return [r.vlm_image(*self.vlm_view) for r in readings]

    def _timed_vlm(self, readings: Sequence[Reading]) -> tuple[list, float]:
        t0 = time.perf_counter()
        hints = self.infer_vlm_rules(self.vlm_images(readings))
        return hints, (time.perf_counter() - t0) / max(1, len(readings))

    def finish(self, reading: Reading, vlm_hints=None, *, timeout_s: float | None = ...) -> SolveResult:
        """The rule policy (:func:`vlm_puzzle.check.conclude`: the VLM merge, the plain-sudoku
        fallback), solve, verify. ``vlm_hints``: the VLM's RuleHints (or an exception)."""
        timeout_s = self.timeout_s if timeout_s is ... else timeout_s
        tm = replace(reading.timings)
        res = SolveResult(image=reading.image, status="error", timings=tm, rule_source=None)
        if self.keep_images:
            res.loaded, res.state = reading.loaded, reading.state
        res.hints = reading.hints
        answer_notes: tuple = ()   # the solver's findings on the answer (uniqueness)
        state = reading.state
        if state is not None:
            res.size = state.size
            res.givens = _as_grid(state.givens)
            res.repairs = list(state.repairs)
        if reading.error is not None:
            res.status, res.error = reading.error_status, reading.error
        else:
            answer_notes = self._answer(reading, vlm_hints, res, timeout_s)
        return self._confident(_total(res, answer_notes), state)

    def _answer(self, reading: Reading, vlm_hints, res: SolveResult, timeout_s: float | None) -> tuple:
        """:meth:`finish` for a reading with a grid: the rules, then solve and verify, into
        ``res``; returns the solver's findings on the answer (uniqueness)."""
        state, tm = reading.state, res.timings
        try:
            t0 = time.perf_counter()
            if self.backend == "openai" and self.requested_backend != "auto" and isinstance(vlm_hints, Exception):
                # Asked for the served model and it gave no answer: an error to retry, not a silent fallback.
                res.error = ErrorInfo(getattr(vlm_hints, "code", "internal_error"), str(vlm_hints))
                return ()
            res.hints, spec = conclude(state, reading.hints, reading.spec, use_vlm=self.backend in VLM_BACKENDS,
                                       vlm_hints=vlm_hints)
            tm.rules += time.perf_counter() - t0
            res.rule_source = res.hints.source or "geometry"
            if spec is None:
                res.status = "unsolved"
                res.error = ErrorInfo("unknown_rules", no_rules_message(reading.hints))
                return ()
            res.spec, res.kind, res.size = spec, spec.kind, spec.size
            res.givens = [list(map(int, row)) for row in spec.givens]
            t1 = time.perf_counter()
            outcome = solve(spec, unique=True, timeout_s=timeout_s)
            answer_notes: tuple = ()
            if outcome.status == "solved" or (outcome.solution is not None and not self.require_unique):
                solution = _as_grid(outcome.solution)
                problems = check_solution(spec, solution)
                if problems:
                    res.status = "unsolved"
                    res.error = ErrorInfo("verification_failed", "the solver's answer breaks the rules: "
                                          + "; ".join(problems[:3]))
                else:
                    res.status, res.solution = "solved", solution
                    res.unique = {"solved": True, "multiple": False}.get(outcome.status)
                    answer_notes = _uniqueness_notes(outcome.status, spec, timeout_s, res.hints)
            else:
                res.status = "unsolved"
                res.error = _solver_error(outcome.status, spec, timeout_s)
            tm.solve = time.perf_counter() - t1
            return answer_notes
        except SpecError as exc:  # before PuzzleError, its base
            res.status, res.error = "unsolved", ErrorInfo("invalid_puzzle", f"the puzzle as read is invalid: {exc}")
        except PuzzleError as exc:
            res.status, res.error = "unsolved", ErrorInfo(exc.code, str(exc))
        except Exception as exc:
            res.status, res.error = "error", ErrorInfo("internal_error", f"{type(exc).__name__}: {exc}")
        return ()

    def _confident(self, res: SolveResult, state: GridState | None) -> SolveResult:
        """``res`` with its raw signals and calibrated ``confidence`` (a result with a reading)."""
        if state is None:
            return res
        variants = state.variants
        res.signals = signals(state.confidence, variants.clue_confidence if variants is not None else (),
                              res.rule_confidence, res.findings, len(state.repairs), res.unique)
        res.confidence = probability(res.signals, self.calibration)
        return res

    def warm(self) -> None:
        """Load the perception networks now (once per solver) rather than in the first
        image's timing. Raises :class:`ModelError` when their weights are missing."""
        self._reader()

    def _reader(self) -> GridReader:
        # The digit network, loaded once per solver.
        if self._grid_reader is None:
            self._grid_reader = GridReader()
        return self._grid_reader


def solve_image(src, *, backend: str = "auto", model: str | None = None, **options) -> SolveResult:
    """Solve one picture with a solver made for the call (use :class:`PuzzleSolver` to
    solve many: it keeps the model loaded)."""
    solver_opts = {k: options.pop(k) for k in ("device", "repair", "keep_images", "base_url", "api_key",
                                                "timeout_s", "exif", "require_unique") if k in options}
    if options:
        raise TypeError(f"unknown option(s): {', '.join(sorted(options))}")
    return PuzzleSolver(backend, model, **solver_opts).solve_image(src)


def read_state(image: np.ndarray, *, repair: bool = True, reader: GridReader | None = None) -> GridState:
    """The reading as the pipeline makes it, for a decoded BGR/gray array: perception,
    geometry's kind of puzzle, and the checking stage (givens checked and repaired
    against the rules geometry infers from the picture: a jigsaw's regions, a killer's
    cages...; cage clues repaired). Raises the extractor's PuzzleErrors."""
    return _perceive_and_check(image, repair, reader or GridReader())[0]


def _perceive_and_check(image: np.ndarray, repair: bool, reader: GridReader):
    """(checked state, geometry's decision): vision -> rules -> check, each once."""
    state = reader.read(image)                                  # vision: pixels in, readings out
    decision = decide(state.size, state.box, state.variants)    # rules: what the picture says
    return settle(state, decision, image=image, reader=reader, repair=repair)   # check


def _resolve_backend(backend: str, model: str | None, base_url: str | None = None
                     ) -> tuple[str, str | None, str]:
    b, path, reason = resolve_backend(backend, model, base_url=base_url)
    return b, (str(path) if path is not None else None), reason


def _solver_error(status, spec: PuzzleSpec, timeout_s) -> ErrorInfo:
    if status == "no_solution":
        return ErrorInfo("no_solution", f"the {spec.kind} as read ({spec.n_givens} givens) has no solution: "
                         "a digit was probably misread")
    if status == "multiple":
        return ErrorInfo("multiple_solutions", f"the {spec.kind} as read ({spec.n_givens} givens) has more "
                         "than one solution: a given was probably missed")
    if status == "timeout":
        return ErrorInfo("timeout", f"the solver gave up after {timeout_s} s")
    return ErrorInfo("solver_error", f"the solver returned {status!r}")


def _uniqueness_notes(status: str, spec: PuzzleSpec, timeout_s, hints: RuleHints | None) -> tuple:
    """The findings on an answer that is not proven the only one (none when it is, and
    no second ``not_unique`` when the check of the givens already said so)."""
    if status == "multiple":
        if hints is not None and NOT_UNIQUE in codes(hints.evidence):
            return ()
        return (uncertain(NOT_UNIQUE, f"the {spec.kind} as read has several solutions: this is one of them"),)
    if status == "timeout":
        return (uncertain(UNIQUENESS_UNKNOWN, f"the search for a second solution was cut after {timeout_s} s: "
                          "this solution is verified, not proven the only one"),)
    return ()


def _total(res: SolveResult, answer_notes: tuple = ()) -> SolveResult:
    t = res.timings
    t.total = t.load + t.extract + t.rules + t.solve
    if res.hints is not None:
        res.rule_confidence = float(res.hints.confidence)
        res.findings = tuple(res.hints.evidence) + tuple(answer_notes)
        res.notes = notes(res.findings)
    return res


def _as_grid(g) -> list[list[int]] | None:
    if g is None:
        return None
    return [[int(v) for v in row] for row in np.asarray(g).tolist()]


__all__ = ["PuzzleSolver", "Reading", "solve_image", "read_state", "BACKENDS", "VLM_BACKENDS"]
