"""CLI commands info / atr / apdu / trace show, against fake readers behind a fake:// pyserial URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_link_client_support import FAKES, FakeCard, FakeReader, register_url_handler

from cpsdi.cli import main
from cpsdi.cli_common import EXIT_CARD, EXIT_PROTOCOL, EXIT_STATUS_WORD, EXIT_TIMEOUT, EXIT_TRANSPORT


@pytest.fixture
def fake() -> Iterator[FakeReader]:
    register_url_handler()
    reader = FakeReader(slots=2, cards={0: FakeCard(), 1: None})
    FAKES["cli"] = reader
    yield reader
    FAKES.pop("cli", None)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_info_json_and_text(fake: FakeReader) -> None:
    code, out, _ = run("info", "--port", "fake://cli", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["board"] == "fake" and report["link"] == "native" and report["slots"] == 2
    code, out, _ = run("info", "--port", "fake://cli", "--no-native")
    assert code == 0 and "fake-1.0" in out and "compat" in out


def test_atr(fake: FakeReader) -> None:
    code, out, _ = run("atr", "--port", "fake://cli", "--json")
    assert code == 0 and json.loads(out)["atr"] == "3B021450" and json.loads(out)["protocol"] == "T=0"
    code, out, _ = run("atr", "--port", "fake://cli")
    assert code == 0 and "3B 02 14 50" in out
    code, _, err = run("atr", "--port", "fake://cli", "--slot", "1")
    assert code == EXIT_CARD and "no card in slot 1" in err and "Traceback" not in err
    code, _, err = run("atr", "--port", "fake://cli", "--slot", "5")
    assert code == EXIT_PROTOCOL and "no slot 5" in err


def test_apdu_text_json_check_and_pin_redaction(fake: FakeReader, tmp_path: Path) -> None:
    code, out, _ = run("apdu", "--port", "fake://cli", "00 A4 04 00 07 A0 00 00 00 03 10 10", "0084000008")
    assert code == 0 and "9000" in out and "01 02 03 04 05 06 07 08" in out
    trace = tmp_path / "cli.jsonl"
    code, out, _ = run("apdu", "--port", "fake://cli", "--json", "--trace", str(trace), "002000010431323334", "00B0000004")
    assert code == 0
    report = json.loads(out)
    assert [e["sw"] for e in report["exchanges"]] == ["9000", "9000"]
    assert "31323334" not in out.replace(" ", "") and "31 32 33 34" not in trace.read_text()
    assert "31323334" not in trace.read_text()
    code, _, err = run("apdu", "--port", "fake://cli", "--check", "00A4040002A000")
    assert code == EXIT_STATUS_WORD and "6A82" in err
    code, _, err = run("apdu", "--port", "fake://cli", "zz")
    assert code == 2 and "not hexadecimal" in err


def test_trace_show(fake: FakeReader, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    assert run("atr", "--port", "fake://cli", "--trace", str(trace))[0] == 0
    code, out, _ = run("trace", "show", str(trace))
    assert code == 0 and "H>R compat" in out and "H>R native" in out and "ATR 3B 02 14 50" in out


def test_errors_are_clean_messages(fake: FakeReader) -> None:
    code, _, err = run("info", "--port", "/dev/cpsdi-does-not-exist")
    assert code == EXIT_TRANSPORT and "cannot open" in err and "Traceback" not in err
    fake.faults.extend(["drop"] * 4)
    code, _, err = run("info", "--port", "fake://cli", "--timeout", "0.05")
    assert code == EXIT_TIMEOUT and "no answer" in err
