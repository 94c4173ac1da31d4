#!/usr/bin/env bash
# Install whatever is missing (tools/setup_env.sh, idempotent), then run the
# test suite. Extra arguments go to pytest (e.g. tests/models -k fan).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/tools/setup_env.sh"
cd "$ROOT"
workers=${STL_MM_TEST_WORKERS:-$(nproc)}
exec "$ROOT/.venv/bin/python" -m pytest tests -q -n "$workers" --dist loadfile "$@"
