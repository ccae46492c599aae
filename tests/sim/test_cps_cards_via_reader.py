"""The named CPS profiles as ``sim://`` / ``cpsdi sim`` cards, through the firmware and the host
Reader API: ATR, EF.SN, PIN, a signature that verifies against the profile's test certificate."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from cpsdi.reader import Protocol, Reader
from cpsdi_boards.sim.cards import CARD_NAMES, make_card
from cpsdi_boards.sim.cps.cards import CPS3_ATR, CPS4_ATR, CPS4_T0_ATR
from cpsdi_boards.sim.cps.cps4 import CHIPDOC_AID
from cpsdi_boards.sim.cps.pki import card_pki
from cpsdi_boards.sim.cps.profiles import PROFILES

H = bytes.fromhex


def public_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def test_every_profile_is_a_card_name_and_builds() -> None:
    for name, profile in PROFILES.items():
        assert name in CARD_NAMES
        made = make_card(name)
        assert made is not None and made[0].atr == (CPS3_ATR if profile.generation == "cps3" else CPS4_ATR)
    made = make_card("pharmacist-t0")
    assert made is not None and made[0].atr == CPS4_T0_ATR
    with pytest.raises(ValueError, match="unknown card 'surgeon'"):
        make_card("surgeon")


def test_cps3_doctor_session() -> None:
    profile = PROFILES["doctor"]
    with Reader.open("sim://?card=doctor") as reader, reader.slots[0].connect() as card:
        assert card.atr.raw == CPS3_ATR and card.protocol is Protocol.T0
        assert card.transmit(H("00 A4 09 0C 04 3F 00 D0 03")).sw == 0x9000
        r = card.transmit(H("00 B0 00 00 0C"))
        assert (r.data, r.sw) == (profile.serial_number, 0x9000)
        assert card.transmit(H("00 A4 09 0C 04 3F 00 00 01")).sw == 0x9000
        assert card.transmit(H("00 20 00 01 04") + b"0000").sw == 0x63C2  # wrong PIN: 2 tries left
        assert card.transmit(H("00 20 00 01 04") + profile.pin).sw == 0x9000
        message = b"feuille de soins"
        digest = hashlib.sha1(message).digest()
        # FACT §7.2 / §13 row 12 order: MSE HT, PSO HASH on-card (empty state 90 00, the whole
        # short message in 80), MSE DST, PSO CDS
        assert card.transmit(H("00 22 41 AA 03 80 01 10")).sw == 0x9000
        body = H("90 00 80") + bytes((len(message),)) + message
        assert card.transmit(H("00 2A 90 A0") + bytes((len(body),)) + body).sw == 0x9000
        assert card.transmit(H("00 22 41 B6 06 80 01 12 84 01 81")).sw == 0x9000
        r = card.transmit(H("00 2A 9E 9A 00"))
        assert r.sw == 0x9000 and len(r.data) == 256
    public_key(card_pki(profile).sign_cert).verify(r.data, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))


@pytest.mark.parametrize("name", ["pharmacist", "pharmacist-t0"])
def test_cps4_pharmacist_session(name: str) -> None:
    profile = PROFILES["pharmacist"]
    with Reader.open(f"sim://?card={name}") as reader, reader.slots[0].connect() as card:
        assert card.protocol is (Protocol.T0 if name.endswith("-t0") else Protocol.T1)
        assert card.transmit(H("01 A4 04 0C 08") + CHIPDOC_AID).sw == 0x9000
        assert card.transmit(H("01 A4 09 0C 04 3F 00 D0 03")).sw == 0x9000
        assert card.transmit(H("01 B0 00 00 0C")).data == profile.serial_number
        assert card.transmit(H("01 20 00 01")).sw == 0x63C3
        assert card.transmit(H("01 20 00 01 04") + profile.pin).sw == 0x9000
        digest = hashlib.sha256(b"FSE").digest()
        assert card.transmit(H("01 22 81 B6 04 91 02 2C 81")).sw == 0x9000  # 2C: RSA PSS SHA-256
        r = card.transmit(H("01 2A 9E 9A 20") + digest + b"\x00")
        assert r.sw == 0x9000 and len(r.data) == 256
        # the CPS2ter volet on the basic channel shares the verified PIN (FACT A4 routing)
        assert card.transmit(H("A0 A4 00 00 02 3F 00")).sw >> 8 == 0x9F
    h = hashes.SHA256()
    public_key(card_pki(profile).sign_cert).verify(
        r.data, digest, padding.PSS(mgf=padding.MGF1(h), salt_length=32), utils.Prehashed(h))


def test_blocked_profile_answers_6983() -> None:
    with Reader.open("sim://?card=blocked") as reader, reader.slots[0].connect() as card:
        assert card.transmit(H("00 A4 09 0C 04 3F 00 00 01")).sw == 0x9000
        assert card.transmit(H("00 20 00 01 04") + b"1234").sw == 0x6983


def test_vitale_placeholders_next_to_a_cps() -> None:
    with Reader.open("sim://?card=doctor&card=vitale1&card=vitale2") as reader:
        assert len(reader.slots) == 3
        with reader.slots[1].connect() as card:
            assert card.atr.raw[0] == 0x3F  # inverse convention, read through the firmware
        with reader.slots[2].connect() as card:
            assert card.atr.raw[0] == 0x3B
