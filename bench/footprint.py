"""Firmware footprint: GC heap over a CPS4-like T=1 session on the real MicroPython
interpreter, zero allocation per block, and the size of the application bundle for armv6m.

Method: ``bench/mp_footprint.mjs`` runs ``bench/mp_session.py`` on the MicroPython WebAssembly
build (the one the device tests use): the firmware's T=1 engine exchanges a CPS4-like session
(SELECT, 8 x READ BINARY 231, VERIFY, MSE, PSO CDS) with an in-script card, three times over;
``gc.mem_alloc()`` is sampled after each exchange (peak above the start, engine and card
buffers included), then a fourth session runs under ``micropython.heap_lock()`` (any
allocation raises). Bundle: every device module compiled with mpy-cross ``-march=armv6m``
(``cpsdi.update.bundle``), the bundle's total bytes. The slot service and link server are
covered by the heap_lock device tests (tests/device: poll, keep-alive/abort watch, engines).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from cpsdi.update.bundle import build_app_bundle

ROOT = Path(__file__).resolve().parent.parent


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    node = shutil.which("node")
    if node and (ROOT / "tools" / "mpwasm" / "node_modules").is_dir():
        out = subprocess.run([node, str(ROOT / "bench" / "mp_footprint.mjs")], capture_output=True, text=True,
                             timeout=300, check=True).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        rows.append({
            "figure": "firmware heap, CPS4-like T=1 session (MicroPython wasm)",
            "peak_bytes": figures["peak_bytes"],
            "setup_bytes": figures["setup_bytes"],
            "zero_alloc_per_block": figures["heap_locked_session_ok"],
            "method": f"gc.mem_alloc peak over {figures['exchanges']} exchanges; 4th session under heap_lock",
        })
    else:
        rows.append({"figure": "firmware heap (MicroPython wasm)", "method": "skipped: node or tools/mpwasm missing"})
    bundle = build_app_bundle("sim", arch="armv6m")
    rows.append({
        "figure": "application bundle (.mpy armv6m)",
        "files": len(bundle.files),
        "bytes": len(bundle.data),
        "method": "mpy-cross -march=armv6m of cpsdi_proto + cpsdi_fw (+ board), CPSB bundle",
    })
    return rows
