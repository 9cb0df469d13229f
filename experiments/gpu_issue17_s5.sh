#!/usr/bin/env bash
# Issue 17, fifth session, on one H200 in ONE device command (~200 s): the prefetched fast load builds its
# model shell in host memory instead of on the meta device (meta kernels import sympy and torch._dynamo).
# Before (BEFORE=<a copy of the tree before the change>) and after, each a fresh process on the same
# random-weight 3B checkpoint; bit-identity against from_pretrained; the first call of a fresh process.
#
#   git archive 4264f6e src experiments | (mkdir -p .devcarry/before17 && tar x -C .devcarry/before17)
#   run(command="BEFORE=.devcarry/before17 bash experiments/gpu_issue17_s5.sh", carry=[".whl", ".devcarry/before17"],
#       timeout_s=300)
#
# Results under $OUT: load_before.json, load_after.json, session.log.
# CPU dry run on a tiny checkpoint: DRY=1 CKPT=/tmp/tq OUT=/tmp/o17 bash experiments/gpu_issue17_s5.sh
set -u -o pipefail
OUT=${OUT:-/tmp/issue17_out}
TOTAL_S=${TOTAL_S:-280}
cd "$(dirname "$0")/.."
ROOT=$PWD
source experiments/gpu_session_env.sh
export VLM_PUZZLE_COMPILE_CACHE=${VLM_PUZZLE_COMPILE_CACHE:-/tmp/vlm_cc}
CKPT=${CKPT:-/tmp/ckpt3b}
DEV=cuda; [ "${DRY:-0}" = 1 ] && DEV=cpu
if [ ! -d "$CKPT" ]; then
  say "1: random-weight 3B checkpoint built on the GPU"
  timeout "$(left 90)" python3 experiments/bench_vlm_gpu.py --archs qwen2.5-vl-3b --save-random "$CKPT" \
    --save-device cuda 2>&1 | tail -3 | tee -a "$LOG"
fi
LOADS="wrapper_fast wrapper_fast compare"
if [ -n "${BEFORE:-}" ] && [ -d "$BEFORE" ]; then
  say "2: before (meta-device shell), fresh processes"
  (cd "$BEFORE" && PYTHONPATH=/tmp/site:src BENCH_LOAD_JSON="$OUT/load_before.json" timeout "$(left 60)" \
    python3 experiments/bench_vlm_gpu.py --load "$CKPT" --load-device "$DEV" --load-variants wrapper_fast \
    wrapper_fast 2>&1 | grep -E "^load" | cut -c1-400 | tee -a "$LOG")
fi
say "3: after (host-memory shell): load twice, bit-identity, the first call twice (the second on a warm compile cache)"
FIRST="first_call first_call"; [ "${DRY:-0}" = 1 ] && FIRST=""
BENCH_LOAD_JSON="$OUT/load_after.json" timeout "$(left 150)" python3 experiments/bench_vlm_gpu.py --load "$CKPT" \
  --load-device "$DEV" --load-variants $LOADS $FIRST 2>&1 | grep -E "^load" | cut -c1-600 | tee -a "$LOG"
say "done"
