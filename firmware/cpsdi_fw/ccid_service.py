"""CCID service: one CCID request in, its complete answer out (CCID rev 1.1 §6, ccid-serial.md §5).

``CCIDService.handle`` decodes the 10-byte header, checks it and runs the command on the
slot (``slot.Slot``); it never raises on host input and never sends a time extension
(bStatus 0x80 frames break libccid's echo mode, §1.3: the link's keep-alive bytes cover
long card operations). bStatus = bmICCStatus from ``slot.state()`` (0 powered, 1 present
and unpowered, 2 absent), | 0x40 with bError on failure. Errors of the request itself:
bSlot out of range -> bError 05, dwLength wrong for the message -> bError 01, unknown or
unsupported message -> bError 00 (ccid-serial.md §5.8).

Exchange level, per slot:

* **TPDU level** (compat default, what libccid's GemPC Twin type drives): IccPowerOn
  activates without the reader's own PPS and S(IFS) (``Slot.power_on_tpdu``); an XfrBlock
  holding a well-formed PPS request (``FF …``, ``pps.check_request``) is sent to the card
  and answered with the card's PPS response (``Slot.exchange_pps``); otherwise T=0: one
  TPDU with procedure bytes, a case-4 trailing Le dropped (pitfall 7); T=1: the host's
  block out, one card block back within BWT x bBWI / CWT (``Slot.transmit_tpdu``).
* **APDU level** after Escape ``1F 02`` (``1F 01`` goes back), and for every request in
  native framing: IccPowerOn does the PPS/IFSD itself (``Slot.power_on``) and XfrBlock
  carries APDUs (``Slot.transmit_apdu``: T=0 GET RESPONSE/6Cxx, T=1 chaining). libccid
  still sends its PPS there: it is answered without touching the card (echo if it names
  the F/D in force, else without PPS1 = "keep the speed", ``Slot.exchange_pps``).

SetParameters applies what the card can still take (guard time, WI, BWI/CWI, EDC, IFSC,
NAD) and answers the structure in force; a protocol, F/D or convention that the card is
not using gives bError = the index of that byte (1..127, "not changeable", which libccid
takes as success, §5.4) and the request's structure echoed. GetParameters answers the
structure in force; ResetParameters changes nothing (the card keeps its negotiated
F/D: only a new reset could change it) and answers the same. SetDataRateAndClockFrequency
answers the current clock (kHz) and bit rate, nothing can be changed. Abort answers
SlotStatus: an Abort sent while a card exchange runs has already stopped it (``link.py``
finds it between wait slices, ``slot.py`` deactivates the card and the exchange answers
bError CMD_ABORTED); libccid never sends one (§5.7).

Escapes (ccid-serial.md §5.7; protocol/README.md §3 for ``CD``):

* ``02``, ``06``: the firmware string (``"cpsdi <version> <board>"``, at most 49 bytes).
* ``01 01 xx`` (card-movement mode): success, no data. ``B2 …`` (GemPCPinPad strings):
  success, no data. ``1F 02`` / ``1F 01``: APDU / TPDU level for this slot.
* ``6A`` and any other: "not supported" (bStatus 0x40 | icc, bError 00).
* ``CD 01`` GET_INFO: TLVs 01 protocol version, 02 firmware version, 03 board, 04 slot
  count, 05 native max message (u32, 0 without native mode), 06 features (u32), 07 serial,
  08 slot capabilities (2 bytes per slot: voltage classes bitmap, protocols bitmap).
* ``CD 02`` NATIVE: u32 wanted -> u32 min(wanted, own max), 01 (CRC-32); wanted below
  1034 -> ERR_BAD_PARAMETER; no native mode -> ERR_BAD_STATE; not 4 bytes -> ERR_BAD_LENGTH.
  Nothing switches: the reader answers each request in the framing it came in.
* ``CD 03`` LINK_SETTINGS: u32 baud, u8 stop bits -> the same 5 bytes, and the link switches
  once the answer is out (``LinkServer.line_after_answer``: kept only if a good frame arrives
  at the new settings within ``LINE_CONFIRM_MS``); a rate or stop-bit count the board's host
  port cannot do (``HostPort.line_supported``) -> ERR_BAD_PARAMETER; not 5 bytes -> ERR_BAD_LENGTH.
* ``CD 04`` LOOPBACK: the payload back (ERR_BAD_LENGTH if the answer would not fit).
* ``CD 20`` RUN_SCRIPT (``script.py``, README §3, row 20) on the slot named by bSlot: a malformed
  payload -> ERR_SCRIPT_FORMAT / ERR_SCRIPT_TOO_LONG (checked before anything reaches the
  card); a slot at TPDU level in compat framing -> ERR_BAD_STATE; card not active -> ICC_MUTE;
  a card failure at any step -> that CCID bError (the responses of earlier steps are lost).
* ``CD 30`` GET_COUNTERS: TLVs (tag, 04, u32 LE): the link's 01..09 (link.py ``CTR_*``),
  then 10 requests handled, 11 card operations failed (``CTR_*`` here). ``CD 31`` RESET_COUNTERS:
  all to 0 and the event log emptied, answer ``CD 31``.
* ``CD 32`` READ_EVENT_LOG (``eventlog.py``, README §3, row 32): count, lost, entries oldest first.
* ``CD 10``..``CD 16`` UPDATE_BEGIN / WRITE / FINISH / STATUS / CONFIRM / ROLLBACK / ABORT
  (README §3.1): handed to ``self.updater`` (``cpsdi_fw.updater.Updater``, set by
  ``main.Reader``) with the payload after ``CD xx``; its answer follows ``CD xx``, its
  refusals are vendor bErrors (81..83, 90..96). Without an updater -> ERR_UNKNOWN_COMMAND.
* Every other ``CD`` command (SIM_CONTROL): not implemented yet -> ERR_UNKNOWN_COMMAND (0x84).

PC_to_RDR_Secure (CCID §6.1.11, issue #12) only on a board with a keypad (``keypad``, a
``hal.Keypad``; else "not supported" as before): the structure is checked first
(``ccid_secure.SecureRequest``, bError = index of the bad byte; wLevelParameter must be 0,
card active), then the holder types the PIN(s) on the keypad (``pin_entry.collect``), the
reader builds the APDU and sends it as an XfrBlock would be at the slot's level: APDU level
(native, ``1F 02``) as an APDU; TPDU level T=0 as a TPDU; TPDU level T=1 as one I-block made
of bTeoPrologue (NAD, PCB as libccid numbered it), LEN and the EDC in force, answered with
the card's block (an S(WTX) request on the way is answered here, at most ``_WTX_MAX``). The
card's answer comes back as a DataBlock (90 00, 63 Cx, 69 83... untouched). No card
exchange: cancel -> bError EF, timeout -> F0, host Abort -> FF, card removed -> FE, new PIN
and confirmation differ -> DataBlock ``64 02`` (PC/SC part 10 convention). Every buffer that
held digits (entries, APDU, T=1 block, the T=1 engine's copy) is overwritten before the
answer leaves. GET_INFO then announces FEATURE_PIN_PAD and TLV 09 (bPINSupport 03, display
lines and characters, max digits).

Event log (``self.events``): at each request the presence of every slot is compared with the
last one seen (card inserted / removed; a removal and re-insertion between two requests is not
seen), IccPowerOn results (protocol and level, or the bError), IccPowerOff, card failures of
XfrBlock and RUN_SCRIPT, and vendor Escape errors (bError 81..C0). Times are the link's
HostPort milliseconds (0 without a link).
"""

