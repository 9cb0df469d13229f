"""vlm_puzzle: solve grid logic puzzles from pictures.

Importing this package is cheap: torch and transformers load only when the
Qwen-VL backend is used.
"""
from vlm_puzzle.spec import Cage, PuzzleSpec, SpecError

__version__ = "0.1.0"
__all__ = ["Cage", "PuzzleSpec", "SpecError", "__version__"]
