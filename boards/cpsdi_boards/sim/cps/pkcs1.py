"""RSA card operations (PKCS#1 v2.2 / RFC 8017): the raw private-key primitive, EMSA-PKCS1-v1_5
padding, EME-PKCS1-v1_5 unpadding and DigestInfo prefixes, on top of ``cryptography`` keys.

``cryptography`` has no raw private-key operation; the cards need one (IAS-ECC INTERNAL
AUTHENTICATE on a host-built DigestInfo, CPS4 "decipher" of a host-padded block), so the
primitive is computed here from the private numbers with the CRT. Padding and DigestInfo
come from ``cpsdi.cps.rsa``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

# The PKCS#1 v1.5 encodings are the host library's (one implementation for host and cards).
from cpsdi.cps.rsa import DIGEST_INFO_PREFIX, PaddingError, pad_type1, unpad_type2

__all__ = ["RSAKey", "DIGEST_INFO_PREFIX", "pad_type1", "unpad_type2", "PaddingError"]


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

