"""The ``cpsdi`` command line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cpsdi import __version__
from cpsdi.cli_common import clean_errors as _clean_errors
from cpsdi.cli_common import EXIT_ERROR, console, err_console
from cpsdi.cli_common import hex_bytes as _hex
from cpsdi.cli_common import pick_slot as _slot
from cpsdi.cli_common import reader_options as _reader_options
from cpsdi.cps_cli import SecretSource, certs, connection_report, pin, print_card_report, secret_options, sign
from cpsdi.cps_cli import verify_signature_command
from cpsdi.demo import demo
from cpsdi.exceptions import ReaderError
from cpsdi.fw_cli import fw
from cpsdi.selftest import run_selftest
from cpsdi.sim_cli import sim


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cpsdi")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug); never shows a PIN.")
def main(verbose: int) -> None:
    """cpsdi: host companion of cpsdi CPS / Vitale readers."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@main.command()
@click.option("--port", "url", default="loop://", show_default=True, help="pyserial URL or device path.")
@click.option("--timeout", "timeout_s", default=2.0, show_default=True, help="Seconds to wait for each frame.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def selftest(url: str, timeout_s: float, as_json: bool) -> None:
    """Link self-test: every CCID message type, compat and native frames, through URL and back.

    With the default loop:// this checks the framing codecs and the serial transport;
    on a real port it needs a loopback plug (TX wired to RX), not a reader.
    """
    try:
        result = run_selftest(url, timeout_s=timeout_s)
    except ReaderError as exc:
        err_console.print(f"[red]self-test failed:[/red] {exc}")
        sys.exit(2)
    rate = result.bytes / result.seconds if result.seconds else 0.0
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "frames": result.frames,
                    "bytes": result.bytes,
                    "seconds": round(result.seconds, 4),
                    "failures": result.failures,
                }
            )
        )
    else:
        for failure in result.failures:
            err_console.print(f"[red]FAIL[/red] {failure}")
        status = "[green]OK[/green]" if result.ok else "[red]FAILED[/red]"
        console.print(
            f"link self-test on {url}: {status} — {result.frames} frames, {result.bytes} bytes "
            f"in {result.seconds * 1000:.0f} ms ({rate / 1024:.0f} KiB/s)"
        )
    sys.exit(0 if result.ok else 1)



@main.command()
@_reader_options
@click.option("--situations", is_flag=True, help="Also read the situations (asks for the PIN).")
@secret_options()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None, situations: bool,
         pin_env: str | None, pin_fd: int | None, as_json: bool) -> None:
    """The reader (GET_INFO, link mode) and the card of each slot: CPS generation, card number,
    PIN status, holder; situations and billing data with --situations (PIN)."""
    from cpsdi.reader import Reader

    secrets = SecretSource(pin_fd, {"pin": pin_env}) if situations else None
    with _clean_errors(), Reader.open(url, native=not no_native, trace=trace, timeout_s=timeout_s, link_baud=link_baud) as reader:
        i = reader.info
        report: dict[str, Any] = {
            "port": url,
            "protocol_version": i.protocol_version,
            "firmware_version": i.firmware_version,
            "board": i.board,
            "serial": i.serial,
            "slots": i.slots,
            "features": i.features,
            "native_max_message": i.native_max_message,
            "pin_pad": i.pin_pad.describe() if i.pin_pad is not None else "none",
            "link": "native" if reader.native else "compat",
            "max_message": reader.link.max_message,
            "apdu_level": [s.apdu_level for s in reader.slots],
        }
        cards: list[dict[str, Any]] = []
        for slot in reader.slots:
            if not slot.status().present:
                cards.append({"slot": slot.index, "present": False})
                continue
            with slot.connect() as connection:
                cards.append({"slot": slot.index, "present": True} | connection_report(connection, secrets))
        if as_json:
            click.echo(json.dumps(report | {"cards": cards}))
            return
        table = Table(title=f"cpsdi reader on {url}", show_header=False)
        for key, value in report.items():
            if key == "features":
                value = f"0x{i.features:04X}"
            table.add_row(key.replace("_", " "), str(value))
        console.print(table)
        for entry in cards:
            if not entry["present"]:
                console.print(f"[bold]slot {entry['slot']}[/bold]: empty", highlight=False)
            elif entry.get("cps"):
                print_card_report(entry["slot"], entry["cps"])
            else:
                console.print(f"[bold]slot {entry['slot']}[/bold]: ATR {entry['atr']} — {entry['note']}", highlight=False)


