"""``cpsdi pin|certs|sign|verify-signature`` and the card part of ``cpsdi info``.

Secrets (PIN, new PIN, unblock code) are never taken from the command line: they come from
a hidden prompt, an environment variable named by an option (``--pin-env VAR``) or a file
descriptor (``--pin-fd N``, one secret per line, in the order the command asks for them).
With ``--on-reader`` (``pin verify|change|unblock``) the holder types them on the reader's PIN
pad instead (``cpsdi.cps.pinpad``): the host never sees them; a reader without one exits 5.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from rich.table import Table

from cpsdi.cli_common import EXIT_ERROR, clean_errors, console, err_console, pick_slot, reader_options
from cpsdi.cps import CPSCard, KeyKind, NotACPSCard, PinStatus, open_card, verify_signature
from cpsdi.cps.pinpad import change_pin_on_reader, unblock_pin_on_reader, verify_pin_on_reader
from cpsdi.cps.holder import CIVILITIES, PRACTICE_MODES, Holder, describe
from cpsdi.reader import CardConnection, Reader

__all__ = ["pin", "certs", "sign", "verify_signature_command", "card_report", "SecretSource"]

F = TypeVar("F", bound=Callable[..., Any])


class SecretSource:
    """Where the command's secrets come from (see the module docstring)."""

    def __init__(self, fd: int | None, env: dict[str, str | None]) -> None:
        self._lines: Iterator[str] | None = None
        if fd is not None:
            try:
                self._lines = iter(os.fdopen(os.dup(fd), "r", encoding="ascii", errors="replace").read().splitlines())
            except OSError as exc:
                raise click.BadParameter(f"cannot read file descriptor {fd}: {exc.strerror}", param_hint="--pin-fd")
        self._env = env

    def get(self, key: str, prompt: str, confirm: bool = False) -> str:
        """The secret ``key``: its environment variable if one was named, else the next line of
        the file descriptor, else a hidden prompt (asked twice when ``confirm``)."""
        variable = self._env.get(key)
        if variable:
            value = os.environ.get(variable)
            if value is None:
                raise click.UsageError(f"environment variable {variable} is not set")
            return value.strip()
        if self._lines is not None:
            try:
                return next(self._lines).strip()
            except StopIteration:
                raise click.UsageError(f"the file descriptor gave no line for the {prompt.lower()}") from None
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
        return str(value).strip()


def secret_options(*extra: str) -> Callable[[F], F]:
    """``--pin-env``, ``--pin-fd`` and ``--<extra>-env`` options (``new-pin``, ``unblock-code``)."""

    def decorate(func: F) -> F:
        for name in reversed(extra):
            func = click.option(f"--{name}-env", f"{name.replace('-', '_')}_env", metavar="VAR",
                                help=f"Read the {name.replace('-', ' ')} from environment variable VAR.")(func)
        func = click.option("--pin-fd", type=int, metavar="N",
                            help="Read the secrets from file descriptor N, one per line (never from argv).")(func)
        func = click.option("--pin-env", metavar="VAR", help="Read the PIN from environment variable VAR.")(func)
        return func

    return decorate


def slot_option(func: F) -> F:
    return click.option("--slot", "slot_index", default=0, show_default=True, help="Slot of the CPS.")(func)


def on_reader_option(func: F) -> F:
    func = click.option("--entry-timeout", "entry_timeout_s", type=click.IntRange(1, 255), default=30,
                        show_default=True, metavar="S",
                        help="With --on-reader: seconds the holder has for each key.")(func)
    return click.option("--on-reader", is_flag=True,
                        help="The holder types on the reader's PIN pad (the host never sees the codes).")(func)


def _pad_prompt(what: str) -> None:
    err_console.print(f"type the {what} on the reader's PIN pad…", highlight=False)


@contextmanager
def opened_card(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None,
                slot_index: int) -> Iterator[CPSCard]:
    """Reader → slot → CPS, closed (card powered off) on exit."""
    with Reader.open(url, native=not no_native, trace=trace, timeout_s=timeout_s, link_baud=link_baud) as reader:
        slot = pick_slot(reader.slots, slot_index)
        with slot.connect() as connection:
            yield open_card(connection)


# -- reports -------------------------------------------------------------------------------------

