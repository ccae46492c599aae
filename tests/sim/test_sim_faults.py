"""Fault scripts: each fault kind on the virtual card, removal at every step, parser errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cpsdi_fw.hal import CLASS_A, CLASS_B, ERR_ABSENT, OK

from _simreader import power_up, receive, send, transmit_t0
from cpsdi_boards.sim import (
    CardResponse,
    EventKind,
    FaultScriptError,
    SimCardPort,
    T0Behaviour,
    VirtualCard,
    parse_fault_script,
)
from cpsdi_boards.sim.faults import (
    ALWAYS,
    CharSelector,
    DelayByte,
    FlipByte,
    NullStorm,
    ReaderSelector,
    RemoveCard,
    ResponseSelector,
)

ATR = bytes.fromhex("3B 13 18 43 50 53")
ETU = 372
DOC = Path(__file__).resolve().parents[2] / "docs" / "fault-scripts.md"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def started(card: VirtualCard) -> SimCardPort:
    port = SimCardPort(card)
    power_up(port)
    return port


def case1(port: SimCardPort) -> bytes:
    send(port, h("00 70 00 00 00"))
    return receive(port, 2, 9600, 9600).data


# -- each fault kind ----------------------------------------------------------------------------


def test_flip_and_set_bytes() -> None:
    card = VirtualCard(ATR, faults="flip response 1 byte 1 mask 80\nset atr byte 2 to 00")
    port = SimCardPort(card)
    assert power_up(port).data == h("3B 00 18 43 50 53")
    assert case1(port) == h("10 00")
    assert card.records.card_bytes(1) == h("10 00")
    card2 = VirtualCard(ATR, faults="flip card byte 8 mask FF")  # ATR = 6 bytes: card byte 8 = SW2
    port2 = started(card2)
    assert case1(port2) == h("90 FF")


def test_flip_default_mask_and_once() -> None:
    card = VirtualCard(ATR, faults="flip response 1 byte 2 once")
    port = started(card)
    assert case1(port) == h("90 01")
    port.set_reset(False)
    port.wait_clocks(400)
    port.set_reset(True)
    receive(port, 32, 108, 9600)
    assert case1(port) == h("90 00")  # spent


@pytest.mark.parametrize("extra, expect", [("+1", False), ("-1", True), ("", True)])
def test_delay_relative_to_wt(extra: str, expect: bool) -> None:
    card = VirtualCard(ATR, faults="delay response 1 byte 1 to WT%s" % extra)
    port = started(card)
    send(port, h("00 70 00 00 00"))
    assert bool(receive(port, 1, 9600, 9600).data) is expect  # WT = 960 x 10 etu at 372/1


def test_delay_wt_follows_the_negotiated_d() -> None:
    card = VirtualCard(ATR, faults="delay response 2 byte 1 to WT+1")
    port = started(card)
    send(port, h("FF 10 18 F7"))
    assert receive(port, 4, 9600, 9600).data == h("FF 10 18 F7")
    port.set_character(372, 12, False, 12, 3)
    send(port, h("00 70 00 00 00"))
    assert receive(port, 1, 115_200, 12).data == b""  # WT = 10 x 960 x 12 etu: one too late
    card2 = VirtualCard(ATR, faults="delay response 2 byte 1 to WT")
    port2 = started(card2)
    send(port2, h("FF 10 18 F7"))
    receive(port2, 4, 9600, 9600)
    port2.set_character(372, 12, False, 12, 3)
    send(port2, h("00 70 00 00 00"))
    assert receive(port2, 1, 115_200, 12).data == h("90")


def test_delay_by_and_atr_in_clocks() -> None:
    card = VirtualCard(ATR, faults="delay response 1 byte 2 by 100\ndelay atr byte 1 to 40001 clocks")
    port = started(card)
    assert card.records.atr_delays() == [40_001]
    case1(port)
    gaps = card.records.gaps
    assert gaps[-1].etu == 112


def test_null_storm() -> None:
    card = VirtualCard(ATR, faults="nulls 300 every 4000 before response 1")
    port = started(card)
    assert transmit_t0(port, h("00 70 00 00 00")) == (b"", 0x9000)
    assert card.records.card_bytes(1) == b"\x60" * 300 + h("90 00")
    spacing = [c.edge_clocks for c in card.records.card_chars() if c.response == 1]
    assert spacing[2] - spacing[1] == 4000 * ETU


def test_mute_until_reset_and_mute_once() -> None:
    for once, answers_after_reset in (("", False), (" once", True)):
        card = VirtualCard(ATR, faults="mute from response 2" + once)
        port = started(card)
        assert case1(port) == h("90 00")
        assert case1(port) == b""
        assert card.records.events_of(EventKind.MUTED)
        port.set_reset(False)
        port.wait_clocks(400)
        port.set_reset(True)
        assert receive(port, 32, 108, 9600).data == ATR
        assert case1(port) == h("90 00")
        assert bool(case1(port)) is answers_after_reset


def test_mute_from_atr() -> None:
    port = SimCardPort(VirtualCard(ATR, faults="mute from atr"))
    assert power_up(port).data == b""


def test_extra_bytes_after_answer() -> None:
    card = VirtualCard(ATR, faults="extra 90 00 after response 1")
    port = started(card)
    send(port, h("00 70 00 00 00"))
    assert receive(port, 4, 9600, 9600).data == h("90 00 90 00")


def test_refuse_class() -> None:
    card = VirtualCard(ATR, faults="refuse class A")
    port = SimCardPort(card)
    assert power_up(port, CLASS_A).data == b""
    port.deactivate()
    assert power_up(port, CLASS_B).data == ATR


def test_remove_at_time_before_after() -> None:
    card = VirtualCard(ATR, faults="remove at 50000 clocks")
    port = SimCardPort(card)
    assert port.activate(CLASS_A) == OK
    port.wait_clocks(40_000)
    port.set_reset(True)  # ATR would start at 50 000
    assert receive(port, 1, 108, 9600).data == b""
    assert port.now_clocks == 50_000 and not port.present()
    assert card.records.events_of(EventKind.REMOVED)[0].clocks == 50_000
    card2 = VirtualCard(ATR, faults="remove after atr byte 3")
    port2 = SimCardPort(card2)
    assert power_up(port2).data == ATR[:3]
    card3 = VirtualCard(ATR, faults="remove before reader byte 3")
    port3 = started(card3)
    port3.wait_etu(16)
    assert port3.send(h("00 70 00 00 00"), 0, 5) == ERR_ABSENT
    assert len(card3.records.reader_chars()) == 2
    assert port3.activate(CLASS_A) == ERR_ABSENT


# -- removal at every step -------------------------------------------------------------------------


def session(port: SimCardPort) -> str:
    """Activation, ATR, PPS, a case 4 exchange with GET RESPONSE; never raises on removal."""
    if port.activate(CLASS_A) != OK:
        return "activate"
    port.wait_clocks(40_000)
    port.set_reset(True)
    if len(receive(port, 6, 108, 9600).data) < 6:
        return "atr"
    steps = [
        (h("FF 10 18 F7"), 4),
        (h("00 A4 04 00 02"), 1),
        (h("3F 00"), 2),
        (h("00 C0 00 00 03"), 6),
    ]
    for i, (out, n) in enumerate(steps):
        port.wait_etu(16)
        if port.send(out, 0, len(out)) != OK:
            return "send %d" % i
        got = receive(port, n, 115_200, 115_200)
        if len(got.data) < n:
            return "receive %d" % i
        assert not any(got.parity)
        if i == 0:
            port.set_character(372, 12, False, 12, 3)
    return "done"


def handler(header: bytes, data: bytes) -> CardResponse:
    return CardResponse(h("01 02 03"), 0x9000)


def new_card(faults: str = "") -> VirtualCard:
    return VirtualCard(ATR, behaviour=T0Behaviour(handler), faults=faults)


def test_session_completes_without_removal() -> None:
    card = new_card()
    port = SimCardPort(card)
    assert session(port) == "done"
    assert card.records.card_bytes(4) == h("C0 01 02 03 90 00")


def test_removal_at_every_card_and_reader_character() -> None:
    clean = new_card()
    session(SimCardPort(clean))
    n_card = len(clean.records.card_chars())
    n_reader = len(clean.records.reader_chars())
    for k in range(1, n_card + 1):
        for where in ("before", "after"):
            card = new_card("remove %s card byte %d" % (where, k))
            port = SimCardPort(card)
            outcome = session(port)
            last = where == "after" and k == n_card  # removed once the session is over
            assert (outcome == "done") is last and not port.present(), (where, k, outcome)
            sent = len(card.records.card_chars())
            assert sent == (k - 1 if where == "before" else k), (where, k)
    for k in range(1, n_reader + 1):
        card = new_card("remove before reader byte %d" % k)
        port = SimCardPort(card)
        assert session(port).startswith("send") and not port.present()
        assert len(card.records.reader_chars()) == k - 1


def test_removal_at_every_response_and_at_any_time() -> None:
    for r in range(0, 5):
        card = new_card("remove before %s" % ("atr" if r == 0 else "response %d" % r))
        port = SimCardPort(card)
        assert session(port) != "done" and not port.present()
    clean = new_card()
    clean_port = SimCardPort(clean)
    session(clean_port)
    end = clean_port.now_clocks
    last_edge = clean.records.chars[-1].edge_clocks
    for t in list(range(0, end, end // 97)) + [last_edge, last_edge + 1]:
        card = new_card()
        port = SimCardPort(card)
        port.remove(at_clocks=t)
        outcome = session(port)
        assert (outcome == "done") is (t > last_edge) and not port.present()
        removed = card.records.events_of(EventKind.REMOVED)
        assert removed and removed[0].clocks == t
        assert all(c.edge_clocks < t for c in card.records.chars)


def test_removal_between_port_calls() -> None:
    for step in range(8):
        card = new_card()
        port = SimCardPort(card)
        calls = 0

        def tick() -> None:
            nonlocal calls
            calls += 1
            if calls == step:
                port.remove()

        assert port.activate(CLASS_A) == OK
        tick()
        port.wait_clocks(40_000)
        tick()
        port.set_reset(True)
        tick()
        got = receive(port, 6, 108, 9600).data
        tick()
        port.wait_etu(16)
        tick()
        rc = port.send(h("00 70 00 00 00"), 0, 5)
        tick()
        sw = receive(port, 2, 9600, 9600).data
        if 1 <= step <= 5:
            assert rc == ERR_ABSENT and sw == b"" and not port.present()
        elif step == 6:
            assert rc == OK and sw == b""
        else:
            assert (got, rc, sw) == (ATR, OK, h("6C 03"))  # case 1 header, 3 bytes available


# -- parser ---------------------------------------------------------------------------------------


def test_parse_every_statement_and_round_trip() -> None:
    text = """
    # comment line
    flip response 2 byte 1 mask 80
    flip card byte 7
    set atr byte 2 to 0x00
    parity response 1 byte 3 times 2   # trailing comment
    parity atr byte 1 always once
    delay response 1 byte 1 to WT+1
    delay response 1 byte 1 by 2*(CWT-11) etu
    delay atr byte 1 to 40_001 clocks
    nulls 300 every WT-1 before response 1
    mute from response 3
    extra 90 00 6Cff after response 2
    remove before response 2 byte 3
    remove after reader byte 4
    remove at 1200000 clocks
    remove before atr
    refuse class A c
    nack reader byte 6 times 4
    nack reader byte 1 always
    """
    script = parse_fault_script(text)
    assert len(script.faults) == 18
    assert script.faults[0] == FlipByte(target=CharSelector(1, 2), mask=0x80)
    assert script.faults[1] == FlipByte(target=CharSelector(7), mask=0x01)
    assert isinstance(script.faults[5], DelayByte) and script.faults[5].amount.evaluate({"WT": 9600}) == 9601
    assert isinstance(script.faults[8], NullStorm) and script.faults[8].before == ResponseSelector(1)
    assert script.faults[12] == RemoveCard(target=ReaderSelector(4), after=True)
    assert script.faults[4].once
    assert parse_fault_script(script.text()) == script
    assert "extra 90 00 6C FF after response 2" in script.text()
    assert parse_fault_script("PARITY Response 1 Byte 1 Always").faults[0].text() == "parity response 1 byte 1 always"
    assert ALWAYS == -1


@pytest.mark.parametrize(
    "text, line, column, expected, found",
    [
        ("flip response 1 bite 2", 1, 17, "'byte'", "'bite'"),
        ("\n\ndelay atr byte 1 to WT+ etu", 3, 25, "a number, WT, CWT, BWT, GT or '('", "'etu'"),
        ("nulls 0 before response 1", 1, 7, "a number of NULL bytes (a decimal number >= 1)", "'0'"),
        ("explode atr", 1, 1, "a fault: 'flip', 'set', 'parity'", "'explode'"),
        ("delay atr byte 1 at 5", 1, 18, "'by' or 'to'", "'at'"),
        ("flip atr byte 2 mask GG", 1, 22, "a mask (a hexadecimal byte such as 6F or 0x6F)", "'GG'"),
        ("delay atr byte 1 by WT clocks", 1, 21, "a number of clocks", "WT"),
        ("refuse class D", 1, 14, "a voltage class A, B or C", "'D'"),
        ("mute from response 1 extra", 1, 22, "'once' or end of line", "'extra'"),
        ("flip atr byte 1 $", 1, 17, "a word, a number", "'$'"),
        ("remove at 100", 1, 14, "'clocks'", "end of line"),
        ("delay atr byte 1 to (WT+1", 1, 26, "')'", "end of line"),
        ("extra after response 1", 1, 7, "hexadecimal bytes", "'after'"),
        ("flip atr byte 0", 1, 15, "a byte position (a decimal number >= 1)", "'0'"),
        ("mute once", 1, 6, "'from'", "'once'"),
    ],
)
def test_parser_errors_name_line_column_and_expectation(
    text: str, line: int, column: int, expected: str, found: str
) -> None:
    with pytest.raises(FaultScriptError) as info:
        parse_fault_script(text)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert err.expected.startswith(expected)
    assert found in err.found
    assert ("line %d, column %d" % (line, column)) in str(err)
    assert str(err).splitlines()[-1].index("^") == column + 1  # caret under the column (2-space indent)


def test_card_accepts_script_text_and_rejects_bad_text() -> None:
    with pytest.raises(FaultScriptError):
        VirtualCard(ATR, faults="flip")


def test_documented_examples_parse() -> None:
    doc = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```fault\n(.*?)```", doc, re.S)
    assert len(blocks) >= 5
    for block in blocks:
        script = parse_fault_script(block)
        assert script.faults
        assert parse_fault_script(script.text()) == script


def test_remove_after_reader_byte() -> None:
    card = VirtualCard(ATR, faults="remove after reader byte 3")
    port = started(card)
    port.wait_etu(16)
    assert port.send(h("00 70 00 00 00"), 0, 5) == ERR_ABSENT
    assert len(card.records.reader_chars()) == 3  # the third one complete, the fourth not sent
    removed = card.records.events_of(EventKind.REMOVED)[0].clocks
    assert removed == card.records.reader_chars()[2].edge_clocks + 12 * ETU
