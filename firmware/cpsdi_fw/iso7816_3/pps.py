"""ISO/IEC 7816-3:2006 §9 Protocol and Parameters Selection (PPS), reader side.

References are to /work/shared/reference/iso7816-3.md (§3 PPS, §6.2 rows P1-P12,
§7.2 vectors, §1.4 waiting times). F/D tables and waiting-time formulas come from
`timing`, the card's offer from `atr.ATRDecision`; nothing here re-implements them.

Sans-IO like `atr`: the slot owns the UART, the timers and the line convention (bytes
are exchanged as logical values, inverse convention already undone). Nothing raises
on card input; errors are codes (``error``), mapped to CCID bError by `ccid_error`.

Pieces, in the order the slot uses them:

1. `PPSGate` (P11, ISO §9.1): a PPS may only be the *first* exchange after an ATR
   in negotiable mode. ``after_atr(decision)`` opens the gate (state PPS_ALLOWED)
   for an accepted negotiable-mode ATR, ``before_pps()`` closes it (PPS_SENT; at
   most one PPS per ATR: after success the session has started, after failure ISO
   deactivates), ``after_exchange()`` closes it when anything else is sent to the
   card (or on deactivation). ``before_pps()`` on a closed gate returns NOT_ALLOWED.
2. `PPSProposal.decide(decision, clock_hz, max_baud, want_protocol)` returns SEND,
   SKIP or REFUSE (policy below); ``build(buf)`` writes the request with `build_pps`.
3. `PPSResponseChecker`: ``start(request, length)``, then ``feed_byte(b)`` per byte
   received -> NEED_MORE, DONE or ERROR (same values as `atr`). ``timeout()`` (P6)
   and ``parity_error()`` are called by the slot. Results: ``protocol``, ``fidi``,
   ``f``, ``d``, ``pps1_echoed``.
4. `apply_pps(decision, checker)` / `wt_etu_after_pps` (P12): switch the decision's
   F/D/protocol and recompute the etu-based timers with `timing`.

Proposal policy (`PPSProposal.decide`):

* Only after an accepted ATR (``decision.action == ACCEPT``), else REFUSE with
  ATR_NOT_ACCEPTED.
* Specific mode (TA2 present): never a PPS (P8). SKIP with the TA2 protocol and the
  F/D already in force; a different ``want_protocol`` -> REFUSE (SPECIFIC_MODE).
* Wanted protocol: ``want_protocol`` (0 or 1), or -1 = ``decision.protocol`` (the
  default protocol, or the T the ATR decision chose when the default is unsupported,
  ``pps_required``). A T the ATR does not offer, or other than 0/1 -> REFUSE
  (PROTOCOL_NOT_OFFERED). T=1 may be selected although TD1 offers T=0 first (P10).
* PPS1 (P1, P9): none if TA1 is absent, RFU (``ta1_usable`` False) or not faster than
  Fd/Dd (Di * 372 <= Fi, e.g. 0x11, 0x01, 0x91). Otherwise TA1 itself if the reader
  supports its speed: ``clock_hz`` <= fmax(FI) and D * f / F <= ``max_baud`` (the
  rule `atr.ATRDecision` uses for ``ta1_supported``, evaluated here for the
  capability passed in). If not, the DI walk (P9). libccid's IFDHSetProtocolParameters
  decrements the whole TA1 byte and re-checks the rate until the reader supports it
  (iso7816-3.md §3: "down to 0x94"); here the walk stays in the low nibble: keep FI
  (so F stays Fi and WT = WI * 960 * D holds) and try DI - 1, DI - 2, ..., 1 in that
  order, skipping any DI whose Di is not below TA1's Di (Table 8 is not monotonic:
  DI 7 = 64 > DI 9 = 20 > DI 8 = 12, and the card never gets more than it offered);
  stop at the first supported candidate, or as soon as a candidate is not faster
  than Fd/Dd (no PPS1 then). Example at 3.5712 MHz: TA1 96 with max_baud 115 200
  -> 95 (111 600 bit/s); max_baud 60 000 -> 94 (55 800 bit/s); TA1 19 with
  max_baud 100 000 -> 18 rejected (115 200), 17/16/15 skipped, 14 (76 800).
* No PPS that brings nothing (§3 last bullet, libccid): no PPS1 and the wanted T is
  the default protocol -> SKIP. Otherwise SEND: PPS0 = T (| 0x10 with PPS1). PPS2
  and PPS3 are never proposed.

Response rules (`PPSResponseChecker`, §3 "successful response"; request = what
``start`` was given, which may carry PPS2/PPS3 if a host built it):

* PPSS = FF (BAD_PPSS); PPS0 b8 (RFU) = 0 (BAD_PPS0); PPS0 b4..b1 = the request's T
  (BAD_PROTOCOL, P5). Checked on the byte itself: the error is known at once.
* PPS0 b5/b6/b7 may only be set if the request had PPS1/PPS2/PPS3, else the response
  is longer than the request (TOO_LONG, P7). From PPS0 the checker knows the
  response length, ``expected_length`` = 3 + number of those bits (``remaining()``
  gives the bytes still due, e.g. as an RX hint for the HAL).
* PPS1 echoed identically (PPS1_MISMATCH otherwise, P3) -> F/D = the requested
  Fi/Di (P1); PPS1 absent -> Fd/Dd = 372/1 (P2). PPS2/PPS3 echoed identically or
  absent (PPS2_MISMATCH). PCK: XOR of PPSS..PCK = 0 (BAD_PCK, P4).
* A byte fed after DONE turns the result into ERROR TOO_LONG (the card sent more than
  its own PPS0 announced, P7). The slot normally stops reading at DONE and switches
  to F/D only after that PCK (§3).
* ``timeout()`` while NEED_MORE: NO_RESPONSE before the first byte, TRUNCATED after
  (P6). The slot runs the initial waiting time `PPS_WT_ETU` (= timing.INITIAL_WT_ETU,
  9 600 etu at Fd/Dd, between leading edges of consecutive characters, §1.4) from
  the leading edge of the request's PCK, restarted at each received character.
* ``parity_error()``: a response character had a parity error (PARITY).
* After ERROR every byte answers ERROR until ``start``. ISO: any failure ->
  deactivate (osmo, libccid IFD_ERROR_PTS_FAILURE); the slot may re-power and retry
  without PPS1 as libccid does, the engine does not decide that.

CCID bError (`ccid_error`, CCID rev 1.1 Table 6.2-2; CCID has no PPS-specific code):

* card answered wrongly (BAD_PPSS, BAD_PPS0, BAD_PROTOCOL, TOO_LONG, PPS1_MISMATCH,
  PPS2_MISMATCH, BAD_PCK) and policy refusals (PROTOCOL_NOT_OFFERED, SPECIFIC_MODE,
  ATR_NOT_ACCEPTED) -> 0xF6 ICC_PROTOCOL_NOT_SUPPORTED: the parameters asked for are
  not available; the same code `atr.ccid_error` uses for decision errors, and what a
  host needs (libccid turns every PPS failure into IFD_ERROR_PTS_FAILURE anyway).
* NO_RESPONSE, TRUNCATED (P6) -> 0xFE ICC_MUTE, as for any card time-out.
* PARITY -> 0xFD XFR_PARITY_ERROR.
* NOT_ALLOWED (P11), BAD_REQUEST (malformed request, e.g. a host XfrBlock), NOT_STARTED
  -> 0x00 CMD_NOT_SUPPORTED: nothing reached the card, the session is unchanged.
  Note 0x00 is also what ``ccid_error(NO_ERROR)`` returns: it is an error only with
  bmCommandStatus = failed, so callers map ``error`` only when it is not NO_ERROR.
"""

