"""The PIO encoder of ``cpsdi_boards.pio_iso7816`` against published encodings, and program shape.

The device loads exactly ``TX_PROGRAM`` / ``RX_PROGRAM`` (``rp2_pio_iso7816._program`` emits each
word with ``rp2.asm_pio``'s ``word()``); the emulator tests run the same tuples.
"""

import pytest

from cpsdi_boards import pio_iso7816 as P

# (word, encoder call) from pico-examples uart_rx.pio.h / pioasm output and MicroPython's
# asm_pio_encode documentation (``set(0, 1)`` -> 57345).
KNOWN = [
    (0x2020, lambda: P.encode_wait(0, P.WAIT_PIN, 0)),  # wait 0 pin, 0
    (0x20A0, lambda: P.encode_wait(1, P.WAIT_PIN, 0)),  # wait 1 pin, 0
    (0xEA27, lambda: P.encode_set(P.SRC_X, 7, 10)),  # set x, 7 [10]
    (0x4001, lambda: P.encode_in(P.SRC_PINS, 1)),  # in pins, 1
    (0x0642, lambda: P.encode_jmp(P.JMP_X_DEC, 2, 6)),  # jmp x--, 2 [6]
    (0x00C8, lambda: P.encode_jmp(P.JMP_PIN, 8)),  # jmp pin, 8
    (0x0000, lambda: P.encode_jmp(P.JMP_ALWAYS, 0)),  # jmp 0
    (0x8020, lambda: P.encode_push()),  # push block
    (0x8000, lambda: P.encode_push(block=False)),  # push noblock
    (0x80A0, lambda: P.encode_pull()),  # pull block
    (0x6001, lambda: P.encode_out(P.SRC_PINS, 1)),  # out pins, 1
    (0xE001, lambda: P.encode_set(P.SRC_PINS, 1)),  # set pins, 1 (= 57345)
    (0xE081, lambda: P.encode_set(P.DST_PINDIRS, 1)),  # set pindirs, 1
    (0xA042, lambda: P.encode_nop()),  # nop = mov y, y
    (0xA0C3, lambda: P.encode_mov(P.SRC_ISR, P.SRC_NULL)),  # mov isr, null
    (0xA0CB, lambda: P.encode_mov(P.SRC_ISR, P.SRC_NULL, P.MOV_INVERT)),  # mov isr, ~null
    (0x4040, lambda: P.encode_in(P.SRC_Y, 32)),  # in y, 32
]


@pytest.mark.parametrize("word,call", KNOWN, ids=[hex(w) for w, _ in KNOWN])
def test_known_encodings(word: int, call) -> None:  # type: ignore[no-untyped-def]
    assert call() == word


def test_encoder_refuses_what_the_hardware_lacks() -> None:
    with pytest.raises(ValueError):
        P.encode_mov(P.DST_PINDIRS, P.SRC_X)  # micropython#19187: would be MOV EXEC on RP2040
    with pytest.raises(ValueError):
        P.encode_set(P.SRC_X, 1, 32)
    with pytest.raises(ValueError):
        P.encode_jmp(P.JMP_ALWAYS, 32)


def test_programs_fit_one_pio_block() -> None:
    assert len(P.TX_PROGRAM) == 13
    assert len(P.RX_PROGRAM) == 19
    assert len(P.TX_PROGRAM) + len(P.RX_PROGRAM) <= P.MAX_PROGRAM_SLOTS


@pytest.mark.parametrize("program,wrap", [(P.TX_PROGRAM, P.TX_WRAP), (P.RX_PROGRAM, P.RX_WRAP)])
def test_jump_targets_inside_program(program: tuple[int, ...], wrap: int) -> None:
    assert wrap == len(program) - 1
    for w in program:
        assert 0 <= w <= 0xFFFF
        if w >> 13 == 0:
            assert (w & 0x1F) < len(program)
        assert w >> 13 != 6, "no IRQ instruction (pioemu cannot run it)"
        if w >> 13 == 5:
            assert (w >> 5) & 7 not in (4,), "no MOV EXEC/PINDIRS"
            assert w & 7 != 5, "no MOV STATUS (pioemu stops)"
            assert (w >> 3) & 3 != 2, "no bit-reverse (pioemu ignores it)"


def test_tx_frame_layout() -> None:
    f = P.tx_frame(0x3B, False, 2)
    assert f & 1 == 1  # start bit drives
    assert f >> 10 == 4
    with pytest.raises(ValueError):
        P.tx_frame(0, False, 255)


@pytest.mark.parametrize("inverse", [False, True])
def test_rx_decode_round_trip(inverse: bool) -> None:
    for b in range(256):
        assert P.rx_decode(P.rx_word(b, inverse), inverse) == (b, True)
        assert P.rx_decode(P.rx_word(b, inverse, parity_ok=False), inverse) == (b, False)


def test_sm_clock_divider_exact_for_iso_points() -> None:
    # 125 MHz / 35 = 3.5714 MHz card clock: etu = 35 * F / D sys clocks, 8 SM cycles per etu
    assert P.sm_clkdiv(125_000_000, 35, 372, 1) == (1627, 128, 0)  # 1627.5
    assert P.sm_clkdiv(125_000_000, 35, 372, 12) == (135, 160, 0)  # 135.625
    assert P.sm_clkdiv(125_000_000, 35, 512, 64) == (35, 0, 0)
    _, _, err = P.sm_clkdiv(125_000_000, 35, 372, 32)  # 50.859375: exact too
    assert err == 0
    assert P.clock_period(125_000_000, 3_571_428) == 35
    with pytest.raises(ValueError):
        P.sm_clkdiv(125_000_000, 2, 8, 64)  # divider < 1
