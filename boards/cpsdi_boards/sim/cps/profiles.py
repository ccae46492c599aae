"""Ready-made test CPS cards, selectable by name (later ``cpsdi sim --card <name>``).

Every holder, number and name here is fictitious, and every code value (sector, speciality,
status, zones, keys) is a GUESS chosen inside the public ranges (§8.4); test identifiers start
with 99 like the public test-card example ``IdNat 991091976`` key 6 (FACT M1).
Defaults follow the public test-card facts: PIN ``1234`` (4 ASCII digits), unblock code
``12345678``, 3 PIN tries, 10 unblock tries, 100 unblock uses (FACT I2217/A15, §6.1-6.2).

A profile is data only: the CPS3/CPS4 card models are built elsewhere from it. This module gives
the CPS2ter volet contents (:func:`volet_files`, :func:`make_volet`) and the PKCS#15 data-object
values (:func:`data_objects`); the test PKI comes from :func:`cpsdi_boards.sim.cps.pki.card_pki`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Literal, Mapping

from cpsdi.cps import test_encoding
from cpsdi_boards.sim.cps.cps2ter import CPS2TER_AID, CPS2terVolet
from cpsdi.cps.holder import (
    ANS_ISSUER_ID,
    CardIdentification,
    Holder,
    Identity,
    Situation,
    luhn_digit,
)

__all__ = [
    "Generation",
    "GENERATION_ATRS",
    "CardProfile",
    "ef_sn",
    "PROFILES",
    "profile_names",
    "get_profile",
    "volet_files",
    "volet_protected_paths",
    "make_volet",
    "data_objects",
]

Generation = Literal["cps3", "cps4"]

# FACT §3.1 (A1/P1): CPS3 contact ATR; CPS4 main ATR (T=0 + T=1). Used for CPS2TER_ATR.
GENERATION_ATRS: Mapping[str, bytes] = {
    "cps3": bytes.fromhex("3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00"),
    "cps4": bytes.fromhex("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44"),
}


def ef_sn(card_digits: str) -> bytes:
    """EF.SN 3F00/D003 content for an 8-digit card number: ``5A 0A 80 25 00 00 01 <8 BCD digits>
    <Luhn digit>F`` (FACT §5.4 layout and example ``…99 21 38 45 0F``; the Luhn digit over the
    18 PAN digits gives that example's ``0``: INFERENCE)."""
    if len(card_digits) != 8 or not (card_digits.isascii() and card_digits.isdigit()):
        raise ValueError("card_digits must be 8 decimal digits")
    pan_digits = ANS_ISSUER_ID.hex() + card_digits
    return b"\x5a\x0a" + bytes.fromhex(pan_digits + luhn_digit(pan_digits) + "f")


@dataclass(frozen=True)
class CardProfile:
    """One ready test card. PIN and unblock code are ASCII digit bytes, never in ``repr``.

    ``pin_tries_left`` 0 = PIN blocked (unblockable while ``unblock_uses_left`` > 0);
    ``unblock_uses_left`` 0 = blocked for good (INFERENCE §6.2). ``quirks``: serve the
    real-world PKCS#15 defects (bad BIT STRING flags, missing algReference, §5.5) rather than a
    clean encoding. ``cert_expired``: the test PKI issues certificates that expired in 2024.
    ``serial_number``: EF.SN content (12 bytes, tag 5A).
    """

    name: str
    description: str
    generation: Generation
    holder: Holder
    serial_number: bytes
    pin: bytes = field(default=b"1234", repr=False)
    unblock_code: bytes = field(default=b"12345678", repr=False)
    pin_tries_max: int = 3
    pin_tries_left: int = 3
    unblock_tries_max: int = 10
    unblock_tries_left: int = 10
    unblock_uses_left: int = 100
    quirks: bool = True
    cert_expired: bool = False

    def __post_init__(self) -> None:
        if self.generation not in ("cps3", "cps4"):
            raise ValueError(f"unknown generation {self.generation!r}")
        for label, code in (("PIN", self.pin), ("unblock code", self.unblock_code)):
            if not (code.isdigit() and 4 <= len(code) <= 8):
                raise ValueError(f"{label} must be 4 to 8 ASCII digits")  # never echo the value
        if not 0 <= self.pin_tries_left <= self.pin_tries_max:
            raise ValueError("pin_tries_left out of range")
        if not 0 <= self.unblock_tries_left <= self.unblock_tries_max:
            raise ValueError("unblock_tries_left out of range")
        if len(self.serial_number) != 12 or self.serial_number[:2] != b"\x5a\x0a":
            raise ValueError("serial_number is the 12-byte EF.SN content 5A 0A <PAN>")
        if self.serial_number[2:7] != ANS_ISSUER_ID:
            raise ValueError("the PAN starts with the ANS issuer number 80 25 00 00 01")

    @property
    def pin_blocked(self) -> bool:
        """The holder PIN has no try left."""
        return self.pin_tries_left == 0

    @property
    def card_blocked(self) -> bool:
        """Blocked for good: PIN blocked and no unblock left (INFERENCE §6.2)."""
        return self.pin_blocked and (self.unblock_uses_left == 0 or self.unblock_tries_left == 0)

    @property
    def atr(self) -> bytes:
        """The generation's main ATR (FACT §3.1)."""
        return GENERATION_ATRS[self.generation]


def volet_files(profile: CardProfile) -> dict[bytes, bytes]:
    """CPS2ter volet EF contents by path (``3F 00 40 10`` …), from the test-card encoding."""
    return test_encoding.volet_files(profile.holder)


def volet_protected_paths(profile: CardProfile) -> frozenset[bytes]:
    """Volet paths read-protected by the holder PIN (FACT §8.2)."""
    return test_encoding.volet_protected_paths(profile.holder)


def make_volet(profile: CardProfile, *, pin_verified: Callable[[], bool] | None = None) -> CPS2terVolet:
    """A CPS2ter volet handler for ``profile``: its own PIN state (VERIFY is a GUESS), or the
    caller's when ``pin_verified`` is given (e.g. a CPS4 model sharing one PIN). CPS4 volets
    also answer SELECT by the CPS2ter AID (FACT A4; unknown on CPS3, §14)."""
    return CPS2terVolet(
        volet_files(profile),
        protected=volet_protected_paths(profile),
        pin=profile.pin,
        pin_tries_left=profile.pin_tries_left,
        pin_verified=pin_verified,
        aid=CPS2TER_AID if profile.generation == "cps4" else None,
    )


def data_objects(profile: CardProfile) -> dict[str, bytes]:
    """PKCS#15 data-object values by label (§8.3), from the test-card encoding.

    CPS4 also gets CPS2TER_ATR (GUESS content: the card's main ATR) and CPS2TER_ICC (GUESS
    content: the EF.SN bytes).
    """
    out = test_encoding.data_objects(profile.holder, profile.generation)
    if profile.generation == "cps4":
        out["CPS2TER_ATR"] = profile.atr
        out["CPS2TER_ICC"] = profile.serial_number
    return out


# -- the profiles ------------------------------------------------------------------------------

_ISSUED = date(2025, 1, 6)
_EXPIRES = date(2045, 1, 6)  # GUESS: far beyond the real 3/6 years (W3) so the test cards never expire


def _card(digits: str, issued: date = _ISSUED, expires: date = _EXPIRES) -> CardIdentification:
    return CardIdentification(card_number="00" + digits, issued=issued, expires=expires)


def _doctor() -> Holder:
    identity = Identity(
        card_type=0, national_id_type=0, national_id="991091976", national_id_key="6",
        civility=13, last_name="BIDE", first_name="Jean",
    )
    cabinet = Situation(
        index=1, practice_mode=0, practice_status=1, activity_sector=31, structure_id_type=0,
        structure_id="990781056", structure_id_key="4", structure_name="CABINET DU DR BIDE",
        billing_id="991000011", billing_id_key="3", convention_code=1, speciality_code=1,
        tariff_zone_code=10, ik_zone_code=1,
    )
    hospital = Situation(
        index=2, practice_mode=1, practice_status=1, activity_sector=16, structure_id_type=3,
        structure_id="990000101", structure_id_key="7", structure_name="CENTRE HOSPITALIER DE TEST",
        billing_id="", billing_id_key="", convention_code=0, speciality_code=1,
        may_sign_invoice=False, may_sign_batch=False,
    )
    locum = Situation(
        index=3, practice_mode=4, practice_status=1, activity_sector=31, structure_id_type=0,
        structure_id="990781064", structure_id_key="2", structure_name="CABINET DU DR REMPLACE",
        billing_id="991000029", billing_id_key="9", substitute_id="991000037", substitute_id_key="5",
        convention_code=1, speciality_code=1, tariff_zone_code=10, ik_zone_code=1,
    )
    return Holder(identity, _card("10000001"), (cabinet, hospital, locum), billing_situation=1)


def _pharmacist() -> Holder:
    identity = Identity(
        card_type=0, national_id_type=0, national_id="991092008", national_id_key="3",
        civility=22, last_name="TESTEUSE", first_name="Émilie",
    )
    pharmacy = Situation(
        index=1, practice_mode=0, practice_status=1, activity_sector=50, structure_id_type=3,
        structure_id="990790016", structure_id_key="1", structure_name="PHARMACIE DES ESSAIS",
        billing_id="991000045", billing_id_key="8", convention_code=1, speciality_code=50,
        tariff_zone_code=10, ik_zone_code=0,
    )
    return Holder(identity, _card("10000002"), (pharmacy,), billing_situation=1)


def _nurse() -> Holder:
    identity = Identity(
        card_type=0, national_id_type=0, national_id="991093014", national_id_key="9",
        civility=31, last_name="ESSAI", first_name="Paul",
    )
    situations = tuple(
        Situation(
            index=i, practice_mode=0 if i != 4 else 1, practice_status=1, activity_sector=31,
            structure_id_type=0, structure_id=f"9907{i:05d}", structure_id_key=str(i % 10),
            structure_name=f"CABINET INFIRMIER {i}", billing_id=f"9910{i:05d}",
            billing_id_key=str((i * 3) % 10), convention_code=1, speciality_code=24,
        )
        for i in (2, 4, 16)
    )
    return Holder(identity, _card("10000005"), situations, billing_situation=2)


def _employee() -> Holder:
    identity = Identity(
        card_type=2, national_id_type=3, national_id="990000101", national_id_key="7",
        civility=22, last_name="ADMINISTRATIVE", first_name="Claire",
    )
    return Holder(identity, _card("10000007"))


def _expired_holder() -> Holder:
    base = _doctor()
    card = _card("10000004", issued=date(2021, 1, 4), expires=date(2024, 1, 4))
    return Holder(base.identity, card, base.situations[:1], billing_situation=1)


def _blocked_holder() -> Holder:
    base = _doctor()
    return Holder(base.identity, _card("10000003"), base.situations, billing_situation=1)


def _profiles() -> dict[str, CardProfile]:
    items = [
        CardProfile("doctor", "CPS3, doctor (civility Docteur) with 3 situations: liberal, salaried, locum",
                    "cps3", _doctor(), ef_sn("10000001")),
        CardProfile("pharmacist", "CPS4, pharmacist with 1 situation, clean PKCS#15 (no quirks)",
                    "cps4", _pharmacist(), ef_sn("10000002"), quirks=False),
        CardProfile("blocked", "CPS3, PIN blocked (0 of 3 tries left), unblockable with the unblock code",
                    "cps3", _blocked_holder(), ef_sn("10000003"), pin_tries_left=0),
        CardProfile("expired", "CPS3 whose card validity and certificates ended in January 2024",
                    "cps3", _expired_holder(), ef_sn("10000004"), cert_expired=True),
        CardProfile("sparse", "CPS4, nurse with non-contiguous situations 2, 4 and 16",
                    "cps4", _nurse(), ef_sn("10000005")),
        CardProfile("employee", "CPS3, CPE (establishment staff card) without any situation",
                    "cps3", _employee(), ef_sn("10000007")),
    ]
    return {p.name: p for p in items}


PROFILES: Mapping[str, CardProfile] = _profiles()


def profile_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_profile`, in registry order."""
    return tuple(PROFILES)


def get_profile(name: str) -> CardProfile:
    """The profile called ``name``; ValueError listing the known names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown card profile {name!r} (known: {', '.join(PROFILES)})") from None
