"""``rp2_pio_iso7816.PioCardPort`` on CPython with fake ``rp2`` / ``machine`` / ``time`` modules.

Checks the glue the emulator cannot see: the device loads exactly ``TX_PROGRAM`` / ``RX_PROGRAM``
through ``rp2.asm_pio`` + ``word()`` (the fake assembler below swaps the function's globals the
way MicroPython's ``asm_pio`` does), the wrap bits, the SM settings, SMx_CLKDIV values, the
T=1 instruction word that switches the error signal off, the frames DMA'd to the TX FIFO, and the RX word ->
byte/parity conversion with NACK accounting. The real ``rp2`` behaviour (StateMachine, DMA
registers, PWM) stays for the hardware tests (tests/hw).
"""

import importlib
import sys
import time
import types
from array import array
from typing import Any

import pytest

from cpsdi_boards import pio_iso7816 as P
from cpsdi_fw.hal import CLASS_A, ERR_REPEAT, OK


class Mem:
    def __init__(self) -> None:
        self.regs: dict[int, int] = {}

    def __getitem__(self, addr: int) -> int:
        return self.regs.get(addr, 0)

    def __setitem__(self, addr: int, value: int) -> None:
        self.regs[addr] = value & 0xFFFFFFFF


class FakeSM:
    def __init__(self, ident: int, prog: list[Any], **kw: Any) -> None:
        self.ident, self.prog, self.kw = ident, prog, kw
        self.execs: list[int] = []
        self.on = False
        self.rx: list[int] = []  # words the SM pushes (RX FIFO)
        self.pending: list[int] = []  # words a DMA reading this SM gets

    def active(self, v: int | None = None) -> bool:
        if v is not None:
            self.on = bool(v)
        return self.on

    def restart(self) -> None:
        pass

    def exec(self, instr: int) -> None:
        self.execs.append(instr)

    def rx_fifo(self) -> int:
        return len(self.rx)

    def tx_fifo(self) -> int:
        return 0

    def get(self) -> int:
        return self.rx.pop(0)


class FakeDMA:
    def __init__(self) -> None:
        self.count = 0
        self.configs: list[dict[str, Any]] = []

    def pack_ctrl(self, **kw: Any) -> dict[str, Any]:
        return kw

    def config(self, **kw: Any) -> None:
        self.configs.append(kw)
        n = kw["count"]
        src, dst = kw["read"], kw["write"]
        if isinstance(src, FakeSM):
            words = src.pending[:n]
            del src.pending[:n]
            for i, w in enumerate(words):
                dst[i] = w
            self.count = n - len(words)
        else:
            self.sent = list(src[:n])
            self.count = 0

    def active(self, v: int | None = None) -> bool:
        return False


