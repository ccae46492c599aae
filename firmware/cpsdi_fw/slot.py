"""One card slot: activation, ATR, PPS, character-layer setup, deactivation (ISO 7816-3 §6-§9).

Drives a ``hal.CardPort`` with the sans-IO engines of ``iso7816_3``. Policies:

* Classes (§6.2.4, E4): ``power_on(POWER_AUTO)`` tries C (1.8 V), then B (3 V), then A
  (5 V), deactivating between tries; a class the board cannot supply is skipped. An
  explicit class is tried alone. (libccid asks 5 V first and falls back itself.)
* Cold reset (§6.2.2): RST held low RST_LOW_CLOCKS clock cycles (≥ 400 by ISO, 40 000
  to 45 000 by EMV: 42 000), then released; TS must start within ATR_WINDOW_CLOCKS
  (40 000 + 1 000 margin, A1). Warm reset (§6.2.3, A26): the same with VCC and CLK on.
* ATR characters (A6, A7): at most ATR_CHAR_TIMEOUT_ETU between leading edges (ISO
  9 600, EMV tolerance 10 080 used), the whole ATR within ATR_TOTAL_ETU from TS
  (EMV 19 200, tolerance 20 160 used); a parity error on an ATR character other than
  a TS read in the wrong convention is an ATR failure (A24).
* ATR failures (A11 bad TCK, A12 truncated/timeout, A14 too long, A24 parity): one warm
  reset, then deactivation with the CCID error. A mute card (no TS, A1) is deactivated
  and reported mute after the last class. The decision's WARM_RESET (A18) is honoured
  once.
* PPS (P1-P11): as ``pps.PPSProposal`` decides, as the first exchange only; a failed
  PPS deactivates (ISO §9.3) and reports the error. A card offering T=0 and T=1 in
  negotiable mode gets T=1 (``preferred_protocol``, as pcscd chooses; -1 keeps the
  ATR's default). In specific mode the ATR's protocol is used.
* Any fatal error, removal or interface fault deactivates in the order of §6.4 (E1,
  E2, E3); the slot then reports "present, inactive" or "absent".

Long waits are cut in slices of about SLICE_MS, calling ``idle()`` between them, so
the link server can send keep-alives while a card thinks. ``idle()`` returning True
means the host sent an Abort (CCID §6.1.13, ``link.py``): during a card exchange (not
during activation, which is bounded by the ATR timings) the slot stops waiting at once,
deactivates the card — its state is unknown: it may still be computing, or half-way
through a T=1 chain — and the exchange fails with bError CMD_ABORTED; the host powers
the card on again.
"""

from cpsdi_proto import ccid, escape
from cpsdi_proto.compat import const

from cpsdi_fw import hal
from cpsdi_fw.iso7816_3 import atr, pps, t0, t1, timing

RST_LOW_CLOCKS = const(42000)
ATR_WINDOW_CLOCKS = const(41000)
ATR_CHAR_TIMEOUT_ETU = const(10080)
ATR_TOTAL_ETU = const(20160)
T0_RETRIES = const(3)  # character repetitions on a parity error in T=0 (§7.3)
SLICE_MS = const(100)
IFSD = const(254)  # the reader's IFSD, negotiated with S(IFS req) after the ATR/PPS (T1-3)
MAX_BAUD = const(250000)  # highest card bit rate this firmware proposes by default

# Slot states (CCID bmICCStatus values)
STATE_ACTIVE = const(0)
STATE_INACTIVE = const(1)
STATE_ABSENT = const(2)

_CLASS_ORDER = (hal.CLASS_C, hal.CLASS_B, hal.CLASS_A)
_RX_CHUNK = const(64)


