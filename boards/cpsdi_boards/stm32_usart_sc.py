"""STM32 card port: a USART in smartcard mode (``stm32_sc_regs``) + an interface chip (``tda8035``).

Hardware driver (imports ``machine``, ``stm``): implements ``cpsdi_fw.hal.CardPort`` for one slot.
MicroPython's ``machine.UART`` provides the interrupt-driven ring buffer (``rxbuf`` sized for a
whole T=1 block or T=0 response); the driver then rewrites the USART registers with the values of
``usart_sc_config`` (UE = 0 while it does, RXNEIE kept so the UART IRQ still fills the buffer).
The USART does framing, parity, the error signal, the guard time and the repetitions (SCARCNT);
CK gives the card clock (CLKIN of the TDA8035). Python moves buffers.

* Echo: in smartcard mode the transmitter's line is the receiver's (RM0351 "USART smartcard
  mode"), so each transmitted character — and each repetition — lands in the ring buffer. The
  receiver has to stay enabled during transmission (it checks the card's NACK in the 1.5 stop
  bits), so ``send`` waits for TC and then drops what was received meanwhile: the card may not
  start its answer before 16 etu after our last start edge, TC comes at 12 + N etu.
* Transmit retries exhausted -> FE in ISR -> ``ERR_REPEAT``.
* Receive: with SCARCNT > 0 a wrong character is NACKed and not delivered until the card's last
  repetition; it then arrives with PE set. PE is a flag, not per byte: the driver marks the last
  character of the call when it finds PE set (documented approximation). In T=1 (NACK off)
  parity errors are flagged the same way; the block's EDC catches the corruption anyway.
"""

import time

import machine
import stm
from cpsdi_fw.hal import ERR_ABSENT, ERR_FAULT, ERR_REPEAT, OK, clock_target

from cpsdi_boards import stm32_sc_regs as R
from cpsdi_boards.tda8035 import ChipCardPort

CR1_RXNEIE = 1 << 5
ICR_ALL = 0x0000121F  # PECF FECF NECF ORECF IDLECF TCCF RTOCF


