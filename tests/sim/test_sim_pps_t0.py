"""Virtual card: PPS answers and the T=0 card side (APDU handler and scripted modes)."""

from __future__ import annotations

import pytest

from cpsdi_fw.hal import OK

from _simreader import power_up, receive, send, transmit_t0
from cpsdi_boards.sim import (
    AckMode,
    CardResponse,
    EventKind,
    PPSMode,
    ScriptedBehaviour,
    ScriptStep,
    SimCardPort,
    T0Behaviour,
    VirtualCard,
)

ATR = bytes.fromhex("3B 13 18 43 50 53")  # TA1 = 18: Fi 372, Di 12
PPS_REQ = bytes.fromhex("FF 10 18 F7")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def started(card: VirtualCard) -> SimCardPort:
    port = SimCardPort(card)
    assert power_up(port).data == card.atr
    return port


@pytest.mark.parametrize(
    "mode, answer, fd",
    [
        (PPSMode.ACCEPT, "FF 10 18 F7", (372, 12)),
        (PPSMode.PARTIAL, "FF 00 FF", (372, 1)),
        (PPSMode.REJECT_PCK, "FF 10 18 08", (372, 1)),
        (PPSMode.REJECT_FD, "FF 10 11 FE", (372, 1)),
        (PPSMode.SILENT, "", (372, 1)),
    ],
)
def test_pps_answers(mode: PPSMode, answer: str, fd: tuple[int, int]) -> None:
    card = VirtualCard(ATR, pps=mode)
    port = started(card)
    assert send(port, PPS_REQ) == OK
    r = receive(port, 4, 9600, 9600)
    assert r.data == h(answer)
    assert card.fd == fd
    assert card.records.exchanges[-1].kind == "pps"
    assert card.records.events_of(EventKind.PPS)


def test_pps_with_bad_pck_is_ignored() -> None:
    card = VirtualCard(ATR)
    port = started(card)
    send(port, h("FF 10 18 00"))
    assert receive(port, 4, 9600, 9600).data == b""
    assert "bad PCK" in card.records.events_of(EventKind.PPS)[0].detail


def test_after_pps_both_sides_must_switch() -> None:
    def handler(header: bytes, data: bytes) -> CardResponse:
        return CardResponse(b"", 0x9000)

    card = VirtualCard(ATR, behaviour=T0Behaviour(handler))
    port = started(card)
    send(port, PPS_REQ)
    assert receive(port, 4, 9600, 9600).data == PPS_REQ
    # the reader forgets to switch: the card (372/12) sees garbage with parity errors
    assert send(port, h("00 A4 04 00 00")) == OK
    after_pps = card.records.reader_chars()[len(PPS_REQ):]
    assert len(after_pps) == 5 and all(c.parity_error for c in after_pps)
    assert after_pps[0].received != 0x00
    # NACKed when the error signal is on at the reader: repetition, then ERR_REPEAT
    card2 = VirtualCard(ATR)
    port2 = started(card2)
    send(port2, PPS_REQ)
    receive(port2, 4, 9600, 9600)
    port2.set_character(372, 1, False, 12, 2)
    assert send(port2, h("00")) != OK
    # switched correctly: works at 115 200 bit/s, 31 clocks per etu
    card3 = VirtualCard(ATR)
    port3 = started(card3)
    send(port3, PPS_REQ)
    receive(port3, 4, 9600, 9600)
    port3.set_character(372, 12, False, 12, 3)
    assert transmit_t0(port3, h("00 A4 04 00 00"), wt_etu=115_200) == (b"", 0x9000)
    guard = card3.records.guard_times()[-1]
    assert guard.clocks == 12 * 31 and guard.etu == 12


def test_specific_mode_card_uses_ta1_immediately() -> None:
    card = VirtualCard(h("3B 90 18 10 00"))  # TA1 18, TD1 10 (TA2 follows, T=0), TA2 00: specific T=0
    port = started(card)
    assert card.fd == (372, 12)
    port.set_character(372, 12, False, 12, 3)
    assert transmit_t0(port, h("00 A4 04 00 00"), wt_etu=115_200)[1] == 0x9000


# -- T=0 with the APDU handler --------------------------------------------------------------------


