"""L2 transport: a pyserial port opened from a URL, with reads that never return short data silently.

Any pyserial URL works: a device path (``/dev/ttyACM0``, ``COM3``), ``socket://host:port``,
``loop://``, ``spy://…`` and any scheme a package adds to ``serial.protocol_handler_packages``
(the simulator's ``sim://``): this module registers nothing itself. Line settings are those of
libccid's serial driver, 115200 bd 8N2, no flow control (ccid-serial.md §2); the port is
opened exclusively where pyserial supports it (POSIX ``flock``).

Read policy (house-style §1 "Avoid", pyserial #18/#318): `Transport.read` waits for *some*
bytes until an absolute ``deadline`` (``time.monotonic()`` seconds) and raises
`ReaderTimeoutError` when it passes with nothing; it never returns ``b""``. `Transport.write`
writes everything or raises. ``SerialException`` and ``OSError`` become `TransportError`.

Spy hooks (``add_spy``) see every raw chunk, ``("tx" | "rx", bytes)``. They are raw: they are
*not* PIN-redacted; the link layer's trace/log hooks are (cpsdi.trace). Use spies only for
private debugging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import serial

from cpsdi.exceptions import ReaderTimeoutError, TransportError
from cpsdi.urlhandler.protocol_sim import register as _register_sim_urls

_register_sim_urls()  # sim:// : the in-process simulated reader

log = logging.getLogger(__name__)

BAUDRATE = 115200
POLL_S = 0.01
"""Granularity of a blocking read: a read waits at most this long past its deadline."""

Spy = Callable[[str, bytes], None]


class SerialLike(Protocol):
    """What the transport needs from a pyserial port (also implemented by test fakes)."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...  # pragma: no cover - protocol

    def read(self, size: int = 1) -> bytes: ...  # pragma: no cover - protocol

    def write(self, data: bytes, /) -> int | None: ...  # pragma: no cover - protocol

    def reset_input_buffer(self) -> None: ...  # pragma: no cover - protocol

    def flush(self) -> None: ...  # pragma: no cover - protocol

    def close(self) -> None: ...  # pragma: no cover - protocol


def open_port(url: str, *, baudrate: int = BAUDRATE, exclusive: bool = True) -> SerialLike:
    """Open ``url`` with ``serial.serial_for_url`` at 8N2, no flow control.

    Raises:
        TransportError: the URL is unknown or the port cannot be opened.
    """
    kwargs: dict[str, Any] = {
        "baudrate": baudrate,
        "bytesize": serial.EIGHTBITS,
        "parity": serial.PARITY_NONE,
        "stopbits": serial.STOPBITS_TWO,
        "timeout": POLL_S,
        "write_timeout": 5.0,
        "xonxoff": False,
        "rtscts": False,
    }
    try:
        try:
            port: SerialLike = serial.serial_for_url(url, exclusive=exclusive, **kwargs)
        except ValueError:
            if not exclusive:
                raise
            # Platforms without exclusive access (pyserial raises ValueError there).
            port = serial.serial_for_url(url, **kwargs)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise TransportError(f"cannot open {url}: {exc}") from exc
    return port


class Transport:
    """Bytes in, bytes out over one port; see the module docstring for the read policy."""

    def __init__(self, port: SerialLike, *, url: str = "") -> None:
        self._port = port
        self.url = url
        self._spies: list[Spy] = []
        self._closed = False
        try:
            self._port.timeout = POLL_S
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot configure {url or 'port'}: {exc}") from exc

    @classmethod
    def open(cls, url: str, *, baudrate: int = BAUDRATE, exclusive: bool = True) -> Transport:
        """Open a pyserial URL (see `open_port`)."""
        return cls(open_port(url, baudrate=baudrate, exclusive=exclusive), url=url)

    @property
    def port(self) -> SerialLike:
        """The underlying pyserial(-like) port."""
        return self._port

    @property
    def closed(self) -> bool:
        """True after `close`."""
        return self._closed

    def add_spy(self, spy: Spy) -> None:
        """Call ``spy(direction, raw_bytes)`` for every chunk (raw, NOT PIN-redacted)."""
        self._spies.append(spy)

    def remove_spy(self, spy: Spy) -> None:
        """Stop calling ``spy``."""
        if spy in self._spies:
            self._spies.remove(spy)

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"{self.url or 'port'} is closed")

    @property
    def line(self) -> tuple[int, int]:
        """(baud rate, stop bits) of the port."""
        port: Any = self._port
        stop = getattr(port, "stopbits", serial.STOPBITS_TWO)
        return int(getattr(port, "baudrate", BAUDRATE)), 2 if stop == serial.STOPBITS_TWO else 1

    def set_line(self, baudrate: int, stop_bits: int) -> None:
        """Switch the port to ``baudrate`` 8N``stop_bits`` once everything written has left."""
        self._check_open()
        if stop_bits not in (1, 2):
            raise ValueError("stop_bits is 1 or 2")
        port: Any = self._port
        try:
            port.flush()
            port.baudrate = baudrate
            port.stopbits = serial.STOPBITS_TWO if stop_bits == 2 else serial.STOPBITS_ONE
        except (serial.SerialException, OSError, ValueError, AttributeError) as exc:
            raise TransportError(f"cannot set {self.url or 'port'} to {baudrate} bd 8N{stop_bits}: {exc}") from exc

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data`` or raise TransportError."""
        self._check_open()
        payload = bytes(data)
        try:
            n = self._port.write(payload)
        except serial.SerialTimeoutException as exc:
            raise ReaderTimeoutError(f"write to {self.url or 'port'} timed out") from exc
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"write to {self.url or 'port'} failed: {exc}") from exc
        if n is not None and n != len(payload):
            raise TransportError(f"short write to {self.url or 'port'}: {n} of {len(payload)} bytes")
        for spy in self._spies:
            spy("tx", payload)

    def read(self, deadline: float) -> bytes:
        """Return at least one byte received before ``deadline`` (monotonic seconds).

        Raises:
            ReaderTimeoutError: the deadline passed with nothing received.
            TransportError: the port failed.
        """
        self._check_open()
        while True:
            try:
                waiting = self._port.in_waiting
                chunk = self._port.read(waiting or 1)
            except (serial.SerialException, OSError) as exc:
                raise TransportError(f"read from {self.url or 'port'} failed: {exc}") from exc
            if chunk:
                data = bytes(chunk)
                for spy in self._spies:
                    spy("rx", data)
                return data
            if time.monotonic() >= deadline:
                raise ReaderTimeoutError(f"nothing received from {self.url or 'port'}")

    def read_available(self, quiet_s: float, max_s: float) -> bytes:
        """Read until ``quiet_s`` without a byte (or ``max_s`` in all); may return ``b""``.

        Used to drain stale bytes before a retransmission (ccid-serial.md §8 pitfall 1).
        """
        self._check_open()
        out = bytearray()
        end = time.monotonic() + max_s
        while True:
            now = time.monotonic()
            if now >= end:
                break
            try:
                out += self.read(min(now + quiet_s, end))
            except ReaderTimeoutError:
                break
        return bytes(out)

    def close(self) -> None:
        """Close the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._port.close()
        except (serial.SerialException, OSError) as exc:  # pragma: no cover - best effort
            log.debug("closing %s: %s", self.url or "port", exc)

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