from cpsdi_proto.ccid import (
    ERR_CMD_NOT_SUPPORTED,
    ERR_ICC_MUTE,
    ERR_ICC_PROTOCOL_NOT_SUPPORTED,
    ERR_XFR_PARITY_ERROR,
)
from cpsdi_proto.compat import const

from cpsdi_fw.iso7816_3 import timing
from cpsdi_fw.iso7816_3.atr import ACCEPT, DONE, ERROR, NEED_MORE, ATRDecision

# PPSProposal.decide() actions
SEND = const(0)
SKIP = const(1)
REFUSE = const(2)

# PPSGate.state (P11)
PPS_FORBIDDEN = const(0)
PPS_ALLOWED = const(1)
PPS_SENT = const(2)

# Error codes (checker, gate, proposal); 0 = none
NO_ERROR = const(0)
BAD_PPSS = const(1)  # first response byte not FF
BAD_PPS0 = const(2)  # PPS0 b8 (RFU) set
BAD_PROTOCOL = const(3)  # T not echoed (P5)
TOO_LONG = const(4)  # unrequested PPS1/2/3, or bytes after PCK (P7)
PPS1_MISMATCH = const(5)  # PPS1 present but different (P3)
PPS2_MISMATCH = const(6)  # PPS2 or PPS3 present but different
BAD_PCK = const(7)  # XOR PPSS..PCK != 0 (P4)
NO_RESPONSE = const(8)  # initial WT expired before the first byte (P6)
TRUNCATED = const(9)  # initial WT expired inside the response (P6)
PARITY = const(10)  # parity error on a response character
BAD_REQUEST = const(11)  # request given to start() is not a valid PPS request
NOT_ALLOWED = const(12)  # PPS not the first exchange after a negotiable ATR (P11)
NOT_STARTED = const(13)  # feed before start()
PROTOCOL_NOT_OFFERED = const(14)  # wanted T not offered by the ATR, or not 0/1
SPECIFIC_MODE = const(15)  # wanted T differs from TA2's T (P8)
ATR_NOT_ACCEPTED = const(16)  # decision.action != ACCEPT

