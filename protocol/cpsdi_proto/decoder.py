"""Incremental decoder of the serial link byte stream, for both ends and both framings.

Sans-IO: ``feed()`` takes bytes in any chunking and stops right after each complete
event, so the caller handles it before feeding the rest. The buffer is allocated
once; the per-byte path allocates nothing. Garbage is skipped until the next SYNC
and counted; a header announcing more data than the limit is dropped and the bytes
after its SYNC are scanned again, so a frame hiding behind a false SYNC is found.

Accepted at any time: compat frames ``03 06 … LRC`` (gempc.py) and, when
``native_max_message`` is not 0, native frames ``03 0E … CRC32`` (native.py).
With ``from_reader=True`` (the host's decoder) also the NAK ``03 15 16``, card
movement ``50 xx`` and keep-alive bytes 0x80..0xFF (ccid-serial.md §1.2).

Typical loop (``feed`` returns with EV_NONE only once everything is consumed)::

    i = 0
    while True:
        i = dec.feed(chunk, i, n)
        if dec.kind == EV_NONE:
            break
        if dec.kind == EV_FRAME:
            handle(dec.buf, MESSAGE_OFFSET, dec.message_len)
"""

from cpsdi_proto.ccid import HEADER_SIZE, OFF_LENGTH, RDR_TO_PC_NOTIFY_SLOT_CHANGE
from cpsdi_proto.compat import const
from cpsdi_proto.gempc import (
    COMPAT_MAX_MESSAGE,
    COMPAT_OVERHEAD,
    CTRL_ACK,
    CTRL_NAK,
    KEEPALIVE,
    MESSAGE_OFFSET,
    NAK_LRC,
    SYNC,
)
from cpsdi_proto.native import CRC_SIZE, CTRL_NATIVE, NATIVE_MAX_MESSAGE, NATIVE_OVERHEAD, check_native

# Events (``FrameDecoder.kind`` after ``feed`` returns)
EV_NONE = const(0)  # every byte fed was consumed, no event complete
EV_FRAME = const(1)  # a frame with a good LRC/CRC: buf[2:2+message_len]
EV_BAD_CHECK = const(2)  # a complete frame whose LRC/CRC is wrong (the reader answers NAK)
EV_OVERSIZE = const(3)  # a header announced more than the limit; its bytes are rescanned
EV_NAK = const(4)  # 03 15 16 (from the reader)
EV_NOTIFY = const(5)  # 50 xx (from the reader): value = bmSlotICCState
EV_KEEPALIVE = const(6)  # 80..FF between frames (from the reader): value = the byte

_ST_HUNT = const(0)
_ST_CTRL = const(1)
_ST_HEADER = const(2)
_ST_BODY = const(3)
_ST_NAK = const(4)
_ST_NOTIFY = const(5)

_HEADER_END = const(12)  # MESSAGE_OFFSET + HEADER_SIZE


