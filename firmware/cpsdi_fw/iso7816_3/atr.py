"""ISO/IEC 7816-3:2006 §8 Answer-To-Reset: incremental parser and reader decisions.

References are to /work/shared/reference/iso7816-3.md (§2 ATR, §6.1 rows A*).

`ATRParser` is sans-IO and bounded: the slot feeds it every byte received after RST
rises, one at a time, with ``feed_byte(b)``, which returns NEED_MORE, DONE or ERROR
(``error`` then holds BAD_TS, BAD_TCK, TOO_LONG or T15_IN_TD1). It never raises on
card input and allocates nothing per byte (all buffers are made in ``__init__``).
Timeouts (A1, A6, A7, A12) belong to the slot: a parser left in NEED_MORE when the
initial waiting time expires is a truncated ATR.

Conventions (§1.2, A2-A4): bytes are fed as the UART delivers them. The parser is
told the UART's mode (``rx_inverse``) and accepts as TS, in a direct-mode UART,
3B (direct) or 03 (an inverse TS read in direct mode); in an inverse-mode UART, 3F
(inverse) or 23 (a direct TS read in inverse mode). When the card's convention is
not the UART's, every following byte is converted with `inverse_byte` (bit-reverse
of the complement) until the slot reconfigures the UART and calls
``set_rx_inverse()``. Stored bytes, TS included, are always logical (3B.. / 3F..);
``inverse`` tells the slot which convention to keep for the whole session.

Layout: ``buf`` (33 bytes, §2.1 maximum incl. TS) holds the ATR; ``ta(i)``, ``tb(i)``,
``tc(i)``, ``td(i)`` give the value of the interface byte of group i (-1 if absent)
from a preallocated table of positions; ``hist_pos``/``hist_len`` locate the
historical bytes; ``tck_present`` says whether a TCK ended the ATR.

Policies (where §6.1 offers a choice):

* A9: TCK is expected iff some TDi indicates a T other than 0 (T=15 included, A10);
  otherwise the ATR is DONE right after the last historical byte.
* A11: a wrong TCK is an ATR error (BAD_TCK -> CCID 0xF7). Whether to warm-reset
  once is the slot's choice.
* A13: bytes after DONE are not part of the ATR; ``feed_byte`` keeps answering DONE,
  counts them in ``extra`` (saturating at 255) and changes nothing else. The slot
  flushes them before the first command.
* A14: a byte that would be the 34th character, or interface bytes announcing a
  length (historical bytes + TCK) beyond 33, give TOO_LONG; nothing is written
  beyond ``buf``. Any ATR therefore ends (DONE or ERROR) by its 34th byte.
* A15: T=15 in TD1 gives T15_IN_TD1 as soon as TD1 arrives.
* After ERROR every byte answers ERROR until ``reset()``.
* Errors map to CCID bError with `ccid_error`: BAD_TS -> 0xF8 BAD_ATR_TS; BAD_TCK
  and the other structural errors (TOO_LONG, T15_IN_TD1) -> 0xF7 BAD_ATR_TCK (CCID
  has no better code for "ATR integrity"); decision errors -> 0xF6
  ICC_PROTOCOL_NOT_SUPPORTED.

Reader decisions (§2.3), `ATRDecision.decide(parser, clock_hz, max_baud, after_warm_reset)`,
returning ACCEPT, WARM_RESET or REJECT:

* Offered protocols: bitmap of the T (0..14) indicated by the TDi; T=0 alone when
  TD1 is absent. Default protocol = first T indicated (TD1's), 0 without TD1.
  Only T=0 and T=1 are supported: none of them offered -> PROTOCOL_NOT_SUPPORTED;
  in negotiable mode with an unsupported default, ``protocol`` is T=0 if offered,
  else T=1, and ``pps_required`` is set (the PPS engine must select it).
* TA1 (A16): FI/DI from Tables 7/8; an RFU value makes TA1 unusable -> Fi/Di =
  372/1 (libccid). TA1 is "supported" when usable, ``clock_hz`` <= fmax and the
  bit rate D * f / F <= ``max_baud``.
* TA2 present = specific mode (A17): use TA2's T and, b5 = 0, TA1's Fi/Di at once,
  no PPS. Cannot honour it (TA1 RFU -> BAD_TA1, TA1 unsupported -> TA1_UNSUPPORTED,
  A18; b5 = 1 implicit -> IMPLICIT_TA2, A19, no implicit values are known; TA2's T
  not 0/1 -> PROTOCOL_NOT_SUPPORTED): WARM_RESET if b8 = 0 (able to change mode)
  and the ATR was not already the answer to a warm reset, else REJECT.
* TA2 absent = negotiable mode: Fd/Dd = 372/1 in force; Fi/Di are a PPS proposal
  (``ta1_supported`` tells the PPS engine whether to propose them).
* TC1 (A20): guard time of reader-sent characters, `timing.guard_time_etu`
  (12 + N etu; N = 255: 12 etu T=0, 11 etu T=1) for the protocol in force. With
  T=15 present ISO counts N in Fi/Di units; N etu at the F/D in force is used.
* TC2 (A21): WI, default 10; TC2 = 00 (reserved) -> BAD_WI, REJECT, whatever the
  protocol (an ATR with a reserved value is invalid).
* T=1 (first TA/TB/TC in a group i >= 3 announced by a TD with T=1, "only the first
  counts", A8): IFSC default 32; 00 -> BAD_IFSC, REJECT; FF -> clamped to 254 like
  libccid (A22). BWI default 4, BWI >= 10 (RFU) -> BAD_BWI, REJECT (A23; 0..9 are
  accepted, as by ANSSI; EMV would stop at 4). CWI default 13. EDC: b1 of the first TC, 1 = CRC.
  These checks apply whenever T=1 is offered.
* Vpp bytes (TB1, TB2) are ignored (deprecated in 2006).
"""

