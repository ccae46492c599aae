"""APDU scripts (vendor Escape ``CD 20`` RUN_SCRIPT) and the reader's event log (``CD 32``), host side.

protocol/README.md §3 (rows 20 and 32) define the bytes. `CardConnection.run_script` (reader.py) drives
a script: it packs as many steps as the link's frame allows into one Escape, and when the reader
stops with reason "full" (the next response might not fit its answer) it sends the remaining
steps again, so a long script runs transparently in several round trips. A step that does not
fit a script at all (its APDU, or its longest response, is larger than a script frame can
carry) runs as a plain XfrBlock with the same stop rules. `Reader.event_log` decodes ``CD 32``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from cpsdi_proto import escape as wire

from cpsdi.exceptions import ReaderProtocolError

if TYPE_CHECKING:
    from cpsdi.reader import Response

SCRIPT_HEADER_SIZE = 1
"""count u8 before the steps of a RUN_SCRIPT request payload."""
ANSWER_HEADER_SIZE = 2
"""steps run u8, stop reason u8 before the responses of a RUN_SCRIPT answer payload."""


class StopReason(IntEnum):
    """Why a script stopped (the RUN_SCRIPT stop reason; FULL never reaches the caller)."""

    DONE = wire.SCRIPT_DONE
    SW_ERROR = wire.SCRIPT_SW_ERROR
    SW_MISMATCH = wire.SCRIPT_SW_MISMATCH
    FULL = wire.SCRIPT_FULL


@dataclass(frozen=True)
class ScriptStep:
    """One command APDU of a script and when to stop after it.

    ``expect_sw`` set: stop after this step unless the SW equals it (it overrides
    ``stop_on_error``). Otherwise ``stop_on_error``: stop unless the SW is 9000; False: go on
    whatever the SW.
    """

    apdu: bytes
    expect_sw: int | None = None
    stop_on_error: bool = True

    def __post_init__(self) -> None:
        if len(self.apdu) < 4:
            raise ValueError("a command APDU has at least CLA INS P1 P2")
        if len(self.apdu) > 0xFFFF:
            raise ValueError("APDU longer than 65 535 bytes")
        if self.expect_sw is not None and not 0 <= self.expect_sw <= 0xFFFF:
            raise ValueError("expect_sw must be a 16-bit status word")

    @property
    def flags(self) -> int:
        """The step's RUN_SCRIPT flags byte."""
        flags = wire.SCRIPT_STOP_ON_ERROR if self.stop_on_error else 0
        if self.expect_sw is not None:
            flags |= wire.SCRIPT_EXPECT_SW
        return flags

    def encode(self) -> bytes:
        """flags, [expected SW BE], length u16 LE, APDU."""
        out = bytearray([self.flags])
        if self.expect_sw is not None:
            out += self.expect_sw.to_bytes(2, "big")
        out += len(self.apdu).to_bytes(2, "little")
        out += self.apdu
        return bytes(out)

    def stops_at(self, sw: int) -> StopReason | None:
        """The reason this step stops the script after answering ``sw``, or None."""
        if self.expect_sw is not None:
            return StopReason.SW_MISMATCH if sw != self.expect_sw else None
        if self.stop_on_error and sw != 0x9000:
            return StopReason.SW_ERROR
        return None


@dataclass(frozen=True)
class ScriptResult:
    """What a script did: the responses of the steps run, in order.

    ``stopped_at`` is the index of the step whose SW stopped the script (its response is the
    last one), None when every step ran; ``reason`` says which rule stopped it.
    """

    responses: list[Response]
    stopped_at: int | None
    reason: StopReason

    @property
    def completed(self) -> bool:
        """True if every step ran."""
        return self.reason is StopReason.DONE


def response_room(apdu: bytes) -> int:
    """Longest response (Ne + SW) of a command APDU, as the firmware reserves it (ISO 7816-4 §5.1)."""
    n = len(apdu)
    if n <= 4:
        return 2
    p3 = apdu[4]
    if n == 5:
        return (p3 or 256) + 2
    if p3:
        if n == 6 + p3:
            return (apdu[-1] or 256) + 2
        return 2
    if n == 7:
        return (int.from_bytes(apdu[5:7], "big") or 65536) + 2
    lc = int.from_bytes(apdu[5:7], "big")
    if lc and n == 9 + lc:
        return (int.from_bytes(apdu[-2:], "big") or 65536) + 2
    return 2


def encode_script(steps: list[ScriptStep]) -> bytes:
    """A RUN_SCRIPT request payload (without ``CD 20``)."""
    if not 1 <= len(steps) <= wire.SCRIPT_MAX_STEPS:
        raise ValueError(f"a script has 1..{wire.SCRIPT_MAX_STEPS} steps")
    return bytes([len(steps)]) + b"".join(step.encode() for step in steps)


@dataclass(frozen=True)
class ScriptAnswer:
    """A decoded RUN_SCRIPT answer payload: the raw responses of the steps run."""

    reason: StopReason
    responses: list[bytes]


