"""``cpsdi sim``: the reader firmware on CPython, on a real pseudo-terminal and/or TCP.

One process: the firmware's main loop (``cpsdi_fw.main.Reader``) over SimCardPorts with
virtual cards, talking to the host through an :class:`FdHostPort` paced at a real baud
rate. Cards move at run time through a control socket (one text command per line) or
signals (SIGUSR1 / SIGUSR2 toggle the card of slot 0 / slot 1).

Control commands (``socat - UNIX-CONNECT:PATH``, or ``cpsdi sim-control``):

    insert SLOT CARD     put a fresh CARD (t0, t1, ...) into SLOT
    remove SLOT          take the card out
    status               one line per slot: SLOT CARD present|absent
    keypad SCRIPT        queue PIN-pad entries (``cpsdi_boards.sim.keypad``; needs ``--keypad``)
    keypad clear         drop the queued entries
    display              the PIN pad's display log since the last ``display`` (never a digit)
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
from typing import TYPE_CHECKING

from cpsdi_boards.sim.card_port import SimCardPort
from cpsdi_boards.sim.clock import WallPacedClock
from cpsdi_boards.sim.cards import make_card
from cpsdi_boards.sim.host_port import FdHostPort
from cpsdi_boards.sim.records import CardRecords
from cpsdi_boards.sim.keypad import KeypadScriptError, SimKeypad
from cpsdi_boards.sim.storage import DEFAULT_SLOT_SIZE, SIM_FW_COMPAT, SIM_HW_ID, TEST_KEYS, SimStorage

if TYPE_CHECKING:
    from cpsdi_fw.main import Reader

log = logging.getLogger(__name__)

RECORDS_MAX_CHARS = 20_000
"""A card's records are started afresh past this many characters (SimSlots.trim_records)."""
RECORDS_MAX_COMMANDS = 1_000
"""... and its behaviour's logs of received commands and APDUs past this many entries."""


@dataclass
class SimOptions:
    """What ``cpsdi sim`` was asked for."""

    cards: list[str] = field(default_factory=lambda: ["t0"])  # one name per slot
    faults: dict[int, str] = field(default_factory=dict)  # slot -> fault script text
    baud: int = 115200  # 0: unpaced
    stop_bits: int = 2
    native_max_message: int = 2058  # 0: compat only; 2 KiB frames as the Pico board (bench/update_throughput.py)
    echo: str = "header"  # full | header | none
    pty: bool = True
    link: Path | None = None  # stable symlink to the pty
    tcp_port: int | None = None  # 127.0.0.1:PORT
    control: Path | None = None
    card_time: str = "virtual"  # real: card time takes wall time (WallPacedClock)
    storage: Path | None = None  # update-channel storage directory (None: in memory, lost at exit)
    slot_size: int = DEFAULT_SLOT_SIZE
    fail_selftest: list[str] = field(default_factory=list)  # image versions whose self-test fails
    card_clock_max_hz: int = 0  # highest card CLK after the ATR (0: fixed 3.5712 MHz); `cpsdi sim`: 5 MHz
    keypad: str | None = None  # PIN pad with this script queued ("" = no entry yet); None: no PIN pad
    keypad_time: str = "virtual"  # real: the scripted holder's waits take wall time


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
        if options.card_time not in ("real", "virtual"):
            raise ValueError("card_time must be real or virtual")
        self.options = options
        self.ports = [self._port(options.card_time, options.card_clock_max_hz) for _ in options.cards]
        self.names = ["none"] * len(options.cards)
        self.applets: list[object | None] = [None] * len(options.cards)  # the cards' applications
        for i, name in enumerate(options.cards):
            self.insert(i, name)

    @staticmethod
    def _port(card_time: str, clock_max_hz: int) -> SimCardPort:
        port = SimCardPort(clock_max_hz=clock_max_hz)
        if card_time == "real":
            port.clock = WallPacedClock(port.clock_hz)
        return port

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

    def trim_records(self) -> None:
        """Start afresh the records of a card past ``RECORDS_MAX_CHARS`` characters. Nobody reads
        them in a long-running ``cpsdi sim`` (tests read a card's records in process); unbounded,
        they grew the simulator by about 1.5 KiB per APDU (issue #13 soak). Called between
        requests: no card exchange is in progress, only the gaps up to the next reset are lost."""
        for port in self.ports:
            card = port.card
            if card is not None and len(card.records.chars) > RECORDS_MAX_CHARS:
                card.records = CardRecords()
            for log_name in ("commands", "apdus"):  # the behaviours' logs (T0Behaviour, T1Behaviour)
                entries = getattr(card.behaviour, log_name, None) if card is not None else None
                if isinstance(entries, list) and len(entries) > RECORDS_MAX_COMMANDS:
                    entries.clear()

    def status(self) -> list[str]:
        """One line per slot."""
        return [
            f"{i} {self.names[i]} {'present' if p.card is not None and p.present() else 'absent'}"
            for i, p in enumerate(self.ports)
        ]


