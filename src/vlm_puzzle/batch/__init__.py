"""Batch solving: many images -> one JSON line each, crash-safe and resumable.

* Inputs are files, folders (searched recursively for images) and glob patterns;
  files of other types in a folder are counted in ``BatchSummary.not_images``.
* Each result is written as one whole line as soon as it is ready, so a killed run
  loses nothing finished; a rerun skips every image already in the output file (a
  torn last line from a kill is dropped first). The output file is locked, and only
  ever one of our results files (see :mod:`vlm_puzzle.results_file`).
* Workers die with the batch: SIGTERM is handled like Ctrl-C (workers killed, exit
  130), and each worker watches the batch's process and exits when it is gone
  (``kill -9``). An image that takes over ``image_timeout_s`` gets an
  ``image_timeout`` line and its worker is replaced.
* CPU stages (decode, grid extraction, geometry rules, CSP) run in worker
  processes; workers never import torch. With the ``qwen`` backend the workers hand
  back their readings and the main process, which holds the model, gathers them
  into batched rule-inference calls. With the ``openai`` backend the main process sends each
  reading to the serving engine as it comes back, with at most the client's ``concurrency``
  requests in flight, and finishes each image when its answer arrives.
* One bad image never stops the others: errors become result lines, and a worker
  that dies (e.g. a native crash) is replaced; the images it held are retried one at
  a time so only the one that kills a worker again is marked ``worker_crashed``.

The jobs live apart: :mod:`~vlm_puzzle.batch.plan` (inputs expanded, finished images
skipped, options checked), :mod:`~vlm_puzzle.batch.workers` (the worker processes and
their pool), :mod:`~vlm_puzzle.batch.run` (the run loop) and
:mod:`~vlm_puzzle.batch.summary` (progress bar and summary).
"""
from vlm_puzzle.batch.plan import expand_inputs, read_done, scan_inputs
from vlm_puzzle.batch.run import run_batch
from vlm_puzzle.batch.summary import BatchSummary
from vlm_puzzle.imageio import IMAGE_EXTS
from vlm_puzzle.result import ErrorInfo

__all__ = ["expand_inputs", "scan_inputs", "read_done", "run_batch", "BatchSummary", "IMAGE_EXTS", "ErrorInfo"]
