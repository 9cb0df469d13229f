"""Benchmark: our python-constraint solver vs OR-Tools CP-SAT, uniqueness proof included.

Puzzle sets:
  hard      Norvig's top95 + hardest (sudoku-text/top95.txt, hardest.txt)
  17        a seeded sample of sudoku17.txt (--n17)
  killer9   9x9 killer sudokus from vlm_puzzle.render.generate (--caged per set)
  kenkenN   N x N KenKen, N = 6..9, from the same generator

Both solvers get the same model (one AllDifferent per group, cage sums linear,
products/differences/quotients as CP-SAT constraints; ours derives extra implied
sums for caged puzzles itself, as CP-SAT's presolve does its own reasoning),
must find the solution and
prove it unique: ours searches on for a second solution; CP-SAT (num_workers=1)
either solves, then solves again with that solution forbidden ("resolve"), or
enumerates solutions and stops at the second ("enumerate"); the ratio is taken
against the faster of the two. Times are wall-clock per puzzle, model building
included. Every solution is verified (rules and givens).

    nice python experiments/bench_solver.py                 # everything, ~1 min
    python experiments/bench_solver.py --sets hard --json out.json --cpu 0
    python experiments/bench_solver.py --cpsat-unique enumerate   # one CP-SAT style only

Run on a quiet machine for numbers worth quoting; --cpu pins to one core.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from vlm_puzzle.solver import solve, violations
from vlm_puzzle.spec import Cage, PuzzleSpec

ROOT = Path(__file__).resolve().parents[1]


def datasets_dir() -> Path:
    return Path(os.environ.get("VLM_PUZZLE_DATASETS", ROOT.parent / "shared" / "datasets"))


def read_lines(name: str) -> list[str]:
    path = datasets_dir() / "sudoku-text" / name
    if not path.is_file():
        sys.exit(f"missing {path}: set VLM_PUZZLE_DATASETS to the shared datasets folder")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


# ---- puzzle sets -----------------------------------------------------------------

def hard_set() -> list[PuzzleSpec]:
    return [PuzzleSpec.from_line(l) for l in read_lines("top95.txt") + read_lines("hardest.txt")]


def sudoku17_set(n: int, seed: int) -> list[PuzzleSpec]:
    lines = read_lines("sudoku17.txt")
    return [PuzzleSpec.from_line(l) for l in random.Random(seed).sample(lines, min(n, len(lines)))]


def caged_set(kind: str, size: int, count: int, seed: int) -> tuple[list[PuzzleSpec], str]:
    """Puzzles from the project's generator; if it is unavailable, random cages
    over a solved grid (uniqueness then not guaranteed). Returns (specs, source)."""
    try:
        from vlm_puzzle.render.generate import generate_puzzle
        specs = [generate_puzzle(kind, size, seed=seed + i, verify=False)[0] for i in range(count)]
        return specs, "vlm_puzzle.render.generate"
    except ImportError:
        rng = random.Random(seed)
        return [_random_caged(kind, size, rng) for _ in range(count)], "random cages (no generator)"


def _random_caged(kind: str, n: int, rng: random.Random) -> PuzzleSpec:
    base = PuzzleSpec.sudoku([[0] * n] * n) if kind == "killer" else None
    if base is not None:
        grid = solve(base, unique=False).solution
    else:
        grid = [[(r + c) % n + 1 for c in range(n)] for r in range(n)]
        rng.shuffle(grid)
    free = {(r, c) for r in range(n) for c in range(n)}
    cages = []
    while free:
        cells = [min(free)]
        free.discard(cells[0])
        while len(cells) < rng.randint(1, 4):
            options = sorted({(r + dr, c + dc) for r, c in cells for dr, dc in ((0, 1), (1, 0))} & free)
            if not options:
                break
            cells.append(rng.choice(options))
            free.discard(cells[-1])
        vals = [grid[r][c] for r, c in cells]
        if kind == "killer":
            cages.append(Cage(tuple(cells), "sum", sum(vals), distinct=len(set(vals)) == len(vals)))
        else:
            cages.append(Cage(tuple(cells), "add" if len(cells) > 1 else None, sum(vals), distinct=False))
    return PuzzleSpec.killer(cages) if kind == "killer" else PuzzleSpec.kenken(n, cages)


# ---- OR-Tools CP-SAT, same model ------------------------------------------------------

def cpsat_solve(spec: PuzzleSpec, mode: str = "resolve") -> tuple[str, list[list[int]] | None]:
    """Solve and prove uniqueness with CP-SAT on one worker; returns (status, solution).

    mode "resolve": solve, forbid that solution, solve again (presolve stays on);
    mode "enumerate": one search enumerating solutions, stopped at the second."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    n = spec.size
    x = {cell: model.NewIntVar(1, n, f"x{cell}") for cell in spec.cells}
    for r, row in enumerate(spec.givens):
        for c, v in enumerate(row):
            if v:
                model.Add(x[(r, c)] == v)
    for group in spec.groups:
        model.AddAllDifferent([x[c] for c in group])
    for cage in spec.cages:
        xs = [x[c] for c in cage.cells]
        if cage.op in ("sum", "add") or (cage.op is None):
            model.Add(sum(xs) == cage.target)
        elif cage.op == "mul":
            model.AddMultiplicationEquality(cage.target, xs)
        elif cage.op == "sub":
            model.AddAbsEquality(cage.target, xs[0] - xs[1])
        elif cage.op == "div":
            first_big = model.NewBoolVar("")
            model.Add(xs[0] == cage.target * xs[1]).OnlyEnforceIf(first_big)
            model.Add(xs[1] == cage.target * xs[0]).OnlyEnforceIf(first_big.Not())
        if cage.distinct and len(xs) > 1:
            model.AddAllDifferent(xs)

    if mode == "enumerate":
        return _cpsat_enumerate(model, x, n)

    def run():
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        status = solver.Solve(model)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return [[solver.Value(x[(r, c)]) for c in range(n)] for r in range(n)]
        return None

    first = run()
    if first is None:
        return "no_solution", None
    differs = []  # forbid this solution: some free cell must differ
    for (r, c), var in x.items():
        if not spec.givens[r][c]:
            b = model.NewBoolVar("")
            model.Add(var != first[r][c]).OnlyEnforceIf(b)
            differs.append(b)
    if not differs:
        return "solved", first
    model.AddBoolOr(differs)
    return ("multiple" if run() is not None else "solved"), first


