#!/usr/bin/env bash
# Issue 7's GPU measurements in ONE device command (~8-9 min on an H100): what the CPU cannot measure.
#
#   1. decode at batch 1, Qwen2.5-VL-3B random weights, bf16, 64 new tokens: graph / regional / compiled,
#      regional (MLP+RMSNorm, and MLP only) and compiled with Inductor's emulate_precision_casts off and on,
#      token equality with plain generate (--check: static- and dynamic-cache references), FRESH compile
#      cache (cold warm-up);
#      the model is also saved as a local checkpoint (random weights, 2 x ~4 GB safetensors shards, no init).
#   2. checkpoint load, warm page cache (+ cold for plain and the wrapper's fast load): from_pretrained,
#      QwenVL load="plain" / load="fast" (read prefetched in a thread, the default on CUDA) / load="fast"
#      streamed (VLM_PUZZLE_LOAD_PREFETCH=0), read_safetensors (bytes only), fast_load.load_fast, and "compare":
#      fast load vs from_pretrained bit for bit on the GPU (all parameters AND buffers: rotary inv_freq).
#   3. a SECOND process with the compile cache of step 1: regional/compiled warm-up (first call s).
#
# How to call it through the device tool (repo root; the machine has torch 2.11 + transformers 5.17, the
# wrapper needs transformers 5.23, carried as the wheel in .whl/, git-ignored):
#
#   ls .whl/transformers-5.23.0-py3-none-any.whl   # else: see /work/.library/device/README.md ("pip download")
#   run(command="bash experiments/gpu_next_session.sh", carry=[".whl"], timeout_s=600, kind="nvidia-h100-x1")
#
# Results come back under $OUT (<= 8 files): next_decode_cold.{json,md}, next_decode_warm.{json,md},
# next_load.json, next_session.log, next_summary.md. Each step has its own time limit so that a slow step
# leaves the others' results; the whole stays under ~570 s. Knobs: STEP1_S, STEP2_S, STEP3_S (seconds).
set -u -o pipefail
OUT=${OUT:-/tmp/next_out}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
LOG="$OUT/next_session.log"
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }

if ls .whl/transformers-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl >>"$LOG" 2>&1 || { say "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site:src
else
  export PYTHONPATH=src
fi
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0))" 2>&1 | tee -a "$LOG"

CKPT=/tmp/ckpt3b
export VLM_PUZZLE_COMPILE_CACHE=/tmp/vlm_cc   # fresh machine: step 1 is the cold compile
B="python3 experiments/bench_vlm_gpu.py --archs qwen2.5-vl-3b --batches 1 --new-tokens 64"

say "step 1: decode b1, cold compile cache, emulate off/on, token check; save checkpoint"
timeout "${STEP1_S:-340}" $B --modes graph regional compiled --emulate off on --regional-parts mlp+norm mlp \
  --check --repeats 3 \
  --save "$CKPT" --json "$OUT/next_decode_cold.json" --markdown "$OUT/next_decode_cold.md" 2>&1 | tee -a "$LOG" \
  | grep -E "^\||saved|FAILED|Error" || true

if [ -d "$CKPT" ]; then
  say "step 2: load timings"
  BENCH_LOAD_JSON="$OUT/next_load.json" timeout "${STEP2_S:-170}" python3 experiments/bench_vlm_gpu.py \
    --load "$CKPT" --drop-caches --load-variants compare plain wrapper wrapper_fast wrapper_stream read_safetensors fast_load \
    2>&1 | tee -a "$LOG" | grep -E "^load" || true
else
  say "step 2 skipped: no checkpoint (step 1 did not get to --save)"
fi

LEFT=$(( ${TOTAL_S:-575} - ($(date +%s) - T0) ))
say "step 3: warm compile cache, second process (${LEFT}s left)"
if [ "$LEFT" -gt 40 ]; then
  timeout "$(( LEFT < ${STEP3_S:-200} ? LEFT : ${STEP3_S:-200} ))" $B --modes regional compiled --emulate off on \
    --repeats 1 --json "$OUT/next_decode_warm.json" --markdown "$OUT/next_decode_warm.md" 2>&1 | tee -a "$LOG" \
    | grep -E "^\||FAILED|Error" || true
fi

python3 - "$OUT" <<'EOF' 2>&1 | tee -a "$LOG"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
lines = ["# Issue 7 next-session run (experiments/gpu_next_session.sh)", ""]
for name, title in (("next_decode_cold", "Decode b1, cold compile cache (first call s = compile + capture)"),
                    ("next_decode_warm", "Decode b1, second process, warm compile cache")):
    f = out / f"{name}.md"
    lines += [f"## {title}", "", f.read_text() if f.exists() else "(not run / no result)", ""]
f = out / "next_load.json"
lines += ["## Checkpoint load (s; fresh process each, imports included)", ""]
if f.exists():
    for k, v in json.loads(f.read_text()).items():
        lines.append(f"- {k}: {v.get('load_s')} (process {v.get('process_s', 0):.1f} s) {v.get('out', '')[:300]} {v.get('err', '')[-200:]}")
else:
    lines.append("(not run)")
(out / "next_summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
say "done"
