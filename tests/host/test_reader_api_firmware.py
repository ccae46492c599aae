"""Interop: the host Reader API against the real reader firmware (cpsdi_fw.main.Reader) running in
process on the simulated board, compat and native framing, through a pyserial-like adapter.

Skipped while the firmware main loop or the simulator's cards are not importable.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

fw_main = pytest.importorskip("cpsdi_fw.main")
sim_cards = pytest.importorskip("cpsdi_boards.sim.cards")
sim_host_port = pytest.importorskip("cpsdi_boards.sim.host_port")

from cpsdi_boards.sim import SimCardPort  # noqa: E402

from cpsdi.reader import Protocol, Reader  # noqa: E402
from cpsdi.transport import Transport  # noqa: E402


class FirmwarePort:
    """pyserial-like: a write runs the firmware main loop until it has served what it got."""

    def __init__(self, cards: list[str], **options: Any) -> None:
        ports = []
        for name in cards:
            made = sim_cards.make_card(name)
            ports.append(SimCardPort(made[0] if made else None))
        self.hp = sim_host_port.MemoryHostPort()
        self.firmware = fw_main.Reader(self.hp, ports, board="sim", **options)
        self.out = bytearray()
        self.timeout: float | None = 0.01
        self.lose_next = 0  # the firmware's output for that many writes is lost on the line

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def write(self, data: bytes) -> int:
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


@pytest.mark.parametrize("native", [True, False], ids=["native", "compat"])
def test_reader_api_against_the_firmware(native: bool) -> None:
    port = FirmwarePort(["t0", "t1"])
    with Reader.open("firmware", transport=Transport(port), native=native, timeout_s=1.0) as reader:
        assert reader.info.board == "sim" and reader.info.slots == 2
        assert reader.native is native
        assert all(slot.apdu_level for slot in reader.slots)
        for slot, protocol in zip(reader.slots, (Protocol.T0, Protocol.T1)):
            assert slot.status().present
            with slot.connect() as card:
                assert card.protocol is protocol
                assert slot.status().powered
                response = card.transmit(bytes.fromhex("0084000008"))
                assert len(response.data) == 8 and response.sw == 0x9000
            assert not slot.status().powered


def test_lost_answer_is_answered_from_the_firmware_cache_exactly_once() -> None:
    port = FirmwarePort(["t0"])
    with Reader.open("firmware", transport=Transport(port), timeout_s=0.1) as reader:
        with reader.slots[0].connect() as card:
            before = port.firmware.link.retransmits
            port.lose_next = 1
            response = card.transmit(bytes.fromhex("0084000008"))
            assert response.sw == 0x9000 and len(response.data) == 8
            assert port.firmware.link.retransmits == before + 1
            assert reader.link.retransmissions == 1
