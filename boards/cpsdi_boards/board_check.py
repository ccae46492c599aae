"""Board definitions are data; this pure module checks them at import (host and device alike).

Each board module calls these on its own constants, so a wrong pin map, a clock the
hardware cannot make or an etu that would drift fails at ``import cpsdi_boards.<board>`` (and so
before ``cpsdi fw flash`` copies anything) with a message naming the field.
"""

# ISO 7816-3 tables 7/8 (iso7816-3.md §1.1): Fi and fmax (Hz) by FI, Di by DI; RFU left out.
FI_TABLE = {0: (372, 4000000), 1: (372, 5000000), 2: (558, 6000000), 3: (744, 8000000), 4: (1116, 12000000),
            5: (1488, 16000000), 6: (1860, 20000000), 9: (512, 5000000), 10: (768, 7500000),
            11: (1024, 10000000), 12: (1536, 15000000), 13: (2048, 20000000)}
DI_TABLE = {1: 1, 2: 2, 3: 4, 4: 8, 5: 16, 6: 32, 7: 64, 8: 12, 9: 20}
F_VALUES = (372, 512, 558, 744, 768, 1024, 1116, 1488, 1536, 1860, 2048)
D_VALUES = (1, 2, 4, 8, 12, 16, 20, 32, 64)

ATR_CLOCK_MIN_HZ = 1000000  # ISO 7816-3 §6.2.1: 1..5 MHz during the ATR
ATR_CLOCK_MAX_HZ = 5000000


class BoardError(ValueError):
    """A board definition the hardware cannot implement."""


def fail(board: str, message: str) -> None:
    raise BoardError("board %s: %s" % (board, message))


def check_pins(board: str, used, valid) -> None:
    """``used``: list of (role, pin number or None). Every pin in ``valid``, none used twice."""
    seen = {}
    for role, pin in used:
        if pin is None:
            continue
        if pin not in valid:
            fail(board, "%s on pin %r, which this chip does not have" % (role, pin))
        if pin in seen:
            fail(board, "pin %r used twice: %s and %s" % (pin, seen[pin], role))
        seen[pin] = role


def check_atr_clock(board: str, clock_hz: int) -> None:
    if not ATR_CLOCK_MIN_HZ <= clock_hz <= ATR_CLOCK_MAX_HZ:
        fail(board, "card clock %d Hz outside 1-5 MHz (ISO 7816-3 §6.2.1, needed for the ATR)" % clock_hz)


def check_fd(board: str, f: int, d: int) -> None:
    if f not in F_VALUES:
        fail(board, "F = %d is not an ISO 7816-3 Fi value" % f)
    if d not in D_VALUES:
        fail(board, "D = %d is not an ISO 7816-3 Di value" % d)
