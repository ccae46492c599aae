"""PC_to_RDR_Secure data structures and PIN blocks (CCID rev 1.1 §6.1.11), sans-IO.

``SecureRequest.parse`` checks a Secure request's abData — bPINOperation 00 (verification)
or 01 (modification), the PIN verification / modification data structure, abPINApdu —
and keeps what the PIN entry and the PIN block need. A malformed request gives the CCID
bError "index of the offending byte" (§6.2.6: 10 = bPINOperation, 11 + i = structure byte
i), checked before any key is read; nothing raises.

``SecureRequest.build`` writes the command APDU for the card: abPINApdu with each PIN
inserted as the structure says:

* **format** (bmFormatString bits 1-0): ASCII ('0'..'9', one byte a digit), BCD (one nibble
  a digit) or binary (one byte a digit, value 0..9);
* **position** after Lc (bits 6-3, in bytes or bits by bit 7), **justification** (bit 2):
  left = from the position, right = ending at the end of the PIN block;
* **PIN block** of bmPINBlockString bits 3-0 bytes from the start of the data field
  (+ bInsertionOffsetOld/New for a modification); what the PIN does not cover keeps the
  template's bytes (the host's padding, e.g. FF for a CPS). Block size 0 (verification
  only): the PIN is appended at the position and Lc set to the new data length;
* **length field** (bmPINBlockString bits 7-4 bits wide, at bmPINLengthFormat's position):
  the number of digits, MSB first (e.g. ISO 9564 format 2 "2L" nibble).

Every position is checked against the APDU for the longest PIN allowed
(wPINMaxExtraDigit), so ``build`` cannot write outside the template. abPINApdu must be a
short case-3 APDU (5 + Lc bytes; 4 or 5 + Lc with block size 0).

Layouts (offsets in the structure, after bPINOperation)::

    verify: 0 bTimeOut 1 bmFormatString 2 bmPINBlockString 3 bmPINLengthFormat
            4-5 wPINMaxExtraDigit (max, min) 6 bEntryValidationCondition 7 bNumberMessage
            8-9 wLangId 10 bMsgIndex 11-13 bTeoPrologue 14.. abPINApdu
    modify: 0 bTimeOut 1 bmFormatString 2 bmPINBlockString 3 bmPINLengthFormat
            4 bInsertionOffsetOld 5 bInsertionOffsetNew 6-7 wPINMaxExtraDigit 8 bConfirmPIN
            9 bEntryValidationCondition 10 bNumberMessage 11-12 wLangId 13 bMsgIndex1
            [bMsgIndex2] [bMsgIndex3] bTeoPrologue(3) abPINApdu

In a modification, bMsgIndex2 is present when bNumberMessage is not 0 and bMsgIndex3 when
it is 3 or FF (libccid's reading of the CCID text); libccid's GemPCPinPad type always sends
all three. The count the rule gives is tried first, then three; the first that leaves a
well-formed abPINApdu wins.
"""

from cpsdi_proto import ccid
from cpsdi_proto.compat import const

MAX_DIGITS = const(16)  # longest PIN this reader takes (wPINMaxExtraDigit maximum)
APDU_MAX = const(260)  # short case 3: 5 + 255
DEFAULT_TIMEOUT_S = const(30)  # bTimeOut 00: the reader's default
_OP_INDEX = const(10)  # message index of bPINOperation (after the 10-byte header)
_S = const(11)  # message index of structure byte 0

# Structure offsets (verification)
_V_MAX = const(4)
_V_VALID = const(6)
_V_MESSAGES = const(7)
_V_MSG = const(10)
_V_PROLOGUE = const(11)
# (modification)
_M_OFF_OLD = const(4)
_M_OFF_NEW = const(5)
_M_MAX = const(6)
_M_CONFIRM = const(8)
_M_VALID = const(9)
_M_MESSAGES = const(10)
_M_MSG1 = const(13)


def _put_bits(buf, base: int, bit: int, nbits: int, value: int) -> None:
    """Write the ``nbits`` low bits of ``value`` MSB first at bit ``bit`` after ``buf[base]``."""
    for i in range(nbits):
        p = bit + i
        mask = 0x80 >> (p & 7)
        if (value >> (nbits - 1 - i)) & 1:
            buf[base + (p >> 3)] |= mask
        else:
            buf[base + (p >> 3)] &= ~mask & 0xFF


