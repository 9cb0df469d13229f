#!/usr/bin/env bash
# Issue 17's "after" measurements on one H200 in ONE device command (<= ~530 s): the README's GPU table
# again (the commands of experiments/results/issue17_h200_before/README.md, less the unchanged hf-static
# and compiled rows, which compile for 58 s and 108 s), plus the regional steps (emulate_precision_casts on;
# rotary / MLP / RMSNorm compiled), exactness on the TRAINED shipped model, kernel profiles, the load
# variants (imports split out) and the fusion / FP8 probe.
#
#   rsync -a --delete --exclude .git ./ /work/main/.devcarry/wt-17/
#   run(command="cd .devcarry/wt-17 && WHL=../../.whl bash experiments/gpu_issue17_after.sh",
#       carry=[".whl", ".devcarry/wt-17"], timeout_s=540)
#
# Results under $OUT: b1.{json,md}, batched.{json,md}, trained.json, load.json, probe.json, profile/*.txt,
# env.txt, session.log. Each step has its own limit and the whole stops at TOTAL_S (default 530 s).
set -u -o pipefail
OUT=${OUT:-/tmp/issue17_out}
TOTAL_S=${TOTAL_S:-530}
cd "$(dirname "$0")/.."
source experiments/gpu_session_env.sh
grep -E "^(NVIDIA|torch) " "$LOG" > "$OUT/env.txt"

export VLM_PUZZLE_COMPILE_CACHE=/tmp/vlm_cc   # fresh machine: the first regional compile is cold
CKPT=/tmp/ckpt3b
B="python3 experiments/bench_vlm_gpu.py --archs qwen2.5-vl-3b --new-tokens 64"
REG="--emulate on --regional-parts rope mlp+rope mlp+norm+rope"

say "1: batch 1 table, token check against generate (random 3B), kernel profiles; save checkpoint"
timeout "$(left 200)" $B --batches 1 --modes hf-dynamic graph regional $REG --check --repeats 5 \
  --profile "$OUT/profile" --save "$CKPT" --json "$OUT/b1.json" --markdown "$OUT/b1.md" 2>&1 | tee -a "$LOG" \
  | grep -E "^\||saved|FAILED|Error|kernels per step" || true

say "2: fusion / FP8 probe"
timeout "$(left 20)" python3 experiments/gpu_fusion_probe.py --json "$OUT/probe.json" 2>&1 | tee -a "$LOG" | tail -3 || true

say "3: exactness on the trained vlm-puzzle-tiny (every sample picture, batch 1 and 8, free and 48 forced tokens)"
timeout "$(left 90)" python3 experiments/bench_vlm_gpu.py --modes graph regional $REG --trained-check "$OUT/trained.json" \
  2>&1 | tee -a "$LOG" | grep -E "^trained|Error" || true

say "4: batched (second process: the compile cache is warm for batch 1)"
timeout "$(left 110)" $B --batches 1 16 64 128 --modes graph regional --emulate on --regional-parts mlp+norm+rope \
  --repeats 3 --json "$OUT/batched.json" --markdown "$OUT/batched.md" 2>&1 | tee -a "$LOG" \
  | grep -E "^\||FAILED|Error" || true

if [ -d "$CKPT" ]; then
  say "5: load (fresh process each)"
  BENCH_LOAD_JSON="$OUT/load.json" timeout "$(left 100)" python3 experiments/bench_vlm_gpu.py --load "$CKPT" \
    --load-variants imports wrapper_fast fast_load compare plain 2>&1 | tee -a "$LOG" | grep -E "^load" || true
fi
say "done"
