"""Link self-test: frames of every CCID message type and size through a serial port and back.

On ``loop://`` (the default) it proves the framing codecs and the pyserial transport;
on a real port with a loopback plug (TX wired to RX) it also proves the line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import serial
from cpsdi_proto import ccid as wire
from cpsdi_proto.gempc import COMPAT_MAX_DATA

from cpsdi.ccid import MESSAGE_NAMES, build_message, message_name, parse_message
from cpsdi.exceptions import FramingError, ReaderTimeoutError, TransportError
from cpsdi.framing import Frame, FrameReader, encode_frame

log = logging.getLogger(__name__)


@dataclass
class SelfTestResult:
    """Counts of one self-test run."""

    frames: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if every frame came back identical."""
        return self.frames > 0 and not self.failures


def _messages(native_max_data: int) -> Iterator[tuple[bytes, bool]]:
    seq = 0
    sizes = [0, 1, 4, 5, 127, 255, 256, COMPAT_MAX_DATA]
    for message_type in sorted(MESSAGE_NAMES):
        for size in sizes:
            data = bytes((seq * 31 + i) & 0xFF for i in range(size))
            yield build_message(message_type, slot=seq % 2, seq=seq & 0xFF, data=data), False
            seq += 1
    for size in (COMPAT_MAX_DATA + 1, native_max_data):
        data = bytes((7 * i) & 0xFF for i in range(size))
        yield build_message(wire.PC_TO_RDR_XFR_BLOCK, seq=seq & 0xFF, data=data), True
        seq += 1


def run_selftest(url: str = "loop://", timeout_s: float = 2.0, native_max_data: int = 1024) -> SelfTestResult:
    """Send every test frame to ``url``, read it back, and compare (see module docstring)."""
    result = SelfTestResult()
    reader = FrameReader()
    try:
        port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
    except (serial.SerialException, ValueError) as exc:
        raise TransportError(f"cannot open {url}: {exc}") from exc
    start = time.monotonic()
    with port:
        port.reset_input_buffer()
        for message, native in _messages(native_max_data):
            frame = encode_frame(message, native=native)
            port.write(frame)
            got = _read_frame(port, reader, timeout_s)
            result.frames += 1
            result.bytes += len(frame)
            name = message_name(message[0])
            if got.message != message or got.native != native:
                result.failures.append(f"{name} of {len(message)} bytes came back different")
                continue
            try:
                parse_message(got.message)
            except FramingError as exc:
                result.failures.append(f"{name}: {exc}")
    result.seconds = time.monotonic() - start
    return result


def _read_frame(port: serial.SerialBase, reader: FrameReader, timeout_s: float) -> Frame:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # in_waiting lives on the concrete port classes, not on SerialBase
        waiting: int = getattr(port, "in_waiting", 0)
        chunk = port.read(waiting or 1)
        for event in reader.feed(chunk):
            if isinstance(event, Frame):
                return event
            log.warning("self-test: unexpected %s", event)
    reader.reset()
    raise ReaderTimeoutError(f"no frame came back within {timeout_s:.1f} s (is TX looped to RX?)")
