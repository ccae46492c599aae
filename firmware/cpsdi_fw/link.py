"""Link server: CCID messages over the serial line, compat (GemPC Twin) and native framing.

DESIGN.md §1, protocol/README.md §1, ccid-serial.md §1 and §5.8. The framing itself is
``cpsdi_proto`` (``FrameDecoder``, ``seal_compat``, ``seal_echo_header``, ``seal_native``);
this module only drives it:

* ``poll()`` is one non-blocking main-loop step: it reads what the HostPort has (at most
  ``_READS_PER_POLL`` chunks), feeds the decoder and serves every complete request.
  A compat request is echoed first (``echo``: ECHO_HEADER by default — a header-only echo,
  dwLength 0, which every libccid echo type accepts, GemPCPinPad included, §1.3;
  ECHO_FULL; or ECHO_NONE for the SEC1210 types), then answered in compat framing. A
  native request is never echoed and answered in native framing: **the reader answers each
  request in the framing it came in**.
* A frame with a bad LRC/CRC is answered ``03 15 16`` (NAK) and dropped.
* Inter-byte timeout ``INTER_BYTE_MS`` = 100 ms: a partial frame with no new byte for that
  long is dropped (``FrameDecoder.reset()``). libccid writes a whole frame with one
  ``write()`` (26 ms for 274 bytes at 115 200 bd) and its shortest read timeout is 100 ms
  (open, §3), so a frame stalled longer than that has been given up by the host. The clock
  only runs while the server is polling: a partial frame left behind while a card operation
  ran is judged from the end of that operation.
* Exactly once (DESIGN §1): per slot the last request executed (all its bytes) and its
  answer are kept. A request whose bSlot, bSeq **and** bytes equal that request is answered
  from the cache without executing it (``retransmits``). Same bSeq with different bytes is
  a new request and is executed: libccid's 8-bit bSeq wraps, and a host restart starts
  anywhere. A request with an invalid bSlot is answered (bError 05) and not cached. The
  cached answer is re-framed in the retransmission's framing; one too long for it (a
  native answer > 271 bytes asked again in compat framing) is not reused: executed again.
* Never raises: a bug in the dispatch is caught, counted (``errors``) and answered with
  the right answer type, bStatus 0x40 | bmICCStatus (``service.icc_status``, 1 if that
  fails too) and bError HW_ERROR (FB); a bug in the server itself drops the partial
  input (counted too).
* ``keepalive()`` is the slots' idle hook during long card operations: one ``0x80`` when
  ``KEEPALIVE_MS`` (500 ms, libccid restarts its read timeout on each, §1.2) passed since
  the last byte sent to the host. It also **watches for an Abort** (CCID §6.1.13; over a
  serial line there is no control pipe, so the bulk PC_to_RDR_Abort alone asks for it):
  host bytes that arrive while a request runs are moved into a bounded stash
  (``_STASH_SIZE``; beyond it they wait in the port) and scanned by a small second decoder;
  a good Abort frame for the busy slot makes ``keepalive()`` return True, and the slot
  stops the exchange (``slot.py``: the card is deactivated, the command answers bError
  CMD_ABORTED). The stash is served by the next ``poll()`` in arrival order, after what was
  left of the chunk being served, so nothing the host sent is lost and the Abort itself is
  answered (SlotStatus) after the aborted command. libccid never sends anything before
  the answer (§5.7); the cpsdi host library sends an Abort on request or on Ctrl-C.
* Line settings (vendor Escape LINK_SETTINGS, ``ccid_service``): ``line_after_answer`` keeps
  the new baud rate / stop bits until the answer has been sent at the old ones, then switches
  the HostPort. The switch is on probation: unless a good frame arrives at the new settings
  within ``LINE_CONFIRM_MS`` (the host confirms at once, e.g. with GET_INFO) the old ones come
  back (``line_reverts``), so a host that missed the answer is never locked out.
* ``notify(bitmap)``: unsolicited ``50 bmSlotICCState``. Sent when ``notify_compat`` is
  True (off by default: libccid only logs it, §1.3) or once the host spoke native framing.

Counters for diagnostics (GET_COUNTERS, see ``write_counters``): ``frames`` (requests
served), ``naks``, ``bad_checks``, ``garbage``, ``oversize``, ``retransmits``, ``errors``,
``keepalives``, ``timeouts`` (partial frames dropped).
"""

