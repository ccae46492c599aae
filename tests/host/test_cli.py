"""The cpsdi command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import serial
from click.testing import CliRunner

from cpsdi import __version__
from cpsdi.cli import main
from cpsdi.exceptions import ReaderTimeoutError
from cpsdi.selftest import run_selftest


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"cpsdi, version {__version__}\n"


def test_selftest_loop_json() -> None:
    result = CliRunner().invoke(main, ["selftest", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["failures"] == []
    # 19 message types x 8 sizes in compat framing, plus 2 native frames
    assert report["frames"] == 19 * 8 + 2


def test_selftest_bad_port_is_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["selftest", "--port", "/dev/cpsdi-does-not-exist"])
    assert result.exit_code == 2
    assert "cannot open /dev/cpsdi-does-not-exist" in result.output


def test_selftest_detects_a_silent_line(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_class = type(serial.serial_for_url("loop://", do_not_open=True))

    class Deaf(loop_class):  # type: ignore[valid-type,misc]
        """A loop:// line that loses everything written to it."""

        def write(self, data: bytes) -> int:  # type: ignore[override]
            return len(data)

    def deaf_for_url(url: str, **kwargs: object) -> serial.SerialBase:
        port = Deaf(None, **kwargs)
        port.port = url
        port.open()
        return port

    monkeypatch.setattr(serial, "serial_for_url", deaf_for_url)
    with pytest.raises(ReaderTimeoutError, match="no frame came back within 0.2 s"):
        run_selftest(timeout_s=0.2)


def test_module_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "cpsdi", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and __version__ in out.stdout


def test_readers_lists_and_probes_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from serial.tools import list_ports

    fake = [SimpleNamespace(device="sim://?card=t0", description="simulated", hwid="SIM"),
            SimpleNamespace(device="/dev/cpsdi-nothing-here", description="gone", hwid="X")]
    monkeypatch.setattr(list_ports, "comports", lambda: fake)
    result = CliRunner().invoke(main, ["readers", "--probe", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["port"] for r in rows] == ["/dev/cpsdi-nothing-here", "sim://?card=t0"]
    assert rows[1]["reader"] == {"board": "sim", "firmware": "0.1.0", "slots": 1}
    assert rows[0]["reader"] is None and "/dev/cpsdi-nothing-here" in rows[0]["error"]
