"""Stock pcscd + libccidtwin.so, reader type ``GemPCTwin`` (the default: TPDU level, echo of
every command frame), driving ``cpsdi sim`` on a pty (ccid-serial.md §4, §5.5, §7).

Each test runs once with the T=0 test card and once with the T=1 test card (one module
stack per card). At TPDU level libccid does the PPS, SetParameters and, for T=1, the whole
block protocol (S(IFS), chaining both ways); for T=0 it does no GET RESPONSE: the
application sees ``61xx`` and sends it (pitfall 7).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _apdus import (ATRS, GET_COUNTER, INCREMENT, OK, PROTOCOLS, SIZE_CLASSES, STATEFUL_SCRIPT, echo, echo_extended,
                    pattern, read_binary)
from _pcscd_stack import PcscError, PcscStack, Session, StackConfig, StackFactory, Step, reader_api_session
from cpsdi_boards.sim.test_applet import read_binary_bytes

SCARD_W_REMOVED_CARD = 0x80100069


@pytest.fixture(scope="module", params=["t0", "t1"])
def stack(request: pytest.FixtureRequest, pcsc_stack: StackFactory) -> Iterator[PcscStack]:
    with pcsc_stack(StackConfig("GemPCTwin pty", (request.param,))) as stack:
        yield stack


def card_of(stack: PcscStack) -> str:
    return stack.config.cards[0]


def test_pcsc_scan_sees_the_reader_and_the_atr(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("pcsc_scan")
    with stack.pcsc_scan() as scan:
        assert scan.expect(r"^\s*0: (.+)$").group(1) == "GemPCTwin pty 00 00"
        scan.expect(r"Card state: Card inserted")
        assert bytes.fromhex(scan.expect(r"ATR: ([0-9A-F ]+)$").group(1)) == ATRS[card_of(stack)]
    log = stack.log_text()
    assert "Firmware: cpsdi" in log  # Escape 02 answered at open (§5.1)
    assert "GemPCTwin pty 00 00" in stack.readers()


def test_removal_and_insertion_are_seen(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("pcsc_scan")
    card = card_of(stack)
    with stack.pcsc_scan() as scan:
        scan.expect(r"ATR: ")
        assert stack.control("remove 0") == "ok"
        scan.expect(r"Card state: Card removed", timeout_s=5)
        assert stack.control(f"insert 0 {card}") == "ok"
        scan.expect(r"Card state: Card inserted", timeout_s=5)
        assert bytes.fromhex(scan.expect(r"ATR: ([0-9A-F ]+)$").group(1)) == ATRS[card]
    session = stack.session([read_binary(0, 4)])  # and the new card works
    assert session.exchanges[0].data == read_binary_bytes(0, 4)


def test_pyscard_every_size_class(stack: PcscStack) -> None:
    card = card_of(stack)
    session = stack.session([apdu for apdu, _ in SIZE_CLASSES])
    assert (session.atr, session.protocol) == (ATRS[card], PROTOCOLS[card])
    for (apdu, expected), got in zip(SIZE_CLASSES, session.exchanges, strict=True):
        assert (got.data, got.sw) == (expected, OK), apdu.hex(" ")
    # What went through SCardTransmit: at TPDU level a T=0 case-4 command gets 61xx and a
    # GET RESPONSE; T=1 gets the whole answer (libccid chains the blocks).
    case4 = [(cmd, r) for cmd, r in session.raw if cmd[1] == 0x88]
    if card == "t0":
        assert [r.sw for _, r in case4] == [0x6101, 0x6180, 0x61FF]
        assert sum(1 for cmd, _ in session.raw if cmd[1] == 0xC0) == 3
    else:
        assert [r.sw for _, r in case4] == [OK, OK, OK]
        assert not any(cmd[1] == 0xC0 for cmd, _ in session.raw)


def test_t1_chaining_and_extended_apdus(stack: PcscStack) -> None:
    """T=1 at TPDU level: libccid negotiates IFSD 254 with S(IFS) and chains an extended APDU
    (300 bytes each way) in 254-byte blocks (§5.4, §5.5)."""
    if card_of(stack) != "t1":
        pytest.skip("T=1 only: the T=0 card takes short APDUs")
    mark = stack.log_mark()
    data = pattern(300)
    session = stack.session([echo_extended(data), echo(pattern(255))])
    assert [(e.data, e.sw) for e in session.exchanges] == [(data[::-1], OK), (pattern(255)[::-1], OK)]
    assert "C1 01 FE" in stack.log_since(mark)  # S(IFS request, IFSD 254) after SetParameters


def test_same_answers_as_the_reader_api(stack: PcscStack, tmp_path: Path) -> None:
    """A fresh card answers a stateful script identically through pcscd + pyscard and through
    the cpsdi Reader API on another simulator with the same fresh card."""
    card = card_of(stack)
    assert stack.fresh_card(0, card) == ATRS[card]
    script = STATEFUL_SCRIPT + ([echo_extended(pattern(300))] if card == "t1" else [])
    via_pcscd = stack.session(script)
    via_reader_api = reader_api_session(tmp_path, [card], script)
    assert via_pcscd.atr == via_reader_api.atr == ATRS[card]
    assert via_pcscd.protocol == via_reader_api.protocol == PROTOCOLS[card]
    for apdu, a, b in zip(script, via_pcscd.exchanges, via_reader_api.exchanges, strict=True):
        assert (a.data, a.sw) == (b.data, b.sw), apdu.hex(" ")


def test_opensc_tool(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("opensc-tool")
    card = card_of(stack)
    atr = stack.tool(["opensc-tool", "--reader", "0", "--atr"])
    assert atr.returncode == 0, atr.stdout + atr.stderr
    assert bytes.fromhex(atr.stdout.strip().replace(":", "")) == ATRS[card]
    apdus = [read_binary(0x10, 16), read_binary(0x10, 256), echo(pattern(20))]
    args = ["opensc-tool", "--reader", "0", "--card-driver", "default"]
    for apdu in apdus:
        args += ["--send-apdu", apdu.hex(":")]
    done = stack.tool(args)
    assert done.returncode == 0, done.stdout + done.stderr
    answers = parse_opensc_tool(done.stdout)
    # OpenSC does the T=0 GET RESPONSE itself (and strips Le of a T=0 case 4).
    assert answers == [(read_binary_bytes(0x10, 16), OK), (read_binary_bytes(0x10, 256), OK),
                       (pattern(20)[::-1], OK)]


def test_scriptor(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("scriptor")
    card = card_of(stack)
    commands = [read_binary(0x10, 16), echo(pattern(3))]
    done = stack.tool(["scriptor", "-r", stack.reader_name(0)],
                      stdin="".join(apdu.hex(" ") + "\n" for apdu in commands))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Using T={card[1]} protocol" in done.stdout
    answers = parse_scriptor(done.stdout)
    expected_echo = (b"", 0x6103) if card == "t0" else (pattern(3)[::-1], OK)  # scriptor: no GET RESPONSE
    assert answers == [(read_binary_bytes(0x10, 16), OK), expected_echo]


@pytest.fixture(scope="module")
def full_echo_stack(pcsc_stack: StackFactory) -> Iterator[PcscStack]:
    with pcsc_stack(StackConfig("GemPCTwin fullecho", ("t1",), echo="full")) as stack:
        yield stack


def test_full_echo(full_echo_stack: PcscStack) -> None:
    """The firmware's full echo (the whole command frame, not only its header) works too (§1.3)."""
    stack = full_echo_stack
    assert stack.readers() == ["GemPCTwin fullecho 00 00"]
    data = pattern(300)
    session = stack.session([apdu for apdu, _ in SIZE_CLASSES] + [echo_extended(data)])
    assert session.atr == ATRS["t1"]
    expected = [(e, OK) for _, e in SIZE_CLASSES] + [(data[::-1], OK)]
    assert [(e.data, e.sw) for e in session.exchanges] == expected


