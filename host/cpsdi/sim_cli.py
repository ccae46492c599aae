"""``cpsdi sim``: the simulated reader on a real pseudo-terminal (and TCP)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click


@click.command("sim")
@click.option("--card", "cards", multiple=True, metavar="NAME",
              help="Card of the next slot: t0, t1, a CPS profile (doctor, pharmacist, ...), vitale1/2 or none "
                   "(repeat for more slots; default: one t0; --list-cards shows them all).")
@click.option("--list-cards", is_flag=True, help="List the card names and exit.")
@click.option("--fault", "faults", multiple=True, metavar="SLOT=FILE",
              help="Fault script for a slot's card (docs/fault-scripts.md).")
@click.option("--baud", default=115200, show_default=True, help="Pace the line at this rate (0: unpaced).")
@click.option("--stop-bits", type=click.Choice(["1", "2"]), default="2", show_default=True,
              help="8N1 or 8N2 (libccid uses 8N2).")
@click.option("--echo", type=click.Choice(["header", "full", "none"]), default="header", show_default=True,
              help="Echo of compat command frames (GemPCTwin types need one; SEC1210 none).")
@click.option("--no-native", is_flag=True, help="Refuse native mode (compat framing only).")
@click.option("--native-max", "native_max", type=click.IntRange(1034, 65546), default=2058, show_default=True,
              metavar="BYTES", help="Largest native message the reader grants (bigger frames: faster updates, more RAM).")
@click.option("--link", type=click.Path(path_type=Path), help="Keep a stable symlink to the pty here.")
@click.option("--tcp", "tcp_port", type=int, help="Also listen on 127.0.0.1:PORT (0: any free port).")
@click.option("--no-pty", is_flag=True, help="No pseudo-terminal (TCP only).")
@click.option("--control", type=click.Path(path_type=Path),
              help="Unix socket for insert/remove/status/quit commands.")
@click.option("--card-time", type=click.Choice(["real", "virtual"]), default="real", show_default=True,
              help="real: the card's work takes wall time, as on a reader (keep-alives go out during long "
                   "operations); virtual: card time is free.")
@click.option("--card-clock-max", "card_clock_max_hz", type=click.IntRange(0, 20_000_000), default=5_000_000,
              show_default=True, metavar="HZ",
              help="Highest card CLK after the ATR, up to each card's fmax (as the Pico board: 125 MHz / 25); "
                   "0: the card stays at the 3.5712 MHz activation clock.")
@click.option("--keypad", "keypad", metavar="SCRIPT",
              help="Give the reader a PIN pad with these scripted entries queued ('' for none yet; "
                   "'1234E|9999E': one entry per PIN-pad command; docs/pinpad.md).")
@click.option("--keypad-time", type=click.Choice(["virtual", "real"]), default="virtual", show_default=True,
              help="virtual: the scripted holder's waits cost no time; real: they take wall time.")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--storage", "storage_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the update slots and state record in this folder (survives restarts; default: memory).")
@click.option("--slot-size", type=click.IntRange(4096, 1 << 26), default=1 << 20, show_default=True,
              help="Bytes per update slot.")
@click.option("--fail-selftest", "fail_selftest", multiple=True, metavar="VERSION",
              help="Images of this version fail their self-test (a bad N+1 that never confirms itself).")
def sim(cards: tuple[str, ...], list_cards: bool, faults: tuple[str, ...], baud: int, stop_bits: str, echo: str, no_native: bool, native_max: int,
        link: Path | None, tcp_port: int | None, no_pty: bool, control: Path | None, card_time: str, card_clock_max_hz: int,
        duration: float | None, storage_dir: Path | None, slot_size: int, fail_selftest: tuple[str, ...],
        keypad: str | None = None, keypad_time: str = "virtual") -> None:
    """Run the reader firmware on CPython with virtual cards, on a pty (path printed on the
    first line) and/or TCP. SIGUSR1/SIGUSR2 toggle the card of slot 0/1."""
    from cpsdi_boards.sim.cards import CARD_NAMES
    from cpsdi_boards.sim.faults import FaultScriptError, parse_fault_script
    from cpsdi_boards.sim.runner import SimOptions, SimReader, install_signals

    if list_cards:
        for name, what in CARD_NAMES.items():
            click.echo(f"{name:16} {what}")
        return
    names = list(cards) or ["t0"]
    for name in names:
        if name not in CARD_NAMES:
            raise click.BadParameter(f"unknown card {name!r}; known: {', '.join(sorted(CARD_NAMES))}",
                                     param_hint="--card")
    scripts: dict[int, str] = {}
    for item in faults:
        slot_text, _, file_text = item.partition("=")
        if not slot_text.isdigit() or not file_text or int(slot_text) >= len(names):
            raise click.BadParameter(f"{item!r}: expected SLOT=FILE with SLOT < {len(names)}", param_hint="--fault")
        text = Path(file_text).read_text()
        try:
            parse_fault_script(text)
        except FaultScriptError as exc:
            raise click.BadParameter(f"{file_text}: {exc}", param_hint="--fault") from exc
        scripts[int(slot_text)] = text
    if keypad is not None:
        from cpsdi_boards.sim.keypad import KeypadScriptError, parse_keypad_script

        try:
            parse_keypad_script(keypad)
        except KeypadScriptError as exc:
            raise click.BadParameter(str(exc), param_hint="--keypad") from exc
    if no_pty and tcp_port is None:
        raise click.UsageError("--no-pty needs --tcp")
    options = SimOptions(cards=names, faults=scripts, baud=baud, stop_bits=int(stop_bits),
                         native_max_message=0 if no_native else native_max, echo=echo, pty=not no_pty, link=link,
                         tcp_port=tcp_port, control=control, card_time=card_time, storage=storage_dir,
                         slot_size=slot_size, fail_selftest=list(fail_selftest), card_clock_max_hz=card_clock_max_hz,
                         keypad=keypad, keypad_time=keypad_time)
    reader = SimReader(options)
    reader.open()

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    install_signals(reader.slots)
    # First line: the pty path (tests and scripts read it), then a human summary on stderr.
    click.echo(reader.pty_path or f"tcp://127.0.0.1:{reader.tcp_port}")
    sys.stdout.flush()
    where = [p for p in (reader.pty_path, str(link) if link else "",
                         f"127.0.0.1:{reader.tcp_port}" if reader.tcp_port is not None else "") if p]
    click.echo(f"cpsdi sim: {len(names)} slot(s) {', '.join(names)} on {' and '.join(where)}, "
               f"{'unpaced' if not baud else f'{baud} bd 8N{stop_bits}'}, {card_time} card time; Ctrl-C stops", err=True)
    try:
        reader.serve(max_seconds=duration)
    except KeyboardInterrupt:
        pass
    finally:
        reader.close()