class FrameDecoder:
    """Decode one direction of the link; see the module docstring."""

    def __init__(self, from_reader: bool = False, native_max_message: int = 0) -> None:
        if native_max_message < 0 or native_max_message > NATIVE_MAX_MESSAGE:
            raise ValueError("native_max_message out of range")
        if native_max_message and native_max_message < HEADER_SIZE:
            raise ValueError("native_max_message below a CCID header")
        self.from_reader = from_reader
        self.native_max_message = native_max_message
        size = COMPAT_MAX_MESSAGE + COMPAT_OVERHEAD
        if native_max_message + NATIVE_OVERHEAD > size:
            size = native_max_message + NATIVE_OVERHEAD
        self.buf = bytearray(size)
        self._scratch = bytearray(_HEADER_END)  # header bytes to rescan after EV_OVERSIZE
        self._replay_pos = 0
        self._replay_end = 0
        # Last event
        self.kind = EV_NONE
        self.value = 0
        self.native = False
        self.frame_len = 0
        self.message_len = 0
        # Counters (diagnostics)
        self.frames = 0
        self.bad_checks = 0
        self.oversize = 0
        self.garbage = 0
        self.reset()

    def reset(self) -> None:
        """Drop any partial frame (call on an inter-byte timeout or a link restart)."""
        self._state = _ST_HUNT
        self._pos = 0
        self._need = 0
        self._lrc = 0
        self._native = False
        self._replay_pos = 0
        self._replay_end = 0

    @property
    def in_frame(self) -> bool:
        """True while a frame (or a NAK / notification) is partly received."""
        return self._state != _ST_HUNT or self._replay_pos < self._replay_end

    def message(self) -> memoryview:
        """The CCID message of the last EV_FRAME / EV_BAD_CHECK, valid until the next feed."""
        return memoryview(self.buf)[MESSAGE_OFFSET : MESSAGE_OFFSET + self.message_len]

    def feed(self, data, start: int = 0, end: int = -1) -> int:
        """Consume ``data[start:end]`` up to the end of the next event; return the next index."""
        if end < 0:
            end = len(data)
        self.kind = EV_NONE
        while self._replay_pos < self._replay_end:
            b = self._scratch[self._replay_pos]
            self._replay_pos += 1
            if self._step(b):
                if self.kind != EV_NONE:
                    return start
                self._replay_pos -= 1
        i = start
        buf = self.buf
        while i < end:
            if self._state == _ST_BODY:
                pos = self._pos
                need = self._need
                x = self._lrc
                while i < end and pos < need:
                    b = data[i]
                    buf[pos] = b
                    x ^= b
                    pos += 1
                    i += 1
                self._pos = pos
                self._lrc = x
                if pos == need:
                    self._finish()
                return i
            b = data[i]
            i += 1
            if self._step(b):
                if self.kind != EV_NONE:
                    return i
                # b was not consumed by the state it arrived in: look at it again
                i -= 1
        return i

    def _step(self, b: int) -> bool:
        """Advance the byte-level state machine outside the body.

        Returns True when an event is complete (``kind`` set) or when ``b`` must be
        examined again in the hunt state (``kind`` left at EV_NONE).
        """
        st = self._state
        if st == _ST_HUNT:
            if b == SYNC:
                self.buf[0] = b
                self._state = _ST_CTRL
            elif self.from_reader and b >= KEEPALIVE:
                self.value = b
                self.kind = EV_KEEPALIVE
                return True
            elif self.from_reader and b == RDR_TO_PC_NOTIFY_SLOT_CHANGE:
                self._state = _ST_NOTIFY
            else:
                self.garbage += 1
            return False
        if st == _ST_CTRL:
            if b == CTRL_ACK or (b == CTRL_NATIVE and self.native_max_message):
                self.buf[1] = b
                self._native = b == CTRL_NATIVE
                self._lrc = SYNC ^ b
                self._pos = MESSAGE_OFFSET
                self._state = _ST_HEADER
                return False
            if b == CTRL_NAK and self.from_reader:
                self._state = _ST_NAK
                return False
            self.garbage += 1  # the SYNC before b was noise
            if b == SYNC:
                return False  # stay in _ST_CTRL: this SYNC may start a frame
            self._state = _ST_HUNT
            return True
        if st == _ST_NAK:
            self._state = _ST_HUNT
            if b == NAK_LRC:
                self.kind = EV_NAK
                return True
            self.garbage += 2
            return True
        if st == _ST_NOTIFY:
            self._state = _ST_HUNT
            self.value = b
            self.kind = EV_NOTIFY
            return True
        # _ST_HEADER
        buf = self.buf
        pos = self._pos
        buf[pos] = b
        self._lrc ^= b
        pos += 1
        self._pos = pos
        if pos < _HEADER_END:
            return False
        off = MESSAGE_OFFSET + OFF_LENGTH
        limit = self.native_max_message if self._native else COMPAT_MAX_MESSAGE
        # dwLength is little-endian; a non-zero top byte is always too long (and would
        # overflow a MicroPython small int on 32-bit ports).
        length = buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)
        if buf[off + 3] or HEADER_SIZE + length > limit:
            self._drop_oversize()
            return True
        self._need = _HEADER_END + length + (CRC_SIZE if self._native else 1)
        self._state = _ST_BODY
        return False

    def _drop_oversize(self) -> None:
        # Keep the bytes after the false SYNC for a second look (a real frame may start there).
        n = self._pos - 1
        scratch = self._scratch
        buf = self.buf
        for k in range(n):
            scratch[k] = buf[k + 1]
        self._replay_pos = 0
        self._replay_end = n
        self._state = _ST_HUNT
        self.garbage += 1
        self.oversize += 1
        self.kind = EV_OVERSIZE

    def _finish(self) -> None:
        n = self._pos
        self._state = _ST_HUNT
        self.frame_len = n
        self.native = self._native
        if self._native:
            self.message_len = n - MESSAGE_OFFSET - CRC_SIZE
            ok = check_native(self.buf, n)
        else:
            self.message_len = n - MESSAGE_OFFSET - 1
            ok = self._lrc == 0
        if ok:
            self.frames += 1
            self.kind = EV_FRAME
        else:
            self.bad_checks += 1
            self.kind = EV_BAD_CHECK
