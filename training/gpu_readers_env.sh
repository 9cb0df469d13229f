# Sourced by the glyph readers' device scripts (gpu_train_readers.sh, gpu_train_hand.sh) once OUT
# has its default: the carried wheels and fonts installed, the paths exported, the machine noted in
# $OUT/env.txt. CARRY (default ".") is the folder of the carried inputs gpu_train_readers.sh lists.
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
C=${CARRY:-.}
python3 -m pip install -q --no-index --no-deps --target "${SITE:-/tmp/site}" "$C"/whl/*.whl || exit 1
[ -d /usr/share/fonts/truetype/dejavu ] && mkdir -p "$C/fonts/dejavu" && cp -n /usr/share/fonts/truetype/dejavu/*.ttf "$C/fonts/dejavu/"
export PYTHONPATH=$PWD/src:$PWD/training:${SITE:-/tmp/site} PYTHONUNBUFFERED=1
export VLM_PUZZLE_FONT_DIRS=$PWD/$C/fonts:$PWD/$C/digitfonts HANDWRITING_FONT_DIRS=$PWD/$C/fonts/hand
{ date; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc; } | tee "$OUT/env.txt"
