"""The whole reader firmware (cpsdi_fw.main.Reader: link server + CCID service + slots) on the
simulated board, driven with raw frames through an in-memory HostPort, as libccid and the
cpsdi host library drive it (ccid-serial.md §5, §6; protocol/README.md)."""

from __future__ import annotations

import hashlib

import pytest
from cpsdi_proto import ccid
from cpsdi_proto.decoder import EV_FRAME, EV_KEEPALIVE, EV_NAK, EV_NONE, EV_NOTIFY, FrameDecoder
from cpsdi_proto.gempc import seal_compat
from cpsdi_proto.native import seal_native

from cpsdi_boards.sim import CardResponse, SimCardPort, T0Behaviour, VirtualCard
from cpsdi_boards.sim.host_port import MemoryHostPort
from cpsdi_boards.sim.t1_card import T1_ATR_LRC, T1Behaviour
from cpsdi_fw.iso7816_3.t1 import lrc
from cpsdi_fw.link import ECHO_HEADER, ECHO_NONE
from cpsdi_fw.main import Reader

ATR_T0 = bytes.fromhex("3B 02 14 50")


def t0_handler(header: bytes, data: bytes) -> CardResponse:
    """READ BINARY: P3 bytes of a pattern; 88: the data reversed; anything else 9000."""
    ins, p3 = header[1], header[4]
    if ins == 0xB0:
        return CardResponse(data=bytes((i * 7 + header[3]) & 0xFF for i in range(p3 or 256)))
    if ins == 0x88:
        return CardResponse(data=data[::-1])
    return CardResponse()


