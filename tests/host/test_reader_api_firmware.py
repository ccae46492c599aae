"""Interop: the host Reader API against the real reader firmware (cpsdi_fw.main.Reader) running in
process on the simulated board, compat and native framing, through a pyserial-like adapter.
"""

from __future__ import annotations


import pytest

from _firmware_port import FirmwarePort

from cpsdi.reader import Protocol, Reader
from cpsdi.transport import Transport


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
