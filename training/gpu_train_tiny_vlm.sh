#!/usr/bin/env bash
# vlm-puzzle-tiny on the device machine (16 cores, one GPU), one call of at most 10 minutes:
#   mkdir -p .devcarry/wt-14/fonts .devcarry/wt-14/whl   # training fonts (render.heldout.TRAIN_FAMILIES:
#   # the installed ones and training/font_packs.py's) and the wheels (transformers, python-constraint2); then
#   run(command="cd .devcarry/wt-14 && MINUTES=6 bash training/gpu_train_tiny_vlm.sh", carry=[".devcarry/wt-14"])
# INIT=DIR continues from a checkpoint (default: the shipped model; INIT= starts from scratch). Trains
# for MINUTES (training/tiny_vlm.py: WORKERS render processes feeding a GPU replay buffer, the grid view
# by default), then experiments/bench_tiny_vlm.py: decode exactness (plain generate vs fast modes) and
# batched throughput on the GPU, one-thread CPU answer times. Back in $OUT: tiny.tar (the checkpoint),
# train_log.txt, bench.json, cpu.json (BENCH=0: no benchmarks, for a short call). REAL=DIR mixes in the
# real photos of a training/vlm_real.py pack. PY and DEVICE let the same script run a CPU smoke test.
set -uo pipefail
OUT=${OUT:-out/tiny_vlm}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
WHEELS=${WHEELS:-whl}
PY=${PY:-python3}
if [ -d "$WHEELS" ]; then $PY -m pip install -q --no-index --no-deps --target /tmp/site "$WHEELS"/*.whl || exit 1; fi
export PYTHONPATH=$PWD/src:$PWD:/tmp/site PYTHONUNBUFFERED=1 VLM_PUZZLE_FONT_DIRS=$PWD/${FONTS:-fonts}
# One BLAS/OpenMP thread a process: 16 threads in each of 16 render processes starve them.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
MINUTES=${MINUTES:-6} WORKERS=${WORKERS:-15} BATCH=${BATCH:-128} LR=${LR:-1e-3} DEVICE=${DEVICE:-cuda}
INIT=${INIT-src/vlm_puzzle/models/weights/vlm-puzzle-tiny}
CKPT=${CKPT:-/tmp/vlm-puzzle-tiny}
{
  date; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
  $PY -c "import torch, transformers, cv2; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  $PY training/tiny_vlm.py --out $CKPT --minutes "$MINUTES" --workers "$WORKERS" --batch "$BATCH" --lr "$LR" \
      --device "$DEVICE" ${INIT:+--init "$INIT"} ${REAL:+--real "$REAL"} ${EXTRA:-} || exit 1
  tar -C "$(dirname $CKPT)" -cf "$OUT/tiny.tar" "$(basename $CKPT)"
  date
  if [ "${BENCH:-1}" = 0 ]; then exit 0; fi
  if [ "$DEVICE" = cuda ]; then
    timeout ${BENCH_S:-100} $PY experiments/bench_tiny_vlm.py $CKPT --n 256 --batches ${BENCH_BATCHES:-64 256 1024} \
        --modes static graph --json "$OUT/bench.json"
  fi
  OMP_NUM_THREADS=1 timeout ${CPU_S:-40} taskset -c 0 $PY experiments/bench_tiny_vlm.py $CKPT --json "$OUT/cpu.json" \
      --cpu-only data/samples/*_2024.png data/samples/*_photo.jpg data/photos/*.jpg
  date
} 2>&1 | grep -v -i "warn\|Loading weights\|Writing model" | tee "$OUT/train_log.txt"
