"""The host Reader API against ``cpsdi sim`` on a real pseudo-terminal paced at 115 200 bd
(issue #5 acceptance): power on, ATR, PPS, T=0 and T=1 APDUs of every size class,
extended APDUs, two slots, insertion/removal events."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpsdi.reader import Protocol, Reader
from cpsdi_boards.sim.test_applet import read_binary_bytes

SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    run = tmp_path_factory.mktemp("sim")
    control = run / "control"
    proc = subprocess.Popen([*SIM, "--card", "t0", "--card", "t1", "--control", str(control), "--duration", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    path = proc.stdout.readline().strip()
    try:
        yield path, control
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def control(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(str(path))
        c.sendall(command.encode() + b"\n")
        return c.recv(4096).decode().strip()


@pytest.mark.parametrize("native", [True, False], ids=["native", "compat"])
def test_both_slots_every_size_class(sim: tuple[str, Path], native: bool) -> None:
    path, _ = sim
    with Reader.open(path, native=native) as reader:
        assert reader.native is native and len(reader.slots) == 2
        with reader.slots[0].connect() as card:
            assert card.protocol is Protocol.T0
            assert bytes(card.atr.raw) == bytes.fromhex("3B 13 18 43 50 53")
            for le in (1, 255, 256):
                r = card.transmit(bytes([0x00, 0xB0, 0x00, 0x10, le & 0xFF]))
                assert (r.data, r.sw) == (read_binary_bytes(0x10, le), 0x9000)
            for lc in (1, 128, 255):
                data = bytes(range(lc))
                r = card.transmit(bytes([0x00, 0x88, 0, 0, lc]) + data + b"\x00")
                assert (r.data, r.sw) == (data[::-1], 0x9000)
        with reader.slots[1].connect() as card:
            assert card.protocol is Protocol.T1
            for lc in (1, 254, 255):
                data = bytes((7 * i) & 0xFF for i in range(lc))
                r = card.transmit(bytes([0x00, 0x88, 0, 0, lc]) + data + b"\x00")
                assert (r.data, r.sw) == (data[::-1], 0x9000)
            if native:  # extended APDUs need native frames (compat carries at most 261 bytes)
                data = bytes(i & 0xFF for i in range(600))
                r = card.transmit(b"\x00\x88\x00\x00\x00" + len(data).to_bytes(2, "big") + data + b"\x00\x00")
                assert (r.data, r.sw) == (data[::-1], 0x9000)


def test_insert_and_remove_events(sim: tuple[str, Path]) -> None:
    path, ctl = sim
    with Reader.open(path) as reader:
        with reader.events() as events:
            assert control(ctl, "remove 1") == "ok"
            event = events.get(timeout_s=5)
            assert (event.slot, event.present) == (1, False)
            assert not reader.slots[1].status().present
            assert control(ctl, "insert 1 t1") == "ok"
            deadline = time.monotonic() + 5
            while True:
                event = events.get(timeout_s=5)
                if (event.slot, event.present) == (1, True) or time.monotonic() > deadline:
                    break
            assert (event.slot, event.present) == (1, True)
        with reader.slots[1].connect() as card:
            assert card.transmit(bytes.fromhex("00 32 00 00 04")).data == b"\x00\x00\x00\x01"  # a fresh card


def test_apdu_script_in_one_round_trip(sim: tuple[str, Path]) -> None:
    from cpsdi.script import ScriptStep

    path, _ = sim
    with Reader.open(path) as reader, reader.slots[1].connect() as card:
        steps = [ScriptStep(bytes([0x00, 0xB0, 0x00, 8 * i, 8])) for i in range(10)]
        frames_before = reader.counters()["frames"]
        result = card.run_script(steps)
        assert reader.counters()["frames"] - frames_before == 2  # the script and this GET_COUNTERS
        assert [r.data for r in result.responses] == [read_binary_bytes(8 * i, 8) for i in range(10)]
        assert all(r.sw == 0x9000 for r in result.responses)


def test_link_settings_over_the_pty(sim: tuple[str, Path]) -> None:
    path, _ = sim
    with Reader.open(path, link_baud=921600) as reader:
        assert reader.link.transport.line == (921600, 2)
        with reader.slots[0].connect() as card:
            r = card.transmit(bytes([0x00, 0xB0, 0x00, 0x00, 0x00]))
            assert (r.data, r.sw) == (read_binary_bytes(0, 256), 0x9000)
    # close() brought the reader back to 115 200: a new session opens normally
    with Reader.open(path) as reader:
        assert reader.counters()["frames"] > 0
