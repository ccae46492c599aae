"""What the ``cpsdi`` commands share: exit codes, consoles, error handling, reader options."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from cpsdi.exceptions import (
    CardError,
    FramingError,
    ReaderError,
    ReaderProtocolError,
    ReaderTimeoutError,
    StatusWordError,
    TransportError,
)

EXIT_ERROR = 1
EXIT_TRANSPORT = 3
EXIT_TIMEOUT = 4
EXIT_CARD = 5
EXIT_PROTOCOL = 6
EXIT_STATUS_WORD = 7
EXIT_PIN = 8
"""Exit codes of the reader commands (2 is click's usage error): 8 = wrong or blocked PIN."""

console = Console()
err_console = Console(stderr=True)


def exit_code(exc: ReaderError) -> int:
    from cpsdi.cps.errors import CPSError, InvalidPinFormat, PinError

    if isinstance(exc, InvalidPinFormat):
        return EXIT_ERROR
    if isinstance(exc, PinError):
        return EXIT_PIN
    if isinstance(exc, CPSError):
        return EXIT_CARD
    if isinstance(exc, ReaderTimeoutError):
        return EXIT_TIMEOUT
    if isinstance(exc, TransportError):
        return EXIT_TRANSPORT
    if isinstance(exc, CardError):
        return EXIT_CARD
    if isinstance(exc, (ReaderProtocolError, FramingError)):
        return EXIT_PROTOCOL
    if isinstance(exc, StatusWordError):
        return EXIT_STATUS_WORD
    return EXIT_ERROR


@contextmanager
def clean_errors() -> Iterator[None]:
    """Turn library errors into one red line and an exit code (no traceback)."""
    try:
        yield
    except ReaderError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(exit_code(exc))
    except OSError as exc:  # trace file not writable, ...
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(EXIT_ERROR)


def reader_options(func: Any) -> Any:
    func = click.option(
        "--trace", "trace", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="Write a PIN-redacted JSON-lines trace of frames and APDUs to FILE.",
    )(func)
    func = click.option("--no-native", is_flag=True, help="Stay in compat framing (as libccid).")(func)
    func = click.option(
        "--link-baud", type=int, default=None, metavar="BAUD",
        help="Move the link to this rate after opening (cpsdi readers; back to the opening rate at exit).",
    )(func)
    func = click.option("--timeout", "timeout_s", default=3.0, show_default=True, help="Seconds per wait (keep-alives restart it).")(func)
    func = click.option(
        "--port", "url", envvar="CPSDI_PORT", required=True,
        help="pyserial URL or device path (env CPSDI_PORT): /dev/ttyACM0, socket://host:port, sim://…",
    )(func)
    return func


def hex_bytes(data: bytes) -> str:
    return data.hex(" ").upper()


def pick_slot(slots: list[Any], index: int) -> Any:
    if not 0 <= index < len(slots):
        raise ReaderProtocolError(f"no slot {index}: the reader has {len(slots)} slot(s)")
    return slots[index]
