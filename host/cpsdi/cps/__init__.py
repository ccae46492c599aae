"""The CPS API: health-professional cards (CPS3, CPS4 and their CPS2ter volet) over a cpsdi reader.

``open_card(connection)`` detects the generation and returns a :class:`CPSCard` whose methods
hide each generation's APDU sequences (``shared/reference/cps-cards.md`` §7)::

    with Reader.open(url) as reader, reader.slots[0].connect() as connection:
        card = open_card(connection)
        card.verify_pin(pin)               # or cpsdi.cps.verify_pin_on_reader(card): the reader's PIN pad
        signature = card.sign(payload)
"""

from cpsdi.cps.card import CPSCard, HolderData, KeyKind
from cpsdi.cps.detect import CardNumber, Generation, generation_from_atr
from cpsdi.cps.errors import (
    CardBlocked,
    CardDataError,
    CPSError,
    InvalidPinFormat,
    NoPinPad,
    NotACPSCard,
    OperationNotSupported,
    PinBlocked,
    PinEntryCancelled,
    PinEntryError,
    PinEntryMismatch,
    PinEntryTimeout,
    PinError,
    PinRequired,
    WrongPin,
)
from cpsdi.cps.fse import FSESignature, sign_fse, verify_signature
from cpsdi.cps.pin import PinStatus
from cpsdi.cps.pinpad import change_pin_on_reader, has_pin_pad, unblock_pin_on_reader, verify_pin_on_reader
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
    "NoPinPad",
    "PinEntryError",
    "PinEntryCancelled",
    "PinEntryTimeout",
    "PinEntryMismatch",
    "has_pin_pad",
    "verify_pin_on_reader",
    "change_pin_on_reader",
    "unblock_pin_on_reader",
    "FSESignature",
    "sign_fse",
    "verify_signature",
    "open_card",
]
