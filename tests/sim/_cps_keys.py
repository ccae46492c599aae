"""RSA-2048 keys and self-signed stand-in certificates for the virtual CPS card tests,
generated once per test session (2048-bit generation is slow)."""

from __future__ import annotations

import datetime
import functools

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@functools.lru_cache(maxsize=None)
def key_and_cert(name: str) -> tuple[rsa.RSAPrivateKey, bytes]:
    """A private key and a self-signed DER certificate, one per ``name``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3 * 365))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.DER)


def public_key_of(cert_der: bytes) -> rsa.RSAPublicKey:
    """The RSA public key of a DER certificate."""
    pub = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    return pub
