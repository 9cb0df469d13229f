"""State extraction: find the grid in a picture, rectify it, read every cell.

    from vlm_puzzle.vision import extract_state
    state = extract_state("photo.jpg")      # GridState: size, box, givens, probs, corners, ...
    spec = state.to_spec()

Pure OpenCV + NumPy; the digit network runs through ``cv2.dnn`` (no torch).
"""
from vlm_puzzle.vision.extract import GridState, extract_state
from vlm_puzzle.vision.grid import GridLocation, Lattice, locate_grid

__all__ = ["GridState", "GridLocation", "Lattice", "extract_state", "locate_grid"]
