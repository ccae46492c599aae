"""Open the CPS in a connected slot: detect the generation (ATR, then EF.SN), return the
matching :class:`~cpsdi.cps.card.CPSCard`."""

from __future__ import annotations

import logging

from cpsdi.cps.card import CPSCard
from cpsdi.cps.cps3 import CPS3Card
from cpsdi.cps.cps4 import CPS4Card
from cpsdi.cps.detect import Generation, generation_from_atr
from cpsdi.cps.errors import NotACPSCard
from cpsdi.reader import CardConnection

__all__ = ["open_card"]

log = logging.getLogger(__name__)


def open_card(connection: CardConnection) -> CPSCard:
    """The CPS API object for the card of ``connection`` (its EF.SN issuer is checked, as
    Cryptolib does, FACT A1). Raises NotACPSCard for a Vitale card or an unknown card."""
    generation = generation_from_atr(bytes(connection.atr.raw))
    card: CPSCard
    if generation is Generation.CPS4:
        card = CPS4Card(connection)
    elif generation is Generation.CPS3:
        card = CPS3Card(connection)
    elif generation is Generation.VITALE:
        raise NotACPSCard("this is a Vitale card, not a CPS")
    else:
        raise NotACPSCard(f"not a contact CPS card (ATR {connection.atr.raw.hex(' ').upper()}, {generation.value})")
    number = card.card_number()  # raises NotACPSCard for another issuer
    log.info("%s card %s", generation.value, number.number)
    return card
