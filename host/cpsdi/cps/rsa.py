"""PKCS#1 v1.5 pieces the host builds for the cards (RFC 8017 §9.2, §7.2.2)."""

from __future__ import annotations

import hashlib

from cpsdi.cps.errors import CardDataError

__all__ = ["DIGEST_INFO_PREFIX", "PaddingError", "digest_info", "pad_type1", "unpad_type2"]

# RFC 8017 §9.2 note 1: DER of DigestInfo before the hash value
DIGEST_INFO_PREFIX = {
    "sha1": bytes.fromhex("30 21 30 09 06 05 2B 0E 03 02 1A 05 00 04 14"),
    "sha256": bytes.fromhex("30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20"),
}


class PaddingError(CardDataError, ValueError):
    """A block whose PKCS#1 v1.5 padding is wrong."""


def digest_info(hash_name: str, data: bytes) -> bytes:
    """DER DigestInfo of ``hash_name(data)``."""
    if hash_name not in DIGEST_INFO_PREFIX:
        raise ValueError(f"hash {hash_name!r}: sha1 or sha256")
    return DIGEST_INFO_PREFIX[hash_name] + hashlib.new(hash_name, data).digest()


def pad_type1(block: bytes, size: int) -> bytes:
    """EMSA-PKCS1-v1_5 encoding: ``00 01 FF.. 00 block`` on ``size`` bytes (>= 8 FF)."""
    if len(block) > size - 11:
        raise ValueError("block too long for the modulus")
    return b"\x00\x01" + b"\xff" * (size - 3 - len(block)) + b"\x00" + block


def unpad_type2(block: bytes) -> bytes:
    """RSAES-PKCS1-v1_5 decoding of ``00 02 PS 00 M`` (PS >= 8 non-zero bytes)."""
    if len(block) < 11 or block[0] != 0 or block[1] != 2:
        raise PaddingError("deciphered block is not PKCS#1 v1.5 type 2")
    sep = block.find(b"\x00", 2)
    if sep < 10:
        raise PaddingError("deciphered block has a bad PKCS#1 v1.5 padding")
    return bytes(block[sep + 1 :])
