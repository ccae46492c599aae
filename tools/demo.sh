#!/usr/bin/env bash
# README command 1: set everything up, then run the demo.
# The full CPS session demo (simulated reader, virtual CPS4) is `cpsdi demo` (issue #8);
# until it lands this runs what exists: the CLI and the link self-test.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/setup.sh"
cd "$ROOT"
if "$ROOT/.venv/bin/cpsdi" demo --help >/dev/null 2>&1; then
    exec "$ROOT/.venv/bin/cpsdi" demo "$@"
fi
"$ROOT/.venv/bin/cpsdi" --version
"$ROOT/.venv/bin/cpsdi" selftest --port loop://
echo "(the CPS session demo arrives with 'cpsdi demo'; see README.md)"
