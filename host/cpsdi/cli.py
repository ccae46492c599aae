"""The ``cpsdi`` command line."""

from __future__ import annotations

import json
import logging
import sys

import click
from rich.console import Console

from cpsdi import __version__
from cpsdi.exceptions import ReaderError
from cpsdi.selftest import run_selftest

console = Console()
err_console = Console(stderr=True)


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


if __name__ == "__main__":  # pragma: no cover
    main()
