"""SimCardPort timing semantics and the reader-timing records (guard, turnaround, repetition)."""

from __future__ import annotations

from cpsdi_fw.hal import ERR_REPEAT, OK

from _simreader import power_up, receive, send, transmit_t0
from cpsdi_boards.sim import CardResponse, EventKind, GapKind, SimCardPort, T0Behaviour, VirtualCard

ATR = bytes.fromhex("3B 13 18 43 50 53")
ETU = 372


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def started(card: VirtualCard) -> SimCardPort:
    port = SimCardPort(card)
    assert power_up(port).data == card.atr
    return port


def test_too_short_guard_time_shows_in_the_records() -> None:
    card = VirtualCard(ATR)
    port = started(card)
    port.set_character(372, 1, False, 11, 0)  # one etu short of the 12-etu minimum
    port.wait_etu(16)
    assert port.send(h("00 B0 00 00 00"), 0, 5) == OK
    guards = card.records.guard_times()
    assert [g.etu for g in guards] == [11] * 4
    assert card.records.min_etu(GapKind.GUARD) == 11


def test_guard_time_with_extra_n_and_send_return_time() -> None:
    card = VirtualCard(ATR)
    port = started(card)
    port.set_character(372, 1, False, 12 + 3, 0)
    port.wait_etu(16)
    start = port.now_clocks
    port.send(h("00 B0 00 00 00"), 0, 5)
    assert port.now_clocks == start + 5 * 15 * ETU  # returns after the last character's guard time
    assert {g.etu for g in card.records.guard_times()} == {15}


def test_turnaround_recorded_in_both_directions() -> None:
    card = VirtualCard(ATR, turnaround_etu=20)
    port = started(card)
    transmit_t0(port, h("00 B0 00 00 00"))  # the ATR ended by a 9600-etu timeout
    transmit_t0(port, h("00 B0 00 00 00"))  # waits 16 etu before sending
    port.send(h("00 B0 00 00 00"), 0, 5)  # no wait: 12 etu after SW2 (end of reception)
    turns = [g.etu for g in card.records.turnarounds()]
    assert turns[-2:] == [16, 12]
    assert card.records.gaps_of(GapKind.CARD_TURNAROUND)[0].etu == 20


def test_receive_timeouts_are_exact_between_leading_edges() -> None:
    def slow(header: bytes, data: bytes) -> CardResponse:
        return CardResponse(b"", 0x9000, processing_etu=100)

    for first_timeout, expect in ((116, 1), (115, 0)):  # SW1 comes 16 + 100 etu after the header
        card = VirtualCard(ATR, behaviour=T0Behaviour(slow))
        port = started(card)
        send(port, h("00 70 00 00 00"))
        last_edge = card.records.reader_chars()[-1].edge_clocks
        r = receive(port, 1, first_timeout, 12)
        assert len(r.data) == expect
        if not expect:
            assert port.now_clocks == last_edge + first_timeout * ETU
    card = VirtualCard(ATR, char_spacing_etu=40)
    port = started(card)
    send(port, h("00 70 00 00 00"))
    r = receive(port, 2, 9600, 39)  # SW2 40 etu after SW1: char timeout 39 is too short
    assert r.data == h("90")
    assert receive(port, 1, 9600, 9600).data == h("00")  # still in the receiver FIFO


def test_card_parity_error_is_repeated_with_error_signal() -> None:
    card = VirtualCard(ATR, faults="parity response 1 byte 1")
    port = started(card)
    port.set_character(372, 1, False, 12, 3)
    assert transmit_t0(port, h("00 70 00 00 00")) == (b"", 0x9000)
    sw1 = [c for c in card.records.card_chars() if c.response == 1 and c.index == 1]
    assert [(c.repetition, c.nacked, c.parity_error) for c in sw1] == [(0, True, True), (1, False, False)]
    assert card.records.gaps_of(GapKind.REPEAT)[0].etu == 13


