"""PLACEHOLDER Vitale cards for the second slot: real ATRs, made-up content.

    *** Placeholder: the Vitale card command set and data are not public (cps-cards.md §14). ***

What is real (FACT P1, §3.1): the ATRs. Vitale 1 uses the **inverse convention**
(``3F 65 25 00 …``: TB1 = 25, TC1 = 00, T=0); Vitale 2 is direct (``3B 75 13 00 00 4x 09 EA
90 00``: TA1 = 13, TB1 = 00, TC1 = 00, T=0). The galss.ini classification treats ``3B75…`` and
``3F65…`` as Vitale (FACT M2).

Everything after the ATR is a GUESS made only so that a reader and host have something to talk
to: any CLA; SELECT ``xx A4 00 xx 02 <FID>`` of the MF 3F00 or of one placeholder EF
3F00/:data:`PLACEHOLDER_FID` → 90 00 (no FCI); READ BINARY of that EF returns
:data:`PLACEHOLDER_CONTENT`, a text saying it is a placeholder; unknown files 6A 82, other
INS 6D 00 (ISO 7816-4 meanings). No holder data of any kind.
"""

from __future__ import annotations

from typing import Literal

from cpsdi_boards.sim.faults import FaultScript
from cpsdi_boards.sim.virtual_card import CardResponse, T0Behaviour, VirtualCard

__all__ = [
    "VITALE1_ATR",
    "VITALE1_ATRS",
    "VITALE2_ATR",
    "VITALE2_ATRS",
    "PLACEHOLDER_FID",
    "PLACEHOLDER_CONTENT",
    "VitalePlaceholder",
    "make_vitale_card",
]

# FACT P1: "3F 65 25 00 2[2C] 09 [F6]9 90 00", "3F 65 25 00 52 09 6A 90 00", "3F 65 25 00 A[34] 09 6A 90 00".
VITALE1_ATRS: tuple[bytes, ...] = tuple(bytes.fromhex(x) for x in (
    "3F 65 25 00 22 09 F9 90 00", "3F 65 25 00 22 09 69 90 00",
    "3F 65 25 00 2C 09 F9 90 00", "3F 65 25 00 2C 09 69 90 00",
    "3F 65 25 00 52 09 6A 90 00",
    "3F 65 25 00 A3 09 6A 90 00", "3F 65 25 00 A4 09 6A 90 00",
))
VITALE1_ATR = bytes.fromhex("3F 65 25 00 2C 09 69 90 00")  # also pyscard's inverse-convention test ATR

# FACT P1: "3B 75 13 00 00 4x 09 EA 90 00" (x in 3..9, B, C) and "3B 75 13 00 00 45 09 FA 90 00".
VITALE2_ATRS: tuple[bytes, ...] = tuple(
    bytes.fromhex(f"3B 75 13 00 00 4{x} 09 EA 90 00") for x in "3456789BC"
) + (bytes.fromhex("3B 75 13 00 00 45 09 FA 90 00"),)
VITALE2_ATR = bytes.fromhex("3B 75 13 00 00 47 09 EA 90 00")

PLACEHOLDER_FID = 0x0002  # GUESS: made up
PLACEHOLDER_CONTENT = b"cpsdi PLACEHOLDER Vitale card: the real Vitale file layout is not public"

_SW_OK = 0x9000
_SW_WRONG_LENGTH = 0x6700
_SW_NOT_FOUND = 0x6A82
_SW_WRONG_P1P2 = 0x6B00
_SW_INS = 0x6D00
_SW_NO_EF = 0x6986


class VitalePlaceholder:
    """APDU handler of the placeholder Vitale card (everything here is GUESS)."""

    def __init__(self, content: bytes = PLACEHOLDER_CONTENT) -> None:
        self.content = bytes(content)
        self.ef_selected = False

    def handle(self, header: bytes, data: bytes) -> CardResponse:
        """``(CLA INS P1 P2 P3, data) -> CardResponse``: SELECT and READ BINARY only."""
        ins = header[1]
        p1, p2 = header[2], header[3]
        p3 = header[4] if len(header) > 4 else 0
        if ins == 0xA4:
            if p1 != 0:
                return CardResponse(sw=_SW_WRONG_P1P2)
            if len(data) != 2:
                return CardResponse(sw=_SW_WRONG_LENGTH)
            fid = int.from_bytes(data, "big")
            if fid == 0x3F00:
                self.ef_selected = False
                return CardResponse()
            if fid == PLACEHOLDER_FID:
                self.ef_selected = True
                return CardResponse()
            return CardResponse(sw=_SW_NOT_FOUND)
        if ins == 0xB0:
            if not self.ef_selected:
                return CardResponse(sw=_SW_NO_EF)
            offset = (p1 << 8) | p2
            if offset >= len(self.content):
                return CardResponse(sw=_SW_WRONG_P1P2)
            le = p3 or 256
            return CardResponse(data=self.content[offset:offset + le])  # short: T0Behaviour gives 6C xx
        return CardResponse(sw=_SW_INS)


def make_vitale_card(
    generation: Literal[1, 2] = 2,
    *,
    atr: bytes | None = None,
    faults: FaultScript | str | None = None,
) -> tuple[VirtualCard, VitalePlaceholder]:
    """A placeholder Vitale card (T=0): generation 1 = inverse convention, 2 = direct.

    ``atr`` overrides the default ATR of the generation (e.g. one of :data:`VITALE1_ATRS`).
    """
    if generation not in (1, 2):
        raise ValueError("Vitale generation is 1 or 2")
    applet = VitalePlaceholder()
    chosen = atr if atr is not None else (VITALE1_ATR if generation == 1 else VITALE2_ATR)
    card = VirtualCard(chosen, behaviour=T0Behaviour(applet.handle), faults=faults)
    return card, applet
