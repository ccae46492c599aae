"""ISO/IEC 7816-3:2006 §10 T=0, reader side: TPDU engine and APDU -> TPDU mapping (§12).

References are to /work/shared/reference/iso7816-3.md (§4.1 procedure bytes, §4.2 APDU
-> TPDU mapping, §6.3 rows T0-1..T0-34, §7.4 vectors, §1.3/§1.4 timing, §8.1-8.3 design
lessons). Sans-IO like `atr` and `pps`: the engines never touch the card port, never
block or sleep, never raise on card input, allocate nothing per byte (buffers are the
caller's or made in ``__init__``) and report errors as codes (``error``), mapped to CCID
bError by `ccid_error`. Bytes are logical values (convention already undone by the port).

Two engines with the same driver interface:

* `T0TPDU` (ISO §10.3, iso7816-3.md §4.1): one TPDU, header ``CLA INS P1 P2 P3`` plus
  command data (to the card) or response data (from the card).
* `T0APDU` (ISO §12.1-12.2, iso7816-3.md §4.2): one command APDU (cases 1, 2S, 3S, 4S,
  2E, 3E, 4E); it drives an inner `T0TPDU` through every TPDU the mapping needs (the
  command, 6Cxx re-issues, GET RESPONSE, ENVELOPE chunks) and assembles the response
  APDU ``data SW1 SW2`` in a caller buffer. The driver sees only SEND/RECEIVE.

Action protocol (what the slot driver implements; identical for both engines)
------------------------------------------------------------------------------

``eng.action()`` returns the current action; every input below returns it too.

* ``SEND``: transmit ``eng.tx_buf[eng.tx_offset : eng.tx_offset + eng.tx_count]``
  (the 5-byte header, or command data from the caller's buffer). Before the first
  character: wait at least `TURNAROUND_ETU` (16 etu) after the leading edge of the
  card's last character (iso7816-3.md §1.3, T0-30) and flush the receiver (any byte
  found there is an extra card byte: count/log it, never feed it, T0-32). Characters
  are spaced by the guard time (12 + N etu); a character the card NACKs is repeated
  by the port, bounded (T0-29); a single-wire port removes its echo (T0-31). Then call
  ``eng.on_sent()`` once for the whole chunk; if the port gave up on a character
  (retries exhausted) call ``eng.on_send_error()`` instead (-> ERROR SEND_FAILED).
* ``RECEIVE``: the engine waits for ``eng.rx_count`` more card bytes (1 while it waits
  for a procedure byte or SW2; the remaining data count after an INS ACK; a hint for
  the port's RX threshold). Hand over every received byte, in order, with
  ``eng.feed(b, parity_error)`` (``parity_error`` = the port still saw a parity error
  after its character-repetition retries, T0-28) or, for a run of good bytes,
  ``eng.feed_buf(buf, start, end)`` which stops at the first byte after which the
  action is no longer RECEIVE and returns the index of the first byte not consumed.
  Re-read ``action()`` after each input: a RECEIVE can turn into SEND, DONE or ERROR
  before ``rx_count`` bytes arrived. Timeout: ``eng.timeout_etu`` (= ``wt_etu``, the
  T=0 WT of iso7816-3.md §1.4, ``timing.wt_etu``) between the leading edges of two
  consecutive characters in either direction (the last character sent, then every
  character received, NULL included, restarts it; round up, a late timeout is
  harmless). On expiry call ``eng.on_timeout()``.
* ``DONE``: ended normally. `T0TPDU`: ``sw1``, ``sw2``, ``sw``, ``rx_length`` data bytes
  received (``stored()`` of them written to ``resp[resp_offset:]``; after `start_tpdu`
  followed by SW1 SW2, ``resp_length`` bytes in all), ``tx_done`` data bytes sent.
  `T0APDU`: ``resp[:resp_length]`` = response data (``data_length`` bytes) + SW1 SW2,
  ``sw``; ``response()`` is that as a memoryview. Card bytes that still arrive belong to nobody: the driver
  flushes them; ``feed()`` after DONE only counts them in ``extra_count`` (T0-32).
* ``ERROR``: ``eng.error`` (codes below), ``ccid_error(eng.error)`` for bError. The
  engine sends nothing more; whether to deactivate or reset (T0-5) is the slot's call.
* ``IDLE``: not started (or ``reset()``). ``feed`` then gives ERROR NOT_STARTED.

``start(...)`` begins an exchange and returns NO_ERROR or an error code (action ERROR,
nothing sent: INS 6X/9X, T0-24; inconsistent lengths; buffer too small).

TPDU engine rules (`T0TPDU`, iso7816-3.md §4.1)
-----------------------------------------------

``start(header, nc, ne, data, data_offset, resp, resp_offset, keep)``: ``nc`` command
bytes ``data[data_offset:data_offset + nc]`` go to the card (P3 = nc, 1..255), or
``ne`` response bytes are expected (P3 = ne, 256 coded 00), or neither (P3 = 00,
case 1). Received data go to ``resp[resp_offset:]``; only the first ``keep`` (default
``ne``) are stored, the others are counted in ``rx_length`` and dropped (used by
`T0APDU` for 6Cxx > Ne, T0-11). The header is copied; the data buffer is read in place
and must not change before DONE/ERROR. `start_tpdu(tpdu, n, resp, resp_offset)` takes a
raw TPDU as a CCID TPDU-level XfrBlock carries it (header only: Ne = P3, 00 = 256;
longer: Nc = n - 5 = P3), needs room for Ne + 2 bytes and writes SW1 SW2 after the data.

After the header (and after each data step) one procedure byte is expected:

* ``INS``: ACK, transfer all the remaining bytes (``nc - tx_done`` or ``ne -
  rx_length``), then a procedure byte again. Odd INS are ordinary INS (ISO 7816-4:2005,
  T0-25): no legacy INS xor 01 / INS xor FE (Vpp) ACK, those are invalid procedure bytes.
* ``INS xor FF``: transfer the next single byte. ``tx_done`` / ``rx_length`` are the
  "next byte" pointers, so mixing with INS never resends or re-receives a byte (T0-15).
* ``60`` NULL: keep waiting; the driver's WT restarts with the character (T0-2, T0-17).
  ISO sets no limit (T0-3); this engine allows ``null_limit`` NULLs in a row without
  progress (reset at every ACK), default `NULL_LIMIT_DEFAULT` = 65 535: with the default
  WT (9 600 etu = 1 s at 9 600 bit/s) and a card sending a NULL every WT/2 that is
  about 9 hours, far beyond any real card (oscam's 200 would break long key
  generations). Above it: ERROR TOO_MANY_NULLS (-> ICC_MUTE). Never unbounded.
* ``6X`` (X != 0) or ``9X``: SW1, then SW2 ends the TPDU (DONE). It may come instead
  of an ACK (T0-9, T0-14) or between single-byte steps (T0-16).
* anything else, or an ACK when nothing remains to transfer: ERROR BAD_PROCEDURE
  (T0-5, -> PROCEDURE_BYTE_CONFLICT).

Receiving after an INS ACK, the data bytes cannot be told from an SW by value. T0-16
(SW1 in the middle of the data phase) is recognised when the card falls silent: a WT
expiry during that data phase, with at least 2 bytes received since the ACK and the
last-but-one an SW1 value (6X != 60, 9X), ends the TPDU with those two bytes as SW1 SW2
(``early_sw`` True, ``rx_length`` excludes them). Any other WT expiry: ERROR MUTE (T0-4).
A parity error reported on a received byte: ERROR PARITY (T0-28). A byte fed while the
engine is sending (SEND): ERROR BYTE_WHILE_SENDING (e.g. an echo the port did not
remove). INS 6X/9X: refused by ``start`` with BAD_INS (T0-24).

APDU layer rules (`T0APDU`, iso7816-3.md §4.2)
----------------------------------------------

``start(apdu, n, resp, resp_max)`` (both buffers used in place until DONE/ERROR: the
command data and ENVELOPE chunks are sent from ``apdu``); case from `apdu_case` (ISO 7816-4 §5.1): 4 bytes
case 1; 5 bytes case 2S (Le 00 = 256); byte 4 != 0: 5 + Lc case 3S, 6 + Lc case 4S;
byte 4 = 00: 7 bytes case 2E (Le 0000 = 65 536), 7 + Lc (Lc != 0) case 3E, 9 + Lc
case 4E; anything else BAD_APDU. The response data + SW go to ``resp[:resp_max]``
(default ``len(resp)``, at least 2): data that the APDU wants (at most Ne) but that do
not fit before the 2 SW bytes give ERROR OVERRUN (XFR_OVERRUN), never an exception.

Command TPDU: case 1 ``CLA INS P1 P2 00``; cases 2S/2E ``... P3 = Ne`` (Ne >= 256: 00,
T0-7, T0-27); cases 3S/4S, and 3E/4E with Nc <= 255, ``... P3 = Nc`` + data (case 4:
Le not sent). Nc > 255 (T0-26): the whole C-APDU (all ``n`` bytes) is sent in ENVELOPE
TPDUs ``CLA C2 00 00 P3`` of at most 255 bytes; every chunk but the last must answer
9000 (any other SW ends the APDU with that SW); the last chunk's SW is handled as the
command's (case 3 or 4 rules below). No empty terminating ENVELOPE is sent.

Card answers to a TPDU that *receives* data (case 2 command, GET RESPONSE, re-issues):

* ``6Cxx``: re-issue the same header with P3 = xx (00 = 256); data of the wrong-length
  TPDU are dropped; at most Ne bytes are returned (T0-10, T0-11, EMV A2); at most
  `MAX_6C_IN_A_ROW` consecutive 6Cxx, else ERROR LOOP_LIMIT.
* ``61xx`` (and ``9Fxx`` when the command's CLA is A0 and ``gsm_class_a0`` is on,
  GSM 11.11 profile, T0-33): GET RESPONSE ``CLA C0 00 00 xx`` (P3 = xx, EMV/ANSSI), data
  concatenated (T0-12, T0-19, T0-27). CLA is 00, or A0 for a class A0 command. When
  Ne bytes are already there the loop stops and 61xx is reported with the data.
* ``9000``: done with the data (or the pending SW, below).
* ``62xx`` / ``63xx``: done, data + that warning (T0-22).
* other: done with that SW and the data so far; if it answers a GET RESPONSE sent for a
  pending SW (warning or ANSSI policy), the pending SW is reported with no data.

Answers to a TPDU that *sends* data or nothing (case 1/3/4 command, last ENVELOPE):

* case 1 and 3 (Ne = 0): ``61xx`` / ``6Cxx`` -> ERROR SW_NOT_ALLOWED (T0-23); any other
  SW ends the APDU (T0-13, T0-14). 9Fxx is returned as is (GSM applications fetch it).
* case 4 (Ne > 0): ``61xx`` (or GSM ``9Fxx``) -> GET RESPONSE P3 = xx (T0-19, EMV A4/A6).
  ``62xx``/``63xx`` -> pending warning, GET RESPONSE P3 = 00, then the rules above
  (6Cxx re-issue, 61xx loop); the final SW is the *original* warning with the data
  (T0-21, EMV A7). ``6Cxx`` -> ERROR SW_NOT_ALLOWED (a re-issue would change Lc).
  ``9000`` without data (T0-20) follows ``case4_policy``: `CASE4_FINISH` (default, EMV
  CIS Annex A: 9000 is final; no extra command to a card that said "done") or
  `CASE4_GET_RESPONSE` (ANSSI Case4S2: GET RESPONSE P3 = Le, with 9000 pending: if the
  card refuses it the APDU still ends 9000 with no data). Other SW: final (T0-18).

Every card-driven loop is bounded: at most ``max_followups`` (default
`MAX_FOLLOWUPS_DEFAULT` = 320: 65 536 / 256 GET RESPONSE plus re-issues) GET RESPONSE /
re-issue TPDUs per APDU, then ERROR LOOP_LIMIT; ENVELOPE chunks are bounded by Nc.

Error codes and CCID bError (`ccid_error`, CCID rev 1.1 Table 6.2-2)
--------------------------------------------------------------------

* MUTE (WT expired, T0-4), TOO_MANY_NULLS (T0-3 cap) -> 0xFE ICC_MUTE.
* PARITY (received character, T0-28), SEND_FAILED (card kept NACKing a reader
  character, T0-29) -> 0xFD XFR_PARITY_ERROR.
* BAD_PROCEDURE (T0-5), BYTE_WHILE_SENDING, SW_NOT_ALLOWED (T0-23), LOOP_LIMIT
  -> 0xF4 PROCEDURE_BYTE_CONFLICT.
* OVERRUN (response does not fit the caller's buffer) -> 0xFC XFR_OVERRUN.
* BAD_INS (T0-24), BAD_TPDU, BAD_APDU, NOT_STARTED -> 0x00 CMD_NOT_SUPPORTED: nothing
  reached the card. 0x00 is also ``ccid_error(NO_ERROR)``: map only real errors.

Wire-time accounting
--------------------

`tpdu_min_etu(nc, ne, guard_time_etu)` is the theoretical minimum duration of one TPDU
(no card processing, no NULL, one INS ACK), from the leading edge of CLA to the end of
SW2's guard time, for the benchmark's wire efficiency (iso7816-3.md §1.2, §1.3)::

    GT = guard_time_etu (12 + N), C = 12 etu (card character: 10 etu + guard), TA = 16
    header          4 * GT + TA                 (5 chars, leading edge to leading edge,
                                                 turnaround to the card's first char)
    nc > 0:  + TA + (nc - 1) * GT + TA          (ACK, turnaround, data, turnaround)
    ne > 0:  + (1 + ne) * C                     (ACK and data in one card run)
    always   + 2 * C                            (SW1 SW2)

e.g. case 1 with GT 12: 48 + 16 + 24 = 88 etu; Le = 256: 64 + 257 * 12 + 24 = 3 172 etu.
`T0APDU` adds it up over its TPDUs with the bytes actually moved (``wire_min_etu``, GT
from its ``guard_time_etu`` attribute, default 12): measured time / ``wire_min_etu`` is the
overhead of card processing, NULLs, single-byte ACKs and the port. A T0-16 data phase
cut short (EMV A5/A6 vectors) costs one WT on top.
"""