# iso7816-3.md §1.4: the PPS response is timed with the initial waiting time.
PPS_WT_ETU = timing.INITIAL_WT_ETU

PPSS = const(0xFF)
MAX_PPS_LEN = const(6)  # PPSS PPS0 PPS1 PPS2 PPS3 PCK

_PPS0_PPS1 = const(0x10)
_PPS0_PPS2 = const(0x20)
_PPS0_PPS3 = const(0x40)
_PPS0_OPTIONAL = const(0x70)
_PPS0_RFU = const(0x80)
_PPS0_T = const(0x0F)


def ccid_error(code: int) -> int:
    """CCID bError (CCID rev 1.1 Table 6.2-2) for a PPS error; 0 for none (see module docstring)."""
    if code == NO_ERROR:
        return 0
    if code == NO_RESPONSE or code == TRUNCATED:
        return ERR_ICC_MUTE
    if code == PARITY:
        return ERR_XFR_PARITY_ERROR
    if code == NOT_ALLOWED or code == BAD_REQUEST or code == NOT_STARTED:
        return ERR_CMD_NOT_SUPPORTED
    return ERR_ICC_PROTOCOL_NOT_SUPPORTED


def _count_optional(pps0: int) -> int:
    # Number of PPS1/PPS2/PPS3 announced by PPS0 b5..b7 (§3).
    n = 0
    bit = _PPS0_PPS1
    while bit <= _PPS0_PPS3:
        if pps0 & bit:
            n += 1
        bit <<= 1
    return n


def build_pps(buf, protocol: int, fidi: int) -> int:
    """Write ``PPSS PPS0 [PPS1] PCK`` into ``buf``; return the length (3 or 4), 0 on bad arguments.

    iso7816-3.md §3: PPS0 = T (b4..b1) | 0x10 when PPS1 is present; PCK makes the XOR
    of PPSS..PCK zero. ``fidi`` = PPS1 (FI << 4 | DI) or -1 for none; PPS2/PPS3 are
    never written. E.g. (1, 0x18) -> FF 11 18 F6, (1, -1) -> FF 01 FE (§7.2).
    """
    if protocol < 0 or protocol > 15 or fidi < -1 or fidi > 255 or len(buf) < 3:
        return 0
    buf[0] = PPSS
    if fidi < 0:
        buf[1] = protocol
        buf[2] = PPSS ^ protocol
        return 3
    if len(buf) < 4:
        return 0
    pps0 = _PPS0_PPS1 | protocol
    buf[1] = pps0
    buf[2] = fidi
    buf[3] = PPSS ^ pps0 ^ fidi
    return 4


