"""Ed25519 signing keys for update images: generate, store, load (PEM, PKCS#8 / SubjectPublicKeyInfo).

Rules (house-style §10.6, update-channel.md §4.3): private keys live outside the repository,
in files only their owner can read. :func:`write_key_pair` refuses a target inside a git
working tree (unless ``allow_in_repo``) and never overwrites; :func:`load_private_key`
refuses a key file readable by group or others. Key material never reaches a log or an
exception message.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cpsdi.exceptions import KeyFileError

log = logging.getLogger(__name__)

PRIVATE_NAME = "cpsdi-update.key.pem"
PUBLIC_NAME = "cpsdi-update.pub.pem"


@dataclass(frozen=True)
class KeyPair:
    """Where :func:`write_key_pair` put the two files."""

    private_path: Path
    public_path: Path
    public_key: Ed25519PublicKey


def git_work_tree(path: Path) -> Path | None:
    """The enclosing git working tree of ``path`` (a folder holding ``.git``), or None."""
    here = path.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` (exclusive: never overwrites)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; refusing to overwrite a key file", "exists") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}", "io") from exc
    try:
        os.fchmod(fd, mode)  # the umask may have removed bits; never added any
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise KeyFileError(f"cannot write {path}: {exc.strerror}", "io") from exc


def write_key_pair(out_dir: Path, *, allow_in_repo: bool = False, key: Ed25519PrivateKey | None = None) -> KeyPair:
    """Generate (or take ``key``) and write ``cpsdi-update.key.pem`` (0600) and ``cpsdi-update.pub.pem`` (0644)."""
    out_dir = Path(out_dir)
    repo = git_work_tree(out_dir if out_dir.exists() else out_dir.parent)
    if repo is not None and not allow_in_repo:
        raise KeyFileError(f"{out_dir} is inside the git working tree {repo}: private keys stay out of "
                           "repositories (--force-in-repo to override)", "in_repo")
    private_path, public_path = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} exists; refusing to overwrite a key file", "exists")
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = key or Ed25519PrivateKey.generate()
    _write_new(private_path, private_pem(key), 0o600)
    _write_new(public_path, public_pem(key.public_key()), 0o644)
    log.info("wrote Ed25519 key pair %s / %s", private_path, public_path)
    return KeyPair(private_path, public_path, key.public_key())


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}", "io") from exc


def load_private_key(path: Path, *, check_mode: bool = True) -> Ed25519PrivateKey:
    """An unencrypted PKCS#8 PEM Ed25519 private key; refused if group or others may access the file."""
    path = Path(path)
    data = _read(path)
    if b"PRIVATE KEY" not in data:
        raise KeyFileError(f"{path} is not a PEM private key" + (" (it is a public key)" if b"PUBLIC KEY" in data
                                                                  else ""), "format")
    if check_mode:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
                               f"run: chmod 600 {path}", "permissions")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key", "format") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key", "format")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key (PEM SubjectPublicKeyInfo), or the public half of a private key file."""
    data = _read(Path(path))
    try:
        if b"PRIVATE KEY" in data:
            return load_private_key(Path(path)).public_key()
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM public key", "format") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key", "format")
    return key
