"""The PKCS#15 directory files a CPS application holds (ISO/IEC 7816-15, PKCS#15 v1.1), read
leniently: only what the CPS API needs (labels, paths, key references), and the CPx quirks
accepted (cps-cards.md §5.5: ``03 01 xx`` BIT STRINGs, no algReference in the PrKDF).
"""

from __future__ import annotations

from dataclasses import dataclass

from cpsdi.cps.tlv import TLVError, find, iter_tlvs

__all__ = ["ODF", "ObjectEntry", "KeyEntry", "parse_odf", "parse_cdf", "parse_dodf", "parse_prkdf"]

_SEQ = b"\x30"
_UTF8 = b"\x0c"
_OCTETS = b"\x04"
_INTEGER = b"\x02"


@dataclass(frozen=True)
class ODF:
    """EF.ODF: paths of the directory files (absent ones are None)."""

    prkdf: bytes | None
    cdf: bytes | None
    dodf: bytes | None
    aodf: bytes | None


@dataclass(frozen=True)
class ObjectEntry:
    """A CDF or DODF entry: label, the authId protecting it (None: free read), its path."""

    label: str
    auth_id: bytes | None
    path: bytes
    object_id: bytes = b""


@dataclass(frozen=True)
class KeyEntry:
    """A PrKDF entry: label, key id, key reference on the card, modulus size."""

    label: str
    key_id: bytes
    reference: int | None
    modulus_bits: int | None


def _path_value(path_seq: bytes) -> bytes:
    """Path ::= SEQUENCE { path OCTET STRING, ... } -> the path bytes."""
    value = find(path_seq, _OCTETS)
    if value is None:
        raise TLVError("Path without its OCTET STRING")
    return value


def parse_odf(data: bytes) -> ODF:
    """EF.ODF: [0] privateKeys, [4] certificates, [7] dataObjects, [8] authObjects (each a Path)."""
    found: dict[int, bytes] = {}
    for tag, value in iter_tlvs(data):
        if tag[0] & 0xE0 != 0xA0:
            continue
        path_seq = find(value, _SEQ)
        if path_seq is not None:
            found[tag[0] & 0x1F] = _path_value(path_seq)
    return ODF(found.get(0), found.get(4), found.get(7), found.get(8))


def _common(entry: bytes) -> tuple[str, bytes | None, list[tuple[bytes, bytes]]]:
    """(label, authId, the entry's TLVs) of a PKCS15Object SEQUENCE value."""
    parts = list(iter_tlvs(entry))
    if not parts or parts[0][0] != _SEQ:
        raise TLVError("PKCS#15 object without CommonObjectAttributes")
    label, auth_id = "", None
    for tag, value in iter_tlvs(parts[0][1]):
        if tag == _UTF8:
            label = value.decode("utf-8", "replace")
        elif tag == _OCTETS:
            auth_id = value
    return label, auth_id, parts


def _typed_path(parts: list[tuple[bytes, bytes]]) -> bytes:
    """The Path inside the [1] typeAttributes (directly, or inside one more SEQUENCE)."""
    for tag, value in parts[1:]:
        if tag == b"\xa1":
            inner = find(value, _SEQ)
            if inner is None:
                break
            nested = find(inner, _SEQ)
            return _path_value(nested if nested is not None else inner)
    raise TLVError("PKCS#15 object without a path")


def _entries(data: bytes) -> list[bytes]:
    return [value for tag, value in iter_tlvs(data) if tag == _SEQ]


def parse_cdf(data: bytes) -> list[ObjectEntry]:
    """EF.CDF: x509Certificate entries (label, id, path)."""
    out = []
    for entry in _entries(data):
        label, auth_id, parts = _common(entry)
        cert_id = b""
        if len(parts) > 1 and parts[1][0] == _SEQ:
            cert_id = find(parts[1][1], _OCTETS) or b""
        out.append(ObjectEntry(label, auth_id, _typed_path(parts), cert_id))
    return out


def parse_dodf(data: bytes) -> list[ObjectEntry]:
    """EF.DODF: opaque data objects (label, authId or None, path)."""
    out = []
    for entry in _entries(data):
        label, auth_id, parts = _common(entry)
        out.append(ObjectEntry(label, auth_id, _typed_path(parts)))
    return out


def parse_prkdf(data: bytes) -> list[KeyEntry]:
    """EF.PrKDF: RSA private keys (label, id, keyReference, modulus length)."""
    out = []
    for entry in _entries(data):
        label, _, parts = _common(entry)
        key_id, reference, bits = b"", None, None
        if len(parts) > 1 and parts[1][0] == _SEQ:
            for tag, value in iter_tlvs(parts[1][1]):
                if tag == _OCTETS and not key_id:
                    key_id = value
                elif tag == _INTEGER and reference is None:
                    reference = int.from_bytes(value, "big")
        for tag, value in parts[1:]:
            if tag == b"\xa1":
                inner = find(value, _SEQ)
                if inner is not None:
                    size = find(inner, _INTEGER)
                    bits = int.from_bytes(size, "big") if size else None
        out.append(KeyEntry(label, key_id, reference, bits))
    return out
