"""HostPort implementations for the simulator: a file descriptor (pty master or socket),
paced at a real baud rate, and an in-memory pipe for tests."""

from __future__ import annotations

import os
import select
import time
from collections import deque

from cpsdi_fw.hal import HostPort

FIFO_BYTES = 64  # what a UART's receive FIFO would hold: the pacing credit never exceeds it


def bits_per_char(stop_bits: int = 2) -> int:
    """Start bit + 8 data bits + stop bits (libccid: 8N2; 8N1 gives 10)."""
    return 1 + 8 + stop_bits


# Rates the simulated UART offers for LINK_SETTINGS (what a USB-serial bridge or an MCU UART
# commonly does); 0 would mean unpaced and is not offered.
LINE_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


class _Pacer:
    """Token bucket releasing bytes at ``baud / bits`` per second (0 baud: unpaced)."""

    def __init__(self, baud: int, bits: int) -> None:
        self.rate = baud / bits if baud else 0.0
        self.credit = float(FIFO_BYTES)
        self.last = time.monotonic()

    def available(self) -> int:
        if not self.rate:
            return 1 << 30
        now = time.monotonic()
        self.credit = min(float(FIFO_BYTES), self.credit + (now - self.last) * self.rate)
        self.last = now
        return int(self.credit)

    def take(self, n: int) -> None:
        if self.rate:
            self.credit -= n

    def delay_for(self, n: int) -> float:
        """Seconds until ``n`` bytes of credit are there."""
        if not self.rate:
            return 0.0
        missing = n - self.credit
        return missing / self.rate if missing > 0 else 0.0


class FdHostPort(HostPort):
    """The host link over a file descriptor, paced at ``baud`` in both directions."""

    def __init__(self, fd: int | None = None, *, baud: int = 115200, stop_bits: int = 2) -> None:
        self.fd = fd
        self.baud = baud
        self.stop_bits = stop_bits
        self._rx_pacer = _Pacer(baud, bits_per_char(stop_bits))
        self._tx_pacer = _Pacer(baud, bits_per_char(stop_bits))
        self._pending = bytearray()
        self.bytes_in = 0
        self.bytes_out = 0
        if fd is not None:
            os.set_blocking(fd, False)

    def attach(self, fd: int | None) -> None:
        """Use another descriptor (a new TCP client), or none."""
        self.fd = fd
        self._pending.clear()
        if fd is not None:
            os.set_blocking(fd, False)

    def _fill(self) -> None:
        if self.fd is None or len(self._pending) >= 4096:
            return
        try:
            chunk = os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: the pty's other end is closed; the host will come back
            return
        self._pending += chunk

    def read_into(self, buf: bytearray | memoryview, start: int, count: int) -> int:
        self._fill()
        n = min(count, len(self._pending), self._rx_pacer.available())
        if n <= 0:
            return 0
        buf[start : start + n] = self._pending[:n]
        del self._pending[:n]
        self._rx_pacer.take(n)
        self.bytes_in += n
        return n

    def write(self, buf: bytes | bytearray | memoryview, start: int, end: int) -> None:
        view = memoryview(buf)[start:end]
        while len(view):
            if self.fd is None:
                return
            step = min(len(view), FIFO_BYTES)
            self._tx_pacer.available()
            wait = self._tx_pacer.delay_for(step)
            if wait:
                time.sleep(wait)
                self._tx_pacer.available()
            try:
                n = os.write(self.fd, view[:step])
            except BlockingIOError:
                select.select([], [self.fd], [], 0.05)
                continue
            except OSError:  # the host side went away: drop, as a UART would
                return
            self._tx_pacer.take(n)
            self.bytes_out += n
            view = view[n:]

    def ticks_ms(self) -> int:
        return (time.monotonic_ns() // 1_000_000) & 0x3FFFFFFF

    def line_supported(self, baud: int, stop_bits: int) -> bool:
        # an unpaced simulator (baud 0) has no line to change
        return self.baud != 0 and baud in LINE_RATES and stop_bits in (1, 2)

    def set_line(self, baud: int, stop_bits: int) -> None:
        # write() paces synchronously: every byte written so far is already "on the wire"
        self.baud = baud
        self.stop_bits = stop_bits
        self._rx_pacer = _Pacer(baud, bits_per_char(stop_bits))
        self._tx_pacer = _Pacer(baud, bits_per_char(stop_bits))

    def wait_ms(self, ms: int) -> None:
        if self._pending and self._rx_pacer.available():
            return
        if self._pending:
            time.sleep(min(ms / 1000, self._rx_pacer.delay_for(1) or 0.001))
            return
        if self.fd is None:
            time.sleep(ms / 1000)
            return
        select.select([self.fd], [], [], ms / 1000)


class MemoryHostPort(HostPort):
    """An in-memory host link for tests: ``host_write`` feeds the reader, ``host_read`` drains it."""

    def __init__(self) -> None:
        self.to_reader: deque[int] = deque()
        self.to_host = bytearray()
        self.now_ms = 0
        self.baud = 115200
        self.stop_bits = 2
        self.line_changes: list[tuple[int, int]] = []  # every set_line, in order

    def host_write(self, data: bytes) -> None:
        self.to_reader.extend(data)

    def host_read(self) -> bytes:
        out = bytes(self.to_host)
        self.to_host.clear()
        return out

    def read_into(self, buf: bytearray | memoryview, start: int, count: int) -> int:
        n = 0
        while n < count and self.to_reader:
            buf[start + n] = self.to_reader.popleft()
            n += 1
        return n

    def write(self, buf: bytes | bytearray | memoryview, start: int, end: int) -> None:
        self.to_host += bytes(buf[start:end])

    def ticks_ms(self) -> int:
        return self.now_ms & 0x3FFFFFFF

    def line_supported(self, baud: int, stop_bits: int) -> bool:
        return baud in LINE_RATES and stop_bits in (1, 2)

    def set_line(self, baud: int, stop_bits: int) -> None:
        self.baud = baud
        self.stop_bits = stop_bits
        self.line_changes.append((baud, stop_bits))

    def wait_ms(self, ms: int) -> None:
        self.now_ms += ms
