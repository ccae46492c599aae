"""A pyserial-like port with the real reader firmware (cpsdi_fw.main.Reader) behind it, running in
process on the simulated board: each write runs the firmware's main loop until it has served
what it got. Shared by the host and sim tests that need a real reader without a pty
(tests/sim/_update_sim.py builds the updatable reader on :class:`InProcessPort`)."""

from __future__ import annotations

import time
from typing import Any, Sequence

from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim.cards import make_card
from cpsdi_boards.sim.host_port import MemoryHostPort
from cpsdi_fw.main import Reader as Firmware

STEPS_PER_WRITE = 1000


class InProcessPort:
    """read/write over a :class:`MemoryHostPort`; a subclass sets ``firmware``.

    ``writes`` counts request writes, ``lose_next`` drops the firmware's output of that many
    writes (a lost response)."""

    firmware: Any

    def __init__(self) -> None:
        self.hp = MemoryHostPort()
        self.out = bytearray()
        self.timeout: float | None = 0.01
        self.writes = 0
        self.lose_next = 0

    def after_step(self) -> None:
        """Called after each firmware step of a write (reboots, power checks)."""

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def write(self, data: bytes) -> int:
        self.writes += 1
        lose = self.lose_next > 0
        self.lose_next -= lose
        self.hp.host_write(bytes(data))
        for _ in range(STEPS_PER_WRITE):
            self.firmware.step()
            produced = self.hp.host_read()
            if not lose:
                self.out += produced
            self.after_step()
            if not self.hp.to_reader:
                break
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self.out:
            time.sleep(self.timeout or 0)
            return b""
        chunk = bytes(self.out[:size])
        del self.out[:size]
        return chunk

    def reset_input_buffer(self) -> None:
        self.out.clear()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class FirmwarePort(InProcessPort):
    """The reader firmware on simulated slots: one per name in ``cards`` (``make_card``; an
    unknown name is an empty slot), or the given card ``ports``. ``applets[slot]`` are the
    cards' test applets (None for given ports)."""

    def __init__(self, cards: Sequence[str] = (), *, ports: Sequence[Any] | None = None, **options: Any) -> None:
        super().__init__()
        self.applets: list[Any] = []
        if ports is None:
            built = []
            for name in cards:
                made = make_card(name)
                built.append(SimCardPort(made[0] if made else None))
                self.applets.append(made[1] if made else None)
            ports = built
        else:
            self.applets = [None] * len(ports)
        self.firmware = Firmware(self.hp, list(ports), board="sim", **options)

    def card_port(self, slot: int) -> Any:
        return self.firmware.slots[slot].port
