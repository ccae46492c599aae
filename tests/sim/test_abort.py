"""PC_to_RDR_Abort while a card operation runs (CCID §6.1.13; link.py, slot.py).

The host's Abort arrives while the reader waits for the card: the link's idle hook finds it
among the stashed host bytes, the slot stops the exchange and deactivates the card, the
command answers bError CMD_ABORTED (FF), then the Abort itself answers SlotStatus. Nothing
else the host sent meanwhile is lost.
"""

from __future__ import annotations

import hashlib

from cpsdi_proto import ccid
from cpsdi_proto.decoder import EV_FRAME, EV_KEEPALIVE, EV_NONE, FrameDecoder
from cpsdi_proto.gempc import seal_compat
from cpsdi_proto.native import seal_native

from cpsdi_boards.sim import CardResponse, SimCardPort, T0Behaviour, VirtualCard, VirtualClock
from cpsdi_boards.sim.host_port import MemoryHostPort
from cpsdi_boards.sim.t1_card import T1_ATR_LRC, T1Behaviour
from cpsdi_fw.iso7816_3.t1 import lrc
from cpsdi_fw.link import ECHO_HEADER
from cpsdi_fw.main import Reader

SLOW_T1 = "delay response 3 byte 1 to 150000 etu"  # the first I-block answer, ~1.3 s at D = 12


def t1_answer(apdu: bytes) -> CardResponse:
    return CardResponse(data=hashlib.sha256(apdu).digest()[:4])


class ScheduledHostPort(MemoryHostPort):
    """Host bytes released at given milliseconds of the card clock (what a host does while it waits)."""

    def __init__(self, clock: VirtualClock, clock_hz: int) -> None:
        super().__init__()
        self.clock = clock
        self.clock_hz = clock_hz
        self.schedule: list[tuple[int, bytes]] = []

    def ticks_ms(self) -> int:
        return (self.clock.now * 1000 // self.clock_hz + self.now_ms) & 0x3FFFFFFF

    def send_at(self, ms_from_now: int, data: bytes) -> None:
        self.schedule.append((self.ticks_ms() + ms_from_now, data))

    def read_into(self, buf: bytearray | memoryview, start: int, count: int) -> int:
        now = self.ticks_ms()
        for item in [s for s in self.schedule if s[0] <= now]:
            self.schedule.remove(item)
            self.host_write(item[1])
        return super().read_into(buf, start, count)


def frame(mtype: int, seq: int, data: bytes = b"", slot: int = 0, p1: int = 0, native: bool = True) -> bytes:
    buf = bytearray(16 + len(data))
    ccid.pack_header(buf, 2, mtype, len(data), slot, seq, p1, 0, 0)
    buf[12 : 12 + len(data)] = data
    n = seal_native(buf, 10 + len(data)) if native else seal_compat(buf, 10 + len(data))
    return bytes(buf[:n])


def block(pcb: int, inf: bytes) -> bytes:
    b = bytearray([0, pcb, len(inf)]) + inf
    return bytes(b + bytes([lrc(b, 0, len(b))]))


class Bench:
    def __init__(self, cards: list[VirtualCard | None]) -> None:
        self.clock = VirtualClock()
        self.ports = [SimCardPort(c, clock=self.clock) for c in cards]
        self.hp = ScheduledHostPort(self.clock, self.ports[0].clock_hz)
        self.reader = Reader(self.hp, self.ports, board="sim", echo=ECHO_HEADER)
        self.seq = 0

    def run(self, steps: int = 200) -> list[bytes]:
        """Step the reader until the host has nothing pending; the frames it sent (echoes too)."""
        out: list[bytes] = []
        dec = FrameDecoder(True, 1034)
        self.keepalives = 0
        for _ in range(steps):
            self.reader.step()
            if not self.hp.to_reader and not self.hp.schedule:
                self.reader.step()
                break
        stream = self.hp.host_read()
        i = 0
        while True:
            i = dec.feed(stream, i, len(stream))
            if dec.kind == EV_NONE:
                return out
            if dec.kind == EV_FRAME:
                out.append(bytes(dec.message()))
            elif dec.kind == EV_KEEPALIVE:
                self.keepalives += 1

    def send(self, mtype: int, data: bytes = b"", slot: int = 0, p1: int = 0, native: bool = True) -> int:
        seq = self.seq
        self.seq += 1
        self.hp.host_write(frame(mtype, seq, data, slot, p1, native))
        return seq

    def power_on(self, slot: int = 0) -> bytes:
        self.send(ccid.PC_TO_RDR_ICC_POWER_ON, slot=slot)
        (answer,) = self.run()
        assert answer[7:9] == b"\x00\x00", answer.hex()
        return answer[10:]


def status(answer: bytes) -> tuple[int, int, int, int]:
    """(bMessageType, bSeq, bStatus, bError)."""
    return answer[0], answer[6], answer[7], answer[8]


def test_abort_stops_a_long_t1_exchange_and_deactivates_the_card() -> None:
    card = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer), faults=SLOW_T1)
    bench = Bench([card])
    bench.power_on()
    xfr = bench.send(ccid.PC_TO_RDR_XFR_BLOCK, bytes.fromhex("00 88 00 04"))
    bench.hp.send_at(300, frame(ccid.PC_TO_RDR_ABORT, 0x42))
    start_ms = bench.hp.ticks_ms()
    answers = bench.run()
    assert [status(a) for a in answers] == [
        (ccid.RDR_TO_PC_DATA_BLOCK, xfr, ccid.COMMAND_FAILED | ccid.ICC_INACTIVE, ccid.ERR_CMD_ABORTED),
        (ccid.RDR_TO_PC_SLOT_STATUS, 0x42, ccid.ICC_INACTIVE, 0),
    ]
    assert answers[0][1:5] == b"\x00\x00\x00\x00"  # no data
    assert not bench.ports[0].powered
    assert bench.hp.ticks_ms() - start_ms < 600  # stopped within a wait slice, not after the card's 1.3 s
    assert bench.reader.link.aborts == 1
    # the slot is usable again: power on, exchange (the fault script delayed response 3 only once)
    bench.power_on()
    bench.send(ccid.PC_TO_RDR_XFR_BLOCK, bytes.fromhex("00 88 00 04"))
    (answer,) = bench.run()
    assert answer[7:9] == b"\x00\x00" and answer[10:] == t1_answer(bytes.fromhex("00 88 00 04")).data + b"\x90\x00"


