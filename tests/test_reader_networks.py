"""The perception networks belong to the reader that uses them: one load of each
network file for all the pictures a solver reads, none held at module level."""
from __future__ import annotations

from pathlib import Path

from vlm_puzzle.pipeline import PuzzleSolver
from vlm_puzzle.vision import GridReader, nets

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def _count_loads(monkeypatch) -> list[str]:
    loads: list[str] = []
    real = nets._open

    def counting(path, *args):
        loads.append(Path(path).name)
        return real(path, *args)

    monkeypatch.setattr(nets, "_open", counting)
    return loads


def test_a_solver_loads_each_network_once(monkeypatch):
    loads = _count_loads(monkeypatch)
    solver = PuzzleSolver("geometry")
    # Digits, edges and (for the cages) clue text, by the print and the handwriting clue networks
    # and the clue character network (which tells a handwritten grid), are read in each of these pictures.
    results = [solver.solve_image(SAMPLES / name) for name in
               ("kenken4_2024.png", "killer9_2024.png", "kenken4_2024_photo.jpg", "sudoku4_2024.png")]
    assert all(r.error is None or r.error.code != "internal_error" for r in results)
    assert len(loads) == len(set(loads)) == 5, loads


def test_readers_do_not_share_networks(monkeypatch):
    loads = _count_loads(monkeypatch)
    a, b = GridReader(), GridReader()
    assert a.classifier is not b.classifier and a.edge_net is not b.edge_net
    assert len(loads) == 4   # digits and edges, each reader its own; the clue reader loads on first use
