"""GET_INFO TLV 09 (the reader's PIN pad) on the host side: decoded, encoded, shown by `cpsdi info`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from cpsdi_proto import escape as wire

from cpsdi.cli import main
from cpsdi.escape import PinPadInfo, ReaderInfo, build_info, parse_info
from cpsdi.exceptions import ReaderProtocolError
from cpsdi.reader import Reader

BASE = ReaderInfo(protocol_version=1, firmware_version="1.0", board="sim", slots=1, native_max_message=2058,
                  features=wire.FEATURE_APDU_LEVEL | wire.FEATURE_PIN_PAD)


def test_round_trip_and_exact_bytes() -> None:
    info = ReaderInfo(**{**BASE.__dict__, "pin_pad": PinPadInfo(3, 2, 16, 16)})
    payload = build_info(info)
    assert payload.endswith(bytes([wire.INFO_PIN_PAD, 4, 0x03, 2, 16, 16]))
    assert parse_info(payload) == info
    assert info.pin_pad is not None and info.pin_pad.describe() == "verify+modify, display 2x16, up to 16 digits"
    assert PinPadInfo(1, 0, 0, 8).describe() == "verify, no display, up to 8 digits"


def test_a_reader_without_keypad_has_none() -> None:
    assert parse_info(build_info(BASE)).pin_pad is None


def test_a_short_pin_pad_tlv_is_refused_and_a_longer_one_accepted() -> None:
    base = build_info(BASE)
    with pytest.raises(ReaderProtocolError, match="PIN-pad TLV of 3 bytes"):
        parse_info(base + bytes([wire.INFO_PIN_PAD, 3, 3, 2, 16]))
    assert parse_info(base + bytes([wire.INFO_PIN_PAD, 5, 3, 0, 0, 12, 0xAA])).pin_pad == PinPadInfo(3, 0, 0, 12)


def test_the_simulated_keypad_is_reported_by_the_firmware() -> None:
    with Reader.open("sim://?card=doctor&keypad=") as reader:
        assert reader.info.pin_pad == PinPadInfo(3, 2, 16, 16)
    with Reader.open("sim://?card=doctor") as reader:
        assert reader.info.pin_pad is None


def test_cpsdi_info_shows_the_pin_pad() -> None:
    r = CliRunner().invoke(main, ["info", "--port", "sim://?card=t1&keypad=", "--json"])
    assert r.exit_code == 0, r.output
    assert '"pin_pad": "verify+modify, display 2x16, up to 16 digits"' in r.output