def holder_report(holder: Holder | None, objects: dict[str, bytes]) -> dict[str, Any]:
    """The holder as JSON-able data: decoded fields when known, raw objects in hex always."""
    out: dict[str, Any] = {"objects": {k: v.hex().upper() for k, v in sorted(objects.items())}}
    if holder is not None:
        i = holder.identity
        out["identity"] = {
            "civility": describe(CIVILITIES, i.civility), "last_name": i.last_name, "first_name": i.first_name,
            "national_id_type": i.national_id_type, "national_id": i.national_id + i.national_id_key,
            "card_type": i.card_type,
        }
        out["card"] = {"number": holder.card.card_number, "issued": holder.card.issued.isoformat(),
                       "expires": holder.card.expires.isoformat()}
        out["situations"] = [
            {"index": s.index, "practice_mode": describe(PRACTICE_MODES, s.practice_mode),
             "activity_sector": s.activity_sector, "speciality": s.speciality_code,
             "structure": s.structure_name, "structure_id": s.structure_id + s.structure_id_key,
             "billing_id": s.billing_id + s.billing_id_key}
            for s in holder.situations
        ]
        out["billing_situation"] = holder.billing_situation
    return out


def card_report(card: CPSCard, *, situations: bool) -> dict[str, Any]:
    """Generation, card number, PIN status and holder of an opened card."""
    data = card.holder(situations=situations)
    report: dict[str, Any] = {
        "generation": card.generation.value,
        "card_number": card.serial,
        "pin": asdict(card.pin_status()),
        "holder": holder_report(data.decoded, data.objects),
    }
    if data.decoded is None:
        report["holder"]["note"] = "holder data layout not public: raw objects only (cps-cards.md §14)"
    return report


def print_card_report(slot: int, report: dict[str, Any]) -> None:
    console.print(f"[bold]slot {slot}[/bold]: {report['generation']} card {report['card_number']}", highlight=False)
    pin = report["pin"]
    state = "blocked" if pin["blocked"] else ("verified" if pin["verified"] else "not verified")
    console.print(f"  PIN {state}, {pin['tries_left']} tries left", highlight=False)
    holder = report["holder"]
    identity = holder.get("identity")
    if identity:
        console.print(f"  {identity['civility']} {identity['first_name']} {identity['last_name']}, "
                      f"national id {identity['national_id']}; card valid until {holder['card']['expires']}",
                      highlight=False)
    else:
        console.print(f"  holder objects: {', '.join(holder['objects'])} ({holder.get('note', '')})", highlight=False)
    if holder.get("situations"):
        table = Table(title="situations", show_lines=False)
        for column in ("#", "mode", "sector", "speciality", "structure", "billing id"):
            table.add_column(column)
        for s in holder["situations"]:
            mark = "*" if s["index"] == holder.get("billing_situation") else ""
            table.add_row(f"{s['index']}{mark}", s["practice_mode"], str(s["activity_sector"]), str(s["speciality"]),
                          s["structure"], s["billing_id"])
        console.print(table)


def connection_report(connection: CardConnection, secrets: SecretSource | None) -> dict[str, Any]:
    """``cpsdi info`` for one slot: a CPS report, or the ATR of another card."""
    try:
        card = open_card(connection)
    except NotACPSCard as exc:
        return {"atr": connection.atr.raw.hex().upper(), "cps": None, "note": str(exc)}
    if secrets is not None:
        card.verify_pin(secrets.get("pin", "PIN"))
    return {"atr": connection.atr.raw.hex().upper(), "cps": card_report(card, situations=secrets is not None)}


# -- pin -----------------------------------------------------------------------------------------

@click.group("pin")
def pin() -> None:
    """The holder PIN: status, verify, change, unblock (secrets never on the command line)."""


def _status_json(status: PinStatus) -> dict[str, Any]:
    return asdict(status) | {"blocked_for_good": status.blocked_for_good}


@pin.command("status")
@reader_options
@slot_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pin_status(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None,
               slot_index: int, as_json: bool) -> None:
    """Tries left, blocked or not (no PIN needed)."""
    with clean_errors(), opened_card(url, timeout_s, no_native, link_baud, trace, slot_index) as card:
        status = card.pin_status()
    if as_json:
        click.echo(json.dumps(_status_json(status)))
        return
    state = "BLOCKED FOR GOOD" if status.blocked_for_good else ("blocked" if status.blocked else "usable")
    extra = "" if status.unblock_uses_left is None else f", {status.unblock_uses_left} unblock uses left"
    console.print(f"PIN {state}: {status.tries_left} of {status.tries_max or '?'} tries left{extra}", highlight=False)


