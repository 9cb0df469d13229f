"""The ``vlm-puzzle`` command line.

Exit codes: 0 solved (``batch``: every image solved), 1 not solved (``batch``: some
image not solved), 2 bad usage or unreadable input, 130 interrupted. Input problems
are reported as one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from vlm_puzzle import __version__
from vlm_puzzle.errors import PuzzleError, is_input_error

EXIT_SOLVED, EXIT_UNSOLVED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A problem with the command line itself (exit 2)."""


def _number(kind, lo, hi=None, what="a number"):
    """An argparse type: ``kind`` (int/float) in lo..hi, finite (no nan, no inf)."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if (isinstance(v, float) and not math.isfinite(v)) or v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{text!r} is outside {lo}..{hi if hi is not None else 'any'}")
        return v
    return parse


SECONDS = _number(float, 0.0, 86_400.0, "a number of seconds")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vlm-puzzle",
        description="Solve grid logic puzzles (Sudoku and variants, KenKen) from pictures.")
    p.add_argument("--version", action="version", version=f"vlm-puzzle {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def backend_args(sp):
        sp.add_argument("--backend", choices=("auto", "qwen", "geometry", "openai"), default="auto",
                        help="rule inference: qwen (needs weights), openai (a Qwen-VL on an OpenAI-compatible "
                             "server: vLLM, SGLang, transformers serve), geometry (none), auto (openai if a "
                             "server is configured, else qwen if weights are, else geometry). Default: auto")
        sp.add_argument("--model", metavar="PATH_OR_ID", default=None,
                        help="Qwen-VL weights: a local folder, an id in the local cache, or vlm-puzzle-tiny "
                             "(the shipped model, also --backend qwen's default); with openai, "
                             "the name the server serves the model under (default: its only model)")
        sp.add_argument("--adapter", metavar="PATH", default=None,
                        help="a LoRA adapter (training/finetune_qwen_vl.py) merged into the Qwen-VL weights")
        sp.add_argument("--base-url", metavar="URL", default=None,
                        help="the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1 (default: "
                             "$VLM_PUZZLE_BASE_URL; the key, if any: $VLM_PUZZLE_API_KEY)")
        sp.add_argument("--structured", choices=("auto", "structured_outputs", "response_format", "none"),
                        default="auto", help="openai: how to ask for a JSON answer (default: by server)")
        sp.add_argument("--retry-for", type=SECONDS, default=60.0, metavar="S",
                        help="openai: retry a failing server for up to S seconds per image (default 60)")
        sp.add_argument("--timeout", type=SECONDS, default=20.0, metavar="S",
                        help="give up the CSP search after S seconds (default 20; 0 = no search)")
        sp.add_argument("--ignore-exif", action="store_true",
                        help="ignore the EXIF orientation tag of photos")
        sp.add_argument("--require-unique", action="store_true",
                        help="refuse a puzzle with several solutions (multiple_solutions) or whose uniqueness "
                             "was not proven in time (timeout); by default one verified solution is given, "
                             "flagged (\"unique\": false or null) with a warning on stderr")

    s = sub.add_parser("solve", help="solve one picture",
                       description="Read, solve and verify the puzzle in one picture.")
    s.add_argument("image", metavar="IMAGE", help="image file, or - to read the image from stdin")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.add_argument("--overlay", metavar="OUT.png", help="write the photo with the solution drawn in")
    backend_args(s)
    s.set_defaults(func=cmd_solve)

    b = sub.add_parser("batch", help="solve many pictures into a JSON-lines file",
                       description="Solve folders, files and globs; one JSON line per image, written as "
                                   "each finishes. A rerun skips images already in the output file.")
    b.add_argument("inputs", nargs="+", metavar="INPUT")
    b.add_argument("--out", "-o", required=True, metavar="RESULTS.jsonl")
    b.add_argument("--workers", "-j", type=_number(int, 0, 256, "a whole number"), default=None, metavar="N",
                   help="CPU worker processes (default: number of CPUs; 0 = no subprocesses)")
    b.add_argument("--vlm-batch", type=_number(int, 1, 1024, "a whole number"), default=8, metavar="N",
                   help="images per VLM call (qwen)")
    b.add_argument("--image-timeout", type=_number(float, 0.01, 86_400.0, "a number of seconds"), default=None,
                   metavar="S", help="give up an image after S seconds, whatever it is doing (default: 3x --timeout "
                        "+ 60; needs workers)")
    b.add_argument("--concurrency", type=_number(int, 1, 4096, "a whole number"), default=8, metavar="N",
                   help="openai: requests in flight at most (default 8)")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    b.add_argument("--retry-errors", action="store_true",
                   help="run again the images whose line in the output file is an error")
    backend_args(b)
    b.set_defaults(func=cmd_batch)

    r = sub.add_parser("render", help="render sample puzzles with ground truth",
                       description="Render puzzles of each kind as PNG with a JSON ground-truth file each.")
    r.add_argument("out_dir", metavar="OUT_DIR")
    r.add_argument("--kinds", nargs="+", default=None, metavar="KIND[:SIZE]",
                   help="sudoku x-sudoku windoku jigsaw killer kenken, optionally with a size, "
                        "e.g. sudoku:16 kenken:6 (default: every kind at its usual size)")
    r.add_argument("-n", type=_number(int, 1, 100_000, "a whole number"), default=1,
                   help="puzzles per kind (default 1)")
    r.add_argument("--seed", type=_number(int, 0, 2**63, "a whole number"), default=0,
                   help="puzzle i of a kind uses seed SEED+i (default 0)")
    r.add_argument("--photo", action="store_true", help="photograph the print: perspective, curl, light, blur")
    r.add_argument("--both", action="store_true", help="write each puzzle clean and as a photo")
    r.add_argument("--size-px", type=_number(int, 1, 100_000, "a whole number"), default=800,
                   help="image side in pixels (default 800)")
    r.add_argument("--json", action="store_true", help="print the written files as JSON")
    r.set_defaults(func=cmd_render)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except PuzzleError as exc:  # e.g. --backend qwen without weights
        _err(f"{exc.code}: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `vlm-puzzle ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_SOLVED


# ---- solve ------------------------------------------------------------------------

def _model_options(args) -> dict | None:
    if args.adapter and not os.path.isdir(args.adapter):
        raise UsageError(f"--adapter {args.adapter}: no such folder")
    return {"adapter": args.adapter} if args.adapter else None


def _adapted_solver(args):
    """The batch's solver when an adapter is given (run_batch builds its own otherwise)."""
    from vlm_puzzle.pipeline import PuzzleSolver

    opts = _model_options(args)
    return PuzzleSolver(args.backend, args.model, timeout_s=args.timeout, exif=not args.ignore_exif,
                        keep_images=False, model_options=opts, require_unique=args.require_unique) if opts else None


