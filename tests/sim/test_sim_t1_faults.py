"""T=1 block faults of the fault-script language: each statement produces exactly the blocks it should."""

from __future__ import annotations

import pytest

from cpsdi_boards.sim import (
    T1_ATR_CRC,
    CardResponse,
    Direction,
    EventKind,
    FaultScriptError,
    T1Behaviour,
    VirtualCard,
    parse_fault_script,
)
from cpsdi_boards.sim.faults import (
    ALWAYS,
    BlockSelector,
    CorruptEdc,
    IgnoreResynch,
    RBlockInstead,
    SRequestBefore,
    TruncateBlock,
)
from cpsdi_boards.sim.t1_block import frame_block
from _simreader import receive
from test_sim_t1_card import BGT, CWT, Reader, anssi_handler, card_t1, h

APDU = h("00 A4 04 00 05 75 36 41 70 70 05")
I0 = h("00 00 0B 00 A4 04 00 05 75 36 41 70 70 05 A9")  # reader I(0,0), ANSSI Sc.1
I0_ANSWER = h("00 00 07 75 74 77 74 75 90 00 E0")


def anssi(faults: str, **kw: object) -> Reader:
    return Reader(card_t1(faults=faults, handler=anssi_handler, **kw))


def card_blocks(r: Reader) -> list[str]:
    return [b.text() for b in r.card.records.t1_blocks(Direction.CARD)]


# -- block shaping ---------------------------------------------------------------------------------


def test_corrupt_edc_then_retransmission_t1_11() -> None:
    r = anssi("corrupt edc of block 1")
    bad = r.xfer(I0)
    assert bad == I0_ANSWER[:-1] + bytes((I0_ANSWER[-1] ^ 0xFF,))
    assert r.xfer(h("00 81 00 81")) == I0_ANSWER  # block 2: the retransmission, intact
    blocks = r.card.records.t1_blocks(Direction.CARD)
    assert [b.edc_ok for b in blocks] == [False, True] and [b.block for b in blocks] == [1, 2]


def test_corrupt_edc_mask_and_crc() -> None:
    r = Reader(card_t1(T1_ATR_CRC, faults="corrupt edc of block 1 mask 01"), edc="crc-libccid")
    good = frame_block(0, 0x00, h("90 00"), "crc-libccid")
    assert r.i(0, h("00 70 00 00")) == good[:-1] + bytes((good[-1] ^ 1,))


def test_drop_block_t1_12() -> None:
    r = anssi("drop block 1")
    r.send(I0)
    t0 = r.port.now_clocks
    assert r.recv() == b""
    assert r.port.now_clocks - t0 >= r.bwt * 372 - 12 * 372  # waited the whole BWT (from the last char)
    assert r.card.records.events_of(EventKind.T1_DROPPED)[0].detail == "block 1"
    assert r.xfer(h("00 82 00 82")) == I0_ANSWER  # block 2
    assert card_blocks(r) == ["card I(0,0) " + I0_ANSWER.hex(" ").upper()]
    assert r.card.records.t1_blocks(Direction.CARD)[0].block == 2


def test_truncate_block_t1_30() -> None:
    r = anssi("truncate block 1 after 5 bytes")
    assert r.xfer(I0) == I0_ANSWER[:5]
    assert r.xfer(h("00 82 00 82")) == I0_ANSWER
    first = r.card.records.t1_blocks(Direction.CARD)[0]
    assert not first.decoded.complete and first.raw == I0_ANSWER[:5]


def test_wrong_ns_t1_33() -> None:
    r = anssi("wrong ns on block 1\nwrong ns on block 2")
    assert r.xfer(I0) == frame_block(0, 0x40, h("75 74 77 74 75 90 00"), "lrc")
    assert r.xfer(h("00 82 00 82")) == frame_block(0, 0x40, h("75 74 77 74 75 90 00"), "lrc")
    r2 = anssi("wrong ns on block 1")  # block 1 is an R-block: no effect, not spent
    assert r2.xfer(h("00 80 00 80")) == h("00 82 00 82")
    assert r2.xfer(I0) == I0_ANSWER


