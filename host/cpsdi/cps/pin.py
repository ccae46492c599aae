"""PIN values and status. A PIN is ASCII digits on the card (FACT A12: ascii-numeric PIN objects;
GUESS for production cards, §14); it is accepted as ``str`` or ``bytes`` and never kept,
logged or put in a message."""

from __future__ import annotations

from dataclasses import dataclass

from cpsdi.cps.errors import InvalidPinFormat

__all__ = ["PinStatus", "pin_bytes", "HOLDER_PIN_LENGTHS", "UNBLOCK_CODE_LENGTHS"]

HOLDER_PIN_LENGTHS = range(4, 9)  # test cards: 4 digits (FACT A15); AODF min 4 / max 8 (GUESS)
UNBLOCK_CODE_LENGTHS = range(8, 9)  # test cards: 8 digits (FACT A15, I2217)


def pin_bytes(value: str | bytes | bytearray, what: str = "PIN", lengths: range = HOLDER_PIN_LENGTHS) -> bytes:
    """The card form of a code, or InvalidPinFormat (a ValueError whose text never contains the code)."""
    raw = value.encode("ascii", "replace") if isinstance(value, str) else bytes(value)
    if not raw.isdigit():
        raise InvalidPinFormat(f"the {what} must be decimal digits")
    if len(raw) not in lengths:
        raise InvalidPinFormat(f"the {what} must have {lengths.start} to {lengths.stop - 1} digits")
    return raw


@dataclass(frozen=True)
class PinStatus:
    """Holder PIN state. ``tries_max`` None when the card does not tell (CPS4: 3 assumed, §7.4);
    ``unblock_uses_left`` None when unknown."""

    tries_left: int
    tries_max: int | None
    blocked: bool
    verified: bool
    unblock_uses_left: int | None = None

    @property
    def blocked_for_good(self) -> bool:
        """True when no unblock is possible any more (INFERENCE §6.2: usage counter exhausted)."""
        return self.blocked and self.unblock_uses_left == 0
