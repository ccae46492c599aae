"""Character frames on the I/O line: conventions, parity, garbling (ISO/IEC 7816-3 §7.1-§7.3).

A character on the line is modelled by its nine moments after the start bit (eight data
bits and the parity bit) as line *levels*: 1 = high (state Z), 0 = low (state A).

* Direct convention (TS = 3B): high = 1, least significant bit first.
* Inverse convention (TS = 3F): low = 1, most significant bit first.
* Even parity on the logical bits: the number of logical 1s in data + parity is even.

Decoding a line pattern with the wrong convention is exact: an inverse TS (3F) read by a
receiver in direct convention gives 0x03 with a parity error, a direct TS (3B) read in
inverse convention gives 0x23 with a parity error (iso7816-3.md §1.2).

When the sender and the receiver disagree on F/D the receiver samples at the wrong
times: the simulator does not model bit slips, it delivers :func:`garble` of the value
with a parity error, deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "NULL",
    "CardChar",
    "to_inverse",
    "encode_levels",
    "decode_levels",
    "garble",
    "PARITY_ALWAYS",
]

NULL = 0x60  # T=0 NULL procedure byte (ISO 7816-3 §10.3.3)
PARITY_ALWAYS = -1  # CardChar.parity_errors: every transmission has a parity error


def to_inverse(value: int) -> int:
    """Byte value seen in one convention for a byte sent in the other one: bit-reversed complement."""
    value = ~value & 0xFF
    out = 0
    for _ in range(8):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


def encode_levels(value: int, inverse: bool, parity_ok: bool = True) -> tuple[int, ...]:
    """The nine line levels after the start bit of ``value`` sent in a convention.

    ``parity_ok=False`` sends the wrong parity bit (a parity error at the receiver).
    """
    bits = [(value >> i) & 1 for i in range(8)]  # logical bits, LSB first
    if inverse:
        bits.reverse()  # MSB first on the line
    parity = sum(bits) & 1  # even parity: parity bit makes the count of 1s even
    if not parity_ok:
        parity ^= 1
    logical = bits + [parity]
    if inverse:
        return tuple(1 - b for b in logical)  # low = 1
    return tuple(logical)


def decode_levels(levels: tuple[int, ...], inverse: bool) -> tuple[int, bool]:
    """Decode nine line levels in a convention: ``(value, parity_ok)``."""
    if len(levels) != 9:
        raise ValueError("a character has 9 moments after the start bit, got %d" % len(levels))
    logical = [1 - b for b in levels] if inverse else list(levels)
    data = logical[:8]
    if inverse:
        data.reverse()
    value = 0
    for i, bit in enumerate(data):
        value |= bit << i
    return value, sum(logical) % 2 == 0


def garble(value: int) -> int:
    """What a receiver at the wrong F/D delivers for ``value`` (always with a parity error)."""
    return (((value << 3) | (value >> 5)) & 0xFF) ^ 0x5A


@dataclass
class CardChar:
    """One character queued by the virtual card, before it is put on the line.

    ``gap_clocks`` is the distance from the leading edge of the previous character on the
    line (either direction) to this one's leading edge. ``response`` numbers the card's
    answers since the last reset (0 = the ATR); ``index`` is the 1-based position in the
    answer as the card behaviour produced it, 0 for characters injected by a fault
    (NULL storms, extra bytes).
    """

    value: int
    gap_clocks: int
    response: int
    index: int
    parity_errors: int = 0  # transmissions still to send with a wrong parity bit (PARITY_ALWAYS = all)
    remove_before: bool = False  # the card leaves the slot at this character's leading edge
    remove_after: bool = False  # ... 12 etu after it
    end_exchange: bool = False  # last character of an answer that completes an exchange
    then_fd: tuple[int, int] | None = None  # card switches to this F/D after sending this character
    faults_applied: bool = False
    processing_clocks: int = 0  # card processing time included in gap_clocks (etu accounting)
