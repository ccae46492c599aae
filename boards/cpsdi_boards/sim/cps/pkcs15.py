"""PKCS#15 (ISO/IEC 7816-15) directory files of the virtual CPS cards: ODF, TokenInfo, AODF,
PrKDF, CDF, DODF, in DER built by hand.

``quirks=True`` reproduces what public tools saw on real CPx cards (cps-cards.md §5.5):

* FACT (I2224, commit 4119b2c3e): the CommonObjectAttributes ``flags`` BIT STRING of the
  AODF and CDF entries violates X.690. The bytes are FACT too (hexdump of a real CPS3's 7001
  and 7005 in I2224): ``03 01 08`` in the AODF (an "unused-bits" octet of 08, above the
  allowed 0..7, and no content) and ``03 02 08 00`` in the CDF (08, then one content octet 00).
  OpenSC's lax decoding takes ``08 & 7`` = 0 unused bits and accepts both; an earlier GUESS
  here (``03 01 06``: a plausible count, no content) made OpenSC 0.23 fail with -6 (its lax
  decoder returns 8 * octets - unused bits, negative for an empty string).
* FACT (I2267/#2270): PrKDF entries carry no ``algReference``.

``quirks=False`` gives the clean encodings (X.690 BIT STRINGs, algReference present).
"""

from __future__ import annotations

from dataclasses import dataclass

from cpsdi_boards.sim.cps.der import (
    integer,
    named_bits,
    octet_string,
    sequence,
    tlv,
    utf8_string,
)

__all__ = [
    "AlgorithmInfo",
    "PinInfo",
    "PrivateKeyInfo",
    "CertificateInfo",
    "DataObjectInfo",
    "CPX_ALGORITHMS",
    "build_odf",
    "build_token_info",
    "build_aodf",
    "build_prkdf",
    "build_cdf",
    "build_dodf",
]

# CommonObjectFlags (PKCS#15 v1.1 §6.2.1)
FLAG_PRIVATE = 0
FLAG_MODIFIABLE = 1
# KeyUsageFlags / KeyAccessFlags
USAGE_DECRYPT = 1
USAGE_SIGN = 2
USAGE_NON_REPUDIATION = 9
ACCESS_SENSITIVE = 0
ACCESS_ALWAYS_SENSITIVE = 2
ACCESS_NEVER_EXTRACTABLE = 3
# PinFlags
PIN_LOCAL = 1
PIN_CHANGE_DISABLED = 2
PIN_UNBLOCK_DISABLED = 3
PIN_INITIALIZED = 4
PIN_UNBLOCKING_PIN = 6
PIN_TYPE_ASCII_NUMERIC = 1
# Operations of AlgorithmInfo.supportedOperations
OP_COMPUTE_SIGNATURE = 1
OP_DECIPHER = 5
OP_HASH = 6
# PKCS#11 mechanism numbers used as PKCS#15 algorithm identifiers
CKM_RSA_PKCS = 0x0001
CKM_SHA1_RSA_PKCS = 0x0006
CKM_SHA256_RSA_PKCS = 0x0040
CKM_SHA_1 = 0x0220
CKM_SHA256 = 0x0250


@dataclass(frozen=True)
class AlgorithmInfo:
    """TokenInfo.supportedAlgorithms entry: reference, mechanism, operations, card algRef."""

    reference: int
    mechanism: int
    operations: tuple[int, ...]
    alg_ref: int


# FACT (I2267): ref1 SHA-1 0x10, ref2 SHA-256 0x40, ref3 SHA1-RSA-PKCS 0x12, ref4
# SHA256-RSA-PKCS 0x42, ref5 RSA-PKCS (its algRef is cut in the public output: GUESS 0x02,
# the IAS-ECC AT reference of §6.4).
CPX_ALGORITHMS = (
    AlgorithmInfo(1, CKM_SHA_1, (OP_HASH,), 0x10),
    AlgorithmInfo(2, CKM_SHA256, (OP_HASH,), 0x40),
    AlgorithmInfo(3, CKM_SHA1_RSA_PKCS, (OP_COMPUTE_SIGNATURE,), 0x12),
    AlgorithmInfo(4, CKM_SHA256_RSA_PKCS, (OP_COMPUTE_SIGNATURE,), 0x42),
    AlgorithmInfo(5, CKM_RSA_PKCS, (OP_COMPUTE_SIGNATURE, OP_DECIPHER), 0x02),
)


@dataclass(frozen=True)
class PinInfo:
    """An AODF PIN object."""

    label: str
    auth_id: bytes
    unblock_auth_id: bytes | None
    reference: int
    unblocking: bool = False
    min_length: int = 4
    stored_length: int = 8
    max_length: int = 8


@dataclass(frozen=True)
class PrivateKeyInfo:
    """A PrKDF RSA private key entry."""

    label: str
    key_id: bytes
    usage: tuple[int, ...]
    key_reference: int
    modulus_bits: int
    path: bytes
    auth_id: bytes
    alg_references: tuple[int, ...]


@dataclass(frozen=True)
class CertificateInfo:
    """A CDF X.509 certificate entry."""

    label: str
    cert_id: bytes
    path: bytes


@dataclass(frozen=True)
class DataObjectInfo:
    """A DODF opaque data object entry (``auth_id`` None: free read)."""

    label: str
    path: bytes
    auth_id: bytes | None
    application: str = "CPS"


