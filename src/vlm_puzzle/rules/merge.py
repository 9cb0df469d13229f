"""Combine the VLM's rule answer with what geometry read from the image.

Geometry (``rules/geometry.py``) measures the picture: grid size, thick box lines,
irregular regions, cages and their clues. The VLM reads what geometry cannot: rule
text ("diagonals also contain 1-9"), shaded windows, whether cage clues are killer
sums or KenKen arithmetic. So:

* VLM answer missing, unparseable or undecided -> geometry's rules, and the merged
  hints say so in ``evidence``;
* VLM contradicts the image (another size; cages where none were found or none where
  there are; another box shape than the thick lines show; jigsaw where no irregular
  regions were found, or another kind where they were; no diagonals/windows where
  they are marked; sums where operators were read; KenKen arithmetic where clues without
  operators were read) -> geometry's rules, the contradiction named in ``evidence``;
* otherwise the VLM's rule decisions are applied to geometry's puzzle (its cells,
  givens, regions and cages) and ``source`` is ``"qwen"``. If that gives an invalid
  puzzle (e.g. windows on a 6x6), geometry wins and the reason is given.

Either way, the rule fields both decided differently are reported: ``hints.disagreements``
(field names) and an ``uncertain:`` line in ``evidence`` (which the result's notes show).

:func:`digit_rules` is the VLM's say where geometry's own rules fail: the VLM's cage-free kind
(sudoku, x-sudoku, windoku) on the digits read, a candidate the checking stage keeps only when the
solver finds exactly one solution under it (``check.policy.conclude``).
"""
from __future__ import annotations

from dataclasses import replace

from vlm_puzzle.findings import info, uncertain
from vlm_puzzle.rules.base import RuleHints
from vlm_puzzle.spec import DEFAULT_BOX, Cage, PuzzleSpec, SpecError

# Windoku's four extra windows (the same as PuzzleSpec.windoku).
WINDOWS_9 = tuple(tuple((r0 + i, c0 + j) for i in range(3) for j in range(3)) for r0 in (1, 5) for c0 in (1, 5))
ARITH_OPS = ("sub", "mul", "div")


RULE_FIELDS = ("kind", "size", "box", "diagonals", "windows", "cage_op")


def merge(geometry: RuleHints | None, vlm, *,
          geometry_spec: PuzzleSpec | None = None) -> tuple[RuleHints, PuzzleSpec | None]:
    """(merged hints, puzzle spec or None) from geometry's and the VLM's rules; see the module
    docstring. The merged hints name the fields where the two disagree."""
    hints, spec = _merge(geometry, vlm, geometry_spec=geometry_spec)
    if isinstance(vlm, RuleHints):
        geo = geometry if geometry is not None else RuleHints(kind=None)
        hints = report_disagreement(hints, geo, vlm)
    return hints, spec


def disagreements(geometry: RuleHints, vlm: RuleHints) -> tuple[str, ...]:
    """The rule fields (``RULE_FIELDS``) both decided, the VLM's value differing from geometry's."""
    out = []
    for name in RULE_FIELDS:
        a, b = getattr(geometry, name), getattr(vlm, name)
        if a is not None and b is not None and (tuple(a) if name == "box" else a) != (tuple(b) if name == "box" else b):
            out.append(name)
    return tuple(out)


def report_disagreement(hints: RuleHints, geometry: RuleHints, vlm: RuleHints) -> RuleHints:
    """``hints`` with ``disagreements`` set and, when there are any, an ``uncertain:`` line saying
    which values differ and whose rules were used (before the last line: the merge's verdict)."""
    fields = disagreements(geometry, vlm)
    if not fields:
        return hints
    values = ", ".join(f"{f} {_show(getattr(vlm, f))} vs {_show(getattr(geometry, f))}" for f in fields)
    line = uncertain("vlm_disagrees", f"the VLM and geometry disagree ({values}); {hints.source} rules used")
    ev = tuple(hints.evidence)
    return replace(hints, disagreements=fields, evidence=ev[:-1] + (line,) + ev[-1:])


def _show(v) -> str:
    return "x".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)


