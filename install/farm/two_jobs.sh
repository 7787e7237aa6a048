#!/usr/bin/env bash
# The two-job farm setup for one chunk, run here in order (on a farm: two jobs, the second
# depending on the first for the same chunk; see docs/natron.md).
#
#   install/farm/two_jobs.sh PLATE MODEL FIRST LAST OUT_DIR [ALIGNMENTS]
#
# job 1: the engine renders the chunk's passes (GPU nodes if any; --skip-existing resumes);
# job 2: NatronRenderer writes the comp: Read(plate) -> FaceplateSwap (Output = comp) -> Write(32f).
# Exit code: non-zero when either job failed (job 2's comes from the Write's afterRender and the
# output files, not from NatronRenderer's own exit code). NATRON_RENDERER overrides the binary.
set -euo pipefail
if [ $# -lt 5 ]; then
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
plate="$1" model="$2" first="$3" last="$4" out_dir="$5" alignments="${6:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
engine="${FACEPLATE_ENGINE_PYTHON:-${FACEPLATE_ENV:-$here/.venv}/bin/python}"
renderer="${NATRON_RENDERER:-NatronRenderer}"
mkdir -p "$out_dir/passes" "$out_dir/comp"
passes="$out_dir/passes/passes.####.exr"

job1=("$engine" -m faceplate render "$plate" --model "$model" --frames "$first-$last" --out "$passes" --comp --skip-existing)
[ -n "$alignments" ] && job1+=(--alignments "$alignments")
echo "job 1: ${job1[*]}"
"${job1[@]}"

if ! command -v "$renderer" >/dev/null 2>&1; then
  echo "job 2: $renderer not found (set NATRON_RENDERER to its path)" >&2
  exit 127
fi
echo "job 2: $renderer -t $here/install/farm/render_swap.py ($first-$last)"
FACEPLATE_PLATE="$plate" FACEPLATE_MODEL="$model" FACEPLATE_FRAMES="$first-$last" FACEPLATE_PASSES="$passes" \
FACEPLATE_OUT="$out_dir/comp/comp.####.exr" FACEPLATE_ALIGNMENTS="$alignments" \
NATRON_PLUGIN_PATH="$here/plugin:$here/nodes${NATRON_PLUGIN_PATH:+:$NATRON_PLUGIN_PATH}" \
  timeout -k 60 "${FACEPLATE_JOB_TIMEOUT:-7200}" "$renderer" -t "$here/install/farm/render_swap.py" </dev/null
