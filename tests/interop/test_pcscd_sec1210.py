"""A bi-fente (two-slot) reader through pcscd: libccid's ``SEC1210`` type (``DEVICENAME
path:SEC1210``; ccid-serial.md §4, §6.4): no echo (``cpsdi sim --echo none``), Escape ``06``
only at open, two slots sharing one link and one bSeq counter, no PPS from libccid
(SetParameters only). Applications see two readers, ``… 00 00`` and ``… 00 01``.

Slot 0 holds the T=0 test card, slot 1 the T=1 test card.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _apdus import ATRS, OK, PROTOCOLS, SIZE_CLASSES, STATEFUL_SCRIPT, echo, pattern, read_binary
from _pcscd_stack import PcscStack, StackConfig, StackFactory, reader_api_session
from cpsdi_boards.sim.test_applet import read_binary_bytes

CARDS = ("t0", "t1")


@pytest.fixture(scope="module")
def stack(pcsc_stack: StackFactory) -> Iterator[PcscStack]:
    with pcsc_stack(StackConfig("SEC1210 pty", CARDS, reader_type="SEC1210", echo="none")) as stack:
        yield stack


def test_two_readers_with_their_atrs(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    log = stack.log_text()
    assert re.search(r"-> \d+ 03 06 6B 01 00 00 00 00 [0-9A-F]{2} 00 00 00 06 ", log)  # Escape 06 (§5.1)
    assert not re.search(r"-> \d+ 03 06 6B 03 00 00 00 00 [0-9A-F]{2} 00 00 00 01 01 01 ", log)
    assert "Reader supports 2 slot(s)" in log
    assert stack.readers() == ["SEC1210 pty 00 00", "SEC1210 pty 00 01"]
    need_tool("pcsc_scan")
    with stack.pcsc_scan() as scan:
        scan.expect(r"^\s*0: SEC1210 pty 00 00$")
        scan.expect(r"^\s*1: SEC1210 pty 00 01$")
        seen: dict[int, bytes] = {}
        while len(seen) < 2:
            reader = int(scan.expect(r"^\s*Reader (\d): SEC1210 pty 00 0\d$").group(1))
            seen[reader] = bytes.fromhex(scan.expect(r"ATR: ([0-9A-F ]+)$").group(1))
    assert seen == {0: ATRS["t0"], 1: ATRS["t1"]}


@pytest.mark.parametrize("slot", [0, 1])
def test_pyscard_every_size_class(stack: PcscStack, slot: int) -> None:
    card = CARDS[slot]
    mark = stack.log_mark()
    session = stack.session([apdu for apdu, _ in SIZE_CLASSES], slot=slot)
    assert (session.atr, session.protocol) == (ATRS[card], PROTOCOLS[card])
    for (apdu, expected), got in zip(SIZE_CLASSES, session.exchanges, strict=True):
        assert (got.data, got.sw) == (expected, OK), apdu.hex(" ")
    # SEC1210 has the "automatic PPS" feature: libccid sends no PPS, only SetParameters.
    assert not re.search(r"-> \d+ 03 06 6F 0[34] 00 00 00 0[01] [0-9A-F]{2} 00 00 00 FF ", stack.log_since(mark))


def test_removal_in_one_slot_leaves_the_other(stack: PcscStack) -> None:
    assert stack.fresh_card(1, "t1") == ATRS["t1"]
    assert stack.session([read_binary(0, 4)], slot=0).exchanges[0].data == read_binary_bytes(0, 4)
    assert stack.session([read_binary(0, 4)], slot=1).exchanges[0].data == read_binary_bytes(0, 4)


@pytest.mark.parametrize("slot", [0, 1])
def test_same_answers_as_the_reader_api(stack: PcscStack, slot: int, tmp_path: Path) -> None:
    assert stack.fresh_card(slot, CARDS[slot]) == ATRS[CARDS[slot]]
    via_pcscd = stack.session(STATEFUL_SCRIPT, slot=slot)
    via_reader_api = reader_api_session(tmp_path, CARDS, STATEFUL_SCRIPT, slot=slot)
    assert via_pcscd.atr == via_reader_api.atr
    for apdu, a, b in zip(STATEFUL_SCRIPT, via_pcscd.exchanges, via_reader_api.exchanges, strict=True):
        assert (a.data, a.sw) == (b.data, b.sw), apdu.hex(" ")


def test_opensc_tool_reads_both_atrs(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("opensc-tool")
    for slot in (0, 1):
        done = stack.tool(["opensc-tool", "--reader", str(slot), "--atr"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert bytes.fromhex(done.stdout.strip().replace(":", "")) == ATRS[CARDS[slot]]


def test_two_applications_at_once(stack: PcscStack) -> None:
    """One application per slot, at the same time: pcscd serialises the two readers of the one
    link (libccid is not slot-thread-safe), every answer goes to the right slot."""
    # Small exchanges so that the two clients interleave often (this type sends no PPS: the
    # cards run at their default speed, a 256-byte answer takes about 0.3 s).
    script = [read_binary(8 * i, 8) for i in range(24)] + [echo(pattern(32))]
    expected = [(read_binary_bytes(8 * i, 8), OK) for i in range(24)] + [(pattern(32)[::-1], OK)]
    results: dict[int, list[tuple[bytes, int]] | BaseException] = {}

    def client(slot: int) -> None:
        try:
            results[slot] = [(e.data, e.sw) for e in stack.session(script, slot=slot).exchanges]
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            results[slot] = exc

    threads = [threading.Thread(target=client, args=(slot,)) for slot in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert results == {0: expected, 1: expected}


def test_set_parameters_speed_is_applied(stack: PcscStack) -> None:
    mark = stack.log_mark()
    stack.session([read_binary(0, 1)], slot=0)
    log = stack.log_since(mark)
    assert "Set speed to 154838 bauds" in log
    assert "SetParameters error" not in log
