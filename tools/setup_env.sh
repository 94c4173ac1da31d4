#!/usr/bin/env bash
# Create or update the project virtual environment at .venv/ (idempotent).
#
# A fingerprint of the requirement files and build scripts is stored in the
# venv; when it matches, nothing is installed and the script returns at once.
# The mmcv wheel (a ~20 min build) and pip's download cache live under
# $STL_MM_CACHE (default ~/.cache/stl_mm) so they survive fresh clones.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
CACHE="${STL_MM_CACHE:-$HOME/.cache/stl_mm}"
STAMP="$VENV/.stl_mm_installed"

fingerprint=$(cat "$ROOT"/requirements/*.txt "$ROOT/tools/setup_env.sh" \
  "$ROOT/tools/build_mmcv.sh" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$fingerprint" ] \
   && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

pick_python() {
  for py in "${PYTHON:-}" python3.11 python3.12 python3.10 python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 && { echo "$py"; return; }
  done
  echo "setup_env: no python3 interpreter found; install Python 3.10-3.12" >&2
  exit 1
}

echo "setup_env: installing the stl_mm environment into $VENV" >&2
[ -x "$VENV/bin/python" ] || "$(pick_python)" -m venv "$VENV"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip_install() { "$PY" -m pip install --progress-bar off -q "$@"; }

pip_install -r "$ROOT/requirements/build.txt"
pip_install -r "$ROOT/requirements/torch.txt"
mmcv_wheel=$("$ROOT/tools/build_mmcv.sh" "$PY" "$CACHE/wheels")
pip_install "$mmcv_wheel" -r "$ROOT/requirements/runtime.txt" \
  -r "$ROOT/requirements/tests.txt" -r "$ROOT/requirements/deploy.txt" \
  -r "$ROOT/requirements/bench.txt" -r "$ROOT/requirements/custom.txt" \
  -r "$ROOT/requirements/tensorboard.txt"
# openmim without its opendatalab/openxlab chain (see requirements/mim.txt)
pip_install -r <(grep -v '^openmim' "$ROOT/requirements/mim.txt")
pip_install --no-deps "$(grep '^openmim' "$ROOT/requirements/mim.txt")"
pip_install --no-deps --no-build-isolation -e "$ROOT"
# imagecorruptions' install may pull a newer setuptools; keep the working range.
pip_install -r "$ROOT/requirements/build.txt"
"$PY" -c "import mmcv.ops, mmpretrain, mmseg, mmdet, onnx, onnxruntime, timm, sklearn, pytorch_optimizer, tensorboard, mim, stl_mm" \
  || { echo "setup_env: the installed stack does not import (see above)" >&2; exit 1; }
echo "$fingerprint" > "$STAMP"
echo "setup_env: done" >&2
