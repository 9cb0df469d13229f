#!/usr/bin/env bash
# Issue 17, fourth session, on one H200 in ONE device command (<= ~380 s): the decode step's sdpa mask built
# once per step as 0/-inf (mk-float, the new default) against the bool mask sdpa converts in every layer
# (mk-bool, the default before), the decode attention kernel forced (sb-efficient: opt-in), all in
# the same process with the token check against generate (random 3B); the load with the lean imports against
# the ordinary ones and the first call of a fresh process; exactness on the TRAINED vlm-puzzle-tiny; batches
# 1/16/64/128 before/after with a profile of the batch-64 prefill.
#
#   rsync -a --delete --exclude .git ./ /work/main/.devcarry/wt-17/
#   run(command="cd .devcarry/wt-17 && WHL=../../.whl bash experiments/gpu_issue17_s4.sh",
#       carry=[".whl", ".devcarry/wt-17"], timeout_s=410)
#
# Results under $OUT: b1.json, load.json, trained.json, batched.json, profile.tgz, session.log.
# CPU dry run of the load and trained steps (tiny checkpoint): DRY=1 CKPT=/tmp/tinyckpt bash experiments/gpu_issue17_s4.sh
set -u -o pipefail
OUT=${OUT:-/tmp/issue17_out}
TOTAL_S=${TOTAL_S:-380}
cd "$(dirname "$0")/.."
source experiments/gpu_session_env.sh

export VLM_PUZZLE_COMPILE_CACHE=${VLM_PUZZLE_COMPILE_CACHE:-/tmp/vlm_cc}  # fresh machine: cold first compile
CKPT=${CKPT:-/tmp/ckpt3b}
DEV=cuda; [ "${DRY:-0}" = 1 ] && DEV=cpu
B="python3 experiments/bench_vlm_gpu.py --archs qwen2.5-vl-3b --new-tokens 64"
QKV=mlp+norm+rope+qkv   # the regional parts of the default (fast_decode.AUTO_REGIONAL_PARTS)
VARIANTS="mk-bool mk-float mk-float:sb-efficient"

if [ "${DRY:-0}" != 1 ]; then
  say "1: batch 1: graph and regional $QKV, each with $VARIANTS; token check (random 3B); profiles; save checkpoint"
  timeout "$(left 150)" $B --batches 1 --modes graph regional --emulate on --regional-parts $QKV --variants $VARIANTS \
    --check --repeats 5 --profile "$OUT/profile" --save "$CKPT" --json "$OUT/b1.json" 2>&1 | tee -a "$LOG" \
    | grep -E "^\||saved|FAILED|Error|kernels per step" || true
fi

say "2: load (lean imports, the default, against the ordinary ones) and the first call of a fresh process"
if [ -d "$CKPT" ]; then
  BENCH_LOAD_JSON="$OUT/load.json" timeout "$(left 80)" python3 experiments/bench_vlm_gpu.py --load "$CKPT" \
    --load-device "$DEV" --load-variants wrapper_fast wrapper_fast_ordinary first_call first_call_ordinary \
    2>&1 | tee -a "$LOG" | grep -E "^load" | cut -c1-400 || true
fi

say "3: exactness on the trained vlm-puzzle-tiny (every sample picture, batch 1 and 8, free and 48 forced tokens)"
MODES="graph regional"; [ "${DRY:-0}" = 1 ] && MODES=graph  # a CPU compile of the regional step takes minutes
timeout "$(left 60)" python3 experiments/bench_vlm_gpu.py --modes $MODES --emulate on --regional-parts $QKV \
  --variants $VARIANTS --trained-check "$OUT/trained.json" 2>&1 | tee -a "$LOG" | grep -E "^trained|Error" || true

if [ "${DRY:-0}" != 1 ]; then
  say "4: batched, default before (mk-bool) and after (mk-float); profile of the batch-64 prefill"
  timeout "$(left 110)" $B --batches 1 16 64 128 --modes regional --emulate on --regional-parts $QKV \
    --variants mk-bool mk-float --repeats 3 --profile "$OUT/profile" --profile-batches 64 \
    --json "$OUT/batched.json" 2>&1 | tee -a "$LOG" | grep -E "^\||FAILED|Error|kernels per step" || true
fi
tar czf "$OUT/profile.tgz" -C "$OUT" profile 2>/dev/null && rm -rf "$OUT/profile"
say "done"
