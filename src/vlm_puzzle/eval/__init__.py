"""Evaluation helpers: ground truth next to images (``truth``), scoring a reading or an answer against
it (``score``), the benchmark's puzzles (``puzzles``), third-party development data (``sgt``: prints of
sgt-puzzles, ``kubiesa``: phone photos with handwritten fills). Used by ``experiments/``, ``training/``
and the tests, never by the pipeline. Import the submodule you need; nothing is imported here."""
