"""The CPS API: health-professional cards (CPS3, CPS4 and their CPS2ter volet) over a cpsdi reader.

``open_card(connection)`` detects the generation and returns a :class:`CPSCard` whose methods
hide each generation's APDU sequences (``shared/reference/cps-cards.md`` §7)::

    with Reader.open(url) as reader, reader.slots[0].connect() as connection:
        card = open_card(connection)
        card.verify_pin(pin)
        signature = card.sign(payload)
"""

from cpsdi.cps.card import CPSCard, HolderData, KeyKind
from cpsdi.cps.detect import CardNumber, Generation, generation_from_atr
from cpsdi.cps.errors import (
    CardBlocked,
    CardDataError,
    CPSError,
    InvalidPinFormat,
    NotACPSCard,
    OperationNotSupported,
    PinBlocked,
    PinError,
    PinRequired,
    WrongPin,
)
from cpsdi.cps.fse import FSESignature, sign_fse, verify_signature
from cpsdi.cps.pin import PinStatus
from cpsdi.cps.session import open_card

__all__ = [
    "CPSCard",
    "HolderData",
    "KeyKind",
    "CardNumber",
    "Generation",
    "generation_from_atr",
    "CPSError",
    "InvalidPinFormat",
    "NotACPSCard",
    "CardDataError",
    "OperationNotSupported",
    "PinError",
    "WrongPin",
    "PinBlocked",
    "CardBlocked",
    "PinRequired",
    "PinStatus",
    "FSESignature",
    "sign_fse",
    "verify_signature",
    "open_card",
]
