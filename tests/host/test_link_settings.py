"""Vendor LINK_SETTINGS (CD 03) from the host: `LinkClient.set_line`, `Reader.open(link_baud=...)`,
the way back on close, refusals, and a reader lost at the new rate."""

from __future__ import annotations

from typing import Any

import pytest

from cpsdi.exceptions import ReaderProtocolError, VendorCommandError
from cpsdi.reader import Reader
from cpsdi_proto import escape


def firmware_port(reader: Reader) -> Any:
    return reader.link.transport.port.firmware.link.port  # type: ignore[attr-defined]


def test_open_at_a_faster_rate_and_back_on_close() -> None:
    reader = Reader.open("sim://?card=t1", link_baud=921600)
    port = firmware_port(reader)
    assert reader.link.transport.line == (921600, 2)
    assert port.line_changes == [(921600, 2)] and port.baud == 921600
    with reader.slots[0].connect() as card:
        assert card.transmit(bytes.fromhex("00 B0 00 00 04")).data == bytes([0, 7, 14, 21])
    reader.close()
    assert port.line_changes == [(921600, 2), (115200, 2)]


def test_one_stop_bit_and_the_exact_escape_bytes() -> None:
    with Reader.open("sim://?card=t0") as reader:
        frames: list[bytes] = []
        reader.link.transport.add_spy(lambda direction, data: frames.append(data) if direction == "tx" else None)
        reader.link.set_line(460800, 1)
        assert firmware_port(reader).line_changes == [(460800, 1)]
        assert reader.link.transport.line == (460800, 1)
        sent = b"".join(frames)
        assert bytes([escape.VENDOR_CLASS, escape.CMD_LINK_SETTINGS]) + (460800).to_bytes(4, "little") + b"\x01" in sent


def test_a_rate_the_reader_cannot_do_is_refused_and_nothing_changes() -> None:
    with Reader.open("sim://?card=t0") as reader:
        with pytest.raises(VendorCommandError) as excinfo:
            reader.link.set_line(14400)
        assert excinfo.value.code == escape.ERR_BAD_PARAMETER
        assert reader.link.transport.line == (115200, 2)
        assert firmware_port(reader).line_changes == []
        assert reader.counters()["frames"] > 0
    with pytest.raises(ValueError):
        Reader.open("sim://?card=t0").link.set_line(115200, 3)


def test_a_reader_lost_at_the_new_rate_brings_the_link_back(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = Reader.open("sim://?card=t0")
    sim = reader.link.transport.port
    port = firmware_port(reader)
    # The reader answers LINK_SETTINGS but its UART never really changes; bytes sent at a rate the
    # other end does not use arrive garbled.
    monkeypatch.setattr(port, "set_line", lambda baud, stop_bits: None)
    write = sim.write

    def garbling_write(data: Any) -> int:
        if reader.link.transport.line[0] != port.baud:
            data = bytes(b ^ 0x5A for b in bytes(data))
        return int(write(data))

    monkeypatch.setattr(sim, "write", garbling_write)
    with pytest.raises(ReaderProtocolError, match="did not answer at 921600"):
        reader.link.set_line(921600)
    assert reader.link.transport.line == (115200, 2)
    with reader.slots[0].connect() as card:  # the link works again
        assert card.transmit(bytes.fromhex("00 B0 00 00 02")).data == bytes([0, 7])
    reader.close()
