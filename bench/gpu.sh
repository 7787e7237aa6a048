#!/usr/bin/env bash
# One prepared script for a lent GPU (e.g. the device tool's H200): run from the repository root,
#   bash bench/gpu.sh
# Each section writes its log and JSON under $OUT/results/ (default ./out/gpu/results) and has its
# own time limit, so one failing section does not stop the others. Whole script: under 8 minutes.
# Needs: python3 with a CUDA build of torch (the device image has one); no OpenImageIO.
# Sections: env, train (eager bf16 256 px), train-liae, train-compile (torch.compile bf16 256 px),
# render-providers, render-1080p and render-4k (CUDA execution provider, where available).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu}
RES="$OUT/results"
mkdir -p "$RES"
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/engine${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
PEAK_TFLOPS=${PEAK_TFLOPS:-989}   # H200/H100 SXM dense bf16 datasheet figure (MFU denominator)
T0=$(date +%s)

section() {  # section NAME LIMIT_S command...
  local name=$1 limit=$2; shift 2
  local t=$(date +%s)
  echo "== $name (limit ${limit}s)"
  timeout "$limit" "$@" >"$RES/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc, $(( $(date +%s) - t ))s; last lines:"
  tail -n 8 "$RES/$name.log" | sed 's/^/   /'
  echo "$name rc=$rc seconds=$(( $(date +%s) - t ))" >>"$RES/summary.txt"
}

: >"$RES/summary.txt"

# --- env -------------------------------------------------------------------------------------
section env 60 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv; \
  $PY -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name(0))'"

# --- train: samples/s and MFU, bf16 autocast + channels_last, 256 px (eager) --------------------
section train 200 "$PY" bench/train.py --device cuda --bf16 --channels-last --resolutions 256 \
  --batch 32 --width 64 --ae-dims 256 --steps 20 --warmup 5 --peak-tflops "$PEAK_TFLOPS" \
  --json "$RES/train.json"

# --- train-liae: the stronger model, same settings -------------------------------------------
section train-liae 120 "$PY" bench/train.py --device cuda --bf16 --channels-last --resolutions 256 \
  --batch 32 --width 64 --ae-dims 256 --steps 20 --warmup 5 --model liae --peak-tflops "$PEAK_TFLOPS" \
  --json "$RES/train_liae.json"

# --- train-compile: the same with torch.compile (first steps include compilation) -------------
section train-compile 150 "$PY" bench/train.py --device cuda --bf16 --channels-last --resolutions 256 \
  --batch 32 --width 64 --ae-dims 256 --steps 20 --warmup 5 --compile --peak-tflops "$PEAK_TFLOPS" \
  --json "$RES/train_compile.json"

# --- render: 1080p and 4K through onnxruntime's CUDA execution provider ---------------------------
# The render path needs OpenImageIO and an onnxruntime with CUDAExecutionProvider. The lent machine
# has neither onnxruntime-gpu (its wheel is larger than one call may carry) nor OpenImageIO by default:
# the providers are recorded first, and the render cases run only where both are importable.
section render-providers 30 "$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
if "$PY" -c "import OpenImageIO, onnxruntime as o; assert 'CUDAExecutionProvider' in o.get_available_providers()" 2>/dev/null; then
  section render-1080p 120 "$PY" bench/render.py --device cuda --frames 12 --width 1920 --height 1080 \
    --json "$RES/render_1080p.json"
  section render-4k 150 "$PY" bench/render.py --device cuda --frames 8 --width 3840 --height 2160 \
    --json "$RES/render_4k.json"
else
  echo "render: skipped (needs OpenImageIO and onnxruntime with CUDAExecutionProvider)" | tee -a "$RES/summary.txt"
fi

echo "== total $(( $(date +%s) - T0 ))s; results in $RES"
cat "$RES/summary.txt"
