"""Named virtual cards for ``cpsdi sim --card NAME`` (and ``sim://?card=NAME``).

``t0`` / ``t1``: a plain test applet (test_applet.py). CPS cards: one name per profile of
``cps/profiles.py`` (``doctor``, ``pharmacist``, ...; a CPS4 profile also as ``NAME-t0``, its
T=0-only ATR), built by ``cps/virtual_cps.py`` with the test PKI. ``vitale1`` / ``vitale2``:
the placeholder Vitale cards (cps/vitale.py). ``none``: an empty slot.
"""

from __future__ import annotations

from cpsdi_boards.sim.t1_card import T1_ATR_LRC_IFSC254, T1Behaviour
from cpsdi_boards.sim.test_applet import INS_INCREMENT, TestApplet
from cpsdi_boards.sim.virtual_card import OUTGOING_INS, T0Behaviour, VirtualCard

# T=0 test card: TA1 = 18 (372/12 after the PPS), 3 historical bytes "CPS"
T0_TEST_ATR = bytes.fromhex("3B 13 18 43 50 53")


def _card_names() -> dict[str, str]:
    from cpsdi_boards.sim.cps.profiles import PROFILES

    names = {
        "none": "empty slot",
        "t0": "plain T=0 test card (test applet, TA1 = 18)",
        "t1": "plain T=1 test card (test applet, IFSC 254, LRC, TA1 = 18)",
        "vitale1": "placeholder Vitale 1 card (inverse convention; ATR and a minimal file only)",
        "vitale2": "placeholder Vitale 2 card (ATR and a minimal file only)",
    }
    for name, profile in PROFILES.items():
        names[name] = profile.description
        if profile.generation == "cps4":
            names[f"{name}-t0"] = f"{profile.description}; T=0-only ATR"
    return names


CARD_NAMES = _card_names()


def make_card(name: str, faults: str | None = None) -> tuple[VirtualCard, object] | None:
    """A fresh card by name and its application object (None for ``none``); ValueError for an
    unknown name."""
    if name == "none":
        return None
    if name == "t0":
        applet = TestApplet()
        behaviour = T0Behaviour(applet.handle, outgoing_ins=OUTGOING_INS | {INS_INCREMENT})
        return VirtualCard(T0_TEST_ATR, behaviour=behaviour, faults=faults), applet
    if name == "t1":
        applet = TestApplet()
        return VirtualCard(T1_ATR_LRC_IFSC254, behaviour=T1Behaviour(applet.handle), faults=faults), applet
    if name in ("vitale1", "vitale2"):
        from cpsdi_boards.sim.cps.vitale import make_vitale_card

        return make_vitale_card(1 if name == "vitale1" else 2, faults=faults)
    if name in CARD_NAMES:
        from cpsdi_boards.sim.cps.virtual_cps import make_profile_card

        t0_only = name.endswith("-t0")
        return make_profile_card(name[:-3] if t0_only else name, t0_only=t0_only, faults=faults)
    known = ", ".join(sorted(CARD_NAMES))
    raise ValueError(f"unknown card {name!r} (known: {known})")
