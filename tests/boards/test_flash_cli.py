"""``cpsdi fw flash`` command assembly, without hardware: subprocess is replaced by a recorder."""

import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cpsdi import flash_cli
from cpsdi.flash_cli import BoardInfo, FlashError, flash, flash_sources, load_board, plan_flash


def test_load_board_reads_the_module() -> None:
    info = load_board("pico_tda8035")
    assert info == BoardInfo("pico_tda8035", "armv6m",
                             ("board_check", "pio_iso7816", "tda8035", "rp2_pio_iso7816", "uart_host",
                              "device_boot"))
    assert load_board("nucleo_l476_sc").arch == "armv7emsp"


@pytest.mark.parametrize("name,match", [("nope", "unknown board"), ("sim", "cannot be flashed"),
                                        ("pio_iso7816", "not a board module"), ("../x", "cannot be flashed")])
def test_load_board_errors(name: str, match: str) -> None:
    with pytest.raises(FlashError, match=match):
        load_board(name)


def test_sources_include_the_drivers() -> None:
    info = load_board("pico_tda8035")
    paths = [p for p, _ in flash_sources(info)]
    assert paths == sorted(paths)
    for rel in ("cpsdi_boards/__init__.py", "cpsdi_boards/pico_tda8035.py", "cpsdi_boards/rp2_pio_iso7816.py",
                "cpsdi_boards/pio_iso7816.py", "cpsdi_boards/tda8035.py", "cpsdi_boards/uart_host.py",
                "cpsdi_fw/main.py", "cpsdi_fw/hal.py", "cpsdi_proto/compat.py"):
        assert rel in paths
    assert not any(p.startswith("cpsdi_boards/sim") or "stm32" in p or "nucleo" in p for p in paths)


def test_plan_exact_command_lines() -> None:
    info = BoardInfo("pico_tda8035", "armv6m", ("pio_iso7816",))
    sources = [("cpsdi_fw/hal.py", Path("/src/firmware/cpsdi_fw/hal.py")),
               ("cpsdi_boards/pico_tda8035.py", Path("/src/boards/cpsdi_boards/pico_tda8035.py"))]
    plan = plan_flash(info, "/dev/ttyACM0", Path("/stage"), sources, opt=2, mpy_cross="mpy-cross", mpremote="mpremote")
    assert plan == [
        ["mpy-cross", "-march=armv6m", "-O2", "-s", "cpsdi_fw/hal.py", "-o", "/stage/cpsdi_fw/hal.mpy",
         "/src/firmware/cpsdi_fw/hal.py"],
        ["mpy-cross", "-march=armv6m", "-O2", "-s", "cpsdi_boards/pico_tda8035.py", "-o",
         "/stage/cpsdi_boards/pico_tda8035.mpy", "/src/boards/cpsdi_boards/pico_tda8035.py"],
        ["mpremote", "connect", "/dev/ttyACM0", "fs", "cp", "-r", "/stage/cpsdi_proto", "/stage/cpsdi_fw",
         "/stage/cpsdi_boards", ":", "+", "fs", "cp", "/stage/main.py", ":main.py",
         "+", "fs", "cp", "/stage/cpsdi_keys.py", ":cpsdi_keys.py", "+", "reset"],
    ]


class Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.main_py = ""
        self.fail_on = fail_on

    def __call__(self, cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(cmd)
        if ":main.py" in cmd:
            self.main_py = Path(cmd[cmd.index(":main.py") - 1]).read_text()
            self.keys_py = Path(cmd[cmd.index(":cpsdi_keys.py") - 1]).read_text()
        rc = 1 if self.fail_on and self.fail_on in cmd else 0
        return subprocess.CompletedProcess(cmd, rc, "", "could not enter raw repl" if rc else "")


@pytest.mark.parametrize("board,arch", [("pico_tda8035", "armv6m"), ("nucleo_l476_sc", "armv7emsp")])
def test_cli_runs_compile_copy_reset(monkeypatch: pytest.MonkeyPatch, board: str, arch: str) -> None:
    rec = Recorder()
    monkeypatch.setattr(flash_cli.subprocess, "run", rec)
    r = CliRunner().invoke(flash, ["--board", board, "--port", "/dev/ttyUSB1", "--mpremote", "mpremote"])
    assert r.exit_code == 0, r.output
    n = len(flash_sources(load_board(board)))
    assert len(rec.commands) == n + 1
    compiles, copy = rec.commands[:-1], rec.commands[-1]
    assert all(c[0].endswith("mpy-cross") and c[1] == f"-march={arch}" and c[2] == "-O0" for c in compiles)
    stage = Path(copy[6]).parent
    assert copy == ["mpremote", "connect", "/dev/ttyUSB1", "fs", "cp", "-r", f"{stage}/cpsdi_proto",
                    f"{stage}/cpsdi_fw", f"{stage}/cpsdi_boards", ":", "+", "fs", "cp", f"{stage}/main.py",
                    ":main.py", "+", "fs", "cp", f"{stage}/cpsdi_keys.py", ":cpsdi_keys.py", "+", "reset"]
    assert f"from cpsdi_boards.{board} import main\n" in rec.main_py
    assert not stage.exists()  # staging folder removed


def test_cli_writes_the_trusted_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from cpsdi.update.keys import public_pem

    key = Ed25519PrivateKey.generate().public_key()
    pem = tmp_path / "vendor.pub.pem"
    pem.write_bytes(public_pem(key))
    rec = Recorder()
    monkeypatch.setattr(flash_cli.subprocess, "run", rec)
    r = CliRunner().invoke(flash, ["--board", "pico_tda8035", "--port", "/dev/ttyACM0", "--mpremote", "mpremote",
                                   "--trusted-key", str(pem)])
    assert r.exit_code == 0, r.output
    namespace: dict[str, Any] = {}
    exec(rec.keys_py, namespace)
    assert namespace["KEYS"] == (key.public_bytes(Encoding.Raw, PublicFormat.Raw),)
    r = CliRunner().invoke(flash, ["--board", "pico_tda8035", "--port", "/dev/ttyACM0", "--mpremote", "mpremote"])
    assert r.exit_code == 0 and "refuse every update image" in " ".join(r.output.split())
    namespace = {}
    exec(rec.keys_py, namespace)
    assert namespace["KEYS"] == ()
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    r = CliRunner().invoke(flash, ["--board", "pico_tda8035", "--port", "/dev/ttyACM0", "--mpremote", "mpremote",
                                   "--trusted-key", str(bad)])
    assert r.exit_code == 1 and "not a PEM public key" in " ".join(r.output.split())


def test_cli_reports_a_failing_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flash_cli.subprocess, "run", Recorder(fail_on="reset"))
    r = CliRunner().invoke(flash, ["--board", "pico_tda8035", "--port", "/dev/ttyACM0", "--mpremote", "mpremote"])
    assert r.exit_code == 1
    assert "could not enter raw repl" in " ".join(r.output.split())  # rich wraps lines


def test_cli_refuses_an_invalid_board(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    monkeypatch.setattr(flash_cli.subprocess, "run", rec)
    r = CliRunner().invoke(flash, ["--board", "sim", "--port", "/dev/ttyACM0"])
    assert r.exit_code == 1 and "cannot be flashed" in r.output
    assert rec.commands == []


def test_dry_run_prints_without_running(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    monkeypatch.setattr(flash_cli.subprocess, "run", rec)
    r = CliRunner().invoke(flash, ["--board", "pico_tda8035", "--port", "COM3", "--dry-run", "--mpremote", "mpremote"])
    assert r.exit_code == 0 and rec.commands == []
    assert r.output.splitlines()[-1].startswith("mpremote connect COM3 fs cp -r ")
