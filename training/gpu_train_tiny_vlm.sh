#!/usr/bin/env bash
# vlm-puzzle-tiny on the device machine (16 cores, one GPU), one call of at most 10 minutes:
#   mkdir -p .devcarry/wt14/fonts .devcarry/wt14/whl   # training fonts (train_clues.TRAIN_FAMILIES) and the
#   # python-constraint2 wheel (the renderer imports the solver); then
#   run(command="cd .devcarry/wt14 && MINUTES=7 bash training/gpu_train_tiny_vlm.sh", carry=[".devcarry/wt14"])
# INIT=DIR continues from a checkpoint (the shipped model: a first run of 6.3 min from scratch, then
# a second of 7 min from it, with data made 10x faster). Trains for MINUTES (training/tiny_vlm.py: 15 render workers feeding a GPU replay buffer), then
# experiments/bench_tiny_vlm.py: decode exactness (plain generate vs fast modes) and batched
# throughput on the GPU, one-thread CPU answer times. Back in $OUT: tiny.tar (the checkpoint),
# train_log.txt, bench.json, cpu.json.
set -uo pipefail
OUT=${OUT:-out/tiny_vlm}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
WHEELS=${WHEELS:-whl}
if [ -d "$WHEELS" ]; then python3 -m pip install -q --no-index --no-deps --target /tmp/site "$WHEELS"/*.whl || exit 1; fi
export PYTHONPATH=$PWD/src:$PWD:/tmp/site PYTHONUNBUFFERED=1 VLM_PUZZLE_FONT_DIRS=$PWD/${FONTS:-fonts}
# One BLAS/OpenMP thread a process: both runs so far made only ~13 pictures/s with 15 workers
# (0.3 s a picture each on this project's 2-core machine), likely 16 threads in each of 16 processes.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
MINUTES=${MINUTES:-7} WORKERS=${WORKERS:-15} BATCH=${BATCH:-128} LR=${LR:-1e-3}
CKPT=/tmp/vlm-puzzle-tiny
{
  date; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
  python3 -c "import torch, transformers, cv2; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  python3 training/tiny_vlm.py --out $CKPT --minutes "$MINUTES" --workers "$WORKERS" --batch "$BATCH" --lr "$LR" \
      ${INIT:+--init "$INIT"} ${EXTRA:-} || exit 1
  tar -C /tmp -cf "$OUT/tiny.tar" vlm-puzzle-tiny
  timeout ${BENCH_S:-100} python3 experiments/bench_tiny_vlm.py $CKPT --n 256 --batches ${BENCH_BATCHES:-64 256 1024} --modes static graph \
      --json "$OUT/bench.json"
  OMP_NUM_THREADS=1 timeout ${CPU_S:-40} taskset -c 0 python3 experiments/bench_tiny_vlm.py $CKPT --json "$OUT/cpu.json" \
      --cpu-only data/samples/*_2024.png data/samples/*_photo.jpg data/photos/*.jpg
  date
} 2>&1 | grep -v -i "warn\|Loading weights\|Writing model" | tee "$OUT/train_log.txt"
