"""The simulator's serial line model (host_port._Line): bytes take bits/baud each and queue
behind each other, with no burst after a silence (what a UART on a real line does)."""

from __future__ import annotations

import pytest

from cpsdi_boards.sim.host_port import _Line, bits_per_char


def test_bytes_arrive_one_character_time_apart() -> None:
    line = _Line(115200, bits_per_char(2))
    char_s = 11 / 115200
    end = line.queue(10, now=100.0)
    assert end == pytest.approx(100.0 + 10 * char_s)
    assert line.arrived(100.0) == 0
    assert line.arrived(100.0 + 3.5 * char_s) == 3
    assert line.arrived(end) == 10
    assert line.next_arrival(100.0 + 3.5 * char_s) == pytest.approx(0.5 * char_s)


def test_no_burst_after_a_silence_and_queueing_behind_busy_line() -> None:
    line = _Line(9600, 10)
    char_s = 10 / 9600
    line.queue(2, now=0.0)
    line.take(2)
    # a long silence gives no credit: the next byte still takes a full character time
    assert line.queue(1, now=50.0) == pytest.approx(50.0 + char_s)
    # bytes queued while the line is busy start after the previous ones
    assert line.queue(4, now=50.0) == pytest.approx(50.0 + 5 * char_s)
    assert line.arrived(50.0 + 2 * char_s) == 2
    line.take(2)
    assert line.arrived(50.0 + 2 * char_s) == 0
    assert line.arrived(50.0 + 5 * char_s) == 3


def test_unpaced_line() -> None:
    line = _Line(0, 11)
    assert line.queue(100, now=1.0) == 1.0
    assert line.arrived(1.0) == 100 and line.next_arrival(1.0) == 0.0
