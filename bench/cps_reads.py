"""CPS file reads with APDU scripts vs one APDU per round trip, over the paced pty.

Method: ``cpsdi sim --card pharmacist --card-time real`` (virtual CPS4, T=1) at 115 200 bd
8N2, native framing. "scripts": the CPS API's ``read_file`` (SELECT with FCP and the READ
BINARY steps in one RUN_SCRIPT frame, one host round trip per file) for both certificates and
the PKCS#15 directory; "plain": the same APDUs, one ``transmit`` each. Each side on a freshly
connected card, median of 3. ratio = scripts / plain (< 1: scripts are faster).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]


def _scripted(path: str) -> tuple[float, list[bytes], int]:
    from cpsdi.cps import KeyKind, open_card
    from cpsdi.reader import CardConnection, Reader

    sent: list[bytes] = []
    run_script = CardConnection.run_script

    def record(self: CardConnection, steps: Any, *args: Any, **kw: Any) -> Any:
        result = run_script(self, steps, *args, **kw)
        sent.extend(s.apdu for s in list(steps)[: len(result.responses)])
        return result

    CardConnection.run_script = record  # type: ignore[method-assign]
    try:
        with Reader.open(path) as reader, reader.slots[0].connect() as connection:
            card = open_card(connection)
            sent.clear()
            trips = card.round_trips
            start = time.perf_counter()
            for kind in KeyKind:
                card.certificate_der(kind)
            elapsed = time.perf_counter() - start
            trips = card.round_trips - trips
    finally:
        CardConnection.run_script = run_script  # type: ignore[method-assign]
    return elapsed, sent, trips


def _plain(path: str, apdus: list[bytes]) -> float:
    from cpsdi.cps import open_card
    from cpsdi.reader import Reader

    with Reader.open(path) as reader, reader.slots[0].connect() as connection:
        open_card(connection)
        start = time.perf_counter()
        for apdu in apdus:
            connection.transmit(apdu)
        return time.perf_counter() - start


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cpsdi-bench-") as tmp:
        os.environ.setdefault("CPSDI_TEST_PKI_DIR", str(Path(tmp) / "pki"))
        proc = subprocess.Popen([*SIM, "--card", "pharmacist", "--card-time", "real", "--duration", "300"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            path = proc.stdout.readline().strip()
            scripted, plain, apdus, trips = [], [], [], 0
            for _ in range(3):
                s, apdus, trips = _scripted(path)
                scripted.append(s)
                plain.append(_plain(path, apdus))
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    s_med, p_med = statistics.median(scripted), statistics.median(plain)
    return [{
        "figure": "CPS4 directory + 2 certificates: scripts / plain APDUs",
        "apdus": len(apdus),
        "round_trips": f"{trips} vs {len(apdus)}",
        "scripts_ms": round(s_med * 1000),
        "plain_ms": round(p_med * 1000),
        "ratio": round(s_med / p_med, 3),
        "method": "pty 115200 8N2, native, real card time, median of 3 (module docstring)",
    }]
