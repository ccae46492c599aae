"""A ready virtual CPS card from a profile: keys and certificates from the test PKI, holder
data objects, the CPS2ter volet sharing the card's PIN, in a :class:`VirtualCard`.

``make_profile_card("doctor")`` is what ``cpsdi sim --card doctor`` puts in a slot.
"""

from __future__ import annotations

import os
from typing import Union

from cpsdi_boards.sim.cps.cards import make_cps3_card, make_cps4_card
from cpsdi_boards.sim.cps.cps3 import CPS3Application
from cpsdi_boards.sim.cps.cps4 import CPS4Application
from cpsdi_boards.sim.cps.pki import card_pki
from cpsdi_boards.sim.cps.profiles import CardProfile, data_objects, get_profile, make_volet
from cpsdi_boards.sim.faults import FaultScript
from cpsdi_boards.sim.virtual_card import VirtualCard

__all__ = ["CPSApplication", "make_profile_card"]

CPSApplication = Union[CPS3Application, CPS4Application]


def make_profile_card(
    profile: str | CardProfile,
    *,
    t0_only: bool = False,
    faults: FaultScript | str | None = None,
    pki_dir: str | os.PathLike[str] | None = None,
) -> tuple[VirtualCard, CPSApplication]:
    """A fresh card for ``profile`` (a name from ``profiles.PROFILES`` or a profile).

    ``t0_only``: a CPS4 with its T=0-only ATR (ignored for a CPS3, which is T=0 anyway).
    Raises ValueError for an unknown profile name.
    """
    p = get_profile(profile) if isinstance(profile, str) else profile
    pki = card_pki(p, pki_dir)
    objects = data_objects(p)
    if p.generation == "cps3":
        app3: CPS3Application | None = None
        volet = make_volet(p, pin_verified=lambda: app3 is not None and app3.chv1.verified)
        app3 = CPS3Application(
            serial=p.serial_number, auth_key=pki.auth_key, sign_key=pki.sign_key, auth_cert=pki.auth_cert_der,
            sign_cert=pki.sign_cert_der, data_objects=objects, pin=p.pin, unblock_code=p.unblock_code,
            pin_tries=p.pin_tries_max, pin_tries_left=p.pin_tries_left, unblock_tries=p.unblock_tries_max,
            unblock_uses=p.unblock_uses_left, quirks=p.quirks, cps2ter=volet.handle,
        )
        return make_cps3_card(app3, faults=faults), app3
    app4: CPS4Application | None = None
    volet = make_volet(p, pin_verified=lambda: app4 is not None and app4.chipdoc.pin.verified)
    app4 = CPS4Application(
        serial=p.serial_number, auth_key=pki.auth_key, sign_key=pki.sign_key, auth_cert=pki.auth_cert_der,
        sign_cert=pki.sign_cert_der, data_objects=objects, pin=p.pin, unblock_code=p.unblock_code,
        pin_tries=p.pin_tries_max, pin_tries_left=p.pin_tries_left, unblock_tries=p.unblock_tries_max,
        quirks=p.quirks, cps2ter=volet.handle,
    )
    return make_cps4_card(app4, t0_only=t0_only, faults=faults), app4