from cpsdi_proto.ccid import (
    ERR_CMD_NOT_SUPPORTED,
    ERR_ICC_MUTE,
    ERR_PROCEDURE_BYTE_CONFLICT,
    ERR_XFR_OVERRUN,
    ERR_XFR_PARITY_ERROR,
)
from cpsdi_proto.compat import const

from cpsdi_fw.iso7816_3 import timing
from cpsdi_fw.iso7816_3.engine import DONE, ERROR, IDLE, RECEIVE, SEND  # the driver action protocol


# Error codes; 0 = none
NO_ERROR = const(0)
MUTE = const(1)  # WT expired (T0-4)
PARITY = const(2)  # parity error on a card character after the port's retries (T0-28)
BAD_PROCEDURE = const(3)  # invalid procedure byte, or ACK with nothing to transfer (T0-5)
TOO_MANY_NULLS = const(4)  # more than null_limit NULLs without progress (T0-3)
BYTE_WHILE_SENDING = const(5)  # card byte fed while the reader sends
SEND_FAILED = const(6)  # the port gave up on a reader character (T0-29)
BAD_INS = const(7)  # INS 6X/9X, refused before sending (T0-24)
BAD_TPDU = const(8)  # inconsistent header/lengths given to start()
BAD_APDU = const(9)  # command APDU with no valid case
OVERRUN = const(10)  # response does not fit the caller's buffer
SW_NOT_ALLOWED = const(11)  # 61xx/6Cxx on case 1/3, 6Cxx on a case 4 command (T0-23)
LOOP_LIMIT = const(12)  # too many GET RESPONSE / re-issues
NOT_STARTED = const(13)  # input before start()

