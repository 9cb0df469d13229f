"""Perception: find the grid in a picture, rectify it, read every cell and the variant marks.

    from vlm_puzzle.vision import extract_state
    state = extract_state("photo.jpg")      # GridState: size, box, givens, probs, corners, ...
    spec = state.to_spec()

Pixels in, readings with probabilities out: no solver here (the checking stage,
:mod:`vlm_puzzle.check`, decides what to believe). OpenCV + NumPy; the small networks
run through onnxruntime when installed, else ``cv2.dnn`` (:mod:`~vlm_puzzle.vision.nets`; no torch).
"""
from vlm_puzzle.vision.extract import GridReader, extract_state
from vlm_puzzle.vision.grid import GridLocation, Lattice, locate_grid
from vlm_puzzle.vision.reading import CellReading, GridGeometry
from vlm_puzzle.vision.state import GridState

__all__ = ["GridState", "GridGeometry", "CellReading", "GridReader", "GridLocation", "Lattice", "extract_state",
           "locate_grid"]
