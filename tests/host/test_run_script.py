"""APDU scripts (``CardConnection.run_script``, vendor Escape CD 20) and the event log
(``Reader.event_log``, CD 32) against the real reader firmware running in process on the
simulated board (tests/host/_firmware_port.py), with the t0/t1 test applet cards of
cpsdi_boards.sim.cards.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from _firmware_port import FirmwarePort
from cpsdi_boards.sim import cards as sim_cards
from cpsdi_boards.sim.test_applet import read_binary_bytes
from cpsdi_proto import ccid as wire
from cpsdi_proto import escape as vendor

from cpsdi.exceptions import BadATRError, CardAbsentError, VendorCommandError
from cpsdi.reader import Reader, Response
from cpsdi.script import EventCode, ScriptStep, StopReason
from cpsdi.trace import read_trace
from cpsdi.transport import Transport


def open_reader(port: FirmwarePort, native: bool = True, **kw: Any) -> Reader:
    return Reader.open("firmware", transport=Transport(port), native=native, timeout_s=1.0, **kw)


def ten_apdus() -> list[bytes]:
    return [
        bytes.fromhex("00A4040002 3F00"),  # SELECT
        bytes.fromhex("0084000008"),  # GET CHALLENGE 8
        bytes.fromhex("00B0000010"),  # READ BINARY offset 0, 16 bytes
        bytes.fromhex("00B0012008"),  # READ BINARY offset 0x120, 8 bytes
        bytes.fromhex("0088000003 010203 03"),  # ECHO case 4
        bytes.fromhex("0032000004"),  # INCREMENT
        bytes.fromhex("0032000004"),  # INCREMENT
        bytes.fromhex("00CA000104"),  # GET DATA counter
        bytes.fromhex("0084000004"),  # GET CHALLENGE 4
        bytes.fromhex("00B0004020"),  # READ BINARY offset 0x40, 32 bytes
    ]


@pytest.mark.parametrize("native", [True, False], ids=["native", "compat"])
@pytest.mark.parametrize("slot_index", [0, 1], ids=["T=0", "T=1"])
def test_ten_apdus_in_one_round_trip_equal_ten_transmits(native: bool, slot_index: int) -> None:
    apdus = ten_apdus()
    expected: list[Response] = []
    port = FirmwarePort(["t0", "t1"])
    with open_reader(port, native) as reader, reader.slots[slot_index].connect() as card:
        for apdu in apdus:
            expected.append(card.transmit(apdu))
    assert [r.sw for r in expected] == [0x9000] * 10

    port = FirmwarePort(["t0", "t1"])
    with open_reader(port, native) as reader, reader.slots[slot_index].connect() as card:
        frames = port.firmware.link.frames
        writes = port.writes
        result = card.run_script([ScriptStep(a) for a in apdus])
        assert port.firmware.link.frames - frames == 1  # one request frame ...
        assert port.writes - writes == 1  # ... written once: one round trip
    assert result.reason is StopReason.DONE and result.stopped_at is None and result.completed
    assert result.responses == expected
    assert result.responses[2].data == read_binary_bytes(0, 16)
    assert result.responses[4].data == bytes.fromhex("030201")
    assert result.responses[7].data == (2).to_bytes(4, "big")


@pytest.mark.parametrize("native", [True, False], ids=["native", "compat"])
def test_stop_on_error_and_expected_sw(native: bool) -> None:
    port = FirmwarePort(["t1"])
    applet = port.applets[0]
    with open_reader(port, native) as reader, reader.slots[0].connect() as card:
        unknown = bytes.fromhex("00EE000000")  # 6D00 from the applet
        increment = bytes.fromhex("0032000004")
        result = card.run_script([ScriptStep(increment), ScriptStep(unknown), ScriptStep(increment)])
        assert (result.reason, result.stopped_at) == (StopReason.SW_ERROR, 1)
        assert [r.sw for r in result.responses] == [0x9000, 0x6D00]
        assert applet.counter == 1  # the third step never ran

        result = card.run_script([ScriptStep(unknown, stop_on_error=False), ScriptStep(increment)])
        assert result.completed and [r.sw for r in result.responses] == [0x6D00, 0x9000]

        result = card.run_script([ScriptStep(unknown, expect_sw=0x6D00), ScriptStep(increment, expect_sw=0x6A82),
                                  ScriptStep(increment)])
        assert (result.reason, result.stopped_at) == (StopReason.SW_MISMATCH, 1)
        assert result.responses[1] == Response((3).to_bytes(4, "big"), 0x9000)
        assert applet.counter == 3


@pytest.mark.parametrize("native", [True, False], ids=["native", "compat"])
def test_script_larger_than_one_frame_continues_transparently(native: bool) -> None:
    port = FirmwarePort(["t0"])
    reads = [ScriptStep(bytes([0, 0xB0, k, 0, 0x60])) for k in range(40)]  # 40 x 98-byte responses
    reads.insert(5, ScriptStep(bytes.fromhex("00B0000000")))  # 256 + SW: no script answer in compat holds it
    with open_reader(port, native) as reader, reader.slots[0].connect() as card:
        writes = port.writes
        result = card.run_script(reads)
        round_trips = port.writes - writes
    assert result.completed and len(result.responses) == 41
    for step, response in zip(reads, result.responses):
        offset = step.apdu[2] << 8 | step.apdu[3]
        assert response == Response(read_binary_bytes(offset, step.apdu[4] or 256), 0x9000)
    total = sum(100 for _ in range(40)) + 260
    assert round_trips > total // (port.firmware.link.native_max_message if native else 271)
    assert round_trips < 41


def test_many_steps_split_by_count_and_request_size() -> None:
    port = FirmwarePort(["t1"])
    applet = port.applets[0]
    steps = [ScriptStep(bytes.fromhex("0032000004")) for _ in range(150)]
    steps.append(ScriptStep(bytes.fromhex("0088000000 00FA") + bytes(250)))  # case 3E, 257-byte APDU
    with open_reader(port, native=False) as reader, reader.slots[0].connect() as card:
        result = card.run_script(steps)
    assert result.completed and len(result.responses) == 151
    assert [int.from_bytes(r.data, "big") for r in result.responses[:150]] == list(range(1, 151))
    assert applet.counter == 150


def test_card_absent_and_malformed_script() -> None:
    port = FirmwarePort(["t0"])
    with open_reader(port) as reader:
        card = reader.slots[0].connect()
        with pytest.raises(VendorCommandError) as info:
            reader.link.vendor(vendor.CMD_RUN_SCRIPT, b"\x00")
        assert info.value.code == vendor.ERR_SCRIPT_FORMAT
        with pytest.raises(VendorCommandError) as info:
            reader.link.vendor(vendor.CMD_RUN_SCRIPT, b"\xff")
        assert info.value.code == vendor.ERR_SCRIPT_TOO_LONG
        port.card_port(0).remove()
        with pytest.raises(CardAbsentError):
            card.run_script([ScriptStep(bytes.fromhex("0084000008"))])
        card.closed = True
        reader.slots[0].connection = None


def test_pin_inside_a_script_never_reaches_trace_or_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pin = b"7390"
    trace = tmp_path / "t.jsonl"
    verify = bytes.fromhex("0020000104") + pin
    port = FirmwarePort(["t1"], echo=2)  # ECHO_FULL: the compat echo repeats the whole request
    for native in (False, True):
        with open_reader(port, native, trace=trace) as reader, reader.slots[0].connect() as card:
            result = card.run_script([ScriptStep(bytes.fromhex("00A4040002 3F00")), ScriptStep(verify, expect_sw=0x6D00),
                                      ScriptStep(bytes.fromhex("0084000008"))])
            assert result.completed
        text = trace.read_text() + caplog.text
        text = re.sub(r"\d+\.\d+(e-?\d+)?", "<n>", text)
        assert pin.hex() not in text.lower().replace(" ", "") and pin.decode() not in text
        apdus = [r for r in read_trace(trace) if r.get("kind") == "apdu" and r.get("dir") == "command"]
        assert [r["hex"] for r in apdus][1] == "00 20 00 01 ** ** ** ** **"
        frames = [r for r in read_trace(trace) if r.get("kind") == "frame" and "CD 20" in r.get("hex", "")]
        assert frames and all("**" in r["hex"] for r in frames if r["dir"] == "tx")


def test_event_log_after_insert_remove_and_power_failures() -> None:
    port = FirmwarePort(["t0", "none"])
    hp = port.hp
    with open_reader(port) as reader:
        reader.link.vendor(vendor.CMD_RESET_COUNTERS)
        assert reader.event_log() == []
        hp.now_ms = 100
        with reader.slots[0].connect():
            pass
        hp.now_ms = 200
        port.card_port(0).remove()
        assert not reader.slots[0].status().present
        with pytest.raises(CardAbsentError):
            reader.slots[0].connect()
        hp.now_ms = 300
        made = sim_cards.make_card("t0", faults="set atr byte 1 to 00")  # TS 00: not an ATR
        port.card_port(1).insert(made[0])
        with pytest.raises(BadATRError):
            reader.slots[1].connect()
        with pytest.raises(VendorCommandError):
            reader.link.vendor(vendor.CMD_RUN_SCRIPT, b"\x01\x07", slot=1)
        events = reader.event_log()
    got = [(e.time_ms, e.code, e.slot, e.arg1, e.arg2) for e in events]
    assert got == [
        (100, EventCode.PPS, 0, 0x18, 0),  # the reader's PPS: TA1 18 accepted, T=0
        (100, EventCode.POWER_ON, 0, 0, 1),  # T=0, APDU level (native)
        (100, EventCode.POWER_OFF, 0, 0, 0),
        (200, EventCode.CARD_REMOVED, 0, 0, 0),
        (200, EventCode.POWER_ON_FAILED, 0, wire.ERR_ICC_MUTE, 0),
        (300, EventCode.CARD_INSERTED, 1, 0, 0),
        (300, EventCode.POWER_ON_FAILED, 1, wire.ERR_BAD_ATR_TS, 0),
        (300, EventCode.ESCAPE_ERROR, 1, vendor.ERR_SCRIPT_FORMAT, vendor.CMD_RUN_SCRIPT),
    ]
    assert events[1].name == "POWER_ON"