from cpsdi_proto.ccid import ERR_BAD_ATR_TCK, ERR_BAD_ATR_TS, ERR_ICC_PROTOCOL_NOT_SUPPORTED
from cpsdi_proto.compat import const

from cpsdi_fw.iso7816_3 import timing

# feed_byte() status
NEED_MORE = const(0)
DONE = const(1)
ERROR = const(2)

# ATRParser.error (parsing) and ATRDecision.error (decisions); 0 = none
NO_ERROR = const(0)
BAD_TS = const(1)
BAD_TCK = const(2)
TOO_LONG = const(3)
T15_IN_TD1 = const(4)
NOT_DONE = const(5)  # decide() on an ATR that is not DONE
BAD_TA1 = const(6)  # TA1 RFU in specific mode (A16)
TA1_UNSUPPORTED = const(7)  # specific mode, TA1 beyond the reader (A18)
IMPLICIT_TA2 = const(8)  # TA2 b5 = 1 (A19)
PROTOCOL_NOT_SUPPORTED = const(9)
BAD_WI = const(10)  # TC2 = 00 (A21)
BAD_IFSC = const(11)  # IFSC 00 (A22)
BAD_BWI = const(12)  # BWI >= 10 (A23)

# ATRDecision.decide() actions
ACCEPT = const(0)
WARM_RESET = const(1)
REJECT = const(2)

# Interface byte kinds, for ta/tb/tc/td and first_for_protocol
KIND_TA = const(0)
KIND_TB = const(1)
KIND_TC = const(2)
KIND_TD = const(3)

MAX_ATR_LEN = const(33)  # TS + 32 characters (§2.1)
MAX_GROUPS = const(32)  # each group after the first needs a TD: <= 31 TDs in 33 bytes

_ST_TS = const(0)
_ST_T0 = const(1)
_ST_IFACE = const(2)
_ST_HIST = const(3)
_ST_TCK = const(4)
_ST_DONE = const(5)
_ST_ERROR = const(6)

