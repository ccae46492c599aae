"""``sim://``: an in-process simulated cpsdi reader as a pyserial port.

``sim://?card=t0&card=t1&echo=header&native=1`` runs the reader firmware
(``cpsdi_fw.main.Reader``) on simulated slots with virtual cards (``cpsdi_boards.sim``) in
this process: every write runs the firmware's main loop until it has served the bytes, so
tests and the demo need no pty, no thread and no timing. Parameters: ``card`` (repeat
per slot: t0, t1, none; default one t0), ``echo`` (header, full, none), ``native``
(1 or 0), ``keypad`` (a PIN pad with this script queued, ``cpsdi_boards.sim.keypad``; the
keypad is ``port.keypad``). The running firmware, its slots and applets are reachable as
``port.firmware``, ``port.slots`` (``cpsdi_boards.sim.runner.SimSlots``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException

_STEPS_PER_WRITE = 1000


class Serial(SerialBase):
    """The simulated reader behind a pyserial interface (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.firmware: Any = None
        self.slots: Any = None
        self.keypad: Any = None
        self._out = bytearray()
        self._host: Any = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        url = self.port
        if url is None:
            raise SerialException("sim:// needs a URL")
        if self.is_open:
            raise SerialException("port already open")
        from cpsdi_boards.sim.host_port import MemoryHostPort
        from cpsdi_boards.sim.runner import SimSlots
        from cpsdi_fw import link
        from cpsdi_fw.main import Reader

        options = self._parse(url)
        echo = {"full": link.ECHO_FULL, "header": link.ECHO_HEADER, "none": link.ECHO_NONE}[options.echo]
        self.slots = SimSlots(options)
        self._host = MemoryHostPort()
        if options.keypad is not None:
            from cpsdi_boards.sim.keypad import SimKeypad

            self.keypad = SimKeypad(options.keypad)
        self.firmware = Reader(self._host, self.slots.ports, board="sim", echo=echo,
                               native_max_message=options.native_max_message, keypad=self.keypad)
        self.is_open = True

    @staticmethod
    def _parse(url: str) -> Any:
        from cpsdi_boards.sim.cards import CARD_NAMES
        from cpsdi_boards.sim.runner import SimOptions

        parts = urlparse(url)
        if parts.scheme != "sim":
            raise SerialException(f"expected a sim:// URL, got {url!r}")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"card", "echo", "native", "keypad"}
        if unknown:
            raise ValueError(f"sim:// has no parameter {', '.join(sorted(unknown))} (card, echo, native, keypad)")
        cards = query.get("card", ["t0"])
        for name in cards:
            if name not in CARD_NAMES:
                raise ValueError(f"sim://: unknown card {name!r} (known: {', '.join(sorted(CARD_NAMES))})")
        echo = query.get("echo", ["header"])[-1]
        if echo not in ("full", "header", "none"):
            raise ValueError("sim://: echo is full, header or none")
        native = query.get("native", ["1"])[-1]
        if native not in ("0", "1"):
            raise ValueError("sim://: native is 0 or 1")
        keypad = query.get("keypad", [None])[-1]
        return SimOptions(cards=cards, echo=echo, native_max_message=1034 if native == "1" else 0, pty=False,
                          keypad=keypad)

    def close(self) -> None:
        self.is_open = False
        self.firmware = None

    def _reconfigure_port(self) -> None:
        pass  # no line settings to apply: the simulated line is ideal

    def from_url(self, url: str) -> str:
        return url

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return len(self._out)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        chunk = bytes(self._out[:size])
        del self._out[:size]
        return chunk

    def write(self, data: Any) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        raw = bytes(data)
        self._host.host_write(raw)
        for _ in range(_STEPS_PER_WRITE):
            self.firmware.step()
            self._out += self._host.host_read()
            if not self._host.to_reader:
                break
        return len(raw)

    def reset_input_buffer(self) -> None:
        self._out.clear()

    def reset_output_buffer(self) -> None:
        pass


def register() -> None:
    """Make ``serial.serial_for_url`` know ``sim://`` (idempotent)."""
    if "cpsdi.urlhandler" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("cpsdi.urlhandler")