def _merge(geometry: RuleHints | None, vlm, *,
           geometry_spec: PuzzleSpec | None = None) -> tuple[RuleHints, PuzzleSpec | None]:
    """The merge itself (without the disagreement report).

    ``vlm`` is the VLM's RuleHints, or ``None``/an exception when it failed.
    ``geometry_spec`` is the spec geometry built (None: it could not build one).
    """
    geometry = geometry or RuleHints(kind=None, evidence=(info("no_geometry", "geometry could not read the rules"),))
    problem = _unusable(vlm)
    if problem:
        return _geometry_wins(geometry, geometry_spec, "vlm_unusable", problem), geometry_spec
    conflicts = contradictions(geometry, geometry_spec, vlm)
    if conflicts:
        return _geometry_wins(geometry, geometry_spec, "vlm_contradicts", "VLM answer contradicts the image: "
                              + "; ".join(conflicts)), geometry_spec
    if geometry_spec is None:
        # The cells, regions and cages come from geometry: without its spec there is no puzzle.
        return _geometry_wins(geometry, None, "vlm_without_cells", "geometry could not build the puzzle (see above) and the "
                              "VLM's rules alone do not give its cells"), None
    try:
        spec = apply_rules(geometry_spec, vlm)
    except SpecError as exc:
        return _geometry_wins(geometry, geometry_spec, "vlm_invalid", f"the VLM's rules give an invalid puzzle ({exc})"), \
            geometry_spec
    changed = _describe_change(geometry_spec, spec)
    evidence = tuple(geometry.evidence) + tuple(vlm.evidence) + (
        info("vlm_used", f"VLM rules used ({changed})") if changed else info("vlm_agrees", "VLM rules agree with geometry"),)
    hints = RuleHints(kind=spec.kind, size=spec.size, box=spec.box, diagonals=spec.diagonals,
                      windows=bool(spec.windows), cages=bool(spec.cages),
                      cage_op=_cage_op_of(spec), rule_text=vlm.rule_text,
                      confidence=max(vlm.confidence, geometry.confidence if not changed else 0.0),
                      # What geometry's reading failed (a clue, the givens) still holds under the
                      # VLM's rules: its problem findings stay in the evidence.
                      evidence=evidence, source="qwen")
    return hints, spec


DIGIT_KINDS = ("sudoku", "x-sudoku", "windoku")  # kinds the digits and a box shape alone make


def digit_rules(vlm, givens, box=None) -> PuzzleSpec | None:
    """The VLM's rules on ``givens`` (the digits read, N lists of N) when they need nothing but the
    digits (a kind of ``DIGIT_KINDS``, its size the grid's, no cages, no irregular regions): a
    candidate for when geometry's rules (cages from photo grain, say) fail their checks. ``box``:
    the box shape the grid showed, used where the VLM names none. None when the VLM's answer is
    not such rules or they make no valid puzzle here."""
    if not isinstance(vlm, RuleHints) or vlm.kind not in DIGIT_KINDS or vlm.cages:
        return None
    n = len(givens)
    if vlm.size is not None and vlm.size != n:
        return None
    rows = [[int(v) for v in row] for row in givens]
    try:
        spec = PuzzleSpec.sudoku(rows, tuple(vlm.box) if vlm.box else box)
        if vlm.kind == "x-sudoku" or vlm.diagonals:
            spec = replace(spec, diagonals=True)
        if vlm.kind == "windoku" or vlm.windows:
            if n != 9 or spec.box != (3, 3):
                return None
            spec = replace(spec, windows=WINDOWS_9)
        return replace(spec, kind=_kind_of(spec))
    except SpecError:
        return None


def contradictions(geometry: RuleHints, spec: PuzzleSpec | None, vlm: RuleHints) -> list[str]:
    """Where the VLM's answer disagrees with what was measured in the image."""
    out = []
    size = (spec.size if spec is not None else None) or geometry.size
    if vlm.size is not None and size is not None and vlm.size != size:
        out.append(f"it says {vlm.size}x{vlm.size}, the grid read is {size}x{size}")
    geo_cages = bool(spec.cages) if spec is not None else geometry.cages
    if vlm.cages is True and geo_cages is False:
        out.append("it says there are cages, none were found")
    if vlm.cages is False and geo_cages is True:
        out.append("it says there are no cages, geometry found some")
    if box_measured(geometry) and vlm.box is not None and tuple(vlm.box) != tuple(geometry.box):
        out.append(f"it says {vlm.box[0]}x{vlm.box[1]} boxes, the thick lines show "
                   f"{geometry.box[0]}x{geometry.box[1]}")
    irregular = spec.regions is not None if spec is not None else (geometry.kind == "jigsaw" or None)
    if vlm.kind == "jigsaw" and irregular is False:
        out.append("it says jigsaw, no irregular regions were found")
    if vlm.kind is not None and vlm.kind != "jigsaw" and vlm.kind != "kenken" and irregular:
        out.append(f"it says {vlm.kind}, the regions found are irregular")
    if vlm.diagonals is False and geometry.diagonals is True:
        out.append("it says no diagonals, diagonals are marked")
    if vlm.windows is False and geometry.windows is True:
        out.append("it says no windows, windows are shaded")
    # A rule the picture does not draw has to come from printed rule text; an answer that adds
    # one without quoting any is refused (the givens of a plain sudoku often allow the diagonals,
    # so the solver alone would not catch it).
    if not vlm.rule_text:
        if vlm.diagonals is True and geometry.diagonals is False:
            out.append("it says diagonals, none are marked and it quotes no rule")
        if vlm.windows is True and geometry.windows is False:
            out.append("it says windows, none are shaded and it quotes no rule")
    if spec is not None and spec.cages and _wants_sum(vlm):
        ops = sorted({c.op for c in spec.cages if c.op in ARITH_OPS})
        if ops:
            out.append(f"it says cage sums, cage clues with {'/'.join(ops)} were read")
    # Clues read without any operator symbol: killer sums, whatever the VLM's reading of the clues
    # (a KenKen prints its operators; geometry reads a single one as KenKen).
    if spec is not None and spec.kind == "killer" and _wants_arith(vlm):
        out.append("it says KenKen arithmetic, the cage clues read show no operator")
    return out