@pytest.mark.parametrize(
    "fault, expect",
    [
        ("len FF on block 1", frame_block(0, 0x00, h("75 74 77 74 75 90 00"), "lrc", length=0xFF)),
        ("nad 12 on block 1", frame_block(0x12, 0x00, h("75 74 77 74 75 90 00"), "lrc")),
        ("rfu on block 1", frame_block(0, 0x01, h("75 74 77 74 75 90 00"), "lrc")),
        ("rfu on block 1 mask 10", frame_block(0, 0x10, h("75 74 77 74 75 90 00"), "lrc")),
        ("len 20 on block 1", frame_block(0, 0x00, h("75 74 77 74 75 90 00"), "lrc", length=0x20)),
    ],
)
def test_header_faults_keep_a_valid_edc(fault: str, expect: bytes) -> None:
    r = anssi(fault)
    r.send(I0)
    got = r.recv()
    if expect[2] in (0xFF, 0x20):  # the reader cannot size it: read what is there
        got += r.recv(CWT)
    assert got == expect
    assert r.card.records.t1_blocks(Direction.CARD)[0].raw == expect


def test_rfu_defaults_per_block_kind() -> None:
    r = Reader(card_t1(faults="rfu on block 1\nrfu on block 2", ifs_request=0x20))
    assert r.xfer(r.block(0x80)) == h("00 A2 00 A2")  # R-block: b6
    assert r.i(0, h("00 70 00 00")) == h("00 C5 01 20 E4")  # S(IFS req) -> unknown type 05


# -- R-block games ---------------------------------------------------------------------------------


def test_card_nak_instead_of_answer_t1_10() -> None:
    beh = T1Behaviour(anssi_handler)
    r = Reader(VirtualCard(card_t1().atr, behaviour=beh, faults="rblock 0 err 1 instead of block 1"))
    assert r.xfer(I0) == h("00 81 00 81")
    assert beh.apdus == []  # the reader's block was disregarded
    assert r.xfer(I0) == I0_ANSWER  # retransmission processed as new
    assert beh.apdus == [APDU]


def test_corrupted_card_nak_t1_13() -> None:
    r = anssi("rblock 0 err 1 corrupt instead of block 1")
    assert r.xfer(I0) == h("00 81 00 7E")
    assert r.xfer(h("00 81 00 81")) == h("00 81 00 81")  # the card's NAK, repeated intact
    assert r.xfer(I0) == I0_ANSWER


def test_unexpected_r_after_reader_nak_t1_14_and_15() -> None:
    r = anssi("corrupt edc of block 1\nrblock 1 instead of block 2\nrblock 1 corrupt instead of block 3")
    assert r.xfer(I0)[-1] == I0_ANSWER[-1] ^ 0xFF
    assert r.xfer(h("00 81 00 81")) == h("00 90 00 90")
    assert r.xfer(h("00 81 00 81")) == h("00 90 00 6F")
    assert r.xfer(h("00 81 00 81")) == I0_ANSWER
    assert card_blocks(r)[1:3] == ["card R(1) 00 90 00 90", "card R(1) 00 90 00 6F"]


def test_r_games_during_card_chaining_t1_21() -> None:
    r = anssi("rblock 1 err 2 instead of block 2", ifsd=5)
    assert r.xfer(I0) == h("00 20 05 75 74 77 74 75 52")
    assert r.xfer(h("00 90 00 90")) == h("00 92 00 92")
    assert r.xfer(h("00 90 00 90")) == h("00 40 02 90 00 D2")


def test_corrupted_r_ack_during_reader_chaining_t1_20() -> None:
    r = Reader(card_t1(faults="corrupt edc of block 1", ifsc=5))
    assert r.xfer(h("00 20 05 00 A4 04 00 05 80")) == h("00 90 00 6F")
    assert r.xfer(h("00 81 00 81")) == h("00 90 00 90")
    assert r.xfer(h("00 60 05 75 36 41 70 70 67")) == h("00 80 00 80")
    assert r.xfer(h("00 00 01 05 04")) == frame_block(0, 0, h("75 36 41 70 70 90 00"), "lrc")


# -- card S-requests ---------------------------------------------------------------------------------