def t1_answer(apdu: bytes) -> CardResponse:
    """P1P2 = number of response bytes, derived from the whole APDU."""
    ne = (apdu[2] << 8 | apdu[3]) if len(apdu) >= 4 else 0
    seed = hashlib.sha256(apdu).digest()
    return CardResponse(data=(seed * (ne // 32 + 1))[:ne], sw=0x9000)


def t1_expected(apdu: bytes) -> bytes:
    return t1_answer(apdu).data + b"\x90\x00"


def t0_card(**kw: object) -> VirtualCard:
    return VirtualCard(ATR_T0, behaviour=T0Behaviour(t0_handler), **kw)  # type: ignore[arg-type]


def t1_card(**kw: object) -> VirtualCard:
    return VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer), **kw)  # type: ignore[arg-type]


class ClockedHostPort(MemoryHostPort):
    """MemoryHostPort whose milliseconds follow the card port's virtual clock (keep-alive timing)."""

    def __init__(self, port: SimCardPort) -> None:
        super().__init__()
        self.card_port = port

    def ticks_ms(self) -> int:
        return (self.card_port.clock.now * 1000 // self.card_port.clock_hz + self.now_ms) & 0x3FFFFFFF


class Host:
    """What libccid / the host library does: frame, send, step the reader, decode the answer."""

    def __init__(self, ports: list[SimCardPort], echo: int = ECHO_HEADER, clocked: bool = False) -> None:
        self.hp = ClockedHostPort(ports[0]) if clocked else MemoryHostPort()
        self.reader = Reader(self.hp, ports, board="sim", echo=echo)
        self.echo = echo
        self.seq = 0
        self.keepalives = 0
        self.notifications: list[int] = []

    def request(self, mtype: int, data: bytes = b"", slot: int = 0, p1: int = 0, native: bool = False) -> bytes:
        """Send one request; return the answer message (header + data)."""
        msg = bytearray(10) + data
        ccid.pack_header(msg, 0, mtype, len(data), slot, self.seq & 0xFF, p1, 0, 0)
        self.seq += 1
        buf = bytearray(len(msg) + 6)
        buf[2 : 2 + len(msg)] = msg
        n = seal_native(buf, len(msg)) if native else seal_compat(buf, len(msg))
        self.hp.host_write(bytes(buf[:n]))
        for _ in range(50):
            if self.reader.step():
                break
        frames = self.decode(self.hp.host_read())
        if self.echo != ECHO_NONE and not native:
            assert frames[0][:1] == bytes([mtype]) and frames[0][1:5] == b"\x00\x00\x00\x00", frames  # header echo
            frames = frames[1:]
        assert len(frames) == 1, frames
        answer = frames[0]
        assert answer[0] == ccid.answer_type(mtype)
        assert answer[5:7] == bytes([slot, (self.seq - 1) & 0xFF])
        assert answer[7] & ccid.TIME_EXTENSION == 0
        return answer

    def decode(self, stream: bytes) -> list[bytes]:
        dec = FrameDecoder(True, 1034)
        out: list[bytes] = []
        i = 0
        while True:
            i = dec.feed(stream, i, len(stream))
            if dec.kind == EV_NONE:
                return out
            if dec.kind == EV_FRAME:
                out.append(bytes(dec.message()))
            elif dec.kind == EV_KEEPALIVE:
                self.keepalives += 1
            elif dec.kind == EV_NOTIFY:
                self.notifications.append(dec.value)
            else:
                raise AssertionError("unexpected event %d (NAK=%d) in %s" % (dec.kind, EV_NAK, stream.hex()))

    # -- libccid's commands ---------------------------------------------------------------------
    def open_sequence(self) -> None:
        assert self.request(ccid.PC_TO_RDR_ESCAPE, b"\x02")[7] & 0x40 == 0
        assert self.request(ccid.PC_TO_RDR_ESCAPE, b"\x01\x01\x01")[7:9] == b"\x01\x00"
        assert self.request(ccid.PC_TO_RDR_GET_SLOT_STATUS)[7:9] == b"\x01\x00"
        assert self.request(ccid.PC_TO_RDR_GET_SLOT_STATUS)[7:9] == b"\x01\x00"
        assert self.request(ccid.PC_TO_RDR_ESCAPE, b"\x6a")[7:9] == b"\x41\x00"

    def power_on(self, slot: int = 0, native: bool = False) -> bytes:
        a = self.request(ccid.PC_TO_RDR_ICC_POWER_ON, slot=slot, p1=ccid.POWER_5V, native=native)
        assert a[7:9] == b"\x00\x00", a.hex()
        return a[10:]

    def xfr(self, data: bytes, slot: int = 0, bwi: int = 0, native: bool = False) -> bytes:
        a = self.request(ccid.PC_TO_RDR_XFR_BLOCK, data, slot=slot, p1=bwi, native=native)
        assert a[7] & 0x40 == 0, a.hex()
        assert ccid.data_length(a) == len(a) - 10
        return a[10:]

    def set_parameters(self, protocol: int, structure: bytes, slot: int = 0) -> bytes:
        a = self.request(ccid.PC_TO_RDR_SET_PARAMETERS, structure, slot=slot, p1=protocol)
        assert a[7] & 0x40 == 0 or 1 <= a[8] <= 127, a.hex()
        assert a[9] == protocol and len(a) == 10 + len(structure)
        return a


def block(nad: int, pcb: int, inf: bytes) -> bytes:
    b = bytearray([nad, pcb, len(inf)]) + inf
    return bytes(b + bytes([lrc(b, 0, len(b))]))


# -- T=0 at TPDU level (the default GemPCTwin reader) ------------------------------------------

def test_libccid_t0_session_tpdu_level() -> None:
    port = SimCardPort(t0_card())
    host = Host([port])
    host.open_sequence()
    assert host.power_on() == ATR_T0
    assert host.request(ccid.PC_TO_RDR_GET_SLOT_STATUS)[7] == 0x00  # powered -> 0
    a = host.set_parameters(0, bytes.fromhex("11 00 00 0A 00"))
    assert a[7:9] == b"\x00\x00" and a[10:] == bytes.fromhex("11 00 00 0A 00")
    # case 2
    assert host.xfr(bytes.fromhex("00 B0 00 05 10")) == bytes((i * 7 + 5) & 0xFF for i in range(16)) + b"\x90\x00"
    # case 4 with a trailing Le (pyscard, pitfall 7): 61 xx, no GET RESPONSE by the reader
    r = host.xfr(bytes.fromhex("00 88 00 00 03 01 02 03 00"))
    assert r == b"\x61\x03"
    assert host.xfr(bytes.fromhex("00 C0 00 00 03")) == b"\x03\x02\x01\x90\x00"
    # power off twice (libccid 1.5.2)
    for _ in range(2):
        assert host.request(ccid.PC_TO_RDR_ICC_POWER_OFF)[7:9] == b"\x01\x00"
    assert not port.powered


# -- T=1 at TPDU level: PPS through XfrBlock, S(IFS), I-blocks ----------------------------------

def test_libccid_t1_session_tpdu_level() -> None:
    card = t1_card()
    port = SimCardPort(card)
    host = Host([port])
    host.open_sequence()
    assert host.power_on() == T1_ATR_LRC
    assert port.fd == (372, 1)  # the reader did no PPS of its own
    assert host.xfr(bytes.fromhex("FF 11 18 F6")) == bytes.fromhex("FF 11 18 F6")  # the card's answer
    assert port.fd == (372, 12) and card.fd == (372, 12)
    a = host.set_parameters(1, bytes.fromhex("18 10 00 45 00 20 00"))
    assert a[7:9] == b"\x00\x00" and a[10:] == bytes.fromhex("18 10 00 45 00 20 00")
    assert host.xfr(block(0, 0xC1, b"\xfe")) == block(0, 0xE1, b"\xfe")  # S(IFS req 254)
    apdu = bytes.fromhex("00 88 00 20 05 01 02 03 04 05 00")
    r = host.xfr(block(0, 0x00, apdu))
    assert r == block(0, 0x00, t1_expected(apdu))
    apdu2 = bytes.fromhex("00 88 00 08")
    assert host.xfr(block(0, 0x40, apdu2)) == block(0, 0x40, t1_expected(apdu2))


def test_set_parameters_right_after_the_atr_makes_the_reader_do_the_pps() -> None:
    # SEC1210 reader types (automatic PPS, bmFeatures 0x80): libccid sends no PPS, only SetParameters
    card = t1_card()
    port = SimCardPort(card)
    host = Host([port])
    host.power_on()
    a = host.set_parameters(1, bytes.fromhex("18 10 00 45 00 20 00"))
    assert a[7:9] == b"\x00\x00" and a[10:] == bytes.fromhex("18 10 00 45 00 20 00")
    assert port.fd == (372, 12) and card.fd == (372, 12)
    apdu = bytes.fromhex("00 88 00 04")
    assert host.xfr(block(0, 0x00, apdu)) == block(0, 0x00, t1_expected(apdu))


def test_set_parameters_for_a_speed_never_negotiated_is_not_changeable() -> None:
    port = SimCardPort(t1_card())
    host = Host([port])
    host.power_on()
    apdu = bytes.fromhex("00 88 00 04")
    assert host.xfr(block(0, 0x00, apdu)) == block(0, 0x00, t1_expected(apdu))  # the PPS window closes
    a = host.set_parameters(1, bytes.fromhex("18 10 00 45 00 20 00"))
    assert a[7:9] == b"\x40\x0a"  # bError 10 = bmFindexDindex: "not changeable" (libccid: success)
    assert a[10:] == bytes.fromhex("18 10 00 45 00 20 00")
    assert port.fd == (372, 1)
    assert host.xfr(block(0, 0x40, apdu)) == block(0, 0x40, t1_expected(apdu))


def test_set_parameters_never_asks_the_card_for_more_than_its_ta1() -> None:
    port = SimCardPort(t1_card())
    host = Host([port])
    host.power_on()
    a = host.set_parameters(1, bytes.fromhex("96 10 00 45 00 20 00"))  # Fi 512 Di 32: not offered
    assert a[7:9] == b"\x40\x0a" and port.fd == (372, 1)


def test_t0_case1_and_case3_tpdus_and_parameters_in_force() -> None:
    port = SimCardPort(t0_card())
    host = Host([port])
    host.power_on()
    assert host.xfr(bytes.fromhex("00 A4 04 00 02 3F 00")) == b"\x90\x00"  # case 3
    assert host.xfr(bytes.fromhex("00 70 00 00")) == b"\x90\x00"  # case 1, 4 bytes
    bad = host.request(ccid.PC_TO_RDR_XFR_BLOCK, bytes.fromhex("00 60 00 00 00"))  # INS 60: refused
    assert bad[7:9] == bytes([0x40, ccid.ERR_BAD_DATA]) and len(bad) == 10  # abData unusable, nothing sent
    a = host.request(ccid.PC_TO_RDR_GET_PARAMETERS)
    assert a[9] == 0 and a[10:] == bytes.fromhex("11 00 00 0A 00")


# -- APDU level after Escape 1F 02 ---------------------------------------------------------------

def test_apdu_level_after_escape_1f02_t1() -> None:
    card = t1_card()
    port = SimCardPort(card)
    host = Host([port])
    host.open_sequence()
    assert host.request(ccid.PC_TO_RDR_ESCAPE, b"\x1f\x02")[7:9] == b"\x01\x00"
    assert host.power_on() == T1_ATR_LRC
    assert port.fd == (372, 12)  # the firmware negotiated itself
    # libccid still sends its PPS: answered from the state in force, the card is not disturbed
    assert host.xfr(bytes.fromhex("FF 11 18 F6")) == bytes.fromhex("FF 11 18 F6")
    host.set_parameters(1, bytes.fromhex("18 10 00 45 00 20 00"))
    for ne in (0, 17, 200):
        apdu = bytes([0x00, 0x88, ne >> 8, ne & 0xFF, 3, 1, 2, 3])
        assert host.xfr(apdu) == t1_expected(apdu)


def test_apdu_level_t0_get_response_by_the_firmware() -> None:
    port = SimCardPort(t0_card())
    host = Host([port])
    host.request(ccid.PC_TO_RDR_ESCAPE, b"\x1f\x02")
    host.power_on()
    assert host.xfr(bytes.fromhex("00 88 00 00 03 01 02 03 00")) == b"\x03\x02\x01\x90\x00"


# -- native mode --------------------------------------------------------------------------------

def test_native_negotiation_then_1kib_apdus() -> None:
    card = t1_card()
    port = SimCardPort(card)
    host = Host([port])
    a = host.request(ccid.PC_TO_RDR_ESCAPE, bytes.fromhex("CD 02") + (4096).to_bytes(4, "little"))
    assert a[10:] == bytes.fromhex("CD 02") + (1034).to_bytes(4, "little") + b"\x01"
    assert host.power_on(native=True) == T1_ATR_LRC
    data = bytes((i * 5) & 0xFF for i in range(1000))
    apdu = bytes([0x00, 0x88, 0x03, 0xE8, 0x00]) + len(data).to_bytes(2, "big") + data + b"\x03\xe8"
    assert len(apdu) == 1009
    assert host.xfr(apdu, native=True) == t1_expected(apdu)  # 1000 data bytes + SW back
    small = bytes.fromhex("00 88 00 10")
    assert host.xfr(small, native=True) == t1_expected(small)
    # compat requests still answered in compat framing
    assert host.request(ccid.PC_TO_RDR_GET_SLOT_STATUS)[7] == 0


# -- two slots (SEC1210-like: no echo, no PPS, TPDU level) --------------------------------------

def test_two_slots() -> None:
    p0 = SimCardPort(t0_card())
    p1 = SimCardPort(t1_card())
    host = Host([p0, p1], echo=ECHO_NONE)
    assert host.request(ccid.PC_TO_RDR_ESCAPE, b"\x06")[7] & 0x40 == 0
    assert host.request(ccid.PC_TO_RDR_GET_SLOT_STATUS, slot=1)[7:9] == b"\x01\x00"
    assert host.power_on(0) == ATR_T0
    assert host.power_on(1) == T1_ATR_LRC
    host.set_parameters(1, bytes.fromhex("11 10 00 45 00 20 00"), slot=1)
    assert host.xfr(bytes.fromhex("00 B0 00 00 04"), slot=0) == bytes([0, 7, 14, 21, 0x90, 0x00])
    apdu = bytes.fromhex("00 88 00 04")
    assert host.xfr(block(0, 0x00, apdu), slot=1) == block(0, 0x00, t1_expected(apdu))
    assert host.request(ccid.PC_TO_RDR_GET_SLOT_STATUS, slot=2)[7:9] == b"\x42\x05"


# -- removal ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("apdu_level", [False, True])
def test_card_removed_mid_exchange(apdu_level: bool) -> None:
    card = t0_card(faults="remove before response 1 byte 3")
    port = SimCardPort(card)
    host = Host([port])
    if apdu_level:
        host.request(ccid.PC_TO_RDR_ESCAPE, b"\x1f\x02")
    host.power_on()
    a = host.request(ccid.PC_TO_RDR_XFR_BLOCK, bytes.fromhex("00 B0 00 00 10"))
    assert a[7:9] == b"\x42\xfe"
    assert not port.powered
    assert host.request(ccid.PC_TO_RDR_GET_SLOT_STATUS)[7:9] == b"\x42\xfe"
    assert host.request(ccid.PC_TO_RDR_ICC_POWER_ON, p1=1)[7:9] == b"\x42\xfe"
    port.insert(t0_card())
    assert host.request(ccid.PC_TO_RDR_GET_SLOT_STATUS)[7:9] == b"\x01\x00"
    assert host.power_on() == ATR_T0


def test_presence_notification_in_native_mode() -> None:
    port = SimCardPort(t0_card())
    host = Host([port])
    host.request(ccid.PC_TO_RDR_GET_SLOT_STATUS, native=True)
    port.remove()
    host.hp.now_ms += 100
    host.reader.step()
    host.decode(host.hp.host_read())
    assert host.notifications == [0x02]  # slot 0: absent, changed


# -- exactly once through the whole stack ------------------------------------------------------

def test_retransmitted_xfr_block_runs_once_on_the_card() -> None:
    behaviour = T0Behaviour(t0_handler)
    port = SimCardPort(VirtualCard(ATR_T0, behaviour=behaviour))
    host = Host([port], echo=ECHO_NONE)
    host.power_on()
    msg = bytearray(10) + bytes.fromhex("00 20 00 01 04 31 32 33 34")
    ccid.pack_header(msg, 0, ccid.PC_TO_RDR_XFR_BLOCK, 9, 0, 0x33, 0, 0, 0)
    buf = bytearray(len(msg) + 3)
    buf[2:-1] = msg
    frame = bytes(buf[: seal_compat(buf, len(msg))])
    answers = []
    for _ in range(2):
        host.hp.host_write(frame)
        host.reader.step()
        answers.append(host.hp.host_read())
    assert answers[0] == answers[1]
    assert [h[1] for h, _ in behaviour.commands].count(0x20) == 1


# -- keep-alive during a long card operation ------------------------------------------------------

def test_keepalive_bytes_while_the_t1_card_works() -> None:
    # BWT at D = 12 is about 1.6 s; the card answers its first I-block (response 3, after the
    # PPS and S(IFS) responses) after about 1.3 s
    card = t1_card(faults="delay response 3 byte 1 to 150000 etu")
    port = SimCardPort(card)
    host = Host([port], clocked=True)
    host.request(ccid.PC_TO_RDR_ESCAPE, b"\x1f\x02")
    host.power_on()
    apdu = bytes.fromhex("00 88 00 04")
    host.keepalives = 0
    assert host.xfr(apdu) == t1_expected(apdu)
    assert host.keepalives >= 2
