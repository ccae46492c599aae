"""APDU scripts: vendor Escape ``CD 20`` RUN_SCRIPT (protocol/README.md §3, row 20).

The host sends a list of APDUs with simple stop conditions; the firmware runs them back to back
on one slot (APDU level, ``slot.transmit_apdu``) and returns every response in one answer: one
host round trip for a whole card read.

* ``check_script(buf, off, n)`` validates the whole payload ``buf[off:off+n]`` (what follows
  ``CD 20``) before anything reaches the card: 0, ERR_SCRIPT_FORMAT (count 0, a step cut short,
  an APDU of fewer than 4 bytes or running past the payload, RFU flag bits, trailing bytes) or
  ERR_SCRIPT_TOO_LONG (count > SCRIPT_MAX_STEPS).
* ``run_script(slot, buf, off, n, out, out_off, out_end)`` runs a checked script and writes the
  answer payload (steps run u8, stop reason u8, then length u16 LE + response per step) at
  ``out[out_off:out_end]``. Before each step it reserves the longest response the APDU can
  have (Ne + 2, ``response_room``); if that does not fit, it stops before the step with
  SCRIPT_FULL, so the host sends the rest again. The card gets the whole remaining room as its
  limit (a T=0 6Cxx re-issue may return more than Le). Returns the payload length, or
  -bError when a card operation failed (the Escape then fails with that bError).

Device code: every loop is bounded by SCRIPT_MAX_STEPS; per step only the two memoryview
slices the slot's ``transmit_apdu`` needs (command in, response out) are made.
"""

from cpsdi_proto import ccid, escape

_STOP = escape.SCRIPT_STOP_ON_ERROR
_EXPECT = escape.SCRIPT_EXPECT_SW


def check_script(buf, off: int, n: int) -> int:
    """0 if ``buf[off:off+n]`` is a well-formed script, else ERR_SCRIPT_FORMAT / ERR_SCRIPT_TOO_LONG."""
    if n < 1:
        return escape.ERR_SCRIPT_FORMAT
    count = buf[off]
    if count == 0:
        return escape.ERR_SCRIPT_FORMAT
    if count > escape.SCRIPT_MAX_STEPS:
        return escape.ERR_SCRIPT_TOO_LONG
    end = off + n
    p = off + 1
    for _ in range(count):
        if p >= end:
            return escape.ERR_SCRIPT_FORMAT
        flags = buf[p]
        p += 1
        if flags & ~escape.SCRIPT_FLAGS_MASK:
            return escape.ERR_SCRIPT_FORMAT
        if flags & _EXPECT:
            p += 2
        if p + 2 > end:
            return escape.ERR_SCRIPT_FORMAT
        length = buf[p] | (buf[p + 1] << 8)
        p += 2
        if length < 4 or p + length > end:
            return escape.ERR_SCRIPT_FORMAT
        p += length
    if p != end:
        return escape.ERR_SCRIPT_FORMAT
    return 0


def response_room(apdu, off: int, n: int) -> int:
    """Longest response (Ne + SW1 SW2) of the command APDU ``apdu[off:off+n]`` (ISO/IEC 7816-4
    §5.1 cases 1-4, short and extended); 2 for a malformed one (the slot refuses it anyway)."""
    if n <= 4:
        return 2  # case 1
    p3 = apdu[off + 4]
    if n == 5:
        return (p3 or 256) + 2  # case 2S
    if p3 != 0:
        if n == 5 + p3:
            return 2  # case 3S
        if n == 6 + p3:
            return (apdu[off + n - 1] or 256) + 2  # case 4S
        return 2
    if n == 7:
        return ((apdu[off + 5] << 8 | apdu[off + 6]) or 65536) + 2  # case 2E
    lc = apdu[off + 5] << 8 | apdu[off + 6]
    if lc and n == 7 + lc:
        return 2  # case 3E
    if lc and n == 9 + lc:
        return ((apdu[off + n - 2] << 8 | apdu[off + n - 1]) or 65536) + 2  # case 4E
    return 2


def run_script(slot, buf, off: int, n: int, out, out_off: int, out_end: int) -> int:
    """Run the script ``buf[off:off+n]`` (already checked) on ``slot``; answer payload at
    ``out[out_off:out_end]``. Returns its length or -bError (module docstring)."""
    count = buf[off]
    src = memoryview(buf)
    dst = memoryview(out)
    p = off + 1
    q = out_off + 2  # steps run, stop reason first
    done = 0
    reason = escape.SCRIPT_DONE
    for _ in range(count):
        flags = buf[p]
        p += 1
        expected = 0
        if flags & _EXPECT:
            expected = buf[p] << 8 | buf[p + 1]
            p += 2
        length = buf[p] | (buf[p + 1] << 8)
        p += 2
        if q + 2 + response_room(buf, p, length) > out_end:
            reason = escape.SCRIPT_FULL
            break
        room = out_end - q - 2
        rc = slot.transmit_apdu(src[p:p + length], length, dst[q + 2:out_end], room)
        if rc <= 0:
            return rc  # -bError (0: "command not supported" from a refusing engine)
        if rc > room:
            return -ccid.ERR_XFR_OVERRUN
        if rc < 2:
            return -ccid.ERR_HW_ERROR  # no status word: cannot happen with the slot's engines
        p += length
        out[q] = rc & 0xFF
        out[q + 1] = rc >> 8
        sw = out[q + rc] << 8 | out[q + rc + 1]
        q += 2 + rc
        done += 1
        if flags & _EXPECT:
            if sw != expected:
                reason = escape.SCRIPT_SW_MISMATCH
                break
        elif flags & _STOP and sw != 0x9000:
            reason = escape.SCRIPT_SW_ERROR
            break
    out[out_off] = done
    out[out_off + 1] = reason
    return q - out_off
