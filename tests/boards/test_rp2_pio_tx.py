"""The ISO 7816 TX PIO program (``cpsdi_boards.pio_iso7816.TX_PROGRAM``), cycle by cycle in pioemu.

What is verified here (8 SM cycles = 1 etu; T0 = cycle of the start edge, 3 with a preloaded FIFO):
frame bit pattern and order in both conventions (TS 3B / 3F, parity), bit k driven exactly from
T0 + 8k to T0 + 8k + 8, release at 10 etu, the I/O sample at exactly 11.0 etu, the character
spacing 12 + N etu (N = 0, 1, 5, 254), the card's error signal -> NACK report (the frame word in
the SM's RX FIFO) -> repetition of the same frame 2 etu after the line went high (error signals
of 1, 1.5 and 2 etu), several NACKs in a row, the next character after a repetition, and a NACK
that does not come (line high at 11 etu) -> no report.

What stays unverified (pioemu limits, micropython.md §6, and what no single-SM emulator covers):
the real pad timing (2-sys-clock input synchroniser, rise time of the open-drain line through
the TDA8035's 10-11 kOhm pull-up), the fractional SM clock divider jitter (16.8 fixed point;
exact for 372/1 and 372/12 at 125 MHz / 35), TX FIFO depth (pioemu does not enforce 4), a full
RX FIFO with autopush (on hardware the SM stalls until the CPU reads a NACK report), the
interaction with the RX state machine sharing the pin, DMA feeding, and ``sm.exec``.
"""

import pytest

from cpsdi_boards import pio_iso7816 as P

from pio_harness import ETU, low_window, run_tx

T0 = 3  # pull (0), mov y (1), set x (2), first out at 3


def frame_bits(trace, start, n=10):
    """Line levels (1 = high) of the n bits of the character starting at ``start``, at mid-bit."""
    drive = trace.drive()
    return [1 - drive[start + ETU * k + ETU // 2] for k in range(n)]


def start_edges(trace):
    """Cycles where a character's start bit begins (drive after >= 10 etu of release or at T0)."""
    out = []
    last = -10 * ETU
    for a, _ in trace.drive_intervals():
        if a - last >= 10 * ETU or not out:
            out.append(a)
            last = a
    return out


@pytest.mark.parametrize("byte", [0x3B, 0x00, 0xFF, 0xA5, 0x5A, 0x80, 0x01])
def test_direct_convention_bits_and_parity(byte: int) -> None:
    t = run_tx([P.tx_frame(byte, False)], 120)
    bits = frame_bits(t, T0)
    assert bits[0] == 0
    assert bits[1:9] == [(byte >> i) & 1 for i in range(8)]  # high = 1, LSB first
    assert sum(bits[1:10]) % 2 == 0  # even parity
    assert t.drive()[T0 + 10 * ETU:] == [0] * (120 - T0 - 10 * ETU)  # released from 10 etu


def test_ts_patterns_both_conventions() -> None:
    # ISO 7816-3 §8.1: after the start bit, direct 3B = Z Z A Z Z Z A A, inverse 3F = Z Z A A A A A A; parity Z
    z, a = 1, 0
    assert frame_bits(run_tx([P.tx_frame(0x3B, False)], 100), T0) == [a, z, z, a, z, z, z, a, a, z]
    assert frame_bits(run_tx([P.tx_frame(0x3F, True)], 100), T0) == [a, z, z, a, a, a, a, a, a, z]


@pytest.mark.parametrize("byte", [0x00, 0xFF, 0xA5, 0x3F, 0x01])
def test_inverse_convention_bits_and_parity(byte: int) -> None:
    bits = frame_bits(run_tx([P.tx_frame(byte, True)], 100), T0)
    assert bits[1:9] == [1 - ((byte >> (7 - i)) & 1) for i in range(8)]  # low = 1, MSB first
    assert (9 - sum(bits[1:10])) % 2 == 0  # even number of logical ones (low levels)


def test_bit_timing_exact() -> None:
    t = run_tx([P.tx_frame(0x55, False)], 100)  # 0x55: alternating levels -> an edge every etu
    drive = t.drive()
    edges = [c for c in range(1, 100) if drive[c] != drive[c - 1]]
    # levels 0 (start), 1 0 1 0 1 0 1 0, parity 0, then release at 10 etu
    assert edges == [T0 + ETU * k for k in range(9)] + [T0 + 10 * ETU]
    assert drive[T0 - 1] == 0 and drive[T0] == 1


def test_nack_sample_at_11_etu() -> None:
    t = run_tx([P.tx_frame(0x3B, False)], 120)
    assert t.executions(P.TX_SAMPLE) == [T0 + 11 * ETU]
    # a low level just before or just after the sampling instant is not a NACK
    for window in ((T0 + 84, T0 + 88), (T0 + 89, T0 + 96)):
        t = run_tx([P.tx_frame(0x3B, False)], 200, low_window(*window))
        assert not t.final.receive_fifo
        assert start_edges(t) == [T0]


@pytest.mark.parametrize("n", [0, 1, 5, 254])
def test_guard_time_12_plus_n(n: int) -> None:
    frames = [P.tx_frame(b, False, n) for b in (0x00, 0x00, 0x00)]
    t = run_tx(frames, T0 + 3 * (12 + n) * ETU + 8)
    assert start_edges(t) == [T0, T0 + (12 + n) * ETU, T0 + 2 * (12 + n) * ETU]


def test_idle_line_released_after_last_character() -> None:
    t = run_tx([P.tx_frame(0x00, False)], 400)
    assert t.drive_intervals() == [(T0, T0 + 10 * ETU)]
    assert t.final.program_counter == P.TX_PULL  # stalled on the empty FIFO


@pytest.mark.parametrize("error_etu", [1.0, 1.5, 2.0])
def test_card_nack_reports_and_repeats(error_etu: float) -> None:
    frame = P.tx_frame(0x3B, False)
    err_start = T0 + 84  # card's error signal from 10.5 etu
    err_end = err_start + int(error_etu * ETU)
    t = run_tx([frame, P.tx_frame(0x90, False)], 600, low_window(err_start, err_end))
    assert list(t.final.receive_fifo) == [frame]  # NACK report = the frame
    edges = start_edges(t)
    # repetition 2 etu after the line went high again, then the next character 12 etu later
    assert edges == [T0, err_end + 2 * ETU, err_end + 2 * ETU + 12 * ETU]
    assert edges[1] - T0 >= 13 * ETU
    assert frame_bits(t, edges[1]) == frame_bits(t, T0)
    assert frame_bits(t, edges[2])[1:9] == [(0x90 >> i) & 1 for i in range(8)]


def test_repeated_nacks_each_reported() -> None:
    frame = P.tx_frame(0xA4, False)

    # the card NACKs the first three transmissions: windows relative to each start edge
    first = [T0]
    for _ in range(3):
        first.append(first[-1] + 84 + 12 + 2 * ETU)  # error 10.5..12 etu, +2 etu
    line = lambda c: 0 if any(s + 84 <= c < s + 96 for s in first[:3]) else 1  # noqa: E731
    t = run_tx([frame], 800, line)
    assert list(t.final.receive_fifo) == [frame] * 3
    assert start_edges(t) == first
    for s in first:
        assert frame_bits(t, s) == frame_bits(t, T0)


def test_nack_report_is_the_frame_with_guard_bits() -> None:
    frame = P.tx_frame(0x12, True, 3)
    t = run_tx([frame], 300, low_window(T0 + 84, T0 + 96))
    assert list(t.final.receive_fifo) == [frame]
    assert frame >> 10 == 6  # 2N
