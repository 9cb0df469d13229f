# Sourced by the issue-17 device scripts (experiments/gpu_issue17_*.sh) after they set OUT and TOTAL_S:
# the log, step timing (say, left), the carried transformers wheel on PYTHONPATH, the environment's
# versions at the top of the log. Runs from the repository root.
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
LOG="$OUT/session.log"
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }
# seconds for a step: its own limit or what is left of TOTAL_S, at least 1 (timeout 0 would mean none)
left() { local l=$(( TOTAL_S - ($(date +%s) - T0) )); [ "$l" -lt 1 ] && l=1; [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }

WHL=${WHL:-.whl}
if ls "$WHL"/transformers-*.whl >/dev/null 2>&1; then
  # byte-compiled at install: later processes do not pay for compiling transformers' sources
  python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site "$WHL"/transformers-*.whl \
    >>"$LOG" 2>&1 || { say "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site:src
else
  export PYTHONPATH=src
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import sys, torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'python', sys.version.split()[0])"
} 2>&1 | tee -a "$LOG"