def test_reset_and_unpower_in_a_session(stack: PcscStack) -> None:
    """SCardReconnect with a reset, then with an unpower: libccid powers the card on again
    (PPS, SetParameters, and for T=1 S(IFS) anew), the firmware follows, the card keeps its
    state (the applet's counter lives on across resets)."""
    card = card_of(stack)
    session = stack.session([INCREMENT, Step.reset(), GET_COUNTER, echo(pattern(255)), Step.unpower(),
                             GET_COUNTER, read_binary(0, 256)])
    assert session.atrs == [ATRS[card], ATRS[card]]
    counter, after_reset, echoed, after_unpower, read = session.exchanges
    assert all(e.sw == OK for e in session.exchanges)
    assert after_reset.data == after_unpower.data == counter.data
    assert echoed.data == pattern(255)[::-1]
    assert read.data == read_binary_bytes(0, 256)


def test_card_removed_during_a_session(stack: PcscStack, tmp_path: Path) -> None:
    """The card leaves between two APDUs of an open session: the next SCardTransmit fails
    with SCARD_W_REMOVED_CARD (no stale or wrong answer), and a new card works."""
    card = card_of(stack)
    started, go_on = tmp_path / "started", tmp_path / "go-on"
    outcome: list[BaseException | Session] = []

    def client() -> None:
        try:
            outcome.append(stack.session([read_binary(0, 4), Step.touch(started), Step.await_file(go_on),
                                          read_binary(0, 4)]))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists(), outcome
        assert stack.control("remove 0") == "ok"
        stack.client({"op": "wait", "reader": stack.reader_name(0), "present": False, "timeout_s": 10})
    finally:
        go_on.touch()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert isinstance(outcome[0], PcscError), outcome
    assert outcome[0].hresult == SCARD_W_REMOVED_CARD, outcome[0]
    assert stack.control(f"insert 0 {card}") == "ok"
    stack.client({"op": "wait", "reader": stack.reader_name(0), "present": True, "timeout_s": 10})
    assert stack.session([read_binary(0, 4)]).exchanges[0].data == read_binary_bytes(0, 4)


