"""Firmware robustness through the link (issue #5 acceptance): random and mutated frames
never break the reader, and a card removed at any step of an exchange gives a clean error
and a clean state."""

from __future__ import annotations

import json
from pathlib import Path

from cpsdi_proto import ccid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpsdi.ccid import build_message, parse_message
from cpsdi.framing import Frame, FrameReader, encode_frame
from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim.cards import T0_TEST_ATR, make_card
from cpsdi_boards.sim.host_port import MemoryHostPort
from cpsdi_fw.main import Reader as Firmware

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "frames.jsonl"
COMMANDS = [bytes.fromhex(r["frame"]) for r in map(json.loads, VECTORS.read_text().splitlines())
            if r["dir"] == "H>R"]


class Line:
    """Raw frames to an in-process firmware (no retries: every byte counts)."""

    def __init__(self, card: str = "t0", faults: str | None = None) -> None:
        made = make_card(card, faults)
        assert made is not None
        self.port = SimCardPort(made[0])
        self.hp = MemoryHostPort()
        self.fw = Firmware(self.hp, [self.port], board="sim")
        self.frames = FrameReader()

    def feed(self, data: bytes) -> bytes:
        self.hp.host_write(data)
        out = bytearray()
        for _ in range(200):
            self.fw.step()
            out += self.hp.host_read()
            if not self.hp.to_reader:
                break
        return bytes(out)

    def settle(self) -> None:
        self.hp.wait_ms(300)  # line silence: a partial frame is dropped after 100 ms
        self.fw.step()
        self.hp.host_read()

    def request(self, message: bytes, native: bool = False) -> bytes:
        answers = [e.message for e in self.frames.feed(self.feed(encode_frame(message, native=native)))
                   if isinstance(e, Frame) and e.message[0] >= 0x80]
        assert len(answers) == 1, answers
        return answers[0]


def test_fuzzed_golden_commands_survive() -> None:
    line = Line()
    for frame in COMMANDS:  # every golden command, whole, then each truncated
        line.feed(frame)
        line.feed(frame[: len(frame) // 2])
        line.settle()
    answer = line.request(build_message(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 0x42))
    assert parse_message(answer).bSeq == 0x42
    assert line.fw.link.errors == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    noise=st.lists(st.one_of(
        st.binary(max_size=300),
        st.builds(lambda i, flips: bytes(b ^ f for b, f in zip(COMMANDS[i % len(COMMANDS)], flips + bytes(1000))),
                  st.integers(0, 1000), st.binary(max_size=40)),
    ), max_size=6),
    native=st.booleans(),
)
def test_random_and_mutated_frames_never_break_the_reader(noise: list[bytes], native: bool) -> None:
    line = Line()
    for chunk in noise:
        line.feed(chunk)
    line.settle()
    line.frames.reset()
    answer = line.request(build_message(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 0x99), native=native)
    parsed = parse_message(answer)
    assert (parsed.bMessageType, parsed.bSeq) == (ccid.RDR_TO_PC_SLOT_STATUS, 0x99)
    assert line.fw.link.errors == 0  # no internal failure was ever caught


def _session_card_bytes() -> int:
    """How many characters the card sends for power-on + one APDU (without faults)."""
    line = Line()
    line.request(build_message(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 1, bPowerSelect=0))
    line.request(build_message(ccid.PC_TO_RDR_ESCAPE, 0, 2, b"\x1f\x02"))
    line.request(build_message(ccid.PC_TO_RDR_XFR_BLOCK, 0, 3, bytes.fromhex("00 B0 00 00 20")))
    card = line.port.card
    assert card is not None
    return len(card.records.card_chars())


def test_removal_at_every_card_byte_gives_a_clean_error_and_state() -> None:
    total = _session_card_bytes()
    assert total > len(T0_TEST_ATR) + 30
    for n in range(1, total + 1):
        line = Line(faults=f"remove before card byte {n}")
        on = parse_message(line.request(build_message(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 1, bPowerSelect=0)))
        if on.params.bStatus & ccid.COMMAND_FAILED:
            assert on.params.bError == ccid.ERR_ICC_MUTE, n
            assert on.params.bStatus & ccid.ICC_STATUS_MASK == ccid.ICC_ABSENT, n
        else:
            line.request(build_message(ccid.PC_TO_RDR_ESCAPE, 0, 2, b"\x1f\x02"))
            x = parse_message(line.request(build_message(ccid.PC_TO_RDR_XFR_BLOCK, 0, 3,
                                                         bytes.fromhex("00 B0 00 00 20"))))
            assert x.params.bStatus & ccid.COMMAND_FAILED, n
            assert x.params.bError == ccid.ERR_ICC_MUTE, n
        status = parse_message(line.request(build_message(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 4)))
        assert status.params.bStatus & ccid.ICC_STATUS_MASK == ccid.ICC_ABSENT, n
        # a new card: a clean activation, no stale state
        made = make_card("t0")
        assert made is not None
        line.port.insert(made[0])
        again = parse_message(line.request(build_message(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 5, bPowerSelect=0)))
        assert again.abData == T0_TEST_ATR, n
        line.request(build_message(ccid.PC_TO_RDR_ESCAPE, 0, 6, b"\x1f\x02"))
        ok = parse_message(line.request(build_message(ccid.PC_TO_RDR_XFR_BLOCK, 0, 7, bytes.fromhex("00 B0 00 00 02"))))
        assert ok.abData == bytes([0, 7, 0x90, 0]), n


def test_event_log_records_pps_t1_resynch_and_link_errors() -> None:
    from cpsdi_proto import escape

    from cpsdi.script import decode_event_log

    # block 1 answers the IFSD negotiation; the card then stays silent three times (BWT
    # expiries, rule 7.1 R-blocks) and the reader resynchronises (T1-23)
    line = Line(card="t1", faults="drop block 2 once\ndrop block 3 once\ndrop block 4 once")
    line.request(build_message(ccid.PC_TO_RDR_ESCAPE, 0, 1, b"\x1f\x02"))  # APDU level: the reader does PPS/IFS
    on = parse_message(line.request(build_message(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 2, bPowerSelect=0)))
    assert not on.params.bStatus & ccid.COMMAND_FAILED
    x = parse_message(line.request(build_message(ccid.PC_TO_RDR_XFR_BLOCK, 0, 3, bytes.fromhex("00 B0 00 00 02"))))
    assert x.abData == bytes([0, 7, 0x90, 0])
    bad = bytearray(encode_frame(build_message(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 4)))
    bad[-1] ^= 0xFF  # wrong LRC: the reader NAKs
    assert line.feed(bytes(bad)) == b"\x03\x15\x16"
    answer = parse_message(line.request(build_message(ccid.PC_TO_RDR_ESCAPE, 0, 5, b"\xcd\x32")))
    events = {int(e.code): e for e in decode_event_log(answer.abData[2:]).events}
    assert (events[escape.EVENT_PPS].arg1, events[escape.EVENT_PPS].arg2) == (0x18, 1)  # TA1 18, T=1
    assert events[escape.EVENT_T1_RESYNCH].arg1 == 1 and events[escape.EVENT_T1_RESYNCH].arg2 == 0
    assert events[escape.EVENT_LINK_BAD_CHECK].slot == 0xFF