# APDU cases (apdu_case); 0 = invalid
CASE_1 = const(1)
CASE_2S = const(2)
CASE_3S = const(3)
CASE_4S = const(4)
CASE_2E = const(5)
CASE_3E = const(6)
CASE_4E = const(7)

# T0APDU.case4_policy (T0-20)
CASE4_FINISH = const(0)  # EMV: 9000 after a case 4 command phase is final (default)
CASE4_GET_RESPONSE = const(1)  # ANSSI Case4S2: GET RESPONSE with P3 = Le

DEFAULT_WT_ETU = timing.INITIAL_WT_ETU  # WI = 10, D = 1 (iso7816-3.md §1.4)
NULL_LIMIT_DEFAULT = const(65535)
MAX_FOLLOWUPS_DEFAULT = const(320)
MAX_6C_IN_A_ROW = const(3)
TURNAROUND_ETU = const(16)  # iso7816-3.md §1.3 (EMV), T0-30
CARD_CHAR_ETU = const(12)  # 10 etu character + 2 etu guard (§1.2)
HEADER_LEN = const(5)
MAX_ENVELOPE_CHUNK = const(255)

INS_GET_RESPONSE = const(0xC0)
INS_ENVELOPE = const(0xC2)
CLA_GSM = const(0xA0)

