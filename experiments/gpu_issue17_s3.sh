#!/usr/bin/env bash
# Issue 17, third session, on one H200 in ONE device command (<= ~340 s): the current default (`regional`
# MLP+RMSNorm+rope compiled, emulate_precision_casts) against the same step with the q/k/v and gate/up
# projections fused into one GEMM each (regional parts qkv, gateup), in the same processes: batch-1 table
# with the token check against generate (random 3B) and kernel profiles, `graph` measured before and after
# the compiled modes (does compiling slow the eager prefill of every decoder, or only its own?), exactness
# on the TRAINED vlm-puzzle-tiny, batches 16/64/128, and where the load's imports go on that host.
#
#   rsync -a --delete --exclude .git ./ /work/main/.devcarry/wt-17/
#   run(command="cd .devcarry/wt-17 && WHL=../../.whl bash experiments/gpu_issue17_s3.sh",
#       carry=[".whl", ".devcarry/wt-17"], timeout_s=360)
#
# Results under $OUT (at most 8 files come back): b1.json, trained.json, batched.json, load.json,
# importtime.txt, profile.tgz, session.log (every step's output and the environment).
set -u -o pipefail
OUT=${OUT:-/tmp/issue17_out}
TOTAL_S=${TOTAL_S:-340}
cd "$(dirname "$0")/.."
source experiments/gpu_session_env.sh

export VLM_PUZZLE_COMPILE_CACHE=/tmp/vlm_cc   # fresh machine: the first regional compile is cold
CKPT=/tmp/ckpt3b
B="python3 experiments/bench_vlm_gpu.py --archs qwen2.5-vl-3b --new-tokens 64"
OLD=mlp+norm+rope; QKV=mlp+norm+rope+qkv; ALL=mlp+norm+rope+qkv+gateup

say "1: batch 1: graph, regional $OLD / $QKV / $ALL, graph again; token check (random 3B); profiles; save checkpoint"
timeout "$(left 140)" $B --batches 1 --modes graph regional graph --emulate on --regional-parts $OLD $QKV $ALL \
  --check --repeats 5 --profile "$OUT/profile" --save "$CKPT" --json "$OUT/b1.json" 2>&1 | tee -a "$LOG" \
  | grep -E "^\||saved|FAILED|Error|kernels per step" || true
tar czf "$OUT/profile.tgz" -C "$OUT" profile 2>/dev/null && rm -rf "$OUT/profile"

say "2: exactness on the trained vlm-puzzle-tiny (every sample picture, batch 1 and 8, free and 48 forced tokens)"
timeout "$(left 60)" python3 experiments/bench_vlm_gpu.py --modes graph regional --emulate on \
  --regional-parts $OLD $QKV $ALL --trained-check "$OUT/trained.json" 2>&1 | tee -a "$LOG" | grep -E "^trained|Error" || true

say "3: batched, old default against the fused step (second process: the compile cache is warm for batch 1)"
timeout "$(left 100)" $B --batches 1 16 64 128 --modes regional --emulate on --regional-parts $OLD $ALL \
  --repeats 3 --json "$OUT/batched.json" 2>&1 | tee -a "$LOG" | grep -E "^\||FAILED|Error" || true

say "4: load: where the imports go (-X importtime), then the load variants (fresh process each)"
python3 -X importtime -c "import transformers as t; t.AutoModelForImageTextToText; import transformers.models.qwen2_5_vl.modeling_qwen2_5_vl, transformers.models.qwen2_5_vl.processing_qwen2_5_vl" \
  2> "$OUT/importtime.txt" || true
if [ -d "$CKPT" ]; then
  BENCH_LOAD_JSON="$OUT/load.json" timeout "$(left 60)" python3 experiments/bench_vlm_gpu.py --load "$CKPT" \
    --load-variants imports wrapper_fast 2>&1 | tee -a "$LOG" | grep -E "^load" || true
fi
say "done"
