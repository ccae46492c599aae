"""T=1 card side of the virtual card: valid exchanges, chaining, IFS, resynch, EDC variants, timing records.

The tests act as the reader with raw port calls (``Reader`` below builds and reads blocks);
block vectors from iso7816-3.md §7.3 (ANSSI traces) where they exist.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from cpsdi_fw.hal import OK

from _simreader import power_up, receive, send
from cpsdi_boards.sim import (
    T1_ATR_CRC,
    T1_ATR_CRC_IFSC254,
    T1_ATR_LRC,
    T1_ATR_LRC_IFSC254,
    CardResponse,
    Direction,
    EventKind,
    SimCardPort,
    T1Behaviour,
    VirtualCard,
)
from cpsdi_boards.sim.t1_block import compute_edc, crc16_iso13239, crc16_libccid, decode_block, frame_block
from cpsdi_boards.sim.t1_card import split_apdu
from cpsdi_boards.sim.virtual_card import parse_atr_params

CWT = 43  # CWI 5 in the ready ATRs
BGT = 22


def h(text: str) -> bytes:
    return bytes.fromhex(text)


class Reader:
    """Just enough of a T=1 reader: power up (optionally PPS to 372/12), send and receive blocks."""

    def __init__(self, card: VirtualCard, edc: str = "lrc", pps: bool = False) -> None:
        self.card = card
        self.port = SimCardPort(card)
        self.edc = edc
        self.d = 1
        assert power_up(self.port).data == card.atr
        if pps:
            assert send(self.port, h("FF 11 18 F6")) == OK
            assert receive(self.port, 4, 9600, 9600).data == h("FF 11 18 F6")
            self.d = 12
        self.port.set_character(372, self.d, False, 12, 0)
        self.bwt = 11 + 16 * 960 * self.d  # BWI 4

    def block(self, pcb: int, inf: bytes = b"", nad: int = 0) -> bytes:
        return frame_block(nad, pcb, inf, self.edc)

    def send(self, data: bytes) -> None:
        self.port.wait_etu(BGT)
        assert self.port.send(data, 0, len(data)) == OK

    def recv(self, first_etu: int | None = None) -> bytes:
        n_edc = 1 if self.edc == "lrc" else 2
        head = receive(self.port, 3, self.bwt if first_etu is None else first_etu, CWT).data
        if len(head) < 3:
            return head
        length = 0 if head[2] == 0xFF else head[2]
        return head + receive(self.port, length + n_edc, CWT, CWT).data

    def xfer(self, data: bytes, first_etu: int | None = None) -> bytes:
        self.send(data)
        return self.recv(first_etu)

    def i(self, ns: int, inf: bytes, more: bool = False) -> bytes:
        return self.xfer(self.block((ns << 6) | (0x20 if more else 0), inf))


def echo_handler(header: bytes, data: bytes) -> CardResponse:
    return CardResponse(data, 0x9000)


def card_t1(atr: bytes = T1_ATR_LRC, faults: str = "", **kw: object) -> VirtualCard:
    handler = kw.pop("handler", echo_handler)
    return VirtualCard(atr, behaviour=T1Behaviour(handler, **kw), faults=faults)  # type: ignore[arg-type]


# -- ATRs and the block codec -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "atr, ifsc, crc",
    [(T1_ATR_LRC, 32, False), (T1_ATR_LRC_IFSC254, 254, False), (T1_ATR_CRC, 32, True), (T1_ATR_CRC_IFSC254, 254, True)],
)
def test_ready_atrs_offer_t1(atr: bytes, ifsc: int, crc: bool) -> None:
    p = parse_atr_params(atr)
    assert p.protocols == (1, 1) and (p.ifsc, p.crc, p.bwi, p.cwi) == (ifsc, crc, 4, 5)
    assert (p.fi, p.di) == (372, 12) and not p.specific
    tck = 0
    for b in atr[1:]:
        tck ^= b
    assert tck == 0
    beh = T1Behaviour()
    VirtualCard(atr, behaviour=beh)
    r = Reader(VirtualCard(atr, behaviour=beh))
    assert (beh.ifsc, beh.edc) == (ifsc, "crc-libccid" if crc else "lrc")
    assert r.port.present()


@pytest.mark.parametrize(
    "body, lrc, crc",
    [
        ("00 C0 00", "C0", "F3 99"),
        ("00 E0 00", "E0", "D0 AA"),
        ("00 C1 01 FE", "3E", "54 4E"),
        ("00 E1 01 FE", "1E", "57 75"),
        ("00 C2 00", "C2", "C0 29"),
        ("00 E3 01 02", "E0", "DF 2E"),
        ("00 80 00", "80", "B5 FF"),
        ("00 91 00", "91", "39 B6"),
        ("00 92 00", "92", "13 DE"),
        ("00 00 02 90 00", "92", "9C 6D"),
        ("00 40 02 90 00", "D2", "8A DA"),
    ],
)
def test_edc_vectors(body: str, lrc: str, crc: str) -> None:
    assert compute_edc(h(body), "lrc") == h(lrc)
    assert compute_edc(h(body), "crc-libccid") == h(crc)
    iso = compute_edc(h(body), "crc-iso13239")
    assert iso == bytes(b ^ 0xFF for b in reversed(h(crc)))  # complement, low byte first


def test_crc_check_values_and_decode() -> None:
    assert crc16_libccid(b"123456789") == 0x6F91
    assert crc16_iso13239(b"123456789") == 0x906E
    d = decode_block(h("00 C3 01 02 C0"), "lrc")
    assert (d.kind, d.s_type, d.s_response, d.inf, d.edc_ok, d.complete) == ("S", "WTX", False, b"\x02", True, True)
    assert d.text() == "S(WTX req, 02)"
    d = decode_block(h("00 20 05 75 74 77 74 75 52"), "lrc")
    assert (d.kind, d.ns, d.more, d.edc_ok) == ("I", 0, True, True)
    d = decode_block(h("00 91 00 91"), "lrc")
    assert (d.kind, d.nr, d.err, d.text()) == ("R", 1, 1, "R(1,1)")
    assert not decode_block(h("00 00 02 90"), "lrc").complete
    assert decode_block(h("00 00 FF 90 00 6F"), "lrc").length == 0xFF


def test_split_apdu_cases() -> None:
    assert split_apdu(h("00 70 00 00")) == (h("00 70 00 00 00"), b"")
    assert split_apdu(h("00 B0 00 00 10")) == (h("00 B0 00 00 10"), b"")
    assert split_apdu(h("00 A4 04 00 02 3F 00")) == (h("00 A4 04 00 02"), h("3F 00"))
    assert split_apdu(h("00 A4 04 00 02 3F 00 00")) == (h("00 A4 04 00 02"), h("3F 00"))
    assert split_apdu(h("00 D6 00 00 00 00 02 AA BB")) == (h("00 D6 00 00 00"), h("AA BB"))


# -- valid exchanges --------------------------------------------------------------------------------

APDU = h("00 A4 04 00 05 75 36 41 70 70 05")


def anssi_handler(header: bytes, data: bytes) -> CardResponse:
    return CardResponse(h("75 74 77 74 75"), 0x9000)


def test_basic_exchange_anssi_sc1_and_sequence_numbers() -> None:
    beh = T1Behaviour(anssi_handler)
    r = Reader(VirtualCard(T1_ATR_LRC, behaviour=beh))
    assert r.xfer(h("00 00 0B 00 A4 04 00 05 75 36 41 70 70 05 A9")) == h("00 00 07 75 74 77 74 75 90 00 E0")
    assert r.i(1, APDU) == frame_block(0, 0x40, h("75 74 77 74 75 90 00"), "lrc")
    assert r.i(0, APDU)[:2] == h("00 00")
    assert beh.apdus == [APDU] * 3
    assert beh.commands[0] == (h("00 A4 04 00 05"), h("75 36 41 70 70"))


def test_reader_ifs_request_is_echoed_and_sizes_card_chaining() -> None:
    data = bytes(range(40))
    beh = T1Behaviour(lambda hd, d: CardResponse(data))
    r = Reader(VirtualCard(T1_ATR_LRC, behaviour=beh))
    assert r.xfer(h("00 C1 01 0A CA")) == h("00 E1 01 0A EA")  # ANSSI Sc.4
    assert beh.ifsd == 10
    resp = data + h("90 00")
    got = [r.i(0, h("00 B0 00 00 00"))]
    expect = [frame_block(0, 0x20, resp[:10], "lrc")]
    ns = 1
    for k in range(1, 5):
        got.append(r.xfer(r.block(0x80 | (ns << 4))))  # R(next) ack
        more = k < 4
        expect.append(frame_block(0, (ns << 6) | (0x20 if more else 0), resp[10 * k:10 * k + 10], "lrc"))
        ns ^= 1
    assert got == expect
    assert not beh.chaining


def test_card_chaining_anssi_sc6() -> None:
    r = Reader(card_t1(ifsd=5, handler=anssi_handler))
    assert r.i(0, APDU) == h("00 20 05 75 74 77 74 75 52")
    assert r.xfer(h("00 90 00 90")) == h("00 40 02 90 00 D2")


def test_reader_chaining_anssi_sc5() -> None:
    beh = T1Behaviour(echo_handler, ifsc=10)
    r = Reader(VirtualCard(T1_ATR_LRC, behaviour=beh))
    assert r.xfer(h("00 20 0A 00 A4 04 00 16 75 36 41 70 70 9E")) == h("00 90 00 90")
    assert r.xfer(h("00 60 0A FF FF 00 00 00 00 00 FF FF 00 6A")) == h("00 80 00 80")
    last = r.xfer(h("00 00 08 00 FF 00 FF 00 FF 00 05 F2"))
    apdu = h("00 A4 04 00 16 75 36 41 70 70 FF FF 00 00 00 00 00 FF FF 00 00 FF 00 FF 00 FF 00 05")
    assert beh.apdus == [apdu]
    d = decode_block(last, "lrc")
    assert (d.kind, d.ns, d.more, d.inf) == ("I", 0, False, apdu[5:27] + h("90 00"))  # 24 bytes <= IFSD 32

def test_both_directions_chained() -> None:
    beh = T1Behaviour(echo_handler, ifsc=10, ifsd=10)
    r = Reader(VirtualCard(T1_ATR_LRC, behaviour=beh))
    apdu = h("80 10 00 00 0C") + bytes(range(12))
    assert r.i(0, apdu[:10], more=True) == h("00 90 00 90")
    assert r.i(1, apdu[10:]) == frame_block(0, 0x20, bytes(range(10)), "lrc")
    assert r.xfer(r.block(0x90)) == frame_block(0, 0x40, bytes(range(10, 12)) + h("90 00"), "lrc")
    assert r.i(0, h("00 70 00 00")) == frame_block(0, 0x00, h("90 00"), "lrc")


def test_ifsc_254_card_takes_a_full_block() -> None:
    beh = T1Behaviour(echo_handler)
    r = Reader(VirtualCard(T1_ATR_LRC_IFSC254, behaviour=beh))
    apdu = h("80 10 00 00 F9") + bytes(249)
    assert len(apdu) == 254
    assert r.xfer(h("00 C1 01 FE 3E")) == h("00 E1 01 FE 1E")
    out = r.i(0, apdu)
    assert out == frame_block(0, 0x00, bytes(249) + h("90 00"), "lrc")


def test_resynch_resets_sequence_numbers() -> None:
    beh = T1Behaviour(anssi_handler)
    r = Reader(VirtualCard(T1_ATR_LRC, behaviour=beh))
    r.i(0, APDU)
    assert (beh.ns, beh.nr) == (1, 1)
    assert r.xfer(h("00 C0 00 C0")) == h("00 E0 00 E0")
    assert (beh.ns, beh.nr) == (0, 0)
    assert r.i(0, APDU) == h("00 00 07 75 74 77 74 75 90 00 E0")
    assert r.card.records.events_of(EventKind.T1_RESYNCHED)


def test_resynch_can_be_refused_by_configuration() -> None:
    r = Reader(card_t1(answer_resynch=False))
    assert r.xfer(h("00 C0 00 C0")) == b""
    assert len(r.card.records.events_of(EventKind.T1_RESYNCH_IGNORED)) == 1


def test_reader_abort_request() -> None:
    r = Reader(card_t1(ifsd=4))
    assert r.i(0, h("00 B0 00 00 08 01 02 03 04 05 06 07 08"))[1] == 0x20
    assert r.xfer(h("00 C2 00 C2")) == h("00 E2 00 E2")
    assert r.i(1, h("00 70 00 00")) == frame_block(0, 0x40, h("90 00"), "lrc")


# -- NAK, retransmission, invalid reader blocks ----------------------------------------------------


def test_reader_nak_makes_the_card_retransmit() -> None:
    r = Reader(card_t1(handler=anssi_handler))
    first = r.i(0, APDU)
    assert r.xfer(h("00 81 00 81")) == first
    assert r.xfer(h("00 82 00 82")) == first


@pytest.mark.parametrize(
    "block, answer, why",
    [
        ("00 00 02 90 00 93", "00 81 00 81", "EDC"),
        ("00 00 FF FF", "00 82 00 82", "LEN FF"),  # taken as ending after its EDC
        ("12 00 02 90 00 80", "00 82 00 82", "NAD"),
        ("00 01 02 90 00 93", "00 82 00 82", "RFU"),
        ("00 40 02 90 00 D2", "00 82 00 82", "N(S)"),
        ("00 A0 00 A0", "00 82 00 82", "RFU"),
        ("00 80 01 00 81", "00 82 00 82", "R-block with LEN"),
        ("00 C1 01 00 C0", "00 82 00 82", "IFS 00"),
        ("00 C1 01 FF 3F", "00 82 00 82", "IFS FF"),
        ("00 C3 01 02 C0", "00 82 00 82", "WTX req"),
        ("00 C1 00 C1", "00 82 00 82", "S-block LEN"),
        ("00 C5 00 C5", "00 82 00 82", "RFU"),
        ("00 E3 01 02 E0", "00 82 00 82", "unexpected S-response"),
        ("00 80 00 80", "00 82 00 82", "nothing to retransmit"),
    ],
)
def test_invalid_reader_blocks_get_r_blocks(block: str, answer: str, why: str) -> None:
    r = Reader(card_t1())
    assert r.xfer(h(block)) == h(answer)
    assert why in r.card.records.events_of(EventKind.T1_INVALID)[0].detail
    assert r.i(0, h("00 70 00 00")) == h("00 00 02 90 00 92")  # state unchanged


def test_len_above_ifsc_is_invalid() -> None:
    r = Reader(card_t1(ifsc=4))
    assert r.i(0, h("00 A4 04 00 02 3F 00")) == h("00 82 00 82")


def test_incomplete_reader_block_is_abandoned_after_cwt() -> None:
    r = Reader(card_t1())
    r.send(h("00 00 05 00 70"))  # 3 bytes missing
    assert r.recv() == b""
    assert r.xfer(h("00 00 04 00 70 00 00 74")) == h("00 00 02 90 00 92")
    assert "CWT" in r.card.records.events_of(EventKind.T1_INVALID)[0].detail
    blocks = r.card.records.t1_blocks(Direction.READER)
    assert not blocks[0].decoded.complete and blocks[1].decoded.complete


# -- EDC variants -----------------------------------------------------------------------------------


@pytest.mark.parametrize("atr, edc", [(T1_ATR_CRC, None), (T1_ATR_CRC_IFSC254, None), (T1_ATR_LRC, "crc-iso13239")])
def test_crc_cards(atr: bytes, edc: str | None) -> None:
    beh = T1Behaviour(echo_handler, edc=edc)
    card = VirtualCard(atr, behaviour=beh)
    variant = edc or "crc-libccid"
    r = Reader(card, edc=variant)
    assert beh.edc == variant
    assert r.xfer(r.block(0xC0)) == frame_block(0, 0xE0, b"", variant)
    assert r.i(0, h("00 70 00 00")) == frame_block(0, 0x00, h("90 00"), variant)
    bad = bytearray(r.block(0x40, h("00 70 00 00")))
    bad[-2] ^= 1
    assert r.xfer(bytes(bad)) == frame_block(0, 0x91, b"", variant)
    assert all(b.edc_ok for b in card.records.t1_blocks(Direction.CARD))
    assert [b.edc_ok for b in card.records.t1_blocks(Direction.READER)] == [True, True, False]


def test_crc_libccid_card_rejects_iso13239_blocks() -> None:
    r = Reader(card_t1(T1_ATR_CRC), edc="crc-iso13239")
    r.edc = "crc-libccid"
    assert r.xfer(frame_block(0, 0x00, h("00 70 00 00"), "crc-iso13239")) == frame_block(0, 0x81, b"", "crc-libccid")


# -- card-initiated S-blocks (configuration) ---------------------------------------------------------


def test_wtx_configuration_with_processing_time_and_etu_accounting() -> None:
    beh = T1Behaviour(lambda hd, d: CardResponse(b"", 0x9000, processing_etu=40_000), wtx=2)
    r = Reader(VirtualCard(T1_ATR_LRC, behaviour=beh))
    assert r.i(0, h("00 70 00 00")) == h("00 C3 01 02 C0")
    assert r.xfer(h("00 E3 01 02 E0"), first_etu=2 * r.bwt) == h("00 C3 01 02 C0")  # 2 x BWT < 40 000
    assert r.xfer(h("00 E3 01 02 E0"), first_etu=2 * r.bwt) == h("00 00 02 90 00 92")
    waits = r.card.records.t1_bwt_etu()
    assert waits[0] == BGT and all(w <= 2 * r.bwt for w in waits)
    assert sum(waits) == 3 * BGT + 40_000
    ex = r.card.records.exchanges[-1]
    assert ex.processing_etu == 40_000
    assert ex.wire_etu == ex.elapsed_etu - 40_000
    # the wire time: 3 card blocks + 2 reader blocks + the I-block, 12 etu per char, BGT/delays 22
    assert ex.reader_chars == 8 + 5 + 5 and ex.card_chars == 5 + 5 + 6


def test_processing_without_wtx_passes_before_the_answer() -> None:
    r = Reader(card_t1(handler=lambda hd, d: CardResponse(b"", 0x6A82, processing_etu=1000)))
    assert r.i(0, h("00 70 00 00")) == h("00 00 02 6A 82 EA")
    assert r.card.records.t1_bwt_etu() == [BGT + 1000]
    assert r.card.records.exchanges[-1].processing_etu == 1000


def test_card_ifs_request_configuration() -> None:
    beh = T1Behaviour(echo_handler, ifs_request=0x10)
    r = Reader(VirtualCard(T1_ATR_LRC, behaviour=beh))
    assert r.i(0, h("00 70 00 00")) == h("00 C1 01 10 D0")  # ANSSI Sc.3
    assert beh.waiting_for_s_response
    assert r.xfer(h("00 81 00 81")) == h("00 C1 01 10 D0")  # NAK: the card repeats its request
    assert r.xfer(h("00 E1 01 10 F0")) == h("00 00 02 90 00 92")
    assert beh.ifsc == 16
    assert r.i(1, bytes(17)) == h("00 92 00 92")  # LEN 17 > IFSC 16
    assert r.i(1, h("00 70 00 00")) == h("00 40 02 90 00 D2")  # asked only once per reset


# -- timing and records ---------------------------------------------------------------------------


def test_block_records_and_timing() -> None:
    beh = T1Behaviour(anssi_handler, delay_etu=30, char_spacing_etu=13)
    card = VirtualCard(T1_ATR_LRC, behaviour=beh)
    r = Reader(card, pps=True)
    r.xfer(h("00 C1 01 FE 3E"))
    r.i(0, APDU)
    blocks = card.records.t1_blocks()
    assert [b.text() for b in blocks] == [
        "reader S(IFS req, FE) 00 C1 01 FE 3E",
        "card S(IFS resp, FE) 00 E1 01 FE 1E",
        "reader I(0,0) 00 00 0B 00 A4 04 00 05 75 36 41 70 70 05 A9",
        "card I(0,0) 00 00 07 75 74 77 74 75 90 00 E0",
    ]
    assert [b.block for b in blocks] == [1, 1, 2, 2]
    assert all(b.d == 12 for b in blocks)
    assert card.records.t1_bwt_etu() == [30, 30]
    assert card.records.t1_bgt_etu() == [BGT]
    assert blocks[1].max_char_gap_etu == 13 and blocks[0].max_char_gap_etu == 12
    assert blocks[3].last_etu - blocks[3].first_etu == 13 * 10
    assert blocks[2].first_etu - blocks[1].last_etu == BGT
    ex = card.records.exchanges
    assert [e.kind for e in ex] == ["pps", "command", "command"]
    assert ex[2].wire_etu == 12 * 14 + 30 + 13 * 10


def test_delay_must_respect_bgt() -> None:
    with pytest.raises(ValueError):
        T1Behaviour(delay_etu=21)
    with pytest.raises(ValueError):
        T1Behaviour(edc="crc")


def test_deterministic() -> None:
    def run() -> list[str]:
        r = Reader(card_t1(ifsd=8, faults="corrupt edc of block 2\nwtx 01 before block 4"))
        r.i(0, bytes(20))
        r.xfer(h("00 90 00 90"))
        r.xfer(h("00 91 00 91"))
        r.xfer(h("00 80 00 80"))
        r.xfer(h("00 E3 01 01 E3"))
        return [b.text() + " %d" % b.first_clocks for b in r.card.records.t1_blocks()]

    assert run() == run()
    assert len(run()) == 10
