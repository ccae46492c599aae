"""ISO/IEC 7816-3:2006 §11 T=1, reader side: block codec and block engine (sans-IO).

References are to /work/shared/reference/iso7816-3.md (§5.1 block format, §5.2 EDC, §5.3
rules 1-9, §5.4 error handling 7.x, §5.5 EMV deltas, §5.6 APDU <-> T=1, §6.4 rows
T1-1..T1-40, §7.3 vectors, §1.3/§1.4 BGT, CWT, BWT, WTX) and to house-style.md §8 (the
f469 sans-IO shape, openct's state record) and §10.3 (bounded retries, DEAD). Same
driver action protocol as `t0` (IDLE/SEND/RECEIVE/DONE/ERROR, ``tx_buf``/``tx_offset``/
``tx_count``, ``on_sent``/``on_send_error``/``on_timeout``, error codes + `ccid_error`),
but the unit of reception is one whole block (``on_block``), not one byte. The engine
never touches the port, never blocks, never raises on card input and allocates nothing
per block (``tx_buf``/``rx_buf`` are made in ``__init__``; the response goes to the
caller's buffer).

Block codec (iso7816-3.md §5.1, §5.2)
-------------------------------------

``NAD PCB LEN INF[LEN] EDC``; EDC = LRC (XOR, 1 byte) or CRC (2 bytes), chosen by the
first TCi for T=1 (b1). `encode_block`, `check_edc`, `lrc`, `crc16`, `edc_length`.
Implementations disagree on the CRC (iso7816-3.md §5.2), so it is selectable:

* `CRC_LIBCCID` (**default**): CRC-16/MCRF4XX (reflected poly 0x8408, init FFFF, no
  final XOR), high byte first; check("123456789") = 0x6F91.
* `CRC_ISO13239`: the ISO/IEC 13239 FCS (same, final complement = CRC-16/X-25), low
  byte first; check = 0x906E.

Why libccid is the default: it is the only variant with independently verified block
vectors (§7.3); it is what every deployed PC/SC stack computes (libccid/OpenCT, also
Specter), so the cards that shipped with CRC were interoperability-tested against it;
and under stock pcscd this reader runs at TPDU level, where libccid itself computes the
EDC (house-style §10.1 R5): with the same default a CRC card behaves identically at
TPDU and at APDU level. The ISO 13239 reading is marked "[verify]" in the reference.
Cards are rare either way (EMV and ETSI mandate LRC); the slot can switch per card.

Engine API (`T1Engine`)
-----------------------

* ``configure(ifsc, ifsd, edc_crc, crc_variant, nad=0)``: the initial values after the
  ATR/PPS (IFSC from the first TAi for T=1, default 32; IFSD the reader's initial 32,
  iso7816-3.md §5.1), then ``reset_session()``. ``set_waits(bwi, cwi, f, d)`` sets
  ``bwt_etu``/``cwt_etu`` with `timing.bwt_etu`/`timing.cwt_etu` (defaults: BWI 4, CWI
  13, F 372, D 1); both attributes may also be written directly. ``emv_mode`` (default
  False, ISO) selects the EMV deltas of §5.5 (below).
* ``reset_session()``: N(S) = N(R) = 0, IFSC/IFSD back to the configured values, not
  DEAD, IDLE. Call it after every ATR, PPS, warm reset (ISO §11.6.2.3 rule 1).
* ``start_resynch()``: the reader's S(RESYNCH req) on its own (rule 6), DONE with
  N(S) = N(R) = 0; the slot sends it before the next APDU after a card abortion.
* ``start_ifsd(ifsd)``: the reader's S(IFS req, ifsd) (rule 4, T1-3; EMV: FE, as the
  first block). The answer must be exactly S(IFS resp, ifsd): NAD, PCB E1, LEN 1, same
  value, EDC, nothing more; anything else, or a BWT expiry, re-sends the request; at most
  ``ifs_transmissions`` (default `IFS_TRANSMISSIONS` = 3: the first + 2 retries, rule
  7.4.2 applied to the S(request); set 4 for "3 retries") transmissions, then ERROR MUTE (never an answer) or IFS_FAILED
  (answers, but wrong). Success: DONE with ``ifsd`` updated. The session is unchanged
  on failure (the slot may go on with the old IFSD, or reset).
* ``start_apdu(apdu, n, resp, resp_max)``: ``apdu[:n]`` (1..65 544 bytes, any case,
  short or extended) goes verbatim into the INF of I-blocks of at most IFSC bytes,
  chained with M (rule 5, §5.6); the card's I-blocks are reassembled in
  ``resp[:resp_max]`` (resp_max >= 2). DONE: ``resp[:resp_length]`` (``response()``),
  ``sw``. Both buffers are used in place until DONE/ERROR.
* ``start_*`` return NO_ERROR (action SEND) or an error code (action ERROR, nothing
  sent: BAD_APDU, BAD_PARAM, OVERRUN when resp_max < 2, NEEDS_RESET when DEAD).

Driver action protocol (what the slot driver implements)
--------------------------------------------------------

``eng.action()`` returns the current action; every input returns it too.

* ``SEND``: ``eng.tx_buf[eng.tx_offset : eng.tx_offset + eng.tx_count]`` is one whole
  block, EDC included (``tx_offset`` is always 0). Before its first character wait at
  least ``eng.bgt_etu`` (BGT, 22 etu, `timing.BGT_ETU`) after the leading edge of the
  card's last character (iso7816-3.md §1.3, T1-36; wookey #13) and flush the receiver
  (bytes still arriving from the card belong to no block: discard, count, never feed).
  Characters are spaced by CGT (the guard time of `timing.guard_time_etu(N, 1)`); T=1
  has no error signal/repetition. Then call ``eng.on_sent()``; if the port could not
  send (hardware fault) call ``eng.on_send_error()`` (-> ERROR SEND_FAILED, DEAD).
* ``RECEIVE``: collect ONE block. Wait at most ``eng.wait_etu`` for its first
  character, measured from the leading edge of the last character sent (= ``bwt_etu``,
  or ``bwt_etu * m`` for the one wait that follows our S(WTX resp, m): WTX applies to the
  next wait only, rule 3; clamped at `WAIT_ETU_MAX`). No first character in time: call
  ``eng.on_timeout()``. Otherwise read the prologue (3 bytes), then
  ``eng.expected_block_length(nad, pcb, length)`` gives the total length of the block
  (3 + LEN + EDC length): read up to it with at most ``eng.cwt_etu`` between the
  leading edges of two consecutive characters. When it returns -1 (LEN = FF, or LEN >
  IFSD: the length cannot be trusted), drain: keep reading until CWT passes in
  silence, storing at most ``len(eng.rx_buf)`` (260) bytes, the maximum any block can
  have, and stop there. Then call ``eng.on_block(buf, start, n, parity_error)`` once
  with whatever was stored (``eng.rx_buf`` may be used as ``buf``): ``n`` may be short
  (CWT expiry inside the block: T1-30) or long; ``parity_error`` = a parity error was
  seen on any character of the block (T=1: receive to the end, no error signal,
  T1-32). The engine only reads ``buf`` during the call. Re-read the action: the
  engine answers with SEND (R-, S- or I-block) or ends (DONE/ERROR).
* ``DONE``: `start_apdu`: ``resp[:resp_length]`` = response data + SW1 SW2, ``sw``;
  `start_ifsd`: ``ifsd`` updated. The session (N(S), N(R), IFSC, IFSD) carries over to
  the next ``start_*``.
* ``ERROR``: ``eng.error``, ``ccid_error(eng.error)`` for bError. ``eng.dead`` (also
  `needs_deactivation`) says that the session is lost: the slot deactivates or warm
  resets the card, then ``reset_session()``; until then every ``start_*`` is refused
  with NEEDS_RESET. Other errors leave the session usable (ABORTED, OVERRUN, NO_SW,
  MUTE/IFS_FAILED of ``start_ifsd``).
* ``IDLE``: nothing started. Inputs in a state that does not expect them are ignored
  (the current action is returned unchanged).

Error-free rules (ISO §11.6.2, iso7816-3.md §5.3)
-------------------------------------------------

I-blocks carry N(S) (toggled by each side for each new I-block, N(S) of ours toggles
when that block is acknowledged); the reader chains with M = 1, the card answers each
with R(N(R) = our next N(S)) (rule 5, T1-7); a card chain is acknowledged with
R(N(R) = its next N(S)) (T1-8); both in one APDU (T1-9). A card I-block also
acknowledges our last I-block. The card's S(IFS req, v) gets S(IFS resp, v) and sets
IFSC for the following blocks, also in the middle of our chain (T1-4, T1-39); v = 00 or
FF (EMV mode: < 10) is an invalid block (T1-5). The card's S(WTX req, m) gets
S(WTX resp, m) and multiplies the next wait only; never refused, repeated WTX fine, no
cap (m = 1..255, 0 is an invalid block; T1-6). The card's S(ABORT req) gets
S(ABORT resp) (00 E2 00 E2), then ERROR ABORTED (bError CMD_ABORTED); the session
continues with the sequence numbers as they are (rule 9, T1-27; who sends first after
an abortion is a "[verify]" of the reference: the engine sends nothing more).

Validation (iso7816-3.md §5.4): a block is invalid when a parity error was reported
(e = 1), n < 3 + EDC, LEN = FF, n != 3 + LEN + EDC (e = 2), the EDC is wrong (e = 1),
NAD is not our NAD with its nibbles swapped, LEN > IFSD (e = 2), an I-block has RFU bits
b5..b1, an R-block has LEN != 0, b6 set or an error field other than 0/1/2, an S-block
has an unknown type, a request type E4, or LEN != 1 (IFS, WTX) / != 0 (others) (all
e = 2; T1-28..T1-32). Checked in that order (EDC before NAD/PCB, so a corrupted block
reads as an EDC error). Valid but unexpected blocks count as invalid (e = 2): an
I-block with the wrong N(S) (T1-33), an I-block while our chain awaits an R-block, an
R(next) while we are not chaining (T1-34), a card S(response) we did not ask for.

Error handling (ISO §11.6.3, iso7816-3.md §5.4)
-----------------------------------------------

* Rule 7.1: invalid block or BWT expiry -> R(N(R), e): e = 1 EDC/parity, 2 otherwise
  (BWT expiry included, as ANSSI). A BWT expiry is never an error by itself (libccid's
  weak point: the firmware turns it into R-blocks).
* Rule 7.2: if our last block was an R-block (error report or chain acknowledgement),
  an invalid block, a BWT expiry or an R-block that is no NAK re-sends that R-block
  unchanged (T1-14, T1-15, T1-21, T1-22). After our S(response) an R-block re-sends
  that S(response).
* Card NAK R(N(R) = N(S) of our unacknowledged I-block), any e: retransmit it
  identically (T1-10, T1-13); a retransmitted I-block keeps its length even if IFSC
  changed meanwhile.
* Rule 7.3: our S(request) (IFS at start, RESYNCH) is re-sent on any other answer.
* Rule 7.4.2: the failures above are counted; the third failure in a row (= at most 2
  retransmissions, 3 transmissions of a block) starts a resynch. The counter is reset
  by each valid expected block (an I-block with the expected N(S), an R-block that
  acknowledges our chained block, a resynch response). Card S(requests) neither count
  nor reset it.
* Rule 6: S(RESYNCH req) 00 C0 00 C0, at most `MAX_RESYNCH` (3) transmissions per
  APDU (not reset by a successful resynch, so a card that keeps losing sync cannot
  loop: T1-25, CCID #72). On S(RESYNCH resp): N(S) = N(R) = 0; whether the IFS values
  revert is a "[verify]" of the reference and cards differ, so the reader takes the
  side that works with both readings: IFSC back to its configured (ATR) value — our
  blocks never exceed what a reverted card accepts — and IFSD kept at the negotiated
  value — a card that kept it may send large blocks, a reverted one sends smaller
  ones; the response so far is dropped and the APDU restarts from its first block
  (T1-23, libccid). Exhausted: ERROR DEAD_MUTE / DEAD_PARITY /
  DEAD_PROTOCOL after the kind of the last failure (BWT expiry / EDC-parity / other),
  ``dead`` = True (T1-24).
* Card S(RESYNCH req) (T1-26, illegal from a card): policy = libccid's, the reader
  starts its own resynch at once (the card says it has lost the sequence; three rounds
  of R-blocks first would only delay the same resynch). It uses the same bounded
  attempts.
* Final card I-block with LEN = 0 and no data before it, or any final response shorter
  than 2 bytes: ERROR NO_SW (T1-38), session fine. A response larger than
  ``resp_max``: the chain is still acknowledged to its end (bytes dropped) so that the
  session stays in sync, then ERROR OVERRUN.

EMV mode (``emv_mode = True``, iso7816-3.md §5.5): a BWT expiry, LEN = FF, LEN > IFSD
or a block of the wrong length deactivates at once (DEAD_MUTE / DEAD_PROTOCOL, no
R-block: Maxim EMV mode), card IFS values < 10 are invalid. Default ISO.

Block bound: every block the engine sends for one APDU counts in ``blocks``, except
S(WTX resp). ``block_limit`` = `BLOCK_LIMIT_BASE` + `BLOCK_LIMIT_PER_BYTE` * (n +
resp_max) (64 + 12 per byte: IFSC 1 and 1-byte card blocks need one block per byte, up
to 3 transmissions each, up to 4 rounds with 3 resynchs). Reaching it: ERROR
LOOP_LIMIT, DEAD. So a card can keep the engine busy only with WTX, i.e. with waiting
time it announces (the slot may report it to the host as CCID time extensions).

Error codes and CCID bError (`ccid_error`, CCID rev 1.1 Table 6.2-2)
--------------------------------------------------------------------

* MUTE (start_ifsd never answered), DEAD_MUTE, NEEDS_RESET -> 0xFE ICC_MUTE.
* DEAD_PARITY -> 0xFD XFR_PARITY_ERROR.
* DEAD_PROTOCOL, LOOP_LIMIT, IFS_FAILED, NO_SW -> 0xF4 PROCEDURE_BYTE_CONFLICT (the
  CCID code for "the card broke the protocol").
* ABORTED -> 0xFF CMD_ABORTED. OVERRUN -> 0xFC XFR_OVERRUN. SEND_FAILED -> 0xFB
  HW_ERROR.
* BAD_APDU, BAD_PARAM, NOT_STARTED -> 0x00 CMD_NOT_SUPPORTED (nothing reached the card).

Wire-time accounting
--------------------

`exchange_min_etu(nc, nr, ifsc, ifsd, edc_len, cgt_etu)`: theoretical minimum of one
error-free APDU exchange (no card processing time, no WTX): reader I-blocks of <= IFSC
bytes each answered by a card R-block, then card I-blocks of <= IFSD bytes (nr = data +
SW) each but the last answered by a reader R-block. A block of c characters costs
(c - 1) * CGT + BGT (leading edge of its first character to the leading edge of the
first character of the next block, BGT = 22 etu, §1.3); the last block c * CGT (to the
end of its last character's guard time). CGT = 12 + N etu (11 for N = 255), the same
for both sides. E.g. I(4 bytes) + I(2 bytes), LRC, CGT 12: 8 chars, 6 chars ->
7 * 12 + 22 + 6 * 12 = 178 etu.
"""