def test_wtx_storm_t1_6() -> None:
    r = anssi("wtx 02 times 3 before block 1")
    assert r.xfer(I0) == h("00 C3 01 02 C0")
    for _ in range(2):
        assert r.xfer(h("00 E3 01 02 E0")) == h("00 C3 01 02 C0")
    assert r.xfer(h("00 E3 01 02 E0")) == I0_ANSWER
    assert [b.block for b in r.card.records.t1_blocks(Direction.CARD)] == [1, 2, 3, 4]
    assert r.card.records.exchanges[-1].complete and len(r.card.records.exchanges) == 1


def test_corrupted_wtx_request_t1_16() -> None:
    r = anssi("wtx 02 before block 1\ncorrupt edc of block 1")
    assert r.xfer(I0) == h("00 C3 01 02 3F")
    assert r.xfer(h("00 81 00 81")) == h("00 C3 01 02 C0")
    assert r.xfer(h("00 E3 01 03 E1")) == h("00 C3 01 02 C0")  # wrong S-response: request again
    assert r.xfer(h("00 E3 01 02 E0")) == I0_ANSWER


def test_card_ifs_request_before_block_t1_4_and_t1_18() -> None:
    beh = T1Behaviour(anssi_handler)
    r = Reader(VirtualCard(card_t1().atr, behaviour=beh, faults="ifs 10 before block 2"))
    assert r.xfer(I0) == I0_ANSWER
    assert r.i(1, APDU) == h("00 C1 01 10 D0")
    assert beh.ifsc == 32
    assert r.xfer(h("00 E1 01 10 F0")) == frame_block(0, 0x40, h("75 74 77 74 75 90 00"), "lrc")
    assert beh.ifsc == 16


@pytest.mark.parametrize("value, block", [("00", "00 C1 01 00 C0"), ("FF", "00 C1 01 FF 3F")])
def test_card_ifs_request_with_invalid_inf_t1_5(value: str, block: str) -> None:
    r = anssi("ifs %s before block 1" % value)
    assert r.xfer(I0) == h(block)
    assert r.xfer(h("00 82 00 82")) == h(block)  # the card insists
    assert r.xfer(h("00 C0 00 C0")) == h("00 E0 00 E0")  # the reader resynchs
    assert r.xfer(I0) == I0_ANSWER


def test_card_abort_during_chaining_t1_27() -> None:
    beh = T1Behaviour(anssi_handler, ifsd=5)
    r = Reader(VirtualCard(card_t1().atr, behaviour=beh, faults="abort before block 2"))
    assert r.xfer(I0) == h("00 20 05 75 74 77 74 75 52")
    assert r.xfer(h("00 90 00 90")) == h("00 C2 00 C2")
    assert r.xfer(h("00 E2 00 E2")) == b""  # chain dropped, the reader sends next
    assert not beh.chaining and r.card.records.events_of(EventKind.T1_ABORTED)
    assert r.i(1, APDU) == h("00 60 05 75 74 77 74 75 12")  # the session goes on: I(1), chained again


def test_card_resynch_request_t1_26() -> None:
    beh = T1Behaviour(anssi_handler)
    r = Reader(VirtualCard(card_t1().atr, behaviour=beh, faults="resynch before block 2"))
    assert r.xfer(I0) == I0_ANSWER
    assert r.i(1, APDU) == h("00 C0 00 C0")
    assert r.xfer(h("00 E0 00 E0")) == I0_ANSWER  # sequence reset: the answer is I(0)
    assert r.xfer(h("00 82 00 82")) == I0_ANSWER  # a NAK: retransmission


def test_sequence_loss_ccid_issue_72_t1_25() -> None:
    r = Reader(card_t1(faults="lose sequence at block 2"))
    apdu = h("00 A4 04 00 06 11 22 33 44 55 66")
    assert r.i(0, h("00 70 00 00")) == h("00 00 02 90 00 92")
    assert r.xfer(h("00 40 0B 00 A4 04 00 06 11 22 33 44 55 66 9A")) == h("00 82 00 82")
    assert r.xfer(h("00 92 00 92")) == h("00 82 00 82")
    assert r.i(1, apdu) == h("00 82 00 82")  # the card now expects N(S) = 0
    assert r.xfer(h("00 C0 00 C0")) == h("00 E0 00 E0")
    assert r.i(0, apdu) == frame_block(0, 0, apdu[5:] + h("90 00"), "lrc")


