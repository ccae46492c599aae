"""Signing a care sheet (FSE, "feuille de soins électronique") with the professional's card.

What this covers: the **card side** of an FSE signature -- the payload bytes the billing
application gives are signed with the holder's *signature* key (nonRepudiation, CPS_PRIV_SIG)
and returned with what a billing application needs to ship or check it: the signature, the
signing certificate, the algorithm, the hash, and the card number.

What it does not cover: the structure of the FSE itself, which bytes of it are signed and how
the signature is embedded in the FSE / B2 lot, the Vitale card's part, lot signatures and the
homologation rules (GIE SESAM-Vitale "cahier des charges" and CNDA agrément): those
specifications are not public, so cpsdi signs exactly the bytes it is given and makes no claim
of SESAM-Vitale conformance. The algorithm defaults follow the cards (§6.4): RSA PKCS#1 v1.5
with SHA-256 on both generations; RSA-PSS only on a CPS4.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cpsdi.cps.card import CPSCard, KeyKind
from cpsdi.cps.errors import CardDataError

__all__ = ["FSESignature", "sign_fse", "verify_signature"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}


@dataclass(frozen=True)
class FSESignature:
    """A payload signature and what it takes to check it."""

    signature: bytes
    certificate_der: bytes
    algorithm: str  # "RSASSA-PKCS1-v1_5" or "RSASSA-PSS"
    hash_name: str  # "sha256" or "sha1"
    card_number: str

    @property
    def certificate(self) -> x509.Certificate:
        """The signing certificate (the card's signature certificate)."""
        return x509.load_der_x509_certificate(self.certificate_der)

    def verify(self, payload: bytes) -> None:
        """Check the signature of ``payload`` with the certificate's key (raises
        ``cryptography.exceptions.InvalidSignature``)."""
        verify_signature(self.certificate, payload, self.signature, hash_name=self.hash_name,
                         pss=self.algorithm == "RSASSA-PSS")


def verify_signature(certificate: x509.Certificate, payload: bytes, signature: bytes, *,
                     hash_name: str = "sha256", pss: bool = False) -> None:
    """Check an RSA signature made by a CPS (PKCS#1 v1.5, or PSS with salt = digest length as
    the CPS4 makes it -- GUESS §7.4); raises InvalidSignature."""
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CardDataError("the certificate does not hold an RSA key")
    if hash_name not in _HASHES:
        raise ValueError(f"hash {hash_name!r}: sha1 or sha256")
    algorithm = _HASHES[hash_name]()
    pad: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size) if pss else padding.PKCS1v15()
    )
    key.verify(signature, payload, pad, algorithm)


def sign_fse(card: CPSCard, payload: bytes, *, hash_name: str = "sha256", pss: bool = False) -> FSESignature:
    """Sign ``payload`` with the signature key (the PIN must be verified) and return the
    signature with its certificate; the signature is checked against the certificate before
    it is returned, so a card or transmission fault never yields a bad signature."""
    signature = card.sign(bytes(payload), key=KeyKind.SIGNATURE, hash_name=hash_name, pss=pss)
    certificate_der = card.certificate_der(KeyKind.SIGNATURE)
    result = FSESignature(signature, certificate_der, "RSASSA-PSS" if pss else "RSASSA-PKCS1-v1_5", hash_name,
                          card.serial)
    result.verify(bytes(payload))
    return result