@main.command()
@_reader_options
@click.option("--slot", "slot_index", default=0, show_default=True, help="Slot number.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def atr(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None, slot_index: int, as_json: bool) -> None:
    """Power the card on and show its ATR (the card is powered off afterwards)."""
    from cpsdi.reader import Reader

    with _clean_errors(), Reader.open(url, native=not no_native, trace=trace, timeout_s=timeout_s, link_baud=link_baud) as reader:
        slot = _slot(reader.slots, slot_index)
        with slot.connect() as card:
            a = card.atr
            report = {
                "slot": slot_index,
                "atr": a.raw.hex().upper(),
                "protocol": f"T={int(card.protocol)}",
                "protocols": [f"T={t}" for t in a.protocols],
                "historical": a.historical.hex().upper(),
                "fi": a.fi,
                "di": a.di,
                "specific_mode": a.specific_mode,
            }
            if as_json:
                click.echo(json.dumps(report))
                return
            console.print(f"slot {slot_index}: ATR [bold]{a.hex}[/bold]", highlight=False)
            console.print(
                f"  protocol in force T={int(card.protocol)}, offered {', '.join(report['protocols'])}; "
                f"Fi/Di {a.fi}/{a.di}; historical bytes {_hex(a.historical) or '-'}",
                highlight=False,
            )


def _parse_apdu(text: str) -> bytes:
    cleaned = "".join(text.replace(":", "").split())
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        raise click.BadParameter(f"not hexadecimal: {text!r}", param_hint="APDU") from None
    if len(data) < 4:
        raise click.BadParameter(f"an APDU has at least 4 bytes: {text!r}", param_hint="APDU")
    return data


@main.command()
@_reader_options
@click.argument("apdus", nargs=-1, required=True, metavar="HEX...")
@click.option("--slot", "slot_index", default=0, show_default=True, help="Slot number.")
@click.option("--check", is_flag=True, help="Stop with an error at the first error status word.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def apdu(
    url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None, apdus: tuple[str, ...], slot_index: int,
    check: bool, as_json: bool,
) -> None:
    """Power the card on and send each APDU (hex; one argument per APDU)."""
    from cpsdi.reader import Reader
    from cpsdi.trace import redact_apdu

    commands = [_parse_apdu(a) for a in apdus]
    results: list[dict[str, Any]] = []
    with _clean_errors(), Reader.open(url, native=not no_native, trace=trace, timeout_s=timeout_s, link_baud=link_baud) as reader:
        slot = _slot(reader.slots, slot_index)
        with slot.connect() as card:
            for command in commands:
                response = card.transmit(command, check=check)
                results.append(
                    {"command": redact_apdu(command), "data": response.data.hex().upper(), "sw": f"{response.sw:04X}", "meaning": response.meaning}
                )
                if not as_json:
                    console.print(f"> {redact_apdu(command)}", highlight=False)
                    data = f"{_hex(response.data)} " if response.data else ""
                    color = "green" if response.ok else "yellow"
                    console.print(f"< {data}[{color}]{response.sw:04X}[/{color}] ({response.meaning})", highlight=False)
    if as_json:
        click.echo(json.dumps({"slot": slot_index, "exchanges": results}))


@main.group("trace")
def trace_group() -> None:
    """Read traces written with --trace."""


@trace_group.command("show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def trace_show(file: Path) -> None:
    """Pretty-print a trace file."""
    from cpsdi.trace import format_trace

    try:
        text = format_trace(file)
    except (OSError, UnicodeDecodeError) as exc:
        err_console.print(f"[red]error:[/red] cannot read {file}: {exc}", highlight=False)
        sys.exit(EXIT_ERROR)
    click.echo(text, nl=False)


@main.command()
@click.option("--probe", is_flag=True, help="Ask each port for GET_INFO (opens it briefly).")
@click.option("--timeout", "timeout_s", default=0.5, show_default=True, help="Seconds per probe.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def readers(probe: bool, timeout_s: float, as_json: bool) -> None:
    """Serial ports that may hold a cpsdi reader (USB CDC / UART), optionally probed."""
    from serial.tools import list_ports

    from cpsdi.reader import Reader

    rows: list[dict[str, Any]] = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        row: dict[str, Any] = {"port": port.device, "description": port.description, "hwid": port.hwid}
        if probe:
            try:
                with Reader.open(port.device, timeout_s=timeout_s) as reader:
                    row["reader"] = {"board": reader.info.board, "firmware": reader.info.firmware_version,
                                     "slots": reader.info.slots}
            except ReaderError as exc:
                row["reader"] = None
                row["error"] = str(exc)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        console.print("no serial ports found (a simulated reader: cpsdi sim, or --port sim://)")
        return
    table = Table(title="serial ports")
    table.add_column("port")
    table.add_column("description")
    if probe:
        table.add_column("cpsdi reader")
    for row in rows:
        cells = [row["port"], row["description"]]
        if probe:
            r = row.get("reader")
            cells.append(f"{r['board']} {r['firmware']}, {r['slots']} slot(s)" if r else "-")
        table.add_row(*cells)
    console.print(table)


main.add_command(sim)
main.add_command(pin)
main.add_command(certs)
main.add_command(sign)
main.add_command(verify_signature_command)
main.add_command(demo)
main.add_command(fw)

if __name__ == "__main__":  # pragma: no cover
    main()
