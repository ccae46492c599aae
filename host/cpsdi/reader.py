"""L5 Reader API: open a reader from a URL, slots, power, ATR, APDUs, card events.

::

    with Reader.open("/dev/ttyACM0") as reader:          # or socket://…, sim://…
        print(reader.info.firmware_version)
        with reader.slots[0].connect() as card:
            print(card.atr.hex, card.protocol)
            r = card.transmit(bytes.fromhex("00A4040007A0000000031010"))
            print(r.data.hex(), hex(r.sw))

**APDU level.** The reader runs T=0/T=1 itself and ``transmit`` carries whole short or
extended APDUs in XfrBlock. On open, after the link negotiation: in native mode the reader is
at APDU level by contract (native framing implies it); in compat mode each slot gets the
Gemalto Escape ``1F 02`` (what libccid sends with ``ifdDriverOptions 0x0002``, ccid-serial.md
§5.6). A slot whose reader refuses it is TPDU-level: ``transmit`` then raises
`ReaderProtocolError` (this library does not implement the T=1 block protocol on the host).

**Events.** `Reader.events` returns an explicit `EventSubscription` (a context manager, no
hidden thread): ``get(timeout_s)`` drives the link itself, delivering card-movement
notifications pushed by the reader (``50 xx``) and, every ``poll_interval_s``, GetSlotStatus
polling of every slot; it raises `ReaderTimeoutError` when nothing happened in time.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Literal

from cpsdi_fw.iso7816_3 import atr as fw_atr
from cpsdi_proto import ccid as wire
from cpsdi_proto import escape as vendor

from cpsdi.escape import ReaderInfo, vendor_answer_payload, vendor_request
from cpsdi.exceptions import (
    BadATRError,
    CardAbsentError,
    CommandAbortedError,
    NotSupportedError,
    ReaderError,
    ReaderProtocolError,
    ReaderTimeoutError,
    VendorCommandError,
)
from cpsdi.framing import SlotChange
from cpsdi.link import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, Answer, LinkClient, check_answer
from cpsdi.script import (
    ANSWER_HEADER_SIZE,
    SCRIPT_HEADER_SIZE,
    Event,
    ScriptResult,
    ScriptStep,
    StopReason,
    decode_event_log,
    decode_script_answer,
    encode_script,
    response_room,
)
from cpsdi.sw import describe_sw, raise_for_sw
from cpsdi.trace import TraceRecorder
from cpsdi.transport import Transport

log = logging.getLogger(__name__)

POWER_ON_TIMEOUT_S = 10.0
"""IccPowerOn waits longer (activation, PPS, voltage fallback); keep-alives restart it anyway."""
APDU_LEVEL_ESCAPE = b"\x1f\x02"
POLL_INTERVAL_S = 0.4
NOTIFY_LATENCY_S = 0.3
"""A card-movement notification may describe a change a slot poll saw up to this long before
(the firmware scans presence every 50 ms and notifies between frames)."""
"""GetSlotStatus polling period of an event subscription (pcscd's PCSCLITE_STATUS_POLL_RATE)."""


class Power(IntEnum):
    """bPowerSelect of IccPowerOn (CCID §6.1.1)."""

    AUTO = wire.POWER_AUTO
    V5 = wire.POWER_5V
    V3 = wire.POWER_3V
    V1_8 = wire.POWER_1V8


AUTO = Power.AUTO


class Protocol(IntEnum):
    """Transmission protocol in force (bProtocolNum)."""

    T0 = wire.PROTOCOL_T0
    T1 = wire.PROTOCOL_T1


@dataclass(frozen=True)
class ATR:
    """A parsed Answer-To-Reset (ISO/IEC 7816-3 §8), by the firmware's own ATRParser."""

    raw: bytes
    historical: bytes
    protocols: tuple[int, ...]
    """Offered protocols (T values), in increasing order."""
    default_protocol: int
    specific_mode: bool
    """TA2 present: the card imposes its protocol and Fi/Di (no PPS)."""
    ta1: int
    fi: int
    di: int
    guard_time_n: int
    """TC1 (extra guard time N)."""
    wi: int
    """T=0 waiting integer (TC2, default 10)."""
    ifsc: int
    bwi: int
    cwi: int
    edc_crc: bool
    tck_present: bool
    inverse_convention: bool

    @property
    def hex(self) -> str:
        """Upper-case hex with spaces, as pcsc_scan shows it."""
        return self.raw.hex(" ").upper()

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> ATR:
        """Parse an ATR received from the reader.

        Raises:
            BadATRError: not a complete, valid ATR (or bytes after its end).
        """
        raw = bytes(data)
        parser = fw_atr.ATRParser()
        # The reader sends the ATR decoded: TS 3F (inverse convention) reads as a UART in inverse mode would.
        parser.reset(1 if raw[:1] == b"\x3f" else 0)
        end = parser.feed(raw)
        if parser.status != fw_atr.DONE:
            reason = "incomplete" if parser.status == fw_atr.NEED_MORE else f"error {parser.error}"
            raise BadATRError(f"invalid ATR {raw.hex(' ').upper()}: {reason}", fw_atr.ccid_error(parser.error))
        if end != len(raw):
            raise BadATRError(f"{len(raw) - end} bytes after the end of the ATR {raw[:end].hex(' ').upper()}")
        decision = fw_atr.ATRDecision()
        decision.decide(parser)
        offered = parser.offered_protocols()
        return cls(
            raw=raw,
            historical=bytes(parser.historical()),
            protocols=tuple(t for t in range(15) if offered >> t & 1),
            default_protocol=parser.default_protocol(),
            specific_mode=parser.ta(2) >= 0,
            ta1=decision.ta1,
            fi=decision.fi,
            di=decision.di,
            guard_time_n=decision.n,
            wi=decision.wi,
            ifsc=decision.ifsc,
            bwi=decision.bwi,
            cwi=decision.cwi,
            edc_crc=decision.edc_crc,
            tck_present=parser.tck_present,
            inverse_convention=parser.inverse,
        )


@dataclass(frozen=True)
class Response:
    """A response APDU: data and status word (SW1 SW2 as one int)."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        """First status byte."""
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        """Second status byte."""
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        """True for 9000."""
        return self.sw == 0x9000

    @property
    def meaning(self) -> str:
        """Short meaning of the status word."""
        return describe_sw(self.sw)

    @classmethod
    def from_bytes(cls, data: bytes) -> Response:
        """Split data and SW; fewer than 2 bytes is a protocol error (pyscard #18/#85)."""
        if len(data) < 2:
            raise ReaderProtocolError(f"response APDU of {len(data)} byte(s): no status word")
        return cls(bytes(data[:-2]), int.from_bytes(data[-2:], "big"))

    def check(self, command_header: bytes = b"") -> Response:
        """Raise the StatusWordError of an error SW (cpsdi.sw); return self otherwise."""
        raise_for_sw(self.sw, command_header)
        return self


@dataclass(frozen=True)
class SlotStatus:
    """What GetSlotStatus reports."""

    slot: int
    icc_status: int
    clock_status: int

    @property
    def present(self) -> bool:
        """A card is in the slot."""
        return self.icc_status != wire.ICC_ABSENT

    @property
    def powered(self) -> bool:
        """The card is present and active."""
        return self.icc_status == wire.ICC_ACTIVE


@dataclass(frozen=True)
class SlotEvent:
    """A card was inserted (``present``) or removed; ``source`` is "notify" or "poll"."""

    slot: int
    present: bool
    source: str


class Slot:
    """One card slot of a reader."""

    def __init__(self, reader: Reader, index: int) -> None:
        self.reader = reader
        self.index = index
        self.apdu_level = False
        self.connection: CardConnection | None = None

    def __repr__(self) -> str:
        return f"Slot({self.index})"

    def status(self) -> SlotStatus:
        """GetSlotStatus. An absent card is a status, not an error."""
        answer = self.reader.link.request(wire.PC_TO_RDR_GET_SLOT_STATUS, self.index)
        if answer.failed and answer.icc_status != wire.ICC_ABSENT:
            check_answer(answer, wire.PC_TO_RDR_GET_SLOT_STATUS)
        return SlotStatus(self.index, answer.icc_status, answer.param)

    def connect(self, power: Power | int = AUTO) -> CardConnection:
        """Power the card on (IccPowerOn) and return a connection holding its ATR and protocol.

        Raises:
            CardAbsentError: no card.
            CardError: activation failed (mute, bad ATR, unsupported protocol…).
        """
        link = self.reader.link
        answer = check_answer(
            link.request(
                wire.PC_TO_RDR_ICC_POWER_ON, self.index, timeout_s=max(link.timeout_s, POWER_ON_TIMEOUT_S),
                bPowerSelect=int(power),
            ),
            wire.PC_TO_RDR_ICC_POWER_ON,
        )
        atr = ATR.parse(answer.data)
        if self.reader.trace:
            self.reader.trace.note(f"slot {self.index} ATR {atr.hex}")
        protocol = self._protocol(atr)
        self.connection = CardConnection(self, atr, protocol)
        return self.connection

    def _protocol(self, atr: ATR) -> Protocol:
        try:
            params = check_answer(
                self.reader.link.request(wire.PC_TO_RDR_GET_PARAMETERS, self.index), wire.PC_TO_RDR_GET_PARAMETERS
            )
        except ReaderProtocolError as exc:
            log.info("GetParameters not available (%s): protocol from the ATR", exc)
            return Protocol(1 if atr.default_protocol == 1 else 0)
        if params.param not in (0, 1):
            raise ReaderProtocolError(f"GetParameters reports protocol {params.param}")
        return Protocol(params.param)


class CardConnection:
    """A powered card in a slot: `transmit` APDUs, then `disconnect` (also on context exit)."""

    def __init__(self, slot: Slot, atr: ATR, protocol: Protocol) -> None:
        self.slot = slot
        self.atr = atr
        self.protocol = protocol
        self.closed = False

    def __enter__(self) -> CardConnection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self.closed:
            try:
                self.disconnect()
            except ReaderError as error:
                if exc is None:
                    raise
                log.warning("power-off after an error failed: %s", error)

    def transmit(self, apdu: bytes | bytearray | memoryview, check: bool = False, *, timeout_s: float | None = None) -> Response:
        """Send one command APDU, return the response (data, SW).

        Args:
            apdu: a whole short or extended command APDU (the reader does T=0/T=1).
            check: raise the StatusWordError subclass of an error SW (cpsdi.sw).
            timeout_s: per-wait timeout (restarted by the reader's keep-alives).

        Raises:
            ValueError: fewer than 4 bytes, or too long for the link.
            CardError / CardAbsentError: the reader reported a card failure.
            ReaderProtocolError: a response without SW, or a TPDU-level slot.
            StatusWordError: with ``check=True``.
        """
        if self.closed:
            raise ReaderProtocolError("transmit on a disconnected card")
        command = bytes(apdu)
        if len(command) < 4:
            raise ValueError("a command APDU has at least CLA INS P1 P2")
        slot = self.slot
        reader = slot.reader
        if not slot.apdu_level:
            raise ReaderProtocolError(f"slot {slot.index} is at TPDU level (Escape 1F 02 refused): no APDU exchange")
        if reader.trace:
            reader.trace.apdu_command(slot.index, command)
        try:
            answer = check_answer(
                reader.link.request(wire.PC_TO_RDR_XFR_BLOCK, slot.index, command, timeout_s=timeout_s),
                wire.PC_TO_RDR_XFR_BLOCK,
            )
        except CommandAbortedError:
            self._powered_off()
            raise
        response = Response.from_bytes(answer.data)
        if reader.trace:
            reader.trace.apdu_response(slot.index, response.data, response.sw)
        if check:
            response.check(command[:4])
        return response

    def run_script(self, steps: Sequence[ScriptStep], *, timeout_s: float | None = None) -> ScriptResult:
        """Run command APDUs back to back in the reader (vendor Escape ``CD 20``, cpsdi.script).

        As many steps as one frame carries go in one round trip; when the reader stops with
        "full" the remaining steps are sent again, so the split is invisible. A step too large
        for a script frame, or every step on a reader without RUN_SCRIPT, runs as a plain
        `transmit` with the same stop rules. The trace shows each step as an APDU (PIN data
        redacted) and the Escape frames redacted whole.

        Args:
            steps: the script; an empty one returns an empty result.
            timeout_s: per-wait timeout (restarted by the reader's keep-alives).

        Returns:
            The responses of the steps run; ``stopped_at``/``reason`` tell which SW stopped it.

        Raises:
            CardError / CardAbsentError: a card failure at some step (the responses of the
                steps before it in the same round trip are lost; the card has usually been
                deactivated).
            VendorCommandError: the reader refused the script (ERR_SCRIPT_FORMAT…).
            ReaderProtocolError: a malformed answer, or a TPDU-level slot.
        """
        if self.closed:
            raise ReaderProtocolError("run_script on a disconnected card")
        slot = self.slot
        reader = slot.reader
        link = reader.link
        if not slot.apdu_level:
            raise ReaderProtocolError(f"slot {slot.index} is at TPDU level (Escape 1F 02 refused): no APDU exchange")
        todo = list(steps)
        responses: list[Response] = []
        scripts = True
        plain_next = False
        i = 0
        while i < len(todo):
            chunk = self._script_chunk(todo, i, link.max_data) if scripts and not plain_next else []
            plain_next = False
            if not chunk:
                response = self.transmit(todo[i].apdu, timeout_s=timeout_s)
                responses.append(response)
                reason = todo[i].stops_at(response.sw)
                if reason is not None:
                    return ScriptResult(responses, i, reason)
                i += 1
                continue
            request = vendor_request(vendor.CMD_RUN_SCRIPT, encode_script(chunk))
            try:
                answer = check_answer(
                    link.request(wire.PC_TO_RDR_ESCAPE, slot.index, request, timeout_s=timeout_s),
                    wire.PC_TO_RDR_ESCAPE,
                )
            except CommandAbortedError:
                self._powered_off()
                raise
            except NotSupportedError as exc:
                log.info("reader without RUN_SCRIPT (%s): plain transmits", exc)
                scripts = False
                continue
            except VendorCommandError as exc:
                if exc.code != vendor.ERR_UNKNOWN_COMMAND:
                    raise
                log.info("reader without RUN_SCRIPT (%s): plain transmits", exc)
                scripts = False
                continue
            decoded = decode_script_answer(vendor_answer_payload(vendor.CMD_RUN_SCRIPT, answer.data), len(chunk))
            for k, raw in enumerate(decoded.responses):
                response = Response.from_bytes(raw)
                if reader.trace:
                    reader.trace.apdu_command(slot.index, chunk[k].apdu)
                    reader.trace.apdu_response(slot.index, response.data, response.sw)
                responses.append(response)
            run = len(decoded.responses)
            if decoded.reason is StopReason.FULL:
                plain_next = run == 0  # its response cannot fit a script answer: one plain transmit
                i += run
                continue
            if decoded.reason is StopReason.DONE:
                i += run
                continue
            last = chunk[run - 1]
            if last.stops_at(responses[-1].sw) is not decoded.reason:
                raise ReaderProtocolError(f"RUN_SCRIPT stopped at step {i + run - 1} ({decoded.reason.name}) "
                                          f"against its rule (SW {responses[-1].sw:04X})")
            return ScriptResult(responses, i + run - 1, decoded.reason)
        return ScriptResult(responses, None, StopReason.DONE)

    @staticmethod
    def _script_chunk(steps: list[ScriptStep], start: int, max_data: int) -> list[ScriptStep]:
        """The steps from ``start`` that one RUN_SCRIPT request carries (empty: ``steps[start]``
        does not fit a script, by its APDU or by its longest response)."""
        request_room = max_data - 2 - SCRIPT_HEADER_SIZE
        answer_room = max_data - 2 - ANSWER_HEADER_SIZE
        first = steps[start]
        if 2 + response_room(first.apdu) > answer_room:
            return []
        chunk: list[ScriptStep] = []
        used = 0
        for step in steps[start : start + vendor.SCRIPT_MAX_STEPS]:
            size = len(step.encode())
            if used + size > request_room:
                break
            chunk.append(step)
            used += size
        return chunk

    def abort(self) -> None:
        """Abort this card's operation in progress from another thread (`Reader.abort`)."""
        self.slot.reader.abort()

    def _powered_off(self) -> None:
        # An aborted exchange leaves the card deactivated by the reader (slot.py): this
        # connection is over; connect() again.
        self.closed = True
        self.slot.connection = None

    def disconnect(self, mode: Literal["unpower", "reset"] = "unpower") -> None:
        """End the connection: power the card off, or reset it (IccPowerOn again, card stays powered)."""
        if self.closed:
            return
        slot = self.slot
        self.closed = True
        slot.connection = None
        if mode == "unpower":
            check_answer(slot.reader.link.request(wire.PC_TO_RDR_ICC_POWER_OFF, slot.index), wire.PC_TO_RDR_ICC_POWER_OFF)
        elif mode == "reset":
            check_answer(
                slot.reader.link.request(
                    wire.PC_TO_RDR_ICC_POWER_ON, slot.index, timeout_s=max(slot.reader.link.timeout_s, POWER_ON_TIMEOUT_S)
                ),
                wire.PC_TO_RDR_ICC_POWER_ON,
            )
        else:
            raise ValueError(f"disconnect mode {mode!r}: 'unpower' or 'reset'")


@dataclass
class EventSubscription:
    """Card insertion/removal events of one reader, owned by the caller (see module docstring)."""

    reader: Reader
    poll_interval_s: float = POLL_INTERVAL_S
    _queue: deque[SlotEvent] = field(default_factory=deque)
    _known: dict[int, bool] = field(default_factory=dict)
    _polled_at: dict[int, float] = field(default_factory=dict)
    _next_poll: float = 0.0
    closed: bool = False

    def __enter__(self) -> EventSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop receiving events (idempotent)."""
        if not self.closed:
            self.closed = True
            self.reader._unsubscribe(self)

    def _update(self, slot: int, present: bool, source: str, changed: bool = False) -> None:
        before = self._known.get(slot)
        self._known[slot] = present
        if before is None and not changed:
            return  # first observation: a state, not an event
        if source == "poll":
            self._polled_at[slot] = time.monotonic()
        if before != present or changed:
            if changed and before == present:
                if time.monotonic() - self._polled_at.get(slot, 0.0) < NOTIFY_LATENCY_S:
                    return  # a notification of the change the last poll already saw
                # removed and re-inserted (or the reverse) between two looks
                self._queue.append(SlotEvent(slot, not present, source))
            self._queue.append(SlotEvent(slot, present, source))

    def _on_slot_change(self, event: SlotChange) -> None:
        for slot in range(len(self.reader.slots)):
            if event.changed(slot):
                self._update(slot, event.present(slot), "notify", changed=True)

    def _poll(self) -> None:
        for slot in self.reader.slots:
            try:
                present = slot.status().present
            except ReaderTimeoutError:
                raise
            except ReaderError as exc:
                log.warning("status of slot %d: %s", slot.index, exc)
                continue
            self._update(slot.index, present, "poll")

    def get(self, timeout_s: float) -> SlotEvent:
        """Next event; raise ReaderTimeoutError if none comes within ``timeout_s``."""
        if self.closed:
            raise ReaderProtocolError("event subscription closed")
        deadline = time.monotonic() + timeout_s
        while True:
            if self._queue:
                return self._queue.popleft()
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + self.poll_interval_s
                self._poll()
                continue
            if now >= deadline:
                raise ReaderTimeoutError(f"no card event within {timeout_s:.1f} s")
            self.reader.link.poll_events(min(deadline, self._next_poll) - now)


_COUNTER_NAMES = {
    vendor.COUNTER_FRAMES: "frames", vendor.COUNTER_NAKS: "naks_sent", vendor.COUNTER_BAD_CHECKS: "bad_checks",
    vendor.COUNTER_GARBAGE: "garbage_bytes", vendor.COUNTER_OVERSIZE: "oversize_headers",
    vendor.COUNTER_RETRANSMITS: "retransmissions", vendor.COUNTER_ERRORS: "internal_errors",
    vendor.COUNTER_KEEPALIVES: "keepalives", vendor.COUNTER_TIMEOUTS: "timeouts",
    vendor.COUNTER_REQUESTS: "requests", vendor.COUNTER_CARD_ERRORS: "card_errors",
}


class Reader:
    """A cpsdi reader (or any GemPC Twin serial reader in compat mode) on one port."""

    def __init__(self, link: LinkClient, *, trace: TraceRecorder | None = None) -> None:
        self.link = link
        self.trace = trace
        self.opening_line = link.transport.line  # restored by close()
        self._subscriptions: list[EventSubscription] = []
        self.info: ReaderInfo = link.info if link.info is not None else link.open()
        self.slots: list[Slot] = [Slot(self, i) for i in range(max(1, self.info.slots))]
        self._set_apdu_level()
        link.add_listener(self._on_slot_change)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        native: bool = True,
        trace: Path | str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        transport: Transport | None = None,
        link_baud: int | None = None,
    ) -> Reader:
        """Open the reader at pyserial ``url`` and negotiate the link (module docstring).

        Args:
            url: pyserial URL or device path.
            native: negotiate native framing when the reader offers it.
            trace: write a PIN-redacted JSON-lines trace of frames and APDUs there.
            timeout_s: per-wait read timeout (restarted by keep-alives).
            retries: retransmissions per request.
            transport: an already open transport (tests, custom ports); ``url`` then only names it.
            link_baud: after opening, move the link to this rate (`LinkClient.set_line`, 8N2);
                `close` brings it back to the opening rate.
        """
        transport = transport or Transport.open(url)
        recorder: TraceRecorder | None = None
        try:
            recorder = TraceRecorder(trace, url=url) if trace is not None else None
            link = LinkClient(transport, native=native, timeout_s=timeout_s, retries=retries, trace=recorder)
            link.open()
            reader = cls(link, trace=recorder)
            if link_baud is not None and link_baud != transport.line[0]:
                link.set_line(link_baud, 2)
            return reader
        except BaseException:
            transport.close()
            if recorder:
                recorder.close()
            raise

    def _set_apdu_level(self) -> None:
        for slot in self.slots:
            if self.link.native:
                slot.apdu_level = True
                continue
            try:
                check_answer(self.link.request(wire.PC_TO_RDR_ESCAPE, slot.index, APDU_LEVEL_ESCAPE), wire.PC_TO_RDR_ESCAPE)
            except CardAbsentError:
                slot.apdu_level = True  # the escape does not need a card; some readers still say "absent"
            except ReaderProtocolError as exc:
                log.warning("slot %d stays at TPDU level: %s", slot.index, exc)
                slot.apdu_level = False
            else:
                slot.apdu_level = True

    def _on_slot_change(self, event: SlotChange) -> None:
        for sub in list(self._subscriptions):
            sub._on_slot_change(event)

    def _unsubscribe(self, sub: EventSubscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def events(self, poll_interval_s: float = POLL_INTERVAL_S) -> EventSubscription:
        """A new event subscription (use as a context manager)."""
        sub = EventSubscription(self, poll_interval_s)
        self._subscriptions.append(sub)
        sub._poll()  # the baseline: changes after this call are events
        sub._next_poll = time.monotonic() + poll_interval_s
        return sub

    def event_log(self) -> list[Event]:
        """The reader's event log, oldest first (vendor Escape ``CD 32``; emptied by RESET_COUNTERS).

        Raises:
            VendorCommandError / NotSupportedError: the reader has no event log.
            ReaderProtocolError: a malformed answer.
        """
        decoded = decode_event_log(self.link.vendor(vendor.CMD_READ_EVENT_LOG))
        if decoded.lost:
            log.info("event log: %d older entries lost", decoded.lost)
        return decoded.events

    def counters(self) -> dict[str, int]:
        """The reader's diagnostic counters by name (vendor Escape ``CD 30``, protocol/README.md §3).

        Names: frames, naks_sent, bad_checks, garbage_bytes, oversize_headers, retransmissions
        answered from the cache, internal_errors, keepalives, timeouts (link), requests,
        card_errors (CCID service); unknown tags appear as ``tag_XX``.
        """
        payload = self.link.vendor(vendor.CMD_GET_COUNTERS)
        out: dict[str, int] = {}
        i = 0
        while i + 2 <= len(payload):
            tag, length = payload[i], payload[i + 1]
            value = payload[i + 2 : i + 2 + length]
            if len(value) != length:
                raise ReaderProtocolError("GET_COUNTERS answer ends inside a TLV")
            out[_COUNTER_NAMES.get(tag, f"tag_{tag:02X}")] = int.from_bytes(value, "little")
            i += 2 + length
        return out

    def abort(self) -> None:
        """Abort the request in progress (thread-safe; `LinkClient.abort`): a card operation
        ends with `CommandAbortedError` and the card is powered off. Nothing happens when idle."""
        self.link.abort()

    def reset_counters(self) -> None:
        """Zero the counters and empty the event log (vendor Escape ``CD 31``)."""
        self.link.vendor(vendor.CMD_RESET_COUNTERS)

    @property
    def native(self) -> bool:
        """True if the link runs in native framing."""
        return self.link.native

    def close(self) -> None:
        """Power off the cards still connected (best effort: a verified PIN does not outlive the
        session), close subscriptions, the port and the trace (idempotent)."""
        for slot in self.slots:
            if slot.connection is not None and not self.link.transport.closed:
                try:
                    slot.connection.disconnect()
                except ReaderError as exc:
                    log.warning("power-off of slot %d at close failed: %s", slot.index, exc)
        if not self.link.transport.closed and self.link.transport.line != self.opening_line:
            try:  # the next session opens at the usual rate
                self.link.set_line(*self.opening_line)
            except ReaderError as exc:
                log.warning("could not bring the link back to %d bd: %s", self.opening_line[0], exc)
        for sub in list(self._subscriptions):
            sub.close()
        self.link.remove_listener(self._on_slot_change)
        self.link.close()
        if self.trace:
            self.trace.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "ATR",
    "AUTO",
    "Answer",
    "CardConnection",
    "EventSubscription",
    "Power",
    "Protocol",
    "Reader",
    "Response",
    "Slot",
    "SlotEvent",
    "SlotStatus",
]