from cpsdi_proto import ccid, escape
from cpsdi_proto.compat import const
from cpsdi_proto.gempc import COMPAT_MAX_MESSAGE
from cpsdi_proto.native import NATIVE_MIN_MESSAGE

from cpsdi_fw import hal, pin_entry, script
from cpsdi_fw.byteorder import put_u32
from cpsdi_fw.ccid_secure import APDU_MAX, MAX_DIGITS, SecureRequest
from cpsdi_fw.eventlog import EventLog
from cpsdi_fw.iso7816_3 import pps, t1, timing

_H = const(10)  # CCID header size
_FW_MAX = const(49)  # libccid's 50-byte buffer, NUL-terminated
_WTX_MAX = const(8)  # S(WTX) requests answered during one Secure T=1 exchange
_MISMATCH = const(-1)  # the new PIN and its confirmation differ

# pin_entry results -> CCID bError (§6.2.6)
_ENTRY_ERRORS = {
    pin_entry.CANCELLED: ccid.ERR_PIN_CANCELLED,
    pin_entry.TIMEOUT: ccid.ERR_PIN_TIMEOUT,
    pin_entry.ABORTED: ccid.ERR_CMD_ABORTED,
    pin_entry.REMOVED: ccid.ERR_ICC_MUTE,
}

CTR_REQUESTS = escape.COUNTER_REQUESTS
CTR_CARD_ERRORS = escape.COUNTER_CARD_ERRORS


