"""Holder data model of the virtual CPS cards, from the public SESAM-Vitale field list.

The fields are those of the SESAM-Vitale "Lire Carte PS" API (FACT M1, cps-cards.md §8.4):
group 1 "Titulaire carte PS" (:class:`Identity`) and group 2 "Situation du PS", repeated per
situation (:class:`Situation`, at most 16, indexes 1..16, possibly non-contiguous: FACT A11).
Card-level data (issuer, card number, issue and end-of-validity dates) are the regulatory
content of §8.1 (:class:`CardIdentification`).

How these fields are laid out on a real card is not public (§14): the bytes the virtual cards
serve come from :mod:`cpsdi.cps.test_encoding`, a made-up test encoding.

Code tables keep only the public meanings (FACT M1, MedinTux); codes outside them are kept as
plain integers, never rejected (the public tables are old and partial).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping

__all__ = [
    "ANS_ISSUER_ID",
    "CARD_TYPES",
    "NATIONAL_ID_TYPES",
    "PRACTICE_MODES",
    "CIVILITIES",
    "ACTIVITY_SECTOR_RANGE",
    "SPECIALITY_RANGE",
    "MAX_SITUATIONS",
    "describe",
    "luhn_digit",
    "CardIdentification",
    "Identity",
    "Situation",
    "Holder",
]

# FACT A1: ANS/ASIP issuer number, the PAN prefix in EF.SN (§4.1, §5.4).
ANS_ISSUER_ID = bytes.fromhex("80 25 00 00 01")

MAX_SITUATIONS = 16  # FACT A6/A11: situation files 4010..401F, CPS_ACTIVITY_01..16_PS

# FACT M1: "Type de carte PS".
CARD_TYPES: Mapping[int, str] = {
    0: "CPS (carte de professionnel de santé)",
    1: "CPF (carte de professionnel en formation)",
    2: "CDE/CPE (carte de directeur d'établissement / de personnel d'établissement)",
    3: "CPA (carte de personnel autorisé)",
    4: "CSA (carte de serveur applicatif)",
    80: "carte test de PS",
}

# FACT M1: "Type d'identification nationale" (RPPS codes are absent from this old table).
NATIONAL_ID_TYPES: Mapping[int, str] = {
    0: "ADELI",
    1: "ADELI-rang",
    2: "DRASS",
    3: "FINESS",
    4: "SIREN",
    5: "SIRET",
    6: "carte serveur (variante 6)",
    7: "carte serveur (variante 7)",
    8: "carte serveur (variante 8)",
    9: "étudiant",
}

# FACT M1: "Mode d'exercice".
PRACTICE_MODES: Mapping[int, str] = {
    0: "libéral",
    1: "salarié",
    4: "remplaçant",
    7: "non rétribué",
}

# FACT M1: "Code civilité" (partial: the public table lists more codes without their meaning here).
CIVILITIES: Mapping[int, str] = {
    13: "Docteur",
    22: "Madame",
    31: "Monsieur",
    36: "Professeur",
    42: "Carte Serveur Applicatif",
}

# FACT M1: the code ranges only; their meanings are not in the reference.
ACTIVITY_SECTOR_RANGE = range(10, 93)  # "Secteurs d'activité 10 … 92"
SPECIALITY_RANGE = range(1, 79)  # "Spécialités 1 … 78"


def describe(table: Mapping[int, str], code: int) -> str:
    """The public meaning of ``code`` in ``table``, or ``"code <n> (meaning not public)"``."""
    return table.get(code, f"code {code} (meaning not public)")


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of a decimal string (FACT: the RPPS key and the EF.SN PAN use Luhn)."""
    if not digits.isdigit():
        raise ValueError("Luhn needs decimal digits")
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def _check_code(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be a one-byte code, got {value}")


def _check_digits(name: str, value: str, *, allow_empty: bool = True) -> None:
    if value == "" and allow_empty:
        return
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{name} must be ASCII digits")


def _check_key(name: str, value: str) -> None:
    if len(value) > 1 or (value and not (value.isascii() and value.isalnum())):
        raise ValueError(f"{name} must be empty or one ASCII letter or digit")


@dataclass(frozen=True)
class CardIdentification:
    """Issuer, card number and validity (FACT §8.1: printed and stored on the card)."""

    card_number: str  # 10 digits (INFERENCE §5.5: token label "CPS3v3-" + 10-digit card number)
    issued: date
    expires: date
    issuer_id: bytes = ANS_ISSUER_ID

    def __post_init__(self) -> None:
        _check_digits("card_number", self.card_number, allow_empty=False)
        if len(self.card_number) != 10:
            raise ValueError("card_number must have 10 digits")
        if len(self.issuer_id) != 5:
            raise ValueError("issuer_id must be 5 bytes")
        if self.expires <= self.issued:
            raise ValueError("a card expires after its issue date")


@dataclass(frozen=True)
class Identity:
    """SESAM-Vitale group 1 "Titulaire carte PS" (FACT M1)."""

    card_type: int  # CARD_TYPES
    national_id_type: int  # NATIONAL_ID_TYPES
    national_id: str  # n° d'identification nationale (digits)
    national_id_key: str  # clé (one character)
    civility: int  # CIVILITIES
    last_name: str
    first_name: str

    def __post_init__(self) -> None:
        for name in ("card_type", "national_id_type", "civility"):
            _check_code(name, getattr(self, name))
        _check_digits("national_id", self.national_id, allow_empty=False)
        _check_key("national_id_key", self.national_id_key)


@dataclass(frozen=True)
class Situation:
    """SESAM-Vitale group 2 "Situation du PS", one per situation (FACT M1)."""

    index: int  # n° logique de situation, 1..16
    practice_mode: int  # mode d'exercice (PRACTICE_MODES)
    practice_status: int  # statut d'exercice
    activity_sector: int  # secteur d'activité (ACTIVITY_SECTOR_RANGE)
    structure_id_type: int  # type d'identification structure
    structure_id: str  # n° d'identification structure
    structure_id_key: str
    structure_name: str  # raison sociale structure
    billing_id: str  # n° d'identification de facturation du PS (AM number, 9 digits: FACT)
    billing_id_key: str
    substitute_id: str = ""  # n° PS remplaçant
    substitute_id_key: str = ""
    convention_code: int = 0  # code conventionnel
    speciality_code: int = 0  # code spécialité (SPECIALITY_RANGE)
    tariff_zone_code: int = 0  # code zone tarifaire
    ik_zone_code: int = 0  # code zone IK
    approval_codes: tuple[int, int, int] = (0, 0, 0)  # codes agrément 1-3
    may_sign_invoice: bool = True  # habilitation à signer une facture
    may_sign_batch: bool = True  # habilitation à signer un lot

    def __post_init__(self) -> None:
        if not 1 <= self.index <= MAX_SITUATIONS:
            raise ValueError(f"situation index must be 1..{MAX_SITUATIONS}, got {self.index}")
        for name in (
            "practice_mode", "practice_status", "activity_sector", "structure_id_type",
            "convention_code", "speciality_code", "tariff_zone_code", "ik_zone_code",
        ):
            _check_code(name, getattr(self, name))
        if len(self.approval_codes) != 3:
            raise ValueError("approval_codes has three entries")
        for code in self.approval_codes:
            _check_code("approval code", code)
        _check_digits("structure_id", self.structure_id)
        _check_digits("billing_id", self.billing_id)
        _check_digits("substitute_id", self.substitute_id)
        for name in ("structure_id_key", "billing_id_key", "substitute_id_key"):
            _check_key(name, getattr(self, name))


@dataclass(frozen=True)
class Holder:
    """Everything a virtual CPS card knows about its holder.

    ``situations`` are sorted by index (1..16, at most 16, gaps allowed);
    ``billing_situation`` is the index of the situation CPS_SIT_FACT points at (GUESS:
    the public sources only say CPS_SIT_FACT is the "situation / billing" object), None
    when the card has no situation. ``languages``: ISO 639-1 codes for CPS_LANG_PS (GUESS
    on the content: only the label "language codes" is public).
    """

    identity: Identity
    card: CardIdentification
    situations: tuple[Situation, ...] = ()
    billing_situation: int | None = None
    languages: tuple[str, ...] = ("fr",)

    def __post_init__(self) -> None:
        if len(self.situations) > MAX_SITUATIONS:
            raise ValueError(f"at most {MAX_SITUATIONS} situations")
        indexes = [s.index for s in self.situations]
        if indexes != sorted(set(indexes)):
            raise ValueError("situations must have distinct indexes in increasing order")
        if self.billing_situation is not None and self.billing_situation not in indexes:
            raise ValueError("billing_situation must be the index of one of the situations")
        for lang in self.languages:
            if len(lang) != 2 or not (lang.isascii() and lang.isalpha()):
                raise ValueError("languages are two-letter ISO 639-1 codes")

    def situation(self, index: int) -> Situation:
        """The situation with logical number ``index`` (KeyError if absent)."""
        for s in self.situations:
            if s.index == index:
                return s
        raise KeyError(index)

    @property
    def indexes(self) -> tuple[int, ...]:
        """Logical numbers of the situations present."""
        return tuple(s.index for s in self.situations)