def _cpsat_enumerate(model, x, n):
    from ortools.sat.python import cp_model

    class FirstTwo(cp_model.CpSolverSolutionCallback):
        def __init__(self):
            super().__init__()
            self.grids = []

        def on_solution_callback(self):
            self.grids.append([[self.Value(x[(r, c)]) for c in range(n)] for r in range(n)])
            if len(self.grids) >= 2:
                self.StopSearch()

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.enumerate_all_solutions = True
    found = FirstTwo()
    solver.Solve(model, found)
    if not found.grids:
        return "no_solution", None
    return ("multiple" if len(found.grids) > 1 else "solved"), found.grids[0]


# ---- measuring ------------------------------------------------------------------------

def run_ours(spec: PuzzleSpec, timeout_s: float):
    out = solve(spec, unique=True, timeout_s=timeout_s)
    return out.status, out.solution, out.stats.nodes


def run_cpsat(spec: PuzzleSpec, timeout_s: float, mode: str = "resolve"):
    status, solution = cpsat_solve(spec, mode)
    return status, solution, None


def measure(name: str, specs: list[PuzzleSpec], runner, timeout_s: float) -> dict:
    times, statuses, bad, nodes = [], {}, 0, []
    for spec in specs:
        t0 = time.perf_counter()
        status, solution, n_nodes = runner(spec, timeout_s)
        times.append(time.perf_counter() - t0)
        statuses[status] = statuses.get(status, 0) + 1
        if solution is None or violations(spec, solution):
            bad += 1
        if n_nodes is not None:
            nodes.append(n_nodes)
    total = sum(times)
    row = {"solver": name, "n": len(specs), "total_s": total,
           "median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * _quantile(times, 0.9),
           "max_ms": 1000 * max(times), "per_s": len(specs) / total if total else float("inf"),
           "statuses": statuses, "unverified": bad}
    if nodes:
        row["median_nodes"] = statistics.median(nodes)
        row["max_nodes"] = max(nodes)
    return row


def _quantile(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="hard,17,killer9,kenken6,kenken7,kenken8,kenken9",
                    help="comma-separated puzzle sets (default: all)")
    ap.add_argument("--n17", type=int, default=1000, help="sudoku17 sample size")
    ap.add_argument("--caged", type=int, default=20, help="generated puzzles per killer/KenKen set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0, help="per-puzzle limit for our solver (s)")
    ap.add_argument("--no-cpsat", action="store_true", help="skip the OR-Tools baseline")
    ap.add_argument("--cpsat-unique", choices=("resolve", "enumerate", "both"), default="both",
                    help="how CP-SAT proves uniqueness: solve twice, enumerate to 2, or both (default; the ratio uses the faster)")
    ap.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU core")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    results = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                           "cores_visible": len(os.sched_getaffinity(0)), "load": os.getloadavg()},
               "args": {k: str(v) for k, v in vars(args).items()}, "sets": []}
    print(f"{'set':9} {'solver':10} {'n':>5} {'total s':>8} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} "
          f"{'puz/s':>7}  statuses")
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        source = "sudoku-text"
        if name == "hard":
            specs = hard_set()
        elif name == "17":
            specs = sudoku17_set(args.n17, args.seed)
        elif name == "killer9":
            specs, source = caged_set("killer", 9, args.caged, args.seed)
        elif name.startswith("kenken"):
            specs, source = caged_set("kenken", int(name[len("kenken"):]), args.caged, args.seed)
        else:
            ap.error(f"unknown set {name!r}")
        rows = [measure("ours", specs, run_ours, args.timeout)]
        if not args.no_cpsat:
            modes = ("resolve", "enumerate") if args.cpsat_unique == "both" else (args.cpsat_unique,)
            for mode in modes:
                rows.append(measure(f"cpsat-{mode[:4]}", specs,
                                    lambda spec, t, mode=mode: run_cpsat(spec, t, mode), args.timeout))
        entry = {"set": name, "source": source, "rows": rows}
        for row in rows:
            print(f"{name:9} {row['solver']:10} {row['n']:5d} {row['total_s']:8.3f} {row['median_ms']:10.2f} "
                  f"{row['p90_ms']:8.2f} {row['max_ms']:8.2f} {row['per_s']:7.1f}  {row['statuses']}"
                  + (f"  UNVERIFIED {row['unverified']}" if row["unverified"] else ""))
        if len(rows) > 1:
            best = min(rows[1:], key=lambda r: r["total_s"])  # the faster CP-SAT variant
            entry["ratio_total"] = rows[0]["total_s"] / best["total_s"]
            print(f"{'':9} ours/{best['solver']} total time: {entry['ratio_total']:.2f}x")
        results["sets"].append(entry)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
