"""MCUboot-format signed images of the application bundle: build, parse, inspect, verify.

Layout (docs/update-image.md; MCUboot ``docs/design.md``, imgtool 2.5.0), all little-endian::

    header (32)       magic 0x96f3b83d, load_addr 0, hdr_size 32, protect_tlv_size, img_size,
                      flags 0, version {u8 major, u8 minor, u16 revision, u32 build}, pad 0
    payload           img_size bytes: the application bundle (cpsdi.update.bundle)
    protected TLVs    info {u16 0x6908, u16 protect_tlv_size}, then, in this order:
                      SEC_CNT 0x50 (u32), HW_ID 0xA0 (ASCII), PAYLOAD_TYPE 0xA1 (u8),
                      FW_COMPAT 0xA2 (ASCII)
    TLVs              info {u16 0x6907, u16 total}, then SHA256 0x10 (32), KEYHASH 0x01 (32),
                      ED25519 0x24 (64)

SHA256 covers header ‖ payload ‖ protected TLVs (info header included); KEYHASH is SHA-256 of
the DER SubjectPublicKeyInfo of the Ed25519 public key (as imgtool computes it); ED25519 is the
signature of the 32-byte SHA256 value (imgtool's default for ed25519, "sign the digest").
``imgtool verify -k PUB.pem IMAGE`` accepts these images (tests/host/test_update_image.py).

The **metadata blob** is the image without its payload: header ‖ protected TLVs ‖ TLVs
(:func:`metadata`). The host sends it before the payload; the device parses it with
``cpsdi_fw.mcuboot`` and checks key, signature and policy before erasing anything.

The checks here mirror the device parser: the ``reason`` of every :class:`UpdateError` raised
is the name of the device's error code (``cpsdi_fw.mcuboot.ERR_*``) in lower case.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from construct import Bytes, Int8ul, Int16ul, Int32ul, Struct
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cpsdi.exceptions import (
    ImageFormatError,
    IncompatibleImage,
    RollbackRejected,
    SignatureRejected,
    UpdateError,
)

log = logging.getLogger(__name__)

IMAGE_MAGIC = 0x96F3B83D
HEADER_SIZE = 32
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908
TLV_INFO_SIZE = 4
TLV_HEADER_SIZE = 4

# MCUboot TLV types used here (bootutil/image.h, imgtool image.py TLV_VALUES)
TLV_KEYHASH = 0x01
TLV_SHA256 = 0x10
TLV_ED25519 = 0x24
TLV_SEC_CNT = 0x50
# cpsdi vendor TLVs (MCUboot vendor range 0xA0-0xFF), protected area only
TLV_HW_ID = 0xA0
TLV_PAYLOAD_TYPE = 0xA1
TLV_FW_COMPAT = 0xA2
# Hash / key / signature TLVs we do not use: refused in the unprotected area (exactly one hash,
# one key id and one signature, no "pure" signature semantics).
FORBIDDEN_TLVS = frozenset({0x02, 0x11, 0x12, 0x20, 0x21, 0x22, 0x23, 0x25})

PAYLOAD_BUNDLE = 1
"""PAYLOAD_TYPE value: a cpsdi application bundle (cpsdi.update.bundle), uncompressed."""
SUPPORTED_PAYLOAD_TYPES = frozenset({PAYLOAD_BUNDLE})

MAX_TEXT_TLV = 32
"""Longest hw_id / fw_compat (bytes)."""
MAX_METADATA = 1024
"""Longest metadata blob the device accepts (it arrives in one BEGIN message)."""

ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
"""DER SubjectPublicKeyInfo of an Ed25519 key, before the 32 key bytes (RFC 8410)."""

_TEXT_RE = re.compile(rb"[\x21-\x7e]+(?: [\x21-\x7e]+)*")

ImageHeader = Struct(
    "magic" / Int32ul,
    "load_addr" / Int32ul,
    "hdr_size" / Int16ul,
    "protect_tlv_size" / Int16ul,
    "img_size" / Int32ul,
    "flags" / Int32ul,
    "major" / Int8ul,
    "minor" / Int8ul,
    "revision" / Int16ul,
    "build" / Int32ul,
    "pad1" / Int32ul,
)
TLVInfo = Struct("magic" / Int16ul, "total" / Int16ul)
TLV = Struct("type" / Int16ul, "length" / Int16ul, "value" / Bytes(lambda this: this.length))


@dataclass(frozen=True, order=True)
class ImageVersion:
    """MCUboot ``ih_ver``: major.minor.revision+build (display only; SEC_CNT is the counter)."""

    major: int
    minor: int
    revision: int = 0
    build: int = 0

    @classmethod
    def parse(cls, text: str) -> ImageVersion:
        """``"1.2.3"`` or ``"1.2.3+4"`` (imgtool's syntax)."""
        m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(?:\+(\d+))?", text.strip())
        if not m:
            raise ValueError(f"version {text!r}: expected MAJOR.MINOR.REVISION[+BUILD]")
        version = cls(int(m[1]), int(m[2]), int(m[3] or 0), int(m[4] or 0))
        if version.major > 0xFF or version.minor > 0xFF or version.revision > 0xFFFF or version.build > 0xFFFFFFFF:
            raise ValueError(f"version {text!r}: out of range (u8.u8.u16+u32)")
        return version

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.revision}+{self.build}"


