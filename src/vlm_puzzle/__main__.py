"""``python -m vlm_puzzle`` runs the ``vlm-puzzle`` command line."""
import sys

from vlm_puzzle.cli import main

sys.exit(main())