def fake_asm_pio(**settings: Any) -> Any:
    def dec(f: Any) -> list[Any]:
        words: list[int] = []
        wrap = {"target": 0, "top": -1}
        g = f.__globals__
        saved = dict(g)
        g.clear()  # MicroPython's asm_pio replaces the globals by the DSL while the body runs
        g.update(word=lambda w: words.append(w), wrap_target=lambda: wrap.update(target=len(words)),
                 wrap=lambda: wrap.update(top=len(words) - 1))
        try:
            f()
        finally:
            g.clear()
            g.update(saved)
        return [array("H", words), -1, -1, wrap["target"] << 7 | wrap["top"] << 12, settings]

    return dec


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Any:
    mem = Mem()
    pwms: list[Any] = []
    machine = types.ModuleType("machine")

    class Pin:
        IN, OUT, PULL_UP = 0, 1, 2

        def __init__(self, n: int, *a: Any, **k: Any) -> None:
            self.n = n

    class PWM:
        def __init__(self, pin: Pin, freq: int, duty_u16: int) -> None:
            self.hz = freq
            pwms.append(self)

        def freq(self, hz: int) -> None:
            self.hz = hz

        def deinit(self) -> None:
            pass

    machine.Pin = Pin  # type: ignore[attr-defined]
    machine.PWM = PWM  # type: ignore[attr-defined]
    machine.mem32 = mem  # type: ignore[attr-defined]
    machine.freq = lambda: 125_000_000  # type: ignore[attr-defined]
    rp2 = types.ModuleType("rp2")
    rp2.asm_pio = fake_asm_pio  # type: ignore[attr-defined]
    rp2.StateMachine = FakeSM  # type: ignore[attr-defined]
    rp2.DMA = FakeDMA  # type: ignore[attr-defined]
    rp2.PIO = types.SimpleNamespace(IN_LOW=0, SHIFT_RIGHT=1, JOIN_RX=2)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "rp2", rp2)
    monkeypatch.delitem(sys.modules, "cpsdi_boards.rp2_pio_iso7816", raising=False)
    clock = [0]
    def ticks_us() -> int:
        clock[0] += 1  # time passes while the driver polls
        return clock[0]

    monkeypatch.setattr(time, "ticks_us", ticks_us, raising=False)
    monkeypatch.setattr(time, "ticks_add", lambda a, b: a + b, raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)

    def sleep_us(us: int) -> None:
        clock[0] += us

    monkeypatch.setattr(time, "sleep_us", sleep_us, raising=False)
    import cpsdi_boards

    monkeypatch.delattr(cpsdi_boards, "rp2_pio_iso7816", raising=False)
    drv = importlib.import_module("cpsdi_boards.rp2_pio_iso7816")

    chip = types.SimpleNamespace(voltage_classes=7, active=False, supports=lambda c: True, present=lambda: True,
                                 fault=lambda: False, power_on=lambda c: None, power_off=lambda: None,
                                 set_rst=lambda h: None)
    p = drv.PioCardPort(chip, io=2, clk=3, pio=0, sm_tx=0, sm_rx=1, clock_hz=3_571_428, clock_max_hz=5_000_000)
    p.mem = mem
    p.pwms = pwms
    p.drv = drv
    return p


def test_programs_loaded_word_for_word(port: Any) -> None:
    tx, rx = port._tx.prog, port._rx.prog
    assert tuple(tx[0]) == P.TX_PROGRAM and tuple(rx[0]) == P.RX_PROGRAM
    assert tx[3] == P.TX_WRAP_TARGET << 7 | P.TX_WRAP << 12
    assert rx[3] == P.RX_WRAP_TARGET << 7 | P.RX_WRAP << 12
    assert tx[4]["autopush"] is True and tx[4]["push_thresh"] == 32
    assert rx[4]["fifo_join"] == 2
    assert port._tx.ident == 0 and port._rx.ident == 1
    assert port._tx.kw["jmp_pin"].n == 2 and port._rx.kw["in_base"].n == 2


def test_clock_and_divider(port: Any) -> None:
    assert port.clock_hz == 3_571_428  # 125 MHz / 35
    drv, mem = port.drv, port.mem
    clkdiv = mem[drv.PIO_BASE[0] + drv.SM0_CLKDIV]
    assert (clkdiv >> 16, clkdiv >> 8 & 0xFF) == (1627, 128)  # 372/1
    port.set_character(372, 12, False, 12, 3)
    clkdiv = mem[drv.PIO_BASE[0] + drv.SM0_CLKDIV + drv.SM_STRIDE]
    assert (clkdiv >> 16, clkdiv >> 8 & 0xFF) == (135, 160)