_TS_DIRECT = const(0x3B)
_TS_INVERSE = const(0x3F)
_TS_INVERSE_IN_DIRECT = const(0x03)  # inverse TS read by a direct-mode UART (§1.2)
_TS_DIRECT_IN_INVERSE = const(0x23)  # direct TS read by an inverse-mode UART (§1.2)

_T15 = const(15)


def inverse_byte(b: int) -> int:
    """Convert a byte between conventions: bit-reverse of the complement (§1.2).

    Its own inverse; inverse_byte(0x3F) == 0x03, inverse_byte(0x3B) == 0x23.
    """
    b = ~b & 0xFF
    b = ((b & 0xF0) >> 4) | ((b & 0x0F) << 4)
    b = ((b & 0xCC) >> 2) | ((b & 0x33) << 2)
    return ((b & 0xAA) >> 1) | ((b & 0x55) << 1)


def ccid_error(code: int) -> int:
    """CCID bError (CCID rev 1.1 Table 6.2-2) for a parser or decision error; 0 for none."""
    if code == NO_ERROR:
        return 0
    if code == BAD_TS:
        return ERR_BAD_ATR_TS
    if code == BAD_TCK or code == TOO_LONG or code == T15_IN_TD1 or code == NOT_DONE:
        return ERR_BAD_ATR_TCK
    return ERR_ICC_PROTOCOL_NOT_SUPPORTED