def cmd_solve(args) -> int:
    from vlm_puzzle.imageio import WRITE_EXTS, read_stream
    from vlm_puzzle.pipeline import PuzzleSolver
    from vlm_puzzle.result import SolveResult

    if args.overlay:
        _check_writable(args.overlay, WRITE_EXTS, "--overlay")
        _check_overlay_target(args.overlay, args.image)
    solver = PuzzleSolver(args.backend, args.model, timeout_s=args.timeout, exif=not args.ignore_exif,
                          base_url=args.base_url, serving_options=_serving_options(args),
                          model_options=_model_options(args), require_unique=args.require_unique)
    model_load_s = solver.load()
    try:
        src = read_stream(sys.stdin.buffer) if args.image == "-" else args.image
        result = solver.solve_image(src)
    except PuzzleError as exc:  # stdin empty or over its size bound: reported like a bad file
        src, result = None, SolveResult.failure("<stdin>", "error", exc.code, str(exc))
    if args.image == "-":
        result.image = "<stdin>"
    overlay_note = None
    if args.overlay:
        overlay_note = _write_overlay(args.overlay, result, src, not args.ignore_exif)
    bad_input = result.error is not None and is_input_error(result.error.code)
    if args.json:
        print(json.dumps(result.to_dict()))
    if bad_input:  # one line on stderr, also with --json (the JSON has the same details)
        hint = " (to solve every picture in it: vlm-puzzle batch DIR --out results.jsonl)" \
            if result.error.code == "is_directory" else ""
        _err(f"{result.error.code}: {result.error.message}{hint}")
        return EXIT_USAGE
    if not args.json:
        _print_result(result, solver, model_load_s, overlay_note)
    if result.solved and result.unique is not True:  # answered, but maybe not the puzzle's only answer
        _err("warning: " + ("the puzzle as read has several solutions; this is one of them"
                            if result.unique is False else "this solution was not proven the only one in time")
             + " (--require-unique refuses such puzzles)")
    if result.solved:
        if overlay_note and overlay_note.startswith("cannot"):
            return EXIT_USAGE
        return EXIT_SOLVED
    return EXIT_UNSOLVED