class ControlServer:
    """Line commands on a Unix socket (see the module docstring)."""

    def __init__(self, path: Path, slots: SimSlots, keypad: SimKeypad | None = None) -> None:
        self.path = path
        self.slots = slots
        self.keypad = keypad
        self._display_seen = 0
        if path.exists() or path.is_symlink():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.setblocking(False)
        self.clients: list[socket.socket] = []
        self.quit = False

    def fds(self) -> list[socket.socket]:
        """The listening socket and the connected clients (for select)."""
        return [self.sock, *self.clients]

    def service(self, ready: list[socket.socket | int]) -> None:
        """Accept clients and answer the commands of those in ``ready``."""
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
            if words[:1] == ["keypad"] and len(words) >= 2:
                return self._keypad(line.split(None, 1)[1].strip())
            if words == ["display"]:
                return self._display()
            if words == ["quit"]:
                self.quit = True
                return "bye"
        except ValueError as exc:
            return f"error: {exc}"
        return "error: commands: insert SLOT CARD | remove SLOT | status | keypad SCRIPT|clear | display | quit"

    def _keypad(self, script: str) -> str:
        if self.keypad is None:
            return "error: no PIN pad (start cpsdi sim with --keypad)"
        if script == "clear":
            self.keypad.clear()
            return "ok"
        try:
            self.keypad.add(script)
        except KeypadScriptError as exc:
            return f"error: {exc}"
        return "ok"

    def _display(self) -> str:
        if self.keypad is None:
            return "error: no PIN pad (start cpsdi sim with --keypad)"
        lines = self.keypad.display_log[self._display_seen:]
        self._display_seen = len(self.keypad.display_log)
        return "; ".join(lines) if lines else "(empty)"

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


class SimReader:
    """The firmware (``cpsdi_fw.main.Reader``) on simulated slots, behind a paced host port."""

    def __init__(self, options: SimOptions) -> None:
        from cpsdi_fw import link

        modes = {"full": link.ECHO_FULL, "header": link.ECHO_HEADER, "none": link.ECHO_NONE}
        if options.echo not in modes:
            raise ValueError("echo must be full, header or none")
        self._echo = modes[options.echo]
        self.options = options
        self.slots = SimSlots(options)
        self.host_port = FdHostPort(None, baud=options.baud, stop_bits=options.stop_bits)
        self.storage = SimStorage(options.slot_size, options.storage)
        self.keypad = None if options.keypad is None else SimKeypad(options.keypad, real=options.keypad_time == "real")
        self.reboots = 0
        self.firmware = self._power_up()
        self.pty_path = ""
        self._pty: tuple[int, int] | None = None
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self.control: ControlServer | None = None

    def _power_up(self) -> Reader:
        """Boot selector, updater and firmware over the (surviving) storage: one power-up."""
        from cpsdi_fw import FIRMWARE_VERSION, boot
        from cpsdi_fw.main import Reader
        from cpsdi_fw.updater import Updater

        chosen = boot.select(self.storage, TEST_KEYS, SIM_HW_ID, SIM_FW_COMPAT)
        version = chosen.version_text(FIRMWARE_VERSION)
        if chosen.reverted != boot.NONE:
            log.warning("boot: slot %d given up (%s)", chosen.reverted, boot.reason_name(chosen.reason) if chosen.reason
                        else "trial not confirmed")
        log.info("boot: running %s (%s)%s", "factory" if chosen.running == boot.FACTORY else f"slot {chosen.running}",
                 version, ", trial" if chosen.trial else "")
        bad = set(self.options.fail_selftest)

        def self_test() -> bool:
            return version not in bad and version.split("+")[0] not in bad

        updater = Updater(self.storage, chosen, keys=TEST_KEYS, hw_id=SIM_HW_ID, fw_compat=SIM_FW_COMPAT,
                          self_test=self_test)
        return Reader(self.host_port, self.slots.ports, board="sim", echo=self._echo,
                      native_max_message=self.options.native_max_message, firmware_version=version, updater=updater,
                      keypad=self.keypad)

    def reboot(self) -> None:
        """Reset the simulated MCU: cards powered off, a new firmware instance over the same storage."""
        for port in self.slots.ports:
            port.deactivate()
        self.reboots += 1
        self.firmware = self._power_up()

    def open(self) -> None:
        """Create the pty / TCP listener / control socket asked for."""
        if self.options.pty:
            master, slave, self.pty_path = open_pty(self.options.link)
            self._pty = (master, slave)
            self.host_port.attach(master)
        if self.options.tcp_port is not None:
            self._listener = socket.create_server(("127.0.0.1", self.options.tcp_port))
            self._listener.setblocking(False)
        if self.options.control is not None:
            self.control = ControlServer(self.options.control, self.slots, self.keypad)

    @property
    def tcp_port(self) -> int | None:
        """The TCP port actually bound (useful with port 0)."""
        return self._listener.getsockname()[1] if self._listener is not None else None

    def serve(self, max_seconds: float | None = None) -> None:
        """Run until ``quit`` on the control socket, SIGINT/SIGTERM, or ``max_seconds``."""
        import time

        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while not (self.control is not None and self.control.quit):
            if deadline is not None and time.monotonic() > deadline:
                break
            busy = self.firmware.step()
            if not busy:
                self.slots.trim_records()
            updater = self.firmware.updater
            if updater is not None and updater.reboot_requested:
                self.reboot()
            waitables: list[socket.socket | int] = []
            if self._listener is not None:
                waitables.append(self._listener)
            if self.control is not None:
                waitables.extend(self.control.fds())
            if self.host_port.fd is not None:
                waitables.append(self.host_port.fd)
            if busy:
                continue
            # bytes already read from the pty still arrive at the line rate: wake up for them
            timeout = min(0.01, self.host_port.rx_wait_s())
            ready, _, _ = select.select(waitables, [], [], timeout)
            if self._listener is not None and self._listener in ready:
                self._accept()
            if self.control is not None:
                self.control.service(ready)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._client is not None:  # one host at a time: the newest wins
            self._client.close()
        client.setblocking(False)
        self._client = client
        self.host_port.attach(client.fileno())

    def close(self) -> None:
        """Release the pty, sockets and symlink."""
        if self.control is not None:
            self.control.close()
        if self._client is not None:
            self._client.close()
        if self._listener is not None:
            self._listener.close()
        if self._pty is not None:
            os.close(self._pty[0])
            os.close(self._pty[1])
            self._pty = None
        if self.options.link is not None and self.options.link.is_symlink():
            self.options.link.unlink()
