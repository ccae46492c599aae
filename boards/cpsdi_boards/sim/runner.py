"""``cpsdi sim``: the reader firmware on CPython, on a real pseudo-terminal and/or TCP.

One process: the firmware's main loop (``cpsdi_fw.main.Reader``) over SimCardPorts with
virtual cards, talking to the host through an :class:`FdHostPort` paced at a real baud
rate. Cards move at run time through a control socket (one text command per line) or
signals (SIGUSR1 / SIGUSR2 toggle the card of slot 0 / slot 1).

Control commands (``socat - UNIX-CONNECT:PATH``, or ``cpsdi sim-control``):

    insert SLOT CARD     put a fresh CARD (t0, t1, ...) into SLOT
    remove SLOT          take the card out
    status               one line per slot: SLOT CARD present|absent
    quit                 stop the simulator
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import termios
import tty
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from cpsdi_boards.sim.card_port import SimCardPort
from cpsdi_boards.sim.cards import make_card
from cpsdi_boards.sim.host_port import FdHostPort
from cpsdi_boards.sim.test_applet import TestApplet

log = logging.getLogger(__name__)


@dataclass
class SimOptions:
    """What ``cpsdi sim`` was asked for."""

    cards: list[str] = field(default_factory=lambda: ["t0"])  # one name per slot
    faults: dict[int, str] = field(default_factory=dict)  # slot -> fault script text
    baud: int = 115200  # 0: unpaced
    stop_bits: int = 2
    native_max_message: int = 1034  # 0: compat only
    echo: str = "header"  # full | header | none
    pty: bool = True
    link: Path | None = None  # stable symlink to the pty
    tcp_port: int | None = None  # 127.0.0.1:PORT
    control: Path | None = None


def open_pty(link: Path | None = None) -> tuple[int, int, str]:
    """A raw pseudo-terminal: (master fd, slave fd kept open, slave path); symlinked at ``link``."""
    master, slave = os.openpty()
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO  # lflag: no echo (ccid-serial.md pitfall 5)
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    path = os.ttyname(slave)
    if link is not None:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path)
    return master, slave, path


class SimSlots:
    """The card ports of the simulated reader and the applets of the cards in them."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.ports = [SimCardPort() for _ in options.cards]
        self.names = ["none"] * len(options.cards)
        self.applets: list[TestApplet | None] = [None] * len(options.cards)
        for i, name in enumerate(options.cards):
            self.insert(i, name)

    def insert(self, slot: int, name: str) -> None:
        """Put a fresh ``name`` card into ``slot`` (``none`` empties it)."""
        made = make_card(name, self.options.faults.get(slot))
        if made is None:
            self.remove(slot)
            return
        card, applet = made
        self.ports[slot].insert(card)
        self.names[slot] = name
        self.applets[slot] = applet

    def remove(self, slot: int) -> None:
        """Take the card out of ``slot``."""
        if self.ports[slot].card is not None and self.ports[slot].present():
            self.ports[slot].remove()
        self.names[slot] = "none"
        self.applets[slot] = None

    def toggle(self, slot: int, name: str = "t0") -> None:
        """Insert ``name`` if the slot is empty, else remove its card."""
        if slot >= len(self.ports):
            return
        if self.names[slot] == "none":
            self.insert(slot, self.options.cards[slot] if self.options.cards[slot] != "none" else name)
        else:
            self.remove(slot)

    def status(self) -> list[str]:
        """One line per slot."""
        return [
            f"{i} {self.names[i]} {'present' if p.card is not None and p.present() else 'absent'}"
            for i, p in enumerate(self.ports)
        ]


class ControlServer:
    """Line commands on a Unix socket (see the module docstring)."""

    def __init__(self, path: Path, slots: SimSlots) -> None:
        self.path = path
        self.slots = slots
        if path.exists() or path.is_symlink():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.setblocking(False)
        self.clients: list[socket.socket] = []
        self.quit = False

    def fds(self) -> list[socket.socket]:
        return [self.sock, *self.clients]

    def service(self, ready: list[object]) -> None:
        if self.sock in ready:
            try:
                client, _ = self.sock.accept()
                client.setblocking(False)
                self.clients.append(client)
            except BlockingIOError:
                pass
        for client in list(self.clients):
            if client not in ready:
                continue
            try:
                data = client.recv(4096)
            except BlockingIOError:
                continue
            if not data:
                client.close()
                self.clients.remove(client)
                continue
            for line in data.decode("ascii", "replace").splitlines():
                client.sendall((self.command(line) + "\n").encode())

    def command(self, line: str) -> str:
        """Run one control command; return the reply line."""
        words = line.split()
        try:
            if words[:1] == ["insert"] and len(words) == 3:
                self.slots.insert(self._slot(words[1]), words[2])
                return "ok"
            if words[:1] == ["remove"] and len(words) == 2:
                self.slots.remove(self._slot(words[1]))
                return "ok"
            if words == ["status"]:
                return "; ".join(self.slots.status())
            if words == ["quit"]:
                self.quit = True
                return "bye"
        except ValueError as exc:
            return f"error: {exc}"
        return "error: commands: insert SLOT CARD | remove SLOT | status | quit"

    def _slot(self, text: str) -> int:
        slot = int(text)
        if not 0 <= slot < len(self.slots.ports):
            raise ValueError(f"no slot {slot}")
        return slot

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.sock.close()
        if self.path.exists():
            self.path.unlink()


def install_signals(slots: SimSlots) -> None:
    """SIGUSR1 / SIGUSR2: toggle the card in slot 0 / slot 1."""

    def handler(signum: int, frame: FrameType | None) -> None:
        slots.toggle(0 if signum == signal.SIGUSR1 else 1)

    signal.signal(signal.SIGUSR1, handler)
    signal.signal(signal.SIGUSR2, handler)