def test_card_parity_error_without_error_signal_is_flagged() -> None:
    card = VirtualCard(ATR, faults="parity response 1 byte 1")
    port = started(card)
    send(port, h("00 70 00 00 00"))
    r = receive(port, 2, 9600, 9600)
    assert (r.data, r.parity) == (h("90 00"), h("01 00"))


def test_card_parity_error_beyond_the_retries_is_flagged() -> None:
    card = VirtualCard(ATR, repeat_limit=10, faults="parity response 1 byte 1 always")
    port = started(card)
    port.set_character(372, 1, False, 12, 3)
    send(port, h("00 70 00 00 00"))
    r = receive(port, 2, 9600, 9600)
    assert (r.data, r.parity) == (h("90 00"), h("01 00"))
    sw1 = [c for c in card.records.card_chars() if c.response == 1 and c.index == 1]
    assert [c.nacked for c in sw1] == [True, True, True, False]  # the reader's 3 retries, then accepted


def test_card_repeat_limit_ends_repetitions() -> None:
    card = VirtualCard(ATR, repeat_limit=1, faults="parity response 1 byte 1 always")
    port = started(card)
    port.set_character(372, 1, False, 12, 5)
    send(port, h("00 70 00 00 00"))
    r = receive(port, 2, 9600, 9600)
    assert (r.data, r.parity) == (h("90 00"), h("01 00"))
    assert [c.nacked for c in card.records.card_chars() if c.response == 1 and c.index == 1] == [True, True]


def test_card_nacks_reader_character_then_err_repeat() -> None:
    card = VirtualCard(ATR, faults="nack reader byte 2 times 2")
    port = started(card)
    port.set_character(372, 1, False, 12, 3)
    assert transmit_t0(port, h("00 70 00 00 00")) == (b"", 0x9000)
    reps = [(c.serial, c.repetition, c.nacked) for c in card.records.reader_chars() if c.serial == 2]
    assert reps == [(2, 0, True), (2, 1, True), (2, 2, False)]
    card2 = VirtualCard(ATR, faults="nack reader byte 2 always")
    port2 = started(card2)
    port2.set_character(372, 1, False, 12, 3)
    port2.wait_etu(16)
    assert port2.send(h("00 70 00 00 00"), 0, 5) == ERR_REPEAT
    assert len([c for c in card2.records.reader_chars() if c.serial == 2]) == 4
    # error signal off at the reader (T=1): NACKs are ignored
    card3 = VirtualCard(ATR, faults="nack reader byte 2 always")
    port3 = started(card3)
    port3.wait_etu(16)
    assert port3.send(h("00 70 00 00 00"), 0, 5) == OK


def test_unread_card_characters_are_flushed_when_the_reader_sends() -> None:
    card = VirtualCard(ATR, faults="extra 90 00 after response 1")
    port = started(card)
    assert transmit_t0(port, h("00 70 00 00 00")) == (b"", 0x9000)
    assert transmit_t0(port, h("00 70 00 00 00")) == (b"", 0x9000)
    assert card.records.card_bytes(1) == h("90 00 90 00")
    assert card.records.events_of(EventKind.RX_FLUSHED)


def test_reader_interrupting_the_card_cancels_its_output() -> None:
    card = VirtualCard(ATR, char_spacing_etu=100)
    port = started(card)
    send(port, h("00 B0 00 00 00"))
    assert receive(port, 1, 9600, 9600).data == h("90")
    port.send(h("00"), 0, 1)  # before SW2 (100 etu later)
    assert card.records.events_of(EventKind.OUTPUT_CANCELLED)


def test_determinism_same_inputs_identical_records() -> None:
    def run() -> tuple[object, ...]:
        card = VirtualCard(ATR, faults="parity response 2 byte 1\nnulls 3 before response 1\nextra 61 after response 3")
        port = started(card)
        port.set_character(372, 1, False, 12, 3)
        transmit_t0(port, h("00 B0 00 00 00"))
        transmit_t0(port, h("00 A4 00 0C 02"), h("3F 00"))
        transmit_t0(port, h("00 70 00 00 00"))
        r = card.records
        return (r.chars, r.gaps, r.events, r.exchanges, port.now_clocks)

    assert run() == run()