def applet(header: bytes, data: bytes) -> CardResponse:
    ins = header[1]
    if ins == 0xA4:  # SELECT: case 3, or case 4 with FCI when P2 = 00
        if header[3] == 0x00:
            return CardResponse(bytes(range(0x26)), 0x9000)
        return CardResponse(b"", 0x9000)
    if ins == 0xB0:  # READ BINARY, 5 bytes available
        return CardResponse(h("45 75 74 77 74"), 0x9000)
    if ins == 0x20:
        return CardResponse(b"", 0x63C2, processing_etu=500)
    return CardResponse(b"", 0x6D00)


def t0_card(**kw: object) -> tuple[VirtualCard, SimCardPort, T0Behaviour]:
    beh = T0Behaviour(applet, **kw)  # type: ignore[arg-type]
    card = VirtualCard(ATR, behaviour=beh)
    return card, started(card), beh


def test_t0_case1_and_unknown_ins() -> None:
    card, port, beh = t0_card()
    assert transmit_t0(port, h("00 70 00 00 00")) == (b"", 0x6D00)
    assert card.records.card_bytes(1) == h("6D 00")


def test_t0_case2_exact_and_6cxx() -> None:
    card, port, _ = t0_card()
    assert transmit_t0(port, h("00 B0 00 00 05")) == (h("45 75 74 77 74"), 0x9000)
    assert card.records.card_bytes(1) == h("B0 45 75 74 77 74 90 00")
    assert transmit_t0(port, h("00 B0 00 00 03")) == (b"", 0x6C05)
    assert transmit_t0(port, h("00 B0 00 00 00")) == (b"", 0x6C05)  # Le 256


def test_t0_case3_and_case4_with_61xx_get_response() -> None:
    card, port, beh = t0_card()
    assert transmit_t0(port, h("00 A4 00 0C 02"), h("3F 00")) == (b"", 0x9000)
    assert card.records.card_bytes(1) == h("A4") and card.records.card_bytes(2) == h("90 00")
    assert transmit_t0(port, h("00 A4 04 00 02"), h("3F 00")) == (b"", 0x6126)
    assert transmit_t0(port, h("00 C0 00 00 10")) == (bytes(range(0x10)), 0x6116)
    assert transmit_t0(port, h("00 C0 00 00 20")) == (b"", 0x6C16)
    assert transmit_t0(port, h("00 C0 00 00 16")) == (bytes(range(0x10, 0x26)), 0x9000)
    assert beh.commands[0] == (h("00 A4 00 0C 02"), h("3F 00"))


@pytest.mark.parametrize("ack, wire", [
    (AckMode.SINGLE, "4F 45 4F 75 4F 74 4F 77 4F 74 90 00"),
    (AckMode.MIXED, "4F 45 B0 75 74 77 74 90 00"),
])
def test_t0_ins_xor_ff_outgoing(ack: AckMode, wire: str) -> None:
    card, port, _ = t0_card(ack=ack)
    assert transmit_t0(port, h("00 B0 00 00 05")) == (h("45 75 74 77 74"), 0x9000)
    assert card.records.card_bytes(1) == h(wire)


@pytest.mark.parametrize("ack, acks", [(AckMode.SINGLE, ["5B", "5B", "5B"]), (AckMode.MIXED, ["5B", "A4"])])
def test_t0_ins_xor_ff_incoming(ack: AckMode, acks: list[str]) -> None:
    card, port, beh = t0_card(ack=ack)
    assert transmit_t0(port, h("00 A4 00 0C 03"), h("3F 00 01")) == (b"", 0x9000)
    got = [card.records.card_bytes(i).hex().upper() for i in range(1, len(acks) + 1)]
    assert got == acks
    assert beh.commands[-1][1] == h("3F 00 01")


def test_t0_nulls_and_processing_time_accounting() -> None:
    card, port, _ = t0_card(nulls=2, null_interval_etu=200)
    assert transmit_t0(port, h("00 20 00 01 00")) == (b"", 0x63C2)
    assert card.records.card_bytes(1) == h("60 60 60 60 63 C2")  # 2 NULLs + 2 during 500 etu
    ex = card.records.exchanges[-1]
    assert ex.complete and ex.processing_etu == 500
    # 5 header chars (4 x 12 etu) + 16 turnaround + NULLs 12 + 200 + 200 + (100 + 12) + SW2 12
    assert ex.elapsed_etu == 48 + 16 + 12 + 200 + 200 + 100 + 12 + 12
    assert ex.wire_etu == ex.elapsed_etu - 500


