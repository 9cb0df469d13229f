#!/usr/bin/env bash
# Clue reader training on the device machine (16 cores, one GPU), one call:
#   run(command="bash training/gpu_train_clues.sh", carry=[".devcarry/trainfonts", ".devcarry/whl"], timeout_s=600)
# Renders the strips on every core (training/train_clues.py --render-only), then
# trains three network widths side by side on the GPU; weights, cards and the log
# land in $OUT. The fonts: training/font_packs.py plus the installed training
# families, copied into .devcarry/trainfonts (the device has only DejaVu); the
# python-constraint2 wheel (the renderer imports the solver) in .devcarry/whl.
set -uo pipefail
OUT=${OUT:-out/gpu_clues}; mkdir -p "$OUT"
if [ -d .devcarry/whl ]; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .devcarry/whl/*.whl || exit 1
fi
export PYTHONPATH=$PWD/src:$PWD:/tmp/site PYTHONUNBUFFERED=1 VLM_PUZZLE_FONT_DIRS=$PWD/.devcarry/trainfonts
SEED=${SEED:-300} EPOCHS=${EPOCHS:-20} PUZZLES=${PUZZLES:-9000} MINUTES=${MINUTES:-3.5}
# INIT=dir: fine-tune each width from dir/clues_w$w.onnx (fresh data with another SEED).
INIT=${INIT:-} MAX_LR=${MAX_LR:-0.005}
DATA=/tmp/clues_$SEED.npz
{
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
  python3 training/train_clues.py --puzzles "$PUZZLES" --val-puzzles 300 --workers "$(nproc)" \
      --minutes "$MINUTES" --seed "$SEED" --data "$DATA" --render-only || exit 1
  for w in ${WIDTHS:-1 1.5 2}; do
    python3 training/train_clues.py --data "$DATA" --seed "$SEED" --epochs "$EPOCHS" --width "$w" \
        --shape-aug --batch 512 --threads 2 --max-lr "$MAX_LR" ${INIT:+--init "$INIT/clues_w$w.onnx"} \
        --out "$OUT/clues_w$w.onnx" > "/tmp/train_w$w.log" 2>&1 &
  done
  wait
  grep -v Warning /tmp/train_w*.log
} 2>&1 | tee "$OUT/run.log"