def test_abort_of_a_t0_card_sending_null_bytes() -> None:
    def slow(header: bytes, data: bytes) -> CardResponse:
        return CardResponse(data=b"\x01\x02", processing_etu=60_000)

    card = VirtualCard(bytes.fromhex("3B 02 14 50"), behaviour=T0Behaviour(slow, null_interval_etu=2_000))
    bench = Bench([card])
    bench.power_on()
    xfr = bench.send(ccid.PC_TO_RDR_XFR_BLOCK, bytes.fromhex("00 B0 00 00 02"))
    bench.hp.send_at(250, frame(ccid.PC_TO_RDR_ABORT, 7))
    answers = bench.run()
    assert [status(a) for a in answers] == [
        (ccid.RDR_TO_PC_DATA_BLOCK, xfr, ccid.COMMAND_FAILED | ccid.ICC_INACTIVE, ccid.ERR_CMD_ABORTED),
        (ccid.RDR_TO_PC_SLOT_STATUS, 7, ccid.ICC_INACTIVE, 0),
    ]
    assert not bench.ports[0].powered


def test_abort_in_the_same_write_as_the_request_is_honoured() -> None:
    card = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer), faults=SLOW_T1)
    bench = Bench([card])
    bench.power_on()
    xfr = bench.send(ccid.PC_TO_RDR_XFR_BLOCK, bytes.fromhex("00 88 00 04"))
    bench.send(ccid.PC_TO_RDR_ABORT)
    answers = bench.run()
    assert [status(a)[:4] for a in answers][0] == (
        ccid.RDR_TO_PC_DATA_BLOCK, xfr, ccid.COMMAND_FAILED | ccid.ICC_INACTIVE, ccid.ERR_CMD_ABORTED)
    assert status(answers[1])[0] == ccid.RDR_TO_PC_SLOT_STATUS and len(answers) == 2


