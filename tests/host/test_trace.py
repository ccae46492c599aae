"""Traces: JSON lines of frames and APDUs, PIN redaction everywhere (trace file, DEBUG logs, exceptions)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from cpsdi_proto import ccid as wire
from test_link_client_support import FakeCard, FakeReader

from cpsdi.exceptions import FramingError, ReaderError
from cpsdi.framing import encode_frame
from cpsdi.reader import Reader
from cpsdi.trace import format_trace, read_trace, redact_apdu, redact_bad_frame, redact_frame, redact_message
from cpsdi.transport import Transport

PIN = b"4821"  # the fake card's PIN is 1234: this one fails, which exercises error paths too
PIN_HEX = PIN.hex()
NEW_PIN = b"7390"


def _forbidden(text: str) -> list[str]:
    """PIN spellings (ASCII digits, hex with or without spaces) that appear in ``text``.

    Numbers with a decimal point (timestamps, durations) are removed first: "0.112348" is
    not a PIN.
    """
    text = re.sub(r"\d+\.\d+(e-?\d+)?", "<n>", text)
    low = text.lower().replace(" ", "")
    hits = []
    for secret in (PIN, NEW_PIN, b"1234"):
        if secret.hex() in low or secret.decode() in text:
            hits.append(secret.decode())
    return hits


def _pin_apdus() -> list[bytes]:
    return [
        bytes.fromhex("0020000104") + PIN,  # VERIFY
        bytes.fromhex("8020000104") + PIN,  # proprietary class, same INS
        bytes.fromhex("0C20000104") + PIN,  # secure messaging class bits
        bytes.fromhex("1024000104") + PIN,  # CHANGE REFERENCE DATA, chained (CLA b5), first part
        bytes.fromhex("0024000104") + NEW_PIN,  # ... last part
        bytes.fromhex("002C000108") + PIN + NEW_PIN,  # RESET RETRY COUNTER
        bytes.fromhex("00C2000009") + bytes.fromhex("0020000104") + PIN,  # ENVELOPE around a VERIFY
        bytes.fromhex("00200001000004") + PIN,  # extended length
    ]


@pytest.mark.parametrize("apdu", _pin_apdus())
def test_redact_apdu_and_frames(apdu: bytes) -> None:
    assert not _forbidden(redact_apdu(apdu))
    assert redact_apdu(apdu).startswith(apdu[:4].hex(" ").upper())
    message = bytes([wire.PC_TO_RDR_XFR_BLOCK]) + len(apdu).to_bytes(4, "little") + bytes(5) + apdu
    assert not _forbidden(redact_message(message))
    for native in (False, True):
        frame = encode_frame(message, native=native)
        shown = redact_frame(frame, native)
        assert not _forbidden(shown)
        assert shown.endswith("**")  # the LRC/CRC is hidden too


def test_bad_frames_show_their_header_only() -> None:
    apdu = _pin_apdus()[0]
    message = bytes([wire.PC_TO_RDR_XFR_BLOCK]) + len(apdu).to_bytes(4, "little") + bytes(5) + apdu
    frame = bytearray(encode_frame(message))
    frame[2 + 10 + 1] ^= 0xFF  # INS mangled: the frame no longer looks like a VERIFY
    shown = redact_bad_frame(bytes(frame))
    assert not _forbidden(shown) and shown.endswith("(+10 bytes hidden)")


def test_corrupted_echo_of_a_verify_is_not_shown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    trace = tmp_path / "t.jsonl"
    fake = FakeReader(echo="full")
    with Reader.open("fake://t", transport=Transport(fake, url="fake://t"), timeout_s=0.1, native=False, trace=trace) as reader:
        with reader.slots[0].connect() as card:
            fake.faults.append("corrupt_echo")
            assert card.transmit(bytes.fromhex("0020000104") + b"1234").ok
    text = trace.read_text()
    assert "bad check" in text and not _forbidden(text)
    assert not _forbidden("\n".join(r.getMessage() for r in caplog.records))


def test_other_apdus_are_shown_in_full() -> None:
    select = bytes.fromhex("00A4040007A0000000031010")
    assert redact_apdu(select) == select.hex(" ").upper()


def test_verify_pin_never_in_trace_logs_or_exceptions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    trace = tmp_path / "t.jsonl"
    fake = FakeReader(echo="full")  # the compat echo repeats the VERIFY frame
    errors: list[str] = []
    with Reader.open("fake://t", transport=Transport(fake, url="fake://t"), timeout_s=0.1, native=False, trace=trace) as reader:
        with reader.slots[0].connect() as card:
            for apdu in _pin_apdus():
                fake.faults.append("corrupt")  # retransmission path, bad-check record
                try:
                    card.transmit(apdu, check=True)
                except ReaderError as exc:
                    errors.append(str(exc))
            # a VERIFY that never gets a good answer: exception path
            fake.faults.extend(["corrupt"] * 4)
            with pytest.raises(FramingError) as exc_info:
                card.transmit(_pin_apdus()[0])
            errors.append(str(exc_info.value))
            errors.append(repr(exc_info.value))
    text = trace.read_text()
    assert "PC_to_RDR_XfrBlock" in text and "**" in text
    assert not _forbidden(text), text
    assert not _forbidden(format_trace(trace))
    assert errors and not any(_forbidden(e) for e in errors), errors
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "H>R" in logged and not _forbidden(logged)
    # the fake card really received the PIN (the redaction is on our side only)
    card_model = fake.cards[0]
    assert card_model is not None and any(PIN in a for a in card_model.apdus)


def test_trace_records_frames_apdus_and_link_events(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    fake = FakeReader()
    with Reader.open("fake://t", transport=Transport(fake, url="fake://t"), timeout_s=0.1, trace=trace) as reader:
        with reader.slots[0].connect() as card:
            fake.faults.append("nak")
            card.transmit(bytes.fromhex("00A4040007A0000000031010"))
    records = read_trace(trace)
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "open" and kinds[-1] == "close"
    frames = [r for r in records if r["kind"] == "frame"]
    assert {r["dir"] for r in frames} == {"tx", "rx"}
    assert all(isinstance(r["t"], float) for r in records)
    assert [r["t"] for r in records] == sorted(r["t"] for r in records)
    assert any(r["native"] for r in frames) and any(not r["native"] for r in frames)
    apdus = [r for r in records if r["kind"] == "apdu"]
    assert [a["dir"] for a in apdus] == ["command", "response"] and apdus[1]["sw"] == "9000"
    whats = [r.get("what", "") for r in records if r["kind"] == "link"]
    assert "NAK" in whats and any(w.startswith("retransmission") for w in whats)
    json.dumps(records)
    shown = format_trace(trace)
    assert "APDU[0] > 00 A4 04 00 07" in shown and "SW 9000 (success)" in shown and "H>R native" in shown
