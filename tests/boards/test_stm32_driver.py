"""``stm32_usart_sc.UsartScCardPort`` on CPython with fake ``machine`` / ``stm`` / ``time``.

Checks the register programming order (UE cleared, CR2/CR3/BRR/GTPR, flags cleared, CR1 | UE
last, MicroPython's RXNEIE kept), the values for ATR and after set_character (T=0 / T=1, inverse),
echo handling (what the receiver got during a send is dropped once TC is set), ERR_REPEAT when the
USART reports FE (retries exhausted), and receive with the PE flag. The real USART stays for
tests/hw.
"""

import importlib
import sys
import time
import types
from typing import Any

import pytest

from cpsdi_boards import stm32_sc_regs as R
from cpsdi_fw.hal import CLASS_A, ERR_REPEAT, OK

BASE = 0x40013800


class Mem:
    def __init__(self) -> None:
        self.regs: dict[int, int] = {BASE + R.CR1: 1 << 5 | 1}  # MicroPython's UART: RXNEIE | UE
        self.writes: list[tuple[int, int]] = []

    def __getitem__(self, addr: int) -> int:
        return self.regs.get(addr, 0)

    def __setitem__(self, addr: int, value: int) -> None:
        self.regs[addr] = value & 0xFFFFFFFF
        self.writes.append((addr - BASE, value & 0xFFFFFFFF))


class FakeUART:
    def __init__(self, *a: Any, **k: Any) -> None:
        self.rx = bytearray()
        self.sent = bytearray()
        self.echo = True

    def any(self) -> int:
        return len(self.rx)

    def readinto(self, buf: Any, n: int) -> int:
        k = min(n, len(self.rx))
        buf[:k] = self.rx[:k]
        del self.rx[:k]
        return k

    def write(self, data: Any) -> int:
        self.sent += bytes(data)
        if self.echo:
            self.rx += bytes(data)
        return len(data)


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Any:
    mem = Mem()
    machine = types.ModuleType("machine")

    class Pin:
        ALT, ALT_OPEN_DRAIN, PULL_UP = 2, 3, 1

        def __init__(self, *a: Any, **k: Any) -> None:
            self.args = (a, k)

    machine.Pin = Pin  # type: ignore[attr-defined]
    machine.UART = FakeUART  # type: ignore[attr-defined]
    stm = types.ModuleType("stm")
    stm.mem32 = mem  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "stm", stm)
    import cpsdi_boards

    monkeypatch.delattr(cpsdi_boards, "stm32_usart_sc", raising=False)
    monkeypatch.delitem(sys.modules, "cpsdi_boards.stm32_usart_sc", raising=False)
    drv = importlib.import_module("cpsdi_boards.stm32_usart_sc")
    clock = [0]

    def ticks_us() -> int:
        clock[0] += 1
        return clock[0]

    monkeypatch.setattr(time, "ticks_us", ticks_us, raising=False)
    monkeypatch.setattr(time, "ticks_add", lambda a, b: a + b, raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)
    monkeypatch.setattr(time, "sleep_us", lambda us: None, raising=False)
    chip = types.SimpleNamespace(voltage_classes=7, supports=lambda c: True, present=lambda: True,
                                 fault=lambda: False, power_on=lambda c: None, power_off=lambda: None,
                                 set_rst=lambda h: None)
    p = drv.UsartScCardPort(chip, 1, BASE, "PB6", "PA8", 7, 80_000_000, 4_000_000, 5_000_000)
    p.mem = mem
    return p


def test_register_order_and_atr_values(port: Any) -> None:
    mem = port.mem
    mem.writes.clear()
    assert port.activate(CLASS_A) == OK
    regs = [w[0] for w in mem.writes]
    assert regs == [R.CR1, R.CR2, R.CR3, R.BRR, R.GTPR, R.ICR, R.CR1]
    assert mem.writes[0] == (R.CR1, 1 << 5)  # UE = 0 first, RXNEIE kept
    assert mem[BASE + R.CR1] == 1 << 5 | R.CR1_M0 | R.CR1_PCE | R.CR1_TE | R.CR1_RE | R.CR1_UE
    assert (mem[BASE + R.BRR], mem[BASE + R.GTPR], mem[BASE + R.CR3]) == (7440, 10, R.CR3_SCEN)  # ATR: no NACK
    assert port.clock_hz == 4_000_000


def test_session_clock_after_the_atr(port: Any) -> None:
    mem = port.mem
    port.activate(CLASS_A)
    port.set_character(372, 12, False, 12, 3)
    assert port.set_clock(5_000_000) == 5_000_000  # PSC 8
    assert mem[BASE + R.BRR] == 2 * 8 * 372 // 12  # 496: USARTDIV at PSC 8
    assert mem[BASE + R.CR1] & R.CR1_UE
    assert port.set_clock(4_500_000) == 4_444_444  # PSC 9: never above what was asked
    assert port.set_clock(8_000_000) == 5_000_000  # the board's session limit
    assert port.set_clock(0) == 4_000_000  # back to the activation clock
    port.set_clock(5_000_000)
    port.activate(CLASS_A)  # every ATR at the activation clock
    assert port.clock_hz == 4_000_000 and mem[BASE + R.BRR] == 7440


def test_set_character_t0_t1_inverse(port: Any) -> None:
    mem = port.mem
    port.activate(CLASS_A)
    port.set_character(372, 12, False, 13, 3)
    assert (mem[BASE + R.BRR], mem[BASE + R.GTPR]) == (620, 0x010A)
    assert mem[BASE + R.CR3] == R.CR3_SCEN | R.CR3_NACK | 3 << 17
    port.set_character(372, 12, True, 11, 0)
    assert mem[BASE + R.CR3] == R.CR3_SCEN
    assert mem[BASE + R.CR2] & (R.CR2_MSBFIRST | R.CR2_DATAINV) == R.CR2_MSBFIRST | R.CR2_DATAINV
    assert mem[BASE + R.CR1] & R.CR1_UE


def test_send_drops_the_echo(port: Any) -> None:
    port.activate(CLASS_A)
    port.mem.regs[BASE + R.ISR] = R.ISR_TC
    assert port.send(b"\x00\xa4\x04\x00\x00", 0, 5) == OK
    assert bytes(port._uart.sent) == b"\x00\xa4\x04\x00\x00"
    assert port._uart.any() == 0  # the 5 echoed characters are gone
    port._uart.rx += b"\xa4"  # the card's procedure byte
    buf, par = bytearray(1), bytearray(1)
    assert port.receive(buf, 0, 1, 100, 100, par) == 1 and buf[0] == 0xA4 and par[0] == 0


def test_send_retries_exhausted(port: Any) -> None:
    port.activate(CLASS_A)
    port.set_character(372, 1, False, 12, 3)
    port.mem.regs[BASE + R.ISR] = R.ISR_TC | R.ISR_FE
    assert port.send(b"\x90", 0, 1) == ERR_REPEAT


def test_receive_flags_parity_error_and_times_out(port: Any) -> None:
    port.activate(CLASS_A)
    port._uart.rx += b"\x61\x10"
    port.mem.regs[BASE + R.ISR] = R.ISR_PE
    buf, par = bytearray(4), bytearray(4)
    assert port.receive(buf, 0, 4, 50, 50, par) == 2  # then the character timeout
    assert bytes(buf[:2]) == b"\x61\x10" and bytes(par[:2]) == b"\x00\x01"