def check_request(data, length: int = -1) -> int:
    """NO_ERROR if ``data[:length]`` is a well-formed PPS request, else BAD_REQUEST.

    Checks PPSS, PPS0 b8 = 0, the length announced by PPS0, PPS1 (if any) naming
    usable Fi/Di (Tables 7/8) and PCK. Allocates nothing.
    """
    if length < 0:
        length = len(data)
    if length < 3 or length > MAX_PPS_LEN or length > len(data):
        return BAD_REQUEST
    if data[0] != PPSS:
        return BAD_REQUEST
    pps0 = data[1]
    if pps0 & _PPS0_RFU or length != 3 + _count_optional(pps0):
        return BAD_REQUEST
    if pps0 & _PPS0_PPS1:
        if timing.fi_from_ta1(data[2]) == 0 or timing.di_from_ta1(data[2]) == 0:
            return BAD_REQUEST
    x = 0
    for i in range(length):
        x ^= data[i]
    if x != 0:
        return BAD_REQUEST
    return NO_ERROR


def speed_supported(fidi: int, clock_hz: int, max_baud: int) -> bool:
    """True when Fi/Di of ``fidi`` (TA1/PPS1 coding) are usable by a reader clocking at ``clock_hz``.

    Usable = not RFU, ``clock_hz`` <= fmax(FI) and bit rate D * f / F <= ``max_baud``
    (tables and bit rate from `timing`, iso7816-3.md §1.1).
    """
    fi = timing.fi_from_ta1(fidi)
    di = timing.di_from_ta1(fidi)
    if fi == 0 or di == 0:
        return False
    return clock_hz <= timing.fmax_hz_from_ta1(fidi) and timing.baud(fi, di, clock_hz) <= max_baud


def _faster_than_default(fi: int, di: int) -> bool:
    # D / F > Dd / Fd, i.e. a PPS1 with these values speeds the link up (§3 last bullet).
    return di * timing.FD > fi * timing.DD


class PPSProposal:
    """Whether to send a PPS and what to propose (module docstring, "Proposal policy")."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.action = REFUSE
        self.error = ATR_NOT_ACCEPTED
        self.protocol = 0  # T to select (SEND) or in force (SKIP)
        self.pps1 = -1  # proposed PPS1 (FI << 4 | DI), -1 = none
        self.walked = False  # pps1 comes from the DI walk (P9), not TA1 itself
        self.f = timing.FD  # F/D if the card accepts the proposal (SKIP: in force)
        self.d = timing.DD

    def _refuse(self, code: int) -> int:
        self.error = code
        self.action = REFUSE
        return REFUSE

    def decide(self, decision: ATRDecision, clock_hz: int, max_baud: int, want_protocol: int = -1) -> int:
        """Fill the fields from an ATR decision and the reader's capability; return SEND, SKIP or REFUSE."""
        self.clear()
        if decision.action != ACCEPT:
            return self._refuse(ATR_NOT_ACCEPTED)
        want = decision.protocol if want_protocol < 0 else want_protocol
        self.protocol = want
        self.error = NO_ERROR
        if decision.specific:
            # P8: TA2 present, the F/D and T of the ATR are in force; never a PPS.
            if want != decision.protocol:
                return self._refuse(SPECIFIC_MODE)
            self.f = decision.f
            self.d = decision.d
            self.action = SKIP
            return SKIP
        if want > 1 or not (decision.protocols >> want) & 1:
            return self._refuse(PROTOCOL_NOT_OFFERED)
        if decision.ta1_usable:
            self._propose_speed(decision.ta1, clock_hz, max_baud)
        if self.pps1 < 0 and want == decision.default_protocol:
            # §3: a PPS that brings nothing is not sent (P10 needs one: T != default).
            self.action = SKIP
            return SKIP
        self.action = SEND
        return SEND

    def _propose_speed(self, ta1: int, clock_hz: int, max_baud: int) -> None:
        # P1/P9: TA1, else the DI walk with the same FI (module docstring).
        fi = timing.fi_from_ta1(ta1)
        di_ta1 = timing.di_from_ta1(ta1)
        if not _faster_than_default(fi, di_ta1):
            return
        if speed_supported(ta1, clock_hz, max_baud):
            self._set_pps1(ta1, fi, di_ta1)
            return
        fi_bits = ta1 & 0xF0
        x = (ta1 & 0x0F) - 1
        while x >= 1:
            cand = fi_bits | x
            di = timing.di_from_ta1(cand)
            if di < di_ta1:
                if not _faster_than_default(fi, di):
                    return  # every later candidate is slower still (DI 7..1 decrease)
                if speed_supported(cand, clock_hz, max_baud):
                    self._set_pps1(cand, fi, di)
                    self.walked = True
                    return
            x -= 1

    def _set_pps1(self, fidi: int, fi: int, di: int) -> None:
        self.pps1 = fidi
        self.f = fi
        self.d = di

    def build(self, buf) -> int:
        """Write the request for a SEND decision into ``buf`` (`build_pps`); 0 otherwise."""
        if self.action != SEND:
            return 0
        return build_pps(buf, self.protocol, self.pps1)