def test_compat_abort_is_echoed_and_answered_after_the_aborted_command() -> None:
    card = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer), faults=SLOW_T1)
    bench = Bench([card])
    bench.send(ccid.PC_TO_RDR_ESCAPE, b"\x1f\x02", native=False)  # APDU level, as libccid's option 0x02
    bench.run()
    bench.send(ccid.PC_TO_RDR_ICC_POWER_ON, native=False)
    assert bench.run()[1][7:9] == b"\x00\x00"
    xfr = bench.send(ccid.PC_TO_RDR_XFR_BLOCK, bytes.fromhex("00 88 00 04"), native=False)
    bench.hp.send_at(300, frame(ccid.PC_TO_RDR_ABORT, 9, native=False))
    answers = bench.run()
    # echo of the XfrBlock header, its answer, echo of the Abort header, the Abort's answer
    assert [a[0] for a in answers] == [ccid.PC_TO_RDR_XFR_BLOCK, ccid.RDR_TO_PC_DATA_BLOCK,
                                       ccid.PC_TO_RDR_ABORT, ccid.RDR_TO_PC_SLOT_STATUS]
    assert status(answers[1]) == (ccid.RDR_TO_PC_DATA_BLOCK, xfr, ccid.COMMAND_FAILED | ccid.ICC_INACTIVE,
                                  ccid.ERR_CMD_ABORTED)


def test_tpdu_level_t1_block_wait_is_abortable() -> None:
    # libccid-style TPDU level: the host frames T=1; the reader waits BWT for the card's block
    card = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer),
                       faults="delay response 1 byte 1 to 9000 etu")  # BWT at 372/1 is ~15 400 etu
    bench = Bench([card])
    bench.send(ccid.PC_TO_RDR_ICC_POWER_ON, native=False)
    assert bench.run()[1][7:9] == b"\x00\x00"
    xfr = bench.send(ccid.PC_TO_RDR_XFR_BLOCK, block(0x00, bytes.fromhex("00 88 00 04")), native=False)
    bench.hp.send_at(500, frame(ccid.PC_TO_RDR_ABORT, 3, native=False))
    answers = [a for a in bench.run() if not ccid.is_request(a[0])]
    assert status(answers[0]) == (ccid.RDR_TO_PC_DATA_BLOCK, xfr, ccid.COMMAND_FAILED | ccid.ICC_INACTIVE,
                                  ccid.ERR_CMD_ABORTED)
    assert status(answers[1]) == (ccid.RDR_TO_PC_SLOT_STATUS, 3, ccid.ICC_INACTIVE, 0)


def test_an_abort_for_another_slot_does_not_stop_the_running_command() -> None:
    slow = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer), faults=SLOW_T1)
    other = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer))
    bench = Bench([slow, other])
    bench.power_on(0)
    apdu = bytes.fromhex("00 88 00 04")
    xfr = bench.send(ccid.PC_TO_RDR_XFR_BLOCK, apdu)
    bench.hp.send_at(300, frame(ccid.PC_TO_RDR_ABORT, 5, slot=1))
    answers = bench.run()
    assert status(answers[0]) == (ccid.RDR_TO_PC_DATA_BLOCK, xfr, 0, 0)
    assert answers[0][10:] == t1_answer(apdu).data + b"\x90\x00"
    assert status(answers[1]) == (ccid.RDR_TO_PC_SLOT_STATUS, 5, ccid.ICC_INACTIVE, 0)
    assert answers[1][5] == 1 and bench.ports[0].powered


def test_host_bytes_sent_during_a_long_command_are_all_served_afterwards() -> None:
    card = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer), faults=SLOW_T1)
    bench = Bench([card])
    bench.power_on()
    apdu = bytes.fromhex("00 88 00 04")
    xfr = bench.send(ccid.PC_TO_RDR_XFR_BLOCK, apdu)
    # more than the stash holds: 200 garbage bytes, then three requests, all while the card works
    later = [frame(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0x60 + k) for k in range(3)]
    bench.hp.send_at(200, b"\x55" * 200 + b"".join(later))
    answers = bench.run()
    assert status(answers[0]) == (ccid.RDR_TO_PC_DATA_BLOCK, xfr, 0, 0)
    assert [status(a) for a in answers[1:]] == [(ccid.RDR_TO_PC_SLOT_STATUS, 0x60 + k, 0, 0) for k in range(3)]
    assert bench.reader.link.aborts == 0


def test_an_abort_with_nothing_running_answers_slot_status() -> None:
    card = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=t1_answer))
    bench = Bench([card])
    bench.power_on()
    bench.send(ccid.PC_TO_RDR_ABORT)
    (answer,) = bench.run()
    assert status(answer) == (ccid.RDR_TO_PC_SLOT_STATUS, 1, ccid.ICC_ACTIVE, 0)
    assert bench.ports[0].powered
