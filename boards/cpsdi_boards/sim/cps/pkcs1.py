"""RSA card operations (PKCS#1 v2.2 / RFC 8017): the raw private-key primitive, EMSA-PKCS1-v1_5
padding, EME-PKCS1-v1_5 unpadding and DigestInfo prefixes, on top of ``cryptography`` keys.

``cryptography`` has no raw private-key operation; the cards need one (IAS-ECC INTERNAL
AUTHENTICATE on a host-built DigestInfo, CPS4 "decipher" of a host-padded block), so the
primitive is computed here from the private numbers with the CRT.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["RSAKey", "DIGEST_INFO_PREFIX", "pad_type1", "unpad_type2", "PaddingError"]

# RFC 8017 §9.2 note 1: DER of DigestInfo up to the digest.
DIGEST_INFO_PREFIX = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
}


class PaddingError(ValueError):
    """A block whose PKCS#1 padding is wrong."""


class RSAKey:
    """A private key plus its raw primitive ``m^d mod n`` (CRT)."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        nums = key.private_numbers()
        self.n = nums.public_numbers.n
        self.e = nums.public_numbers.e
        self._p, self._q = nums.p, nums.q
        self._dp, self._dq, self._qinv = nums.dmp1, nums.dmq1, nums.iqmp

    @property
    def size_bytes(self) -> int:
        """Modulus length in bytes."""
        return (self.n.bit_length() + 7) // 8

    def raw_private(self, block: bytes) -> bytes:
        """RSADP/RSASP1 on a block of the modulus length; ValueError if it is not below n."""
        m = int.from_bytes(block, "big")
        if len(block) != self.size_bytes or m >= self.n:
            raise ValueError("input out of range")
        m1 = pow(m, self._dp, self._p)
        m2 = pow(m, self._dq, self._q)
        h = (self._qinv * (m1 - m2)) % self._p
        return (m2 + h * self._q).to_bytes(self.size_bytes, "big")


def pad_type1(data: bytes, size_bytes: int) -> bytes:
    """EMSA-PKCS1-v1_5 block ``00 01 FF.. 00 data`` (at least 8 FF bytes)."""
    if len(data) > size_bytes - 11:
        raise ValueError("data too long for the modulus")
    return b"\x00\x01" + b"\xFF" * (size_bytes - 3 - len(data)) + b"\x00" + bytes(data)


def unpad_type2(block: bytes) -> bytes:
    """The message of an EME-PKCS1-v1_5 block ``00 02 PS(>= 8 non-zero) 00 M``."""
    if len(block) < 11 or block[0] != 0 or block[1] != 2:
        raise PaddingError("not a type 2 block")
    sep = block.find(b"\x00", 2)
    if sep < 10:
        raise PaddingError("bad padding string")
    return bytes(block[sep + 1:])
