"""TX and RX programs on the same open-drain wire, in lockstep (``pio_harness.cosimulate``).

The RX state machine plays the receiver, the TX state machine the transmitter — the reader's two
programs facing each other, which is also what a card and the reader do (the same ISO rules on
both sides). Verified: every byte in both conventions crosses the wire intact, with the
transmitter's guard time; a frame sent with a wrong parity bit makes the receiver's error signal
(10.5 -> 12 etu), the transmitter samples it at 11 etu, reports the NACK and repeats the frame
2 etu after the line is released — the whole T=0 repetition loop, cycle by cycle. With the
error signal off (T=1 variant of the receiver) the bad character goes through once, flagged, and the
next character is received.

Unverified here, as in the single-program tests: electrical timing (synchronisers, rise time),
two state machines of one PIO block sharing a pin on silicon (the emulator runs them as separate
machines joined by the wired-AND in the harness), the CPU hand-over between TX and RX.
"""

import pytest

from cpsdi_boards import pio_iso7816 as P

from pio_harness import ETU, cosimulate

T0 = 3


@pytest.mark.parametrize("inverse", [False, True])
def test_all_bytes_cross_the_wire(inverse: bool) -> None:
    for chunk in range(0, 256, 64):
        data = list(range(chunk, chunk + 64))
        n = 4  # pioemu keeps 4 words in the RX FIFO: check 4 characters per run
        for i in range(0, 64, n):
            part = data[i:i + n]
            tx, rx = cosimulate([P.tx_frame(b, inverse) for b in part], T0 + 12 * ETU * n + 16, inverse=inverse)
            assert [P.rx_decode(w, inverse) for w in rx.final.receive_fifo] == [(b, True) for b in part]
            assert not tx.final.receive_fifo  # no NACK
            assert rx.drive_intervals() == []


def test_guard_time_seen_by_the_receiver() -> None:
    tx, rx = cosimulate([P.tx_frame(0x00, False, 3)] * 3, T0 + 3 * 15 * ETU + 8)
    starts = [a for a, _ in tx.drive_intervals()]
    assert starts == [T0, T0 + 15 * ETU, T0 + 30 * ETU]
    assert len(rx.final.receive_fifo) == 3


def test_parity_error_nack_and_repetition_loop() -> None:
    bad = P.tx_frame(0x3B, False) ^ (1 << 9)  # wrong parity bit
    tx, rx = cosimulate([bad], T0 + 3 * 15 * ETU)
    nacks = rx.drive_intervals()
    starts: list[int] = []
    for a, _ in tx.drive_intervals():  # start edges: drive after >= 10 etu since the previous start
        if not starts or a - starts[-1] >= 10 * ETU:
            starts.append(a)
    assert len(nacks) >= 3 and starts[0] == T0
    for k in range(3):
        # receiver: error signal 10.5 etu after the edge it saw (one SM cycle after the transmitter's
        # edge: synchroniser latency) for 1.5 etu
        assert nacks[k][0] - starts[k] in (84, 85) and nacks[k][1] - nacks[k][0] == 12
        # transmitter: repetition 2 etu after it saw the line high again (+1 cycle latency)
        assert starts[k + 1] - nacks[k][1] in (16, 17)
    # one NACK report (the frame) per error signal; the receiver pushed each bad copy
    assert list(tx.final.receive_fifo)[:3] == [bad] * 3
    assert [P.rx_decode(w, False) for w in rx.final.receive_fifo][:3] == [(0x3B, False)] * 3


def test_parity_error_without_error_signal_t1() -> None:
    bad = P.tx_frame(0x3B, False) ^ (1 << 9)
    tx, rx = cosimulate([bad, P.tx_frame(0x90, False)], T0 + 2 * 12 * ETU + 16, nack=False)
    assert rx.drive_intervals() == []
    assert not tx.final.receive_fifo
    assert [P.rx_decode(w, False) for w in rx.final.receive_fifo] == [(0x3B, False), (0x90, True)]