class PPSGate:
    """P11 (ISO §9.1): a PPS only as the first exchange after a negotiable-mode ATR."""

    def __init__(self) -> None:
        self.state = PPS_FORBIDDEN

    def after_atr(self, decision: ATRDecision) -> None:
        """A new ATR was decided (cold or warm reset): open the gate in negotiable mode only (P8)."""
        if decision.action == ACCEPT and not decision.specific:
            self.state = PPS_ALLOWED
        else:
            self.state = PPS_FORBIDDEN

    def allowed(self) -> bool:
        return self.state == PPS_ALLOWED

    def before_pps(self) -> int:
        """About to send a PPS request: NO_ERROR (gate now PPS_SENT) or NOT_ALLOWED."""
        if self.state != PPS_ALLOWED:
            return NOT_ALLOWED
        self.state = PPS_SENT
        return NO_ERROR

    def after_exchange(self) -> None:
        """Anything other than a PPS went to the card, or the card was deactivated."""
        self.state = PPS_FORBIDDEN


class PPSResponseChecker:
    """Incremental check of the card's PPS response, one byte at a time (module docstring)."""

    def __init__(self) -> None:
        self.request = bytearray(MAX_PPS_LEN)
        self.buf = bytearray(MAX_PPS_LEN)  # response bytes received
        self._want = bytearray(MAX_PPS_LEN)  # expected echo at each optional-byte position
        self._kind = bytearray(MAX_PPS_LEN)  # which PPSx (PPS0 bit) sits at that position
        self.request_length = 0
        self._req_pps0 = 0
        self._clear()
        self.status = ERROR
        self.error = NOT_STARTED

    def _clear(self) -> None:
        self.status = NEED_MORE
        self.error = NO_ERROR
        self.length = 0  # response bytes received
        self.expected_length = 0  # response length once PPS0 is known, else 0
        self._xor = 0
        self.protocol = -1  # results, valid when DONE
        self.fidi = timing.TA1_DEFAULT
        self.f = timing.FD
        self.d = timing.DD
        self.pps1_echoed = False

    def _fail(self, code: int) -> int:
        self.error = code
        self.status = ERROR
        return ERROR

    def start(self, request, length: int = -1) -> int:
        """Remember the request just sent (copied); NEED_MORE, or ERROR with BAD_REQUEST. Allocates nothing."""
        self._clear()
        self.request_length = 0
        if check_request(request, length) != NO_ERROR:
            return self._fail(BAD_REQUEST)
        if length < 0:
            length = len(request)
        for i in range(length):
            self.request[i] = request[i]
        self.request_length = length
        self._req_pps0 = request[1]
        return NEED_MORE

    def remaining(self) -> int:
        """Response bytes still due: exact once PPS0 arrived, a minimum (PPSS PPS0 PCK) before; 0 when ended."""
        if self.status != NEED_MORE:
            return 0
        if self.expected_length:
            return self.expected_length - self.length
        return 3 - self.length

    def _layout(self, pps0: int) -> None:
        # From the response's PPS0: positions 2.. hold the echoed optional bytes, in the
        # order PPS1, PPS2, PPS3; each must equal the request's byte of the same kind.
        req0 = self._req_pps0
        pos = 2
        req_pos = 2
        bit = _PPS0_PPS1
        while bit <= _PPS0_PPS3:
            if req0 & bit:
                if pps0 & bit:
                    self._want[pos] = self.request[req_pos]
                    self._kind[pos] = bit
                    pos += 1
                req_pos += 1
            bit <<= 1
        self.expected_length = pos + 1

    def feed_byte(self, b: int) -> int:
        """Consume one response byte; return NEED_MORE, DONE or ERROR. Never raises, never allocates."""
        status = self.status
        if status == DONE:
            return self._fail(TOO_LONG)  # P7: more than PPS0 announced
        if status == ERROR:
            return ERROR
        b &= 0xFF
        n = self.length
        self.buf[n] = b  # n < expected_length <= MAX_PPS_LEN
        self.length = n + 1
        self._xor ^= b
        if n == 0:
            if b != PPSS:
                return self._fail(BAD_PPSS)
            return NEED_MORE
        if n == 1:
            if b & _PPS0_RFU:
                return self._fail(BAD_PPS0)
            if (b ^ self._req_pps0) & _PPS0_T:
                return self._fail(BAD_PROTOCOL)  # P5
            if b & _PPS0_OPTIONAL & ~self._req_pps0:
                return self._fail(TOO_LONG)  # P7: a PPSx the request did not carry
            self._layout(b)
            return NEED_MORE
        if n < self.expected_length - 1:
            if b != self._want[n]:
                if self._kind[n] == _PPS0_PPS1:
                    return self._fail(PPS1_MISMATCH)  # P3
                return self._fail(PPS2_MISMATCH)
            return NEED_MORE
        # PCK (P4)
        if self._xor != 0:
            return self._fail(BAD_PCK)
        pps0 = self.buf[1]
        self.protocol = pps0 & _PPS0_T
        if pps0 & _PPS0_PPS1:
            fidi = self.buf[2]
            self.fidi = fidi
            self.f = timing.fi_from_ta1(fidi)
            self.d = timing.di_from_ta1(fidi)
            self.pps1_echoed = True  # P1
        # else P2: Fd/Dd, as set by _clear
        self.status = DONE
        return DONE

    def feed(self, data, start: int = 0, end: int = -1) -> int:
        """Feed ``data[start:end]`` until the response ends; return the index of the first byte not consumed."""
        if end < 0:
            end = len(data)
        i = start
        while i < end and self.status == NEED_MORE:
            self.feed_byte(data[i])
            i += 1
        return i

    def timeout(self) -> int:
        """The initial WT (`PPS_WT_ETU`) expired (P6); returns the status (unchanged once ended)."""
        if self.status != NEED_MORE:
            return self.status
        return self._fail(NO_RESPONSE if self.length == 0 else TRUNCATED)

    def parity_error(self) -> int:
        """The slot saw a parity error on a response character."""
        if self.status == ERROR:
            return ERROR
        return self._fail(PARITY)

    def response(self) -> memoryview:
        """The response bytes received so far, a view valid until the next ``start``."""
        return memoryview(self.buf)[: self.length]


