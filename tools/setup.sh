#!/usr/bin/env bash
# Set up everything the demo and the test suite need, idempotently:
#   1. Debian packages (pcscd, libccid, pcsc-tools, opensc, socat; swig and libpcsclite-dev
#      to build pyscard) when run as root: the pcscd interop tests (tests/interop) need them;
#   2. a venv in .venv with cpsdi installed editable, with its test extras (and the
#      `pcsc` extra, pyscard, when its build dependencies are there);
#   3. MicroPython port stubs in build/typings-<port> (for pyright on device code);
#   4. the MicroPython WebAssembly build (npm) for the device-test runner.
# Re-runs skip what is already in place (stamps keyed on the inputs' hashes).
# Source it or run it; PYTHON overrides the interpreter used to create the venv.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
BUILD="$ROOT/build"
PYTHON=${PYTHON:-python3}
# Checked one by one (dpkg status): a package added here is installed at the next run.
APT_PACKAGES=(pcscd libccid pcsc-tools opensc socat swig libpcsclite-dev)

log() { printf '[setup] %s\n' "$*" >&2; }
mkdir -p "$BUILD"

# 1. Debian packages -------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    :
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$BUILD/apt.log" 2>&1 \
        || { cat "$BUILD/apt.log" >&2; exit 1; }
else
    log "NOT installing Debian packages ${missing[*]}: not root or no apt-get; tests that need them skip"
fi

# 2. Python venv -----------------------------------------------------------
stamp="$VENV/.cpsdi-stamp"
extras=test
if command -v swig >/dev/null && [ -f /usr/include/PCSC/winscard.h ]; then
    extras=test,pcsc
else
    log "NOT installing pyscard (needs swig and libpcsclite-dev): PC/SC cross-checks skip"
fi
want=$( (cat "$ROOT/pyproject.toml"; echo "$extras") | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv in $VENV"
    "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing cpsdi[$extras] (editable)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[$extras]"
    echo "$want" >"$stamp"
fi

# 3. MicroPython stubs, one folder per port --------------------------------
for port in rp2 stm32; do
    dir="$BUILD/typings-$port"
    if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$want" ]; then
        log "installing MicroPython $port stubs into $dir"
        rm -rf "$dir"
        reqs=$("$VENV/bin/python" - "$ROOT/pyproject.toml" "stubs-$port" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"][sys.argv[2]]))
PY
)
        # shellcheck disable=SC2086
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --target "$dir" $reqs
        echo "$want" >"$dir/.stamp"
    fi
done

# 4. MicroPython WebAssembly (npm) -----------------------------------------
MPWASM="$ROOT/tools/mpwasm"
if [ -f "$MPWASM/package.json" ]; then
    want_npm=$(cat "$MPWASM/package.json" "$MPWASM/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16)
    if [ "$(cat "$MPWASM/node_modules/.cpsdi-stamp" 2>/dev/null)" != "$want_npm" ]; then
        if command -v npm >/dev/null; then
            log "installing the MicroPython WebAssembly build (npm ci)"
            (cd "$MPWASM" && npm ci --silent --no-audit --no-fund)
            echo "$want_npm" >"$MPWASM/node_modules/.cpsdi-stamp"
        else
            log "NOT installing MicroPython WebAssembly: no npm; the MicroPython gate fails"
        fi
    fi
fi
log "ready: $VENV"
