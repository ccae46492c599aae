"""``cpsdi fw flash``: install the firmware on a MicroPython board over its REPL (docs/boards.md §Deployment).

Steps, each an external command (:func:`plan_flash` builds them, :func:`run_plan` runs them):

1. import ``cpsdi_boards.<board>`` on the host: the board module validates its own definition at
   import (pins, clocks, etu accuracy), so a wrong board never reaches the device;
2. ``mpy-cross -march=<board's MPY_ARCH> -O<opt> -s <path> -o <stage>/<path>.mpy <source>`` for
   every file of ``cpsdi_proto``, ``cpsdi_fw``, ``cpsdi_boards/__init__.py``, the board module
   and the board's driver modules (its ``MODULES``);
3. a ``main.py`` that starts the reader with that board (``from cpsdi_boards.<board> import main``);
4. ``cpsdi_keys.py``: the update keys (``--trusted-key``), at the device's root where no update
   bundle reaches (the boot selector imports them before any slot is on ``sys.path``);
5. ``mpremote connect <port> fs cp -r <stage>/cpsdi_proto <stage>/cpsdi_fw <stage>/cpsdi_boards :
   + fs cp <stage>/main.py :main.py + fs cp <stage>/cpsdi_keys.py :cpsdi_keys.py + reset`` (copy,
   select the board, hard reset). What is copied is the *factory* image (docs/update-channel.md).

mpremote talks to the REPL (USB CDC on the Pico, the ST-LINK COM port on the Nucleo): a
development path. Field updates go through the signed update channel (``cpsdi fw build``).
"""

from __future__ import annotations

import importlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from cpsdi.exceptions import UpdateError

console = Console()
err_console = Console(stderr=True)

DEVICE_DIRS = ("cpsdi_proto", "cpsdi_fw", "cpsdi_boards")
KEYS_PY = "cpsdi_keys.py"
MAIN_PY = """# Written by `cpsdi fw flash --board {board}`: start the reader on this board.
from cpsdi_boards.{board} import main

main()
"""


class FlashError(UpdateError):
    """The board definition, a compile step or an mpremote step failed."""


@dataclass(frozen=True)
class BoardInfo:
    """What ``flash`` needs from a board module."""

    name: str
    arch: str
    modules: tuple[str, ...]


def load_board(name: str) -> BoardInfo:
    """Import ``cpsdi_boards.<name>`` (which validates it) and read NAME, MPY_ARCH, MODULES."""
    from cpsdi.update.bundle import HOST_ONLY_BOARDS, MPY_ARCHS

    if name in HOST_ONLY_BOARDS or not name.isidentifier():
        raise FlashError(f"board {name!r} cannot be flashed (not a device board)", "board")
    try:
        module = importlib.import_module(f"cpsdi_boards.{name}")
    except ModuleNotFoundError as exc:
        raise FlashError(f"unknown board {name!r} (no module cpsdi_boards.{name})", "board") from exc
    except ValueError as exc:  # board_check.BoardError: the definition is impossible
        raise FlashError(str(exc), "board") from exc
    arch = getattr(module, "MPY_ARCH", None)
    modules = getattr(module, "MODULES", None)
    if getattr(module, "NAME", None) != name or not callable(getattr(module, "main", None)):
        raise FlashError(f"cpsdi_boards.{name} is not a board module (NAME, main() missing)", "board")
    if not isinstance(arch, str) or arch not in MPY_ARCHS[1:]:
        raise FlashError(f"board {name}: MPY_ARCH {arch!r} is not an mpy-cross -march", "board")
    if not isinstance(modules, tuple) or not all(isinstance(m, str) for m in modules):
        raise FlashError(f"board {name}: MODULES must be a tuple of module names", "board")
    return BoardInfo(name, arch, tuple(str(m) for m in modules))


def flash_sources(board: BoardInfo) -> list[tuple[str, Path]]:
    """(device path of the ``.py``, source) for everything ``board`` needs on the device, sorted."""
    from cpsdi.update.bundle import device_sources

    sources = dict(device_sources(board.name))
    boards_dir = Path(importlib.import_module("cpsdi_boards").__file__ or "").parent
    for module in board.modules:
        path = boards_dir / f"{module}.py"
        if not path.is_file():
            raise FlashError(f"board {board.name}: driver module cpsdi_boards/{module}.py not found", "board")
        sources[f"cpsdi_boards/{module}.py"] = path
    return sorted(sources.items())