_NULL = const(0x60)

# T0TPDU internal states
_S_IDLE = const(0)
_S_HEADER = const(1)  # sending the header
_S_PROC = const(2)  # waiting for a procedure byte
_S_TX = const(3)  # sending command data
_S_RX = const(4)  # receiving response data
_S_SW2 = const(5)
_S_DONE = const(6)
_S_ERROR = const(7)

# T0APDU: what the TPDU in flight is
_K_IN = const(0)  # receives data: case 2 command, GET RESPONSE, re-issue
_K_OUT = const(1)  # case 1/3/4 command, last ENVELOPE chunk
_K_ENV = const(2)  # ENVELOPE chunk that is not the last


def ccid_error(code: int) -> int:
    """CCID bError (CCID rev 1.1 Table 6.2-2) for a T=0 error; 0 for none (module docstring)."""
    if code == NO_ERROR:
        return 0
    if code == MUTE or code == TOO_MANY_NULLS:
        return ERR_ICC_MUTE
    if code == PARITY or code == SEND_FAILED:
        return ERR_XFR_PARITY_ERROR
    if code == OVERRUN:
        return ERR_XFR_OVERRUN
    if code == BAD_INS or code == BAD_TPDU or code == BAD_APDU or code == NOT_STARTED:
        return ERR_CMD_NOT_SUPPORTED
    return ERR_PROCEDURE_BYTE_CONFLICT


def is_sw1(b: int) -> bool:
    """True for an SW1 value of T=0: 6X with X != 0, or 9X (iso7816-3.md §4.1)."""
    hi = b & 0xF0
    return (hi == 0x60 and b != _NULL) or hi == 0x90


def ins_valid(ins: int) -> bool:
    """False for INS 6X and 9X, which T=0 cannot carry (T0-24, libccid)."""
    hi = ins & 0xF0
    return hi != 0x60 and hi != 0x90


def tpdu_min_etu(nc: int, ne: int, guard_time_etu: int = timing.GUARD_TIME_DEFAULT_ETU) -> int:
    """Theoretical minimum etu of one T=0 TPDU (formula in the module docstring)."""
    gt = guard_time_etu
    t = 4 * gt + TURNAROUND_ETU
    if nc > 0:
        t += TURNAROUND_ETU + (nc - 1) * gt + TURNAROUND_ETU
    elif ne > 0:
        t += (1 + ne) * CARD_CHAR_ETU
    return t + 2 * CARD_CHAR_ETU


def _p3_le(ne: int) -> int:
    # P3 of a TPDU asking for Ne bytes: Ne, or 00 for Ne >= 256 (T0-7, T0-27).
    return ne if ne < 256 else 0


def apdu_case(apdu, n: int = -1) -> int:
    """ISO 7816-4 §5.1 case of ``apdu[:n]``: CASE_1 .. CASE_4E, or 0 when malformed."""
    if n < 0:
        n = len(apdu)
    if n < 4 or n > len(apdu):
        return 0
    if n == 4:
        return CASE_1
    if n == 5:
        return CASE_2S
    b4 = apdu[4]
    if b4 != 0:
        if n == 5 + b4:
            return CASE_3S
        if n == 6 + b4:
            return CASE_4S
        return 0
    if n == 7:
        return CASE_2E
    if n < 7:
        return 0
    lc = (apdu[5] << 8) | apdu[6]
    if lc == 0:
        return 0
    if n == 7 + lc:
        return CASE_3E
    if n == 9 + lc:
        return CASE_4E
    return 0