class ATRParser:
    """Incremental ATR parser, one byte at a time; see the module docstring."""

    def __init__(self, rx_inverse: bool = False) -> None:
        self.buf = bytearray(MAX_ATR_LEN)
        # Position in buf of TAi/TBi/TCi/TDi at [4 * (i - 1) + kind]; 0 = absent
        # (position 0 is TS, never an interface byte).
        self._pos = bytearray(MAX_GROUPS * 4)
        self._rx_start_inverse = rx_inverse
        self.reset()

    def reset(self, rx_inverse: int = -1) -> None:
        """Forget everything (before a cold or warm reset). ``rx_inverse``: new UART mode, -1 = as at start."""
        if rx_inverse >= 0:
            self._rx_start_inverse = bool(rx_inverse)
        self.rx_inverse = self._rx_start_inverse
        pos = self._pos
        for i in range(MAX_GROUPS * 4):
            pos[i] = 0
        self.inverse = False
        self._convert = False
        self.status = NEED_MORE
        self.error = NO_ERROR
        self.length = 0
        self.groups = 0
        self.protocols = 0
        self.hist_pos = 0
        self.hist_len = 0
        self.tck_present = False
        self.extra = 0
        self._state = _ST_TS
        self._y = 0
        self._left = 0
        self._xor = 0

    def set_rx_inverse(self, rx_inverse: bool) -> None:
        """The slot switched the UART's convention: bytes now arrive in that mode."""
        self.rx_inverse = rx_inverse
        self._convert = self.inverse != rx_inverse

    def _fail(self, code: int) -> int:
        self.error = code
        self._state = _ST_ERROR
        self.status = ERROR
        return ERROR

    def _done(self) -> int:
        self._state = _ST_DONE
        self.status = DONE
        return DONE

    def _after_iface(self) -> int:
        # Interface bytes complete: historical bytes, TCK or the end (§2.1, A9, A14).
        self.tck_present = (self.protocols & 0xFFFE) != 0
        total = self.length + self.hist_len
        if self.tck_present:
            total += 1
        if total > MAX_ATR_LEN:
            return self._fail(TOO_LONG)
        self.hist_pos = self.length
        if self.hist_len:
            self._left = self.hist_len
            self._state = _ST_HIST
            return NEED_MORE
        if self.tck_present:
            self._state = _ST_TCK
            return NEED_MORE
        return self._done()

    def _next_iface(self) -> int:
        # Expect the next interface byte announced by Y, or leave the interface bytes.
        if self._y == 0:
            return self._after_iface()
        self._state = _ST_IFACE
        return NEED_MORE

    def feed_byte(self, b: int) -> int:
        """Consume one received byte; return NEED_MORE, DONE or ERROR. Never raises, never allocates."""
        state = self._state
        if state == _ST_DONE:
            if self.extra < 255:
                self.extra += 1
            return DONE
        if state == _ST_ERROR:
            return ERROR
        b &= 0xFF
        if state == _ST_TS:
            # §1.2, A2-A5
            if self.rx_inverse:
                if b == _TS_INVERSE:
                    self.inverse = True
                elif b == _TS_DIRECT_IN_INVERSE:
                    self.inverse = False
                else:
                    return self._fail(BAD_TS)
            else:
                if b == _TS_DIRECT:
                    self.inverse = False
                elif b == _TS_INVERSE_IN_DIRECT:
                    self.inverse = True
                else:
                    return self._fail(BAD_TS)
            self._convert = self.inverse != self.rx_inverse
            self.buf[0] = _TS_INVERSE if self.inverse else _TS_DIRECT
            self.length = 1
            self._state = _ST_T0
            return NEED_MORE
        if self._convert:
            b = inverse_byte(b)
        n = self.length
        if n >= MAX_ATR_LEN:  # A14: never reached through _after_iface's check, kept as the hard bound
            return self._fail(TOO_LONG)
        self.buf[n] = b
        self.length = n + 1
        self._xor ^= b  # TCK: XOR of T0..TCK (§2.1)
        if state == _ST_T0:
            self._y = b & 0xF0
            self.hist_len = b & 0x0F
            self.groups = 1
            return self._next_iface()
        if state == _ST_IFACE:
            y = self._y
            base = (self.groups - 1) << 2
            if y & 0x10:
                self._pos[base + KIND_TA] = n
                self._y = y & 0xE0
                return self._next_iface()
            if y & 0x20:
                self._pos[base + KIND_TB] = n
                self._y = y & 0xC0
                return self._next_iface()
            if y & 0x40:
                self._pos[base + KIND_TC] = n
                self._y = y & 0x80
                return self._next_iface()
            # TDi (§2.1): Y(i+1) and the T of the next group
            self._pos[base + KIND_TD] = n
            t = b & 0x0F
            if t == _T15 and self.groups == 1:
                return self._fail(T15_IN_TD1)  # A15
            self.protocols |= 1 << t
            self._y = b & 0xF0
            if self._y and self.groups >= MAX_GROUPS:
                return self._fail(TOO_LONG)  # unreachable within 33 bytes; keeps _pos in bounds
            self.groups += 1
            return self._next_iface()
        if state == _ST_HIST:
            self._left -= 1
            if self._left:
                return NEED_MORE
            if self.tck_present:
                self._state = _ST_TCK
                return NEED_MORE
            return self._done()  # A9: only T=0, no TCK to wait for
        # _ST_TCK (A10, A11)
        if self._xor != 0:
            return self._fail(BAD_TCK)
        return self._done()

    def feed(self, data, start: int = 0, end: int = -1) -> int:
        """Feed ``data[start:end]`` until the ATR ends; return the index of the first byte not consumed.

        Stops right after the byte that made ``status`` DONE or ERROR: what follows is not
        part of the ATR (A13) and is left to the caller. Allocates nothing.
        """
        if end < 0:
            end = len(data)
        i = start
        while i < end and self.status == NEED_MORE:
            self.feed_byte(data[i])
            i += 1
        return i

    # --- access to the parsed ATR (valid until reset) ---

    def atr(self) -> memoryview:
        """The ATR bytes received so far (logical values), a view valid until reset."""
        return memoryview(self.buf)[: self.length]

    def historical(self) -> memoryview:
        """The historical bytes received so far, a view valid until reset."""
        end = self.hist_pos + self.hist_len
        if end > self.length:
            end = self.length
        if self.hist_pos == 0:
            end = 0
        return memoryview(self.buf)[self.hist_pos : end]

    def iface(self, kind: int, i: int) -> int:
        """Value of interface byte T<kind><i> (kind KIND_TA..KIND_TD, i >= 1); -1 if absent."""
        if i < 1 or i > MAX_GROUPS or kind < 0 or kind > 3:
            return -1
        p = self._pos[((i - 1) << 2) + kind]
        if p == 0:
            return -1
        return self.buf[p]

    def ta(self, i: int) -> int:
        return self.iface(KIND_TA, i)

    def tb(self, i: int) -> int:
        return self.iface(KIND_TB, i)

    def tc(self, i: int) -> int:
        return self.iface(KIND_TC, i)

    def td(self, i: int) -> int:
        return self.iface(KIND_TD, i)

    def first_for_protocol(self, kind: int, t: int) -> int:
        """First TA/TB/TC (kind) present in a group i >= 3 announced by TD(i-1) with this T; -1 if none.

        iso7816-3.md §2.2: only the first byte of a kind for a given T counts (libccid get_IFSC).
        """
        for i in range(3, self.groups + 1):
            td = self.iface(KIND_TD, i - 1)
            if td >= 0 and (td & 0x0F) == t:
                v = self.iface(kind, i)
                if v >= 0:
                    return v
        return -1

    def offered_protocols(self) -> int:
        """Bitmap of offered protocols (bit T for T = 0..14); T=0 alone without TD1 (§2.1)."""
        if self.iface(KIND_TD, 1) < 0:
            return 1
        return self.protocols & 0x7FFF

    def default_protocol(self) -> int:
        """First T indicated (TD1's), or 0 without TD1 (§2.1, libccid ATR_GetDefaultProtocol)."""
        td1 = self.iface(KIND_TD, 1)
        if td1 < 0:
            return 0
        return td1 & 0x0F


