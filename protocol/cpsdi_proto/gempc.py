"""GemPC Twin serial framing ("compat" mode), as libccid's ``ccid_serial.c`` speaks it.

Frame: ``SYNC(03) ACK(06) <CCID message> LRC``, LRC = XOR of every preceding byte
(SYNC and CTRL included), so the XOR over a whole valid frame is 0.
Reader → host only: NAK ``03 15 16``, card movement ``50 xx`` (unframed), keep-alive
bytes 0x80..0xFF between frames. Facts: shared/reference/ccid-serial.md §1.
"""

from cpsdi_proto.ccid import HEADER_SIZE
from cpsdi_proto.compat import const

SYNC = const(0x03)
CTRL_ACK = const(0x06)
CTRL_NAK = const(0x15)
NAK_LRC = const(0x16)  # 03 ^ 15
NAK_FRAME = b"\x03\x15\x16"
KEEPALIVE = const(0x80)  # any byte 0x80..0xFF between frames restarts libccid's read timeout

# dwMaxCCIDMessageLength of every libccid serial reader type (ccid-serial.md §4)
COMPAT_MAX_MESSAGE = const(271)
COMPAT_MAX_DATA = const(261)  # COMPAT_MAX_MESSAGE - HEADER_SIZE
MESSAGE_OFFSET = const(2)  # the CCID message starts after SYNC and CTRL
COMPAT_OVERHEAD = const(3)  # SYNC, CTRL, LRC


def lrc(buf, start: int, end: int, value: int = 0) -> int:
    """XOR of ``buf[start:end]`` folded into ``value``."""
    for i in range(start, end):
        value ^= buf[i]
    return value


def seal_compat(buf, message_len: int) -> int:
    """Frame a CCID message already written at ``buf[2:2+message_len]``; return the frame length.

    ``buf`` needs ``message_len + 3`` bytes.
    """
    buf[0] = SYNC
    buf[1] = CTRL_ACK
    end = MESSAGE_OFFSET + message_len
    buf[end] = lrc(buf, 0, end)
    return end + 1


def seal_echo_header(buf, frame_len: int) -> int:
    """Turn a received compat command frame in ``buf`` into its header-only echo, in place.

    libccid discards the echo unread (ccid-serial.md §1.3); a header-only echo (dwLength
    0) halves the upstream traffic and fits every answer buffer. Returns the echo length.
    """
    if frame_len < HEADER_SIZE + COMPAT_OVERHEAD:
        return 0
    for i in range(MESSAGE_OFFSET + 1, MESSAGE_OFFSET + 5):
        buf[i] = 0
    return seal_compat(buf, HEADER_SIZE)