def wt_etu_after_pps(wi: int, f: int, d: int, fi: int = 0) -> int:
    """T=0 WT in etu once the PPS ended (P12, iso7816-3.md §1.4), via `timing.wt_etu`.

    ``f``/``d``: F/D now in force. ``fi``: the Fi of the WT formula; 0 = ``f`` (a PPS1
    was echoed, the card works at Fn = Fi: WT = WI * 960 * D, 9 600 / 76 800 / 115 200
    etu for D = 1 / 8 / 12 with WI = 10). Pass the ATR's Fi when Fd/Dd were kept.
    """
    if fi == 0:
        fi = f
    return timing.wt_etu(wi, d, fi, f)


def apply_pps(decision: ATRDecision, checker: PPSResponseChecker) -> bool:
    """After a DONE response: F/D and T of ``decision`` become the negotiated ones, timers recomputed.

    Sets ``protocol``, ``f``, ``d``, ``guard_time_etu`` (TC1 for the new T),
    ``wt_etu`` (`wt_etu_after_pps`) and ``bwt_etu`` (`timing.bwt_etu` at the new F/D);
    CWT is in etu and does not change. Returns False (nothing changed) unless DONE.
    """
    if checker.status != DONE:
        return False
    decision.protocol = checker.protocol
    decision.pps_required = False
    decision.f = checker.f
    decision.d = checker.d
    fi = 0 if checker.pps1_echoed else decision.fi
    decision.guard_time_etu = timing.guard_time_etu(decision.n, checker.protocol)
    decision.wt_etu = wt_etu_after_pps(decision.wi, checker.f, checker.d, fi)
    decision.bwt_etu = timing.bwt_etu(decision.bwi, checker.d, checker.f)
    return True
