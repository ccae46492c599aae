"""``cpsdi fw``: signing keys, signed update images of the application bundle (docs/update-image.md)."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cpsdi.exceptions import ImageFormatError, KeyFileError, UpdateError
from cpsdi.flash_cli import flash
from cpsdi.fw_update_cli import fw_confirm, fw_rollback, fw_status, fw_update

log = logging.getLogger(__name__)

EXIT_ERROR = 1
console = Console()
err_console = Console(stderr=True)


def _die(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {escape(message)}")
    sys.exit(EXIT_ERROR)


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Update errors become one red line and exit status 1, never a traceback."""
    try:
        yield
    except UpdateError as exc:
        _die(str(exc))
    except OSError as exc:
        _die(f"{exc.filename or ''}: {exc.strerror or exc}")


@click.group("fw")
def fw() -> None:
    """Signed firmware updates: keys, images (MCUboot format), inspection."""


@fw.command("keygen")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for cpsdi-update.key.pem (0600) and cpsdi-update.pub.pem.")
@click.option("--force-in-repo", is_flag=True, help="Allow a folder inside a git working tree (test keys only).")
def keygen(out_dir: Path, force_in_repo: bool) -> None:
    """Generate an Ed25519 signing key pair. Never overwrites; keep the private key offline."""
    from cpsdi.update.image import keyhash
    from cpsdi.update.keys import write_key_pair

    with _clean_errors():
        pair = write_key_pair(out_dir, allow_in_repo=force_in_repo)
    console.print(f"private key: {escape(str(pair.private_path))} (mode 0600: keep it offline)")
    console.print(f"public key:  {escape(str(pair.public_path))}")
    console.print(f"KEYHASH:     {keyhash(pair.public_key).hex()}")


@fw.command("build")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Ed25519 private key (PEM, mode 0600).")
@click.option("--version", "version_text", required=True, metavar="X.Y.Z[+B]", help="Image version (display).")
@click.option("--sec-cnt", type=click.IntRange(0, 0xFFFFFFFF), required=True,
              help="Security counter (rollback protection: devices refuse a counter below their floor).")
@click.option("--board", required=True, help="Board package in cpsdi_boards; also the image's hw_id.")
@click.option("--hw-id", help="hw_id TLV if it differs from the board name.")
@click.option("--arch", default="armv6m", show_default=True, help="mpy-cross -march.")
@click.option("--opt", "opt_level", type=click.IntRange(0, 3), default=0, show_default=True, help="mpy-cross -O level.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Image file.")
def build(key_path: Path, version_text: str, sec_cnt: int, board: str, hw_id: str | None, arch: str, opt_level: int,
          output: Path) -> None:
    """Compile the device packages with mpy-cross, bundle them and sign the image."""
    from cpsdi.update import bundle as bundle_mod
    from cpsdi.update.image import ImageVersion, build_image, keyhash, verify
    from cpsdi.update.keys import load_private_key

    try:
        version = ImageVersion.parse(version_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None
    if arch not in bundle_mod.MPY_ARCHS[1:]:
        raise click.BadParameter(f"one of {', '.join(bundle_mod.MPY_ARCHS[1:])}", param_hint="--arch")
    with _clean_errors():
        key = load_private_key(key_path)
        sources = bundle_mod.device_sources(board)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=err_console, transient=True) as progress:
            task = progress.add_task("mpy-cross", total=len(sources))
            files = bundle_mod.compile_sources(sources, arch=arch, opt=opt_level,
                                               progress=lambda name: progress.advance(task))
        compat = bundle_mod.fw_compat_for(arch)
        payload = bundle_mod.build_bundle(files)
        try:
            image = build_image(payload, version=version, sec_cnt=sec_cnt, hw_id=hw_id or board, fw_compat=compat,
                                key=key)
        except ValueError as exc:
            _die(str(exc))
        info = verify(image, [key.public_key()])  # self-check before writing anything
        output.write_bytes(image)
    if board in bundle_mod.HOST_ONLY_BOARDS:
        err_console.print(f"[yellow]note:[/yellow] board {escape(board)} is host-only: the bundle has no board module")
    table = Table(title=f"{escape(str(output))}", show_header=False)
    for name, value in (
        ("files", f"{len(files)} ({sum(len(f.data) for f in files)} bytes of .mpy)"),
        ("bundle", f"{len(payload)} bytes"),
        ("image", f"{len(image)} bytes"),
        ("version", str(info.version)),
        ("sec_cnt", str(info.sec_cnt)),
        ("hw_id", info.hw_id),
        ("fw_compat", info.fw_compat),
        ("SHA-256", info.digest.hex()),
        ("KEYHASH", keyhash(key.public_key()).hex()),
    ):
        table.add_row(name, escape(value))
    console.print(table)