def _write_overlay(path: str, result, src, exif: bool) -> str:
    from vlm_puzzle.overlay import overlay_result, save_overlay

    if not result.solved or result.loaded is None or result.state is None:
        msg = "no overlay written: the puzzle was not solved"
        _err(msg)
        return msg
    try:
        save_overlay(path, overlay_result(result, src, exif=exif))
    except (OSError, ValueError, PuzzleError) as exc:
        msg = f"cannot write overlay {path}: {exc}"
        _err(msg)
        return msg
    return f"overlay written to {path}"


def _print_result(result, solver, model_load_s: float, overlay_note: str | None) -> None:
    from vlm_puzzle.result import format_grid, format_layout

    out = []
    out.append(f"image:   {result.image}")
    out.append(f"rules:   {solver.describe()}")
    if model_load_s:
        out.append(f"model:   loaded in {model_load_s:.1f} s")
    if result.kind or result.size:
        box = tuple(result.spec.box) if result.spec is not None and result.spec.box else None
        desc = f"{result.kind or 'unknown kind'} {result.size}x{result.size}" if result.size else result.kind
        extra = []
        if result.spec is not None:
            extra.append(f"{result.spec.n_givens} givens")
            if result.spec.cages:
                extra.append(f"{len(result.spec.cages)} cages")
        if result.confidence is not None:
            extra.append(f"read confidence {result.confidence:.2f}")
        if result.rule_source:
            extra.append(f"rules from {result.rule_source}")
        if result.rule_confidence is not None:
            extra.append(f"rule confidence {result.rule_confidence:.2f}")
        out.append(f"puzzle:  {desc}" + (f" ({', '.join(extra)})" if extra else ""))
    else:
        box = None
    no_digits = result.givens is not None and not any(v for row in result.givens for v in row)
    if result.givens is not None and not (no_digits and result.spec is not None and result.spec.cages):
        out.append("\nread grid:")
        out.append(_indent(format_grid(result.givens, result.size, box)))
    layout = format_layout(result.spec) if result.spec is not None else None
    if layout:
        out.append("\n" + ("cages:" if result.spec.cages else "regions:"))
        out.append(_indent(layout))
    # The findings behind a low rule confidence: the user should know what to check.
    for note in result.notes:
        out.append(f"note:    {note}")
    if result.repairs:
        out.append("repairs: " + ", ".join(f"({r.cell[0]},{r.cell[1]}) {r.from_}->{r.to}"
                                          for r in result.repairs))
    if result.solution is not None:
        out.append("\nsolution:")
        out.append(_indent(format_grid(result.solution, result.size, box)))
    t = result.timings
    network = f" (network {t.network * 1000:.1f} ms)" if t.network else ""  # the served model's share
    out.append("\ntimings: " + " | ".join(f"{k} {getattr(t, k) * 1000:.1f} ms" + (network if k == "rules" else "")
                                         for k in ("load", "extract", "rules", "solve", "total")))
    if overlay_note:
        out.append(overlay_note)
    status = result.status.upper()
    if result.solved and result.unique is not True:
        status += " (one of several solutions)" if result.unique is False else " (not proven unique)"
    if result.error is not None:
        status += f" ({result.error.code}: {result.error.message})"
    out.append(f"status:  {status}")
    print("\n".join(out))


