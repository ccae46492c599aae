"""Placeholder Vitale cards: the public ATRs (inverse convention for Vitale 1) and a made-up file."""

from __future__ import annotations

import pytest

from _simreader import power_up, transmit_t0
from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim.cps.vitale import (
    PLACEHOLDER_CONTENT,
    VITALE1_ATR,
    VITALE1_ATRS,
    VITALE2_ATR,
    VITALE2_ATRS,
    make_vitale_card,
)
from cpsdi_boards.sim.virtual_card import parse_atr_params


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_atr_tables() -> None:
    assert VITALE1_ATR == h("3F 65 25 00 2C 09 69 90 00")
    assert VITALE1_ATR in VITALE1_ATRS and len(VITALE1_ATRS) == 7
    assert VITALE2_ATR in VITALE2_ATRS and len(VITALE2_ATRS) == 10
    assert h("3B 75 13 00 00 45 09 FA 90 00") in VITALE2_ATRS
    for atr in VITALE1_ATRS:
        p = parse_atr_params(atr)
        assert p.inverse and p.protocols == (0,) and p.n == 0 and len(atr) == 9
    for atr in VITALE2_ATRS:
        p = parse_atr_params(atr)
        assert not p.inverse and (p.fi, p.di) == (372, 4) and p.protocols == (0,)


@pytest.mark.parametrize("generation, atr", [(1, VITALE1_ATR), (2, VITALE2_ATR)])
def test_placeholder_card_over_t0(generation: int, atr: bytes) -> None:
    card, applet = make_vitale_card(generation)  # type: ignore[arg-type]
    port = SimCardPort(card)
    got = power_up(port)
    assert got.data == atr and got.parity == bytes(len(atr))
    assert card.params.inverse is (generation == 1)
    assert transmit_t0(port, h("00 A4 00 00 02"), h("3F 00")) == (b"", 0x9000)
    assert transmit_t0(port, h("00 B0 00 00 04")) == (b"", 0x6986)  # no EF selected
    assert transmit_t0(port, h("00 A4 00 00 02"), h("00 02")) == (b"", 0x9000)
    n = len(PLACEHOLDER_CONTENT)
    assert transmit_t0(port, h("00 B0 00 00") + bytes((n,))) == (PLACEHOLDER_CONTENT, 0x9000)
    assert b"PLACEHOLDER" in PLACEHOLDER_CONTENT
    assert transmit_t0(port, h("00 B0 00 00") + bytes((n + 1,))) == (b"", 0x6C00 | n)
    assert transmit_t0(port, h("00 A4 00 00 02"), h("2F 00")) == (b"", 0x6A82)
    assert transmit_t0(port, h("00 84 00 00 08")) == (b"", 0x6D00)
    assert applet.ef_selected


def test_other_listed_atr_and_bad_generation() -> None:
    card, _ = make_vitale_card(1, atr=VITALE1_ATRS[-1])
    assert power_up(SimCardPort(card)).data == VITALE1_ATRS[-1]
    with pytest.raises(ValueError):
        make_vitale_card(3)  # type: ignore[arg-type]