@dataclass(frozen=True)
class ImageInfo:
    """Everything an image says about itself, after the checks of :func:`inspect` / :func:`verify`."""

    version: ImageVersion
    sec_cnt: int
    hw_id: str
    payload_type: int
    fw_compat: str
    hdr_size: int
    img_size: int
    protect_tlv_size: int
    tlv_size: int
    digest: bytes
    keyhash: bytes
    signature: bytes
    digest_ok: bool
    signature_ok: bool | None = None
    """True after :func:`verify`; None when no key was given (:func:`inspect`)."""
    payload: bytes = field(default=b"", repr=False)
    ignored_tlvs: tuple[int, ...] = ()
    """Types of unknown TLVs in the unprotected area (ignored, like the device does)."""

    @property
    def total_size(self) -> int:
        return self.hdr_size + self.img_size + self.protect_tlv_size + self.tlv_size


# ----------------------------------------------------------------------------- keys


def public_key_der(public_key: Ed25519PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo (44 bytes), what imgtool hashes for KEYHASH."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def keyhash(public_key: Ed25519PublicKey) -> bytes:
    """KEYHASH TLV value: SHA-256 of the DER SubjectPublicKeyInfo (imgtool ``getpubhash``)."""
    return hashlib.sha256(public_key_der(public_key)).digest()


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32 key bytes (what the device bakes in)."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# ----------------------------------------------------------------------------- build


def _tlv(tlv_type: int, value: bytes) -> bytes:
    return bytes(TLV.build({"type": tlv_type, "length": len(value), "value": value}))


def _check_text(name: str, value: str) -> bytes:
    data = value.encode("ascii", "replace")
    if not value.isascii() or not 1 <= len(data) <= MAX_TEXT_TLV or not _TEXT_RE.fullmatch(data):
        raise ValueError(f"{name} {value!r}: 1..{MAX_TEXT_TLV} printable ASCII characters, single spaces")
    return data


def protected_tlvs(sec_cnt: int, hw_id: str, payload_type: int, fw_compat: str) -> list[tuple[int, bytes]]:
    """The protected TLVs of an image, in their fixed order."""
    if not 0 <= sec_cnt <= 0xFFFFFFFF:
        raise ValueError(f"security counter {sec_cnt}: must fit in u32")
    if not 0 <= payload_type <= 0xFF:
        raise ValueError(f"payload type {payload_type}: must fit in u8")
    return [
        (TLV_SEC_CNT, Int32ul.build(sec_cnt)),
        (TLV_HW_ID, _check_text("hw_id", hw_id)),
        (TLV_PAYLOAD_TYPE, bytes([payload_type])),
        (TLV_FW_COMPAT, _check_text("fw_compat", fw_compat)),
    ]


def build_image(
    payload: bytes,
    *,
    version: ImageVersion,
    sec_cnt: int,
    hw_id: str,
    fw_compat: str,
    key: Ed25519PrivateKey,
    payload_type: int = PAYLOAD_BUNDLE,
) -> bytes:
    """A signed image of ``payload``. Deterministic: same arguments, same bytes."""
    if not payload:
        raise ValueError("empty payload")
    prot_body = b"".join(_tlv(t, v) for t, v in protected_tlvs(sec_cnt, hw_id, payload_type, fw_compat))
    prot_size = TLV_INFO_SIZE + len(prot_body)
    header = bytes(
        ImageHeader.build(
            {
                "magic": IMAGE_MAGIC,
                "load_addr": 0,
                "hdr_size": HEADER_SIZE,
                "protect_tlv_size": prot_size,
                "img_size": len(payload),
                "flags": 0,
                "major": version.major,
                "minor": version.minor,
                "revision": version.revision,
                "build": version.build,
                "pad1": 0,
            }
        )
    )
    prot = bytes(TLVInfo.build({"magic": TLV_PROT_INFO_MAGIC, "total": prot_size})) + prot_body
    digest = hashlib.sha256(header + payload + prot).digest()
    signature = key.sign(digest)
    body = _tlv(TLV_SHA256, digest) + _tlv(TLV_KEYHASH, keyhash(key.public_key())) + _tlv(TLV_ED25519, signature)
    tlvs = bytes(TLVInfo.build({"magic": TLV_INFO_MAGIC, "total": TLV_INFO_SIZE + len(body)})) + body
    image = header + payload + prot + tlvs
    log.info("image: %d bytes (payload %d), version %s, sec_cnt %d, hw_id %s, digest %s",
             len(image), len(payload), version, sec_cnt, hw_id, digest.hex())
    return image


# ----------------------------------------------------------------------------- parse


@dataclass
class _Parsed:
    header: dict[str, int]
    prot_off: int
    tlv_off: int
    tlv_size: int
    protected: dict[int, bytes]
    unprotected: dict[int, bytes]
    ignored: list[int]


def _fail(reason: str, message: str) -> ImageFormatError:
    return ImageFormatError(f"{message} [{reason}]", reason)


def _header(data: bytes) -> dict[str, int]:
    if len(data) < HEADER_SIZE:
        raise _fail("bounds", f"truncated: {len(data)} bytes, the header alone is {HEADER_SIZE}")
    h = ImageHeader.parse(data[:HEADER_SIZE])
    if h.magic != IMAGE_MAGIC:
        raise _fail("magic", f"not an MCUboot image (magic 0x{h.magic:08x}, expected 0x{IMAGE_MAGIC:08x})")
    if h.hdr_size != HEADER_SIZE:
        raise _fail("header", f"header size {h.hdr_size}, expected {HEADER_SIZE}")
    if h.load_addr or h.flags or h.pad1:
        raise _fail("header", f"load_addr 0x{h.load_addr:x} / flags 0x{h.flags:x} / pad 0x{h.pad1:x} must be 0")
    if h.img_size == 0:
        raise _fail("header", "empty payload (img_size 0)")
    if h.protect_tlv_size < TLV_INFO_SIZE:
        raise _fail("missing", f"no protected TLV area (protect_tlv_size {h.protect_tlv_size})")
    return {k: int(v) for k, v in h.items() if not k.startswith("_")}


def _walk(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """TLVs in data[start:end], lazily (so checks run in the device's order); each must lie inside."""
    pos = start
    while pos < end:
        if pos + TLV_HEADER_SIZE > end:
            raise _fail("bounds", f"TLV header at offset {pos} crosses the end of its area ({end})")
        tlv_type, length = int.from_bytes(data[pos:pos + 2], "little"), int.from_bytes(data[pos + 2:pos + 4], "little")
        if pos + TLV_HEADER_SIZE + length > end:
            raise _fail("bounds", f"TLV 0x{tlv_type:02x} at offset {pos} ({length} bytes) crosses the end of its area")
        yield tlv_type, data[pos + 4:pos + 4 + length]
        pos += TLV_HEADER_SIZE + length


_PROTECTED_LENGTHS: dict[int, tuple[int, int]] = {
    TLV_SEC_CNT: (4, 4),
    TLV_HW_ID: (1, MAX_TEXT_TLV),
    TLV_PAYLOAD_TYPE: (1, 1),
    TLV_FW_COMPAT: (1, MAX_TEXT_TLV),
}
_UNPROTECTED_LENGTHS: dict[int, int] = {TLV_SHA256: 32, TLV_KEYHASH: 32, TLV_ED25519: 64}
_NAMES = {
    TLV_SEC_CNT: "SEC_CNT", TLV_HW_ID: "HW_ID", TLV_PAYLOAD_TYPE: "PAYLOAD_TYPE", TLV_FW_COMPAT: "FW_COMPAT",
    TLV_SHA256: "SHA256", TLV_KEYHASH: "KEYHASH", TLV_ED25519: "ED25519",
}


def tlv_name(tlv_type: int) -> str:
    """Display name of a TLV type."""
    return _NAMES.get(tlv_type, f"0x{tlv_type:02x}")


def _parse_areas(data: bytes, header: dict[str, int], prot_off: int) -> _Parsed:
    """The two TLV areas of ``data`` (a whole image or a metadata blob), the protected one at ``prot_off``.

    Check order and reasons are those of ``cpsdi_fw.mcuboot.ImageMeta.parse``.
    """
    prot_size = header["protect_tlv_size"]
    prot_end = prot_off + prot_size
    if prot_end + TLV_INFO_SIZE > len(data):
        raise _fail("bounds", f"truncated: {len(data)} bytes, the TLV areas need at least {prot_end + TLV_INFO_SIZE}")
    info = TLVInfo.parse(data[prot_off:prot_off + TLV_INFO_SIZE])
    if info.magic != TLV_PROT_INFO_MAGIC or info.total != prot_size:
        raise _fail("tlv_info", f"protected TLV info {info.magic:04x}/{info.total}, expected "
                                f"{TLV_PROT_INFO_MAGIC:04x}/{prot_size}")
    protected: dict[int, bytes] = {}
    for tlv_type, value in _walk(data, prot_off + TLV_INFO_SIZE, prot_end):
        if tlv_type not in _PROTECTED_LENGTHS:
            raise _fail("tlv_unknown", f"protected TLV 0x{tlv_type:02x} is not on the allow-list")
        if tlv_type in protected:
            raise _fail("tlv_dup", f"protected TLV {tlv_name(tlv_type)} twice")
        low, high = _PROTECTED_LENGTHS[tlv_type]
        if not low <= len(value) <= high:
            raise _fail("tlv_len", f"protected TLV {tlv_name(tlv_type)}: {len(value)} bytes")
        if tlv_type in (TLV_HW_ID, TLV_FW_COMPAT) and not _TEXT_RE.fullmatch(value):
            raise _fail("tlv_value", f"protected TLV {tlv_name(tlv_type)} is not printable ASCII")
        protected[tlv_type] = value
    for tlv_type in _PROTECTED_LENGTHS:
        if tlv_type not in protected:
            raise _fail("missing", f"no {tlv_name(tlv_type)} TLV in the protected area")
    tlv_off = prot_end
    info = TLVInfo.parse(data[tlv_off:tlv_off + TLV_INFO_SIZE])
    if info.magic != TLV_INFO_MAGIC or info.total < TLV_INFO_SIZE:
        raise _fail("tlv_info", f"TLV info {info.magic:04x}/{info.total}, expected {TLV_INFO_MAGIC:04x}")
    tlv_end = tlv_off + info.total
    if tlv_end > len(data):
        raise _fail("bounds", f"truncated: the TLV area ends at {tlv_end}, the data at {len(data)}")
    unprotected: dict[int, bytes] = {}
    ignored: list[int] = []
    for tlv_type, value in _walk(data, tlv_off + TLV_INFO_SIZE, tlv_end):
        if tlv_type in _UNPROTECTED_LENGTHS:
            if tlv_type in unprotected:
                raise _fail("tlv_dup", f"TLV {tlv_name(tlv_type)} twice")
            if len(value) != _UNPROTECTED_LENGTHS[tlv_type]:
                raise _fail("tlv_len", f"TLV {tlv_name(tlv_type)}: {len(value)} bytes")
            unprotected[tlv_type] = value
        elif tlv_type in FORBIDDEN_TLVS:
            raise _fail("tlv_forbidden", f"TLV 0x{tlv_type:02x} (another hash, key or signature) is refused")
        else:
            ignored.append(tlv_type)
    if tlv_end != len(data):
        raise _fail("trailing", f"{len(data) - tlv_end} bytes after the TLV area")
    for tlv_type in _UNPROTECTED_LENGTHS:
        if tlv_type not in unprotected:
            raise _fail("missing", f"no {tlv_name(tlv_type)} TLV")
    return _Parsed(header, prot_off, tlv_off, info.total, protected, unprotected, ignored)


def _parse_image(image: bytes) -> _Parsed:
    if len(image) >= HEADER_SIZE and len(image) - int.from_bytes(image[12:16], "little") > MAX_METADATA:
        raise _fail("bounds", f"metadata of {len(image) - int.from_bytes(image[12:16], 'little')} bytes "
                              f"(at most {MAX_METADATA}: the device takes it in one BEGIN message)")
    header = _header(image)
    prot_off = HEADER_SIZE + header["img_size"]
    if prot_off > len(image):
        raise _fail("bounds", f"truncated: {len(image)} bytes, the payload alone ends at {prot_off}")
    return _parse_areas(image, header, prot_off)


def metadata(image: bytes) -> bytes:
    """The metadata blob of an image: header ‖ protected TLV area ‖ TLV area (no payload).

    Raises ImageFormatError if the image is malformed.
    """
    p = _parse_image(bytes(image))
    return bytes(image[:HEADER_SIZE]) + bytes(image[p.prot_off:p.tlv_off + p.tlv_size])


def parse_metadata(blob: bytes) -> ImageInfo:
    """The fields of a metadata blob (what the device sees at BEGIN); no digest or signature check."""
    blob = bytes(blob)
    if len(blob) > MAX_METADATA:
        raise _fail("bounds", f"metadata blob of {len(blob)} bytes (at most {MAX_METADATA})")
    header = _header(blob)
    return _info(_parse_areas(blob, header, HEADER_SIZE), b"", digest_ok=False)


def _info(p: _Parsed, payload: bytes, *, digest_ok: bool, signature_ok: bool | None = None) -> ImageInfo:
    h = p.header
    return ImageInfo(
        version=ImageVersion(h["major"], h["minor"], h["revision"], h["build"]),
        sec_cnt=int.from_bytes(p.protected[TLV_SEC_CNT], "little"),
        hw_id=p.protected[TLV_HW_ID].decode("ascii"),
        payload_type=p.protected[TLV_PAYLOAD_TYPE][0],
        fw_compat=p.protected[TLV_FW_COMPAT].decode("ascii"),
        hdr_size=h["hdr_size"],
        img_size=h["img_size"],
        protect_tlv_size=h["protect_tlv_size"],
        tlv_size=p.tlv_size,
        digest=p.unprotected[TLV_SHA256],
        keyhash=p.unprotected[TLV_KEYHASH],
        signature=p.unprotected[TLV_ED25519],
        digest_ok=digest_ok,
        signature_ok=signature_ok,
        payload=payload,
        ignored_tlvs=tuple(p.ignored),
    )


def inspect(image: bytes) -> ImageInfo:
    """Parse ``image`` strictly and recompute its digest; the signature is not checked.

    Raises ImageFormatError for a malformed image; a digest mismatch is reported in
    ``digest_ok``, not raised.
    """
    image = bytes(image)
    p = _parse_image(image)
    digest = hashlib.sha256(image[:p.tlv_off]).digest()
    payload = image[HEADER_SIZE:p.prot_off]
    return _info(p, payload, digest_ok=digest == p.unprotected[TLV_SHA256])


def verify(
    image: bytes,
    public_keys: Sequence[Ed25519PublicKey],
    *,
    hw_id: str | None = None,
    fw_compat: str | None = None,
    floor: int | None = None,
    max_img_size: int | None = None,
) -> ImageInfo:
    """Check ``image`` as the device does, offline; return its fields or raise.

    Order: structure (ImageFormatError), KEYHASH among ``public_keys`` then the Ed25519
    signature of the SHA256 value then the digest itself (SignatureRejected, reasons
    ``key`` / ``signature`` / ``digest``), payload type, ``hw_id``, ``fw_compat``, size
    (IncompatibleImage) and ``sec_cnt >= floor`` (RollbackRejected: equal counters pass,
    as in MCUboot). The policy checks run only for the arguments given.
    """
    info = inspect(image)
    key = next((k for k in public_keys if keyhash(k) == info.keyhash), None)
    if key is None:
        raise SignatureRejected(f"signed with an unknown key (KEYHASH {info.keyhash.hex()}) [key]", "key")
    try:
        key.verify(info.signature, info.digest)
    except InvalidSignature:
        raise SignatureRejected("bad Ed25519 signature over the image digest [signature]", "signature") from None
    if not info.digest_ok:
        raise SignatureRejected("the image does not match its signed SHA-256 digest [digest]", "digest")
    check_policy(info, hw_id=hw_id, fw_compat=fw_compat, floor=floor, max_img_size=max_img_size)
    return dataclasses.replace(info, signature_ok=True)


def check_policy(
    info: ImageInfo,
    *,
    hw_id: str | None = None,
    fw_compat: str | None = None,
    floor: int | None = None,
    max_img_size: int | None = None,
) -> None:
    """The device's policy checks (``cpsdi_fw.mcuboot.check``), in its order."""
    if info.payload_type not in SUPPORTED_PAYLOAD_TYPES:
        raise IncompatibleImage(f"payload type {info.payload_type} is not supported [payload_type]", "payload_type")
    if hw_id is not None and info.hw_id != hw_id:
        raise IncompatibleImage(f"image for board {info.hw_id!r}, not {hw_id!r} [hw_id]", "hw_id")
    if fw_compat is not None and info.fw_compat != fw_compat:
        raise IncompatibleImage(f"image built for {info.fw_compat!r}, the firmware runs {fw_compat!r} [compat]",
                                "compat")
    if max_img_size is not None and info.img_size > max_img_size:
        raise IncompatibleImage(f"payload of {info.img_size} bytes, the slot holds {max_img_size} [size]", "size")
    if floor is not None and info.sec_cnt < floor:
        raise RollbackRejected(f"security counter {info.sec_cnt} is below the rollback floor {floor} [rollback]",
                               "rollback")


__all__ = [
    "ImageInfo", "ImageVersion", "UpdateError", "build_image", "check_policy", "inspect", "keyhash", "metadata",
    "parse_metadata", "verify",
]