class UsartScCardPort(ChipCardPort):
    """``chip``: ``tda8035.Tda8035``; ``uart_id`` / ``usart_base``: the USART (1..3 on the L4);
    ``io`` / ``clk``: pin names of its TX (AF, open drain) and CK (AF, push-pull) with AF ``alt``."""

    def __init__(self, chip, uart_id: int, usart_base: int, io: str, clk: str, alt: int, kernel_hz: int,
                 clock_hz_max: int, session_clock_hz_max: int = 0) -> None:
        super().__init__(chip)
        self._base = usart_base
        self._kernel_hz = kernel_hz
        self._activation_max = clock_hz_max  # SCLK target for every ATR
        self._clock_max = clock_hz_max  # SCLK target now
        self.clock_max_hz = session_clock_hz_max  # HAL set_clock after the ATR; 0: fixed
        self._uart = machine.UART(uart_id, 9600, bits=8, parity=0, stop=2, rxbuf=300, timeout=0)
        self._io = machine.Pin(io, mode=machine.Pin.ALT_OPEN_DRAIN, pull=machine.Pin.PULL_UP, alt=alt)
        self._clk = machine.Pin(clk, mode=machine.Pin.ALT, alt=alt)
        self._f, self._d, self._inverse, self._guard, self._retries = 372, 1, False, 12, 0
        cfg = self._apply(False)
        self.clock_hz = cfg["card_hz"]
        self._powered = False
        self._edge_us = time.ticks_us()
        self._span_us = self._edge_us
        self._acc_etu = 0
        self._one = bytearray(1)

    def _apply(self, enable: bool) -> dict:
        cfg = R.usart_sc_config(self._kernel_hz, self._clock_max, self._f, self._d, self._guard, self._retries,
                                self._inverse)
        m = stm.mem32
        base = self._base
        keep = m[base + R.CR1] & CR1_RXNEIE
        m[base + R.CR1] = keep  # UE = 0: CR2, CR3, BRR, GTPR are writable only now
        m[base + R.CR2] = cfg["CR2"]
        m[base + R.CR3] = cfg["CR3"]
        m[base + R.BRR] = cfg["BRR"]
        m[base + R.GTPR] = cfg["GTPR"]
        m[base + R.ICR] = ICR_ALL
        m[base + R.CR1] = keep | cfg["CR1"] | (R.CR1_UE if enable else 0)
        self._etu_num = self._f * 1000000
        self._etu_den = self._d * cfg["card_hz"]
        return cfg

    def _us(self, etu: int) -> int:
        return (etu * self._etu_num + self._etu_den - 1) // self._etu_den

    def _close_span(self) -> None:
        elapsed = time.ticks_diff(self._edge_us, self._span_us)
        if elapsed > 0:
            self._acc_etu += elapsed * self._etu_den // self._etu_num
        self._span_us = self._edge_us

    def _drain(self) -> None:
        while self._uart.any():
            self._uart.readinto(self._one, 1)

    def activate(self, voltage_class: int) -> int:
        err = self._may_activate(voltage_class)
        if err != OK:
            return err
        self._f, self._d, self._inverse, self._guard, self._retries = 372, 1, False, 12, 0
        self._clock_max = self._activation_max
        self.clock_hz = self._apply(True)["card_hz"]  # CK runs from here
        self.chip.power_on(voltage_class)
        time.sleep_us(400)
        if self.chip.fault():
            self.deactivate()
            return ERR_FAULT
        self._drain()
        self._powered = True
        self._edge_us = self._span_us = time.ticks_us()
        self._acc_etu = 0
        return OK

    def set_reset(self, high: bool) -> None:
        if self._powered:
            self.chip.set_rst(high)
            if high:
                self._drain()
                self._edge_us = time.ticks_us()

    def deactivate(self) -> None:
        self.chip.power_off()
        stm.mem32[self._base + R.CR1] &= ~R.CR1_UE  # CK stops
        self._powered = False

    def set_clock(self, hz: int) -> int:
        """SCLK = kernel / (2 * PSC), the smallest PSC giving <= ``hz`` (HAL). PSC is written with
        UE = 0, as ``set_character`` does after a PPS [verify on hardware: SCLK across UE = 0]."""
        hz = clock_target(hz, self._activation_max, self.clock_max_hz)
        if hz != self._clock_max:
            self._close_span()
            self._clock_max = hz
            self.clock_hz = self._apply(self._powered)["card_hz"]
        return self.clock_hz

    def wait_clocks(self, clocks: int) -> None:
        time.sleep_us((clocks * 1000000 + self.clock_hz - 1) // self.clock_hz)

    def wait_etu(self, etu: int) -> None:
        late = time.ticks_diff(time.ticks_add(self._edge_us, self._us(etu)), time.ticks_us())
        if late > 0:
            time.sleep_us(late)

    def set_character(self, f: int, d: int, inverse: bool, guard_time_etu: int, retries: int) -> None:
        self._close_span()
        self._f, self._d, self._inverse = f, d, inverse
        self._guard = guard_time_etu if guard_time_etu >= 11 else 12
        self._retries = retries if retries < 8 else 7
        self._apply(self._powered)

    def send(self, buf, start: int, end: int) -> int:
        if not self.chip.present():
            return ERR_ABSENT
        self._drain()
        m = stm.mem32
        m[self._base + R.ICR] = ICR_ALL
        self._uart.write(memoryview(buf)[start:end])
        deadline = time.ticks_add(time.ticks_us(), self._us((end - start) * (12 + 8 * 20 + self._guard)) + 20000)
        while not m[self._base + R.ISR] & R.ISR_TC:
            if time.ticks_diff(time.ticks_us(), deadline) > 0 or not self.chip.present():
                return ERR_ABSENT if not self.chip.present() else ERR_REPEAT
        failed = m[self._base + R.ISR] & R.ISR_FE
        m[self._base + R.ICR] = ICR_ALL
        self._drain()  # the echo of every character sent
        self._edge_us = time.ticks_add(time.ticks_us(), -self._us(self._guard))
        return ERR_REPEAT if failed and self._retries else OK

    def receive(self, buf, start: int, count: int, first_timeout_etu: int, char_timeout_etu: int, parity) -> int:
        got = 0
        uart = self._uart
        m = stm.mem32
        deadline = time.ticks_add(self._edge_us, self._us(first_timeout_etu + 12))
        while got < count:
            n = uart.any()
            if n:
                if n > count - got:
                    n = count - got
                k = uart.readinto(memoryview(buf)[start + got:start + got + n], n) or 0
                for i in range(k):
                    parity[start + got + i] = 0
                got += k
                self._edge_us = time.ticks_add(time.ticks_us(), -self._us(11))
                deadline = time.ticks_add(self._edge_us, self._us(char_timeout_etu + 12))
            elif time.ticks_diff(time.ticks_us(), deadline) > 0 or not self.chip.present():
                break
        if got and m[self._base + R.ISR] & R.ISR_PE:
            parity[start + got - 1] = 1
            m[self._base + R.ICR] = 1  # PECF
        return got

    def now_etu(self) -> int:
        elapsed = time.ticks_diff(self._edge_us, self._span_us)
        return self._acc_etu + (elapsed * self._etu_den // self._etu_num if elapsed > 0 else 0)