from cpsdi_proto.ccid import (
    ERR_CMD_ABORTED,
    ERR_CMD_NOT_SUPPORTED,
    ERR_HW_ERROR,
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
MUTE = const(1)  # start_ifsd: no answer to any S(IFS req)
IFS_FAILED = const(2)  # start_ifsd: answers, never the exact echo (T1-3)
DEAD_MUTE = const(3)  # resynch exhausted, last failure a BWT expiry: deactivate (T1-24)
DEAD_PARITY = const(4)  # resynch exhausted, last failure EDC/parity: deactivate
DEAD_PROTOCOL = const(5)  # resynch exhausted, last failure an invalid block: deactivate
LOOP_LIMIT = const(6)  # block_limit reached: deactivate
ABORTED = const(7)  # card S(ABORT req) answered (T1-27)
OVERRUN = const(8)  # response larger than resp_max
NO_SW = const(9)  # final response shorter than SW1 SW2 (T1-38)
SEND_FAILED = const(10)  # port could not send: deactivate
BAD_APDU = const(11)  # n out of 1..APDU_MAX or beyond the buffer
BAD_PARAM = const(12)  # IFS value out of 1..254
NOT_STARTED = const(13)
NEEDS_RESET = const(14)  # start refused: session DEAD until reset_session()

# CRC variants (module docstring)
CRC_LIBCCID = const(0)
CRC_ISO13239 = const(1)
CRC_DEFAULT = CRC_LIBCCID

# PCB values (iso7816-3.md §5.1)
S_RESYNCH_REQ = const(0xC0)
S_RESYNCH_RESP = const(0xE0)
S_IFS_REQ = const(0xC1)
S_IFS_RESP = const(0xE1)
S_ABORT_REQ = const(0xC2)
S_ABORT_RESP = const(0xE2)
S_WTX_REQ = const(0xC3)
S_WTX_RESP = const(0xE3)

IFS_DEFAULT = timing.IFSC_DEFAULT  # 32, IFSC and IFSD (§5.1)
IFS_MAX = const(254)
MAX_RETRIES = const(2)  # retransmissions of one block (rule 7.4.2)
MAX_RESYNCH = const(3)  # S(RESYNCH req) transmissions per APDU (rule 6.4)
IFS_TRANSMISSIONS = const(3)  # S(IFS req) transmissions in start_ifsd
APDU_MAX = const(65544)  # case 4E: 7 + 65535 + 2
BLOCK_LIMIT_BASE = const(64)
BLOCK_LIMIT_PER_BYTE = const(12)
WAIT_ETU_MAX = const(0x3FFFFFFF)
BLOCK_MAX = const(259)  # 3 + 254 + 2
RX_MAX = const(260)  # 3 + 255 + 2: the longest anything framed like a block can be
DEFAULT_BWT_ETU = timing.bwt_etu(timing.BWI_DEFAULT, timing.DD, timing.FD)  # 15 371
DEFAULT_CWT_ETU = timing.cwt_etu(timing.CWI_DEFAULT)  # 8 203

# Internal states
_S_IDLE = const(0)
_S_IFSD = const(1)  # start_ifsd: our S(IFS req) is out
_S_APDU = const(2)
_S_RESYNCH = const(3)  # our S(RESYNCH req) is out
_S_ABORTING = const(4)  # sending S(ABORT resp); then ERROR ABORTED
_S_DONE = const(5)
_S_ERROR = const(6)

# Failure kinds; the R-block error field is 1 for _F_EDC, 2 for the others
_F_NONE = const(0)
_F_EDC = const(1)
_F_OTHER = const(2)
_F_LEN = const(3)  # LEN = FF, LEN > IFSD, wrong length (EMV: deactivate)
_F_TIMEOUT = const(4)

# Last block we sent
_L_NONE = const(0)
_L_I = const(1)
_L_R = const(2)
_L_SRESP = const(3)
_L_SREQ = const(4)

# What the APDU exchange expects
_E_ACK = const(0)  # R(next) for our chained I-block
_E_I = const(1)  # a card I-block


def _make_crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t.append(c)
    return tuple(t)


_CRC_TABLE = _make_crc_table()


def lrc(buf, start: int, end: int) -> int:
    """XOR of ``buf[start:end]`` (iso7816-3.md §5.2)."""
    x = 0
    for i in range(start, end):
        x ^= buf[i]
    return x


def crc16(buf, start: int, end: int, variant: int = CRC_DEFAULT) -> int:
    """CRC of ``buf[start:end]`` as a 16-bit value (module docstring; check values 0x6F91, 0x906E).

    `CRC_LIBCCID` is transmitted high byte first, `CRC_ISO13239` low byte first.
    """
    c = 0xFFFF
    t = _CRC_TABLE
    for i in range(start, end):
        c = (c >> 8) ^ t[(c ^ buf[i]) & 0xFF]
    if variant == CRC_ISO13239:
        c ^= 0xFFFF
    return c


def edc_length(edc_crc: bool) -> int:
    """1 for LRC, 2 for CRC."""
    return 2 if edc_crc else 1


def put_edc(buf, start: int, end: int, edc_crc: bool, variant: int = CRC_DEFAULT) -> int:
    """Write the EDC of ``buf[start:end]`` at ``buf[end]``; returns the index after it."""
    if not edc_crc:
        buf[end] = lrc(buf, start, end)
        return end + 1
    c = crc16(buf, start, end, variant)
    if variant == CRC_ISO13239:
        buf[end] = c & 0xFF
        buf[end + 1] = c >> 8
    else:
        buf[end] = c >> 8
        buf[end + 1] = c & 0xFF
    return end + 2


def check_edc(buf, start: int, end: int, edc_crc: bool, variant: int = CRC_DEFAULT) -> bool:
    """True when the EDC stored at ``buf[end:]`` matches ``buf[start:end]``."""
    if not edc_crc:
        return buf[end] == lrc(buf, start, end)
    c = crc16(buf, start, end, variant)
    if variant == CRC_ISO13239:
        return buf[end] == (c & 0xFF) and buf[end + 1] == c >> 8
    return buf[end] == c >> 8 and buf[end + 1] == (c & 0xFF)


def encode_block(buf, nad: int, pcb: int, inf, inf_offset: int, n: int, edc_crc: bool = False,
                 variant: int = CRC_DEFAULT) -> int:
    """Write the block ``NAD PCB n inf[inf_offset:inf_offset+n] EDC`` at ``buf[0:]``; returns its length."""
    buf[0] = nad
    buf[1] = pcb
    buf[2] = n
    for i in range(n):
        buf[3 + i] = inf[inf_offset + i]
    return put_edc(buf, 0, 3 + n, edc_crc, variant)


def swap_nibbles(nad: int) -> int:
    """The NAD of the card's blocks for our NAD (DAD and SAD swapped, iso7816-3.md §5.1)."""
    return ((nad << 4) & 0xF0) | ((nad >> 4) & 0x0F)


def exchange_min_etu(nc: int, nr: int, ifsc: int = IFS_DEFAULT, ifsd: int = IFS_DEFAULT, edc_len: int = 1,
                     cgt_etu: int = timing.GUARD_TIME_DEFAULT_ETU) -> int:
    """Theoretical minimum etu of one error-free APDU exchange (formula in the module docstring)."""
    bgt = timing.BGT_ETU
    r_chars = 3 + edc_len
    t = 0
    left = nc
    while True:  # reader I-blocks, each followed by the card's R or I
        k = left if left < ifsc else ifsc
        t += (3 + k + edc_len - 1) * cgt_etu + bgt
        left -= k
        if left <= 0:
            break
        t += (r_chars - 1) * cgt_etu + bgt  # card R(next)
    left = nr
    while True:
        k = left if left < ifsd else ifsd
        left -= k
        if left <= 0:
            return t + (3 + k + edc_len) * cgt_etu
        t += (3 + k + edc_len - 1) * cgt_etu + bgt
        t += (r_chars - 1) * cgt_etu + bgt  # reader R(next)


def ccid_error(code: int) -> int:
    """CCID bError (CCID rev 1.1 Table 6.2-2) for a T=1 error; 0 for none (module docstring)."""
    if code == NO_ERROR:
        return 0
    if code == MUTE or code == DEAD_MUTE or code == NEEDS_RESET:
        return ERR_ICC_MUTE
    if code == DEAD_PARITY:
        return ERR_XFR_PARITY_ERROR
    if code == ABORTED:
        return ERR_CMD_ABORTED
    if code == OVERRUN:
        return ERR_XFR_OVERRUN
    if code == SEND_FAILED:
        return ERR_HW_ERROR
    if code == BAD_APDU or code == BAD_PARAM or code == NOT_STARTED:
        return ERR_CMD_NOT_SUPPORTED
    return ERR_PROCEDURE_BYTE_CONFLICT


def needs_deactivation(code: int) -> bool:
    """True for the errors after which the session is DEAD (module docstring)."""
    return (code == DEAD_MUTE or code == DEAD_PARITY or code == DEAD_PROTOCOL or code == LOOP_LIMIT
            or code == SEND_FAILED or code == NEEDS_RESET)


class T1Engine:
    """T=1 block engine of one slot, sans-IO (module docstring: API, driver protocol, rules)."""

    def __init__(self) -> None:
        self.tx_buf = bytearray(BLOCK_MAX)
        self.rx_buf = bytearray(RX_MAX)  # for the driver's convenience (on_block)
        self._none = bytearray(0)
        self._apdu = self._none
        self.resp = self._none
        self.bgt_etu = timing.BGT_ETU
        self.bwt_etu = DEFAULT_BWT_ETU
        self.cwt_etu = DEFAULT_CWT_ETU
        self.emv_mode = False
        self.ifs_transmissions = IFS_TRANSMISSIONS
        self.configure(IFS_DEFAULT, IFS_DEFAULT, False, CRC_DEFAULT, 0)

    # -- configuration -------------------------------------------------------------

    def configure(self, ifsc: int = IFS_DEFAULT, ifsd: int = IFS_DEFAULT, edc_crc: bool = False,
                  crc_variant: int = CRC_DEFAULT, nad: int = 0) -> int:
        """Initial IFSC/IFSD, EDC kind, CRC variant and NAD; then reset_session(). NO_ERROR or BAD_PARAM."""
        if ifsc < 1 or ifsc > IFS_MAX or ifsd < 1 or ifsd > IFS_MAX:
            return BAD_PARAM
        self.ifsc0 = ifsc
        self.ifsd0 = ifsd
        self.edc_crc = bool(edc_crc)
        self.crc_variant = crc_variant
        self.edc_len = 2 if edc_crc else 1
        self.nad = nad & 0xFF
        self._card_nad = swap_nibbles(nad & 0xFF)
        self.reset_session()
        return NO_ERROR

    def set_waits(self, bwi: int = timing.BWI_DEFAULT, cwi: int = timing.CWI_DEFAULT, f: int = timing.FD,
                  d: int = timing.DD) -> None:
        """BWT and CWT in etu at the F/D in force (`timing.bwt_etu`, `timing.cwt_etu`)."""
        self.bwt_etu = timing.bwt_etu(bwi, d, f)
        self.cwt_etu = timing.cwt_etu(cwi)

    def reset_session(self) -> None:
        """N(S) = N(R) = 0, IFS values back to their configured values, not DEAD, IDLE."""
        self.ns = 0  # N(S) of our next (or unacknowledged) I-block
        self.nr = 0  # N(S) expected from the card
        self.ifsc = self.ifsc0
        self.ifsd = self.ifsd0
        self.dead = False
        self._clear()
        self.error = NO_ERROR

    def _clear(self) -> None:
        self._state = _S_IDLE
        self._act = IDLE
        self.error = NO_ERROR
        self.tx_offset = 0
        self.tx_count = 0
        self.wait_etu = self.bwt_etu
        self.wtx_mult = 0  # m of the WTX applied to the current wait, or 0
        self._wtx_next = 0
        self._n = 0
        self._pos = 0  # first APDU byte of the current I-block
        self._len = 0  # its INF length
        self._more = False
        self._i_unacked = False
        self._expect = _E_I
        self._last = _L_NONE
        self._last_r_pcb = 0x80
        self._sresp_pcb = 0
        self._sresp_val = 0
        self._retries = 0
        self._resynchs = 0
        self._fault = _F_NONE
        self._pcb = 0
        self._rlen = 0
        self._ifs_req = 0
        self._ifs_sent = 0
        self._ifs_answered = False
        self._overrun = False
        self._resp_max = 0
        self.resp_length = 0
        self.sw = 0
        self.blocks = 0
        self.block_limit = BLOCK_LIMIT_BASE
        self.wtx_count = 0
        self.resynch_count = 0

    def action(self) -> int:
        """The current action: IDLE, SEND, RECEIVE, DONE or ERROR."""
        return self._act

    def response(self) -> memoryview:
        """``resp[:resp_length]`` (data + SW1 SW2) as a view, valid until the next start."""
        return memoryview(self.resp)[: self.resp_length]

    def expected_block_length(self, nad: int, pcb: int, length: int) -> int:
        """Total length of the block whose prologue is ``nad pcb length``; -1: drain to CWT silence."""
        if length == 0xFF or length > self.ifsd:
            return -1
        return 3 + length + self.edc_len

    # -- starting ----------------------------------------------------------------------

    def _refuse(self, code: int) -> int:
        self._fail(code)
        return code

    def start_ifsd(self, ifsd: int) -> int:
        """Send S(IFS req, ifsd) (rule 4, T1-3). NO_ERROR (SEND) or an error code (ERROR)."""
        self._clear()
        if self.dead:
            return self._refuse(NEEDS_RESET)
        if ifsd < 1 or ifsd > IFS_MAX:
            return self._refuse(BAD_PARAM)
        self._state = _S_IFSD
        self._ifs_req = ifsd
        self._send_ifs_req()
        return NO_ERROR

    def start_resynch(self) -> int:
        """Send S(RESYNCH req) on its own (rule 6): DONE with N(S) = N(R) = 0 once the card
        answers, retried as inside an APDU; the slot uses it to put a session back in a known
        state after a card abortion (T1-27). NO_ERROR (SEND) or an error code."""
        self._clear()
        if self.dead:
            return self._refuse(NEEDS_RESET)
        self._resynch()
        return NO_ERROR

    def start_apdu(self, apdu, n: int = -1, resp=None, resp_max: int = -1) -> int:
        """Begin the APDU ``apdu[:n]``, response into ``resp[:resp_max]``. NO_ERROR (SEND) or an error code."""
        self._clear()
        if self.dead:
            return self._refuse(NEEDS_RESET)
        if n < 0:
            n = len(apdu)
        if n < 1 or n > APDU_MAX or n > len(apdu):
            return self._refuse(BAD_APDU)
        if resp is None:
            return self._refuse(OVERRUN)
        if resp_max < 0 or resp_max > len(resp):
            resp_max = len(resp)
        if resp_max < 2:
            return self._refuse(OVERRUN)
        self._apdu = apdu
        self._n = n
        self.resp = resp
        self._resp_max = resp_max
        self.block_limit = BLOCK_LIMIT_BASE + BLOCK_LIMIT_PER_BYTE * (n + resp_max)
        self._state = _S_APDU
        self._begin()
        return NO_ERROR

    def _begin(self) -> int:
        # (Re)start the APDU from its first block (start, after a resynch).
        self._pos = 0
        self.resp_length = 0
        self._overrun = False
        self._retries = 0
        return self._send_i_new()

    # -- sending -------------------------------------------------------------------------

    def _emit(self, pcb: int, n: int) -> int:
        # tx_buf[3:3+n] already holds the INF.
        b = self.tx_buf
        b[0] = self.nad
        b[1] = pcb
        b[2] = n
        self.tx_offset = 0
        self.tx_count = put_edc(b, 0, 3 + n, self.edc_crc, self.crc_variant)
        if pcb != S_WTX_RESP:
            self.blocks += 1
            if self._state != _S_IFSD and self.blocks > self.block_limit:
                return self._die(LOOP_LIMIT)
        self._act = SEND
        return SEND

    def _send_i_new(self) -> int:
        left = self._n - self._pos
        k = left if left < self.ifsc else self.ifsc
        self._len = k
        self._more = k < left
        return self._send_i()

    def _send_i(self) -> int:
        # Our current I-block: APDU bytes [pos, pos + len), N(S) = ns, M = more.
        b = self.tx_buf
        a = self._apdu
        p = self._pos
        for i in range(self._len):
            b[3 + i] = a[p + i]
        self._i_unacked = True
        self._expect = _E_ACK if self._more else _E_I
        self._last = _L_I
        return self._emit((self.ns << 6) | (0x20 if self._more else 0), self._len)

    def _send_r(self, pcb: int) -> int:
        self._last = _L_R
        self._last_r_pcb = pcb
        return self._emit(pcb, 0)

    def _send_s_resp(self, pcb: int, value: int) -> int:
        self._last = _L_SRESP
        self._sresp_pcb = pcb
        self._sresp_val = value
        if pcb == S_WTX_RESP:
            self._wtx_next = value
        if pcb == S_ABORT_RESP:
            return self._emit(pcb, 0)
        self.tx_buf[3] = value
        return self._emit(pcb, 1)

    def _send_ifs_req(self) -> int:
        self._ifs_sent += 1
        self._last = _L_SREQ
        self.tx_buf[3] = self._ifs_req
        return self._emit(S_IFS_REQ, 1)

    # -- endings -------------------------------------------------------------------------

    def _fail(self, code: int) -> int:
        self.error = code
        self._state = _S_ERROR
        self._act = ERROR
        self.tx_count = 0
        return ERROR

    def _die(self, code: int) -> int:
        self.dead = True
        return self._fail(code)

    def _dead_code(self) -> int:
        f = self._fault
        if f == _F_TIMEOUT:
            return DEAD_MUTE
        if f == _F_EDC:
            return DEAD_PARITY
        return DEAD_PROTOCOL

    def _done(self) -> int:
        self._state = _S_DONE
        self._act = DONE
        self.tx_count = 0
        return DONE

    # -- driver inputs -------------------------------------------------------------------

    def on_sent(self) -> int:
        """The port sent the whole block; returns the action (RECEIVE, or ERROR ABORTED)."""
        if self._act != SEND:
            return self._act
        if self._state == _S_ABORTING:
            return self._fail(ABORTED)
        m = self._wtx_next
        self._wtx_next = 0
        self.wtx_mult = m
        w = self.bwt_etu
        if m > 1:
            w = WAIT_ETU_MAX if w > WAIT_ETU_MAX // m else w * m
        self.wait_etu = w
        self._act = RECEIVE
        return RECEIVE

    def on_send_error(self) -> int:
        """The port could not send the block; ERROR SEND_FAILED, DEAD."""
        if self._act != SEND:
            return self._act
        return self._die(SEND_FAILED)

    def on_timeout(self) -> int:
        """No first character within wait_etu; returns the action."""
        if self._act != RECEIVE:
            return self._act
        s = self._state
        if s == _S_IFSD:
            return self._ifs_retry()
        self._fault = _F_TIMEOUT
        if s == _S_RESYNCH:
            return self._resynch()
        if self.emv_mode:
            return self._die(DEAD_MUTE)  # EMV: no R-block on BWT expiry (§5.5, T1-12)
        return self._failure(_F_TIMEOUT)

    def on_block(self, buf, start: int, n: int, parity_error: bool = False) -> int:
        """One received block ``buf[start:start + n]`` (see the driver protocol); returns the action."""
        if self._act != RECEIVE:
            return self._act
        fault = self._parse(buf, start, n, parity_error)
        s = self._state
        if s == _S_IFSD:
            if (fault == _F_NONE and self._pcb == S_IFS_RESP and buf[start + 3] == self._ifs_req):
                self.ifsd = self._ifs_req
                return self._done()
            self._ifs_answered = True
            return self._ifs_retry()
        if s == _S_RESYNCH:
            if fault == _F_NONE and self._pcb == S_RESYNCH_RESP:
                self.ns = 0
                self.nr = 0
                self.ifsc = self.ifsc0  # send small: the card may have reverted its IFSC
                self.resynch_count += 1  # IFSD kept: accept large (a reverted card sends smaller)
                if self._n == 0:
                    return self._done()  # start_resynch: no APDU to restart
                self._state = _S_APDU
                return self._begin()
            self._fault = fault if fault != _F_NONE else _F_OTHER
            return self._resynch()
        if fault != _F_NONE:
            if self.emv_mode and fault == _F_LEN:
                self._fault = fault
                return self._die(DEAD_PROTOCOL)
            return self._failure(fault)
        pcb = self._pcb
        if pcb & 0x80 == 0:
            return self._i_block(buf, start, pcb)
        if pcb & 0x40 == 0:
            return self._r_block(pcb)
        return self._s_block(buf, start, pcb)

    # -- block rules -------------------------------------------------------------------------

    def _parse(self, buf, start: int, n: int, parity_error: bool) -> int:
        el = self.edc_len
        if parity_error:
            return _F_EDC
        if n < 3 + el:
            return _F_LEN
        ln = buf[start + 2]
        if ln == 0xFF or n != 3 + ln + el:
            return _F_LEN
        if not check_edc(buf, start, start + 3 + ln, self.edc_crc, self.crc_variant):
            return _F_EDC
        if buf[start] != self._card_nad:
            return _F_OTHER
        if ln > self.ifsd:
            return _F_LEN
        pcb = buf[start + 1]
        if pcb & 0x80 == 0:
            if pcb & 0x1F:
                return _F_OTHER
        elif pcb & 0x40 == 0:
            if pcb & 0x20 or ln != 0 or (pcb & 0x0F) > 2:
                return _F_OTHER
        else:
            t = pcb & 0x1F
            if t > 4 or (t == 4 and not pcb & 0x20):
                return _F_OTHER
            if ln != (1 if t == 1 or t == 3 else 0):
                return _F_OTHER
        self._pcb = pcb
        self._rlen = ln
        return _F_NONE

    def _failure(self, fault: int) -> int:
        # Rules 7.1/7.2/7.4.2: count; R-block (or re-send ours); the third failure: resynch.
        self._fault = fault
        self._retries += 1
        if self._retries > MAX_RETRIES:
            return self._resynch()
        if self._last == _L_R:
            return self._send_r(self._last_r_pcb)
        return self._send_r(0x80 | (self.nr << 4) | (1 if fault == _F_EDC else 2))

    def _again(self, nak: bool) -> int:
        # A retransmission asked for by the card: NAK -> our I-block; else (rule 7.2) our
        # last R-block or S(response). Counted like a failure (rule 7.4.2).
        self._fault = _F_OTHER
        self._retries += 1
        if self._retries > MAX_RETRIES:
            return self._resynch()
        if nak:
            return self._send_i()
        if self._last == _L_SRESP:
            return self._send_s_resp(self._sresp_pcb, self._sresp_val)
        return self._send_r(self._last_r_pcb)

    def _resynch(self) -> int:
        if self._resynchs >= MAX_RESYNCH:
            return self._die(self._dead_code())
        self._resynchs += 1
        self._state = _S_RESYNCH
        self._last = _L_SREQ
        return self._emit(S_RESYNCH_REQ, 0)

    def _ifs_retry(self) -> int:
        if self._ifs_sent >= self.ifs_transmissions:
            return self._fail(IFS_FAILED if self._ifs_answered else MUTE)
        return self._send_ifs_req()

    def _i_block(self, buf, start: int, pcb: int) -> int:
        if self._expect != _E_I or ((pcb >> 6) & 1) != self.nr:
            return self._failure(_F_OTHER)  # I-block inside our chain; wrong N(S) (T1-33)
        if self._i_unacked:
            self._i_unacked = False
            self.ns ^= 1
        self.nr ^= 1
        self._retries = 0
        ln = self._rlen
        k = self.resp_length
        if self._overrun or k + ln > self._resp_max:
            self._overrun = True
        else:
            r = self.resp
            s = start + 3
            for i in range(ln):
                r[k + i] = buf[s + i]
            self.resp_length = k + ln
        if pcb & 0x20:
            return self._send_r(0x80 | (self.nr << 4))  # acknowledge the card's chain (T1-8)
        if self._overrun:
            return self._fail(OVERRUN)
        k = self.resp_length
        if k < 2:
            return self._fail(NO_SW)  # T1-38
        self.sw = (self.resp[k - 2] << 8) | self.resp[k - 1]
        return self._done()

    def _r_block(self, pcb: int) -> int:
        nrc = (pcb >> 4) & 1
        if self._expect == _E_ACK:
            # An acknowledgement is an error-free R(next) (rule 5). An R-block carrying an
            # error code says the card did NOT take our block, whatever its N(R): treating
            # it as an ack would let a confused card splice two chains into one command,
            # so it is a NAK (retransmit; bounded by rule 7.4.2).
            if nrc != self.ns and (pcb & 0x0F) == 0:  # R(next): our chained block arrived (T1-7, T1-20)
                self.ns ^= 1
                self._i_unacked = False
                self._retries = 0
                self._pos += self._len
                return self._send_i_new()
            return self._again(True)  # NAK
        if self._i_unacked and nrc == self.ns:
            return self._again(True)  # NAK of our last I-block (T1-10, T1-13)
        if self._last == _L_R or self._last == _L_SRESP:
            return self._again(False)  # rule 7.2 (T1-14, T1-21)
        return self._failure(_F_OTHER)  # R(next) while not chaining (T1-34, CCID #72)

    def _s_block(self, buf, start: int, pcb: int) -> int:
        if pcb == S_IFS_REQ:
            v = buf[start + 3]
            if v == 0 or v == 0xFF or (self.emv_mode and v < 0x10):
                return self._failure(_F_OTHER)  # T1-5
            self.ifsc = v
            return self._send_s_resp(S_IFS_RESP, v)
        if pcb == S_WTX_REQ:
            m = buf[start + 3]
            if m == 0:
                return self._failure(_F_OTHER)
            self.wtx_count += 1
            return self._send_s_resp(S_WTX_RESP, m)
        if pcb == S_ABORT_REQ:
            self._send_s_resp(S_ABORT_RESP, 0)
            if self._act == SEND:
                self._state = _S_ABORTING
            return self._act
        if pcb == S_RESYNCH_REQ:
            self._fault = _F_OTHER
            return self._resynch()  # T1-26: libccid's choice, our own resynch
        return self._failure(_F_OTHER)  # an S(response) we did not ask for