from cpsdi_proto import ccid, escape
from cpsdi_proto.compat import const
from cpsdi_proto.decoder import EV_BAD_CHECK, EV_FRAME, EV_NONE, FrameDecoder
from cpsdi_proto.gempc import (
    COMPAT_MAX_MESSAGE,
    KEEPALIVE,
    MESSAGE_OFFSET,
    NAK_FRAME,
    seal_compat,
    seal_echo_header,
)
from cpsdi_proto.native import NATIVE_OVERHEAD, seal_native

from cpsdi_fw.hal import ticks_diff

ECHO_NONE = const(0)  # SEC1210 / GemCore types, native-only hosts
ECHO_HEADER = const(1)  # header-only echo (dwLength 0): every echo type, smallest
ECHO_FULL = const(2)  # the whole command frame, as a real GemPC Twin

INTER_BYTE_MS = const(100)
LINE_CONFIRM_MS = const(2000)
KEEPALIVE_MS = const(500)
_CHUNK = const(64)
_READS_PER_POLL = const(16)  # bounded work per poll: 1 KiB of host bytes
_EVENTS_PER_CHUNK = const(_CHUNK + 1)
_STASH_SIZE = const(128)  # host bytes kept aside while a request runs (an Abort is 13-16)

# Tags of the GET_COUNTERS TLVs (u32 LE each); the CCID service appends its own
CTR_FRAMES = escape.COUNTER_FRAMES
CTR_NAKS = escape.COUNTER_NAKS
CTR_BAD_CHECKS = escape.COUNTER_BAD_CHECKS
CTR_GARBAGE = escape.COUNTER_GARBAGE
CTR_OVERSIZE = escape.COUNTER_OVERSIZE
CTR_RETRANSMITS = escape.COUNTER_RETRANSMITS
CTR_ERRORS = escape.COUNTER_ERRORS
CTR_KEEPALIVES = escape.COUNTER_KEEPALIVES
CTR_TIMEOUTS = escape.COUNTER_TIMEOUTS
COUNTERS_SIZE = const(54)  # 9 TLVs of 6 bytes


