"""Packaging: every package folder is in the distribution, and sim:// reaches the firmware."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from cpsdi.exceptions import TransportError
from cpsdi.reader import Protocol, Reader

ROOT = Path(__file__).resolve().parents[2]
ROOTS = {"host": "cpsdi", "protocol": "cpsdi_proto", "firmware": "cpsdi_fw", "boards": "cpsdi_boards"}


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, name in ROOTS.items():
        base = ROOT / folder / name
        for init in base.rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join([name, *init.parent.relative_to(base).parts]))
    assert found == listed


def test_sim_url_runs_the_firmware_in_process() -> None:
    with Reader.open("sim://?card=t1&card=t0") as reader:
        assert reader.info.board == "sim" and reader.info.slots == 2 and reader.native
        with reader.slots[0].connect() as card:
            assert card.protocol is Protocol.T1
            response = card.transmit(bytes.fromhex("00 88 00 00 03 01 02 03 00"))
            assert (response.data, response.sw) == (b"\x03\x02\x01", 0x9000)
        with reader.slots[1].connect() as card:
            assert card.protocol is Protocol.T0


def test_sim_url_compat_mode() -> None:
    with Reader.open("sim://?card=t0&native=0&echo=full") as reader:
        assert not reader.native
        with reader.slots[0].connect() as card:
            assert card.transmit(bytes.fromhex("00 32 00 00 04")).data == b"\x00\x00\x00\x01"


@pytest.mark.parametrize("url, message", [
    ("sim://?card=cps9", "unknown card 'cps9'"),
    ("sim://?colour=red", "no parameter colour"),
    ("sim://?echo=loud", "echo is full, header or none"),
])
def test_sim_url_bad_parameters(url: str, message: str) -> None:
    with pytest.raises((TransportError, ValueError), match=message):
        Reader.open(url)


def test_get_info_reports_slot_capabilities() -> None:
    with Reader.open("sim://?card=t0&card=none") as reader:
        assert reader.info.slot_capabilities == ((0x07, 0x03), (0x07, 0x03))
        assert reader.info.voltage_classes(0) == "ABC" and reader.info.voltage_classes(5) == ""


def test_counters_and_reset() -> None:
    with Reader.open("sim://?card=t0") as reader:
        with reader.slots[0].connect() as card:
            card.transmit(bytes.fromhex("00 84 00 00 08"))
            bad = card.transmit(bytes.fromhex("00 77 00 00"))  # unknown INS: a status word, not a card error
            assert bad.sw == 0x6D00
        counters = reader.counters()
        assert counters["frames"] >= 5 and counters["requests"] == counters["frames"]
        assert counters["naks_sent"] == 0 and counters["internal_errors"] == 0
        reader.reset_counters()
        assert reader.counters()["frames"] == 1  # the GET_COUNTERS request itself
