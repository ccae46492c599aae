"""The reader application: slots + CCID service + link server, and the main loop.

``Reader(host_port, card_ports, ...)`` builds one ``slot.Slot`` per card port (their idle
hook is the link's ``keepalive``), a ``ccid_service.CCIDService`` and a
``link.LinkServer``. ``step()`` is one main-loop iteration: serve the host, then look at
card presence (at most every ``PRESENCE_MS``); a change is sent as ``50 bmSlotICCState``
when the link allows it (``LinkServer.notify``: native hosts, or ``notify_compat``).
``keypad`` (a ``hal.Keypad``, boards with a PIN pad) enables PC_to_RDR_Secure (issue #12).
``slot.state()`` deactivates a powered card that left, so the next GetSlotStatus reports
it absent. ``run_forever()`` loops on ``step()`` and sleeps in ``host_port.wait_ms`` (at
most ``IDLE_MS``, woken by host bytes) when nothing happened; ``max_steps`` bounds it
for tests.

A board's ``main`` runs ``cpsdi_boards.device_boot.run``: ``boot.select`` and the chosen
slot's bundle (``app_loader``), then ``Reader(..., updater=Updater(...))`` and ``serve``, the
main loop that also feeds the watchdog and resets the MCU when
``reader.updater.reboot_requested`` becomes True (after FINISH / ROLLBACK with the reboot
flag, or a trial whose self-test failed) once the answer has left.
"""

from cpsdi_proto import escape
from cpsdi_proto.compat import const

from cpsdi_fw import FIRMWARE_VERSION
from cpsdi_fw.ccid_service import CCIDService
from cpsdi_fw.hal import ticks_diff
from cpsdi_fw.link import ECHO_HEADER, LinkServer
from cpsdi_fw.slot import STATE_ABSENT, Slot

PRESENCE_MS = const(50)
IDLE_MS = const(10)


class Reader:
    """The whole firmware above the HAL (module docstring)."""

    def __init__(self, host_port, card_ports, *, board: str = "unknown", serial: str = "",
                 echo: int = ECHO_HEADER, native_max_message: int = 1034, features: int = -1,
                 firmware_version: str = FIRMWARE_VERSION, updater=None, keypad=None) -> None:
        self.host_port = host_port
        self.slots = []
        for i in range(len(card_ports)):
            self.slots.append(Slot(card_ports[i], idle=self._idle, on_event=self._slot_logger(i)))
        if features < 0:
            self.service = CCIDService(self.slots, firmware_version=firmware_version, board=board, serial=serial,
                                       keypad=keypad)
        else:
            self.service = CCIDService(self.slots, firmware_version=firmware_version, board=board, serial=serial,
                                       features=features, keypad=keypad)
        self.link = LinkServer(host_port, self.service, echo=echo, native_max_message=native_max_message)
        # update channel (CD 10..16): the board built it after boot.select(); a trial image
        # runs its self-test and confirms itself here (updater.start). When
        # ``updater.reboot_requested`` turns True, the board resets once the answer is out.
        self.updater = updater
        self.service.updater = updater
        if updater is not None:
            self.service.features |= escape.FEATURE_UPDATE
            updater.start()
        self.feed = None  # the watchdog's feed, called from the main loop and while a slot waits
        self._present = 0  # bit n: card present in slot n
        self._changed = 0  # bit n: presence changed since the last notification
        self._last_presence_ms = host_port.ticks_ms()
        self._scan_presence()
        self._changed = 0

    def _slot_logger(self, index: int):
        def log(event: int, arg1: int, arg2: int) -> None:
            self.service.event(event, index, arg1, arg2)
        return log

    def _idle(self) -> bool:
        # between wait slices of a card exchange or a PIN entry: the watchdog too (``serve``)
        if self.feed is not None:
            self.feed()
        return self.link.keepalive()

    def _scan_presence(self) -> None:
        present = 0
        for i in range(len(self.slots)):
            try:
                if self.slots[i].state() != STATE_ABSENT:
                    present |= 1 << i
            except Exception:
                pass
        self._changed |= present ^ self._present
        self._present = present

    def bitmap(self) -> int:
        """bmSlotICCState of slots 0..3: bit 2n present, bit 2n+1 changed (CCID §6.3.1)."""
        value = 0
        for i in range(len(self.slots)):
            if i > 3:
                break
            if self._present >> i & 1:
                value |= 1 << (2 * i)
            if self._changed >> i & 1:
                value |= 2 << (2 * i)
        return value

    def step(self) -> int:
        """One main-loop iteration; returns the number of requests served."""
        served = self.link.poll()
        now = self.host_port.ticks_ms()
        if served or ticks_diff(now, self._last_presence_ms) >= PRESENCE_MS:
            self._last_presence_ms = now
            self._scan_presence()
            if self._changed and self.link.notify(self.bitmap()):
                self._changed = 0
            elif self._changed and not (self.link.notify_compat or self.link.native_seen):
                self._changed = 0  # nobody to tell: presence is polled with GetSlotStatus
        return served

    def run_forever(self, max_steps: int = -1) -> None:
        """Serve the host until ``max_steps`` steps ran (never, if negative)."""
        steps = 0
        while max_steps < 0 or steps < max_steps:
            if not self.step():
                self.host_port.wait_ms(IDLE_MS)
            steps += 1


def serve(reader, feed=None, reset=None, max_steps: int = -1) -> None:
    """A board's main loop: ``reader.step()``, ``feed()`` (the watchdog) after each step and
    between the wait slices of a long card exchange or PIN entry, and
    ``reset()`` once ``reader.updater.reboot_requested`` and the answer has left the host port
    (``flush``). Stops after ``max_steps`` steps (tests) or when ``reset`` returns."""
    steps = 0
    host = reader.host_port
    reader.feed = feed  # long card operations and PIN entries feed it from the slot's idle hook
    while max_steps < 0 or steps < max_steps:
        if not reader.step():
            host.wait_ms(IDLE_MS)
        if feed is not None:
            feed()
        updater = reader.updater
        if updater is not None and updater.reboot_requested and reset is not None:
            host.flush()
            reset()
            return
        steps += 1