def _info_json(info: Any, entries: list[Any], bundle_error: str, key_file: str | None) -> dict[str, Any]:
    return {
        "version": str(info.version),
        "version_fields": [info.version.major, info.version.minor, info.version.revision, info.version.build],
        "sec_cnt": info.sec_cnt,
        "hw_id": info.hw_id,
        "payload_type": info.payload_type,
        "fw_compat": info.fw_compat,
        "hdr_size": info.hdr_size,
        "img_size": info.img_size,
        "protect_tlv_size": info.protect_tlv_size,
        "tlv_size": info.tlv_size,
        "total_size": info.total_size,
        "digest": info.digest.hex(),
        "digest_ok": info.digest_ok,
        "keyhash": info.keyhash.hex(),
        "signature": info.signature.hex(),
        "signature_ok": info.signature_ok,
        "signed_by": key_file,
        "ignored_tlvs": list(info.ignored_tlvs),
        "manifest": [{"path": e.path, "size": e.size, "sha256": e.sha256.hex(), "offset": e.offset} for e in entries],
        "manifest_error": bundle_error or None,
    }


@fw.command("inspect")
@click.argument("image_path", metavar="IMAGE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_paths", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Public key (PEM) to check the signature with (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect_cmd(image_path: Path, key_paths: tuple[Path, ...], as_json: bool) -> None:
    """Show every field of IMAGE, its bundle manifest and, with --key, whether its signature is valid.

    Exit status 1 if the image is malformed, its digest does not match, or (with --key) it
    is not signed by one of the keys.
    """
    from cpsdi.update.bundle import parse_bundle
    from cpsdi.update.image import PAYLOAD_BUNDLE, inspect, keyhash, verify
    from cpsdi.update.keys import load_public_key

    with _clean_errors():
        data = image_path.read_bytes()
        keys = [(str(p), load_public_key(p)) for p in key_paths]
        try:
            info = inspect(data)
        except ImageFormatError as exc:
            _die(f"{image_path}: {exc}")
    signed_by: str | None = None
    sig_error = ""
    if keys:
        try:
            info = verify(data, [k for _, k in keys])
            signed_by = next(name for name, k in keys if keyhash(k) == info.keyhash)
        except UpdateError as exc:
            sig_error = str(exc)
            info = dataclasses.replace(info, signature_ok=False)
    entries: list[Any] = []
    bundle_error = ""
    if info.payload_type == PAYLOAD_BUNDLE:
        try:
            entries = parse_bundle(info.payload)
        except ImageFormatError as exc:
            bundle_error = str(exc)
    failed = not info.digest_ok or info.signature_ok is False or bool(bundle_error)
    if as_json:
        click.echo(json.dumps(_info_json(info, entries, bundle_error, signed_by), indent=2))
        sys.exit(EXIT_ERROR if failed else 0)
    table = Table(title=escape(str(image_path)), show_header=False)

    def ok(flag: bool | None) -> str:
        return "[dim]not checked (no --key)[/dim]" if flag is None else "[green]valid[/green]" if flag else "[red]INVALID[/red]"

    for name, value in (
        ("header", f"magic 0x96f3b83d, hdr_size {info.hdr_size}, img_size {info.img_size}, "
                   f"protect_tlv_size {info.protect_tlv_size}, flags 0"),
        ("version", str(info.version)),
        ("SEC_CNT (0x50)", str(info.sec_cnt)),
        ("HW_ID (0xa0)", info.hw_id),
        ("PAYLOAD_TYPE (0xa1)", f"{info.payload_type}" + (" (application bundle)" if info.payload_type == 1 else "")),
        ("FW_COMPAT (0xa2)", info.fw_compat),
        ("SHA256 (0x10)", info.digest.hex()),
        ("KEYHASH (0x01)", info.keyhash.hex()),
        ("ED25519 (0x24)", info.signature.hex()),
        ("ignored TLVs", ", ".join(f"0x{t:02x}" for t in info.ignored_tlvs) or "none"),
        ("size", f"{info.total_size} bytes"),
    ):
        table.add_row(name, escape(value))
    table.add_row("digest", "[green]matches[/green]" if info.digest_ok else "[red]MISMATCH[/red]")
    table.add_row("signature", ok(info.signature_ok) + (f" ({escape(signed_by)})" if signed_by else ""))
    console.print(table)
    if sig_error:
        err_console.print(f"[red]{escape(sig_error)}[/red]")
    if entries:
        files = Table(title=f"bundle: {len(entries)} files")
        files.add_column("path")
        files.add_column("size", justify="right")
        files.add_column("sha256")
        for e in entries:
            files.add_row(escape(e.path), str(e.size), e.sha256.hex())
        console.print(files)
    if bundle_error:
        err_console.print(f"[red]{escape(bundle_error)}[/red]")
    sys.exit(EXIT_ERROR if failed else 0)


# the update-channel commands (issue #9) and the board deployment (issue #10) live in their
# own modules; they join the group here
fw.add_command(fw_update)
fw.add_command(fw_status)
fw.add_command(fw_confirm)
fw.add_command(fw_rollback)
fw.add_command(flash)