class SecureRequest:
    """One parsed PC_to_RDR_Secure request (preallocated, reused; see the module docstring)."""

    def __init__(self) -> None:
        self.prologue = bytearray(3)  # bTeoPrologue (T=1 at TPDU level: NAD PCB LEN)
        self.messages = bytearray(3)  # bMsgIndex per entry: current, new, confirmation
        self.clear()

    def clear(self) -> None:
        self.operation = 0
        self.timeout_s = DEFAULT_TIMEOUT_S
        self.pin_format = 0
        self.right = False
        self.pin_bit = 0  # PIN position after Lc, in bits
        self.block = 0  # PIN block size in bytes (0: appended, verification only)
        self.length_bits = 0  # PIN length field size in bits (0: none)
        self.length_bit = 0  # its position after Lc, in bits
        self.min_digits = 0
        self.max_digits = 0
        self.validation = 0
        self.message_count = 0  # bNumberMessage (FF: default prompts)
        self.lang_id = 0
        self.offset_old = 0  # bytes
        self.offset_new = 0
        self.confirm = 0  # bConfirmPIN (verification: 0)
        self.apdu_off = 0  # abPINApdu in the request buffer
        self.apdu_len = 0

    # -- parsing ---------------------------------------------------------------------
    def parse(self, req, off: int, n: int) -> int:
        """Check abData ``req[off:off+n]``; 0 if usable, else the bError (byte index)."""
        self.clear()
        if n < 1:
            return ccid.ERR_BAD_DATA
        op = req[off]
        s = off + 1
        if op == ccid.PIN_OPERATION_VERIFY:
            self.operation = op
            return self._parse_verify(req, s, n - 1)
        if op == ccid.PIN_OPERATION_MODIFY:
            self.operation = op
            return self._parse_modify(req, s, n - 1)
        return _OP_INDEX

    def _common(self, req, s: int) -> int:
        """bTimeOut, bmFormatString, bmPINBlockString, bmPINLengthFormat (bytes 0-3)."""
        self.timeout_s = req[s] if req[s] else DEFAULT_TIMEOUT_S
        fmt = req[s + 1]
        if fmt & 0x03 == 0x03:
            return _S + 1  # format 11 is RFU
        self.pin_format = fmt & 0x03
        self.right = bool(fmt & ccid.PIN_JUSTIFY_RIGHT)
        pos = (fmt >> 3) & 0x0F
        self.pin_bit = pos * 8 if fmt & ccid.PIN_UNITS_BYTES else pos
        block = req[s + 2]
        self.length_bits = block >> 4
        self.block = block & 0x0F
        lf = req[s + 3]
        if lf & 0xE0:
            return _S + 3  # RFU bits
        lpos = lf & 0x0F
        self.length_bit = lpos * 8 if lf & ccid.PIN_LENGTH_UNITS_BYTES else lpos
        return 0

    def _digits(self, req, at: int, index: int) -> int:
        """wPINMaxExtraDigit at ``req[at]`` (max) and ``req[at+1]`` (min); ``index`` = its bError."""
        mx = req[at]
        mn = req[at + 1]
        if mx < 1 or mx > MAX_DIGITS:
            return index
        if mn < 1 or mn > mx:
            return index + 1
        if self.length_bits and mx >= (1 << self.length_bits):
            return _S + 2  # the length field cannot hold the longest PIN
        self.max_digits = mx
        self.min_digits = mn
        return 0

    def _apdu(self, req, at: int, end: int, appended: bool) -> bool:
        """abPINApdu = ``req[at:end]``: a short case-3 APDU (4 bytes too when ``appended``)."""
        n = end - at
        if appended and n == 4:
            self.apdu_off = at
            self.apdu_len = 4
            return True
        if n < 5 or n != 5 + req[at + 4] or n > APDU_MAX:
            return False
        if req[at + 4] == 0 and not appended:
            return False
        self.apdu_off = at
        self.apdu_len = n
        return True

    def _parse_verify(self, req, s: int, n: int) -> int:
        if n < ccid.PIN_VERIFY_FIXED_SIZE + 4:
            return ccid.ERR_BAD_LENGTH
        rc = self._common(req, s)
        if rc:
            return rc
        rc = self._digits(req, s + _V_MAX, _S + _V_MAX)
        if rc:
            return rc
        valid = req[s + _V_VALID]
        if valid == 0 or valid > 7:
            return _S + _V_VALID
        self.validation = valid
        count = req[s + _V_MESSAGES]
        if count > 1 and count != ccid.PIN_MESSAGES_DEFAULT:
            return _S + _V_MESSAGES
        self.message_count = count
        self.lang_id = req[s + 8] | (req[s + 9] << 8)
        self.messages[0] = req[s + _V_MSG]
        for i in range(3):
            self.prologue[i] = req[s + _V_PROLOGUE + i]
        if not self._apdu(req, s + ccid.PIN_VERIFY_FIXED_SIZE, s + n, self.block == 0):
            return _S + ccid.PIN_VERIFY_FIXED_SIZE
        return self._check_geometry(0, _S + 1)

    def _parse_modify(self, req, s: int, n: int) -> int:
        if n < ccid.PIN_MODIFY_FIXED_SIZE + 5:
            return ccid.ERR_BAD_LENGTH
        rc = self._common(req, s)
        if rc:
            return rc
        if self.block == 0:
            return _S + 2  # a modification needs fixed PIN blocks
        rc = self._digits(req, s + _M_MAX, _S + _M_MAX)
        if rc:
            return rc
        confirm = req[s + _M_CONFIRM]
        if confirm & 0xFC:
            return _S + _M_CONFIRM
        self.confirm = confirm
        valid = req[s + _M_VALID]
        if valid == 0 or valid > 7:
            return _S + _M_VALID
        self.validation = valid
        count = req[s + _M_MESSAGES]
        if count > 3 and count != ccid.PIN_MESSAGES_DEFAULT:
            return _S + _M_MESSAGES
        self.message_count = count
        self.lang_id = req[s + 11] | (req[s + 12] << 8)
        # bMsgIndex2/3 presence (module docstring): the rule's count, then all three
        first = 1 + (1 if count != 0 else 0) + (1 if count >= 3 else 0)
        indexes = 0
        for k in (first, 3):
            at = s + _M_MSG1 + k + 3
            if at < s + n and self._apdu(req, at, s + n, False):
                indexes = k
                break
        if not indexes:
            return _S + _M_MSG1
        for i in range(3):
            self.messages[i] = req[s + _M_MSG1 + i] if i < indexes else i
            self.prologue[i] = req[s + _M_MSG1 + indexes + i]
        self.offset_old = req[s + _M_OFF_OLD]
        self.offset_new = req[s + _M_OFF_NEW]
        if confirm & ccid.PIN_CONFIRM_CURRENT:
            rc = self._check_geometry(self.offset_old, _S + _M_OFF_OLD)
            if rc:
                return rc
        return self._check_geometry(self.offset_new, _S + _M_OFF_NEW)

    def _check_geometry(self, offset: int, offset_index: int) -> int:
        """The longest PIN and its length field fit the template at ``offset`` bytes."""
        data_bits = (self.apdu_len - 5) * 8 if self.apdu_len > 4 else 0
        unit = 4 if self.pin_format == ccid.PIN_FORMAT_BCD else 8
        span = self.max_digits * unit
        base = offset * 8
        if self.block == 0:  # appended (verification): left-justified, whole bytes
            if self.right or self.pin_bit & 7:
                return _S + 1
            if self.pin_bit > data_bits or (self.pin_bit + span + 7) // 8 > 255:
                return _S + 1
            if self.length_bits and self.length_bit + self.length_bits > data_bits:
                return _S + 3
            return 0
        block_bits = self.block * 8
        if base + block_bits > data_bits:
            return offset_index if offset else _S + 2
        if self.right:
            first = block_bits - span
            if first < self.pin_bit:
                return _S + 2
        else:
            first = self.pin_bit
            if first + span > block_bits:
                return _S + 1
        if self.length_bits:
            lb = self.length_bit
            if lb + self.length_bits > block_bits:
                return _S + 3
            if lb < first + span and first < lb + self.length_bits:
                return _S + 3  # the length field overlaps the digits
        return 0

    # -- PIN block ---------------------------------------------------------------------
    def build(self, req, out, old, new) -> int:
        """Write the card's APDU into ``out``: the template with ``new`` (an entry:
        ``digits``, ``count``) and, for a modification with the current PIN, ``old``.
        Returns its length. ``out`` holds PIN digits afterwards: the caller wipes it."""
        n = self.apdu_len
        at = self.apdu_off
        for i in range(n):
            out[i] = req[at + i]
        if n == 4:
            out[4] = 0
            n = 5
        if self.operation == ccid.PIN_OPERATION_MODIFY:
            if self.confirm & ccid.PIN_CONFIRM_CURRENT:
                self._insert(out, self.offset_old, old)
            self._insert(out, self.offset_new, new)
            return n
        if self.block == 0:
            unit = 4 if self.pin_format == ccid.PIN_FORMAT_BCD else 8
            end = (self.pin_bit + new.count * unit + 7) // 8
            lc = out[4]
            if end > lc:
                for i in range(5 + lc, 5 + end):
                    out[i] = 0xFF if self.pin_format == ccid.PIN_FORMAT_BCD else 0x00
                out[4] = end
                n = 5 + end
        self._insert(out, 0, new)
        return n

    def _insert(self, out, offset: int, entry) -> None:
        base = 5 + offset
        count = entry.count
        fmt = self.pin_format
        unit = 4 if fmt == ccid.PIN_FORMAT_BCD else 8
        if self.right:
            bit = self.block * 8 - count * unit
        else:
            bit = self.pin_bit
        digits = entry.digits
        for i in range(count):
            d = digits[i]
            _put_bits(out, base, bit + i * unit, unit, d + 0x30 if fmt == ccid.PIN_FORMAT_ASCII else d)
        if self.length_bits:
            _put_bits(out, base, self.length_bit, self.length_bits, count)

    def entries(self) -> int:
        """How many PINs the holder types: 1 (verify), 1..3 (modify)."""
        if self.operation != ccid.PIN_OPERATION_MODIFY:
            return 1
        n = 1
        if self.confirm & ccid.PIN_CONFIRM_CURRENT:
            n += 1
        if self.confirm & ccid.PIN_CONFIRM_NEW:
            n += 1
        return n
