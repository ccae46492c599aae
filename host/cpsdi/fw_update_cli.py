"""``cpsdi fw update / status / confirm / rollback``: the update channel from the command line
(docs/update-channel.md). Registered in the ``fw`` group of ``cpsdi.fw_cli``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cpsdi.cli_common import clean_errors, console, err_console
from cpsdi.reader import Reader
from cpsdi.update.client import FACTORY, NONE, UpdateClient, UpdateStatus, update

__all__ = ["fw_confirm", "fw_rollback", "fw_status", "fw_update"]


def _port_options(func: Any) -> Any:
    func = click.option("--trace", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Write a JSON-lines trace of the frames to FILE.")(func)
    func = click.option("--no-native", is_flag=True, help="Stay in compat framing (255-byte chunks: slower).")(func)
    func = click.option("--timeout", "timeout_s", default=3.0, show_default=True,
                        help="Seconds per wait (keep-alives restart it).")(func)
    func = click.option("--port", "url", envvar="CPSDI_PORT", required=True,
                        help="pyserial URL or device path (env CPSDI_PORT).")(func)
    return func


@contextmanager
def _reader(url: str, timeout_s: float, no_native: bool, trace: Path | None) -> Iterator[Reader]:
    with clean_errors():
        with Reader.open(url, native=not no_native, trace=trace, timeout_s=timeout_s) as reader:
            yield reader


def _slot(value: int, missing: str = "factory") -> str:
    """A slot number; 0xFF is the factory image (running / active) or nothing (pending / session)."""
    return missing if value == FACTORY else str(value)


def status_json(st: UpdateStatus) -> dict[str, Any]:
    return {
        "running": _slot(st.running), "active": _slot(st.active), "pending": _slot(st.pending, "–"), "tries": st.tries,
        "trial": st.trial, "floor": st.floor, "session_open": st.session_open, "session_slot": _slot(st.session_slot, "–"),
        "next_off": st.next_off, "img_size": st.img_size, "max_img_size": st.max_img_size,
        "last_error": st.last_error or None, "fw_compat": st.fw_compat, "keys": [k.hex() for k in st.keys],
        "slots": [{"status": s.status, "version": str(s.version) if s.version else None, "sec_cnt": s.sec_cnt,
                   "img_size": s.img_size} for s in st.slots],
    }


def print_status(st: UpdateStatus, board: str) -> None:
    table = Table(title=f"update state ({escape(board)})", show_header=False)
    running = "factory image" if st.running == FACTORY else f"slot {st.running} ({st.running_version})"
    rows = [
        ("running", running + (" [yellow]trial, not confirmed[/yellow]" if st.trial else "")),
        ("active", "factory image" if st.active == FACTORY else f"slot {st.active}"),
        ("pending", f"slot {st.pending}, {st.tries} boot(s) left" if st.pending != NONE else "–"),
        ("rollback floor", str(st.floor)),
        ("session", f"slot {st.session_slot}, {st.next_off} bytes durable" if st.session_slot != NONE else "–"),
        ("slot capacity", f"{st.max_img_size} bytes"),
        ("fw_compat", escape(st.fw_compat)),
        ("trusted keys", ", ".join(k.hex()[:16] + "…" for k in st.keys) or "none"),
    ]
    if st.last_error:
        rows.append(("last refusal", escape(st.last_error)))
    for name, value in rows:
        table.add_row(name, value)
    for i, s in enumerate(st.slots):
        what = f"{s.version} (sec_cnt {s.sec_cnt}, {s.img_size} bytes)" if s.version else "no image"
        table.add_row(f"slot {i}", f"{s.status}: {what}")
    console.print(table)


@click.command("update")
@click.argument("image_path", metavar="IMAGE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_port_options
@click.option("--no-resume", is_flag=True, help="Start over even if the reader holds part of this image.")
@click.option("--confirm", "confirm_mode", type=click.Choice(["device", "host", "none"]), default="device",
              show_default=True, help="device: wait for the new image's self-confirmation; host: confirm it from "
              "here once it runs; none: install only (the trial starts at the next reset).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def fw_update(image_path: Path, url: str, timeout_s: float, no_native: bool, trace: Path | None, no_resume: bool,
              confirm_mode: str, as_json: bool) -> None:
    """Push a signed IMAGE to the reader: checked here first, verified by the reader before it
    erases anything, resumable, then trial boot and confirmation (or automatic revert)."""
    data = image_path.read_bytes()
    with _reader(url, timeout_s, no_native, trace) as reader:
        baud, stop_bits = reader.link.transport.line
        line_rate = baud / (1 + 8 + stop_bits) if baud else 0.0
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=err_console, transient=as_json,
                      disable=as_json) as progress:
            task = progress.add_task(image_path.name, total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = update(reader, data, progress=on_progress, resume=not no_resume,
                            confirm=confirm_mode)  # type: ignore[arg-type]
    percent = 100.0 * result.bytes_per_second / line_rate if line_rate else 0.0
    if as_json:
        click.echo(json.dumps({
            "version": str(result.version), "sec_cnt": result.sec_cnt, "slot": result.slot,
            "image_bytes": result.image_bytes, "sent_bytes": result.sent_bytes, "resumed_from": result.resumed_from,
            "seconds": round(result.seconds, 3), "bytes_per_second": round(result.bytes_per_second, 1),
            "line_percent": round(percent, 1), "confirmed": result.confirmed, "status": status_json(result.status),
        }, indent=2))
        return
    resumed = f", resumed at {result.resumed_from}" if result.resumed_from else ""
    console.print(f"{escape(str(result.version))} (sec_cnt {result.sec_cnt}) in slot {result.slot}: "
                  f"{result.sent_bytes} bytes in {result.seconds:.1f} s, {result.bytes_per_second:.0f} B/s"
                  + (f" ({percent:.0f} % of the line)" if percent else "") + resumed)
    console.print("[green]confirmed[/green]" if result.confirmed
                  else "[yellow]installed, not confirmed: the trial starts at the next reset[/yellow]")


@click.command("status")
@_port_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def fw_status(url: str, timeout_s: float, no_native: bool, trace: Path | None, as_json: bool) -> None:
    """Show the reader's update state: running image, slots, trial, rollback floor, session."""
    with _reader(url, timeout_s, no_native, trace) as reader:
        st = UpdateClient(reader).status()
        board = reader.info.board
    if as_json:
        click.echo(json.dumps(status_json(st), indent=2))
    else:
        print_status(st, board)


@click.command("confirm")
@_port_options
def fw_confirm(url: str, timeout_s: float, no_native: bool, trace: Path | None) -> None:
    """Make the running trial image permanent (raises the rollback floor to its counter)."""
    with _reader(url, timeout_s, no_native, trace) as reader:
        active, floor = UpdateClient(reader).confirm()
    console.print(f"active: slot {_slot(active)}, rollback floor {floor}")


@click.command("rollback")
@_port_options
@click.option("--no-reboot", is_flag=True, help="Do not reset the reader now (the change applies at the next reset).")
def fw_rollback(url: str, timeout_s: float, no_native: bool, trace: Path | None, no_reboot: bool) -> None:
    """Drop the pending trial image, or go back to the previous image (as a trial, if its counter
    is not below the floor)."""
    with _reader(url, timeout_s, no_native, trace) as reader:
        active, pending = UpdateClient(reader).rollback(reboot=not no_reboot)
    if pending != NONE:
        console.print(f"slot {pending} will run as a trial{'' if no_reboot else ' now'}; active stays {_slot(active)}")
    else:
        console.print(f"trial dropped; the reader runs slot {_slot(active)}{' after its next reset' if no_reboot else ''}")
