"""T=1 through the slot service and the virtual T=1 card: protocol selection, IFSD
negotiation, chaining both ways, extended APDUs, recovery from block faults, reader timing
from the card's records, and random APDUs under a bounded fault budget (issue #4)."""

from __future__ import annotations

import hashlib

import pytest
from cpsdi_proto import ccid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpsdi_boards.sim import CardResponse, EventKind, SimCardPort, T0Behaviour, VirtualCard
from cpsdi_boards.sim.records import Direction
from cpsdi_boards.sim.t1_card import T1_ATR_CRC, T1_ATR_LRC, T1_ATR_LRC_IFSC254, T1Behaviour
from cpsdi_fw.slot import STATE_ACTIVE, STATE_INACTIVE, Slot

# Errors a failed APDU may report (documented in t1.py / slot.py); anything else is a bug.
DOCUMENTED = {ccid.ERR_ICC_MUTE, ccid.ERR_XFR_PARITY_ERROR, ccid.ERR_PROCEDURE_BYTE_CONFLICT,
              ccid.ERR_CMD_ABORTED, ccid.ERR_XFR_OVERRUN, ccid.ERR_HW_ERROR}


def answer(apdu: bytes) -> CardResponse:
    """The card application: P1P2 = number of response bytes; the bytes derive from the whole APDU."""
    ne = (apdu[2] << 8 | apdu[3]) if len(apdu) >= 4 else 0
    seed = hashlib.sha256(apdu).digest()
    return CardResponse(data=(seed * (ne // 32 + 1))[:ne], sw=0x9000)


def make(atr: bytes = T1_ATR_LRC, faults: str = "", **t1_kw: object) -> tuple[VirtualCard, SimCardPort, Slot]:
    card = VirtualCard(atr, behaviour=T1Behaviour(apdu_handler=answer, **t1_kw), faults=faults or None)  # type: ignore[arg-type]
    port = SimCardPort(card)
    return card, port, Slot(port)


def apdu(ne: int, data: bytes = b"", extended: bool = False) -> bytes:
    head = bytes([0x00, 0x88, ne >> 8, ne & 0xFF])
    if extended:
        body = (b"\x00" + len(data).to_bytes(2, "big") + data) if data else b""
        le = (b"" if data else b"\x00") + (ne & 0xFFFF).to_bytes(2, "big") if ne else b""
        return head + body + le
    body = bytes([len(data)]) + data if data else b""
    le = bytes([ne & 0xFF]) if ne else b""
    return head + body + le


def transmit(slot: Slot, command: bytes, resp_max: int = 70000) -> bytes:
    resp = bytearray(resp_max)
    n = slot.transmit_apdu(bytearray(command), len(command), resp, resp_max)
    if n < 0:
        raise AssertionError(f"transmit failed, bError {-n:02X}")
    return bytes(resp[:n])


def expected(command: bytes) -> bytes:
    return answer(command).data + b"\x90\x00"


def test_t1_card_session_pps_ifsd_and_exchanges() -> None:
    card, port, slot = make()
    assert slot.power_on() == 0
    assert slot.protocol() == 1 and port.fd == (372, 12)
    assert slot.t1.ifsd == 254 and slot.t1.ifsc == 32
    reader = [b.raw.hex() for b in card.records.t1_blocks(Direction.READER)]
    assert reader[0] == "00c101fe3e"  # T1-3: S(IFS req, FE) first, exact bytes
    for command in (apdu(0), apdu(16), apdu(0, b"\x01\x02\x03"), apdu(256, bytes(range(200)))):
        assert transmit(slot, command) == expected(command)


def test_t1_chaining_both_ways_with_ifsc_32() -> None:
    card, port, slot = make()
    assert slot.power_on() == 0
    command = apdu(256, bytes(range(255)))  # 261 bytes in 9 I-blocks of <= 32, 258 back in 2 blocks
    assert transmit(slot, command) == expected(command)
    reader_i = [b for b in card.records.t1_blocks(Direction.READER) if b.kind == "I"]
    assert [len(b.decoded.inf) for b in reader_i] == [32] * 8 + [5]


@pytest.mark.parametrize("nc,ne", [(0, 65536), (3000, 0), (1000, 4000), (65535, 2)])
def test_t1_extended_apdus(nc: int, ne: int) -> None:
    card, port, slot = make(atr=T1_ATR_LRC_IFSC254)
    assert slot.power_on() == 0
    command = apdu(ne % 65536, bytes(i & 0xFF for i in range(nc)), extended=True)
    if ne == 65536:
        command = command[:4] + b"\x00\x00\x00"
        want = answer(command).data
        assert len(want) == 0  # P1P2 = 0000: the card answers no data; Le = 65536 allowed
    assert transmit(slot, command) == expected(command)


def test_t1_crc_card() -> None:
    card, port, slot = make(atr=T1_ATR_CRC)
    assert slot.power_on() == 0
    assert slot.decision.edc_crc
    command = apdu(40, b"\xAA" * 40)
    assert transmit(slot, command) == expected(command)
    assert all(b.decoded.edc_ok for b in card.records.t1_blocks())


def test_T1_36_reader_waits_bgt_before_each_block() -> None:
    card, port, slot = make(faults="corrupt edc of block 2\nwtx 03 before block 4")
    assert slot.power_on() == 0
    for command in (apdu(100, bytes(70)), apdu(3)):
        assert transmit(slot, command) == expected(command)
    turns = card.records.t1_turnarounds(Direction.CARD)
    assert turns and min(t[2] for t in turns) >= 22


@pytest.mark.parametrize("faults", [
    "corrupt edc of block 2",                       # T1-11
    "drop block 2",                                 # T1-12: BWT expiry -> R-block
    "truncate block 2 after 4 bytes",               # T1-30
    "wrong ns on block 2",                          # T1-33
    "len FF on block 2",                            # T1-29
    "nad 55 on block 2",                            # T1-28
    "rfu on block 2",                               # T1-31
    "rblock 0 err 1 instead of block 2",            # T1-10: NAK -> retransmission
    "rblock 0 err 1 corrupt instead of block 2",    # T1-13
    "wtx 02 times 5 before block 2",                # T1-6: WTX storm
    "ifs 10 before block 2",                        # T1-4
    "ifs 00 before block 2",                        # T1-5
    "lose sequence at block 2",                     # T1-25: CCID issue #72
    "corrupt edc of block 2\nrblock 1 instead of block 3\nrblock 1 corrupt instead of block 4",  # T1-14/15
])
def test_recovery_returns_the_exact_response(faults: str) -> None:
    card, port, slot = make(faults=faults)
    assert slot.power_on() == 0
    command = apdu(60, bytes(range(50)))
    assert transmit(slot, command) == expected(command)
    assert slot.state() == STATE_ACTIVE
    again = apdu(5, b"\x42")
    assert transmit(slot, again) == expected(again)


def test_T1_27_card_abort_reports_aborted_and_the_session_goes_on() -> None:
    # block 1 answers the IFSD negotiation; block 3 would ack the reader's second chained block
    card, port, slot = make(faults="abort before block 3 once")
    assert slot.power_on() == 0
    resp = bytearray(600)
    command = apdu(400, bytes(100))  # the card chains its 402-byte answer: abort inside the chain
    n = slot.transmit_apdu(bytearray(command), len(command), resp, len(resp))
    assert n == -ccid.ERR_CMD_ABORTED
    assert slot.state() == STATE_ACTIVE
    assert transmit(slot, apdu(2)) == expected(apdu(2))
    reader = [b.raw.hex() for b in card.records.t1_blocks(Direction.READER)]
    assert "00e200e2" in reader  # S(ABORT resp)
    assert reader[reader.index("00e200e2") + 1] == "00c000c0"  # then a resynch before the next APDU


def test_T1_24_resynch_never_answered_deactivates() -> None:
    card, port, slot = make(faults="drop block 2 once\ndrop block 3 once\ndrop block 4 once\nignore resynch always")
    assert slot.power_on() == 0
    resp = bytearray(64)
    n = slot.transmit_apdu(bytearray(apdu(2)), len(apdu(2)), resp, len(resp))
    assert -n in DOCUMENTED
    assert slot.state() == STATE_INACTIVE
    assert slot.power_on() == 0  # a fresh session afterwards
    assert transmit(slot, apdu(2)) == expected(apdu(2))


def test_card_offering_t0_and_t1_uses_the_negotiated_one() -> None:
    # TD1 = 80 (T=0 first), TD2 = 01 (T=1 offered), TCK 01: the PPS selects T=1 (P10)
    both = bytes.fromhex("3B 80 80 01 01")
    card = VirtualCard(both, behaviour=T1Behaviour(apdu_handler=answer))
    port = SimCardPort(card)
    slot = Slot(port)
    assert slot.power_on() == 0
    assert slot.protocol() == 1
    assert card.records.card_bytes(response=1) == bytes.fromhex("FF 01 FE")  # PPS echoed: T=1
    assert transmit(slot, apdu(3)) == expected(apdu(3))
    # preferred_protocol = -1: the ATR's default T=0, no PPS
    card0 = VirtualCard(both, behaviour=T0Behaviour())
    slot0 = Slot(SimCardPort(card0))
    slot0.preferred_protocol = -1
    assert slot0.power_on() == 0
    assert slot0.protocol() == 0
    assert not card0.records.events_of(EventKind.PPS)


def test_specific_mode_t1_needs_no_pps() -> None:
    # TA2 = 01: specific mode, T=1 at TA1 = 11
    specific = bytes.fromhex("3B 90 11 11 01")  # TD1 = 11: TA2 follows, T=1; TA2 = 01
    tck = 0
    for b in specific[1:]:
        tck ^= b
    atr = specific + bytes([tck])
    card = VirtualCard(atr, behaviour=T1Behaviour(apdu_handler=answer))
    slot = Slot(SimCardPort(card))
    assert slot.power_on() == 0
    assert slot.protocol() == 1 and slot.decision.specific
    assert not card.records.events_of(EventKind.PPS)
    assert transmit(slot, apdu(1)) == expected(apdu(1))


_FAULTS = st.sampled_from([
    "corrupt edc of block {k}", "drop block {k}", "truncate block {k} after 2 bytes", "wrong ns on block {k}",
    "len FF on block {k}", "nad 55 on block {k}", "rfu on block {k}", "rblock 0 err 1 instead of block {k}",
    "rblock 1 instead of block {k}", "wtx 02 before block {k}", "ifs 20 before block {k}",
    "lose sequence at block {k}", "rblock 0 err 2 corrupt instead of block {k}",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nc=st.integers(min_value=0, max_value=255),
    ne=st.integers(min_value=0, max_value=256),
    faults=st.lists(st.tuples(_FAULTS, st.integers(min_value=2, max_value=9)), max_size=3),  # block 1: IFS
)
def test_random_apdus_under_a_fault_budget(nc: int, ne: int, faults: list[tuple[str, int]]) -> None:
    script = "\n".join(f.format(k=k) for f, k in faults)
    card, port, slot = make(faults=script)
    assert slot.power_on() == 0
    command = bytes([0x00, 0x88, ne >> 8, ne & 0xFF]) + ((bytes([nc]) + bytes(range(nc))) if nc else b"")
    command += bytes([ne & 0xFF]) if ne else b""
    resp = bytearray(300)
    n = slot.transmit_apdu(bytearray(command), len(command), resp, len(resp))
    if n >= 0:
        assert bytes(resp[:n]) == expected(command)  # never a wrong response
    else:
        assert -n in DOCUMENTED, hex(-n)
    assert port.now_clocks < 10**11  # never a hang: bounded virtual time