class T0TPDU:
    """One T=0 TPDU, sans-IO (module docstring: action protocol, TPDU engine rules)."""

    def __init__(self, wt_etu: int = DEFAULT_WT_ETU, null_limit: int = NULL_LIMIT_DEFAULT) -> None:
        self.header = bytearray(HEADER_LEN)
        self.wt_etu = wt_etu
        self.null_limit = null_limit
        self._none = bytearray(0)
        self.reset()

    def reset(self) -> None:
        """Back to IDLE, forgetting the caller's buffers."""
        self._clear()
        self._state = _S_IDLE
        self._act = IDLE
        self.error = NOT_STARTED

    def _clear(self) -> None:
        self._state = _S_IDLE
        self._act = IDLE
        self.error = NO_ERROR
        self.tx_buf = self._none
        self.tx_offset = 0
        self.tx_count = 0
        self.rx_count = 0
        self.timeout_etu = self.wt_etu
        self.nc = 0
        self.ne = 0
        self._data = self._none
        self._data_offset = 0
        self._resp = self._none
        self._resp_offset = 0
        self._keep = 0
        self._sw_to_resp = False  # start_tpdu: SW written after the data
        self.resp_length = 0  # start_tpdu: data + SW bytes in resp at DONE
        self.tx_done = 0  # next command byte to send ("next byte" pointer, T0-15)
        self.rx_length = 0  # response data bytes received (next byte pointer)
        self.sw1 = 0
        self.sw2 = 0
        self.sw = 0
        self.early_sw = False  # T0-16: SW found at the end of a silent data phase
        self.null_count = 0  # NULLs in this TPDU (statistics)
        self._nulls = 0  # NULLs since the last progress (bounded by null_limit)
        self.acks = 0  # INS / INS xor FF procedure bytes (statistics)
        self.extra_count = 0  # bytes fed after DONE (saturates at 255, T0-32)
        self._chunk = 0  # bytes received since the last ACK
        self._prev = 0  # the two last bytes received in the data phase
        self._last = 0

    def action(self) -> int:
        """The current action: IDLE, SEND, RECEIVE, DONE or ERROR."""
        return self._act

    def stored(self) -> int:
        """Response data bytes written to the caller's buffer (<= keep)."""
        n = self.rx_length
        return n if n < self._keep else self._keep

    def _fail(self, code: int) -> int:
        self.error = code
        self._state = _S_ERROR
        self._act = ERROR
        self.tx_count = 0
        self.rx_count = 0
        return ERROR

    def _refuse(self, code: int) -> int:
        # start() failing: action ERROR, the code is returned.
        self._fail(code)
        return code

    def start(self, header, nc: int, ne: int, data=None, data_offset: int = 0, resp=None,
              resp_offset: int = 0, keep: int = -1) -> int:
        """Begin a TPDU (module docstring); NO_ERROR and action SEND, or an error code and ERROR."""
        self._clear()
        if len(header) < HEADER_LEN:
            return self._refuse(BAD_TPDU)
        if not ins_valid(header[1]):
            return self._refuse(BAD_INS)
        p3 = header[4]
        if nc < 0 or ne < 0 or nc > 255 or ne > 256 or (nc > 0 and ne > 0):
            return self._refuse(BAD_TPDU)
        if keep < 0 or keep > ne:
            keep = ne
        if nc > 0:
            if data is None or p3 != nc or data_offset < 0 or data_offset + nc > len(data):
                return self._refuse(BAD_TPDU)
            self._data = data
        elif p3 != (ne & 0xFF):
            return self._refuse(BAD_TPDU)
        if keep > 0:
            if resp is None or resp_offset < 0 or resp_offset + keep > len(resp):
                return self._refuse(OVERRUN)
            self._resp = resp
        for i in range(HEADER_LEN):
            self.header[i] = header[i]
        self.nc = nc
        self.ne = ne
        self._data_offset = data_offset
        self._resp_offset = resp_offset
        self._keep = keep
        self.timeout_etu = self.wt_etu
        self._state = _S_HEADER
        self._act = SEND
        self.tx_buf = self.header
        self.tx_offset = 0
        self.tx_count = HEADER_LEN
        return NO_ERROR

    def start_tpdu(self, tpdu, n: int = -1, resp=None, resp_offset: int = 0) -> int:
        """Begin a raw TPDU as a CCID TPDU-level XfrBlock carries it (``tpdu[:n]``).

        5 bytes: header only, Ne = P3 (00 = 256; a case 1 command P3 = 00 therefore
        accepts up to 256 bytes if the card ACKs, as libccid's T=0 path does); more: the
        header and Nc = n - 5 command bytes, which must equal P3. ``resp[resp_offset:]``
        must hold Ne + 2 bytes (else OVERRUN): at DONE it holds the data then SW1 SW2,
        ``resp_length`` bytes, ready for a CCID DataBlock.
        """
        if n < 0:
            n = len(tpdu)
        if n < HEADER_LEN or n > len(tpdu):
            self._clear()
            return self._refuse(BAD_TPDU)
        ne = 0 if n > HEADER_LEN else (tpdu[4] or 256)
        if resp is None or resp_offset < 0 or resp_offset + ne + 2 > len(resp):
            self._clear()
            return self._refuse(OVERRUN)
        if n == HEADER_LEN:
            err = self.start(tpdu, 0, ne, None, 0, resp, resp_offset, ne)
        else:
            err = self.start(tpdu, n - HEADER_LEN, 0, tpdu, HEADER_LEN)
        self._resp = resp
        self._resp_offset = resp_offset
        self._sw_to_resp = True
        return err

    def _to_proc(self) -> int:
        self._state = _S_PROC
        self._act = RECEIVE
        self.tx_count = 0
        self.rx_count = 1
        return RECEIVE

    def _ack(self, count: int) -> int:
        # INS (count = all remaining) or INS xor FF (count = 1): transfer `count` bytes.
        if count <= 0:
            return self._fail(BAD_PROCEDURE)  # ACK with nothing left to transfer
        self._nulls = 0
        self.acks += 1
        if self.nc > 0:
            self._state = _S_TX
            self._act = SEND
            self.tx_buf = self._data
            self.tx_offset = self._data_offset + self.tx_done
            self.tx_count = count
            self.rx_count = 0
            return SEND
        self._state = _S_RX
        self._chunk = 0
        self.rx_count = count
        return RECEIVE

    def _remaining(self) -> int:
        if self.nc > 0:
            return self.nc - self.tx_done
        return self.ne - self.rx_length

    def feed(self, b: int, parity_error: bool = False) -> int:
        """One card byte (``parity_error``: still wrong after the port's retries); returns the action."""
        s = self._state
        if s == _S_PROC:
            if parity_error:
                return self._fail(PARITY)
            b &= 0xFF
            if b == _NULL:
                self.null_count += 1
                self._nulls += 1
                if self._nulls > self.null_limit:
                    return self._fail(TOO_MANY_NULLS)
                return RECEIVE
            ins = self.header[1]
            if b == ins:
                return self._ack(self._remaining())
            if b == ins ^ 0xFF:
                return self._ack(1 if self._remaining() > 0 else 0)
            if is_sw1(b):
                self.sw1 = b
                self._state = _S_SW2
                return RECEIVE
            return self._fail(BAD_PROCEDURE)
        if s == _S_RX:
            if parity_error:
                return self._fail(PARITY)
            b &= 0xFF
            n = self.rx_length
            if n < self._keep:
                self._resp[self._resp_offset + n] = b
            self.rx_length = n + 1
            self._prev = self._last
            self._last = b
            self._chunk += 1
            left = self.rx_count - 1
            if left <= 0:
                self._nulls = 0
                return self._to_proc()
            self.rx_count = left
            return RECEIVE
        if s == _S_SW2:
            if parity_error:
                return self._fail(PARITY)
            return self._done(self.sw1, b & 0xFF)
        if s == _S_DONE:
            if self.extra_count < 255:
                self.extra_count += 1
            return DONE
        if s == _S_ERROR:
            return ERROR
        if s == _S_IDLE:
            return self._fail(NOT_STARTED)
        return self._fail(BYTE_WHILE_SENDING)

    def _done(self, sw1: int, sw2: int) -> int:
        self.sw1 = sw1
        self.sw2 = sw2
        self.sw = (sw1 << 8) | sw2
        self._state = _S_DONE
        self._act = DONE
        self.rx_count = 0
        self.tx_count = 0
        if self._sw_to_resp:
            n = self.stored()
            r = self._resp
            r[self._resp_offset + n] = sw1
            r[self._resp_offset + n + 1] = sw2
            self.resp_length = n + 2
        return DONE

    def feed_buf(self, buf, start: int = 0, end: int = -1) -> int:
        """Feed good bytes ``buf[start:end]`` while the action is RECEIVE; index of the first byte not consumed."""
        if end < 0:
            end = len(buf)
        i = start
        while i < end and self._act == RECEIVE:
            self.feed(buf[i])
            i += 1
        return i

    def on_sent(self) -> int:
        """The port transmitted the whole SEND chunk; returns the action."""
        s = self._state
        if s == _S_HEADER:
            return self._to_proc()
        if s == _S_TX:
            self.tx_done += self.tx_count
            return self._to_proc()
        return self._act

    def on_send_error(self) -> int:
        """The port gave up on a character of the SEND chunk (T0-29); returns the action."""
        s = self._state
        if s == _S_HEADER or s == _S_TX:
            return self._fail(SEND_FAILED)
        return self._act

    def on_timeout(self) -> int:
        """WT expired while RECEIVE (T0-4; T0-16 in a data phase, module docstring); returns the action."""
        s = self._state
        if s == _S_RX:
            if self._chunk >= 2 and is_sw1(self._prev):
                self.rx_length -= 2
                self.early_sw = True
                return self._done(self._prev, self._last)
            return self._fail(MUTE)
        if s == _S_PROC or s == _S_SW2:
            return self._fail(MUTE)
        return self._act


