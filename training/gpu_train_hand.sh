#!/usr/bin/env bash
# Issue 13 handwriting: both glyph readers retrained in ONE device call (16 cores, one GPU), with
# boards written by hand on the renderer's grid (render.handwritten + handwriting.TrainWriter: MNIST
# train split, training fonts, strokes) besides gpu_train_readers.sh's data. Run from a folder that
# holds src/, training/ and the inputs listed at the head of gpu_train_readers.sh, e.g.
#   run(command="cd .devcarry/wt-hand && bash training/gpu_train_hand.sh",
#       carry=[".devcarry/wt-hand"], timeout_s=420)
# Digits: train_digits.py with HAND_BOARDS of its rendered puzzles written by hand, no folds (one
# final model). Clues: renderer strips (WIDE_OPS of the printed puzzles with any operator glyphs,
# HAND_BOARDS2 of the puzzles KenKens written by hand) + handwritten clue strips (clue_synth.py),
# fine-tuned from the shipped reader: two runs from the same data (clues_a, clues_b: LR and epochs),
# one after the other. Everything lands in $OUT (readers.tar + logs).
set -uo pipefail
OUT=${OUT:-out/gpu_hand}
source "$(dirname "$0")/gpu_readers_env.sh"
HAND=${HAND:-0.45} GRIDS=${GRIDS:-7000} RENDERED=${RENDERED:-3500} EPOCHS=${EPOCHS:-10} PHOTO_WEIGHT=${PHOTO_WEIGHT:-3.0}
HAND_BOARDS=${HAND_BOARDS:-0.4} RENDER_MIN=${RENDER_MIN:-1.4}
CLUE_PUZZLES=${CLUE_PUZZLES:-4000} HAND_STRIPS=${HAND_STRIPS:-30000} HAND_BOARDS2=${HAND_BOARDS2:-0.35}
WIDE_OPS=${WIDE_OPS:-0.35} CLUE_MIN=${CLUE_MIN:-1.6} CLUE_EPOCHS=${CLUE_EPOCHS:-6}
LIMIT=${LIMIT:-370}
(
  timeout "$LIMIT" python3 training/train_digits.py --photos "$C/photos.npz" --train-photos "$C/kubiesa/train.npz" \
      --fonts "$C/fonts" --grids "$GRIDS" --hand "$HAND" --rendered "$RENDERED" --hand-boards "$HAND_BOARDS" \
      --render-minutes "$RENDER_MIN" --rendered-dev "${RENDERED_DEV:-200}" --epochs "$EPOCHS" --folds 0 \
      --photo-weight "$PHOTO_WEIGHT" --seed 2 --workers "${WORKERS:-10}" \
      --orient-model src/vlm_puzzle/vision/weights/digits.onnx --out "$OUT/digits" 2>&1 \
      | grep --line-buffered -v -i "warning\|torch.onnx.export(\|torch.from_numpy"
  echo "digits exit ${PIPESTATUS[0]} $(date)"
) > "$OUT/digits_log.txt" 2>&1 &
(
  T0=$(date +%s)
  timeout "$LIMIT" python3 training/train_clues.py --puzzles "$CLUE_PUZZLES" --val-puzzles 150 \
      --workers "${CLUE_WORKERS:-5}" --minutes "$CLUE_MIN" --seed 330 --hand-strips "$HAND_STRIPS" --hand-val "${HAND_VAL:-2000}" \
      --hand-boards "$HAND_BOARDS2" --wide-ops "$WIDE_OPS" --data /tmp/clues_330.npz --render-only || exit 1
  for V in a b; do
    if [ $V = a ]; then LR=0.0015; EP=$CLUE_EPOCHS; else LR=0.0008; EP=$((CLUE_EPOCHS + 4)); fi
    LEFT=$(( LIMIT - ($(date +%s) - T0) - 5 ))
    [ "$LEFT" -gt 20 ] || break
    timeout "$LEFT" python3 training/train_clues.py --data /tmp/clues_330.npz --seed 330 --epochs "$EP" \
        --width 1.5 --shape-aug --batch 512 --threads 3 --max-lr "$LR" --hand-val "${HAND_VAL:-2000}" \
        --init src/vlm_puzzle/vision/weights/clues_ctc3.onnx --out "$OUT/clues_$V/clues_ctc4.onnx"
    echo "clues_$V exit $? $(date)"
  done
) > "$OUT/clues_log.txt" 2>&1 &
wait
(cd "$OUT" && tar cf readers.tar digits clues_a clues_b 2>/dev/null; rm -rf digits clues_a clues_b)
date >> "$OUT/env.txt"
