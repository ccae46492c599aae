"""L4 link client: CCID requests over the serial framing, with bSeq, echo, retries and native mode.

One request at a time (the reader has bMaxCCIDBusySlots 1, ccid-serial.md §8 pitfall 12).

**Sequence numbers.** One bSeq counter for all slots, wrapping 0..255, starting at a random
value (so a restarted host is unlikely to hit the reader's answer cache of its previous session).
A new request never reuses the bSeq of the last request sent to the same slot: the reader would
take it for a retransmission and answer from its cache (protocol/README.md "Exactly once").

**Waiting for the answer.** The read deadline is ``timeout_s`` and restarts on every keep-alive
byte (0x80..0xFF) and card-movement notification (``50 xx``), as libccid's does
(ccid-serial.md §3); an overall cap ``max_wait_s`` bounds a reader that keeps sending keep-alives.
In compat mode the echo (any PC_to_RDR frame, full or header-only) is skipped. An answer frame is
accepted only if its bMessageType, bSlot and bSeq are those expected; anything else is a stale
frame (a late answer to an earlier request): it is logged, discarded, and reading goes on until
the deadline (ccid-serial.md §8 pitfall 1).

**Retransmission.** After a NAK, a bad LRC/CRC or a timeout, the *same bytes* (same bSeq) are sent
again, at most ``retries`` times (default 3, so 4 transmissions). Before each retransmission the
input is drained (until 50 ms of silence, at most 500 ms) and the decoder reset, so no late byte of
the previous attempt can be taken for the new answer. The reader answers a retransmission from its
cache without executing the command again. When every attempt failed: `ReaderTimeoutError` if the
last failure was a timeout, `FramingError` otherwise.

**Abort.** `LinkClient.abort()` (from any thread) or Ctrl-C (KeyboardInterrupt) while a request
waits for its answer sends a PC_to_RDR_Abort for that slot (CCID §6.1.13; over a serial line the
bulk message alone asks for it, protocol/README.md §2). The reader stops the card exchange,
deactivates the card and answers the request with bError CMD_ABORTED (`CommandAbortedError`),
then answers the Abort (SlotStatus), which is read and checked before the request returns. A
request that completed before the Abort reached the reader returns its normal answer. After a
Ctrl-C both answers are awaited for at most ``ABORT_WAIT_S`` and the KeyboardInterrupt goes on.

**Negotiation** (`LinkClient.open`): GET_INFO (vendor Escape ``CD 01``) in compat framing; a
reader that does not know it (a stock GemPC Twin answers "not supported") gets a placeholder
`ReaderInfo`. If the reader offers native mode (``native_max_message > 0``) and the client wants
it, NATIVE (``CD 02``, u32 wanted) is sent, still in compat framing; a granted limit ≥ 1034 with
check id ``01`` (CRC-32) switches the client to native framing. Any failure leaves the link in
compat mode (the reader accepts both framings at any time, so nothing else is needed).

Logging: DEBUG records of every frame, PIN-redacted by `cpsdi.trace` (never raw data).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cpsdi_proto import ccid as wire
from cpsdi_proto import escape as vendor
from cpsdi_proto.gempc import COMPAT_MAX_MESSAGE
from cpsdi_proto.native import NATIVE_MAX_MESSAGE, NATIVE_MIN_MESSAGE

from cpsdi.ccid import build_message, message_name
from cpsdi.escape import NativeAnswer, ReaderInfo, parse_info, vendor_answer_payload, vendor_request
from cpsdi.exceptions import (
    BadATRError,
    CardAbsentError,
    CardError,
    CardMuteError,
    CommandAbortedError,
    FramingError,
    HardwareError,
    NotSupportedError,
    OverrunError,
    ParityError,
    ProcedureByteConflictError,
    ProtocolNotSupportedError,
    ReaderError,
    ReaderProtocolError,
    ReaderTimeoutError,
    SlotBusyError,
    VendorCommandError,
)
from cpsdi.framing import BadFrame, Frame, FrameReader, KeepAlive, Nak, Oversize, SlotChange, encode_frame
from cpsdi.framing import Event as LinkEvent
from cpsdi.trace import TraceRecorder, redact_bad_frame, redact_frame
from cpsdi.transport import Transport

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 3.0
"""Per-wait read timeout, restarted by keep-alives (libccid's DEFAULT_COM_READ_TIMEOUT)."""
DEFAULT_RETRIES = 3
"""Retransmissions after the first transmission (NAK, bad check or timeout)."""
DEFAULT_MAX_WAIT_S = 300.0
"""Cap on one attempt even while keep-alives keep coming (house-style §7, CCID #155)."""
ABORT_POLL_S = 0.05
"""How often a waiting request looks at `LinkClient.abort` between bytes."""
ABORT_WAIT_S = 3.0
"""After Ctrl-C: longest wait for the aborted answer and the Abort's answer."""
LINE_CONFIRM_TIMEOUT_S = 0.3
"""Per-transmission wait for the GET_INFO that confirms new line settings (the reader's probation is 2 s)."""
DRAIN_QUIET_S = 0.05
DRAIN_MAX_S = 0.5
SLOT_CHANGE_QUEUE = 256

SlotChangeListener = Callable[[SlotChange], None]


@dataclass(frozen=True)
class Answer:
    """A RDR_to_PC answer: header fields and data."""

    message_type: int
    slot: int
    seq: int
    status: int
    error: int
    param: int
    """Third parameter byte: bChainParameter, bClockStatus or bProtocolNum."""
    data: bytes

    @property
    def icc_status(self) -> int:
        """bmICCStatus: 0 present and active, 1 present and inactive, 2 absent."""
        return self.status & wire.ICC_STATUS_MASK

    @property
    def failed(self) -> bool:
        """True if bmCommandStatus says "command failed" (bError meaningful)."""
        return bool(self.status & wire.COMMAND_FAILED)

    @classmethod
    def from_message(cls, message: bytes) -> Answer:
        """Split a received CCID answer (length already validated by the decoder)."""
        kind, length, slot, seq, p1, p2, p3 = wire.unpack_header(message)
        if length != len(message) - wire.HEADER_SIZE:
            raise FramingError(f"dwLength {length} but {len(message) - wire.HEADER_SIZE} data bytes")
        return cls(kind, slot, seq, p1, p2, p3, bytes(message[wire.HEADER_SIZE :]))


_CARD_ERRORS: dict[int, tuple[type[CardError], str]] = {
    wire.ERR_ICC_MUTE: (CardMuteError, "card mute"),
    wire.ERR_XFR_PARITY_ERROR: (ParityError, "parity error"),
    wire.ERR_XFR_OVERRUN: (OverrunError, "overrun"),
    wire.ERR_HW_ERROR: (HardwareError, "reader hardware error"),
    wire.ERR_BAD_ATR_TS: (BadATRError, "bad ATR (TS)"),
    wire.ERR_BAD_ATR_TCK: (BadATRError, "bad ATR (TCK or structure)"),
    wire.ERR_ICC_PROTOCOL_NOT_SUPPORTED: (ProtocolNotSupportedError, "card protocol not supported"),
    wire.ERR_ICC_CLASS_NOT_SUPPORTED: (CardError, "card class (voltage) not supported"),
    wire.ERR_PROCEDURE_BYTE_CONFLICT: (ProcedureByteConflictError, "T=0 procedure byte conflict"),
    wire.ERR_DEACTIVATED_PROTOCOL: (CardError, "protocol deactivated"),
    wire.ERR_BUSY_WITH_AUTO_SEQUENCE: (SlotBusyError, "busy with an automatic sequence"),
    wire.ERR_CMD_SLOT_BUSY: (SlotBusyError, "slot busy"),
    wire.ERR_CMD_ABORTED: (CommandAbortedError, "command aborted"),
}


def check_answer(answer: Answer, request_type: int) -> Answer:
    """Return ``answer`` if it reports success; raise the matching exception otherwise.

    Absent card → CardAbsentError; CCID bError → CardError subclasses; bError 00 →
    NotSupportedError; vendor bError (0x81..0xC0) → VendorCommandError; other 01..7F
    (bad header byte index) → ReaderProtocolError.
    """
    if not answer.failed:
        return answer
    name = message_name(request_type)
    code = answer.error
    if answer.icc_status == wire.ICC_ABSENT and code in (wire.ERR_ICC_MUTE, 0):
        raise CardAbsentError(f"{name}: no card in slot {answer.slot}", code)
    if code in _CARD_ERRORS:
        cls, text = _CARD_ERRORS[code]
        raise cls(f"{name} on slot {answer.slot}: {text} (bError {code:02X})", code)
    if code == wire.ERR_CMD_NOT_SUPPORTED:
        raise NotSupportedError(f"{name}: command not supported by the reader")
    if 0x81 <= code <= 0xC0:
        raise VendorCommandError(f"{name}: reader error 0x{code:02X}", code)
    raise ReaderProtocolError(f"{name}: the reader rejected header byte {code} (bError {code:02X})")


def unsupported_info() -> ReaderInfo:
    """Placeholder `ReaderInfo` for a reader that does not know GET_INFO (stock GemPC Twin firmware)."""
    return ReaderInfo(
        protocol_version=0, firmware_version="", board="unknown", slots=1, native_max_message=0, features=0
    )


class _Failure(Exception):
    """One attempt failed (internal): ``kind`` is 'nak', 'bad' or 'timeout'."""

    def __init__(self, kind: str, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(kind)


class LinkClient:
    """CCID requests over a `Transport` (see the module docstring for the policies)."""

    def __init__(
        self,
        transport: Transport,
        *,
        native: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        native_max_message: int = NATIVE_MAX_MESSAGE,
        first_seq: int | None = None,
        trace: TraceRecorder | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.transport = transport
        self.want_native = native
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_wait_s = max_wait_s
        self.wanted_max_message = max(NATIVE_MIN_MESSAGE, min(native_max_message, NATIVE_MAX_MESSAGE))
        self.trace = trace
        self._native = False
        self._max_message = COMPAT_MAX_MESSAGE
        self._seq = random.randrange(256) if first_seq is None else first_seq & 0xFF
        self._last_seq: dict[int, int] = {}
        self._reader = FrameReader()
        self._lock = threading.RLock()
        self._abort = threading.Event()
        self._keep_rest = False  # an Abort is in flight: frames after an answer are its answer
        self._backlog: list[LinkEvent] = []  # events read after an outcome, for the next wait
        self._listeners: list[SlotChangeListener] = []
        self.slot_changes: deque[SlotChange] = deque(maxlen=SLOT_CHANGE_QUEUE)
        """Card-movement notifications received so far (oldest first, bounded)."""
        self.info: ReaderInfo | None = None
        self.retransmissions = 0
        self.stale_frames = 0

    # --- state ---

    @property
    def native(self) -> bool:
        """True once native framing was negotiated."""
        return self._native

    @property
    def max_message(self) -> int:
        """Largest CCID message (header + data) in the current framing."""
        return self._max_message

    @property
    def max_data(self) -> int:
        """Largest abData in the current framing."""
        return self._max_message - wire.HEADER_SIZE

    def add_listener(self, listener: SlotChangeListener) -> None:
        """Call ``listener(SlotChange)`` for every card-movement notification (from the reading thread)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: SlotChangeListener) -> None:
        """Stop notifying ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # --- negotiation ---

    def open(self) -> ReaderInfo:
        """GET_INFO, then native mode when both sides want it (module docstring); return the info."""
        with self._lock:
            # Bytes left on the line by an earlier session (a late answer, keep-alives) must not
            # be taken for the answer to GET_INFO (ccid-serial.md pitfall 1).
            self._drain()
            try:
                payload = self.vendor(vendor.CMD_GET_INFO, framing_native=False)
            except ReaderProtocolError as exc:  # "not supported", vendor error, or a foreign answer
                log.info("reader does not know GET_INFO (%s): stock compat reader", exc)
                self.info = unsupported_info()
                return self.info
            self.info = parse_info(payload)
            log.info(
                "reader %s firmware %s, %d slot(s), native max %d",
                self.info.board,
                self.info.firmware_version,
                self.info.slots,
                self.info.native_max_message,
            )
            if self.want_native and self.info.native_max_message > 0:
                self._negotiate_native(min(self.wanted_max_message, self.info.native_max_message))
            return self.info

    def _negotiate_native(self, wanted: int) -> None:
        wanted = max(wanted, NATIVE_MIN_MESSAGE)
        try:
            payload = self.vendor(vendor.CMD_NATIVE, wanted.to_bytes(4, "little"), framing_native=False)
        except (NotSupportedError, VendorCommandError, ReaderProtocolError) as exc:
            log.warning("native mode refused (%s): staying in compat mode", exc)
            return
        if len(payload) != NativeAnswer.sizeof():
            log.warning("malformed NATIVE answer (%d bytes): staying in compat mode", len(payload))
            return
        answer = NativeAnswer.parse(payload)
        granted = int(answer.max_message)
        if answer.check != vendor.CHECK_CRC32 or not NATIVE_MIN_MESSAGE <= granted <= min(wanted, NATIVE_MAX_MESSAGE):
            log.warning("NATIVE answer out of contract (max %d, check %d): staying in compat mode", granted, answer.check)
            return
        self._native = True
        self._max_message = granted
        log.info("native framing, max message %d bytes", granted)
        if self.trace:
            self.trace.note(f"native framing negotiated, max message {granted}")

    def vendor(
        self,
        command: int,
        payload: bytes = b"",
        *,
        slot: int = 0,
        framing_native: bool | None = None,
        timeout_s: float | None = None,
    ) -> bytes:
        """Send a cpsdi vendor Escape ``CD <command> <payload>``; return the answer payload."""
        answer = self.request(
            wire.PC_TO_RDR_ESCAPE, slot, vendor_request(command, payload), framing_native=framing_native,
            timeout_s=timeout_s,
        )
        check_answer(answer, wire.PC_TO_RDR_ESCAPE)
        return vendor_answer_payload(command, answer.data)

    def set_line(self, baudrate: int, stop_bits: int = 2) -> None:
        """Move the link to ``baudrate`` 8N``stop_bits`` (vendor LINK_SETTINGS ``CD 03``).

        The reader answers at the old settings, then switches; this end switches after the
        answer and confirms with GET_INFO at the new settings (the reader keeps them only if
        a good frame comes within 2 s, protocol/README.md §3). If the reader does not answer
        there, this end goes back to the old settings, checks the reader is there too, and
        raises `ReaderProtocolError`.

        Raises:
            VendorCommandError: the reader refused (code 82: a rate or stop bits it cannot do).
            ReaderProtocolError: the reader was lost at the new settings (the link is back).
        """
        if stop_bits not in (1, 2):
            raise ValueError("stop_bits is 1 or 2")
        if not 0 < baudrate < 1 << 32:
            raise ValueError("baudrate out of range")
        with self._lock:
            old = self.transport.line
            payload = baudrate.to_bytes(4, "little") + bytes([stop_bits])
            answer = self.vendor(vendor.CMD_LINK_SETTINGS, payload)
            if answer != payload:
                raise ReaderProtocolError(f"LINK_SETTINGS answered {answer.hex()} for {payload.hex()}")
            self.transport.set_line(baudrate, stop_bits)
            try:
                self.vendor(vendor.CMD_GET_INFO, timeout_s=LINE_CONFIRM_TIMEOUT_S)
            except ReaderError as exc:
                log.warning("no answer at %d bd 8N%d (%s): back to %d bd 8N%d", baudrate, stop_bits, exc, *old)
                self.transport.set_line(*old)
                self.vendor(vendor.CMD_GET_INFO)  # the reader went back after its 2 s probation
                raise ReaderProtocolError(
                    f"the reader did not answer at {baudrate} bd 8N{stop_bits}; the link is back at {old[0]} bd"
                ) from exc
            log.info("link at %d bd 8N%d", baudrate, stop_bits)
            if self.trace:
                self.trace.note(f"link at {baudrate} bd 8N{stop_bits}")

    # --- requests ---

    def abort(self) -> None:
        """Abort the request in progress (thread-safe; nothing happens when none is)."""
        self._abort.set()

    def _next_seq(self, slot: int) -> int:
        seq = self._seq
        if self._last_seq.get(slot) == seq:
            seq = (seq + 1) & 0xFF  # never reuse the slot's last bSeq: it would be a "retransmission"
        self._seq = (seq + 1) & 0xFF
        self._last_seq[slot] = seq
        return seq

    def request(
        self,
        message_type: int,
        slot: int = 0,
        data: bytes | bytearray | memoryview = b"",
        *,
        timeout_s: float | None = None,
        framing_native: bool | None = None,
        **params: Any,
    ) -> Answer:
        """Send one request and return its answer (not checked: see `check_answer`).

        Args:
            message_type: a PC_to_RDR message type (``cpsdi_proto.ccid``).
            slot: bSlot.
            data: abData.
            timeout_s: per-wait timeout for this request (restarted by keep-alives).
            framing_native: force a framing (negotiation uses compat); None = current.
            **params: named header fields of that message (``bPowerSelect``, ``bBWI``…).

        Raises:
            ReaderTimeoutError: no answer after every retransmission.
            FramingError: NAKs or bad checks after every retransmission.
            ValueError: the message does not fit the current framing.
        """
        expected = wire.answer_type(message_type)
        if not expected:
            raise ValueError(f"0x{message_type:02X} is not a PC_to_RDR request")
        native = self._native if framing_native is None else framing_native
        limit = self._max_message if native else COMPAT_MAX_MESSAGE
        if wire.HEADER_SIZE + len(data) > limit:
            raise ValueError(f"{message_name(message_type)} of {len(data)} data bytes exceeds the link limit {limit - wire.HEADER_SIZE}")
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        with self._lock:
            self._abort.clear()
            abortable = message_type != wire.PC_TO_RDR_ABORT
            seq = self._next_seq(slot)
            message = build_message(message_type, slot, seq, bytes(data), **params)
            frame = encode_frame(message, native=native)
            failure: _Failure | None = None
            for attempt in range(self.retries + 1):
                if attempt:
                    self.retransmissions += 1
                    self._drain()
                    log.info(
                        "retransmitting %s slot %d seq %d (attempt %d, after %s)",
                        message_name(message_type), slot, seq, attempt + 1, failure.kind if failure else "?",
                    )
                    if self.trace:
                        self.trace.link(f"retransmission {attempt} (after {failure.kind if failure else '?'})")
                self._send(frame, native, message_type, slot, seq)
                try:
                    return self._await_abortable(native, expected, slot, seq, wait_s, abortable)
                except _Failure as exc:
                    failure = exc
            assert failure is not None
            what = f"{message_name(message_type)} slot {slot} seq {seq}"
            if failure.kind == "timeout":
                raise ReaderTimeoutError(
                    f"no answer to {what} after {self.retries + 1} transmissions ({wait_s:.2f} s each)"
                )
            raise FramingError(f"{what}: {failure.detail or failure.kind} after {self.retries + 1} transmissions")

    def _send(self, frame: bytes, native: bool, message_type: int, slot: int, seq: int) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("H>R %s", redact_frame(frame, native))
        if self.trace:
            self.trace.frame("tx", frame, native, f"{message_name(message_type)} slot {slot} seq {seq}")
        self.transport.write(frame)

    def _drain(self) -> None:
        stale = self.transport.read_available(DRAIN_QUIET_S, DRAIN_MAX_S)
        self._reader.reset()
        if not stale:
            return
        log.debug("drained %d stale bytes before a retransmission", len(stale))
        # Keep the card-movement news that may be in there; everything else is stale.
        scratch = FrameReader()
        for event in scratch.feed(stale):
            if isinstance(event, SlotChange):
                self._slot_change(event)
        if self.trace:
            self.trace.link(f"drained {len(stale)} stale bytes")

    def _slot_change(self, event: SlotChange) -> None:
        log.info("card movement: bmSlotICCState %02X", event.bitmap)
        if self.trace:
            self.trace.link("card movement", f"50 {event.bitmap:02X}")
        self.slot_changes.append(event)
        for listener in list(self._listeners):
            listener(event)

    def _await_abortable(
        self, native: bool, expected: int, slot: int, seq: int, wait_s: float, abortable: bool
    ) -> Answer:
        """`_await`, sending an Abort on `abort()` or Ctrl-C and collecting its answer too."""
        abort_seq: int | None = None

        def check_abort() -> None:
            nonlocal abort_seq
            if abortable and abort_seq is None and self._abort.is_set():
                abort_seq = self._send_abort(native, slot)

        self._backlog.clear()
        self._keep_rest = False
        try:
            answer = self._await(native, expected, slot, seq, wait_s, check_abort)
        except KeyboardInterrupt:
            if abortable:
                if abort_seq is None:
                    abort_seq = self._send_abort(native, slot)
                try:
                    self._await(native, expected, slot, seq, ABORT_WAIT_S)
                    self._await(native, wire.RDR_TO_PC_SLOT_STATUS, slot, abort_seq, ABORT_WAIT_S)
                except (_Failure, ReaderTimeoutError) as exc:
                    log.warning("interrupted: the reader did not confirm the Abort (%s)", exc)
            raise
        if abort_seq is not None:
            try:
                self._await(native, wire.RDR_TO_PC_SLOT_STATUS, slot, abort_seq, wait_s)
            except _Failure as exc:
                log.warning("no answer to the Abort of slot %d (%s); the next request drains it", slot, exc.kind)
            finally:
                self._keep_rest = False
                self._backlog.clear()
        return answer

    def _send_abort(self, native: bool, slot: int) -> int:
        self._keep_rest = True
        seq = self._next_seq(slot)
        log.info("aborting the request in progress on slot %d (Abort seq %d)", slot, seq)
        frame = encode_frame(build_message(wire.PC_TO_RDR_ABORT, slot, seq, b""), native=native)
        self._send(frame, native, wire.PC_TO_RDR_ABORT, slot, seq)
        return seq

    def _await(
        self,
        native: bool,
        expected: int,
        slot: int,
        seq: int,
        wait_s: float,
        on_wait: Callable[[], None] | None = None,
    ) -> Answer:
        start = time.monotonic()
        deadline = start + wait_s
        cap = start + self.max_wait_s
        found: Answer | None = None
        failure: _Failure | None = None
        backlog, self._backlog = self._backlog, []
        while found is None and failure is None:
            if backlog:  # events read after the previous outcome (an Abort's answer)
                events, backlog = backlog, []
            else:
                try:
                    events = list(self._reader.feed(self._read_chunk(deadline, cap, on_wait)))
                except ReaderTimeoutError:
                    self._reader.reset()
                    if self.trace:
                        self.trace.link(f"timeout after {time.monotonic() - start:.3f} s")
                    raise _Failure("timeout") from None
                if not events:
                    continue
            for event in events:
                if found is not None or failure is not None:
                    # after the outcome: card movement, and the answer to an Abort in flight
                    if isinstance(event, SlotChange):
                        self._slot_change(event)
                    elif self._keep_rest:
                        self._backlog.append(event)
                    elif isinstance(event, Frame):
                        self.stale_frames += 1
                        log.debug("frame after the answer discarded: %s", redact_frame(self._reseal(event), event.native))
                    continue
                if isinstance(event, KeepAlive):
                    deadline = time.monotonic() + wait_s
                    if self.trace:
                        self.trace.link("keep-alive", f"{event.value:02X}")
                elif isinstance(event, SlotChange):
                    deadline = time.monotonic() + wait_s
                    self._slot_change(event)
                elif isinstance(event, Nak):
                    log.debug("R>H NAK")
                    if self.trace:
                        self.trace.link("NAK", "03 15 16")
                    failure = _Failure("nak", "NAK from the reader")
                elif isinstance(event, BadFrame):
                    shown = redact_bad_frame(event.frame)
                    log.debug("R>H frame with a bad check: %s", shown)
                    if self.trace:
                        self.trace.link("bad check", shown)
                    failure = _Failure("bad", "answer with a bad LRC/CRC")
                elif isinstance(event, Oversize):
                    log.debug("R>H oversize header skipped")
                elif isinstance(event, Frame):
                    found = self._on_frame(event, native, expected, slot, seq)
        if failure is not None:
            raise failure
        assert found is not None
        return found

    def _read_chunk(self, deadline: float, cap: float, on_wait: Callable[[], None] | None) -> bytes:
        """Bytes before ``min(deadline, cap)``; with ``on_wait``, b"" after each poll slice."""
        # Transport.read returns data even past the deadline: check it here too, so a stream
        # of garbage or endless keep-alives cannot hold us past it (or the cap).
        now = time.monotonic()
        if now >= min(deadline, cap):
            raise ReaderTimeoutError("deadline passed")
        if on_wait is None:
            return self.transport.read(min(deadline, cap))
        on_wait()
        end = min(deadline, cap, now + ABORT_POLL_S)
        try:
            return self.transport.read(end)
        except ReaderTimeoutError:
            if end >= min(deadline, cap):
                raise
            return b""  # only the poll slice passed: look at abort() again

    @staticmethod
    def _reseal(event: Frame) -> bytes:
        return encode_frame(event.message, native=event.native)

    def _on_frame(self, event: Frame, native: bool, expected: int, slot: int, seq: int) -> Answer | None:
        message = event.message
        frame = self._reseal(event)
        kind = message[0]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("R>H %s", redact_frame(frame, event.native))
        if self.trace:
            self.trace.frame("rx", frame, event.native, message_name(kind))
        if wire.is_request(kind):
            # compat echo (full or header-only); never expected in native mode but harmless
            return None
        _, _, got_slot, got_seq, _, _, _ = wire.unpack_header(message)
        if event.native != native or kind != expected or got_slot != slot or got_seq != seq:
            self.stale_frames += 1
            log.info(
                "stale frame discarded: %s slot %d seq %d (waiting for %s slot %d seq %d)",
                message_name(kind), got_slot, got_seq, message_name(expected), slot, seq,
            )
            return None
        return Answer.from_message(message)

    def poll_events(self, timeout_s: float) -> None:
        """Read the idle line for up to ``timeout_s``: deliver card-movement bytes, drop the rest."""
        with self._lock:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                try:
                    chunk = self.transport.read(deadline)
                except ReaderTimeoutError:
                    return
                for event in self._reader.feed(chunk):
                    if isinstance(event, SlotChange):
                        self._slot_change(event)
                    elif isinstance(event, Frame):
                        self.stale_frames += 1
                        log.debug("unsolicited frame discarded: %s", redact_frame(self._reseal(event), event.native))

    def close(self) -> None:
        """Close the transport."""
        self.transport.close()
