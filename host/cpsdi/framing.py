"""Host side of the link framing: build frames, turn the reader's byte stream into events.

Thin typed layer over ``cpsdi_proto`` (seal functions and the incremental
FrameDecoder shared with the firmware); nothing about the wire is redefined here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

from cpsdi_proto import decoder as dec
from cpsdi_proto.ccid import HEADER_SIZE
from cpsdi_proto.gempc import COMPAT_MAX_MESSAGE, COMPAT_OVERHEAD, MESSAGE_OFFSET, seal_compat
from cpsdi_proto.native import NATIVE_MAX_MESSAGE, NATIVE_OVERHEAD, seal_native

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """A frame with a good LRC/CRC; ``message`` is the CCID message (header + data)."""

    message: bytes
    native: bool


@dataclass(frozen=True)
class BadFrame:
    """A complete frame whose LRC/CRC is wrong (unusable; the request must be resent)."""

    frame: bytes
    native: bool


@dataclass(frozen=True)
class Oversize:
    """A header announcing more data than allowed; its bytes were rescanned."""


@dataclass(frozen=True)
class Nak:
    """The reader's NAK ``03 15 16``: it received a corrupted frame."""


@dataclass(frozen=True)
class SlotChange:
    """``50 xx``: card movement; bit 2n = card present in slot n, bit 2n+1 = changed."""

    bitmap: int

    def present(self, slot: int) -> bool:
        """True if the bitmap says a card is in ``slot``."""
        return bool(self.bitmap >> (2 * slot) & 1)

    def changed(self, slot: int) -> bool:
        """True if the bitmap says ``slot`` changed."""
        return bool(self.bitmap >> (2 * slot + 1) & 1)


@dataclass(frozen=True)
class KeepAlive:
    """A 0x80..0xFF byte between frames: the reader is still working."""

    value: int


Event = Union[Frame, BadFrame, Oversize, Nak, SlotChange, KeepAlive]


def encode_frame(message: bytes | bytearray | memoryview, native: bool = False) -> bytes:
    """Wrap one CCID message in a compat (``03 06 … LRC``) or native (``03 0E … CRC32``) frame."""
    n = len(message)
    if n < HEADER_SIZE:
        raise ValueError("a CCID message has at least its 10-byte header")
    limit = NATIVE_MAX_MESSAGE if native else COMPAT_MAX_MESSAGE
    if n > limit:
        raise ValueError(f"CCID message of {n} bytes exceeds the {'native' if native else 'compat'} limit {limit}")
    buf = bytearray(n + (NATIVE_OVERHEAD if native else COMPAT_OVERHEAD))
    buf[MESSAGE_OFFSET : MESSAGE_OFFSET + n] = message
    size = seal_native(buf, n) if native else seal_compat(buf, n)
    return bytes(buf[:size])


class FrameReader:
    """Incremental parser of the reader → host stream; ``feed()`` yields typed events."""

    def __init__(self, native_max_message: int = NATIVE_MAX_MESSAGE) -> None:
        self._dec = dec.FrameDecoder(from_reader=True, native_max_message=native_max_message)

    @property
    def in_frame(self) -> bool:
        """True while a frame is partly received."""
        return self._dec.in_frame

    @property
    def garbage(self) -> int:
        """Bytes skipped so far because they could not start an event."""
        return self._dec.garbage

    def reset(self) -> None:
        """Drop a partial frame (after a timeout, before a retransmission)."""
        self._dec.reset()

    def feed(self, data: bytes | bytearray | memoryview) -> Iterator[Event]:
        """Consume ``data`` (any chunking) and yield every event it completes."""
        d = self._dec
        i, n = 0, len(data)
        while True:
            i = d.feed(data, i, n)
            kind = d.kind
            if kind == dec.EV_NONE:
                return
            if kind == dec.EV_FRAME:
                yield Frame(bytes(d.message()), d.native)
            elif kind == dec.EV_BAD_CHECK:
                log.debug("frame with a bad %s dropped", "CRC" if d.native else "LRC")
                yield BadFrame(bytes(d.buf[: d.frame_len]), d.native)
            elif kind == dec.EV_OVERSIZE:
                yield Oversize()
            elif kind == dec.EV_NAK:
                yield Nak()
            elif kind == dec.EV_NOTIFY:
                yield SlotChange(d.value)
            else:
                yield KeepAlive(d.value)