def _header(buf, off: int, mtype: int, length: int, slot: int, seq: int, status: int, error: int, p3: int) -> None:
    # As ccid.pack_header, byte by byte (no struct call on the per-request path).
    buf[off] = mtype
    put_u32(buf, off + 1, length)
    buf[off + 5] = slot
    buf[off + 6] = seq
    buf[off + 7] = status
    buf[off + 8] = error
    buf[off + 9] = p3


class CCIDService:
    """CCID request dispatcher for ``slots`` (a list of ``slot.Slot``); see the module docstring."""

    updater = None  # cpsdi_fw.updater.Updater serving CD 10..16, set by main.Reader

    def __init__(self, slots, *, firmware_version: str, board: str, serial: str = "",
                 features: int = escape.FEATURE_APDU_LEVEL | escape.FEATURE_TPDU_LEVEL | escape.FEATURE_SCRIPTS,
                 keypad=None) -> None:
        self.slots = slots
        self.slot_count = len(slots)
        self.firmware_version = firmware_version
        self.board = board
        self.serial = serial
        self.features = features
        self.keypad = keypad  # hal.Keypad of a PIN-pad board, or None
        if keypad is not None:
            self.features |= escape.FEATURE_PIN_PAD
            self.secure = SecureRequest()
            self._entries = [pin_entry.PINEntry() for _ in range(3)]  # current, new, confirmation
            self._apdu = bytearray(APDU_MAX)  # the card's APDU, PIN inserted (wiped after use)
            self._block = bytearray(3 + APDU_MAX + 2)  # T=1 at TPDU level: prologue + APDU + EDC
        fw = ("cpsdi " + firmware_version + " " + board).encode()
        self._fw = fw[:_FW_MAX]
        self.apdu_level = bytearray(self.slot_count)  # 1: XfrBlock carries APDUs (Escape 1F 02)
        self.link = None  # set by link.LinkServer (native max message, counters)
        self.requests = 0
        self.card_errors = 0
        self.events = EventLog()
        self._present = bytearray(self.slot_count)  # 1: card seen present at the last request
        for i in range(self.slot_count):
            self._present[i] = 1 if slots[i].state() != ccid.ICC_ABSENT else 0

    # -- helpers ----------------------------------------------------------------------
    def icc_status(self, slot: int) -> int:
        """bmICCStatus of slot ``slot`` (2 for a slot that does not exist)."""
        if slot >= self.slot_count:
            return ccid.ICC_ABSENT
        return self.slots[slot].state()

    def native_max_message(self) -> int:
        link = self.link
        return link.native_max_message if link is not None else 0

    def _fail(self, resp, ro: int, mtype: int, slot: int, seq: int, icc: int, error: int) -> int:
        _header(resp, ro, mtype, 0, slot, seq, ccid.COMMAND_FAILED | icc, error, 0)
        return _H

    def _card_fail(self, resp, ro: int, mtype: int, slot: int, seq: int, error: int, req_type: int = 0) -> int:
        self.card_errors += 1
        icc = self.slots[slot].state()
        if icc == ccid.ICC_ABSENT:
            error = ccid.ERR_ICC_MUTE
        if req_type == ccid.PC_TO_RDR_ICC_POWER_ON:
            self.event(escape.EVENT_POWER_ON_FAILED, slot, error)
        else:
            self.event(escape.EVENT_CARD_ERROR, slot, error, req_type)
        return self._fail(resp, ro, mtype, slot, seq, icc, error)

    # -- event log --------------------------------------------------------------------
    def now_ms(self) -> int:
        """The link's HostPort milliseconds (0 without a link)."""
        port = getattr(self.link, "port", None)
        if port is None:
            return 0
        return port.ticks_ms()

    def event(self, event: int, slot: int, arg1: int = 0, arg2: int = 0) -> None:
        self.events.record(self.now_ms(), event, slot, arg1, arg2)

    def watch_presence(self) -> None:
        """Log card insertions/removals seen since the last request (every slot)."""
        present = self._present
        for i in range(self.slot_count):
            now = 1 if self.slots[i].state() != ccid.ICC_ABSENT else 0
            if now != present[i]:
                present[i] = now
                self.event(escape.EVENT_CARD_INSERTED if now else escape.EVENT_CARD_REMOVED, i)

    # -- dispatch ---------------------------------------------------------------------
    def handle(self, req, off: int, n: int, resp, resp_off: int, native: bool = False,
               max_message: int = COMPAT_MAX_MESSAGE) -> int:
        """Answer the request ``req[off:off+n]`` (header + data) at ``resp[resp_off:]``; return
        the answer length (header + data, at most ``max_message``)."""
        self.requests += 1
        self.watch_presence()
        ro = resp_off
        mtype = req[off]
        dlen = req[off + 1] | (req[off + 2] << 8) | (req[off + 3] << 16) | (req[off + 4] << 24)
        slot = req[off + 5]
        seq = req[off + 6]
        p1 = req[off + 7]
        answer = ccid.answer_type(mtype)
        if answer == 0:
            return self._fail(resp, ro, ccid.RDR_TO_PC_SLOT_STATUS, slot, seq, self.icc_status(slot),
                              ccid.ERR_CMD_NOT_SUPPORTED)
        if slot >= self.slot_count:
            return self._fail(resp, ro, answer, slot, seq, ccid.ICC_ABSENT, ccid.ERR_BAD_SLOT)
        if n != _H + dlen:
            return self._fail(resp, ro, answer, slot, seq, self.icc_status(slot), ccid.ERR_BAD_LENGTH)
        s = self.slots[slot]
        if mtype == ccid.PC_TO_RDR_GET_SLOT_STATUS or mtype == ccid.PC_TO_RDR_ICC_POWER_OFF \
                or mtype == ccid.PC_TO_RDR_ABORT:
            if dlen:
                return self._fail(resp, ro, answer, slot, seq, s.state(), ccid.ERR_BAD_LENGTH)
            if mtype == ccid.PC_TO_RDR_ICC_POWER_OFF:
                s.power_off()
                self.event(escape.EVENT_POWER_OFF, slot)
            icc = s.state()
            if icc == ccid.ICC_ABSENT:
                return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_ICC_MUTE)
            _header(resp, ro, answer, 0, slot, seq, icc, 0, ccid.CLOCK_RUNNING)
            return _H
        if mtype == ccid.PC_TO_RDR_ICC_POWER_ON:
            return self._power_on(s, slot, seq, p1, dlen, native, resp, ro)
        if mtype == ccid.PC_TO_RDR_XFR_BLOCK:
            return self._xfr_block(s, slot, seq, p1, req, off + _H, dlen, native, resp, ro, max_message)
        if mtype == ccid.PC_TO_RDR_SET_PARAMETERS:
            return self._set_parameters(s, slot, seq, p1, req, off + _H, dlen, resp, ro)
        if mtype == ccid.PC_TO_RDR_GET_PARAMETERS or mtype == ccid.PC_TO_RDR_RESET_PARAMETERS:
            if dlen:
                return self._fail(resp, ro, answer, slot, seq, s.state(), ccid.ERR_BAD_LENGTH)
            return self._parameters(s, slot, seq, 0, resp, ro)
        if mtype == ccid.PC_TO_RDR_ESCAPE:
            return self._escape(s, slot, seq, req, off + _H, dlen, resp, ro, max_message, native)
        if mtype == ccid.PC_TO_RDR_SET_DATA_RATE_AND_CLOCK_FREQUENCY:
            if dlen != 8:
                return self._fail(resp, ro, answer, slot, seq, s.state(), ccid.ERR_BAD_LENGTH)
            d = s.decision
            clock_hz = s.port.clock_hz
            _header(resp, ro, answer, 8, slot, seq, s.state(), 0, 0)
            put_u32(resp, ro + _H, clock_hz // 1000)
            put_u32(resp, ro + _H + 4, timing.baud(d.f, d.d, clock_hz))
            return _H + 8
        keypad = self.keypad
        if mtype == ccid.PC_TO_RDR_SECURE and keypad is not None:
            return self._secure(s, keypad, slot, seq, req, off, dlen, native, resp, ro, max_message)
        # IccClock, T0APDU, Secure without a keypad, Mechanical
        return self._fail(resp, ro, answer, slot, seq, s.state(), ccid.ERR_CMD_NOT_SUPPORTED)

    def _apdu_level(self, slot: int, native: bool) -> bool:
        return native or self.apdu_level[slot] != 0

    def _power_on(self, s, slot: int, seq: int, power_select: int, dlen: int, native: bool, resp, ro: int) -> int:
        answer = ccid.RDR_TO_PC_DATA_BLOCK
        if dlen:
            return self._fail(resp, ro, answer, slot, seq, s.state(), ccid.ERR_BAD_LENGTH)
        if power_select > ccid.POWER_1V8:
            return self._fail(resp, ro, answer, slot, seq, s.state(), 7)  # bPowerSelect
        if s.state() == ccid.ICC_ABSENT:
            self.event(escape.EVENT_POWER_ON_FAILED, slot, ccid.ERR_ICC_MUTE)
            return self._fail(resp, ro, answer, slot, seq, ccid.ICC_ABSENT, ccid.ERR_ICC_MUTE)
        apdu_level = self._apdu_level(slot, native)
        if apdu_level:
            rc = s.power_on(power_select)
        else:
            rc = s.power_on_tpdu(power_select)
        if rc:
            return self._card_fail(resp, ro, answer, slot, seq, rc, ccid.PC_TO_RDR_ICC_POWER_ON)
        self.event(escape.EVENT_POWER_ON, slot, s.decision.protocol, 1 if apdu_level else 0)
        atr = s.atr()
        n = len(atr)
        for i in range(n):
            resp[ro + _H + i] = atr[i]
        _header(resp, ro, answer, n, slot, seq, s.state(), 0, 0)
        return _H + n

    def _xfr_block(self, s, slot: int, seq: int, bwi: int, req, doff: int, dlen: int, native: bool,
                   resp, ro: int, max_message: int) -> int:
        answer = ccid.RDR_TO_PC_DATA_BLOCK
        icc = s.state()
        if icc != ccid.ICC_ACTIVE:
            return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_ICC_MUTE)
        if dlen == 0:
            return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_BAD_LENGTH)
        data = memoryview(req)[doff:doff + dlen]
        out = memoryview(resp)[ro + _H:]
        room = max_message - _H
        if req[doff] == pps.PPSS and dlen <= pps.MAX_PPS_LEN and pps.check_request(data, dlen) == pps.NO_ERROR:
            rc = s.exchange_pps(data, dlen, out)
        elif self._apdu_level(slot, native):
            rc = s.transmit_apdu(data, dlen, out, room)
        else:
            rc = s.transmit_tpdu(data, dlen, out, room, bwi)
        if rc <= 0:  # -bError (a refused command: ERR_BAD_DATA, nothing reached the card)
            return self._card_fail(resp, ro, answer, slot, seq, -rc, ccid.PC_TO_RDR_XFR_BLOCK)
        if rc > room:  # a T=0 TPDU answer cannot be capped by the engine
            return self._card_fail(resp, ro, answer, slot, seq, ccid.ERR_XFR_OVERRUN, ccid.PC_TO_RDR_XFR_BLOCK)
        _header(resp, ro, answer, rc, slot, seq, s.state(), 0, 0)
        return _H + rc

    # -- PC_to_RDR_Secure (CCID §6.1.11, issue #12) ------------------------------------
    def _secure(self, s, keypad, slot: int, seq: int, req, off: int, dlen: int, native: bool, resp, ro: int,
                max_message: int) -> int:
        answer = ccid.RDR_TO_PC_DATA_BLOCK
        icc = s.state()
        if req[off + 8] or req[off + 9]:
            return self._fail(resp, ro, answer, slot, seq, icc, 8)  # wLevelParameter: no APDU chaining
        sec = self.secure
        error = sec.parse(req, off + _H, dlen)
        if error:
            return self._fail(resp, ro, answer, slot, seq, icc, error)
        if icc != ccid.ICC_ACTIVE:
            return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_ICC_MUTE)
        entries = self._entries
        try:
            result = self._enter_pins(s, sec, keypad)
            if result == _MISMATCH:
                resp[ro + _H] = ccid.SW_PIN_MISMATCH >> 8
                resp[ro + _H + 1] = ccid.SW_PIN_MISMATCH & 0xFF
                _header(resp, ro, answer, 2, slot, seq, s.state(), 0, 0)
                return _H + 2
            if result != pin_entry.DONE:
                return self._fail(resp, ro, answer, slot, seq, s.state(), _ENTRY_ERRORS[result])
            n = sec.build(req, self._apdu, entries[0], entries[1])
        finally:
            for e in entries:
                e.wipe()
        try:
            return self._secure_exchange(s, slot, seq, req[off + 7], n, native, resp, ro, max_message)
        finally:
            self._wipe(s)

    def _enter_pins(self, s, sec, keypad) -> int:
        """The PIN(s) the structure asks for, on the keypad: a pin_entry result or _MISMATCH."""
        entries = self._entries
        key_ms = sec.timeout_s * 1000
        count = sec.entries()
        total_end = (keypad.ticks_ms() + count * (key_ms if key_ms > pin_entry.TOTAL_MIN_MS
                                                   else pin_entry.TOTAL_MIN_MS)) & 0x3FFFFFFF
        idle = s.idle
        present = s.port.present
        keypad.begin()
        try:
            if sec.operation == ccid.PIN_OPERATION_MODIFY:
                order = (0, 1, 2) if sec.confirm & ccid.PIN_CONFIRM_CURRENT else (1, 2)
            else:
                order = (1,)
            for j in range(count):
                which = order[j]
                message = sec.messages[j] if sec.message_count else hal.MESSAGE_NONE
                result = pin_entry.collect(keypad, entries[which], sec.min_digits, sec.max_digits, sec.validation,
                                           message, key_ms, total_end, idle, present)
                if result != pin_entry.DONE:
                    return result
            if count > 1 and sec.confirm & ccid.PIN_CONFIRM_NEW and not entries[1].same_as(entries[2]):
                return _MISMATCH
            return pin_entry.DONE
        finally:
            keypad.end()

    def _secure_exchange(self, s, slot: int, seq: int, bwi: int, n: int, native: bool, resp, ro: int,
                         max_message: int) -> int:
        """Send the PIN APDU as the slot's level wants it; answer as XfrBlock does."""
        answer = ccid.RDR_TO_PC_DATA_BLOCK
        out = memoryview(resp)[ro + _H:]
        room = max_message - _H
        if self._apdu_level(slot, native):
            rc = s.transmit_apdu(self._apdu, n, out, room)
        elif s.decision.protocol == 1:
            rc = self._secure_block(s, n, out, room, bwi)
        else:
            rc = s.transmit_tpdu(self._apdu, n, out, room, bwi)
        if rc <= 0:
            return self._card_fail(resp, ro, answer, slot, seq, -rc, ccid.PC_TO_RDR_SECURE)
        if rc > room:
            return self._card_fail(resp, ro, answer, slot, seq, ccid.ERR_XFR_OVERRUN, ccid.PC_TO_RDR_SECURE)
        _header(resp, ro, answer, rc, slot, seq, s.state(), 0, 0)
        return _H + rc

    def _secure_block(self, s, n: int, out, room: int, bwi: int) -> int:
        """TPDU level, T=1: the APDU as one I-block with the host's prologue (libccid numbers
        it), the card's block back; S(WTX req) blocks answered with S(WTX resp) on the way."""
        b = self._block
        p = self.secure.prologue
        eng = s.t1
        b[0] = p[0]
        b[1] = p[1]
        b[2] = n
        apdu = self._apdu
        for i in range(n):
            b[3 + i] = apdu[i]
        end = t1.put_edc(b, 0, 3 + n, eng.edc_crc, eng.crc_variant)
        rc = s.transmit_tpdu(b, end, out, room, bwi)
        for _ in range(_WTX_MAX):
            if rc < 4 or out[1] != 0xC3 or out[2] != 1:  # S(WTX request), ISO 7816-3 §11.6.2.3
                break
            multiplier = out[3]
            b[1] = 0xE3  # S(WTX response), same value
            b[2] = 1
            b[3] = multiplier
            end = t1.put_edc(b, 0, 4, eng.edc_crc, eng.crc_variant)
            rc = s.transmit_tpdu(b, end, out, room, multiplier)
        return rc

    def _wipe(self, s) -> None:
        """Overwrite every buffer that held the PIN: the APDU, the T=1 block, the engine's copy."""
        for buf in (self._apdu, self._block):
            for i in range(len(buf)):
                buf[i] = 0
        eng = getattr(s, "t1", None)
        tx = getattr(eng, "tx_buf", None)
        if tx is not None:
            for i in range(len(tx)):
                tx[i] = 0

    def _set_parameters(self, s, slot: int, seq: int, protocol: int, req, doff: int, dlen: int, resp, ro: int) -> int:
        answer = ccid.RDR_TO_PC_PARAMETERS
        icc = s.state()
        if protocol > ccid.PROTOCOL_T1:
            return self._fail(resp, ro, answer, slot, seq, icc, 7)  # bProtocolNum
        want = ccid.T1_PARAMETERS_SIZE if protocol == ccid.PROTOCOL_T1 else ccid.T0_PARAMETERS_SIZE
        if dlen != want:
            return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_BAD_LENGTH)
        if icc != ccid.ICC_ACTIVE:
            return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_ICC_MUTE)
        bad = s.set_parameters(protocol, req, doff, dlen)
        if bad:
            for i in range(dlen):
                resp[ro + _H + i] = req[doff + i]
            _header(resp, ro, answer, dlen, slot, seq, ccid.COMMAND_FAILED | s.state(), bad, protocol)
            return _H + dlen
        return self._parameters(s, slot, seq, 0, resp, ro)

    def _parameters(self, s, slot: int, seq: int, error: int, resp, ro: int) -> int:
        n = s.get_parameters(resp, ro + _H)
        protocol = ccid.PROTOCOL_T1 if n == ccid.T1_PARAMETERS_SIZE else ccid.PROTOCOL_T0
        _header(resp, ro, ccid.RDR_TO_PC_PARAMETERS, n, slot, seq, s.state(), error, protocol)
        return _H + n

    # -- escapes ----------------------------------------------------------------------
    def _escape_ok(self, resp, ro: int, slot: int, seq: int, icc: int, n: int) -> int:
        _header(resp, ro, ccid.RDR_TO_PC_ESCAPE, n, slot, seq, icc, 0, 0)
        return _H + n

    def _escape(self, s, slot: int, seq: int, req, doff: int, dlen: int, resp, ro: int, max_message: int,
                native: bool = False) -> int:
        answer = ccid.RDR_TO_PC_ESCAPE
        icc = s.state()
        if dlen == 0:
            return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_CMD_NOT_SUPPORTED)
        first = req[doff]
        if first == escape.VENDOR_CLASS:
            n = self._vendor(s, slot, seq, icc, req, doff, dlen, resp, ro, max_message, native)
            error = resp[ro + 8]
            if resp[ro + 7] & ccid.COMMAND_FAILED and 0x81 <= error <= 0xC0:
                self.event(escape.EVENT_ESCAPE_ERROR, slot, error, req[doff + 1] if dlen > 1 else 0)
            return n
        if dlen == 1 and (first == 0x02 or first == 0x06):
            fw = self._fw
            n = len(fw)
            for i in range(n):
                resp[ro + _H + i] = fw[i]
            return self._escape_ok(resp, ro, slot, seq, icc, n)
        if dlen == 3 and first == 0x01 and req[doff + 1] == 0x01:
            return self._escape_ok(resp, ro, slot, seq, icc, 0)
        if first == 0xB2:
            return self._escape_ok(resp, ro, slot, seq, icc, 0)
        if dlen == 2 and first == 0x1F and (req[doff + 1] == 0x01 or req[doff + 1] == 0x02):
            self.apdu_level[slot] = 1 if req[doff + 1] == 0x02 else 0
            return self._escape_ok(resp, ro, slot, seq, icc, 0)
        return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_CMD_NOT_SUPPORTED)

    def _vendor(self, s, slot: int, seq: int, icc: int, req, doff: int, dlen: int, resp, ro: int, max_message: int,
                native: bool) -> int:
        answer = ccid.RDR_TO_PC_ESCAPE
        if dlen < 2:
            return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_LENGTH)
        cmd = req[doff + 1]
        p = ro + _H
        resp[p] = escape.VENDOR_CLASS
        resp[p + 1] = cmd
        n = 2
        if cmd == escape.CMD_GET_INFO:
            if dlen != 2:
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_LENGTH)
            n = self._info(resp, p + 2) + 2
        elif cmd == escape.CMD_NATIVE:
            if dlen != 6:
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_LENGTH)
            own = self.native_max_message()
            if own == 0:
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_STATE)
            wanted = req[doff + 2] | (req[doff + 3] << 8) | (req[doff + 4] << 16) | (req[doff + 5] << 24)
            if wanted < NATIVE_MIN_MESSAGE:
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_PARAMETER)
            put_u32(resp, p + 2, wanted if wanted < own else own)
            resp[p + 6] = escape.CHECK_CRC32
            n = 7
        elif cmd == escape.CMD_LINK_SETTINGS:
            if dlen != 7:
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_LENGTH)
            baud = req[doff + 2] | (req[doff + 3] << 8) | (req[doff + 4] << 16) | (req[doff + 5] << 24)
            stop_bits = req[doff + 6]
            link = self.link
            if link is None or not link.port.line_supported(baud, stop_bits):
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_PARAMETER)
            for i in range(2, 7):
                resp[p + i] = req[doff + i]
            n = 7
            link.line_after_answer(baud, stop_bits)
        elif cmd == escape.CMD_LOOPBACK:
            n = dlen
            if _H + n > max_message:
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_LENGTH)
            for i in range(2, n):
                resp[p + i] = req[doff + i]
        elif cmd == escape.CMD_GET_COUNTERS:
            link = self.link
            if link is not None:
                n += link.write_counters(resp, p + n)
            for tag, v in ((CTR_REQUESTS, self.requests), (CTR_CARD_ERRORS, self.card_errors)):
                resp[p + n] = tag
                resp[p + n + 1] = 4
                put_u32(resp, p + n + 2, v)
                n += 6
        elif cmd == escape.CMD_RESET_COUNTERS:
            if self.link is not None:
                self.link.reset_counters()
            self.requests = 0
            self.card_errors = 0
            self.events.clear()
        elif cmd == escape.CMD_READ_EVENT_LOG:
            if dlen != 2:
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_LENGTH)
            n += self.events.write(resp, p + 2, max_message - _H - 2)
        elif escape.CMD_UPDATE_BEGIN <= cmd <= escape.CMD_UPDATE_ABORT:
            updater = self.updater
            if updater is None:
                return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_UNKNOWN_COMMAND)
            r = updater.handle(cmd, req, doff + 2, dlen - 2, resp, p + 2, max_message - _H - 2, self.now_ms())
            if r < 0:
                return self._fail(resp, ro, answer, slot, seq, icc, -r)
            n = 2 + r
        elif cmd == escape.CMD_RUN_SCRIPT:
            return self._run_script(s, slot, seq, icc, req, doff + 2, dlen - 2, resp, ro, max_message, native)
        else:
            return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_UNKNOWN_COMMAND)
        return self._escape_ok(resp, ro, slot, seq, icc, n)

    def _run_script(self, s, slot: int, seq: int, icc: int, req, off: int, n: int, resp, ro: int,
                    max_message: int, native: bool) -> int:
        answer = ccid.RDR_TO_PC_ESCAPE
        error = script.check_script(req, off, n)
        if error:
            return self._fail(resp, ro, answer, slot, seq, icc, error)
        if not self._apdu_level(slot, native):
            return self._fail(resp, ro, answer, slot, seq, icc, escape.ERR_BAD_STATE)
        if icc != ccid.ICC_ACTIVE:
            return self._fail(resp, ro, answer, slot, seq, icc, ccid.ERR_ICC_MUTE)
        p = ro + _H
        length = script.run_script(s, req, off, n, resp, p + 2, ro + max_message)
        if length < 2:
            return self._card_fail(resp, ro, answer, slot, seq, -length, ccid.PC_TO_RDR_ESCAPE)
        return self._escape_ok(resp, ro, slot, seq, s.state(), 2 + length)

    def _info(self, buf, p: int) -> int:
        start = p
        buf[p] = escape.INFO_PROTOCOL_VERSION
        buf[p + 1] = 1
        buf[p + 2] = 1  # cpsdi_proto.PROTOCOL_VERSION
        p += 3
        p = self._tlv_text(buf, p, escape.INFO_FIRMWARE_VERSION, self.firmware_version)
        p = self._tlv_text(buf, p, escape.INFO_BOARD, self.board)
        buf[p] = escape.INFO_SLOTS
        buf[p + 1] = 1
        buf[p + 2] = self.slot_count
        p += 3
        buf[p] = escape.INFO_NATIVE_MAX_MESSAGE
        buf[p + 1] = 4
        put_u32(buf, p + 2, self.native_max_message())
        p += 6
        buf[p] = escape.INFO_FEATURES
        buf[p + 1] = 4
        put_u32(buf, p + 2, self.features)
        p += 6
        if self.serial:
            p = self._tlv_text(buf, p, escape.INFO_SERIAL, self.serial)
        # slot capabilities: per slot, the voltage classes its port supplies and the protocols
        n = len(self.slots)
        buf[p] = escape.INFO_SLOT_CAPABILITIES
        buf[p + 1] = 2 * n
        for i in range(n):
            buf[p + 2 + 2 * i] = self.slots[i].port.voltage_classes
            buf[p + 3 + 2 * i] = escape.PROTOCOLS_T0_T1
        p += 2 + 2 * n
        keypad = self.keypad
        if keypad is not None:
            buf[p] = escape.INFO_PIN_PAD
            buf[p + 1] = 4
            buf[p + 2] = ccid.PIN_SUPPORT_VERIFY | ccid.PIN_SUPPORT_MODIFY
            buf[p + 3] = keypad.display_lines
            buf[p + 4] = keypad.display_chars
            buf[p + 5] = MAX_DIGITS
            p += 6
        return p - start

    @staticmethod
    def _tlv_text(buf, p: int, tag: int, text: str) -> int:
        data = text.encode()
        n = len(data)
        if n > 64:
            n = 64
        buf[p] = tag
        buf[p + 1] = n
        for i in range(n):
            buf[p + 2 + i] = data[i]
        return p + 2 + n