def _path(path: bytes) -> bytes:
    return sequence(octet_string(path))


# FACT (I2224 hexdumps, see the module docstring): the quirky flags of a real CPS3.
QUIRK_FLAGS_AODF = bytes.fromhex("03 01 08")
QUIRK_FLAGS_CDF = bytes.fromhex("03 02 08 00")


def _flags(bits: tuple[int, ...], quirk: bytes | None) -> bytes:
    return named_bits(*bits) if quirk is None else quirk


def _common_object(label: str, flags: tuple[int, ...], auth_id: bytes | None, quirk: bytes | None) -> bytes:
    items = [utf8_string(label), _flags(flags, quirk)]
    if auth_id is not None:
        items.append(octet_string(auth_id))
    return sequence(*items)


def build_odf(*, prkdf: bytes, cdf: bytes, dodf: bytes, aodf: bytes) -> bytes:
    """EF.ODF: privateKeys [0], certificates [4], dataObjects [7], authObjects [8] paths."""
    return (
        tlv(b"\xA0", _path(prkdf))
        + tlv(b"\xA4", _path(cdf))
        + tlv(b"\xA7", _path(dodf))
        + tlv(b"\xA8", _path(aodf))
    )


def build_token_info(
    *,
    serial: bytes,
    label: str,
    manufacturer: str = "ASIP SANTE",
    last_update: str = "20100316110000Z",
    algorithms: tuple[AlgorithmInfo, ...] = CPX_ALGORITHMS,
) -> bytes:
    """EF.TokenInfo. FACT (I2267): manufacturer "ASIP SANTE", lastUpdate 20100316110000Z,
    flags read-only + login required, the supported algorithms above."""
    algs = [
        sequence(
            integer(a.reference), integer(a.mechanism), b"\x05\x00", named_bits(*a.operations), integer(a.alg_ref)
        )
        for a in algorithms
    ]
    return sequence(
        integer(0),
        octet_string(serial),
        utf8_string(manufacturer),
        utf8_string(label, tag=b"\x80"),
        named_bits(0, 1),  # readOnly, loginRequired
        sequence(*algs, tag=b"\xA2"),
        tlv(b"\xA5", tlv(b"\x18", last_update.encode("ascii"))),
    )


def build_aodf(pins: tuple[PinInfo, ...], quirks: bool) -> bytes:
    """EF.AODF: PIN objects (pinType ascii-numeric, pinReference [0], pad FF -- GUESS)."""
    out = b""
    for p in pins:
        pin_flags = [PIN_LOCAL, PIN_INITIALIZED]
        if p.unblocking:
            pin_flags += [PIN_CHANGE_DISABLED, PIN_UNBLOCK_DISABLED, PIN_UNBLOCKING_PIN]
        attrs = sequence(
            named_bits(*sorted(pin_flags)),
            tlv(b"\x0A", bytes((PIN_TYPE_ASCII_NUMERIC,))),
            integer(p.min_length),
            integer(p.stored_length),
            integer(p.max_length),
            tlv(b"\x80", integer(p.reference)[2:]),
            octet_string(b"\xFF"),
        )
        out += sequence(
            _common_object(p.label, (FLAG_PRIVATE, FLAG_MODIFIABLE), p.unblock_auth_id,
                           QUIRK_FLAGS_AODF if quirks else None),
            sequence(octet_string(p.auth_id)),
            tlv(b"\xA1", attrs),
        )
    return out


def build_prkdf(keys: tuple[PrivateKeyInfo, ...], quirks: bool) -> bytes:
    """EF.PrKDF: RSA private keys (no algReference when ``quirks``)."""
    out = b""
    for k in keys:
        common_key = [
            octet_string(k.key_id),
            named_bits(*k.usage),
            named_bits(ACCESS_SENSITIVE, ACCESS_ALWAYS_SENSITIVE, ACCESS_NEVER_EXTRACTABLE),
            integer(k.key_reference),
        ]
        if not quirks:
            common_key.append(sequence(*(integer(r) for r in k.alg_references), tag=b"\xA1"))
        out += sequence(
            _common_object(k.label, (FLAG_PRIVATE,), k.auth_id, None),
            sequence(*common_key),
            tlv(b"\xA1", sequence(_path(k.path), integer(k.modulus_bits))),
        )
    return out


def build_cdf(certs: tuple[CertificateInfo, ...], quirks: bool) -> bytes:
    """EF.CDF: X.509 certificates by path."""
    out = b""
    for c in certs:
        out += sequence(
            _common_object(c.label, (FLAG_MODIFIABLE,), None, QUIRK_FLAGS_CDF if quirks else None),
            sequence(octet_string(c.cert_id)),
            tlv(b"\xA1", sequence(_path(c.path))),
        )
    return out


def build_dodf(objects: tuple[DataObjectInfo, ...]) -> bytes:
    """EF.DODF: opaque data objects by path (GUESS: not published)."""
    out = b""
    for d in objects:
        flags = (FLAG_PRIVATE,) if d.auth_id is not None else ()
        out += sequence(
            _common_object(d.label, flags, d.auth_id, None),
            sequence(utf8_string(d.application)),
            tlv(b"\xA1", _path(d.path)),
        )
    return out
