"""Exceptions of the CPS API, in the one cpsdi hierarchy (under `cpsdi.exceptions.ReaderError`).

No message ever contains a PIN or an unblock code: they are built from status words and tries
counters only.
"""

from __future__ import annotations

from cpsdi.exceptions import ReaderError

__all__ = [
    "CPSError",
    "NotACPSCard",
    "CardDataError",
    "OperationNotSupported",
    "PinError",
    "WrongPin",
    "PinBlocked",
    "CardBlocked",
    "PinRequired",
    "InvalidPinFormat",
    "NoPinPad",
    "PinEntryError",
    "PinEntryCancelled",
    "PinEntryTimeout",
    "PinEntryMismatch",
]


class CPSError(ReaderError):
    """A CPS operation failed."""


class NotACPSCard(CPSError):
    """The card is not a CPS2ter/CPS3/CPS4 (ATR or EF.SN issuer prefix), or not supported."""


class CardDataError(CPSError):
    """The card returned data this library cannot read (malformed FCP, PKCS#15, certificate...)."""


class OperationNotSupported(CPSError):
    """The operation does not exist on this card generation (e.g. RSA-PSS on a CPS3)."""


class PinError(CPSError):
    """A PIN operation failed; ``sw`` is the card's status word."""

    def __init__(self, message: str, sw: int) -> None:
        self.sw = sw
        super().__init__(f"{message} (SW {sw:04X})")


class WrongPin(PinError):
    """The code was wrong; ``tries_left`` (at least 1) more attempts before it blocks; ``what``
    says which code: ``"PIN"`` or ``"unblock code"``. A wrong last try raises `PinBlocked` or
    `CardBlocked` instead (SW ``63C0``)."""

    def __init__(self, tries_left: int, sw: int, what: str = "PIN") -> None:
        self.tries_left = tries_left
        self.what = what
        super().__init__(f"wrong {what}: {tries_left} tr{'y' if tries_left == 1 else 'ies'} left", sw)


class PinBlocked(PinError):
    """The holder PIN is blocked: unblock it with the unblock code (`CPSCard.unblock_pin`)."""


class CardBlocked(PinError):
    """The unblock code is blocked or its uses are exhausted: the card is blocked for good."""


class PinRequired(PinError):
    """The operation needs the holder PIN verified first (`CPSCard.verify_pin`)."""


class InvalidPinFormat(CPSError, ValueError):
    """A PIN or unblock code that is not 4..8 (8 for the unblock code) decimal digits; refused
    before anything reaches the card (the message never contains the value)."""


class NoPinPad(OperationNotSupported):
    """The reader has no PIN pad (GET_INFO without the PIN-pad feature), or the slot cannot use
    it: type the PIN on the host instead (`CPSCard.verify_pin`)."""


class PinEntryError(PinError):
    """The holder's entry on the reader's PIN pad ended without reaching the card; ``sw`` is the
    PC/SC part 10 code the reader (or libccid) gives it: ``6400`` timeout, ``6401`` cancel,
    ``6402`` the new PIN and its confirmation differ. No try of the card was used."""


class PinEntryCancelled(PinEntryError):
    """The holder pressed Cancel on the PIN pad (CCID bError EF, PC/SC SW ``6401``)."""


class PinEntryTimeout(PinEntryError):
    """Nobody typed on the PIN pad in time (CCID bError F0, PC/SC SW ``6400``)."""


class PinEntryMismatch(PinEntryError):
    """The new PIN and its confirmation typed on the PIN pad differ (SW ``6402``)."""
