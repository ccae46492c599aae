"""CPS ATRs and the factories that put a CPS application into a :class:`VirtualCard`.

ATRs are FACT (cps-cards.md §3.1). The application is reset with the card (cold or warm
reset), as the chip's RAM state would be.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from cpsdi_boards.sim.faults import FaultScript
from cpsdi_boards.sim.t1_card import T1Behaviour
from cpsdi_boards.sim.virtual_card import CardResponse, T0Behaviour, VirtualCard

__all__ = [
    "CPS3_ATR",
    "CPS4_ATR",
    "CPS4_RC_ATR",
    "CPS4_T0_ATR",
    "CPS3_OUTGOING_INS",
    "CardApplication",
    "ApplicationT0Behaviour",
    "ApplicationT1Behaviour",
    "make_cps3_card",
    "make_cps4_card",
    "reset_handler_owner",
]

# FACT §3.1: CPS3 contact, T=0 only (TD1 = 40, TC2 = 2A), no TCK.
CPS3_ATR = bytes.fromhex("3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00")
# FACT §3.1: CPS4 contact, TA1 = 18, T=0 and T=1 offered, TCK 44.
CPS4_ATR = bytes.fromhex("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44")
# FACT §3.1: CPS4 release candidate.
CPS4_RC_ATR = bytes.fromhex("3B 9B 18 80 01 00 12 25 00 64 80 00 04 01 00 90 44")
# FACT §3.1: the second CPS4 ATR forcing T=0 (TC1 = FF, TD1 = 00), no TCK.
CPS4_T0_ATR = bytes.fromhex("3B DC 18 FF 00 00 12 25 00 64 80 00 04 01 00 90 00")

# T=0: INS whose P3 is Le. Everything else with P3 = 00 is case 1 (the CPS3 answers PSO CDS
# `00 2A 9E 9A 00` with 61 00, FACT §13 row 12). MANAGE CHANNEL open is case 2.
CPS3_OUTGOING_INS = frozenset({0x84, 0xB0, 0xC0, 0xCA, 0x70})


class CardApplication(Protocol):
    """What the factories need from an application: an APDU handler and a reset."""

    def handle(self, header: bytes, data: bytes) -> CardResponse:
        """``(CLA INS P1 P2 P3, command data) -> CardResponse``."""

    def reset(self) -> None:
        """The card was reset."""


def reset_handler_owner(handler: Callable[[bytes, bytes], CardResponse] | None) -> None:
    """Call ``reset()`` on the object a bound-method handler belongs to, if it has one."""
    reset = getattr(getattr(handler, "__self__", None), "reset", None)
    if callable(reset):
        reset()


class ApplicationT0Behaviour(T0Behaviour):
    """:class:`T0Behaviour` that also resets its application on every card reset."""

    def __init__(self, app: CardApplication, **kwargs: Any) -> None:
        super().__init__(app.handle, **kwargs)
        self.app = app

    def on_reset(self, card: VirtualCard, warm: bool) -> None:
        super().on_reset(card, warm)
        self.app.reset()


class ApplicationT1Behaviour(T1Behaviour):
    """:class:`T1Behaviour` that also resets its application on every card reset."""

    def __init__(self, app: CardApplication, **kwargs: Any) -> None:
        super().__init__(app.handle, **kwargs)
        self.app = app

    def on_reset(self, card: VirtualCard, warm: bool) -> None:
        super().on_reset(card, warm)
        self.app.reset()


def make_cps3_card(app: CardApplication, faults: FaultScript | str | None = None) -> VirtualCard:
    """A CPS3: its ATR, T=0 with case 1 on P3 = 00 (61 xx + GET RESPONSE for all data)."""
    behaviour = ApplicationT0Behaviour(app, outgoing_ins=CPS3_OUTGOING_INS, case1_p3_zero=True)
    return VirtualCard(CPS3_ATR, behaviour=behaviour, faults=faults)


def make_cps4_card(app: CardApplication, t0_only: bool = False, faults: FaultScript | str | None = None) -> VirtualCard:
    """A CPS4: main ATR with T=1 (a reader selects it by PPS, TA1 = 18), or the T=0-only ATR.

    The main ATR has no TA3/TC3: IFSC 32 and LRC, the ISO defaults T1Behaviour takes.
    """
    if t0_only:
        behaviour0 = ApplicationT0Behaviour(app, outgoing_ins=CPS3_OUTGOING_INS, case1_p3_zero=True)
        return VirtualCard(CPS4_T0_ATR, behaviour=behaviour0, faults=faults)
    return VirtualCard(CPS4_ATR, behaviour=ApplicationT1Behaviour(app), faults=faults)