def test_ignore_resynch_t1_24() -> None:
    r = Reader(card_t1(faults="ignore resynch times 2"))
    assert r.xfer(h("00 C0 00 C0")) == b""
    assert r.xfer(h("00 C0 00 C0")) == b""
    assert r.xfer(h("00 C0 00 C0")) == h("00 E0 00 E0")
    assert len(r.card.records.events_of(EventKind.T1_RESYNCH_IGNORED)) == 2
    r2 = Reader(card_t1(faults="ignore resynch always"))
    for _ in range(4):
        assert r2.xfer(h("00 C0 00 C0")) == b""


# -- counting, once, resets --------------------------------------------------------------------------


def test_block_count_restarts_at_reset_and_once() -> None:
    for once, corrupted_again in (("", True), (" once", False)):
        r = anssi("corrupt edc of block 1" + once)
        assert r.xfer(I0)[-1] == 0x1F
        r.port.set_reset(False)
        r.port.wait_clocks(400)
        r.port.set_reset(True)
        r.port.set_character(372, 1, False, 12, 0)
        assert receive(r.port, 32, 108, 9600).data == r.card.atr
        assert (r.xfer(I0)[-1] == 0x1F) is corrupted_again


def test_timing_with_faults_bgt_and_bwt_records() -> None:
    r = anssi("wtx 01 before block 1")
    r.xfer(I0)
    r.xfer(h("00 E3 01 01 E3"))
    assert r.card.records.t1_bgt_etu() == [BGT]
    assert r.card.records.t1_bwt_etu() == [BGT, BGT]


# -- parser -------------------------------------------------------------------------------------------


def test_parse_t1_statements_and_round_trip() -> None:
    text = """
    corrupt edc of block 3
    corrupt edc of block 1 mask 01 once
    drop block 2
    truncate block 4 after 2 bytes
    truncate block 4 after 2
    wrong ns on block 5
    len FF on block 1
    nad 0x12 on block 1
    rfu on block 2
    rfu on block 2 mask 20
    rblock 0 err 1 instead of block 1
    rblock 1 corrupt instead of block 2
    wtx 02 times 5 before block 1
    wtx FF before block 1
    ifs 10 before block 3
    abort before block 2
    resynch before block 1
    lose sequence at block 2
    ignore resynch
    ignore resynch times 3
    IGNORE RESYNCH ALWAYS
    """
    script = parse_fault_script(text)
    assert len(script.faults) == 21
    f = script.faults
    assert f[0] == CorruptEdc(target=BlockSelector(3), mask=0xFF)
    assert f[1].once and f[1] == CorruptEdc(target=BlockSelector(1), mask=1, once=True)
    assert f[3] == f[4] == TruncateBlock(target=BlockSelector(4), keep=2)
    assert f[11] == RBlockInstead(target=BlockSelector(2), nr=1, corrupt=True)
    assert f[12] == SRequestBefore(target=BlockSelector(1), request="wtx", value=2, count=5)
    assert f[20] == IgnoreResynch(times=ALWAYS)
    assert parse_fault_script(script.text()) == script
    assert "rblock 0 err 1 instead of block 1\n" in script.text()