class T0APDU:
    """One command APDU over T=0, sans-IO (module docstring: APDU layer rules).

    Same driver interface as `T0TPDU` (``action``, ``tx_buf``/``tx_offset``/``tx_count``,
    ``rx_count``, ``timeout_etu``, ``feed``, ``feed_buf``, ``on_sent``, ``on_send_error``,
    ``on_timeout``). The inner engine is ``tpdu``; ``wt_etu`` and ``null_limit`` are
    copied to it by ``start``.
    """

    def __init__(self, wt_etu: int = DEFAULT_WT_ETU, null_limit: int = NULL_LIMIT_DEFAULT,
                 case4_policy: int = CASE4_FINISH, gsm_class_a0: bool = True,
                 max_followups: int = MAX_FOLLOWUPS_DEFAULT) -> None:
        self.tpdu = T0TPDU(wt_etu, null_limit)
        self.wt_etu = wt_etu
        self.null_limit = null_limit
        self.case4_policy = case4_policy
        self.gsm_class_a0 = gsm_class_a0
        self.max_followups = max_followups
        self.guard_time_etu = timing.GUARD_TIME_DEFAULT_ETU  # 12 + N, for wire_min_etu only
        self._hdr = bytearray(HEADER_LEN)
        self._none = bytearray(0)
        self._apdu = self._none
        self.resp = self._none
        self._clear()
        self.error = NOT_STARTED

    def _clear(self) -> None:
        self._act = IDLE
        self.error = NO_ERROR
        self.case = 0
        self.nc = 0
        self.ne = 0
        self._n = 0
        self._data_offset = 0
        self._room = 0  # data bytes that fit in resp before the SW
        self._collected = 0  # response data assembled so far
        self._kind = _K_OUT
        self._pending = 0  # SW to report after a GET RESPONSE (warning, ANSSI 9000), or 0
        self._env_offset = 0
        self._env_chunk = 0
        self._6c_row = 0
        self.followups = 0  # GET RESPONSE / re-issue TPDUs
        self.tpdus = 0  # TPDUs started for this APDU
        self.wire_min_etu = 0  # sum of tpdu_min_etu over the TPDUs ended so far
        self.sw = 0
        self.data_length = 0
        self.resp_length = 0
        self.extra_count = 0
        self.tx_buf = self._none
        self.tx_offset = 0
        self.tx_count = 0
        self.rx_count = 0
        self.timeout_etu = self.wt_etu

    def reset(self) -> None:
        """Back to IDLE."""
        self.tpdu.reset()
        self._clear()
        self.error = NOT_STARTED

    def action(self) -> int:
        """The current action: IDLE, SEND, RECEIVE, DONE or ERROR."""
        return self._act

    def response(self) -> memoryview:
        """``resp[:resp_length]`` (data + SW1 SW2) as a view, valid until the next ``start``."""
        return memoryview(self.resp)[: self.resp_length]

    def _fail(self, code: int) -> int:
        self.error = code
        self._act = ERROR
        self.tx_count = 0
        self.rx_count = 0
        return ERROR

    def _refuse(self, code: int) -> int:
        self._fail(code)
        return code

    def _finish(self, sw: int, data_length: int) -> int:
        r = self.resp
        r[data_length] = sw >> 8
        r[data_length + 1] = sw & 0xFF
        self.sw = sw
        self.data_length = data_length
        self.resp_length = data_length + 2
        self._act = DONE
        self.tx_count = 0
        self.rx_count = 0
        return DONE

    def _sync(self) -> int:
        t = self.tpdu
        a = t.action()
        if a == DONE:
            return self._tpdu_done()
        if a == ERROR:
            return self._fail(t.error)
        self._act = a
        self.tx_buf = t.tx_buf
        self.tx_offset = t.tx_offset
        self.tx_count = t.tx_count
        self.rx_count = t.rx_count
        self.timeout_etu = t.timeout_etu
        return a

    def start(self, apdu, n: int = -1, resp=None, resp_max: int = -1) -> int:
        """Begin the APDU ``apdu[:n]``; response into ``resp[:resp_max]``. NO_ERROR (SEND) or an error code (ERROR)."""
        self.tpdu.reset()
        self._clear()
        if n < 0:
            n = len(apdu)
        if resp is None:
            return self._refuse(OVERRUN)
        if resp_max < 0 or resp_max > len(resp):
            resp_max = len(resp)
        if resp_max < 2:
            return self._refuse(OVERRUN)
        self.resp = resp
        self._room = resp_max - 2
        case = apdu_case(apdu, n)
        if case == 0:
            return self._refuse(BAD_APDU)
        if not ins_valid(apdu[1]):
            return self._refuse(BAD_INS)
        self.case = case
        self._apdu = apdu
        self._n = n
        t = self.tpdu
        t.wt_etu = self.wt_etu
        t.null_limit = self.null_limit
        if case == CASE_2S:
            self.ne = apdu[4] or 256
        elif case == CASE_3S or case == CASE_4S:
            self.nc = apdu[4]
            self._data_offset = 5
            if case == CASE_4S:
                self.ne = apdu[n - 1] or 256
        elif case == CASE_2E:
            self.ne = ((apdu[5] << 8) | apdu[6]) or 65536
        elif case != CASE_1:
            self.nc = (apdu[5] << 8) | apdu[6]
            self._data_offset = 7
            if case == CASE_4E:
                self.ne = ((apdu[n - 2] << 8) | apdu[n - 1]) or 65536
        if self.nc > MAX_ENVELOPE_CHUNK:
            self._env_offset = 0
            self._issue_envelope()
        elif self.nc > 0:
            self._issue(_K_OUT, apdu[0], apdu[1], apdu[2], apdu[3], self.nc)
        elif self.ne > 0:
            self._issue(_K_IN, apdu[0], apdu[1], apdu[2], apdu[3], _p3_le(self.ne))
        else:
            self._issue(_K_OUT, apdu[0], apdu[1], apdu[2], apdu[3], 0)
        if self._act == ERROR:
            return self.error
        return NO_ERROR

    def _issue(self, kind: int, cla: int, ins: int, p1: int, p2: int, p3: int) -> int:
        # Start the next TPDU; for _K_IN, P3 = expected data count (00 = 256).
        h = self._hdr
        h[0] = cla
        h[1] = ins
        h[2] = p1
        h[3] = p2
        h[4] = p3
        self._kind = kind
        self.tpdus += 1
        t = self.tpdu
        if kind == _K_IN:
            ne = p3 or 256
            keep = self.ne - self._collected
            room = self._room - self._collected
            if keep > room:
                keep = room
            if keep > ne:
                keep = ne
            if keep < 0:
                keep = 0
            t.start(h, 0, ne, None, 0, self.resp, self._collected, keep)
        elif p3 > 0:
            t.start(h, p3, 0, self._apdu, self._data_offset)
        else:
            t.start(h, 0, 0)
        return self._sync()

    def _issue_envelope(self) -> int:
        # T0-26: the whole extended C-APDU in ENVELOPE chunks of <= 255 bytes.
        left = self._n - self._env_offset
        chunk = left if left < MAX_ENVELOPE_CHUNK else MAX_ENVELOPE_CHUNK
        self._env_chunk = chunk
        self._data_offset = self._env_offset
        kind = _K_OUT if chunk == left else _K_ENV
        return self._issue(kind, self._apdu[0], INS_ENVELOPE, 0, 0, chunk)

    def _followup(self, cla: int, ins: int, p1: int, p2: int, p3: int) -> int:
        self.followups += 1
        if self.followups > self.max_followups:
            return self._fail(LOOP_LIMIT)
        return self._issue(_K_IN, cla, ins, p1, p2, p3)

    def _gsm(self) -> bool:
        return self.gsm_class_a0 and self._apdu[0] == CLA_GSM

    def _get_response(self, p3: int) -> int:
        cla = CLA_GSM if self._gsm() else 0x00
        return self._followup(cla, INS_GET_RESPONSE, 0, 0, p3)

    def _tpdu_done(self) -> int:
        t = self.tpdu
        sw1 = t.sw1
        self.wire_min_etu += tpdu_min_etu(t.tx_done, t.rx_length, self.guard_time_etu)
        kind = self._kind
        if kind == _K_ENV:
            if t.sw != 0x9000:
                return self._finish(t.sw, 0)  # an intermediate chunk refused: stop (T0-26)
            self._env_offset += self._env_chunk
            return self._issue_envelope()
        if kind == _K_OUT:
            if self.ne == 0:
                if sw1 == 0x61 or sw1 == 0x6C:
                    return self._fail(SW_NOT_ALLOWED)  # T0-23
                return self._finish(t.sw, 0)
            # case 4 command phase done
            if sw1 == 0x61 or (sw1 == 0x9F and self._gsm()):
                return self._get_response(t.sw2)  # T0-19, T0-33
            if t.sw == 0x9000:
                if self.case4_policy == CASE4_GET_RESPONSE:
                    self._pending = 0x9000  # T0-20 ANSSI 4S.2
                    return self._get_response(_p3_le(self.ne))
                return self._finish(0x9000, 0)  # T0-20 EMV
            if sw1 == 0x62 or sw1 == 0x63:
                self._pending = t.sw  # T0-21, EMV A7
                return self._get_response(0)
            if sw1 == 0x6C:
                return self._fail(SW_NOT_ALLOWED)
            return self._finish(t.sw, 0)  # T0-18
        # _K_IN: the TPDU received data
        got = t.rx_length
        want = self.ne - self._collected
        if want > got:
            want = got
        if want > t.stored():
            return self._fail(OVERRUN)
        if sw1 == 0x6C:
            # T0-10/11: same header, P3 = SW2; this TPDU's data (if any) dropped.
            self._6c_row += 1
            if self._6c_row > MAX_6C_IN_A_ROW:
                return self._fail(LOOP_LIMIT)
            h = self._hdr
            return self._followup(h[0], h[1], h[2], h[3], t.sw2)
        self._6c_row = 0
        self._collected += want
        pending = self._pending
        if sw1 == 0x61 or (sw1 == 0x9F and self._gsm()):
            if self._collected >= self.ne:
                return self._finish(pending or t.sw, self._collected)
            return self._get_response(t.sw2)  # T0-12, T0-27
        if t.sw == 0x9000:
            return self._finish(pending or 0x9000, self._collected)
        if sw1 == 0x62 or sw1 == 0x63:
            return self._finish(t.sw, self._collected)  # T0-22
        if pending:
            return self._finish(pending, 0)  # GET RESPONSE refused: the pending SW, no data
        return self._finish(t.sw, self._collected)

    def feed(self, b: int, parity_error: bool = False) -> int:
        """One card byte; returns the action (see `T0TPDU.feed`)."""
        a = self._act
        if a == DONE:
            if self.extra_count < 255:
                self.extra_count += 1
            return DONE
        if a == ERROR:
            return ERROR
        if a == IDLE:
            return self._fail(NOT_STARTED)
        self.tpdu.feed(b, parity_error)
        return self._sync()

    def feed_buf(self, buf, start: int = 0, end: int = -1) -> int:
        """Feed good bytes ``buf[start:end]`` while the action is RECEIVE; index of the first byte not consumed."""
        if end < 0:
            end = len(buf)
        i = start
        while i < end and self._act == RECEIVE:
            self.tpdu.feed(buf[i])
            self._sync()
            i += 1
        return i

    def on_sent(self) -> int:
        """The port transmitted the whole SEND chunk; returns the action."""
        if self._act != SEND:
            return self._act
        self.tpdu.on_sent()
        return self._sync()

    def on_send_error(self) -> int:
        """The port gave up on a character of the SEND chunk (T0-29); returns the action."""
        if self._act != SEND:
            return self._act
        self.tpdu.on_send_error()
        return self._sync()

    def on_timeout(self) -> int:
        """WT expired while RECEIVE; returns the action."""
        if self._act != RECEIVE:
            return self._act
        self.tpdu.on_timeout()
        return self._sync()
