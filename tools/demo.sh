#!/usr/bin/env bash
# The README's first command: set up .venv/ if needed (idempotent), then run
# the STL demo on generated data (tools/run_demo.py; options are passed on,
# e.g. `bash tools/demo.sh --quick` or `--work-dir DIR`). See docs/demo.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash tools/setup_env.sh
exec .venv/bin/python tools/run_demo.py "$@"
