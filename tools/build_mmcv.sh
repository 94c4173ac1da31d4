#!/usr/bin/env bash
# Build (once per machine) and cache an mmcv 2.1.0 wheel with compiled ops.
#
# Usage: tools/build_mmcv.sh PYTHON WHEEL_DIR
# Prints the path of the cached wheel. No binary mmcv wheel exists for current
# torch, so it is built from the sdist. torch >= 2.10 headers need C++20 while
# mmcv's setup.py hard-codes -std=c++14/17 for both the host compiler and nvcc:
# the flags are rewritten in the unpacked sdist before building.
# CUDA ops are built when torch sees a GPU, or with FORCE_CUDA=1 (for a
# GPU-less build host with a CUDA toolkit; TORCH_CUDA_ARCH_LIST then defaults
# to Ampere and Hopper). A toolkit alone does not trigger them: compiling the
# CUDA kernels takes hours on a small CPU-only machine.
set -euo pipefail
PY=$1
WHEEL_DIR=$2
VERSION=2.1.0
mkdir -p "$WHEEL_DIR"
tag=$("$PY" -c 'import sys, torch; v = torch.__version__.replace("+", "_"); print("torch%s-py%d%d" % (v, *sys.version_info[:2]))')
cuda=cpu
if [ "${FORCE_CUDA:-0}" = 1 ] || "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  cuda=cuda
fi
out="$WHEEL_DIR/$tag-$cuda"
existing=$(ls "$out"/mmcv-$VERSION-*.whl 2>/dev/null | head -1 || true)
if [ -n "$existing" ]; then echo "$existing"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url=$(curl -fsSL https://pypi.org/simple/mmcv/ | grep -o "https://[^\"#]*mmcv-$VERSION.tar.gz" | head -1)
[ -n "$url" ] || { echo "build_mmcv: cannot find the mmcv-$VERSION sdist on PyPI" >&2; exit 1; }
curl -fsSL -o "$work/mmcv.tar.gz" "$url"
tar -xzf "$work/mmcv.tar.gz" -C "$work"
src="$work/mmcv-$VERSION"
sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$src/setup.py"
echo "build_mmcv: building mmcv $VERSION ($cuda ops) for $tag; this takes ~20 min on 2 cores, once per machine" >&2
if [ "$cuda" = cuda ]; then
  export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-8.0;8.6;9.0}"
fi
MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
  "$PY" -m pip wheel --no-build-isolation --no-deps -w "$work/dist" "$src" >&2
mkdir -p "$out"
mv "$work"/dist/mmcv-*.whl "$out/"
ls "$out"/mmcv-$VERSION-*.whl | head -1