def _indent(text: str, pad: str = "  ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


# ---- batch ------------------------------------------------------------------------

def cmd_batch(args) -> int:
    from vlm_puzzle.batch import run_batch

    if os.path.isdir(args.out):
        raise UsageError(f"--out {args.out} is a directory; give a file such as results.jsonl")
    _check_writable(args.out, None, "--out")
    progress = False if args.no_progress else None
    try:
        summary = run_batch(args.inputs, args.out, workers=args.workers, backend=args.backend,
                            model=args.model, timeout_s=args.timeout, exif=not args.ignore_exif,
                            vlm_batch=args.vlm_batch, progress=progress,
                            retry_errors=args.retry_errors, image_timeout_s=args.image_timeout,
                            base_url=args.base_url,
                            serving_options=_serving_options(args, concurrency=args.concurrency),
                            solver=_adapted_solver(args), require_unique=args.require_unique)
    except OSError as exc:  # the results file cannot be read or written
        if os.path.abspath(getattr(exc, "filename", "") or "") != os.path.abspath(args.out):
            raise
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    if summary.total == 0:
        others = ", ".join(f"{k} x{v}" for k, v in sorted(summary.not_images.items()))
        raise UsageError("no images found in " + " ".join(args.inputs)
                         + (f" (not a supported image type: {others})" if others else ""))
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        _print_summary(summary)
    if summary.not_unique:
        _err(f"warning: {summary.not_unique} solved image(s) not proven unique (\"unique\" false or null in "
             f"{summary.out}; --require-unique refuses them)")
    return EXIT_SOLVED if summary.solved == summary.processed else EXIT_UNSOLVED


def _print_summary(s) -> None:
    lines = [f"{s.processed} image(s) processed, {s.skipped} already in {s.out}",
             f"solved {s.solved}" + (f" ({s.not_unique} not proven unique)" if s.not_unique else "")
             + f" | unsolved {s.unsolved} | errors {s.errors}"]
    if s.error_codes:
        lines.append("problems: " + ", ".join(f"{k} x{v}" for k, v in sorted(s.error_codes.items())))
    if s.not_images:
        lines.append("skipped, not a supported image type: "
                     + ", ".join(f"{k} x{v}" for k, v in sorted(s.not_images.items())))
    if s.median_s:
        lines.append("median per image: " + " | ".join(f"{k} {v * 1000:.1f} ms" for k, v in s.median_s.items()))
    if s.processed and s.wall_s:
        lines.append(f"wall time {s.wall_s:.1f} s ({s.processed / s.wall_s:.2f} images/s)")
    print("\n".join(lines))


# ---- render -----------------------------------------------------------------------

def cmd_render(args) -> int:
    try:
        from vlm_puzzle.render import render_samples
    except ImportError as exc:
        raise UsageError(f"the renderer is not available: {exc}") from None
    from vlm_puzzle.spec import KINDS

    from vlm_puzzle.spec import SpecError

    kinds = args.kinds or list(KINDS)
    bad = [k for k in kinds if k.partition(":")[0] not in KINDS]
    if bad:
        raise UsageError(f"unknown kind(s) {', '.join(bad)}; choose from {', '.join(KINDS)}")
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        raise UsageError(f"{args.out_dir} exists and is not a directory")
    try:
        written = render_samples(args.out_dir, kinds=kinds, n=args.n, seed=args.seed, photo=args.photo,
                                 size_px=args.size_px, clean_and_photo=args.both)
    except (SpecError, PuzzleError) as exc:  # e.g. windoku:6, a size out of range
        raise UsageError(f"cannot render: {exc}") from None
    files = [os.fspath(f) for f in (written or [])]
    if args.json:
        print(json.dumps({"out_dir": args.out_dir, "files": files}))
    else:
        for f in files:
            print(f)
        print(f"{len(files)} file(s) written to {args.out_dir}")
    return EXIT_SOLVED


# ---- helpers ----------------------------------------------------------------------

def _check_overlay_target(path: str, image: str) -> None:
    """The overlay is a new picture: never the input (under any name), never a pipe or device."""
    if image != "-" and os.path.exists(image) and os.path.exists(path) and os.path.samefile(image, path):
        raise UsageError(f"--overlay {path} is the input picture {image}; give another file name")
    if os.path.exists(path) and not os.path.isfile(path):
        raise UsageError(f"--overlay {path} exists and is not a regular file")


def _serving_options(args, **more) -> dict:
    """The openai backend's options from the command line (values checked by their argparse types)."""
    return {"structured": args.structured, "retry_s": args.retry_for, **more}


def _check_writable(path: str, exts, flag: str) -> None:
    if exts and not path.lower().endswith(exts):
        raise UsageError(f"{flag} {path}: use one of {', '.join(exts)}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag} {path}: folder {parent} is not writable")


def _err(msg: str) -> None:
    print(f"vlm-puzzle: {msg}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
