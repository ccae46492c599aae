"""Simulator basics: virtual time arithmetic and character coding on the line."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cpsdi_boards.sim.character import decode_levels, encode_levels, garble, to_inverse
from cpsdi_boards.sim.clock import EtuCounter, VirtualClock, clocks_to_etu, etu_to_clocks


def test_etu_to_clocks_rounds_up_fractional_etu() -> None:
    assert etu_to_clocks(1, 372, 1) == 372
    assert etu_to_clocks(12, 372, 12) == 372
    assert etu_to_clocks(1, 372, 32) == 12  # 11.625 rounded up
    assert etu_to_clocks(8, 372, 32) == 93  # exactly 93
    assert etu_to_clocks(9600, 372, 1) == 3_571_200
    assert clocks_to_etu(12, 372, 32) == Fraction(32 * 12, 372)
    with pytest.raises(ValueError):
        etu_to_clocks(1, 0, 1)


def test_clock_only_moves_forward() -> None:
    clock = VirtualClock()
    assert clock.advance(10) == 10
    assert clock.advance(-5) == 10
    assert clock.advance_to(5) == 10
    assert clock.advance_to(20) == 20


def test_etu_counter_is_piecewise_over_fd_changes() -> None:
    c = EtuCounter(1000)
    assert c.etu_at(1000 + 372 * 10) == 10
    c.set_fd(1000 + 372 * 10, 372, 12)
    assert c.etu_at(1000 + 372 * 10 + 31 * 5) == 15


@pytest.mark.parametrize("value", [0x00, 0x3B, 0x3F, 0x60, 0xA4, 0xFF])
def test_round_trip_in_each_convention(value: int) -> None:
    for inverse in (False, True):
        assert decode_levels(encode_levels(value, inverse), inverse) == (value, True)
        bad_value, ok = decode_levels(encode_levels(value, inverse, parity_ok=False), inverse)
        assert (bad_value, ok) == (value, False)


def test_ts_misdecodes_are_those_of_iso7816_3_section_1_2() -> None:
    # inverse TS read in direct convention: 03 with a parity error; direct TS read inverse: 23
    assert decode_levels(encode_levels(0x3F, inverse=True), inverse=False) == (0x03, False)
    assert decode_levels(encode_levels(0x3B, inverse=False), inverse=True) == (0x23, False)
    # line pattern Z Z A A A A A A, parity Z for inverse 3F (high = 1)
    assert encode_levels(0x3F, inverse=True) == (1, 1, 0, 0, 0, 0, 0, 0, 1)
    assert encode_levels(0x3B, inverse=False) == (1, 1, 0, 1, 1, 1, 0, 0, 1)


def test_convention_conversion_is_bit_reversed_complement() -> None:
    assert to_inverse(0x3F) == 0x03
    for v in range(256):
        assert to_inverse(to_inverse(v)) == v
        assert decode_levels(encode_levels(v, True), False)[0] == to_inverse(v)


def test_garble_is_deterministic() -> None:
    assert [garble(v) for v in range(4)] == [garble(v) for v in range(4)]
    assert garble(0x90) != 0x90