@pytest.fixture(scope="module")
def empty_stack(pcsc_stack: StackFactory) -> Iterator[PcscStack]:
    with pcsc_stack(StackConfig("GemPCTwin empty", ("none",))) as stack:
        yield stack


def test_card_inserted_after_pcscd_started(empty_stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    """The slot is empty when pcscd opens the reader; a card inserted later is seen and works."""
    need_tool("pcsc_scan")
    stack = empty_stack
    with stack.pcsc_scan() as scan:
        assert scan.expect(r"^\s*0: (.+)$").group(1) == "GemPCTwin empty 00 00"
        scan.expect(r"Card state: Card removed")
        assert stack.control("insert 0 t1") == "ok"
        scan.expect(r"Card state: Card inserted", timeout_s=5)
        assert bytes.fromhex(scan.expect(r"ATR: ([0-9A-F ]+)$").group(1)) == ATRS["t1"]
    session = stack.session([read_binary(0x10, 256)])
    assert (session.exchanges[0].data, session.exchanges[0].sw) == (read_binary_bytes(0x10, 256), OK)


# -- output parsers ---------------------------------------------------------------------

_HEX_BYTE = re.compile(r"^[0-9A-Fa-f]{2}$")


def parse_opensc_tool(out: str) -> list[tuple[bytes, int]]:
    """``Received (SW1=0x90, SW2=0x00):`` then a hex dump (16 bytes, then ASCII) per answer."""
    answers: list[tuple[bytes, int]] = []
    data: list[str] | None = None
    for line in out.splitlines():
        m = re.match(r"Received \(SW1=0x([0-9A-Fa-f]{2}), SW2=0x([0-9A-Fa-f]{2})\)", line)
        if m:
            answers.append((b"", int(m.group(1) + m.group(2), 16)))
            data = []
            continue
        if line.startswith("Sending:"):
            data = None
            continue
        if data is not None and line.strip():
            tokens = [t for t in line[:48].split() if _HEX_BYTE.match(t)]
            answers[-1] = (answers[-1][0] + bytes.fromhex("".join(tokens)), answers[-1][1])
    return answers


def parse_scriptor(out: str) -> list[tuple[bytes, int]]:
    """``< XX XX … SW1 SW2 : text`` per answer (the hex may wrap over several lines)."""
    answers: list[tuple[bytes, int]] = []
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("> "):
            current = None
            continue
        if line.startswith("< "):
            current = []
            line = line[2:]
        if current is None:
            continue
        text, colon, _ = line.partition(":")
        current += [t for t in text.split() if _HEX_BYTE.match(t)]
        if colon:
            raw = bytes.fromhex("".join(current))
            answers.append((raw[:-2], raw[-2] << 8 | raw[-1]))
            current = None
    return answers
