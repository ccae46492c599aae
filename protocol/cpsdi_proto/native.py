"""Native framing: cpsdi's own link mode, negotiated with the vendor Escape NATIVE.

Frame: ``SYNC(03) CTRL_NATIVE(0E) <CCID message> CRC32(LE)``. Same CCID messages,
no echo, a larger maximum message, and CRC-32 instead of the LRC.

Why CRC-32 (ISO-HDLC, the zlib/``binascii.crc32`` polynomial): it is computed in C on
both sides (CPython ``binascii``, MicroPython ``binascii.crc32``) so the firmware
spends no Python bytecode per byte on it; it detects every burst up to 32 bits and
keeps Hamming distance 4 far beyond our frame sizes, while the XOR LRC misses any two
flips in the same bit column and a CRC-16 lets 1 in 65 536 garbled frames through —
too many for a link that must never execute a wrong command.
"""

from cpsdi_proto.compat import const
from cpsdi_proto.gempc import MESSAGE_OFFSET, SYNC

CTRL_NATIVE = const(0x0E)
NATIVE_OVERHEAD = const(6)  # SYNC, CTRL, 4 CRC bytes
CRC_SIZE = const(4)
# Wire ceiling of a native message (header + data); each reader announces its own
# limit (GET_INFO / NATIVE answers), at least NATIVE_MIN_MESSAGE.
NATIVE_MAX_MESSAGE = const(65546)
NATIVE_MIN_MESSAGE = const(1034)  # 10-byte header + 1 KiB

try:
    from binascii import crc32 as _crc32
except ImportError:  # a board built below the EXTRA_FEATURES ROM level (no MICROPY_PY_BINASCII_CRC32)
    _crc32 = None


def crc32_py(buf, start: int, end: int) -> int:
    """Bitwise CRC-32/ISO-HDLC of ``buf[start:end]`` (fallback; slow but allocation-free)."""
    crc = 0xFFFFFFFF
    for i in range(start, end):
        crc ^= buf[i]
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def crc32(buf, start: int, end: int) -> int:
    """CRC-32/ISO-HDLC of ``buf[start:end]``."""
    if _crc32 is None:
        return crc32_py(buf, start, end)
    return _crc32(memoryview(buf)[start:end]) & 0xFFFFFFFF


def seal_native(buf, message_len: int) -> int:
    """Frame a CCID message already written at ``buf[2:2+message_len]``; return the frame length.

    ``buf`` needs ``message_len + 6`` bytes. The CRC covers SYNC, CTRL and the message.
    """
    buf[0] = SYNC
    buf[1] = CTRL_NATIVE
    end = MESSAGE_OFFSET + message_len
    crc = crc32(buf, 0, end)
    buf[end] = crc & 0xFF
    buf[end + 1] = (crc >> 8) & 0xFF
    buf[end + 2] = (crc >> 16) & 0xFF
    buf[end + 3] = (crc >> 24) & 0xFF
    return end + CRC_SIZE


def check_native(buf, frame_len: int) -> bool:
    """True if the native frame ``buf[:frame_len]`` carries a correct CRC."""
    end = frame_len - CRC_SIZE
    crc = crc32(buf, 0, end)
    return (
        buf[end] == crc & 0xFF
        and buf[end + 1] == (crc >> 8) & 0xFF
        and buf[end + 2] == (crc >> 16) & 0xFF
        and buf[end + 3] == (crc >> 24) & 0xFF
    )
