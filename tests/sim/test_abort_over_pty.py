"""Host-side Abort (cpsdi.link: `Reader.abort()` from another thread, and Ctrl-C) against
``cpsdi sim --card-time real`` with a T=1 card that works 1.3 s on its first APDU."""

from __future__ import annotations

import _thread
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpsdi.exceptions import CommandAbortedError
from cpsdi.reader import Reader

SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]
APDU = bytes.fromhex("00 88 00 00 02 01 02 00")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    run = tmp_path_factory.mktemp("abort")
    script = run / "slow.faults"
    script.write_text("delay response 3 byte 1 to 150000 etu\n")  # ~1.3 s at D = 12
    control = run / "control"
    proc = subprocess.Popen([*SIM, "--card", "t1", "--fault", f"0={script}", "--card-time", "real",
                             "--control", str(control), "--duration", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    path = proc.stdout.readline().strip()
    try:
        yield path, control
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def fresh_card(control: Path) -> None:
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(str(control))
        c.sendall(b"insert 0 t1\n")
        assert c.recv(64).strip() == b"ok"


@pytest.mark.parametrize("native", [True, False], ids=["native", "compat"])
def test_abort_from_another_thread(sim: tuple[str, Path], native: bool) -> None:
    path, control = sim
    fresh_card(control)
    with Reader.open(path, native=native) as reader:
        card = reader.slots[0].connect()
        timer = threading.Timer(0.3, card.abort)
        timer.start()
        with pytest.raises(CommandAbortedError):  # without the Abort the card would answer 02 01 90 00
            card.transmit(APDU)
        timer.join()
        assert card.closed and reader.slots[0].connection is None
        assert not reader.slots[0].status().powered
        assert reader.link.stale_frames == 0  # the Abort's own answer was consumed
        with reader.slots[0].connect() as again:
            assert again.transmit(APDU).data == b"\x02\x01"
        assert reader.counters()["card_errors"] >= 1


def test_ctrl_c_aborts_the_card_operation(sim: tuple[str, Path]) -> None:
    path, control = sim
    fresh_card(control)
    with Reader.open(path) as reader:
        card = reader.slots[0].connect()
        timer = threading.Timer(0.3, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            card.transmit(APDU)
        timer.join()
        # the reader confirmed the Abort: the link is clean for the next request
        assert not reader.slots[0].status().powered
        assert reader.link.stale_frames == 0
        assert reader.counters()["frames"] > 0


def test_abort_when_idle_does_nothing(sim: tuple[str, Path]) -> None:
    path, control = sim
    fresh_card(control)
    with Reader.open(path) as reader, reader.slots[0].connect() as card:
        reader.abort()  # nothing runs: the next request clears it
        card.transmit(bytes.fromhex("00 32 00 00 04"))  # INCREMENT, answered after 1.3 s
        assert card.transmit(bytes.fromhex("00 CA 00 01 04")).data == b"\x00\x00\x00\x01"
