"""Card-holder verification objects (ISO/IEC 7816-4 §11.5: VERIFY, CHANGE REFERENCE DATA,
RESET RETRY COUNTER) with a retry counter and an optional usage counter.

FACT (cps-cards.md §6.2): CPS3 CHV1 "code porteur" 3 tries; CHV2 "code de déblocage"
10 tries and 100 uses. INFERENCE (§6.2/§12): an exhausted usage counter blocks the object
for good. GUESS: the PIN is compared after stripping trailing FF padding (format unknown,
§14); a successful VERIFY consumes one use.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpsdi_boards.sim.cps.iso7816_4 import SW

__all__ = ["PinObject"]

PAD_BYTE = 0xFF


def _unpad(value: bytes) -> bytes:
    return bytes(value).rstrip(bytes((PAD_BYTE,)))


@dataclass(eq=False)
class PinObject:
    """A PIN: value, retry counter, optional usage counter and the verified state."""

    reference: int
    value: bytes
    tries_max: int
    uses_max: int | None = None
    min_length: int = 4
    max_length: int = 8

    def __post_init__(self) -> None:
        self.value = _unpad(self.value)
        self.tries_left = self.tries_max
        self.uses_left = self.uses_max
        self.verified = False

    @property
    def blocked(self) -> bool:
        """No try left, or every use spent."""
        return self.tries_left == 0 or self.uses_left == 0

    def status(self) -> int:
        """VERIFY without data: 9000 if verified, 6983 if blocked, else 63Cx."""
        if self.blocked:
            return SW.AUTH_METHOD_BLOCKED
        if self.verified:
            return SW.OK
        return 0x63C0 | min(self.tries_left, 15)

    def matches(self, candidate: bytes) -> bool:
        """True if ``candidate`` (possibly FF-padded) is the PIN; no counter change."""
        return _unpad(candidate) == self.value

    def verify(self, candidate: bytes) -> int:
        """VERIFY with data: 9000, 63Cx (x tries left, 63C0 on the last one) or 6983."""
        if self.blocked:
            self.verified = False
            return SW.AUTH_METHOD_BLOCKED
        if not self.matches(candidate):
            self.verified = False
            self.tries_left -= 1
            return 0x63C0 | min(self.tries_left, 15)
        self.tries_left = self.tries_max
        if self.uses_left is not None:
            self.uses_left -= 1
        self.verified = True
        return SW.OK

    def valid_new_value(self, value: bytes) -> bool:
        """Format of a new PIN: ``min_length``..``max_length`` ASCII digits (GUESS)."""
        value = _unpad(value)
        return self.min_length <= len(value) <= self.max_length and all(0x30 <= b <= 0x39 for b in value)

    def set_value(self, value: bytes) -> None:
        """New reference data; the retry counter is reset."""
        self.value = _unpad(value)
        self.tries_left = self.tries_max

    def unblock(self) -> None:
        """RESET RETRY COUNTER: tries back to the maximum (the usage counter is not reset)."""
        self.tries_left = self.tries_max

    def logout(self) -> None:
        """Drop the verified state."""
        self.verified = False
