"""``cpsdi sim --card-time real``: the card's work takes wall time (WallPacedClock), so a long
card operation really keeps the reader busy and the firmware's keep-alive bytes go out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cpsdi.reader import Reader
from cpsdi_boards.sim import SimCardPort, WallPacedClock
from cpsdi_boards.sim.runner import SimOptions, SimSlots

SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]


class FakeWall:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_advancing_sleeps_the_card_time_in_wall_time() -> None:
    wall = FakeWall()
    clock = WallPacedClock(1_000_000, now_s=wall.time, sleep_s=wall.sleep)
    clock.advance(500_000)  # 0.5 s of card time
    assert wall.sleeps == [pytest.approx(0.5)]
    clock.advance_to(600_000)
    assert wall.sleeps[1:] == [pytest.approx(0.1)]
    assert clock.now == 600_000


def test_short_advances_are_summed_until_the_slack() -> None:
    wall = FakeWall()
    clock = WallPacedClock(1_000_000, now_s=wall.time, sleep_s=wall.sleep, slack_s=0.002)
    for _ in range(3):
        clock.advance(1_000)  # 1 ms each: 1, 2 (not > slack), 3 ms ahead -> one sleep
    assert wall.sleeps == [pytest.approx(0.003)]


def test_idle_wall_time_is_not_paid_back() -> None:
    wall = FakeWall()
    clock = WallPacedClock(1_000_000, now_s=wall.time, sleep_s=wall.sleep)
    wall.now += 10.0  # the card sat idle for 10 s
    clock.advance(100_000)
    assert wall.sleeps == [pytest.approx(0.1)]  # only the card's own 0.1 s, not a burst to catch up
    wall.now += 0.5  # idle again (more than idle_s)
    clock.advance(100_000)
    assert wall.sleeps[1:] == [pytest.approx(0.1)]


def test_simulation_work_overlaps_the_card_time() -> None:
    wall = FakeWall()
    clock = WallPacedClock(1_000_000, now_s=wall.time, sleep_s=wall.sleep, idle_s=0.05)
    clock.advance(100_000)  # 0.1 s of card time: slept
    wall.now += 0.03  # the simulated firmware computes for 30 ms (the card keeps working)
    clock.advance(100_000)  # the next 0.1 s of card time: only 70 ms are left to wait
    assert wall.sleeps == [pytest.approx(0.1), pytest.approx(0.07)]


def test_resync_forgives_the_time_the_card_waited_for_the_reader() -> None:
    wall = FakeWall()
    clock = WallPacedClock(1_000_000, now_s=wall.time, sleep_s=wall.sleep, idle_s=0.05)
    clock.advance(100_000)
    wall.now += 0.03  # the reader thinks 30 ms before its next command: the card is idle
    clock.resync()
    clock.advance(100_000)  # the card's next 0.1 s is all waited for
    assert wall.sleeps == [pytest.approx(0.1), pytest.approx(0.1)]


def test_going_back_or_standing_still_never_sleeps() -> None:
    wall = FakeWall()
    clock = WallPacedClock(1_000_000, now_s=wall.time, sleep_s=wall.sleep)
    clock.advance(-5)
    clock.advance_to(0)
    assert wall.sleeps == [] and clock.now == 0
    with pytest.raises(ValueError, match="clock_hz"):
        WallPacedClock(0)


def test_sim_slots_use_a_paced_clock_only_for_real_card_time() -> None:
    real = SimSlots(SimOptions(cards=["t1", "none"], card_time="real", pty=False))
    virtual = SimSlots(SimOptions(cards=["t1"], pty=False))
    assert all(isinstance(p.clock, WallPacedClock) for p in real.ports)
    assert not isinstance(virtual.ports[0].clock, WallPacedClock)
    assert isinstance(virtual.ports[0], SimCardPort)
    with pytest.raises(ValueError, match="card_time"):
        SimSlots(SimOptions(card_time="fast", pty=False))


def test_a_long_card_operation_over_the_pty_is_kept_alive(tmp_path: Path) -> None:
    # The T=1 card answers its first I-block (response 3: after the PPS and the S(IFS)
    # response) 200 000 etu late: at D = 12 (31 clocks per etu at the 5 MHz session clock)
    # about 1.24 s.
    script = tmp_path / "slow.faults"
    script.write_text("delay response 3 byte 1 to 200000 etu\n")
    proc = subprocess.Popen([*SIM, "--card", "t1", "--fault", f"0={script}", "--card-time", "real",
                             "--duration", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        with Reader.open(path) as reader, reader.slots[0].connect() as card:
            before = reader.counters()["keepalives"]
            start = time.monotonic()
            r = card.transmit(bytes.fromhex("00 88 00 00 02 01 02 00"))
            elapsed_s = time.monotonic() - start
            assert (r.data, r.sw) == (b"\x02\x01", 0x9000)
            assert elapsed_s > 1.0  # the card's 1.24 s really passed
            assert reader.counters()["keepalives"] - before >= 2  # one per 500 ms while busy
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