class Slot:
    """Activation and character-layer state of one slot (see module docstring)."""

    def __init__(self, port: hal.CardPort, max_baud: int = MAX_BAUD, idle=None, on_event=None) -> None:
        self.port = port
        self.on_event = on_event  # on_event(event, arg1, arg2): the reader's event log, or None
        self.max_baud = max_baud
        self.idle = idle  # called between wait slices (keep-alive), or None
        self.parser = atr.ATRParser()
        self.decision = atr.ATRDecision()
        self.proposal = pps.PPSProposal()
        self.checker = pps.PPSResponseChecker()
        self.gate = pps.PPSGate()
        self._byte = bytearray(1)
        self._flag = bytearray(1)
        self._pps = bytearray(pps.MAX_PPS_LEN)
        self._pps_host = bytearray(pps.MAX_PPS_LEN)  # the reader's own PPS for SetParameters
        self._pps_resp = bytearray(pps.MAX_PPS_LEN)
        self._rx = bytearray(_RX_CHUNK)
        self._rx_flags = bytearray(_RX_CHUNK)
        self.t0_apdu = t0.T0APDU()
        self.t0_tpdu = t0.T0TPDU()
        self.t1 = t1.T1Engine()
        self._block_flags = bytearray(t1.RX_MAX)
        self.ifsd = IFSD
        # Protocol the PPS selects when the card offers it in negotiable mode (-1: the ATR's
        # default). T=1 by default, as pcscd does: larger frames and error recovery (P10).
        self.preferred_protocol = 1
        self._t1_resynch = False  # resynchronise before the next T=1 APDU (after a card abort)
        self.extra_bytes = 0  # card bytes found where none was due (flushed, T0-32)
        self.powered = False
        self.voltage_class = 0
        self.error = 0  # CCID bError of the last failure, 0 if none
        self.abortable = False  # a card exchange runs: the idle hook may abort it
        self.aborted = False  # the running exchange was aborted by the host
        self.warm_resets = 0
        self._etu_clocks = timing.FD  # clock cycles per etu at the F/D in force

    # -- state -----------------------------------------------------------------
    def state(self) -> int:
        """CCID bmICCStatus: 0 active, 1 present and inactive, 2 absent."""
        if not self.port.present():
            if self.powered:
                self._deactivate()
            return STATE_ABSENT
        return STATE_ACTIVE if self.powered else STATE_INACTIVE

    def atr(self) -> memoryview:
        """The ATR of the active card (empty when inactive); valid until the next reset."""
        if not self.powered:
            return memoryview(self.parser.buf)[:0]
        return self.parser.atr()

    # -- activation --------------------------------------------------------------
    def power_on(self, power_select: int = ccid.POWER_AUTO) -> int:
        """Activate (or reset, if active) the card; return 0 or a CCID bError (``self.error``)."""
        self._begin(False)
        if self.powered:
            return self.warm_reset()
        self.error = 0
        if not self.port.present():
            return self._fail(ccid.ERR_ICC_MUTE)
        if power_select == ccid.POWER_AUTO:
            classes = _CLASS_ORDER
        elif power_select in (hal.CLASS_A, hal.CLASS_B, hal.CLASS_C):
            classes = (power_select,)
        else:
            return self._fail(ccid.ERR_ICC_CLASS_NOT_SUPPORTED)
        result = ccid.ERR_ICC_CLASS_NOT_SUPPORTED
        for voltage_class in classes:
            rc = self.port.activate(voltage_class)
            if rc == hal.ERR_CLASS:
                continue
            if rc != hal.OK:
                self._deactivate()
                return self._fail(ccid.ERR_ICC_MUTE if rc == hal.ERR_ABSENT else ccid.ERR_HW_ERROR)
            self.powered = True
            self.voltage_class = voltage_class
            self._etu_clocks = timing.FD
            self.warm_resets = 0
            self.port.wait_clocks(RST_LOW_CLOCKS)
            self.port.set_reset(True)
            result = self._answer_to_reset()
            if result == 0:
                return 0
            self._deactivate()
            if result != ccid.ERR_ICC_MUTE or not self.port.present():
                break  # a card that answered is in its class; only a mute card gets the next one (E4)
        return self._fail(result)

    def warm_reset(self) -> int:
        """Warm reset of the active card (§6.2.3, A26); return 0 or a CCID bError."""
        self._begin(False)
        if not self.powered:
            return self.power_on()
        self.error = 0
        self.warm_resets = 0
        self._warm()
        result = self._answer_to_reset()
        if result:
            self._deactivate()
            return self._fail(result)
        return 0

    def power_off(self) -> None:
        """Deactivate (§6.4); harmless when inactive."""
        self._deactivate()

    # -- T=0 exchanges -------------------------------------------------------------
    def transmit_apdu_t0(self, apdu, n: int, resp, resp_max: int) -> int:
        """Run one command APDU over T=0 (§12, 61xx/6Cxx/ENVELOPE by ``t0.T0APDU``).

        Returns the response length (data + SW1 SW2) in ``resp``, or a negative CCID
        bError on failure (``self.error`` too). A protocol failure deactivates the card.
        """
        eng = self.t0_apdu
        self._begin(True)
        if not self.powered:
            return -self._fail(ccid.ERR_ICC_MUTE)
        rc = eng.start(apdu, n, resp, resp_max)
        if rc:
            return -self._refused(t0.ccid_error(rc))
        if self._drive_t0(eng) != t0.DONE:
            return -self._engine_failed(eng.error)
        return eng.resp_length

    def transmit_tpdu_t0(self, tpdu, n: int, resp) -> int:
        """Run one T=0 TPDU as given (CCID TPDU level); response length or negative bError."""
        eng = self.t0_tpdu
        self._begin(True)
        if not self.powered:
            return -self._fail(ccid.ERR_ICC_MUTE)
        rc = eng.start_tpdu(tpdu, n, resp, 0)
        if rc:
            return -self._refused(t0.ccid_error(rc))
        if self._drive_t0(eng) != t0.DONE:
            return -self._engine_failed(eng.error)
        return eng.resp_length  # data + SW1 SW2

    # -- T=1 exchanges -------------------------------------------------------------
    def protocol(self) -> int:
        """Protocol in force on the active card: 0 (T=0) or 1 (T=1)."""
        return self.decision.protocol

    def transmit_apdu_t1(self, apdu, n: int, resp, resp_max: int) -> int:
        """Run one command APDU (short or extended) over T=1 with full error recovery.

        Returns the response length (data + SW1 SW2) in ``resp``, or a negative CCID
        bError. A lost session (resynch exhausted) deactivates the card (T1-24).
        """
        eng = self.t1
        self._begin(True)
        if not self.powered:
            return -self._fail(ccid.ERR_ICC_MUTE)
        if self._t1_resynch:
            # After a card abortion ISO leaves the sequence state open ("[verify]" in the
            # reference): resynchronise first, so both sides start from N(S) = N(R) = 0.
            if eng.start_resynch() or self._drive_t1(eng) != t1.DONE:
                if self.aborted:
                    return -self._abort_failed()
                self._deactivate()
                return -self._fail(ccid.ERR_ICC_MUTE if not self.port.present() else t1.ccid_error(eng.error))
            self._t1_resynch = False
        rc = eng.start_apdu(apdu, n, resp, resp_max)
        if rc:
            return -self._refused(t1.ccid_error(rc))
        resynchs = eng.resynch_count
        if self._drive_t1(eng) != t1.DONE:
            if self.aborted:
                return -self._abort_failed()
            error = t1.ccid_error(eng.error)
            self._t1_resynch = eng.error == t1.ABORTED
            if eng.resynch_count != resynchs or eng.dead:
                self._log(escape.EVENT_T1_RESYNCH, eng.resynch_count & 0xFF, 1 if eng.dead else 0)
            if eng.dead or not self.port.present():
                self._deactivate()
                if not self.port.present():
                    error = ccid.ERR_ICC_MUTE
            return -self._fail(error)
        if eng.resynch_count != resynchs:
            self._log(escape.EVENT_T1_RESYNCH, eng.resynch_count & 0xFF, 0)
        return eng.resp_length

    def transmit_apdu(self, apdu, n: int, resp, resp_max: int) -> int:
        """One APDU with the protocol in force (APDU level); length or negative bError."""
        if self.powered and self.decision.protocol == 1:
            return self.transmit_apdu_t1(apdu, n, resp, resp_max)
        return self.transmit_apdu_t0(apdu, n, resp, resp_max)

    def _drive_t1(self, eng) -> int:
        """Carry out the T=1 engine's SEND/RECEIVE actions (one whole block each) until DONE/ERROR."""
        port = self.port
        buf = eng.rx_buf
        flags = self._block_flags
        action = eng.action()
        while action == t1.SEND or action == t1.RECEIVE:
            if not port.present() or self.aborted:
                return t1.ERROR
            if action == t1.SEND:
                action = self._send_for(eng, eng.bgt_etu)  # T1-36: BGT before each reader block
                continue
            # one block: prologue within wait_etu (BWT, or BWT x WTX), the rest within CWT each
            got = self._receive_into(buf, 0, 3, eng.wait_etu, eng.cwt_etu, flags)
            if got == 0:
                action = eng.on_timeout()
                continue
            if got == 3:
                total = eng.expected_block_length(buf[0], buf[1], buf[2])
                if total > 3:
                    got += self._receive_into(buf, 3, total - 3, eng.cwt_etu, eng.cwt_etu, flags)
                elif total < 0:
                    got = self._drain(buf, got, eng.cwt_etu, flags)  # LEN = FF / > IFSD: until CWT silence
            parity = False
            for i in range(got):
                if flags[i]:
                    parity = True
            action = eng.on_block(buf, 0, got, parity)
        return action

    def _drain(self, buf, got: int, cwt_etu: int, flags) -> int:
        """Read until CWT passes in silence, keeping at most len(buf) bytes (T1-29, T1-30)."""
        limit = len(buf)
        while got < limit:
            n = self._receive_into(buf, got, limit - got, cwt_etu, cwt_etu, flags)
            if n == 0:
                return got
            got += n
        # the buffer is full: discard whatever else the card sends until CWT silence (bounded)
        for _ in range(1024):
            if self._receive_into(self._rx, 0, _RX_CHUNK, cwt_etu, cwt_etu, self._rx_flags) == 0:
                break
        return got

    def _send_for(self, eng, turnaround_etu: int) -> int:
        """An engine's SEND: wait the turnaround, drain unasked card bytes (T0-32), transmit."""
        port = self.port
        port.wait_etu(turnaround_etu)
        self.extra_bytes += port.receive(self._rx, 0, _RX_CHUNK, 0, 0, self._rx_flags)
        start = eng.tx_offset
        if port.send(eng.tx_buf, start, start + eng.tx_count) == hal.OK:
            return eng.on_sent()
        return eng.on_send_error()

    def _engine_failed(self, code: int) -> int:
        if self.aborted:
            return self._abort_failed()
        error = t0.ccid_error(code)
        if not self.port.present():
            error = ccid.ERR_ICC_MUTE
        if code in (t0.MUTE, t0.PARITY, t0.BAD_PROCEDURE, t0.TOO_MANY_NULLS, t0.SEND_FAILED, t0.SW_NOT_ALLOWED,
                    t0.LOOP_LIMIT) or not self.port.present():
            self._deactivate()  # the card's state is unknown: T0-4, T0-5, T0-28, E2
        return self._fail(error)

    def _drive_t0(self, eng) -> int:
        """Carry out the engine's SEND/RECEIVE actions on the port until DONE or ERROR."""
        port = self.port
        rx = self._rx
        flags = self._rx_flags
        action = eng.action()
        while action == t0.SEND or action == t0.RECEIVE:
            if not port.present() or self.aborted:
                return t0.ERROR
            if action == t0.SEND:
                action = self._send_for(eng, t0.TURNAROUND_ETU)  # T0-30: ≥ 16 etu after the card
                continue
            want = eng.rx_count if eng.rx_count < _RX_CHUNK else _RX_CHUNK
            got = self._receive(rx, want, eng.timeout_etu)
            if got == 0:
                action = eng.on_timeout()
                continue
            i = 0
            while i < got and action == t0.RECEIVE:
                action = eng.feed(rx[i], flags[i] != 0)
                i += 1
            self.extra_bytes += got - i
        return action

    def _receive(self, buf, count: int, timeout_etu: int) -> int:
        """Up to ``count`` characters into ``buf``/``_rx_flags``, each within ``timeout_etu``."""
        return self._receive_into(buf, 0, count, timeout_etu, timeout_etu, self._rx_flags)

    def _receive_into(self, buf, start: int, count: int, first_etu: int, char_etu: int, flags) -> int:
        """Up to ``count`` characters at ``buf[start:]``, the first within ``first_etu`` (waited
        in slices calling ``idle``), the next ones within ``char_etu`` of each other."""
        port = self.port
        if self.aborted:
            return 0
        slice_etu = port.clock_hz // 1000 * SLICE_MS // self._etu_clocks + 1
        waited = slice_etu if slice_etu < first_etu else first_etu
        while True:
            got = port.receive(buf, start, count, waited, char_etu, flags)
            if got or waited >= first_etu or not port.present():
                return got
            if self.idle is not None and self.idle() and self.abortable:
                self.aborted = True
                return 0
            waited += slice_etu
            if waited > first_etu:
                waited = first_etu

    # -- internals -------------------------------------------------------------------
    def _begin(self, abortable: bool) -> None:
        """A new card operation: an exchange (abortable) or an activation / PPS (not)."""
        self.abortable = abortable
        self.aborted = False

    def _abort_failed(self) -> int:
        """The host aborted the exchange: the card's state is unknown, deactivate it."""
        self._deactivate()
        return self._fail(ccid.ERR_CMD_ABORTED)

    def _fail(self, error: int) -> int:
        self.error = error
        return error

    def _refused(self, error: int) -> int:
        # An engine refused the command before anything reached the card. Its bError may be
        # 0 ("not supported"), which -0 could not carry: report the command data instead.
        return self._fail(error if error else ccid.ERR_BAD_DATA)

    def _deactivate(self) -> None:
        self.port.deactivate()
        self.powered = False
        self.gate.after_exchange()

    def _character(self, f: int, d: int, inverse: bool, guard_time_etu: int, retries: int) -> None:
        self._etu_clocks = timing.etu_clocks(f, d)
        self.port.set_character(f, d, inverse, guard_time_etu, retries)

    def _warm(self) -> None:
        self.warm_resets += 1
        self.port.set_reset(False)
        if self.port.clock_max_hz:
            self.port.set_clock(0)  # the ATR comes at the activation clock (§6.2.3: 1-5 MHz)
        self._character(timing.FD, timing.DD, False, timing.GUARD_TIME_DEFAULT_ETU, 0)
        self.port.wait_clocks(RST_LOW_CLOCKS)
        self.port.set_reset(True)

    def _answer_to_reset(self) -> int:
        """Read and decide the ATR after a reset release, warm-resetting once on failure."""
        while True:
            error = self._read_atr()
            if error == 0:
                action = self.decision.decide(self.parser, self.port.clock_hz, self.max_baud, self.warm_resets > 0)
                if action == atr.ACCEPT:
                    return self._after_atr()
                error = atr.ccid_error(self.decision.error)
                if action == atr.REJECT:
                    return error
            elif error == ccid.ERR_ICC_MUTE and self.warm_resets == 0:
                return error  # no TS at all (A1): no warm reset, next class
            if self.warm_resets >= 1 or not self.port.present():
                return error
            self._warm()

    def _read_atr(self) -> int:
        """Receive the ATR into the parser (A1-A14, A24); 0 or a CCID bError."""
        port = self.port
        parser = self.parser
        parser.reset(False)
        first_etu = (ATR_WINDOW_CLOCKS + timing.FD - 1) // timing.FD
        start_etu = -1
        status = atr.NEED_MORE
        while status == atr.NEED_MORE:
            if not self._receive_byte(first_etu):
                if not port.present():
                    return ccid.ERR_ICC_MUTE
                return ccid.ERR_ICC_MUTE if start_etu < 0 else ccid.ERR_BAD_ATR_TCK
            b = self._byte[0]
            if start_etu < 0:
                start_etu = port.now_etu()
            elif port.now_etu() - start_etu > ATR_TOTAL_ETU:
                return ccid.ERR_BAD_ATR_TCK  # A7: the ATR took too long
            if self._flag[0] and not (parser.length == 0 and b in (0x03, 0x23)):
                return ccid.ERR_XFR_PARITY_ERROR  # A24
            status = parser.feed_byte(b)
            if parser.length == 1 and parser.inverse != parser.rx_inverse:
                # A3/A4: the card uses the other convention; the UART follows it
                self._character(timing.FD, timing.DD, parser.inverse, timing.GUARD_TIME_DEFAULT_ETU, 0)
                parser.set_rx_inverse(parser.inverse)
            first_etu = ATR_CHAR_TIMEOUT_ETU
        if status == atr.ERROR:
            return atr.ccid_error(parser.error)
        return 0

    def _after_atr(self) -> int:
        """PPS if useful (P1-P11), then the character layer of the session."""
        d = self.decision
        self.gate.after_atr(d)
        want = -1
        if self.preferred_protocol >= 0 and not d.specific and (d.protocols >> self.preferred_protocol) & 1:
            want = self.preferred_protocol
        action = self.proposal.decide(d, self.port.clock_hz, self.max_baud, want)
        if action == pps.REFUSE:
            return pps.ccid_error(self.proposal.error)
        if action == pps.SEND:
            error = self._exchange_pps()
            if error:
                return error
        self.gate.after_exchange()
        retries = T0_RETRIES if d.protocol == 0 else 0
        self._character(d.f, d.d, self.parser.inverse, d.guard_time_etu, retries)
        self._session_clock()
        if d.protocol == 1:
            return self._start_t1()
        self._t0_waits()
        return 0

    def _session_clock(self) -> None:
        """CLK for the F/D now in force: up to the card's fmax once the ATR is over (§8.3), and
        no faster than ``max_baud`` allows (back down after a PPS to a higher D). Boards with
        a fixed clock skip this; every time in etu stays the same, only the etu shortens."""
        port = self.port
        if port.clock_max_hz == 0:
            return
        d = self.decision
        before = port.clock_hz
        port.set_clock(timing.session_clock_hz(d.ta1, d.f, d.d, self.max_baud, port.clock_max_hz))
        if port.clock_hz != before:
            self._log(escape.EVENT_CLOCK, port.clock_hz // 100000)

    def _t0_waits(self) -> None:
        """T=0 WT from the ATR's TC2 (WI) at the F/D in force (§10.2: 960 x D x WI etu)."""
        self.t0_apdu.wt_etu = self.decision.wt_etu
        self.t0_tpdu.wt_etu = self.decision.wt_etu

    def _start_t1(self) -> int:
        """T=1 session after the ATR/PPS: IFSC, EDC, BWT/CWT, then S(IFS req, IFSD) (T1-3)."""
        d = self.decision
        eng = self.t1
        self._t1_resynch = False
        eng.configure(d.ifsc, t1.IFS_DEFAULT, d.edc_crc, t1.CRC_LIBCCID)
        eng.set_waits(d.bwi, d.cwi, d.f, d.d)
        if self.ifsd == t1.IFS_DEFAULT:
            return 0
        if eng.start_ifsd(self.ifsd) or self._drive_t1(eng) != t1.DONE:
            return t1.ccid_error(eng.error) if self.port.present() else ccid.ERR_ICC_MUTE
        return 0

    def _exchange_pps(self) -> int:
        if self.gate.before_pps():
            return pps.ccid_error(pps.NOT_ALLOWED)
        error = self._pps_round_trip(self.proposal.build(self._pps))
        self._log_pps(error)
        if error:
            return error
        pps.apply_pps(self.decision, self.checker)
        return 0

    def _log(self, event: int, arg1: int = 0, arg2: int = 0) -> None:
        if self.on_event is not None:
            self.on_event(event, arg1, arg2)

    def _log_pps(self, error: int) -> None:
        # EVENT_PPS: arg1 = the F/D now in force (TA1 coding, 11 = Fd/Dd kept) or 0 on failure,
        # arg2 = the protocol selected, or the bError of a failed PPS
        c = self.checker
        if error:
            self._log(escape.EVENT_PPS, 0, error)
        else:
            self._log(escape.EVENT_PPS, c.fidi, c.protocol)

    def _pps_round_trip(self, n: int) -> int:
        """Send the PPS request in ``_pps[:n]`` and check the card's answer (P1-P7); 0 or a bError."""
        checker = self.checker
        checker.start(self._pps, n)
        self.port.wait_etu(timing.GUARD_TIME_DEFAULT_ETU + 4)  # ≥ 16 etu turnaround after the ATR
        if self.port.send(self._pps, 0, n) != hal.OK:
            return ccid.ERR_ICC_MUTE if not self.port.present() else ccid.ERR_XFR_PARITY_ERROR
        status = atr.NEED_MORE
        while status == atr.NEED_MORE:
            # P6: each response character within the initial WT (9 600 etu at Fd/Dd)
            if not self._receive_byte(timing.INITIAL_WT_ETU):
                status = checker.timeout()
                break
            if self._flag[0]:
                status = checker.parity_error()
                break
            status = checker.feed_byte(self._byte[0])
        if status != atr.DONE:
            return pps.ccid_error(checker.error)
        return 0

    def _receive_byte(self, timeout_etu: int) -> bool:
        """One character into ``_byte``/``_flag`` within ``timeout_etu``; False on timeout."""
        if self._receive(self._rx, 1, timeout_etu) != 1:
            return False
        self._byte[0] = self._rx[0]
        self._flag[0] = self._rx_flags[0]
        return True

    # -- CCID TPDU level (added for ccid_service: the host negotiates) -------------------
    def power_on_tpdu(self, power_select: int = ccid.POWER_AUTO) -> int:
        """``power_on`` (or reset) without the reader's own PPS and S(IFS req): at CCID TPDU
        level the host sends them (libccid, ccid-serial.md §5.4). The card stays at the ATR's
        F/D and protocol; the PPS gate stays open for ``exchange_pps``. 0 or a CCID bError."""
        proposal = self.proposal
        ifsd = self.ifsd
        self.proposal = _HOST_PPS
        self.ifsd = t1.IFS_DEFAULT
        try:
            rc = self.power_on(power_select)
        finally:
            self.proposal = proposal
            self.ifsd = ifsd
        if rc == 0:
            self.gate.after_atr(self.decision)  # nothing was sent to the card since the ATR
        return rc

    def exchange_pps(self, req, n: int, resp) -> int:
        """Send the host's PPS request ``req[:n]`` (XfrBlock ``FF …``, TPDU level) and put the
        card's response in ``resp``; F/D/T switch as negotiated. Returns its length or -bError.

        Not the first exchange after the ATR (the gate is closed, e.g. APDU level where the
        slot negotiated itself): nothing goes to the card; a request for the protocol in
        force is answered as the card would have: its echo if it names the F/D in force, else
        ``FF 0T PCK`` (no PPS1: "stay at the current speed", accepted by libccid, pitfall 8).
        Another protocol -> ICC_PROTOCOL_NOT_SUPPORTED. A failed PPS deactivates (ISO §9.3).
        """
        self._begin(False)
        if not self.powered:
            return -self._fail(ccid.ERR_ICC_MUTE)
        if n > pps.MAX_PPS_LEN or pps.check_request(req, n) != pps.NO_ERROR:
            return -self._fail(ccid.ERR_ICC_PROTOCOL_NOT_SUPPORTED)
        d = self.decision
        protocol = req[1] & 0x0F
        if not self.gate.allowed():
            if protocol != d.protocol:
                return -self._fail(ccid.ERR_ICC_PROTOCOL_NOT_SUPPORTED)
            if req[1] & 0x10 and timing.fi_from_ta1(req[2]) == d.f and timing.di_from_ta1(req[2]) == d.d \
                    and n == 4:
                for i in range(n):
                    resp[i] = req[i]
                return n
            return pps.build_pps(resp, protocol, -1)
        self.gate.before_pps()
        checker = self.checker
        for i in range(n):
            self._pps[i] = req[i]
        error = self._pps_round_trip(n)
        self._log_pps(error)
        if error:
            self._deactivate()
            return -self._fail(error)
        pps.apply_pps(d, checker)
        self.gate.after_exchange()
        self._character(d.f, d.d, self.parser.inverse, d.guard_time_etu, T0_RETRIES if d.protocol == 0 else 0)
        self._session_clock()
        if d.protocol == 1:
            self.t1.configure(d.ifsc, t1.IFS_DEFAULT, d.edc_crc, t1.CRC_LIBCCID)
            self.t1.set_waits(d.bwi, d.cwi, d.f, d.d)
        else:
            self._t0_waits()
        length = checker.length
        for i in range(length):
            resp[i] = checker.buf[i]
        return length

    def transmit_tpdu(self, tpdu, n: int, resp, resp_max: int, bwi: int = 0) -> int:
        """One TPDU with the protocol in force (CCID TPDU level): T=0 via ``transmit_tpdu_t0``
        (a case-4 Le after the data is dropped, pitfall 7; a 4-byte case 1 gets P3 = 00), T=1
        one whole block each way (``transmit_block_t1``). Returns the response length or
        -bError (ERR_BAD_DATA for a TPDU the engine refused before sending anything)."""
        self.gate.after_exchange()
        if not self.powered:
            return -self._fail(ccid.ERR_ICC_MUTE)
        if self.decision.protocol == 1:
            return self.transmit_block_t1(tpdu, n, resp, resp_max, bwi)
        if n > 6 and n == 6 + tpdu[4]:
            n -= 1  # case 4 with a trailing Le (pyscard, scriptor): P3 = Lc, the card says 61xx
        elif n == 4:
            # case 1 as libccid passes it (4 bytes): P3 = 00 (ISO 7816-3 §12.2.2); the PPS
            # buffer is free scratch here (a PPS is only ever the first exchange)
            for i in range(4):
                self._pps[i] = tpdu[i]
            self._pps[4] = 0
            tpdu = self._pps
            n = 5
        if resp_max < 258:
            return -self._fail(ccid.ERR_XFR_OVERRUN)
        return self.transmit_tpdu_t0(tpdu, n, resp)

    def transmit_block_t1(self, block, n: int, resp, resp_max: int, bwi: int = 0) -> int:
        """Send one host-built T=1 block (EDC included) after BGT and receive one block: its
        prologue within BWT x ``bwi`` (bBWI, the host's WTX; 0 = 1), then LEN + EDC bytes
        within CWT each (ccid-serial.md §5.5). Returns the block length or -bError: mute ->
        ICC_MUTE (the card stays powered: the host decides), truncated/parity/oversize ->
        XFR_PARITY_ERROR (the host sends an R-block), removal -> ICC_MUTE and deactivation."""
        eng = self.t1
        port = self.port
        self._begin(True)
        if not self.powered:
            return -self._fail(ccid.ERR_ICC_MUTE)
        port.wait_etu(eng.bgt_etu)
        self.extra_bytes += port.receive(self._rx, 0, _RX_CHUNK, 0, 0, self._rx_flags)
        if port.send(block, 0, n) != hal.OK:
            if not port.present():
                self._deactivate()
                return -self._fail(ccid.ERR_ICC_MUTE)
            return -self._fail(ccid.ERR_HW_ERROR)
        flags = self._block_flags
        if resp_max > len(flags):
            resp_max = len(flags)
        wait = eng.bwt_etu * (bwi if bwi > 0 else 1)
        if wait > t1.WAIT_ETU_MAX:
            wait = t1.WAIT_ETU_MAX
        got = self._receive_into(resp, 0, 3, wait, eng.cwt_etu, flags)
        if self.aborted:
            return -self._abort_failed()
        if not port.present():
            self._deactivate()
            return -self._fail(ccid.ERR_ICC_MUTE)
        if got == 0:
            return -self._fail(ccid.ERR_ICC_MUTE)
        if got < 3:
            return -self._fail(ccid.ERR_XFR_PARITY_ERROR)
        total = 3 + resp[2] + eng.edc_len
        if resp[2] == 0xFF or total > resp_max:
            self._drain(resp, got if got < resp_max else resp_max, eng.cwt_etu, flags)
            return -self._fail(ccid.ERR_XFR_PARITY_ERROR)
        got += self._receive_into(resp, 3, total - 3, eng.cwt_etu, eng.cwt_etu, flags)
        if self.aborted:
            return -self._abort_failed()
        if not port.present():
            self._deactivate()
            return -self._fail(ccid.ERR_ICC_MUTE)
        if got < total:
            return -self._fail(ccid.ERR_XFR_PARITY_ERROR)
        for i in range(got):
            if flags[i]:
                return -self._fail(ccid.ERR_XFR_PARITY_ERROR)
        return got

    def set_parameters(self, protocol: int, p, off: int, n: int) -> int:
        """Apply a CCID SetParameters structure ``p[off:off+n]`` (T=0 5 bytes, T=1 7 bytes).

        Guard time (TC1), WI, BWI/CWI, EDC, IFSC and NAD are applied. While a PPS is still
        allowed (nothing exchanged since the ATR), another protocol or F/D that the card offers
        is negotiated here by the reader's own PPS: the reader types that announce automatic
        PPS (SEC1210, bmFeatures 0x80, ccid-serial.md §2) send no PPS and only SetParameters.
        Otherwise what the card is not actually using cannot be changed here: another
        protocol or F/D than in force, or another convention. Returns 0, or the CCID index
        (1..127) of the first such byte: "parameter not changeable", which libccid treats
        as success (ccid-serial.md §5.4); the card keeps working at its real settings.
        """
        d = self.decision
        bad = 0
        fidi = p[off]
        if self.powered and self.gate.allowed() and (
                protocol != d.protocol or timing.fi_from_ta1(fidi) != d.f or timing.di_from_ta1(fidi) != d.d):
            self._auto_pps(protocol, fidi)
            d = self.decision
        if protocol != d.protocol:
            return 7  # bProtocolNum
        if timing.fi_from_ta1(fidi) != d.f or timing.di_from_ta1(fidi) != d.d:
            bad = 10
        if bool(p[off + 1] & 0x02) != self.parser.inverse and not bad:
            bad = 11
        guard_n = p[off + 2]
        waits = p[off + 3]
        if protocol == 0:
            if waits == 0:
                return 13
            d.wi = waits
            fi = 0 if d.f == d.fi else d.fi
            d.wt_etu = pps.wt_etu_after_pps(waits, d.f, d.d, fi)
            self.t0_tpdu.wt_etu = d.wt_etu
            self.t0_apdu.wt_etu = d.wt_etu
        else:
            bwi = waits >> 4
            ifsc = p[off + 5]
            if bwi > 9:
                return 13
            if ifsc == 0 or ifsc == 0xFF:
                return 15
            d.bwi = bwi
            d.cwi = waits & 0x0F
            d.bwt_etu = timing.bwt_etu(d.bwi, d.d, d.f)
            d.cwt_etu = timing.cwt_etu(d.cwi)
            d.ifsc = ifsc
            d.edc_crc = (p[off + 1] & 0x01) != 0
            eng = self.t1
            if d.edc_crc != eng.edc_crc or ifsc != eng.ifsc0 or p[off + 6] != eng.nad:
                eng.configure(ifsc, eng.ifsd, d.edc_crc, eng.crc_variant, p[off + 6])
            eng.set_waits(d.bwi, d.cwi, d.f, d.d)
        d.n = guard_n
        d.guard_time_etu = timing.guard_time_etu(guard_n, protocol)
        if self.powered:
            self._character(d.f, d.d, self.parser.inverse, d.guard_time_etu, T0_RETRIES if protocol == 0 else 0)
        return bad

    def _auto_pps(self, protocol: int, fidi: int) -> None:
        """PPS for SetParameters (see there): only to what the card offers (its protocol list,
        and TA1 or the default 11); a failed PPS deactivates the card (ISO §9.3)."""
        d = self.decision
        if not (d.protocols >> protocol) & 1 or (fidi != d.ta1 and fidi != timing.TA1_DEFAULT):
            return
        n = pps.build_pps(self._pps_host, protocol, fidi if fidi != timing.TA1_DEFAULT else -1)
        if n:
            self.exchange_pps(self._pps_host, n, self._pps_resp)  # logged there

    def get_parameters(self, p, off: int) -> int:
        """Write the CCID parameter structure in force at ``p[off:]``; return its length (5 or 7)."""
        d = self.decision
        p[off] = _fidi(d.f, d.d)
        inverse = 0x02 if self.parser.inverse else 0x00
        p[off + 2] = d.n & 0xFF
        p[off + 4] = 0  # clock stop not allowed
        if d.protocol == 1:
            p[off + 1] = 0x10 | inverse | (1 if d.edc_crc else 0)
            p[off + 3] = (d.bwi << 4) | d.cwi
            p[off + 5] = d.ifsc
            p[off + 6] = self.t1.nad
            return ccid.T1_PARAMETERS_SIZE
        p[off + 1] = inverse
        p[off + 3] = d.wi
        return ccid.T0_PARAMETERS_SIZE


def _fidi(f: int, d: int) -> int:
    """TA1 coding (FI << 4 | DI) of F and D (Tables 7/8); 0x11 when they have none."""
    for fi in range(1, 16):
        if timing.fi_from_ta1(fi << 4 | 1) == f:
            for di in range(16):
                if timing.di_from_ta1(fi << 4 | di) == d:
                    return fi << 4 | di
    return 0x11


class _HostProposal(pps.PPSProposal):
    """PPS policy of ``Slot.power_on_tpdu``: never a reader PPS (the host sends its own)."""

    def decide(self, decision, clock_hz: int, max_baud: int, want_protocol: int = -1) -> int:
        self.clear()
        self.error = pps.NO_ERROR
        self.protocol = decision.protocol
        self.f = decision.f
        self.d = decision.d
        self.action = pps.SKIP
        return pps.SKIP


_HOST_PPS = _HostProposal()