class LinkServer:
    """Serves CCID requests from ``host_port`` with ``service`` (see module docstring).

    ``service.handle(req, off, n, resp, resp_off, native, max_message)`` writes the complete
    answer message (header + data) at ``resp[resp_off:]`` and returns its length.
    ``service.slot_count`` bounds the per-slot caches.
    """

    def __init__(self, host_port, service, *, echo: int = ECHO_HEADER, native_max_message: int = 1034) -> None:
        self.port = host_port
        self.service = service
        self.echo = echo
        self.native_max_message = native_max_message
        self.notify_compat = False
        self.native_seen = False
        self.dec = FrameDecoder(False, native_max_message)
        biggest = COMPAT_MAX_MESSAGE if COMPAT_MAX_MESSAGE > native_max_message else native_max_message
        self._max = biggest
        self._rx = bytearray(_CHUNK)
        self._echo = bytearray(ccid.HEADER_SIZE + 3)
        self._ka = bytearray(1)
        self._ka[0] = KEEPALIVE
        self._notify = bytearray(2)
        self._notify[0] = ccid.RDR_TO_PC_NOTIFY_SLOT_CHANGE
        self._scratch = bytearray(ccid.HEADER_SIZE + NATIVE_OVERHEAD)  # answers without a slot cache
        slots = service.slot_count
        self._slots = slots
        self._req = [bytearray(biggest) for _ in range(slots)]  # last request executed per slot
        self._req_len = [0] * slots  # 0: none
        self._resp = [bytearray(biggest + NATIVE_OVERHEAD) for _ in range(slots)]  # its answer at offset 2
        self._resp_len = [0] * slots
        self._pending = 0  # bytes of the current chunk not fed yet
        self._pos = 0
        now = host_port.ticks_ms()
        self._last_rx_ms = now
        self._last_tx_ms = now
        self.busy = False  # a request is being executed (keep-alives allowed)
        self.busy_slot = 0  # bSlot of that request
        self.abort_requested = False  # an Abort for busy_slot arrived while it ran
        self.aborts = 0  # Aborts seen during a request
        self._stash = bytearray(_STASH_SIZE)
        self._stash_len = 0
        self._stash_seen = 0  # stash bytes already scanned by the side decoder
        self._chunk_sniffed = False
        self._side = FrameDecoder(False, ccid.HEADER_SIZE)  # finds an Abort among the stash bytes
        self._line_next_baud = 0  # LINK_SETTINGS to apply after the answer (0: none)
        self._line_next_stop = 0
        self._line_old_baud = 0  # settings to go back to while on probation (0: not on probation)
        self._line_old_stop = 0
        self._line_since_ms = 0
        self.line_reverts = 0
        self.reset_counters()
        service.link = self

    # -- counters -------------------------------------------------------------------
    @property
    def bad_checks(self) -> int:
        return self.dec.bad_checks

    @property
    def garbage(self) -> int:
        return self.dec.garbage

    @property
    def oversize(self) -> int:
        return self.dec.oversize

    def write_counters(self, buf, off: int) -> int:
        """The counters as TLVs (tag, 04, u32 LE) at ``buf[off:]``; returns COUNTERS_SIZE."""
        dec = self.dec
        values = (self.frames, self.naks, dec.bad_checks, dec.garbage, dec.oversize, self.retransmits,
                  self.errors, self.keepalives, self.timeouts)
        tag = CTR_FRAMES
        for v in values:
            buf[off] = tag
            buf[off + 1] = 4
            buf[off + 2] = v & 0xFF
            buf[off + 3] = (v >> 8) & 0xFF
            buf[off + 4] = (v >> 16) & 0xFF
            buf[off + 5] = (v >> 24) & 0xFF
            off += 6
            tag += 1
        return COUNTERS_SIZE

    def reset_counters(self) -> None:
        dec = self.dec
        dec.bad_checks = 0
        dec.garbage = 0
        dec.oversize = 0
        dec.frames = 0
        self.frames = 0
        self.naks = 0
        self.retransmits = 0
        self.errors = 0
        self.keepalives = 0
        self.timeouts = 0

    # -- main loop ------------------------------------------------------------------
    def poll(self) -> int:
        """Read and serve what the host sent; never blocks, never raises. Returns the number
        of requests answered."""
        served = 0
        try:
            served = self._poll()
        except Exception:  # a bug must never take the link down
            self.errors += 1
            self.dec.reset()
            self._pending = 0
        return served

    def _poll(self) -> int:
        port = self.port
        dec = self.dec
        served = 0
        if self._line_old_baud and ticks_diff(port.ticks_ms(), self._line_since_ms) > LINE_CONFIRM_MS:
            self._line_revert()  # nothing good came at the new line settings
        for _ in range(_READS_PER_POLL):
            if self._pending == 0:
                n = self._unstash() if self._stash_len else port.read_into(self._rx, 0, _CHUNK)
                if n <= 0:
                    if dec.in_frame and ticks_diff(port.ticks_ms(), self._last_rx_ms) > INTER_BYTE_MS:
                        dec.reset()
                        self.timeouts += 1
                    return served
                self._last_rx_ms = port.ticks_ms()
                self._pos = 0
                self._pending = n
            end = self._pos + self._pending
            for _ in range(_EVENTS_PER_CHUNK):
                i = dec.feed(self._rx, self._pos, end)
                self._pending = end - i
                self._pos = i
                kind = dec.kind
                if kind == EV_FRAME:
                    self._line_old_baud = 0  # a good frame: the line settings are confirmed
                    self._serve()
                    served += 1
                elif kind == EV_BAD_CHECK:
                    self._write(NAK_FRAME, 0, 3)
                    self.naks += 1
                    self._log(escape.EVENT_LINK_BAD_CHECK)
                elif kind == EV_NONE:
                    break
            self._last_rx_ms = port.ticks_ms()  # time spent serving does not count as silence
        return served

    def line_after_answer(self, baud: int, stop_bits: int) -> None:
        """Switch the host port to ``baud`` / ``stop_bits`` once the current answer is sent."""
        self._line_next_baud = baud
        self._line_next_stop = stop_bits

    def _line_switch(self) -> None:
        port = self.port
        baud = self._line_next_baud
        self._line_next_baud = 0
        if baud == port.baud and self._line_next_stop == port.stop_bits:
            return
        if not self._line_old_baud:  # keep the last confirmed settings to go back to
            self._line_old_baud = port.baud
            self._line_old_stop = port.stop_bits
        port.set_line(baud, self._line_next_stop)
        self._line_since_ms = port.ticks_ms()
        self.dec.reset()

    def _line_revert(self) -> None:
        baud = self._line_old_baud
        self._line_old_baud = 0
        self.line_reverts += 1
        self.port.set_line(baud, self._line_old_stop)
        self.dec.reset()

    def _unstash(self) -> int:
        """Move the oldest stash bytes (at most a chunk) into ``_rx``; return their count."""
        stash = self._stash
        n = self._stash_len if self._stash_len < _CHUNK else _CHUNK
        rx = self._rx
        for k in range(n):
            rx[k] = stash[k]
        rest = self._stash_len - n
        for k in range(rest):
            stash[k] = stash[n + k]
        self._stash_len = rest
        self._stash_seen = self._stash_seen - n if self._stash_seen > n else 0
        return n

    def _sniff(self) -> None:
        """Stash what the host sent while a request runs; note an Abort for the busy slot."""
        room = _STASH_SIZE - self._stash_len
        if room > 0:
            n = self.port.read_into(self._stash, self._stash_len, room)
            if n > 0:
                self._stash_len += n
        if self._pending and not self._chunk_sniffed:
            # the rest of the chunk holding the running request (host bytes sent with it)
            self._chunk_sniffed = True
            self._side_scan(self._rx, self._pos, self._pos + self._pending)
        self._stash_seen = self._side_scan(self._stash, self._stash_seen, self._stash_len)

    def _side_scan(self, buf, i: int, end: int) -> int:
        """Feed ``buf[i:end]`` to the side decoder, noting an Abort for the busy slot."""
        side = self._side
        for _ in range(_STASH_SIZE + 1):
            if i >= end:
                break
            i = side.feed(buf, i, end)
            if side.kind == EV_FRAME:
                b = side.buf
                if b[MESSAGE_OFFSET + ccid.OFF_TYPE] == ccid.PC_TO_RDR_ABORT \
                        and b[MESSAGE_OFFSET + ccid.OFF_SLOT] == self.busy_slot and not self.abort_requested:
                    self.abort_requested = True
                    self.aborts += 1
            elif side.kind == EV_NONE:
                break
        return i

    def _log(self, event: int) -> None:
        # link events in the service's event log (slot FF: the link, not a card)
        log = getattr(self.service, "event", None)
        if log is not None:
            log(event, 0xFF, self.naks & 0xFF, 0)

    def _write(self, buf, start: int, end: int) -> None:
        self.port.write(buf, start, end)
        self._last_tx_ms = self.port.ticks_ms()

    def _serve(self) -> None:
        dec = self.dec
        buf = dec.buf
        native = dec.native
        n = dec.message_len
        if native:
            self.native_seen = True
        elif self.echo == ECHO_FULL:
            self._write(buf, 0, dec.frame_len)
        elif self.echo == ECHO_HEADER:
            echo = self._echo
            for k in range(ccid.HEADER_SIZE):
                echo[MESSAGE_OFFSET + k] = buf[MESSAGE_OFFSET + k]
            self._write(echo, 0, seal_echo_header(echo, ccid.HEADER_SIZE + 3))
        self.frames += 1
        off = MESSAGE_OFFSET
        slot = buf[off + ccid.OFF_SLOT]
        max_message = self.native_max_message if native else COMPAT_MAX_MESSAGE
        if slot >= self._slots:
            out = self._scratch
            length = self._dispatch(buf, off, n, out, native, ccid.HEADER_SIZE)
            self._send(out, length, native)
            return
        cache = self._req[slot]
        out = self._resp[slot]
        if self._req_len[slot] == n and 0 < self._resp_len[slot] <= max_message:
            same = True
            for k in range(n):
                if cache[k] != buf[off + k]:
                    same = False
                    break
            if same:
                self.retransmits += 1
                self._send(out, self._resp_len[slot], native)
                return
        self._req_len[slot] = 0  # the cache is invalid while the new request runs
        self._resp_len[slot] = 0
        length = self._dispatch(buf, off, n, out, native, max_message)
        if n <= len(cache):
            for k in range(n):
                cache[k] = buf[off + k]
            self._req_len[slot] = n
            self._resp_len[slot] = length
        self._send(out, length, native)

    def _dispatch(self, buf, off: int, n: int, out, native: bool, max_message: int) -> int:
        self.busy = True
        self.busy_slot = buf[off + ccid.OFF_SLOT]
        self.abort_requested = False
        self._side.reset()
        self._chunk_sniffed = False
        self._stash_seen = self._stash_len  # bytes stashed before this request are not for it
        try:
            length = self.service.handle(buf, off, n, out, MESSAGE_OFFSET, native, max_message)
            if length < ccid.HEADER_SIZE or length > max_message:
                raise ValueError
        except Exception:
            self.errors += 1
            length = self._hw_error(buf, off, out)
        self.busy = False
        self.abort_requested = False
        return length

    def _hw_error(self, buf, off: int, out) -> int:
        answer = ccid.answer_type(buf[off + ccid.OFF_TYPE]) or ccid.RDR_TO_PC_SLOT_STATUS
        try:
            icc = self.service.icc_status(buf[off + ccid.OFF_SLOT]) & ccid.ICC_STATUS_MASK
        except Exception:
            icc = ccid.ICC_INACTIVE
        ccid.pack_header(out, MESSAGE_OFFSET, answer, 0, buf[off + ccid.OFF_SLOT], buf[off + ccid.OFF_SEQ],
                         ccid.COMMAND_FAILED | icc, ccid.ERR_HW_ERROR, 0)
        return ccid.HEADER_SIZE

    def _send(self, out, length: int, native: bool) -> None:
        if native:
            end = seal_native(out, length)
        else:
            end = seal_compat(out, length)
        self._write(out, 0, end)
        if self._line_next_baud:
            self._line_switch()

    # -- hooks ----------------------------------------------------------------------
    def keepalive(self) -> bool:
        """Idle hook of the slots: one 0x80 if KEEPALIVE_MS passed since the last byte sent;
        True if the host asked to abort the running request (module docstring)."""
        try:
            if self.busy:
                self._sniff()
                if ticks_diff(self.port.ticks_ms(), self._last_tx_ms) >= KEEPALIVE_MS:
                    self._write(self._ka, 0, 1)
                    self.keepalives += 1
        except Exception:
            self.errors += 1
        return self.busy and self.abort_requested

    def notify(self, bitmap: int) -> bool:
        """Send ``50 bitmap`` (CCID §6.3.1) between frames if enabled; True if sent."""
        if self.busy or self.dec.in_frame or not (self.notify_compat or self.native_seen):
            return False
        try:
            self._notify[1] = bitmap & 0xFF
            self._write(self._notify, 0, 2)
        except Exception:
            self.errors += 1
            return False
        return True