class ATRDecision:
    """Reader decisions after the ATR (iso7816-3.md §2.3); reusable, filled by `decide`."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.action = REJECT
        self.error = NOT_DONE
        self.protocols = 1
        self.default_protocol = 0
        self.protocol = 0  # protocol in force after the ATR
        self.pps_required = False  # negotiable mode, default T unsupported: a PPS must select `protocol`
        self.specific = False
        self.can_change_mode = True  # TA2 b8 = 0
        self.implicit = False  # TA2 b5 = 1
        self.ta1 = timing.TA1_DEFAULT
        self.fi = timing.FD  # from TA1, 372/1 when RFU (A16)
        self.di = timing.DD
        self.fmax_hz = 5000000
        self.ta1_usable = True
        self.ta1_supported = True
        self.f = timing.FD  # in force after the ATR
        self.d = timing.DD
        self.n = 0  # TC1
        self.guard_time_etu = timing.GUARD_TIME_DEFAULT_ETU
        self.wi = timing.WI_DEFAULT
        self.wt_etu = timing.INITIAL_WT_ETU
        self.ifsc = timing.IFSC_DEFAULT
        self.bwi = timing.BWI_DEFAULT
        self.cwi = timing.CWI_DEFAULT
        self.bwt_etu = timing.bwt_etu(timing.BWI_DEFAULT, timing.DD, timing.FD)
        self.cwt_etu = timing.cwt_etu(timing.CWI_DEFAULT)
        self.edc_crc = False

    def _cannot_honour(self, code: int, after_warm_reset: bool) -> int:
        # §2.3, A18: warm reset if the card can change mode (TA2 b8 = 0), once.
        self.error = code
        if self.can_change_mode and not after_warm_reset:
            self.action = WARM_RESET
        else:
            self.action = REJECT
        return self.action

    def _reject(self, code: int) -> int:
        self.error = code
        self.action = REJECT
        return REJECT

    def decide(
        self, atr: ATRParser, clock_hz: int = 3571200, max_baud: int = 250000, after_warm_reset: bool = False
    ) -> int:
        """Fill the fields from a DONE parser; return ACCEPT, WARM_RESET or REJECT (see module docstring).

        ``clock_hz``: CLK frequency the slot uses; ``max_baud``: highest card bit rate the
        HAL supports; ``after_warm_reset``: this ATR answered a warm reset already.
        """
        self.clear()
        if atr.status != DONE:
            return self._reject(NOT_DONE if atr.error == NO_ERROR else atr.error)
        self.error = NO_ERROR
        self.protocols = atr.offered_protocols()
        self.default_protocol = atr.default_protocol()
        self.protocol = self.default_protocol

        # TA1 (A16): FI/DI, RFU -> 372/1
        ta1 = atr.ta(1)
        if ta1 < 0:
            ta1 = timing.TA1_DEFAULT
        self.ta1 = ta1
        fi = timing.fi_from_ta1(ta1)
        di = timing.di_from_ta1(ta1)
        if fi == 0 or di == 0:
            self.ta1_usable = False
            self.ta1_supported = False
            self.fi = timing.FD
            self.di = timing.DD
            self.fmax_hz = 5000000
        else:
            self.fi = fi
            self.di = di
            self.fmax_hz = timing.fmax_hz_from_ta1(ta1)
            self.ta1_supported = clock_hz <= self.fmax_hz and timing.baud(fi, di, clock_hz) <= max_baud

        # TC1 (A20)
        n = atr.tc(1)
        self.n = n if n >= 0 else 0

        # TA2: specific or negotiable mode (A17-A19)
        ta2 = atr.ta(2)
        if ta2 >= 0:
            self.specific = True
            self.can_change_mode = (ta2 & 0x80) == 0
            self.implicit = (ta2 & 0x10) != 0
            self.protocol = ta2 & 0x0F
            if self.implicit:
                return self._cannot_honour(IMPLICIT_TA2, after_warm_reset)
            if self.protocol > 1:
                return self._cannot_honour(PROTOCOL_NOT_SUPPORTED, after_warm_reset)
            if not self.ta1_usable:
                return self._cannot_honour(BAD_TA1, after_warm_reset)
            if not self.ta1_supported:
                return self._cannot_honour(TA1_UNSUPPORTED, after_warm_reset)
            self.f = self.fi
            self.d = self.di
        elif (self.protocols & 0x03) == 0:
            return self._reject(PROTOCOL_NOT_SUPPORTED)
        elif self.protocol > 1:
            # negotiable mode, first offered T unsupported: select T=0 (else T=1) with a PPS
            self.protocol = 0 if self.protocols & 0x01 else 1
            self.pps_required = True

        # TC2 (A21): WI for T=0
        wi = atr.tc(2)
        if wi == 0:
            return self._reject(BAD_WI)
        if wi > 0:
            self.wi = wi

        # T=1 parameters (A8, A22, A23)
        if self.protocols & 0x02:
            ifsc = atr.first_for_protocol(KIND_TA, 1)
            if ifsc == 0:
                return self._reject(BAD_IFSC)
            if ifsc == 0xFF:
                ifsc = 254  # libccid clamps 255 to 254
            if ifsc > 0:
                self.ifsc = ifsc
            tb = atr.first_for_protocol(KIND_TB, 1)
            if tb >= 0:
                self.bwi = tb >> 4
                self.cwi = tb & 0x0F
                if self.bwi > timing.BWI_MAX:
                    return self._reject(BAD_BWI)
            tc = atr.first_for_protocol(KIND_TC, 1)
            if tc >= 0:
                self.edc_crc = (tc & 0x01) != 0

        # Timings at the F/D in force
        self.guard_time_etu = timing.guard_time_etu(self.n, self.protocol)
        self.wt_etu = timing.wt_etu(self.wi, self.d, self.fi, self.f)
        self.bwt_etu = timing.bwt_etu(self.bwi, self.d, self.f)
        self.cwt_etu = timing.cwt_etu(self.cwi)
        self.action = ACCEPT
        return ACCEPT
