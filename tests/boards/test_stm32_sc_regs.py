"""``stm32_sc_regs.usart_sc_config``: register values against the reference-manual formulas.

RM0351 (STM32L4) "USART smartcard mode": SCLK = f_ck / (2 PSC); USARTDIV = f_ck / baud with
OVER8 = 0, BRR = USARTDIV >= 16; GT = CGT - 12; CR1 M0|PCE|TE|RE (UE written last by the driver);
CR2 STOP = 1.5, CLKEN, LBCL (+ MSBFIRST|DATAINV for the inverse convention); CR3 SCEN, NACK,
SCARCNT.
"""

import pytest

from cpsdi_boards.board_check import BoardError
from cpsdi_boards.stm32_sc_regs import (CR1_M0, CR1_PCE, CR1_RE, CR1_TE, CR1_UE, CR2_CLKEN, CR2_DATAINV, CR2_LBCL,
                                        CR2_MSBFIRST, CR2_STOP_1_5, CR3_NACK, CR3_SCEN, usart_sc_config)


def test_apb_80mhz_card_4mhz_372_1() -> None:
    c = usart_sc_config(80_000_000, 4_000_000, 372, 1, guard_time_etu=12, retries=3)
    assert c["psc"] == 10 and c["card_hz"] == 4_000_000  # 80 MHz / (2 * 10)
    assert c["BRR"] == 7440  # 80 MHz / (4 MHz / 372) = 2 * 10 * 372
    assert c["etu_error_ppm"] == 0
    assert c["baud_x1000"] == 10_752_688  # 4 MHz / 372 = 10 752.688 bit/s
    assert c["GTPR"] == 0x000A  # GT = 12 - 12 = 0, PSC = 10
    assert c["CR1"] == CR1_M0 | CR1_PCE | CR1_TE | CR1_RE == 0x140C
    assert not c["CR1"] & CR1_UE
    assert c["CR2"] == CR2_STOP_1_5 | CR2_CLKEN | CR2_LBCL == 0x3900
    assert c["CR3"] == CR3_SCEN | CR3_NACK | 3 << 17 == 0x60030


def test_372_12_and_extra_guard_time() -> None:
    c = usart_sc_config(80_000_000, 4_000_000, 372, 12, guard_time_etu=14, retries=3)
    assert c["BRR"] == 620  # 2 * 10 * 372 / 12
    assert c["baud_x1000"] == 129_032_258
    assert c["GTPR"] == 0x020A  # N = 2


def test_t1_no_nack_no_retries() -> None:
    c = usart_sc_config(80_000_000, 4_000_000, 372, 1, guard_time_etu=11, retries=0)
    assert c["CR3"] == CR3_SCEN == 0x20
    assert c["GTPR"] == 0x000A  # CGT 11 (N = 255, T=1): the USART's minimum is one 12-etu character


def test_inverse_convention() -> None:
    c = usart_sc_config(80_000_000, 4_000_000, inverse=True)
    assert c["CR2"] & (CR2_MSBFIRST | CR2_DATAINV) == CR2_MSBFIRST | CR2_DATAINV


@pytest.mark.parametrize("kernel,card,psc,hz", [
    (84_000_000, 5_000_000, 9, 4_666_666),  # F4-class APB2 84 MHz: ceil(84 / 10)
    (84_000_000, 3_500_000, 12, 3_500_000),  # micropython.md §3.2 example
    (16_000_000, 4_000_000, 2, 4_000_000),
    (4_000_000, 5_000_000, 1, 2_000_000),
])
def test_prescaler_choice(kernel: int, card: int, psc: int, hz: int) -> None:
    c = usart_sc_config(kernel, card)
    assert (c["psc"], c["card_hz"]) == (psc, hz)
    assert c["BRR"] == 2 * psc * 372


def test_rounded_brr_within_tolerance() -> None:
    c = usart_sc_config(80_000_000, 4_000_000, 372, 32)  # 232.5 -> 233 (+0.215 %)
    assert c["BRR"] == 233 and c["etu_error_ppm"] == 2150


@pytest.mark.parametrize("kwargs,match", [
    (dict(kernel_hz=170_000_000, card_hz_max=1_000_000), "PSC"),  # PSC 85 > 31
    (dict(kernel_hz=80_000_000, card_hz_max=4_000_000, retries=8), "SCARCNT"),
    (dict(kernel_hz=80_000_000, card_hz_max=4_000_000, f=400), "ISO"),
    (dict(kernel_hz=80_000_000, card_hz_max=4_000_000, d=3), "ISO"),
    (dict(kernel_hz=80_000_000, card_hz_max=4_000_000, guard_time_etu=300), "guard"),
    (dict(kernel_hz=1_000_000, card_hz_max=1_000_000), "1..20 MHz"),  # SCLK 500 kHz
    (dict(kernel_hz=4_000_000, card_hz_max=2_000_000, f=372, d=64), "BRR"),  # 2 * 1 * 372 / 64 = 11.6
    (dict(kernel_hz=2_000_000, card_hz_max=1_000_000, f=744, d=64), "etu off"),  # 23.25 -> 23: -1.1 %
])
def test_impossible_combinations(kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(BoardError, match=match):
        usart_sc_config(**kwargs)


def test_etu_error_limit() -> None:
    # 2 * 1 * 1116 / 64 = 34.875 -> 35 (+0.36 %) accepted; 2 * 1 * 744 / 64 = 23.25 -> 23 (-1.1 %) refused
    assert usart_sc_config(2_000_000, 1_000_000, 1116, 64)["BRR"] == 35
    with pytest.raises(BoardError, match="etu off"):
        usart_sc_config(2_000_000, 1_000_000, 744, 64)
