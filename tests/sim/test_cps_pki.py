"""Test PKI: TEST root + intermediate CA, RSA-2048 card keys, certificates, the key cache."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from cpsdi_boards.sim.cps import pki
from cpsdi_boards.sim.cps.profiles import get_profile

UTC = datetime.timezone.utc


@pytest.fixture(scope="session")
def pki_root(cps_test_pki_dir: Path) -> Path:
    return cps_test_pki_dir


@pytest.fixture(scope="session")
def doctor(pki_root: Path) -> pki.CardPKI:
    return pki.card_pki("doctor")


@pytest.fixture(scope="session")
def expired(pki_root: Path) -> pki.CardPKI:
    return pki.card_pki("expired")


def verifier(at: datetime.datetime, root: x509.Certificate) -> PolicyBuilder:
    # CA certificates under the RFC 5280 / Web PKI CA rules; card certificates are not TLS
    # client certificates (no SAN), so their extensions are accepted as they are.
    return (
        PolicyBuilder().store(Store([root])).time(at)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
    )


def test_cache_dir_comes_from_the_session_env(pki_root: Path) -> None:
    assert os.environ[pki.ENV_PKI_DIR] == str(pki_root)
    assert pki.pki_dir() == pki_root


def test_pki_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert pki.pki_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(pki.ENV_PKI_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pki.pki_dir() == tmp_path / "xdg" / "cpsdi" / "test-pki"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pki.pki_dir() == tmp_path / "home" / ".cache" / "cpsdi" / "test-pki"


def test_keys_are_rsa_2048_and_match_the_certificates(doctor: pki.CardPKI) -> None:
    for key, cert in ((doctor.auth_key, doctor.auth_cert), (doctor.sign_key, doctor.sign_cert)):
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
        assert key.public_key().public_numbers().e == 65537
        assert cert.public_key() == key.public_key()
    assert doctor.auth_key.private_numbers() != doctor.sign_key.private_numbers()
    message = b"FSE test"
    signature = doctor.sign_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    pub = doctor.sign_cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    pub.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_chain_verifies_against_intermediate_and_root(doctor: pki.CardPKI) -> None:
    inter, root = doctor.chain
    assert (inter, root) == (doctor.intermediate_cert, doctor.root_cert)
    for leaf in (doctor.auth_cert, doctor.sign_cert):
        leaf.verify_directly_issued_by(inter)
        with pytest.raises(ValueError):
            leaf.verify_directly_issued_by(root)
    inter.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    at = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    v = verifier(at, root).build_client_verifier()
    for leaf in (doctor.auth_cert, doctor.sign_cert):
        assert v.verify(leaf, [inter]).chain == [leaf, inter, root]


def test_ca_names_and_extensions(doctor: pki.CardPKI) -> None:
    inter, root = doctor.chain
    assert root.subject == root.issuer == pki.ROOT_NAME
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "TEST AC RACINE IGC-SANTE FORT"
    assert inter.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "TEST AC IGC-SANTE FORT PERSONNES"
    assert inter.issuer == pki.ROOT_NAME
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_card_certificate_profiles(doctor: pki.CardPKI) -> None:
    auth, sign = doctor.auth_cert, doctor.sign_cert
    ku_auth = auth.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku_auth.digital_signature and ku_auth.key_encipherment and not ku_auth.content_commitment
    eku = auth.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ku_sign = sign.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku_sign.content_commitment and not ku_sign.digital_signature
    assert not sign.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    subject = auth.subject
    assert subject == sign.subject
    assert subject.get_attributes_for_oid(NameOID.SURNAME)[0].value == "BIDE"
    assert subject.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value == "Jean"
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "0991091976"
    assert auth.not_valid_before_utc == datetime.datetime(2025, 1, 6, tzinfo=UTC)
    assert auth.not_valid_after_utc == datetime.datetime(2045, 1, 6, tzinfo=UTC)
    assert auth.serial_number != sign.serial_number and 0 < auth.serial_number < 2**127
    assert doctor.auth_cert_der[0] == 0x30 and x509.load_der_x509_certificate(doctor.sign_cert_der) == sign
    assert [x509.load_der_x509_certificate(d) for d in doctor.chain_der] == list(doctor.chain)


def test_expired_profile_is_expired(expired: pki.CardPKI) -> None:
    now = datetime.datetime.now(UTC)
    for cert in (expired.auth_cert, expired.sign_cert):
        assert cert.not_valid_after_utc < now
        assert cert.not_valid_after_utc <= datetime.datetime(2024, 12, 31, tzinfo=UTC)
    inter, root = expired.chain
    with pytest.raises(VerificationError, match="not valid at validation time"):
        verifier(now, root).build_client_verifier().verify(expired.auth_cert, [inter])
    then = datetime.datetime(2023, 6, 1, tzinfo=UTC)  # inside its validity: the chain itself is fine
    assert verifier(then, root).build_client_verifier().verify(expired.auth_cert, [inter]).chain[0] == expired.auth_cert
    assert get_profile("expired").cert_expired


def test_key_files_are_private(doctor: pki.CardPKI, pki_root: Path) -> None:
    keys = sorted(pki_root.rglob("*.key.pem"))
    assert {p.relative_to(pki_root).as_posix() for p in keys} >= {
        "ca/root.key.pem", "ca/intermediate.key.pem", "doctor/auth.key.pem", "doctor/sign.key.pem",
    }
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((pki_root / "doctor").stat().st_mode) == 0o700
    assert not list(pki_root.rglob("*.tmp"))


def test_reload_is_byte_identical_and_corrupt_keys_are_regenerated(
    doctor: pki.CardPKI, pki_root: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(pki_root, copy)
    again = pki.card_pki("doctor", copy)  # fresh load from files (other directory: no memo)
    assert again.auth_cert_der == doctor.auth_cert_der and again.sign_cert_der == doctor.sign_cert_der
    assert again.chain_der == doctor.chain_der
    (copy / "doctor" / "sign.key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n")
    (copy / "doctor" / "auth.key.pem").chmod(0o644)
    pki.clear_memory_cache()
    fixed = pki.card_pki("doctor", copy)
    assert fixed.auth_cert_der == doctor.auth_cert_der  # intact key kept
    assert fixed.sign_cert_der != doctor.sign_cert_der  # new key, new certificate
    fixed.sign_cert.verify_directly_issued_by(fixed.intermediate_cert)
    assert stat.S_IMODE((copy / "doctor" / "sign.key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((copy / "doctor" / "auth.key.pem").stat().st_mode) == 0o600
    pki.clear_memory_cache()
    assert pki.card_pki("doctor", copy).sign_cert_der == fixed.sign_cert_der  # now cached


def test_unknown_profile() -> None:
    with pytest.raises(ValueError, match="unknown card profile"):
        pki.card_pki("nobody")