def default_tool(name: str) -> str:
    """``name`` next to the running interpreter (the venv's console script), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def plan_flash(board: BoardInfo, port: str, stage: Path, sources: list[tuple[str, Path]], *, opt: int = 0,
               mpy_cross: str = "mpy-cross", mpremote: str = "mpremote") -> list[list[str]]:
    """The exact command lines of a flash, in order (the stage directory is filled by them + main.py)."""
    commands: list[list[str]] = []
    for rel, src in sources:
        out = stage / (rel[:-3] + ".mpy")
        commands.append([mpy_cross, f"-march={board.arch}", f"-O{opt}", "-s", rel, "-o", str(out), str(src)])
    copy = [mpremote, "connect", port, "fs", "cp", "-r"] + [str(stage / d) for d in DEVICE_DIRS] + [":"]
    commands.append(copy + ["+", "fs", "cp", str(stage / "main.py"), ":main.py",
                            "+", "fs", "cp", str(stage / KEYS_PY), f":{KEYS_PY}", "+", "reset"])
    return commands


def write_keys(stage: Path, key_files: list[Path]) -> Path:
    """``cpsdi_keys.py``: the raw Ed25519 public keys the boot selector and the updater trust.

    It goes to the device's root, outside the packages an update bundle replaces
    (docs/update-channel.md "Boot path on a device")."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from cpsdi.update.keys import load_public_key

    raws = [load_public_key(f).public_bytes(Encoding.Raw, PublicFormat.Raw) for f in key_files]
    body = "".join(f"    {raw!r},\n" for raw in raws)
    path = stage / KEYS_PY
    path.write_text(f"# Written by `cpsdi fw flash`: the update keys this reader trusts.\nKEYS = (\n{body})\n")
    return path


def write_main(board: BoardInfo, stage: Path) -> Path:
    path = stage / "main.py"
    path.write_text(MAIN_PY.format(board=board.name))
    return path


def run_plan(commands: list[list[str]]) -> None:
    """Run the commands in order; the first failure raises :class:`FlashError` with its output."""
    for cmd in commands:
        if len(cmd) > 1 and cmd[1].startswith("-march=") and "-o" in cmd:  # mpy-cross: create the output folder
            Path(cmd[cmd.index("-o") + 1]).parent.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FlashError(f"{shlex.join(cmd)}: {exc}", "command") from exc
        if result.returncode != 0:
            output = (result.stderr or result.stdout or "").strip()
            raise FlashError(f"{shlex.join(cmd)} failed (exit {result.returncode}): {output}", "command")


@click.command("flash")
@click.option("--board", required=True, help="Board module in cpsdi_boards (e.g. pico_tda8035, nucleo_l476_sc).")
@click.option("--port", required=True, help="The board's REPL serial port for mpremote (e.g. /dev/ttyACM0).")
@click.option("--opt", "opt_level", type=click.IntRange(0, 3), default=0, show_default=True, help="mpy-cross -O level.")
@click.option("--mpremote", "mpremote_cmd", default=None, help="mpremote executable (default: the venv's).")
@click.option("--trusted-key", "trusted_keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Public key (PEM, from `cpsdi fw keygen`) whose signed images the reader accepts (repeatable). "
                   "None: every update image is refused.")
@click.option("--dry-run", is_flag=True, help="Print the commands without running them.")
def flash(board: str, port: str, opt_level: int, mpremote_cmd: str | None, trusted_keys: tuple[Path, ...],
          dry_run: bool) -> None:
    """Compile the firmware for BOARD with mpy-cross, copy it with mpremote, select the board, reboot."""
    from cpsdi.update.bundle import mpy_cross_path

    try:
        info = load_board(board)
        sources = flash_sources(info)
        mpy_cross = mpy_cross_path()
    except UpdateError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)
    stage = Path(tempfile.mkdtemp(prefix="cpsdi-flash-"))
    try:
        commands = plan_flash(info, port, stage, sources, opt=opt_level, mpy_cross=mpy_cross,
                              mpremote=mpremote_cmd or default_tool("mpremote"))
        if dry_run:
            for cmd in commands:
                click.echo(shlex.join(cmd))
            return
        write_main(info, stage)
        try:
            write_keys(stage, list(trusted_keys))
        except UpdateError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}")
            sys.exit(1)
        if not trusted_keys:
            err_console.print("[yellow]warning:[/yellow] no --trusted-key: the reader will refuse every update image")
        console.print(f"board {info.name} ({info.arch}): {len(sources)} files -> {escape(port)}")
        try:
            run_plan(commands)
        except FlashError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}")
            sys.exit(1)
        console.print(f"flashed {info.name}: main.py starts the reader; the board was reset")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
