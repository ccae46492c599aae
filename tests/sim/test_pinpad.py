"""The holder's PIN on the reader's keypad (issue #12) with the whole firmware and the virtual
CPS cards: the in-process simulated reader (``sim://?keypad=…``) for the API and the capture,
``cpsdi sim --keypad`` on a real pty for the control socket and the CLI.

Acceptance: every host-link byte of the keypad path (both directions, raw, as the transport
sees them) is scanned for the codes typed, in every encoding a reader could put on the wire
(ASCII, packed BCD in both nibble phases, one digit a byte, the CPS FF-padded block, an ISO
9564 format-2 block); the same scanner finds the PIN in a capture of a host-typed VERIFY (so
it can fail). Wrong PIN (``63 Cx`` with the count), blocked (``69 83``), cancel, timeout and
a confirmation mismatch each give their own exception, and the pad's outcomes cost no try.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from cpsdi import cps
from cpsdi.cli import main
from cpsdi.cli_common import EXIT_CARD, EXIT_PIN
from cpsdi.cps import (
    NoPinPad,
    PinBlocked,
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    WrongPin,
)
from cpsdi.framing import encode_frame
from cpsdi.ccid import build_message
from cpsdi.exceptions import CommandAbortedError
from cpsdi.reader import Reader
from cpsdi.transport import Transport
from cpsdi.urlhandler import protocol_sim
from cpsdi_boards.sim.keypad import KEY_GAP_MS, KeypadScriptError, SimKeypad, parse_keypad_script
from cpsdi_fw import hal
from cpsdi_proto import ccid as wire

protocol_sim.register()

CARDS = ["doctor", "pharmacist", "pharmacist-t0"]
FRAMINGS = {"native": "native=1", "compat": "native=0", "compat-full-echo": "native=0&echo=full"}
NEW_PIN = "731952"
WRONG = "9696"
UNBLOCK_CODE = "12345678"


# -- the keypad script ----------------------------------------------------------------------


def test_keypad_script_entries_keys_and_waits() -> None:
    assert parse_keypad_script("12E | w500 C|") == [
        [(KEY_GAP_MS, 0x31), (KEY_GAP_MS, 0x32), (KEY_GAP_MS, hal.KEY_ENTER)],
        [(500, hal.KEY_CANCEL)],
        [],
    ]
    assert parse_keypad_script("1B2") == [[(KEY_GAP_MS, 0x31), (KEY_GAP_MS, hal.KEY_CLEAR), (KEY_GAP_MS, 0x32)]]
    for bad in ("12X", "w", "1 2 #"):
        with pytest.raises(KeypadScriptError):
            parse_keypad_script(bad)


def test_sim_keypad_virtual_time_and_entries() -> None:
    pad = SimKeypad("1w1000E|9")
    pad.begin()
    assert pad.read_key(100) == hal.KEY_NONE and pad.ticks_ms() == 100  # the first key is due at 200 ms
    assert pad.read_key(30000) == 0x31 and pad.ticks_ms() == 200
    assert pad.read_key(500) == hal.KEY_NONE and pad.ticks_ms() == 700
    assert pad.read_key(30000) == hal.KEY_ENTER and pad.ticks_ms() == 1200
    pad.begin()
    assert pad.read_key(30000) == 0x39
    pad.begin()  # nothing queued: silence
    assert pad.read_key(30000) == hal.KEY_NONE and pad.ticks_ms() == 1400 + 30000
    assert pad.entries_started == 3


# -- capture and scan -----------------------------------------------------------------------


def encodings(code: str) -> dict[str, bytes]:
    """Every way a reader could carry ``code`` (4+ decimal digits, not all zero) on a wire; each
    pattern is at least 3 bytes long so that ordinary traffic does not match by chance."""
    pad = "F" * max(0, 6 - len(code))
    left = code + pad
    shifted = "F" + code + pad
    return {
        "ascii": code.encode(),
        "one digit a byte": bytes(int(c) for c in code),
        "cps padded block": code.encode() + b"\xff" * max(0, 8 - len(code)),
        "bcd": bytes.fromhex(left + ("F" if len(left) % 2 else "")),
        "bcd, other nibble phase": bytes.fromhex(shifted + ("F" if len(shifted) % 2 else "")),
        "iso9564 format 2": bytes.fromhex(f"2{len(code):X}" + code + "F" * (14 - len(code))),
    }


def leaks(stream: bytes, code: str) -> list[str]:
    return [name for name, pattern in encodings(code).items() if pattern in stream]


class Capture:
    """Every raw byte of the host link, per direction (Transport spy)."""

    def __init__(self) -> None:
        self.tx = bytearray()
        self.rx = bytearray()

    def __call__(self, direction: str, data: bytes) -> None:
        (self.tx if direction == "tx" else self.rx).extend(data)

    def leaks(self, code: str) -> list[str]:
        return [f"host->reader {n}" for n in leaks(bytes(self.tx), code)] + \
               [f"reader->host {n}" for n in leaks(bytes(self.rx), code)]


@contextmanager
def captured(url: str, native: bool) -> Iterator[tuple[Capture, cps.CPSCard, Reader]]:
    capture = Capture()
    transport = Transport.open(url)
    transport.add_spy(capture)
    with Reader.open(url, native=native, transport=transport) as reader, reader.slots[0].connect() as conn:
        yield capture, cps.open_card(conn), reader


def test_the_scanner_finds_a_pin_typed_on_the_host() -> None:
    with captured("sim://?card=doctor", True) as (capture, card, _):
        card.verify_pin("1234")
    assert "host->reader ascii" in capture.leaks("1234")
    assert encodings("731952")["bcd"] == bytes.fromhex("73 19 52")
    assert encodings("1234")["bcd, other nibble phase"] == bytes.fromhex("F1 23 4F FF")
    assert encodings("1234")["iso9564 format 2"] == bytes.fromhex("24 12 34 FF FF FF FF FF")


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("name", CARDS)
def test_no_code_typed_on_the_keypad_crosses_the_host_link(name: str, framing: str) -> None:
    # verify 1234, change to NEW_PIN, verify NEW_PIN, three wrong tries, unblock to 1234, verify 1234
    change = f"1234E{NEW_PIN}E{NEW_PIN}E" if name == "doctor" else f"1234E|{NEW_PIN}E{NEW_PIN}E"
    script = f"1234E|{change}|{NEW_PIN}E|{WRONG}E|{WRONG}E|{WRONG}E|{UNBLOCK_CODE}E|1234E1234E|1234E"
    url = f"sim://?card={name}&{FRAMINGS[framing]}&keypad={script}"
    with captured(url, framing == "native") as (capture, card, reader):
        cps.verify_pin_on_reader(card)
        cps.change_pin_on_reader(card)
        cps.verify_pin_on_reader(card)
        with pytest.raises(WrongPin):
            cps.verify_pin_on_reader(card)
        with pytest.raises(WrongPin):
            cps.verify_pin_on_reader(card)
        with pytest.raises(PinBlocked):
            cps.verify_pin_on_reader(card)
        cps.unblock_pin_on_reader(card)
        cps.verify_pin_on_reader(card)
        assert card.pin_status().verified
        keypad = reader.link.transport.port.keypad  # type: ignore[attr-defined]
        entries = 9 if name == "doctor" else 10
        assert keypad.pending == [] and keypad.entries_started == entries
    tx = bytes(capture.tx)
    # the Secure commands really went through this capture (compat SYNC 03 06, native 03 0E)
    assert tx.count(b"\x03\x06\x69") + tx.count(b"\x03\x0e\x69") == entries
    for code in ("1234", NEW_PIN, WRONG, UNBLOCK_CODE):
        assert capture.leaks(code) == [], code


# -- outcomes ---------------------------------------------------------------------------------


@contextmanager
def pad_card(name: str, script: str) -> Iterator[tuple[cps.CPSCard, Reader]]:
    with Reader.open(f"sim://?card={name}&keypad={script}") as reader, reader.slots[0].connect() as conn:
        yield cps.open_card(conn), reader


@pytest.mark.parametrize("name", CARDS)
def test_each_outcome_is_clear_and_the_pad_costs_no_try(name: str) -> None:
    change = "1234E5678E5679E" if name == "doctor" else "1234E|5678E5679E"
    with pad_card(name, f"C|12|w31000 1234E|{change}|9999E|9999E|9999E|1234E") as (card, _):
        with pytest.raises(PinEntryCancelled) as cancelled:
            cps.verify_pin_on_reader(card)
        assert cancelled.value.sw == 0x6401
        with pytest.raises(PinEntryTimeout) as timeout:
            cps.verify_pin_on_reader(card)  # two digits, then the holder walks away
        assert timeout.value.sw == 0x6400
        with pytest.raises(PinEntryTimeout):
            cps.verify_pin_on_reader(card)  # the first key comes after the 30 s key timeout
        assert card.pin_status().tries_left == 3
        with pytest.raises(PinEntryMismatch) as mismatch:
            cps.change_pin_on_reader(card)  # CPS4: the verification passes, then the mismatch
        assert mismatch.value.sw == 0x6402
        assert card.pin_status().tries_left == 3
        with pytest.raises(WrongPin) as wrong:
            cps.verify_pin_on_reader(card)
        assert (wrong.value.tries_left, wrong.value.sw) == (2, 0x63C2)
        with pytest.raises(WrongPin) as wrong:
            cps.verify_pin_on_reader(card)
        assert (wrong.value.tries_left, wrong.value.sw) == (1, 0x63C1)
        with pytest.raises(PinBlocked) as last:
            cps.verify_pin_on_reader(card)
        assert last.value.sw == 0x63C0
        with pytest.raises(PinBlocked) as blocked:
            cps.verify_pin_on_reader(card)
        assert blocked.value.sw == 0x6983


def test_a_short_key_timeout_from_the_host() -> None:
    with pad_card("doctor", "w6000 1234E|w4000 1234E") as (card, _):
        with pytest.raises(PinEntryTimeout):
            cps.verify_pin_on_reader(card, timeout_s=5)
        cps.verify_pin_on_reader(card, timeout_s=5)


def test_the_display_shows_prompts_and_stars_never_digits() -> None:
    with pad_card("doctor", "12B234E|1234E5678E5678E") as (card, reader):
        cps.verify_pin_on_reader(card)
        cps.change_pin_on_reader(card)
        log = reader.link.transport.port.keypad.display_log  # type: ignore[attr-defined]
    assert log[:7] == ["prompt 0: ", "prompt 0: *", "prompt 0: **", "prompt 0: *", "prompt 0: **",
                       "prompt 0: ***", "prompt 0: ****"]
    assert {line.split(":")[0] for line in log if line != "clear"} == {"prompt 0", "prompt 1", "prompt 2"}
    assert not any(c.isdigit() for line in log for c in line.split(":", 1)[-1])
    assert log.count("clear") == 2


def test_a_reader_without_keypad_says_so_before_sending_anything() -> None:
    with Reader.open("sim://?card=doctor") as reader, reader.slots[0].connect() as conn:
        card = cps.open_card(conn)
        assert not cps.has_pin_pad(conn)
        with pytest.raises(NoPinPad, match="no PIN pad"):
            cps.verify_pin_on_reader(card)
        assert card.pin_status().tries_left == 3


def test_a_retransmitted_secure_command_is_not_typed_twice() -> None:
    """Exactly once (DESIGN §1): the same Secure frame again gets the cached answer."""
    port = protocol_sim.Serial("sim://?card=doctor&native=0&keypad=1234E|0000E")

    def exchange(message: bytes) -> bytes:
        port.write(encode_frame(message))
        return bytes(port.read(4096))

    exchange(build_message(wire.PC_TO_RDR_ICC_POWER_ON, 0, 1, bPowerSelect=1))
    exchange(build_message(wire.PC_TO_RDR_ESCAPE, 0, 2, b"\x1f\x02"))
    data = cps.pinpad.verify_data(cps.pinpad.pin_template(0x00, 0x20, 0x00, 0x01), cps.pinpad.CPS_PIN)
    first = exchange(build_message(wire.PC_TO_RDR_SECURE, 0, 3, data))
    again = exchange(build_message(wire.PC_TO_RDR_SECURE, 0, 3, data))
    assert first == again and first.endswith(encode_frame(bytes.fromhex("80 02 00 00 00 00 03 00 00 00 90 00")))
    assert port.keypad.entries_started == 1 and port.keypad.pending == [[(KEY_GAP_MS, 0x30)] * 4 +
                                                                         [(KEY_GAP_MS, hal.KEY_ENTER)]]
    port.close()


# -- cpsdi sim on a pty: control socket and CLI ----------------------------------------------------


@contextmanager
def sim_process(tmp: Path, *options: str) -> Iterator[tuple[str, Path]]:
    ctl = tmp / "control"
    with open(tmp / "sim.stderr", "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()", "--card-time",
                                 "virtual", "--control", str(ctl), "--duration", "300", *options],
                                stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/"), (tmp / "sim.stderr").read_text()
        yield path, ctl
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def control(ctl: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(str(ctl))
        c.sendall(command.encode() + b"\n")
        return c.recv(4096).decode().strip()


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def test_cli_on_reader_over_the_pty_with_control_commands(tmp_path: Path) -> None:
    with sim_process(tmp_path, "--card", "doctor", "--keypad", "1234E") as (path, ctl):
        code, out = cli("pin", "verify", "--on-reader", "--port", path)
        assert code == 0 and "PIN verified" in out
        assert control(ctl, "keypad 9999E") == "ok"
        code, out = cli("pin", "verify", "--on-reader", "--port", path)
        assert code == EXIT_PIN and "wrong PIN: 2 tries left" in out and "9999" not in out
        assert control(ctl, "keypad C") == "ok"
        code, out = cli("pin", "verify", "--on-reader", "--port", path)
        assert code == EXIT_PIN and "cancelled" in out
        code, out = cli("pin", "verify", "--on-reader", "--entry-timeout", "3", "--port", path)  # nothing queued
        assert code == EXIT_PIN and "in time" in out
        assert control(ctl, "keypad 1234E 4321E 4321E") == "ok"
        code, out = cli("pin", "change", "--on-reader", "--port", path, "--json")
        assert code == 0 and '"changed": true' in out
        display = control(ctl, "display")
        assert "prompt 2: ****" in display and not any(d in display for d in ("1234", "4321", "9999"))
        assert control(ctl, "keypad 12Z").startswith("error: keypad script")
        assert control(ctl, "display") == "(empty)"


def test_cli_on_reader_without_a_keypad_exits_5(tmp_path: Path) -> None:
    code, out = cli("pin", "verify", "--on-reader", "--port", "sim://?card=doctor")
    assert code == EXIT_CARD and "no PIN pad" in out
    with sim_process(tmp_path, "--card", "doctor") as (_, ctl):
        assert control(ctl, "keypad 1234E").startswith("error: no PIN pad")


def test_a_slow_holder_is_covered_by_keepalives_and_the_host_can_abort(tmp_path: Path) -> None:
    """Real keypad time: the holder takes 2.5 s, the host waits 1 s at a time (keep-alives
    restart it, no retransmission); then an entry nobody types is aborted from the host."""
    with sim_process(tmp_path, "--card", "doctor", "--keypad", "w2500 1234E", "--keypad-time", "real") as (path, _):
        with Reader.open(path, timeout_s=1.0) as reader, reader.slots[0].connect() as conn:
            card = cps.open_card(conn)
            before = reader.counters()["keepalives"]
            cps.verify_pin_on_reader(card)
            assert reader.counters()["keepalives"] >= before + 4  # one per 500 ms of waiting
            assert reader.link.retransmissions == 0
            timer = threading.Timer(1.0, reader.abort)
            timer.start()
            try:
                with pytest.raises(CommandAbortedError):
                    cps.verify_pin_on_reader(card)  # nothing queued: the holder never types
            finally:
                timer.join()
            assert card.pin_status().verified  # no card exchange was aborted: the card is still on


def test_malformed_and_random_secure_structures_never_crash_the_reader() -> None:
    """Through the whole firmware (link, service, slot, virtual card): a malformed structure is
    answered with its bError before any key; random mutations of valid ones give a DataBlock
    (a card answer, or a CCID error) and never an internal error."""
    import random

    port = protocol_sim.Serial("sim://?card=doctor&native=0&keypad=")
    seq = [0]

    def request(message_type: int, data: bytes = b"", **params: int) -> bytes:
        seq[0] = (seq[0] + 1) & 0xFF
        port.write(encode_frame(build_message(message_type, 0, seq[0], data, **params)))
        raw = bytes(port.read(4096))
        assert raw[:2] == b"\x03\x06" and raw[13:15] == b"\x03\x06", raw.hex()
        return raw[15:-1]  # the answer message, after the 13-byte header-only echo

    request(wire.PC_TO_RDR_ICC_POWER_ON, bPowerSelect=1)
    request(wire.PC_TO_RDR_ESCAPE, b"\x1f\x02")
    good_verify = cps.pinpad.verify_data(cps.pinpad.pin_template(0x00, 0x20, 0x00, 0x01), cps.pinpad.CPS_PIN)
    bad = bytearray(good_verify)
    bad[7] = 0  # bEntryValidationCondition
    answer = request(wire.PC_TO_RDR_SECURE, bytes(bad))
    assert answer[:1] == b"\x80" and answer[7:9] == b"\x40\x11"
    good_change = cps.pinpad.modify_data(cps.pinpad.pin_template(0x00, 0x24, 0x00, 0x01, blocks=2),
                                         cps.pinpad.CPS_PIN, confirm=3, offset_new=8, messages=(0, 1, 2))
    rng = random.Random(12)
    for _ in range(300):
        data = bytearray(rng.choice((good_verify, good_change)))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)):]
        port.keypad.add("1234E")  # in case the mutation is still a valid structure
        answer = request(wire.PC_TO_RDR_SECURE, bytes(data))
        assert answer[:1] == b"\x80", answer.hex()
        assert answer[7] & 0x40 == 0 or answer[8] != wire.ERR_HW_ERROR, bytes(data).hex()
        port.keypad.clear()
    link = port.firmware.link
    assert link.errors == 0
    assert port.keypad.entries_started > 0  # some mutations were still valid and got typed
    port.close()
