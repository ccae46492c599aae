#!/usr/bin/env bash
# README command 1: set everything up, then run the demo: `cpsdi demo` starts the simulated
# reader (a virtual CPS4 and a placeholder Vitale card on a pty paced at 115 200 bd) and runs a
# full CPS session through the host library. Extra arguments go to `cpsdi demo`
# (e.g. --card doctor for a CPS3, --json).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/setup.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/cpsdi" demo "$@"
