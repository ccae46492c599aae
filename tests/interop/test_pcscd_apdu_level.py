"""GemPCTwin at short-APDU level: ``ifdDriverOptions`` 0x0002 (ccid-serial.md §5.6).

The option lives in libccid's Info.plist, which libccidtwin.so reads from
``$PCSCLITE_HP_DROPDIR/ifd-ccid.bundle/Contents/Info.plist``: the stack writes a private copy
of ``/etc/libccid_Info.plist`` with ``ifdDriverOptions`` 0x0002 and starts pcscd with
``PCSCLITE_HP_DROPDIR`` pointing at it (the system file is only read). At open libccid then
sends Escape ``1F 02``; the firmware's success switches the slot to APDU level: XfrBlock
carries whole APDUs, the firmware does the T=0 GET RESPONSE and the T=1 chaining, and
libccid sends no S(IFS).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _apdus import ATRS, OK, PROTOCOLS, SIZE_CLASSES, STATEFUL_SCRIPT
from _pcscd_stack import PcscStack, StackConfig, StackFactory, reader_api_session


@pytest.fixture(scope="module", params=["t0", "t1"])
def stack(request: pytest.FixtureRequest, pcsc_stack: StackFactory) -> Iterator[PcscStack]:
    config = StackConfig("GemPCTwin apdu", (request.param,), reader_type="GemPCTwin", apdu_level=True)
    with pcsc_stack(config) as stack:
        yield stack


def test_libccid_switches_to_apdu_level(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    log = stack.log_text()
    assert "DriverOptions: 0x0002" in log  # the private Info.plist was read
    # Escape 1F 02 sent at open, then (after the echo) the firmware's Escape answer with
    # bStatus 00/01/02: success (LIBCCID_ifdLogLevel comm lines "-> " sent, "<- " received).
    sent = re.search(r"-> \d+ 03 06 6B 02 00 00 00 00 [0-9A-F]{2} 00 00 00 1F 02 ", log)
    assert sent is not None
    until_next_command = log[sent.end():].split("-> ", 1)[0]
    received = " ".join(line.split(" ", 3)[3] for line in until_next_command.splitlines() if " <- " in line)
    assert re.search(r"03 06 83 00 00 00 00 00 [0-9A-F]{2} 0[0-2] 00 00 ", received), received
    need_tool("pcsc_scan")
    with stack.pcsc_scan() as scan:
        assert scan.expect(r"^\s*0: (.+)$").group(1) == "GemPCTwin apdu 00 00"
        assert bytes.fromhex(scan.expect(r"ATR: ([0-9A-F ]+)$").group(1)) == ATRS[stack.config.cards[0]]


def test_pyscard_every_size_class_in_one_transmit_each(stack: PcscStack) -> None:
    card = stack.config.cards[0]
    mark = stack.log_mark()
    session = stack.session([apdu for apdu, _ in SIZE_CLASSES], get_response=False)
    assert (session.atr, session.protocol) == (ATRS[card], PROTOCOLS[card])
    for (apdu, expected), got in zip(SIZE_CLASSES, session.exchanges, strict=True):
        assert (got.data, got.sw) == (expected, OK), apdu.hex(" ")
    # One SCardTransmit per APDU: no 61xx for the application even on T=0 (the firmware
    # sent the GET RESPONSE), and no S(IFS) block from libccid on T=1.
    assert len(session.raw) == len(SIZE_CLASSES)
    assert "C1 01 FE" not in stack.log_since(mark)


def test_same_answers_as_the_reader_api(stack: PcscStack, tmp_path: Path) -> None:
    card = stack.config.cards[0]
    assert stack.fresh_card(0, card) == ATRS[card]
    via_pcscd = stack.session(STATEFUL_SCRIPT, get_response=False)
    via_reader_api = reader_api_session(tmp_path, [card], STATEFUL_SCRIPT)
    assert via_pcscd.atr == via_reader_api.atr
    for apdu, a, b in zip(STATEFUL_SCRIPT, via_pcscd.exchanges, via_reader_api.exchanges, strict=True):
        assert (a.data, a.sw) == (b.data, b.sw), apdu.hex(" ")
