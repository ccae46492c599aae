"""``cpsdi demo``: a full CPS session against the simulated reader, with timings.

Starts ``cpsdi sim`` on a pseudo-terminal paced at 115 200 bd (a virtual CPS4 in slot 0, a
placeholder Vitale card in slot 1, real card time), then, through the same host library an
application uses: detect the card, read the holder, verify the test card's PIN, read the
situations and the certificates, sign a sample care-sheet payload, verify the signature with
``cryptography``. The simulator is stopped by PID at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography import x509
from cryptography.x509.oid import NameOID
from rich.table import Table

from cpsdi.cli_common import clean_errors, console

__all__ = ["demo", "SAMPLE_FSE"]

T = TypeVar("T")

# A made-up care-sheet payload: the real FSE structure is not public (see cpsdi.cps.fse).
SAMPLE_FSE = (
    b"cpsdi demo care sheet (not a SESAM-Vitale FSE)\n"
    b"date=2026-11-28;act=C;amount_eur=30.00;patient=TEST-PATIENT-0001;practice=1\n"
)


def _cn(cert: x509.Certificate, issuer: bool = False) -> str:
    names = (cert.issuer if issuer else cert.subject).get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else (cert.issuer if issuer else cert.subject).rfc4514_string()


@contextmanager
def simulated_reader(cards: list[str], card_time: str = "real") -> Iterator[str]:
    """``cpsdi sim`` in a subprocess; yields the pty path; stopped by PID on exit."""
    cmd = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()", "--card-time", card_time, "--duration", "600"]
    for card in cards:
        cmd += ["--card", card]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        if not path:
            _, err = proc.communicate(timeout=10)
            raise click.ClickException(f"the simulated reader did not start: {err.strip()}")
        yield path
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


class Steps:
    """Timed steps, printed as they complete."""

    def __init__(self, quiet: bool) -> None:
        self.rows: list[tuple[str, float, str]] = []
        self.quiet = quiet

    def run(self, name: str, action: Callable[[], T], describe: Callable[[T], str]) -> T:
        start = time.perf_counter()
        result = action()
        elapsed_s = time.perf_counter() - start
        text = describe(result)
        self.rows.append((name, elapsed_s, text))
        if not self.quiet:
            console.print(f"[green]✓[/green] {name:<22} {elapsed_s * 1000:7.0f} ms  {text}", highlight=False)
        return result


@click.command("demo")
@click.option("--card", "card_name", default="pharmacist", show_default=True,
              help="The CPS profile in slot 0 (cpsdi sim --list-cards): pharmacist (CPS4), doctor (CPS3), ...")
@click.option("--card-time", type=click.Choice(["real", "virtual"]), default="real", show_default=True,
              help="Card work takes real time (as on a reader) or none.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary only.")
def demo(card_name: str, card_time: str, as_json: bool) -> None:
    """A full CPS session on the simulated reader: detect, holder, PIN, certificates, FSE signature."""
    from cpsdi.cps import KeyKind, open_card, sign_fse
    from cpsdi.reader import Reader
    from cpsdi_boards.sim.cards import CARD_NAMES
    from cpsdi_boards.sim.cps.profiles import get_profile

    if card_name not in CARD_NAMES or card_name in ("t0", "t1", "none", "vitale1", "vitale2"):
        raise click.BadParameter(f"{card_name!r} is not a CPS profile", param_hint="--card")
    profile = get_profile(card_name.removesuffix("-t0"))
    steps = Steps(as_json)
    total_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cpsdi-demo-") as tmp, clean_errors():
        os.environ.setdefault("CPSDI_TEST_PKI_DIR", str(Path(tmp) / "test-pki"))  # demo keys, thrown away
        if not as_json:
            console.print(f"[bold]cpsdi demo[/bold]: simulated reader with a virtual {profile.generation.upper()} "
                          f"({card_name}) in slot 0 and a placeholder Vitale card in slot 1, 115 200 bd", highlight=False)
        with simulated_reader([card_name, "vitale2"], card_time) as path:
            reader = steps.run("open reader", lambda: Reader.open(path),
                               lambda r: f"{path}: {r.info.board} firmware {r.info.firmware_version}, "
                                         f"{r.info.slots} slots, {'native' if r.native else 'compat'} link")
            with reader:
                connection = steps.run("power on", reader.slots[0].connect,
                                       lambda c: f"ATR {c.atr.hex}, T={int(c.protocol)}")
                with connection:
                    card = steps.run("detect card", lambda: open_card(connection),
                                     lambda c: f"{c.generation.value}, card number {c.serial}")
                    holder = steps.run("read holder", card.holder, lambda h: (
                        f"{h.decoded.identity.first_name} {h.decoded.identity.last_name}, "
                        f"national id {h.decoded.identity.national_id}{h.decoded.identity.national_id_key}"
                        if h.decoded else f"{len(h.objects)} data objects"))
                    steps.run("PIN status", card.pin_status, lambda s: f"{s.tries_left} tries left")
                    steps.run("verify PIN", lambda: card.verify_pin(profile.pin), lambda _: "test card's PIN accepted")
                    situations = steps.run("read situations", lambda: card.holder(situations=True), lambda h: (
                        ", ".join(f"#{s.index} {s.structure_name}" for s in h.decoded.situations)
                        if h.decoded else "raw objects"))
                    cert = steps.run("read certificates", lambda: [card.certificate(k) for k in KeyKind],
                                     lambda cs: f"{_cn(cs[0])}, issued by {_cn(cs[0], issuer=True)}")
                    signed = steps.run("sign FSE payload", lambda: sign_fse(card, SAMPLE_FSE),
                                       lambda s: f"{len(s.signature)}-byte {s.algorithm} {s.hash_name} signature")
                    steps.run("verify signature", lambda: signed.verify(SAMPLE_FSE),
                              lambda _: f"valid (cryptography) for {_cn(signed.certificate)}")
                vitale = steps.run("Vitale slot", reader.slots[1].connect,
                                   lambda c: f"ATR {c.atr.hex} (placeholder card)")
                vitale.disconnect()
                counters = reader.counters()
        total_s = time.perf_counter() - total_start
    summary: dict[str, Any] = {
        "card": card_name,
        "generation": card.generation.value,
        "card_number": card.serial,
        "holder": (f"{holder.decoded.identity.first_name} {holder.decoded.identity.last_name}"
                   if holder.decoded else None),
        "situations": [s.index for s in situations.decoded.situations] if situations.decoded else None,
        "signature_certificate": cert[0].subject.rfc4514_string(),
        "issuer": cert[0].issuer.rfc4514_string(),
        "signature_algorithm": f"{signed.algorithm} {signed.hash_name}",
        "steps_ms": {name: round(s * 1000, 1) for name, s, _ in steps.rows},
        "total_s": round(total_s, 2),
        "card_round_trips": card.round_trips,
        "link_frames": counters.get("frames"),
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    table = Table(title="session summary", show_header=False)
    table.add_row("card", f"{summary['generation']} {summary['card_number']} ({card_name})")
    table.add_row("holder", str(summary["holder"]))
    table.add_row("situations", ", ".join(map(str, summary["situations"] or [])))
    table.add_row("signature", f"{summary['signature_algorithm']}, verified with cryptography")
    table.add_row("host↔reader", f"{card.round_trips} card round trips, {summary['link_frames']} link frames")
    table.add_row("total", f"{total_s:.2f} s (simulator start included)")
    console.print(table)