@pin.command("verify")
@reader_options
@slot_option
@secret_options()
@on_reader_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pin_verify(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None,
               slot_index: int, pin_env: str | None, pin_fd: int | None, on_reader: bool, entry_timeout_s: int,
               as_json: bool) -> None:
    """Check the PIN (a wrong PIN costs one try: the command never retries)."""
    secrets = None if on_reader else SecretSource(pin_fd, {"pin": pin_env})
    with clean_errors(), opened_card(url, timeout_s, no_native, link_baud, trace, slot_index) as card:
        if secrets is None:
            _pad_prompt("PIN")
            verify_pin_on_reader(card, timeout_s=entry_timeout_s)
        else:
            card.verify_pin(secrets.get("pin", "PIN"))
    click.echo(json.dumps({"verified": True})) if as_json else console.print("PIN verified")


@pin.command("change")
@reader_options
@slot_option
@secret_options("new-pin")
@on_reader_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pin_change(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None,
               slot_index: int, pin_env: str | None, pin_fd: int | None, new_pin_env: str | None,
               on_reader: bool, entry_timeout_s: int, as_json: bool) -> None:
    """Change the PIN (current PIN, then the new one twice)."""
    if on_reader:
        with clean_errors(), opened_card(url, timeout_s, no_native, link_baud, trace, slot_index) as card:
            _pad_prompt("current PIN, then the new PIN twice,")
            change_pin_on_reader(card, timeout_s=entry_timeout_s)
        click.echo(json.dumps({"changed": True})) if as_json else console.print("PIN changed")
        return
    secrets = SecretSource(pin_fd, {"pin": pin_env, "new": new_pin_env})
    old = secrets.get("pin", "Current PIN")
    new = secrets.get("new", "New PIN", confirm=True)
    with clean_errors(), opened_card(url, timeout_s, no_native, link_baud, trace, slot_index) as card:
        card.change_pin(old, new)
    click.echo(json.dumps({"changed": True})) if as_json else console.print("PIN changed")


@pin.command("unblock")
@reader_options
@slot_option
@secret_options("unblock-code", "new-pin")
@on_reader_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pin_unblock(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None,
                slot_index: int, pin_env: str | None, pin_fd: int | None, unblock_code_env: str | None,
                new_pin_env: str | None, on_reader: bool, entry_timeout_s: int, as_json: bool) -> None:
    """Unblock the PIN with the unblock code and set a new PIN (each unblock uses one of the
    code's limited uses)."""
    if on_reader:
        with clean_errors(), opened_card(url, timeout_s, no_native, link_baud, trace, slot_index) as card:
            _pad_prompt("unblock code, then the new PIN twice,")
            unblock_pin_on_reader(card, timeout_s=entry_timeout_s)
        click.echo(json.dumps({"unblocked": True})) if as_json else console.print("PIN unblocked and set")
        return
    secrets = SecretSource(pin_fd, {"unblock": unblock_code_env, "new": new_pin_env})
    code = secrets.get("unblock", "Unblock code")
    new = secrets.get("new", "New PIN", confirm=True)
    with clean_errors(), opened_card(url, timeout_s, no_native, link_baud, trace, slot_index) as card:
        card.unblock_pin(code, new)
    click.echo(json.dumps({"unblocked": True})) if as_json else console.print("PIN unblocked and set")


# -- certificates, signatures ----------------------------------------------------------------------

def _cert_json(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex().upper(),
    }


@click.command("certs")
@reader_options
@slot_option
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write DIR/<card>-<kind>.der and .pem.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def certs(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None,
          slot_index: int, export_dir: Path | None, as_json: bool) -> None:
    """The signature and authentication certificates (no PIN needed)."""
    out: dict[str, Any] = {}
    with clean_errors(), opened_card(url, timeout_s, no_native, link_baud, trace, slot_index) as card:
        for kind in KeyKind:
            der = card.certificate_der(kind)
            cert = x509.load_der_x509_certificate(der)
            out[kind.value] = _cert_json(cert)
            if export_dir is not None:
                export_dir.mkdir(parents=True, exist_ok=True)
                base = export_dir / f"{card.serial}-{kind.value}"
                base.with_suffix(".der").write_bytes(der)
                base.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
                out[kind.value]["files"] = [str(base.with_suffix(".der")), str(base.with_suffix(".pem"))]
    if as_json:
        click.echo(json.dumps(out))
        return
    for name, info in out.items():
        console.print(f"[bold]{name}[/bold] {info['subject']}", highlight=False)
        console.print(f"  issuer {info['issuer']}; valid {info['not_before'][:10]} .. {info['not_after'][:10]}; "
                      f"SHA-256 {info['sha256'][:16]}…", highlight=False)
        for f in info.get("files", []):
            console.print(f"  written {f}", highlight=False)


