"""A CPS session through cpsdi vs through the stock PC/SC stack, same reader, same card.

Method: two ``cpsdi sim --card pharmacist --card-time real`` readers (a virtual CPS4, T=1,
on a pty paced at 115 200 bd 8N2). cpsdi: ``Reader.open`` in native framing, then the CPS API
(open_card, card number, both certificates, PIN verify, sign 1 KiB) — timed from after the
card is powered to the signature. The APDUs it sent are recorded (the steps of its APDU
scripts one by one); PC/SC: stock pcscd + libccidtwin (reader type GemPCTwin: TPDU level,
libccid does T=1) in a private mount namespace (tests/interop/_pcscd_stack.py), and pyscard
sends the same APDUs, one SCardTransmit each — the sum of their times. ratio = cpsdi / PC/SC.
Goal <= 0.5. Needs root, pcscd, libccid and pyscard; skipped otherwise.
Where the time goes: PC/SC pays one link round trip per APDU and per T=1 block at TPDU level
(libccid frames T=1 on the host side), the compat framing and echo; cpsdi sends file reads as
one APDU script per file and lets the reader do T=1. Both run the card at the same speed: the
reader negotiates 372/12 and then clocks the CPS4 at its fmax, 5 MHz (161 290 bit/s; before
that optimisation the card stayed at the 3.5712 MHz activation clock, 115 200 bit/s, and the
ratio was 0.52). What is left of cpsdi's time is mostly the card's own wire time (compare a
run with ``--card-time virtual``, where card time is free).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]
PAYLOAD = bytes(range(256)) * 4
LINK_BAUD = 921_600  # cpsdi moves its link to this rate (vendor LINK_SETTINGS); libccid stays at 115 200


def _cpsdi_session(path: str) -> tuple[float, list[bytes]]:
    from cpsdi.cps import KeyKind, open_card
    from cpsdi.reader import CardConnection, Reader

    sent: list[bytes] = []
    transmit = CardConnection.transmit
    run_script = CardConnection.run_script

    def record_transmit(self: CardConnection, apdu: bytes | bytearray | memoryview, *args: Any, **kw: Any) -> Any:
        sent.append(bytes(apdu))
        return transmit(self, apdu, *args, **kw)

    def record_script(self: CardConnection, steps: Any, *args: Any, **kw: Any) -> Any:
        result = run_script(self, steps, *args, **kw)
        sent.extend(s.apdu for s in list(steps)[: len(result.responses)])
        return result

    CardConnection.transmit = record_transmit  # type: ignore[method-assign]
    CardConnection.run_script = record_script  # type: ignore[method-assign]
    try:
        with Reader.open(path, link_baud=LINK_BAUD) as reader, reader.slots[0].connect() as connection:
            start = time.perf_counter()
            card = open_card(connection)
            card.card_number()
            for kind in KeyKind:
                card.certificate(kind)
            card.verify_pin("1234")  # the test card's PIN (a virtual card)
            card.sign(PAYLOAD)
            elapsed = time.perf_counter() - start
    finally:
        CardConnection.transmit = transmit  # type: ignore[method-assign]
        CardConnection.run_script = run_script  # type: ignore[method-assign]
    return elapsed, sent


def run() -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT / "tests" / "interop"))
    try:
        from _pcscd_stack import PcscStack, StackConfig, pyscard_skip_reason, skip_reason
    except ImportError as exc:
        return [{"figure": "CPS session cpsdi vs PC/SC", "method": f"skipped: {exc}"}]
    reason = skip_reason() or pyscard_skip_reason()
    if reason:
        return [{"figure": "CPS session cpsdi vs PC/SC", "method": f"skipped: {reason}"}]
    with tempfile.TemporaryDirectory(prefix="cpsdi-bench-") as tmp:
        os.environ.setdefault("CPSDI_TEST_PKI_DIR", str(Path(tmp) / "pki"))
        proc = subprocess.Popen([*SIM, "--card", "pharmacist", "--card-time", "real", "--duration", "300"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            cpsdi_s, apdus = _cpsdi_session(proc.stdout.readline().strip())
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        (Path(tmp) / "pcsc").mkdir()
        stack = PcscStack.start(Path(tmp) / "pcsc", StackConfig("cpsdi bench", ("pharmacist",),
                                                                 sim_args=("--card-time", "real")))
        try:
            session = stack.session(apdus, protocol="T1", get_response=False, timeout_s=300)
        finally:
            stack.stop()
        pcsc_s = sum(e.elapsed_s for e in session.exchanges)
        bad = [e.sw for e in session.exchanges if e.sw >> 8 not in (0x90, 0x62, 0x6B)]
    return [{
        "figure": "CPS4 session: cpsdi / pcscd+libccidtwin+pyscard",
        "apdus": len(apdus),
        "cpsdi_s": round(cpsdi_s, 3),
        "pcsc_s": round(pcsc_s, 3),
        "ratio": round(cpsdi_s / pcsc_s, 3),
        "goal": "<= 0.5",
        "method": "same virtual CPS4 at 115200 bd; same APDUs; " + ("all answered" if not bad else f"SW {bad[:3]}"),
    }]