def decode_script_answer(payload: bytes, count: int) -> ScriptAnswer:
    """Decode and check a RUN_SCRIPT answer to a script of ``count`` steps.

    Raises:
        ReaderProtocolError: malformed or inconsistent with the request.
    """
    if len(payload) < ANSWER_HEADER_SIZE:
        raise ReaderProtocolError(f"RUN_SCRIPT answer of {len(payload)} bytes")
    run, code = payload[0], payload[1]
    try:
        reason = StopReason(code)
    except ValueError:
        raise ReaderProtocolError(f"RUN_SCRIPT answer: unknown stop reason {code}") from None
    if run > count or (reason is StopReason.DONE and run != count) or (reason is StopReason.FULL and run >= count) \
            or (reason in (StopReason.SW_ERROR, StopReason.SW_MISMATCH) and run == 0):
        raise ReaderProtocolError(f"RUN_SCRIPT answer: {run} of {count} steps run, reason {reason.name}")
    responses: list[bytes] = []
    p = ANSWER_HEADER_SIZE
    for _ in range(run):
        if p + 2 > len(payload):
            raise ReaderProtocolError("RUN_SCRIPT answer ends inside a response length")
        n = int.from_bytes(payload[p : p + 2], "little")
        p += 2
        if n < 2 or p + n > len(payload):
            raise ReaderProtocolError(f"RUN_SCRIPT answer: bad response length {n}")
        responses.append(bytes(payload[p : p + n]))
        p += n
    if p != len(payload):
        raise ReaderProtocolError(f"RUN_SCRIPT answer: {len(payload) - p} bytes after the responses")
    return ScriptAnswer(reason, responses)


class EventCode(IntEnum):
    """Event of the reader's event log (``cpsdi_proto.escape.EVENT_*``)."""

    CARD_INSERTED = wire.EVENT_CARD_INSERTED
    CARD_REMOVED = wire.EVENT_CARD_REMOVED
    POWER_ON = wire.EVENT_POWER_ON
    POWER_ON_FAILED = wire.EVENT_POWER_ON_FAILED
    POWER_OFF = wire.EVENT_POWER_OFF
    CARD_ERROR = wire.EVENT_CARD_ERROR
    ESCAPE_ERROR = wire.EVENT_ESCAPE_ERROR
    PPS = wire.EVENT_PPS
    T1_RESYNCH = wire.EVENT_T1_RESYNCH
    LINK_NAK = wire.EVENT_LINK_NAK
    LINK_BAD_CHECK = wire.EVENT_LINK_BAD_CHECK
    CLOCK = wire.EVENT_CLOCK


@dataclass(frozen=True)
class Event:
    """One entry of the reader's event log."""

    time_ms: int
    """The reader's millisecond counter (wraps; only differences between entries mean something)."""
    code: EventCode | int
    """An `EventCode`, or the raw byte of an event this library does not know."""
    slot: int
    arg1: int
    """POWER_ON: protocol; POWER_ON_FAILED, CARD_ERROR, ESCAPE_ERROR: the bError; CLOCK: the card clock in 100 kHz."""
    arg2: int
    """POWER_ON: 1 = APDU level; CARD_ERROR: bMessageType; ESCAPE_ERROR: vendor command."""

    @property
    def name(self) -> str:
        """The event's name (``EVENT_xx`` for an unknown one)."""
        return self.code.name if isinstance(self.code, EventCode) else f"EVENT_{self.code:02X}"


@dataclass(frozen=True)
class EventLog:
    """A decoded READ_EVENT_LOG answer: entries oldest first, and how many were lost."""

    events: list[Event] = field(default_factory=list)
    lost: int = 0


def decode_event_log(payload: bytes) -> EventLog:
    """Decode a READ_EVENT_LOG answer payload.

    Raises:
        ReaderProtocolError: malformed.
    """
    if len(payload) < 3:
        raise ReaderProtocolError(f"READ_EVENT_LOG answer of {len(payload)} bytes")
    count = payload[0]
    lost = int.from_bytes(payload[1:3], "little")
    if len(payload) != 3 + count * wire.EVENT_SIZE:
        raise ReaderProtocolError(f"READ_EVENT_LOG answer: {count} entries in {len(payload)} bytes")
    events = []
    for i in range(count):
        e = payload[3 + i * wire.EVENT_SIZE : 3 + (i + 1) * wire.EVENT_SIZE]
        raw = e[4]
        code: EventCode | int = EventCode(raw) if raw in EventCode._value2member_map_ else raw
        events.append(Event(int.from_bytes(e[0:4], "little"), code, e[5], e[6], e[7]))
    return EventLog(events, lost)


__all__ = [
    "Event",
    "EventCode",
    "EventLog",
    "ScriptAnswer",
    "ScriptResult",
    "ScriptStep",
    "StopReason",
    "decode_event_log",
    "decode_script_answer",
    "encode_script",
    "response_room",
]
