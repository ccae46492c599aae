"""What the gates check: the device-code file list, and a subprocess helper.

Device code = every .py under protocol/cpsdi_proto, firmware/cpsdi_fw and
boards/cpsdi_boards, except boards/cpsdi_boards/sim/ (the CPython-only simulator).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# (source root, import package)
DEVICE_PACKAGES = (
    ("protocol", "cpsdi_proto"),
    ("firmware", "cpsdi_fw"),
    ("boards", "cpsdi_boards"),
)
BOARDS_DIR = ROOT / "boards" / "cpsdi_boards"
SIM_DIR = BOARDS_DIR / "sim"


def _walk_py(top: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        out.extend(Path(dirpath) / f for f in filenames if f.endswith(".py"))
    return out


def device_files() -> list[Path]:
    """Absolute paths of all device modules, sorted."""
    files: list[Path] = []
    for src, pkg in DEVICE_PACKAGES:
        files.extend(_walk_py(ROOT / src / pkg))
    return sorted(f for f in files if SIM_DIR not in f.parents)


def is_board_file(path: Path) -> bool:
    return BOARDS_DIR in path.parents


# Board modules for an STM32 part start with one of these (checked against the STM32 stubs,
# tools/typecheck/pyright-device-stm32.json includes the same globs, pyright-device-rp2.json
# excludes them): the STM32 drivers (stm32_*) and the STM32 board definitions (nucleo_*).
# Everything else in boards/cpsdi_boards (RP2040/RP2350 boards and drivers, and the pure,
# port-independent modules they share) is checked against the rp2 stubs.
STM32_BOARD_PREFIXES = ("stm32", "nucleo_")


def is_stm32_board_file(path: Path) -> bool:
    """boards/cpsdi_boards/{stm32,nucleo_}*(.py or /...): checked against the STM32 stubs."""
    if not is_board_file(path):
        return False
    return path.relative_to(BOARDS_DIR).parts[0].startswith(STM32_BOARD_PREFIXES)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass
class Run:
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def shell(self) -> str:
        """The command as a developer would type it from the repo root."""
        return shlex.join(self.cmd)

    def report(self, limit: int = 12000) -> str:
        text = "$ cd %s && %s\n(exit %d after %.1f s)\n" % (ROOT, self.shell, self.returncode, self.seconds)
        for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)):
            stream = stream.rstrip()
            if stream:
                if len(stream) > limit:
                    stream = "[... %d characters cut ...]\n" % (len(stream) - limit) + stream[-limit:]
                text += "--- %s ---\n%s\n" % (name, stream)
        return text


def run(cmd: list[str], timeout: float) -> Run:
    """Run `cmd` from the repo root; never raises on a non-zero exit or a timeout."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Run(cmd, -1, out, err + "\nTIMEOUT after %.0f s" % timeout, time.monotonic() - t0)
    return Run(cmd, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def venv_tool(name: str) -> str:
    """A console script of the interpreter running pytest (the project venv)."""
    path = VENV_BIN / name
    return str(path) if path.exists() else name


def check(condition: object, message: str) -> None:
    """Fail the test with `message` alone (no Python traceback: the message says it all)."""
    if not condition:
        pytest.fail(message, pytrace=False)