def apply_rules(spec: PuzzleSpec, vlm: RuleHints) -> PuzzleSpec:
    """``spec`` (geometry's cells, givens, regions, cages) under the VLM's rule decisions.

    Raises SpecError when the result is not a valid puzzle."""
    s = spec
    if vlm.box is not None and s.box is not None and tuple(vlm.box) != s.box:
        s = replace(s, box=tuple(vlm.box))  # only reached when geometry did not measure the box
    if vlm.diagonals is not None and vlm.diagonals != s.diagonals:
        s = replace(s, diagonals=vlm.diagonals)
    if vlm.windows is True and not s.windows:
        if s.size != 9 or s.box != (3, 3):
            raise SpecError(f"windows are defined for 9x9 grids with 3x3 boxes, not this {s.size}x{s.size}")
        s = replace(s, windows=WINDOWS_9)
    elif vlm.windows is False and s.windows:
        s = replace(s, windows=())
    if s.cages:
        if _wants_sum(vlm) and s.kind == "kenken":
            s = _kenken_to_killer(s)
        elif _wants_arith(vlm) and s.kind == "killer":
            s = _killer_to_kenken(s)
    return replace(s, kind=_kind_of(s))


def _kind_of(s: PuzzleSpec) -> str:
    if s.cages:
        return "kenken" if s.box is None and s.regions is None else "killer"
    if s.regions is not None:
        return "jigsaw"
    if s.windows:
        return "windoku"
    if s.diagonals:
        return "x-sudoku"
    return "sudoku"


def _killer_to_kenken(s: PuzzleSpec) -> PuzzleSpec:
    cages = tuple(Cage(c.cells, "add" if c.op == "sum" else c.op, c.target, distinct=False) for c in s.cages)
    return replace(s, kind="kenken", box=None, cages=cages)


def _kenken_to_killer(s: PuzzleSpec) -> PuzzleSpec:
    if s.size not in DEFAULT_BOX:
        raise SpecError(f"a killer sudoku of size {s.size} has no standard boxes")
    cages = tuple(Cage(c.cells, "sum" if c.op == "add" or (c.op is None and len(c.cells) > 1) else c.op,
                       c.target, distinct=True) for c in s.cages)
    return replace(s, kind="killer", box=DEFAULT_BOX[s.size], cages=cages)


def _wants_sum(vlm: RuleHints) -> bool:
    return vlm.cage_op == "sum" or (vlm.kind == "killer" and vlm.cage_op is None)


def _wants_arith(vlm: RuleHints) -> bool:
    return vlm.cage_op == "arith" or (vlm.kind == "kenken" and vlm.cage_op is None)


def _cage_op_of(s: PuzzleSpec) -> str | None:
    if not s.cages:
        return None
    return "sum" if s.kind == "killer" else "arith"


def _unusable(vlm) -> str | None:
    if vlm is None:
        return "no VLM answer"
    if isinstance(vlm, BaseException):
        return f"the VLM failed ({type(vlm).__name__}: {vlm})"
    if not isinstance(vlm, RuleHints):
        return f"the VLM answer is a {type(vlm).__name__}, not RuleHints"
    decided = (vlm.kind, vlm.size, vlm.box, vlm.diagonals, vlm.windows, vlm.cages, vlm.cage_op)
    if all(v is None for v in decided):
        why = "; ".join(map(str, vlm.evidence)) or "no rule fields"
        return f"the VLM answer was not usable ({why})"
    return None


def _geometry_wins(geometry: RuleHints, spec: PuzzleSpec | None, code: str, why: str) -> RuleHints:
    return replace(geometry, source="geometry",
                   evidence=tuple(geometry.evidence) + (info(code, f"{why}: geometry rules used"),))


def _describe_change(before: PuzzleSpec | None, after: PuzzleSpec) -> str:
    if before is None:
        return f"{after.kind} decided by the VLM"
    parts = []
    if before.kind != after.kind:
        parts.append(f"kind {before.kind} -> {after.kind}")
    if before.diagonals != after.diagonals:
        parts.append("diagonals " + ("added" if after.diagonals else "removed"))
    if bool(before.windows) != bool(after.windows):
        parts.append("windows " + ("added" if after.windows else "removed"))
    if before.box != after.box and "kind" not in " ".join(parts):
        parts.append(f"box {before.box} -> {after.box}")
    return ", ".join(parts)


def box_measured(geometry: RuleHints) -> bool:
    """Whether geometry's box shape was seen (thick lines forming the boxes) rather than
    assumed from the grid size; only a seen one can contradict the VLM."""
    return geometry.box is not None and geometry.box_measured