@pytest.mark.parametrize(
    "text, column, expected, found",
    [
        ("corrupt edc of bloc 1", 16, "'block'", "'bloc'"),
        ("corrupt lrc of block 1", 9, "'edc'", "'lrc'"),
        ("drop block 0", 12, "a block number (a decimal number >= 1)", "'0'"),
        ("truncate block 1 after", 23, "a number of bytes", "end of line"),
        ("wrong nr on block 1", 7, "'ns'", "'nr'"),
        ("len 1FF on block 1", 5, "the LEN value (a hexadecimal byte", "'1FF'"),
        ("nad 00 block 1", 8, "'on'", "'block'"),
        ("rblock 2 instead of block 1", 8, "N(R) (0 or 1)", "'2'"),
        ("rblock 0 err 16 instead of block 1", 14, "an error code (a decimal number 0 to 15)", "'16'"),
        ("rblock 0 instead block 1", 18, "'of'", "'block'"),
        ("wtx before block 1", 5, "the WTX multiplier", "'before'"),
        ("wtx 02 times 0 before block 1", 14, "a number of WTX requests", "'0'"),
        ("ifs 10 times 2 before block 1", 8, "'before'", "'times'"),
        ("abort block 1", 7, "'before'", "'block'"),
        ("lose sequence block 2", 15, "'at'", "'block'"),
        ("ignore reset", 8, "'resynch'", "'reset'"),
        ("drop block 1 twice", 14, "'once' or end of line", "'twice'"),
        ("resynch before response 1", 16, "'block'", "'response'"),
    ],
)
def test_t1_parse_errors(text: str, column: int, expected: str, found: str) -> None:
    with pytest.raises(FaultScriptError) as info:
        parse_fault_script(text)
    err = info.value
    assert (err.line, err.column) == (1, column)
    assert err.expected.startswith(expected), err.expected
    assert found in err.found


# -- character faults on T=1 blocks, reader timing ------------------------------------------------------


def test_character_faults_apply_inside_blocks_t1_30_t1_32() -> None:
    r = anssi("parity response 1 byte 3\ndelay response 2 byte 4 to CWT+1")
    r.send(I0)
    got = receive(r.port, 11, r.bwt, CWT)
    assert got.data == I0_ANSWER and got.parity == h("00 00 01") + bytes(8)  # T=1: no error signal, no repetition
    assert len(r.card.records.card_chars()) == len(r.card.atr) + 11
    r.send(h("00 81 00 81"))
    assert receive(r.port, 11, r.bwt, CWT).data == I0_ANSWER[:3]  # the 4th character comes 1 etu too late
    assert receive(r.port, 8, 100, CWT).data == I0_ANSWER[3:]
    blocks = r.card.records.t1_blocks(Direction.CARD)
    assert blocks[1].max_char_gap_etu == CWT + 1


def test_mute_from_response_on_t1() -> None:
    r = anssi("mute from response 2")
    assert r.xfer(I0) == I0_ANSWER
    assert r.xfer(h("00 81 00 81")) == b""
    assert r.card.records.events_of(EventKind.MUTED)


def test_reader_bgt_violation_is_visible_in_the_records() -> None:
    r = anssi("")
    r.xfer(I0)
    r.port.wait_etu(16)
    r.port.send(h("00 81 00 81"), 0, 4)
    assert r.recv() == I0_ANSWER
    assert r.card.records.t1_bgt_etu() == [16]


def test_ifsc_change_in_the_middle_of_reader_chaining_t1_39() -> None:
    beh = T1Behaviour(lambda hd, d: CardResponse(b"", 0x9000), ifsc=8)
    r = Reader(VirtualCard(card_t1().atr, behaviour=beh, faults="ifs 04 before block 2"))
    apdu = h("80 10 00 00 0A") + bytes(range(10))
    assert r.i(0, apdu[:8], more=True) == h("00 90 00 90")
    assert r.i(1, apdu[8:15], more=True) == h("00 C1 01 04 C4")
    assert r.xfer(h("00 E1 01 04 E4")) == h("00 80 00 80")  # the ack, after the IFS exchange
    assert beh.ifsc == 4
    assert r.i(0, apdu[15:]) == h("00 00 02 90 00 92")
    assert beh.apdus == [apdu]


def test_ifsd_change_in_the_middle_of_card_chaining() -> None:
    r = Reader(card_t1(ifsd=4, handler=lambda hd, d: CardResponse(bytes(range(10)))))
    assert r.i(0, h("00 B0 00 00 0A")) == frame_block(0, 0x20, bytes(range(4)), "lrc")
    assert r.xfer(h("00 C1 01 08 C8")) == h("00 E1 01 08 E8")
    assert r.xfer(h("00 90 00 90")) == frame_block(0, 0x40, bytes(range(4, 10)) + h("90 00"), "lrc")
