"""HostPort implementations for the simulator: a file descriptor (pty master or socket),
paced at a real baud rate, and an in-memory pipe for tests."""

from __future__ import annotations

import os
import select
import time
from collections import deque

from cpsdi_fw.hal import HostPort

TX_CHUNK = 16  # bytes handed to the pty at once (1.5 ms at 115 200 bd: the pacing granularity)


def bits_per_char(stop_bits: int = 2) -> int:
    """Start bit + 8 data bits + stop bits (libccid: 8N2; 8N1 gives 10)."""
    return 1 + 8 + stop_bits


# Rates the simulated UART offers for LINK_SETTINGS (what a USB-serial bridge or an MCU UART
# commonly does); 0 would mean unpaced and is not offered.
LINE_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


class _Line:
    """One direction of a serial line: each byte takes ``bits / baud`` seconds and bytes queue
    behind each other (no burst beyond the line rate, even after a silence). 0 baud: unpaced.

    ``queue(n)`` puts n bytes on the line now and returns when the last one has arrived;
    ``arrived(now)`` counts the queued bytes fully received by ``now``; ``take(n)`` removes
    the first n of them.
    """

    def __init__(self, baud: int, bits: int) -> None:
        self.char_s = bits / baud if baud else 0.0
        self.free_at = 0.0  # when the line has sent everything queued
        self._segments: deque[list[float]] = deque()  # [start time, byte count], oldest first

    def queue(self, n: int, now: float) -> float:
        start = max(now, self.free_at)
        self.free_at = start + n * self.char_s
        if n:
            self._segments.append([start, float(n)])
        return self.free_at

    def arrived(self, now: float) -> int:
        if not self.char_s:
            return sum(int(seg[1]) for seg in self._segments)
        total = 0
        for start, count in self._segments:
            done = min(int(count), int((now - start) / self.char_s + 1e-9))
            if done <= 0:
                break
            total += done
            if done < count:
                break
        return total

    def next_arrival(self, now: float) -> float:
        """Seconds until one more queued byte has arrived (0 if none is queued)."""
        if not self._segments:
            return 0.0
        have = self.arrived(now)
        for start, count in self._segments:
            if have < count:
                return max(0.0, start + (have + 1) * self.char_s - now)
            have -= int(count)
        return 0.0

    def take(self, n: int) -> None:
        while n > 0 and self._segments:
            seg = self._segments[0]
            k = min(n, int(seg[1]))
            seg[0] += k * self.char_s
            seg[1] -= k
            n -= k
            if seg[1] <= 0:
                self._segments.popleft()


class FdHostPort(HostPort):
    """The host link over a file descriptor, paced at ``baud`` in both directions."""

    def __init__(self, fd: int | None = None, *, baud: int = 115200, stop_bits: int = 2) -> None:
        self.fd = fd
        self.baud = baud
        self.stop_bits = stop_bits
        self._rx_line = _Line(baud, bits_per_char(stop_bits))
        self._tx_line = _Line(baud, bits_per_char(stop_bits))
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
        self._rx_line.queue(len(chunk), time.monotonic())  # they arrive at the line rate from now
        self._pending += chunk

    def read_into(self, buf: bytearray | memoryview, start: int, count: int) -> int:
        self._fill()
        n = min(count, len(self._pending), self._rx_line.arrived(time.monotonic()))
        if n <= 0:
            return 0
        buf[start : start + n] = self._pending[:n]
        del self._pending[:n]
        self._rx_line.take(n)
        self.bytes_in += n
        return n

    def write(self, buf: bytes | bytearray | memoryview, start: int, end: int) -> None:
        view = memoryview(buf)[start:end]
        while len(view):
            if self.fd is None:
                return
            step = min(len(view), TX_CHUNK)
            now = time.monotonic()
            wait = self._tx_line.queue(step, now) - now  # the chunk's last byte leaves the UART then
            if wait > 0:
                time.sleep(wait)
            self._tx_line.take(step)
            chunk = view[:step]
            while len(chunk):
                try:
                    n = os.write(self.fd, chunk)
                except BlockingIOError:
                    select.select([], [self.fd], [], 0.05)
                    continue
                except OSError:  # the host side went away: drop, as a UART would
                    return
                self.bytes_out += n
                chunk = chunk[n:]
            view = view[step:]

    def ticks_ms(self) -> int:
        return (time.monotonic_ns() // 1_000_000) & 0x3FFFFFFF

    def line_supported(self, baud: int, stop_bits: int) -> bool:
        # an unpaced simulator (baud 0) has no line to change
        return self.baud != 0 and baud in LINE_RATES and stop_bits in (1, 2)

    def set_line(self, baud: int, stop_bits: int) -> None:
        # write() paces synchronously: every byte written so far is already "on the wire"
        self.baud = baud
        self.stop_bits = stop_bits
        self._rx_line = _Line(baud, bits_per_char(stop_bits))
        self._tx_line = _Line(baud, bits_per_char(stop_bits))

    def rx_wait_s(self) -> float:
        """Seconds until the next host byte read from the descriptor arrives on the simulated
        line (0 when one already has), or 1 when none is pending."""
        if not self._pending:
            return 1.0
        return self._rx_line.next_arrival(time.monotonic())

    def wait_ms(self, ms: int) -> None:
        if self._pending:
            now = time.monotonic()
            if self._rx_line.arrived(now):
                return
            time.sleep(min(ms / 1000, self._rx_line.next_arrival(now) or 0.0005))
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