@click.command("sign")
@reader_options
@slot_option
@secret_options()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", type=click.Choice(["sign", "auth"]), default="sign", show_default=True,
              help="Signature key (nonRepudiation) or authentication key.")
@click.option("--hash", "hash_name", type=click.Choice(["sha256", "sha1"]), default="sha256", show_default=True)
@click.option("--pss", is_flag=True, help="RSA-PSS (CPS4 only) instead of PKCS#1 v1.5.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Signature file (default FILE.sig); the certificate goes next to it as .cert.der.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def sign(url: str, timeout_s: float, no_native: bool, link_baud: int | None, trace: Path | None, slot_index: int,
         pin_env: str | None, pin_fd: int | None, file: Path, key: str, hash_name: str, pss: bool,
         out_path: Path | None, as_json: bool) -> None:
    """Sign FILE with the card (PIN needed); the signature is checked before it is written."""
    payload = file.read_bytes()
    secrets = SecretSource(pin_fd, {"pin": pin_env})
    kind = KeyKind.SIGNATURE if key == "sign" else KeyKind.AUTHENTICATION
    target = out_path or file.with_name(file.name + ".sig")
    with clean_errors(), opened_card(url, timeout_s, no_native, link_baud, trace, slot_index) as card:
        card.verify_pin(secrets.get("pin", "PIN"))
        signature = card.sign(payload, key=kind, hash_name=hash_name, pss=pss)
        der = card.certificate_der(kind)
        cert = x509.load_der_x509_certificate(der)
        try:
            verify_signature(cert, payload, signature, hash_name=hash_name, pss=pss)
        except InvalidSignature:
            err_console.print("[red]error:[/red] the card's signature does not verify with its certificate")
            raise SystemExit(EXIT_ERROR) from None
        serial = card.serial
    target.write_bytes(signature)
    cert_path = target.with_name(target.name + ".cert.der")
    cert_path.write_bytes(der)
    report = {"file": str(file), "signature": str(target), "certificate": str(cert_path), "card_number": serial,
              "key": kind.value, "algorithm": "RSASSA-PSS" if pss else "RSASSA-PKCS1-v1_5", "hash": hash_name,
              "bytes": len(payload)}
    if as_json:
        click.echo(json.dumps(report))
    else:
        console.print(f"signed {len(payload)} bytes of {file} with card {serial} ({kind.value} key, "
                      f"{report['algorithm']} {hash_name}): {target}, certificate {cert_path}", highlight=False)


@click.command("verify-signature")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("signature", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--cert", "cert_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Certificate (DER or PEM; default SIGNATURE.cert.der).")
@click.option("--hash", "hash_name", type=click.Choice(["sha256", "sha1"]), default="sha256", show_default=True)
@click.option("--pss", is_flag=True, help="The signature is RSA-PSS.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify_signature_command(file: Path, signature: Path, cert_path: Path | None, hash_name: str, pss: bool,
                             as_json: bool) -> None:
    """Check a signature made by a CPS against its certificate (offline, no reader)."""
    path = cert_path or signature.with_name(signature.name + ".cert.der")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--cert") from None
    try:
        cert = x509.load_pem_x509_certificate(raw) if raw.lstrip().startswith(b"-----") else \
            x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise click.BadParameter(f"{path}: not an X.509 certificate ({exc})", param_hint="--cert") from None
    try:
        verify_signature(cert, file.read_bytes(), signature.read_bytes(), hash_name=hash_name, pss=pss)
        ok = True
    except InvalidSignature:
        ok = False
    if as_json:
        click.echo(json.dumps({"valid": ok, "signer": cert.subject.rfc4514_string()}))
    elif ok:
        console.print(f"[green]valid[/green] signature by {cert.subject.rfc4514_string()}", highlight=False)
    else:
        err_console.print(f"[red]INVALID[/red] signature (certificate {cert.subject.rfc4514_string()})",
                          highlight=False)
    raise SystemExit(0 if ok else EXIT_ERROR)