def test_t0_exchange_accounting_minimal() -> None:
    card, port, _ = t0_card()
    transmit_t0(port, h("00 B0 00 00 05"))
    ex = card.records.exchanges[-1]
    assert (ex.reader_chars, ex.card_chars) == (5, 8)
    assert ex.wire_etu == 4 * 12 + 16 + 7 * 12  # header, turnaround, ACK + 5 data + SW1 -> SW2 edge


# -- scripted mode -------------------------------------------------------------------------------


def test_scripted_card_reproduces_emv_a4() -> None:
    script = ScriptedBehaviour([
        ScriptStep(expect=h("00 A4 04 00 0E"), reply=h("A4"), end_exchange=False),
        ScriptStep(expect=b"1PAY.SYS.DDF01", reply=h("61 26")),
        ScriptStep(expect=h("00 C0 00 00 26"), reply=h("C0") + bytes(38) + h("90 00")),
    ])
    card = VirtualCard(ATR, behaviour=script)
    port = started(card)
    assert transmit_t0(port, h("00 A4 04 00 0E"), b"1PAY.SYS.DDF01") == (b"", 0x6126)
    assert transmit_t0(port, h("00 C0 00 00 26")) == (bytes(38), 0x9000)
    assert not card.records.events_of(EventKind.SCRIPT_MISMATCH)
    assert [e.kind for e in card.records.exchanges] == ["script", "script"]


def test_scripted_card_handles_pps_raw_and_records_mismatches() -> None:
    script = ScriptedBehaviour([
        ScriptStep(expect=PPS_REQ, reply=PPS_REQ, then_fd=(372, 12)),
        (5, h("6A 82")),
    ])
    card = VirtualCard(ATR, behaviour=script)
    port = started(card)
    send(port, PPS_REQ)
    assert receive(port, 4, 9600, 9600).data == PPS_REQ
    assert card.fd == (372, 12)
    port.set_character(372, 12, False, 12, 3)
    assert transmit_t0(port, h("00 A4 04 00 00"), wt_etu=115_200) == (b"", 0x6A82)
    send(port, h("00"))
    assert card.records.events_of(EventKind.SCRIPT_EXHAUSTED)
    bad = VirtualCard(ATR, behaviour=ScriptedBehaviour([(h("00 A4"), h("90 00"))]))
    port_b = started(bad)
    send(port_b, h("00 B0"))
    assert receive(port_b, 2, 9600, 9600).data == h("90 00")
    assert "expected 00 a4, got 00 b0" in bad.records.events_of(EventKind.SCRIPT_MISMATCH)[0].detail


def test_scripted_reply_without_expect_follows_the_atr() -> None:
    card = VirtualCard(ATR, behaviour=ScriptedBehaviour([(0, h("90 00"))]))
    port = SimCardPort(card)
    assert power_up(port).data == ATR + h("90 00")  # "extra bytes after the ATR" (A13)


def test_t0_response_longer_than_256_uses_61xx() -> None:
    def big(header: bytes, data: bytes) -> CardResponse:
        return CardResponse(bytes(i & 0xFF for i in range(300)), 0x9000)

    card = VirtualCard(ATR, behaviour=T0Behaviour(big))
    port = started(card)
    assert transmit_t0(port, h("00 B0 00 00 00")) == (bytes(range(256)), 0x612C)
    assert transmit_t0(port, h("00 C0 00 00 2C")) == (bytes(range(44)), 0x9000)


def test_inverse_convention_session() -> None:
    card = VirtualCard(h("3F 65 25 00 2C 09 69 90 00"))
    port = SimCardPort(card)
    assert power_up(port).data == card.atr  # the helper follows TS = 03 + parity error
    assert transmit_t0(port, h("00 B0 00 00 00")) == (b"", 0x9000)
    assert not any(c.parity_error for c in card.records.chars[len(card.atr):])
    # a reader that stays in direct convention: the card NACKs every character
    card2 = VirtualCard(h("3F 65 25 00 2C 09 69 90 00"))
    port2 = SimCardPort(card2)
    power_up(port2, follow_ts=False)
    port2.set_character(372, 1, False, 12, 3)
    send(port2, h("00 B0 00 00 00"))
    first = card2.records.reader_chars()[0]
    assert first.parity_error and first.nacked
