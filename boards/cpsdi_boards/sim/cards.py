"""Named virtual cards for ``cpsdi sim --card SLOT=NAME`` (CPS cards come with their own issue)."""

from __future__ import annotations

from cpsdi_boards.sim.t1_card import T1_ATR_LRC_IFSC254, T1Behaviour
from cpsdi_boards.sim.test_applet import INS_INCREMENT, TestApplet
from cpsdi_boards.sim.virtual_card import OUTGOING_INS, T0Behaviour, VirtualCard

# T=0 test card: TA1 = 18 (372/12 after the PPS), 3 historical bytes "CPS"
T0_TEST_ATR = bytes.fromhex("3B 13 18 43 50 53")

CARD_NAMES = {
    "none": "empty slot",
    "t0": "plain T=0 test card (test applet, TA1 = 18)",
    "t1": "plain T=1 test card (test applet, IFSC 254, LRC, TA1 = 18)",
}


def make_card(name: str, faults: str | None = None) -> tuple[VirtualCard, TestApplet] | None:
    """A fresh card by name (None for ``none``); raises ValueError for an unknown name."""
    if name == "none":
        return None
    applet = TestApplet()
    if name == "t0":
        behaviour = T0Behaviour(applet.handle, outgoing_ins=OUTGOING_INS | {INS_INCREMENT})
        return VirtualCard(T0_TEST_ATR, behaviour=behaviour, faults=faults), applet
    if name == "t1":
        return VirtualCard(T1_ATR_LRC_IFSC254, behaviour=T1Behaviour(applet.handle), faults=faults), applet
    known = ", ".join(sorted(CARD_NAMES))
    raise ValueError(f"unknown card {name!r} (known: {known})")
