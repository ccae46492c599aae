"""ISO 7816-3 conformance of the slot service against the virtual card.

Rows of shared/reference/iso7816-3.md §6 that need the card port: activation and ATR
timing (A1, A6, A7, A12, A24-A26), electrical/system (E1-E5), the port-level halves of
T=0 (T0-28..T0-32) and PPS (P1, P6), plus whole APDU exchanges with reader timings
asserted from the card's records (turnaround, guard time, RST low).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from cpsdi_proto import ccid

from cpsdi_boards.sim import (
    CardResponse,
    EventKind,
    GapKind,
    PPSMode,
    SimCardPort,
    T0Behaviour,
    VirtualCard,
)
from cpsdi_boards.sim.records import DEACTIVATION_EVENTS
from cpsdi_fw import hal
from cpsdi_fw.slot import RST_LOW_CLOCKS, STATE_ABSENT, STATE_ACTIVE, STATE_INACTIVE, Slot

ATR_T0_TA1_18 = bytes.fromhex("3B 13 18 43 50 53")  # negotiable, TA1 = 18 (372/12), T=0
ATR_T0_PLAIN = bytes.fromhex("3B 02 14 50")  # T=0, no TA1: no PPS
ATR_TC1_5 = bytes.fromhex("3B 42 05 43 50")  # TC1 = 5: guard time 17 etu, no TA1 (no PPS)
INVERSE_ATR = bytes.fromhex("3F 65 25 00 2C 09 69 90 00")
FULL_ORDER = [EventKind.RST_LOW, EventKind.CLK_STOP, EventKind.IO_LOW, EventKind.VCC_OFF]


def handler(header: bytes, data: bytes) -> CardResponse:
    """A card application: READ BINARY returns P3 (00 = 256) bytes of a pattern, 88 (case 4)
    returns the command data reversed, everything else 9000."""
    ins, p3 = header[1], header[4]
    if ins == 0xB0:
        n = p3 or 256
        return CardResponse(data=bytes((i * 7 + header[3]) & 0xFF for i in range(n)))
    if ins == 0x88:
        return CardResponse(data=data[::-1])
    return CardResponse()


def make(atr: bytes = ATR_T0_TA1_18, faults: str = "", classes: tuple[int, ...] = (1, 2, 3),
         **card_kw: object) -> tuple[VirtualCard, SimCardPort, Slot]:
    card = VirtualCard(atr, behaviour=T0Behaviour(handler), faults=faults or None, classes=classes, **card_kw)  # type: ignore[arg-type]
    port = SimCardPort(card)
    return card, port, Slot(port)


def transmit(slot: Slot, apdu: bytes) -> bytes:
    resp = bytearray(300)
    n = slot.transmit_apdu_t0(bytearray(apdu), len(apdu), resp, len(resp))
    if n < 0:
        raise AssertionError(f"transmit failed, bError {-n:02X}")
    return bytes(resp[:n])


def activations(card: VirtualCard) -> int:
    return len(card.records.events_of(EventKind.VCC_ON))


# -- activation and ATR ---------------------------------------------------------------------

def test_power_on_pps_and_case_2_at_the_negotiated_speed() -> None:
    card, port, slot = make()
    assert slot.power_on() == 0
    assert bytes(slot.atr()) == ATR_T0_TA1_18
    assert slot.state() == STATE_ACTIVE
    assert port.fd == (372, 12)  # P1: PPS FF 10 18 F7 accepted
    assert card.fd == (372, 12)
    data = transmit(slot, bytes.fromhex("00 B0 00 05 10"))
    assert data == bytes((i * 7 + 5) & 0xFF for i in range(16)) + b"\x90\x00"
    assert card.records.reset_low_clocks() == [RST_LOW_CLOCKS]


def test_P1_pps_switches_after_pck_and_next_exchange_is_at_115200() -> None:
    card, port, slot = make()
    assert slot.power_on() == 0
    pps_request = [c for c in card.records.reader_chars() if c.f == 372 and c.d == 1]
    assert bytes(c.value for c in pps_request) == bytes.fromhex("FF 10 18 F7")
    pps_answer = card.records.card_bytes(response=1)
    assert pps_answer == bytes.fromhex("FF 10 18 F7")
    transmit(slot, bytes.fromhex("00 A4 00 00 02 3F 00"))
    later = [c for c in card.records.reader_chars()][4:]
    assert later and all((c.f, c.d) == (372, 12) for c in later)
    assert slot.decision.wt_etu == 10 * 960 * 12  # P12: WT scaled by D


def test_P6_silent_pps_deactivates() -> None:
    card, port, slot = make(pps=PPSMode.SILENT)
    assert slot.power_on() != 0
    assert slot.state() == STATE_INACTIVE
    assert card.records.deactivations()[-1] == FULL_ORDER


def test_P2_partial_pps_keeps_fd_dd() -> None:
    card, port, slot = make(pps=PPSMode.PARTIAL)
    assert slot.power_on() == 0
    assert port.fd == (372, 1) and card.fd == (372, 1)
    assert transmit(slot, bytes.fromhex("00 B0 00 00 02")) == bytes([0, 7, 0x90, 0])


def test_A1_mute_card_after_every_class_is_reported_mute_without_hang() -> None:
    card, port, slot = make(faults="mute from atr")
    assert slot.power_on() == ccid.ERR_ICC_MUTE
    assert slot.state() == STATE_INACTIVE
    assert activations(card) == 3  # classes C, B, A (E4)
    assert card.records.deactivations() == [FULL_ORDER] * 3
    assert port.now_clocks < 3 * (RST_LOW_CLOCKS + 42_000 + 10_000)  # bounded: the ATR window, no more


def test_A3_inverse_convention_card() -> None:
    card, port, slot = make(atr=INVERSE_ATR)
    assert slot.power_on() == 0
    assert bytes(slot.atr()) == INVERSE_ATR
    assert slot.parser.inverse
    assert transmit(slot, bytes.fromhex("00 B0 00 01 03")) == bytes([1, 8, 15, 0x90, 0])


@pytest.mark.parametrize(("gap_etu", "ok"), [(9600, True), (10080, True), (10081, False)])
def test_A6_gap_between_atr_characters(gap_etu: int, ok: bool) -> None:
    card, port, slot = make(faults=f"delay atr byte 3 to {gap_etu}")
    rc = slot.power_on()
    assert (rc == 0) is ok
    if not ok:
        assert rc == ccid.ERR_BAD_ATR_TCK
        assert card.records.events_of(EventKind.RST_LOW)  # warm reset tried once (A12 policy)
        assert activations(card) == 1  # the card answered: no class change
        assert slot.state() == STATE_INACTIVE


def test_A7_whole_atr_too_long() -> None:
    slow = "\n".join(f"delay atr byte {k} to 6000" for k in (2, 3, 4, 5))  # 24 000 etu > 20 160
    card, port, slot = make(faults=slow)
    assert slot.power_on() == ccid.ERR_BAD_ATR_TCK
    fine = "\n".join(f"delay atr byte {k} to 6000" for k in (2, 3, 4))  # 18 000 etu
    card, port, slot = make(faults=fine)
    assert slot.power_on() == 0


def test_A12_truncated_atr_warm_reset_once_then_deactivate() -> None:
    # (mute from the first byte is A1) a truncated ATR stops after byte 3:
    card, port, slot = make(faults="delay atr byte 4 by 50000")
    assert slot.power_on() == ccid.ERR_BAD_ATR_TCK
    rst_rises = card.records.events_of(EventKind.RST_HIGH)
    assert len(rst_rises) == 2  # cold reset, one warm reset
    assert card.records.deactivations() == [FULL_ORDER]
    card, port, slot = make(faults="delay atr byte 4 by 50000 once")
    assert slot.power_on() == 0  # the warm reset's ATR is complete
    assert bytes(slot.atr()) == ATR_T0_TA1_18


def test_A24_parity_error_in_atr_then_good_atr_after_warm_reset() -> None:
    card, port, slot = make(faults="parity atr byte 2 once")
    assert slot.power_on() == 0
    assert len(card.records.events_of(EventKind.RST_HIGH)) == 2
    card, port, slot = make(faults="parity atr byte 2")
    assert slot.power_on() == ccid.ERR_XFR_PARITY_ERROR
    assert slot.state() == STATE_INACTIVE


@pytest.mark.parametrize("where", ["before atr byte 1", "before atr byte 3", "after atr byte 6",
                                   "before response 1 byte 2"])
def test_A25_removal_during_activation(where: str) -> None:
    card, port, slot = make(faults=f"remove {where}")
    assert slot.power_on() == ccid.ERR_ICC_MUTE
    assert slot.state() == STATE_ABSENT
    assert not port.powered
    # re-insertion: a clean activation, no stale state
    port.insert(VirtualCard(ATR_T0_PLAIN, behaviour=T0Behaviour(handler)))
    assert slot.state() == STATE_INACTIVE
    assert slot.power_on() == 0
    assert bytes(slot.atr()) == ATR_T0_PLAIN


def test_A26_warm_reset_replaces_the_atr() -> None:
    warm_atr = bytes.fromhex("3B 02 14 51")
    card, port, slot = make(atr=ATR_T0_PLAIN, warm_atr=warm_atr)
    assert slot.power_on() == 0
    assert slot.warm_reset() == 0
    assert bytes(slot.atr()) == warm_atr
    rec = card.records
    assert rec.reset_low_clocks() == [RST_LOW_CLOCKS, RST_LOW_CLOCKS]
    assert len(rec.events_of(EventKind.VCC_ON)) == 1  # VCC and CLK stayed on
    assert not rec.events_of(EventKind.VCC_OFF)
    assert transmit(slot, bytes.fromhex("00 B0 00 00 01")) == bytes([0, 0x90, 0])


# -- electrical / system ------------------------------------------------------------------------

def test_E1_deactivation_order_after_a_fatal_error() -> None:
    card, port, slot = make(atr=ATR_T0_PLAIN, faults="mute from response 1")
    assert slot.power_on() == 0
    resp = bytearray(300)
    assert slot.transmit_apdu_t0(bytearray(b"\x00\xb0\x00\x00\x02"), 5, resp, 300) == -ccid.ERR_ICC_MUTE
    assert slot.state() == STATE_INACTIVE
    assert card.records.deactivations() == [FULL_ORDER]
    assert [e.kind for e in card.records.events if e.kind in DEACTIVATION_EVENTS][-4:] == FULL_ORDER


@pytest.mark.parametrize("fault", ["remove before response 3 byte 3", "remove before response 2 byte 1", "remove before response 1 byte 1",
                                   "remove after reader byte 7"])
def test_E2_removal_mid_exchange(fault: str) -> None:
    card, port, slot = make(atr=ATR_T0_PLAIN, faults=fault)
    assert slot.power_on() == 0
    resp = bytearray(300)
    rc = slot.transmit_apdu_t0(bytearray(bytes.fromhex("00 88 00 00 04 01 02 03 04 00")), 10, resp, 300)
    assert rc == -ccid.ERR_ICC_MUTE
    assert slot.state() == STATE_ABSENT and not slot.powered
    port.insert(VirtualCard(ATR_T0_PLAIN, behaviour=T0Behaviour(handler)))
    assert slot.power_on() == 0
    assert transmit(slot, bytes.fromhex("00 88 00 00 02 01 02 00")) == bytes([2, 1, 0x90, 0])


def test_E3_interface_chip_fault_is_a_hardware_error() -> None:
    card, port, slot = make()
    port.set_chip_fault(True)
    assert slot.power_on() == ccid.ERR_HW_ERROR
    assert slot.state() == STATE_INACTIVE
    port.set_chip_fault(False)
    assert slot.power_on() == 0


def test_E4_class_fallback_c_b_a() -> None:
    card, port, slot = make(classes=(hal.CLASS_A,))
    assert slot.power_on() == 0
    assert slot.voltage_class == hal.CLASS_A
    assert len(card.records.events_of(EventKind.CLASS_REFUSED)) == 2
    assert card.records.deactivations() == [FULL_ORDER] * 2
    card, port, slot = make(faults="refuse class C")
    assert slot.power_on() == 0 and slot.voltage_class == hal.CLASS_B
    card, port, slot = make(classes=(hal.CLASS_A,))
    assert slot.power_on(ccid.POWER_3V) == ccid.ERR_ICC_MUTE  # explicit class: no fallback
    assert activations(card) == 1
    assert slot.power_on(0x07) == ccid.ERR_ICC_CLASS_NOT_SUPPORTED


def test_E4_board_without_a_class_skips_it() -> None:
    card = VirtualCard(ATR_T0_PLAIN, behaviour=T0Behaviour(handler))
    port = SimCardPort(card, classes=(hal.CLASS_B, hal.CLASS_A))
    slot = Slot(port)
    assert slot.power_on() == 0 and slot.voltage_class == hal.CLASS_B
    assert activations(card) == 1


def test_E5_fd_changes_only_between_exchanges() -> None:
    card, port, slot = make()
    assert slot.power_on() == 0
    transmit(slot, bytes.fromhex("00 B0 00 00 20"))
    switches = card.records.events_of(EventKind.FD_SWITCH)
    assert len(switches) == 1  # after the PPS answer's PCK, before any command
    pps_end = max(c.edge_clocks for c in card.records.card_chars() if c.response == 1)
    first_command = min(c.edge_clocks for c in card.records.reader_chars() if (c.f, c.d) == (372, 12))
    assert pps_end <= switches[0].clocks < first_command


# -- T=0 at the port ----------------------------------------------------------------------------

def test_T0_28_parity_error_repeated_by_the_card() -> None:
    card, port, slot = make(atr=ATR_T0_PLAIN, faults="parity response 1 byte 2 times 2")
    assert slot.power_on() == 0
    assert transmit(slot, bytes.fromhex("00 B0 00 00 04")) == bytes([0, 7, 14, 21, 0x90, 0])
    nacked = [c for c in card.records.card_chars() if c.nacked]
    assert len(nacked) == 2


def test_T0_28_parity_error_beyond_retries_deactivates() -> None:
    card, port, slot = make(atr=ATR_T0_PLAIN, faults="parity response 1 byte 2 always")
    assert slot.power_on() == 0
    resp = bytearray(300)
    assert slot.transmit_apdu_t0(bytearray(bytes.fromhex("00 B0 00 00 04")), 5, resp, 300) == -ccid.ERR_XFR_PARITY_ERROR
    assert slot.state() == STATE_INACTIVE


def test_T0_29_card_nacks_a_reader_character() -> None:
    card, port, slot = make(atr=ATR_T0_PLAIN, faults="nack reader byte 7 times 2")
    assert slot.power_on() == 0
    assert transmit(slot, bytes.fromhex("00 88 00 00 02 0A 0B 00")) == bytes([0x0B, 0x0A, 0x90, 0])
    assert len(card.records.gaps_of(GapKind.REPEAT)) == 2
    card, port, slot = make(atr=ATR_T0_PLAIN, faults="nack reader byte 7 always")
    assert slot.power_on() == 0
    resp = bytearray(300)
    rc = slot.transmit_apdu_t0(bytearray(bytes.fromhex("00 88 00 00 02 0A 0B 00")), 8, resp, 300)
    assert rc == -ccid.ERR_XFR_PARITY_ERROR
    assert slot.state() == STATE_INACTIVE


def test_T0_30_turnaround_and_guard_times_from_the_records() -> None:
    card, port, slot = make(atr=ATR_TC1_5)
    assert slot.power_on() == 0
    assert slot.decision.guard_time_etu == 17
    for apdu in ("00 B0 00 00 10", "00 88 00 00 03 01 02 03 00", "00 A4 04 00 02 3F 00"):
        transmit(slot, bytes.fromhex(apdu))
    rec = card.records
    turnaround = rec.min_etu(GapKind.TURNAROUND)
    assert turnaround is not None and turnaround >= 16
    guards = [g.etu for g in rec.guard_times()]
    assert guards and min(guards) >= 17
    assert Fraction(17) in guards


def test_T0_32_extra_bytes_after_sw2_are_flushed() -> None:
    card, port, slot = make(atr=ATR_T0_PLAIN, faults="extra 90 00 after response 1")
    assert slot.power_on() == 0
    assert transmit(slot, bytes.fromhex("00 B0 00 00 01")) == bytes([0, 0x90, 0])
    assert transmit(slot, bytes.fromhex("00 B0 00 03 02")) == bytes([3, 10, 0x90, 0])
    # both had arrived by the end of the reader's 16-etu turnaround: drained, counted, not fed
    assert slot.extra_bytes == 2
    assert card.records.card_bytes(response=1)[-2:] == b"\x90\x00"


def test_T0_3_null_storm_keeps_waiting() -> None:
    card, port, slot = make(atr=ATR_T0_PLAIN, faults="nulls 500 every WT-1 before response 1")
    assert slot.power_on() == 0
    ticks = []
    slot.idle = lambda: ticks.append(port.now_clocks)
    assert transmit(slot, bytes.fromhex("00 B0 00 00 01")) == bytes([0, 0x90, 0])
    assert len(ticks) > 1000  # the link was kept alive in slices during the storm


def test_T0_4_silence_after_header_is_mute_after_wt() -> None:
    card, port, slot = make(atr=ATR_T0_PLAIN, faults="mute from response 1")
    assert slot.power_on() == 0
    start = port.now_clocks
    resp = bytearray(300)
    assert slot.transmit_apdu_t0(bytearray(bytes.fromhex("00 B0 00 00 01")), 5, resp, 300) == -ccid.ERR_ICC_MUTE
    waited_etu = (port.now_clocks - start) / 372
    assert 9600 <= waited_etu < 9600 + 200  # WT = 10 x 960, plus the header time


@pytest.mark.parametrize("lc", [1, 127, 255])
@pytest.mark.parametrize("le", [1, 255, 256])
def test_case_4_all_size_classes_through_the_slot(lc: int, le: int) -> None:
    card, port, slot = make()
    assert slot.power_on() == 0
    data = bytes((i * 13) & 0xFF for i in range(lc))
    apdu = bytes([0x00, 0x88, 0x00, 0x00, lc]) + data + bytes([le & 0xFF])
    expected = data[::-1][:le]
    assert transmit(slot, apdu) == expected + b"\x90\x00"


def test_wire_efficiency_is_computable_from_the_records() -> None:
    card, port, slot = make()
    assert slot.power_on() == 0
    transmit(slot, bytes.fromhex("00 B0 00 00 00"))
    exchanges = [x for x in card.records.exchanges if x.complete and x.kind != "pps"]
    assert exchanges
    total = sum(x.wire_etu for x in exchanges)
    assert total >= 12 * 256  # at least the 256 data characters
    assert slot.t0_apdu.wire_min_etu > 0


def test_t0_waiting_time_comes_from_tc2() -> None:
    # TC2 = 2A: WT = 960 x 42 = 40 320 etu (§10.2); an answer 30 000 etu late is within WT
    # (it would be mute with the default 9 600 etu), one 41 000 etu late is not.
    from cpsdi_boards.sim import CardResponse, T0Behaviour, VirtualCard
    from cpsdi_fw.slot import Slot

    for late_etu, ok in ((30_000, True), (41_000, False)):
        card = VirtualCard(bytes.fromhex("3B 80 40 2A"),  # TD1 -> TC2 = 2A, T=0 only: no TCK
                           behaviour=T0Behaviour(lambda h, d: CardResponse(data=b"\x01", processing_etu=late_etu)))
        slot = Slot(SimCardPort(card))
        assert slot.power_on() == 0
        assert slot.decision.wt_etu == 40_320 and slot.t0_apdu.wt_etu == 40_320
        resp = bytearray(8)
        n = slot.transmit_apdu(bytearray(b"\x00\xb0\x00\x00\x01"), 5, resp, 8)
        assert (n == 3) is ok, n
