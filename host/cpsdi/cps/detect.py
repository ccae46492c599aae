"""Which card is in the slot: generation from the ATR (cps-cards.md §3.1) and the card number
from EF.SN 3F00/D003 (§5.4), as Cryptolib does (FACT A1: ATR table, then the EF.SN issuer prefix).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cpsdi.cps.errors import NotACPSCard

__all__ = ["Generation", "generation_from_atr", "CardNumber", "parse_ef_sn", "ANS_ISSUER_PREFIX"]

ANS_ISSUER_PREFIX = bytes.fromhex("80 25 00 00 01")  # FACT A1: PAN prefix in EF.SN (PREFIX_SN)


class Generation(enum.Enum):
    """What the ATR says the card is."""

    CPS3 = "CPS3"
    CPS4 = "CPS4"
    CPS3_CONTACTLESS = "CPS3 contactless"
    VITALE = "Vitale"
    UNKNOWN = "unknown"


# (ATR, mask) pairs, FACT §3.1 / §3.2
_CPS3 = (bytes.fromhex("3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00"),
         bytes.fromhex("FF 00 00 00 00 FF FF FF FF FF FF 00 00 00 FF FF FF"))  # OpenSC/Cryptolib mask
_CPS3_CL = (bytes.fromhex("3B 8F 80 01 00 31 B8 64 04 B0 EC C1 73 94 01 80 82 90 00 0E"),
            bytes.fromhex("FF FF FF FF FF FF FF FF 00 00 FF C0 FF FF FF FF FF FF FF FF"))
_CPS4_EXACT = (
    bytes.fromhex("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44"),  # main ATR (T=0 + T=1)
    bytes.fromhex("3B 9B 18 80 01 00 12 25 00 64 80 00 04 01 00 90 44"),  # release candidate
    bytes.fromhex("3B DC 18 FF 00 00 12 25 00 64 80 00 04 01 00 90 00"),  # T=0 only (A10)
)


def _matches(atr: bytes, pattern: tuple[bytes, bytes]) -> bool:
    ref, mask = pattern
    return len(atr) == len(ref) and all((a & m) == (r & m) for a, r, m in zip(atr, ref, mask))


def generation_from_atr(atr: bytes) -> Generation:
    """The generation an ATR announces (exact CPS4 ATRs are tested before the CPx mask, which
    the CPS4 T=0-only ATR also matches, §3.2)."""
    atr = bytes(atr)
    if atr in _CPS4_EXACT:
        return Generation.CPS4
    if _matches(atr, _CPS3):
        return Generation.CPS3
    if _matches(atr, _CPS3_CL):
        return Generation.CPS3_CONTACTLESS
    # FACT M2: galss.ini classifies 3B 75 ... and 3F 65 ... as Vitale
    if atr[:2] == b"\x3b\x75" or atr[:2] == b"\x3f\x65":
        return Generation.VITALE
    return Generation.UNKNOWN


@dataclass(frozen=True)
class CardNumber:
    """EF.SN decoded: ``number`` is the card number (digits after the issuer prefix, without
    the Luhn digit and filler, as Cryptolib's serial), ``pan`` all PAN digits."""

    pan: str
    number: str
    raw: bytes


def parse_ef_sn(content: bytes, generation: Generation = Generation.CPS3) -> CardNumber:
    """Decode EF.SN (``5A 0A <PAN>``, FACT §5.4); NotACPSCard if the issuer is not ANS."""
    content = bytes(content)
    if len(content) != 12 or content[:2] != b"\x5a\x0a":
        raise NotACPSCard(f"EF.SN is not 5A 0A + 10 bytes ({len(content)} bytes read)")
    pan = content[2:]
    if pan[:5] != ANS_ISSUER_PREFIX:
        raise NotACPSCard(f"EF.SN issuer {pan[:5].hex().upper()} is not ANS {ANS_ISSUER_PREFIX.hex().upper()}")
    digits = pan.hex().upper().rstrip("F")
    # Cryptolib: PAN minus the prefix and the last byte (Luhn digit + F); the CPS4 variant
    # skips 2 RFU bytes (FACT A1) -- GUESS which ones: the two after the prefix.
    body = pan[5:-1].hex().upper()
    number = body[4:] if generation is Generation.CPS4 and len(body) > 4 and body.startswith("0000") else body
    return CardNumber(pan=digits, number=number, raw=content)
