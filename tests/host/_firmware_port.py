"""A pyserial-like port with the real reader firmware (cpsdi_fw.main.Reader) behind it, running in
process on the simulated board: each write runs the firmware's main loop until it has served
what it got. Shared by the host tests that need a real reader without a pty."""

from __future__ import annotations

import time
from typing import Any

from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim.cards import make_card
from cpsdi_boards.sim.host_port import MemoryHostPort
from cpsdi_fw.main import Reader as Firmware


class FirmwarePort:
    """The firmware behind read/write; ``applets[slot]`` are the cards' test applets,
    ``writes`` counts request writes, ``lose_next`` drops the firmware's output of that many writes."""

    def __init__(self, cards: list[str], **options: Any) -> None:
        ports = []
        self.applets: list[Any] = []
        for name in cards:
            made = make_card(name)
            ports.append(SimCardPort(made[0] if made else None))
            self.applets.append(made[1] if made else None)
        self.hp = MemoryHostPort()
        self.firmware = Firmware(self.hp, ports, board="sim", **options)
        self.out = bytearray()
        self.timeout: float | None = 0.01
        self.writes = 0
        self.lose_next = 0

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def card_port(self, slot: int) -> Any:
        return self.firmware.slots[slot].port

    def write(self, data: bytes) -> int:
        self.writes += 1
        self.hp.host_write(bytes(data))
        produced = bytearray()
        for _ in range(1000):
            self.firmware.step()
            produced += self.hp.host_read()
            if not self.hp.to_reader:
                break
        if self.lose_next:
            self.lose_next -= 1
        else:
            self.out += produced
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

    def close(self) -> None:
        pass
