"""Host link efficiency: an APDU's round trip over a pseudo-terminal paced at 115 200 bd (8N2)
over what the line and the card need at least, compat vs native framing.

Method: ``cpsdi sim --card t1 --card-time real`` (the firmware on CPython; card time passes in
real time, the pty is paced byte by byte at the baud rate). The host library sends each APDU
``REPEAT`` times; a transport spy counts the link bytes of one round trip (frames, echo,
keep-alives). Minimum = link bytes x 11 bits / 115 200 bd + the card's time for the same APDU
(the same virtual card run in process, in virtual time, with the same 5 MHz session clock
after the PPS: its clock cycles / its clock).
ratio = measured median round trip / minimum. Goal native <= 1.15. What the ratio adds up:
host and firmware processing on CPython, the pty, and the pacing's 1-byte granularity.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

from cpsdi.reader import Reader
from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim.cards import make_card
from cpsdi_fw.slot import Slot

BAUD = 115_200
CARD_CLOCK_MAX_HZ = 5_000_000  # the session clock, as `cpsdi sim` (passed to it explicitly)
BITS_PER_BYTE = 11  # 8N2: start + 8 data + 2 stop
REPEAT = 7
APDUS = {
    "READ 5": bytes.fromhex("00 B0 00 00 05"),
    "READ 255": bytes.fromhex("00 B0 00 00 FF"),
    "ECHO 128": bytes.fromhex("00 88 00 00 80") + bytes(range(128)) + b"\x00",
    "ECHO 255": bytes.fromhex("00 88 00 00 FF") + bytes(255) + b"\x00",
}


def card_seconds(apdu: bytes) -> float:
    """The virtual T=1 test card's time for ``apdu`` after a PPS (virtual clock, no link)."""
    made = make_card("t1")
    assert made is not None
    port = SimCardPort(made[0], clock_max_hz=CARD_CLOCK_MAX_HZ)
    slot = Slot(port)
    if slot.power_on():
        raise RuntimeError("power on failed")
    resp = bytearray(1024)
    slot.transmit_apdu(bytearray(apdu), len(apdu), resp, len(resp))  # warm: S(IFS) etc. done once
    start = port.now_clocks
    slot.transmit_apdu(bytearray(apdu), len(apdu), resp, len(resp))
    return (port.now_clocks - start) / port.clock_hz


def run() -> list[dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()", "--card", "t1",
                             "--card-time", "real", "--card-clock-max", str(CARD_CLOCK_MAX_HZ), "--duration", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rows = []
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        for native in (False, True):
            with Reader.open(path, native=native) as reader, reader.slots[0].connect() as card:
                counted = [0]

                def spy(direction: str, data: bytes) -> None:
                    counted[0] += len(data)

                for name, apdu in APDUS.items():
                    card.transmit(apdu)  # warm up
                    times = []
                    for _ in range(REPEAT):
                        counted[0] = 0
                        reader.link.transport.add_spy(spy)
                        start = time.perf_counter()
                        card.transmit(apdu)
                        times.append(time.perf_counter() - start)
                        reader.link.transport.remove_spy(spy)
                    link_bytes = counted[0]
                    minimum = link_bytes * BITS_PER_BYTE / BAUD + card_seconds(apdu)
                    measured = statistics.median(times)
                    rows.append({
                        "figure": f"host link {'native' if native else 'compat'} {name}",
                        "link_bytes": link_bytes,
                        "ms": round(measured * 1000, 1),
                        "min_ms": round(minimum * 1000, 1),
                        "ratio": round(measured / minimum, 3),
                        "goal": "native <= 1.15",
                        "method": "pty paced 115200 8N2, median of 7 (module docstring)",
                    })
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    return rows