def test_session_clock_after_the_atr(port: Any) -> None:
    drv, mem = port.drv, port.mem
    assert port.activate(CLASS_A) == OK
    assert port.pwms[-1].hz == 3_571_428
    port.set_character(372, 12, False, 12, 3)
    assert port.set_clock(5_000_000) == 5_000_000  # 125 MHz / 25
    assert port.pwms[-1].hz == 5_000_000
    clkdiv = mem[drv.PIO_BASE[0] + drv.SM0_CLKDIV]
    assert (clkdiv >> 16, clkdiv >> 8 & 0xFF) == (96, 224)  # 25 * 372 / (8 * 12) = 96.875
    assert port.set_clock(4_900_000) == 4_807_692  # 125 MHz / 26: never above what was asked
    assert port.set_clock(20_000_000) == 5_000_000  # the board's limit
    assert port.set_clock(0) == 3_571_428  # back to the activation clock
    port.set_clock(5_000_000)
    assert port.activate(CLASS_A) == OK  # a new activation: ATR at the activation clock
    assert port.clock_hz == 3_571_428 and port.pwms[-1].hz == 3_571_428
    clkdiv = mem[drv.PIO_BASE[0] + drv.SM0_CLKDIV]
    assert (clkdiv >> 16, clkdiv >> 8 & 0xFF) == (1627, 128)  # 372/1 at period 35


def test_error_signal_switch(port: Any) -> None:
    drv, mem = port.drv, port.mem
    offset = 13
    port._rx_offset = offset
    word_addr = drv.PIO_BASE[0] + drv.PIO_INSTR_MEM0 + 4 * (offset + P.RX_BAD)
    port.set_character(372, 1, False, 11, 0)  # T=1: the RX_BAD slot jumps to RX_GOOD (absolute address)
    assert mem[word_addr] == P.encode_jmp(P.JMP_ALWAYS, offset + P.RX_GOOD)
    port.set_character(372, 1, False, 12, 3)  # T=0: back to the error signal
    assert mem[word_addr] == P.RX_PROGRAM[P.RX_BAD]


def test_send_frames(port: Any) -> None:
    assert port.activate(CLASS_A) == OK
    port.set_character(372, 1, True, 14, 3)
    assert port.send(bytes([0x3F, 0x00]), 0, 2) == OK
    guard = 4 << 10
    assert port._dma.sent == [P.tx_frame(0x3F, True) | guard, P.tx_frame(0x00, True) | guard]
    ctrl = port._dma.configs[-1]["ctrl"]
    assert ctrl["treq_sel"] == 0 and ctrl["inc_write"] is False
    assert port._rx.on  # RX re-armed after the transmission
    assert port._rx.execs[-1] == P.EXEC_SET_Y_INVERSE


def test_send_repeat_limit(port: Any) -> None:
    port.activate(CLASS_A)
    port.set_character(372, 1, False, 12, 2)
    port._tx.rx = [P.tx_frame(0xA4, False)] * 3  # three NACK reports for the same character
    assert port.send(bytes([0xA4]), 0, 1) == ERR_REPEAT


def test_receive_words_to_bytes_and_nacks(port: Any) -> None:
    port.activate(CLASS_A)
    port.set_character(372, 1, False, 12, 3)
    port._rx.pending = [P.rx_word(0x60, False, parity_ok=False), P.rx_word(0x60, False), P.rx_word(0x90, False)]
    buf, par = bytearray(2), bytearray(2)
    assert port.receive(buf, 0, 2, 100, 100, par) == 2
    assert bytes(buf) == b"\x60\x90" and bytes(par) == b"\x00\x00"  # the NACKed attempt is not a character
    port._rx.pending = [P.rx_word(0x12, False, parity_ok=False)] * 4
    buf, par = bytearray(1), bytearray(1)
    assert port.receive(buf, 0, 1, 100, 100, par) == 1  # 3 NACKs allowed, the 4th copy is delivered flagged
    assert (buf[0], par[0]) == (0x12, 1)


def test_receive_timeout_returns_short(port: Any) -> None:
    port.activate(CLASS_A)
    port._rx.pending = [P.rx_word(0x3B, False)]
    buf, par = bytearray(3), bytearray(3)
    assert port.receive(buf, 0, 3, 10, 10, par) == 1
    assert buf[0] == 0x3B
