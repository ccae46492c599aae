"""RP2040/RP2350 card port: the PIO programs of ``pio_iso7816`` + PWM card clock + an interface chip.

Hardware driver (imports ``rp2``, ``machine``): implements ``cpsdi_fw.hal.CardPort`` for one slot.

* **Programs**: ``pio_iso7816.TX_PROGRAM`` / ``RX_PROGRAM`` are loaded word for word through
  ``rp2.asm_pio`` and its ``word()`` directive (``_program``), so the device runs exactly the
  words the emulator tests run. TX and RX are two state machines of one PIO block (the I/O pin's
  function select names one block, and both drive its direction).
* **Clock**: ``machine.PWM`` on the CLK pin (CLKIN of the interface chip): period P = round(sys /
  f) system clocks, so f = sys / P exactly; SM clock = 8 cycles per etu, written to SMx_CLKDIV
  (16.8 fixed point) from ``pio_iso7816.sm_clkdiv`` — exact for the usual F/D at 125 MHz / 35.
* **Bulk transfers**: ``send`` feeds the TX FIFO by DMA from a word array (one 32-bit frame per
  character, from a 256-entry table per convention); ``receive`` lets DMA drain the RX FIFO into a
  word array; Python only watches progress (timeouts, NACK reports) and converts the buffer.
* **Half duplex**: the RX state machine is disabled while TX runs (it would take the card's error
  signal for a start bit) and re-armed (restart, ``jmp`` to its first instruction, Y =
  convention) as soon as the TX state machine stalls on its empty FIFO, i.e. after the last
  character's guard time. The turnaround (16 etu from our last start edge to the card's first) has
  to cover that re-arm latency: a bring-up measurement (docs/boards.md).
* **Error signal / repetition**: RX NACKs a parity error (T=0); for T=1 the driver rewrites the one
  instruction word that differs (``pio_iso7816.rx_program(False)``: ``RX_T1_WORD`` at ``RX_BAD``,
  relocated to the program's offset) in INSTR_MEM while the RX state machine is stopped. The PIO NACKs every bad
  character in T=0 mode; after ``retries`` NACKed attempts of one character the next one is
  delivered with ``parity`` = 1. TX repeats as often as the card NACKs; the CPU counts NACK
  reports per character and stops the state machine past the limit (``ERR_REPEAT``).
"""

import time
from array import array

import machine
import rp2
from cpsdi_fw.hal import ERR_ABSENT, ERR_FAULT, ERR_REPEAT, OK, clock_target

from cpsdi_boards import pio_iso7816 as P
from cpsdi_boards.tda8035 import ChipCardPort

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rp2.asm_pio import word, wrap, wrap_target  # noqa: F401

# RP2040 datasheet §3.7 / RP2350 §11.7: PIO registers (same offsets on both chips)
PIO_BASE = (0x50200000, 0x50300000, 0x50400000)
PIO_CTRL = 0x000
PIO_FDEBUG = 0x008
PIO_INSTR_MEM0 = 0x048
SM0_CLKDIV = 0x0C8
SM0_ADDR = 0x0D4
SM_STRIDE = 0x18
CTRL_CLKDIV_RESTART_SHIFT = 8

MAX_CHARS = 261  # longest buffer moved in one call: a T=1 block (3 + 254 + 2) or 256 + SW1 SW2 + ACK
INVERSE_TX = [P.tx_frame(b, True) for b in range(256)]
DIRECT_TX = [P.tx_frame(b, False) for b in range(256)]


def _program(words, wrap_target_index: int, wrap_index: int, **settings):
    """``rp2.asm_pio`` program whose instructions are exactly ``words`` (already encoded)."""
    n = len(words)

    def body():
        # asm_pio swaps this module's globals for the PIO DSL while it runs: only locals,
        # closure cells and the DSL names are usable here.
        for i in range(n):
            if i == wrap_target_index:
                wrap_target()
            word(words[i])
            if i == wrap_index:
                wrap()

    return rp2.asm_pio(**settings)(body)


class PioCardPort(ChipCardPort):
    """One slot: ``chip`` (``tda8035.Tda8035``), I/O pin ``io``, CLK pin ``clk``, PIO block ``pio``
    with state machines ``sm_tx`` and ``sm_rx`` (0..3 inside the block)."""

    def __init__(self, chip, io: int, clk: int, pio: int, sm_tx: int, sm_rx: int, clock_hz: int,
                 clock_max_hz: int = 0) -> None:
        super().__init__(chip)
        self._io = machine.Pin(io, machine.Pin.IN, machine.Pin.PULL_UP)
        self._clk_no = clk
        self._pwm = None
        self._pio = pio
        self._base = PIO_BASE[pio]
        self._sm = (sm_tx, sm_rx)
        self.sys_hz = machine.freq()
        self._period = self._activation_period = P.clock_period(self.sys_hz, clock_hz)
        self.clock_hz = self.sys_hz // self._period
        self.clock_max_hz = clock_max_hz  # session clock after the ATR (HAL set_clock); 0: fixed
        self._tx_prog = _program(P.TX_PROGRAM, P.TX_WRAP_TARGET, P.TX_WRAP, set_init=rp2.PIO.IN_LOW,
                                 out_init=rp2.PIO.IN_LOW, out_shiftdir=rp2.PIO.SHIFT_RIGHT,
                                 in_shiftdir=rp2.PIO.SHIFT_RIGHT, autopush=True, push_thresh=32)
        self._rx_prog = _program(P.RX_PROGRAM, P.RX_WRAP_TARGET, P.RX_WRAP, set_init=rp2.PIO.IN_LOW,
                                 in_shiftdir=rp2.PIO.SHIFT_RIGHT, fifo_join=rp2.PIO.JOIN_RX)
        pin = self._io
        int_part, frac_part, _ = P.sm_clkdiv(self.sys_hz, self._period, 372, 1)
        freq = self.sys_hz * 256 // (int_part << 8 | frac_part)  # near the right value; CLKDIV is then exact
        self._tx = rp2.StateMachine(pio * 4 + sm_tx, self._tx_prog, freq=freq, set_base=pin, out_base=pin,
                                    in_base=pin, jmp_pin=pin)
        self._tx_offset = machine.mem32[self._reg(SM0_ADDR, sm_tx)]
        self._rx = rp2.StateMachine(pio * 4 + sm_rx, self._rx_prog, freq=freq, set_base=pin, in_base=pin,
                                    jmp_pin=pin)
        self._rx_offset = machine.mem32[self._reg(SM0_ADDR, sm_rx)]
        self._words = array("I", bytes(4 * MAX_CHARS))
        self._dma = rp2.DMA()
        self._f, self._d = 372, 1
        self._inverse = False
        self._extra_guard = 0
        self._retries = 0
        self._powered = False
        self._edge_us = time.ticks_us()
        self._acc_etu = 0
        self._span_us = self._edge_us
        self._set_timing(372, 1)

    # -- registers ---------------------------------------------------------------------------------

    def _reg(self, offset: int, sm: int) -> int:
        return self._base + offset + SM_STRIDE * sm

    def _set_timing(self, f: int, d: int) -> None:
        self._close_span()
        int_part, frac_part, _ = P.sm_clkdiv(self.sys_hz, self._period, f, d)
        for sm in self._sm:
            machine.mem32[self._reg(SM0_CLKDIV, sm)] = int_part << 16 | frac_part << 8
        machine.mem32[self._base + PIO_CTRL] |= (1 << self._sm[0] | 1 << self._sm[1]) << CTRL_CLKDIV_RESTART_SHIFT
        self._f, self._d = f, d
        # etu in microseconds, rounded up (timeouts are maxima: late is harmless)
        self._etu_num = f * 1000000
        self._etu_den = d * self.clock_hz

    def _set_nack(self, on: bool) -> None:
        """Error signal on (T=0) / off (T=1): one RX instruction word, written with the RX SM stopped."""
        self._stop_rx()
        w = P.RX_PROGRAM[P.RX_BAD] if on else P.RX_T1_WORD
        machine.mem32[self._base + PIO_INSTR_MEM0 + 4 * (self._rx_offset + P.RX_BAD)] = P.relocate(w, self._rx_offset)

    def _us(self, etu: int) -> int:
        return (etu * self._etu_num + self._etu_den - 1) // self._etu_den

    def _close_span(self) -> None:
        """Fold the time since the last F/D change into the etu count (now_etu)."""
        if getattr(self, "_etu_den", 0):
            elapsed = time.ticks_diff(self._edge_us, self._span_us)
            if elapsed > 0:
                self._acc_etu += elapsed * self._etu_den // self._etu_num
            self._span_us = self._edge_us

    # -- state machines ----------------------------------------------------------------------------

    def _stop_rx(self) -> None:
        """Stop the RX SM and release the line (it may have been stopped inside an error signal)."""
        self._rx.active(0)
        self._rx.exec(P.EXEC_RELEASE)

    def _arm_rx(self) -> None:
        rx = self._rx
        self._stop_rx()
        rx.restart()
        rx.exec(P.exec_jmp(self._rx_offset + P.RX_IDLE))
        rx.exec(P.EXEC_SET_Y_INVERSE if self._inverse else P.EXEC_SET_Y_DIRECT)
        rx.active(1)

    def _stop_all(self) -> None:
        self._dma.active(0)
        for sm in (self._tx, self._rx):
            sm.active(0)
            sm.restart()
            sm.exec(P.EXEC_RELEASE)
        while self._tx.rx_fifo():
            self._tx.get()
        while self._rx.rx_fifo():
            self._rx.get()
        self._tx.exec(P.exec_jmp(self._tx_offset + P.TX_PULL))

    # -- CardPort ----------------------------------------------------------------------------------

    def activate(self, voltage_class: int) -> int:
        err = self._may_activate(voltage_class)
        if err != OK:
            return err
        self._stop_all()
        self._inverse = False
        self._extra_guard = 0
        self._retries = 0
        self._set_nack(False)
        self._period = self._activation_period  # every ATR at the activation clock (§6.2.2)
        self.clock_hz = self.sys_hz // self._period
        self._pwm = machine.PWM(machine.Pin(self._clk_no), freq=self.clock_hz, duty_u16=32768)
        self._set_timing(372, 1)
        self.chip.power_on(voltage_class)
        time.sleep_us(400)  # TDA8035: VCC ramp, I/O enabled at t3 (~100 us), CLK at t4 (datasheet timing)
        if self.chip.fault():
            self.deactivate()
            return ERR_FAULT
        self._powered = True
        self._tx.active(1)
        self._arm_rx()
        now = time.ticks_us()
        self._edge_us = self._span_us = now
        self._acc_etu = 0
        return OK

    def set_reset(self, high: bool) -> None:
        if not self._powered:
            return
        if not high:
            self._stop_rx()
        self.chip.set_rst(high)
        if high:
            self._drain_rx()
            self._arm_rx()
            self._edge_us = time.ticks_us()

    def deactivate(self) -> None:
        self.chip.power_off()
        self._stop_all()
        if self._pwm is not None:
            self._pwm.deinit()
            self._pwm = None
        machine.Pin(self._clk_no, machine.Pin.OUT, value=0)
        self._powered = False

    def set_clock(self, hz: int) -> int:
        """CLK = sys / P with P the smallest whole period giving <= ``hz`` (HAL): the PWM's TOP
        is double-buffered, so the new period starts at a cycle boundary; the SM dividers
        follow for the F/D in force. Never slower than the activation clock."""
        hz = clock_target(hz, self.sys_hz // self._activation_period, self.clock_max_hz)
        period = (self.sys_hz + hz - 1) // hz
        if period > self._activation_period:  # sys // P rounded down: ceil(sys / hz) may be P + 1
            period = self._activation_period
        if period != self._period:
            self._period = period
            self.clock_hz = self.sys_hz // period
            if self._pwm is not None:
                self._pwm.freq(self.clock_hz)  # round(sys / f) = period again; duty_u16 kept [verify on hardware]
            self._set_timing(self._f, self._d)
        return self.clock_hz

    def wait_clocks(self, clocks: int) -> None:
        time.sleep_us((clocks * self._period * 1000000 + self.sys_hz - 1) // self.sys_hz)

    def wait_etu(self, etu: int) -> None:
        late = time.ticks_diff(time.ticks_add(self._edge_us, self._us(etu)), time.ticks_us())
        if late > 0:
            time.sleep_us(late)

    def set_character(self, f: int, d: int, inverse: bool, guard_time_etu: int, retries: int) -> None:
        self._set_timing(f, d)
        self._inverse = inverse
        self._extra_guard = guard_time_etu - 12 if guard_time_etu > 12 else 0
        if self._extra_guard > 254:
            self._extra_guard = 254
        self._retries = retries
        self._set_nack(retries > 0)
        if self._powered:
            self._arm_rx()

    def _drain_rx(self) -> None:
        while self._rx.rx_fifo():
            self._rx.get()

    def send(self, buf, start: int, end: int) -> int:
        n = end - start
        if n <= 0:
            return OK
        if n > MAX_CHARS:
            result = self.send(buf, start, start + MAX_CHARS)
            return result if result != OK else self.send(buf, start + MAX_CHARS, end)
        if not self.chip.present():
            return ERR_ABSENT
        table = INVERSE_TX if self._inverse else DIRECT_TX
        guard = (2 * self._extra_guard) << 10
        words = self._words
        for i in range(n):
            words[i] = table[buf[start + i]] | guard
        self._stop_rx()
        self._drain_rx()
        tx = self._tx
        dma = self._dma
        dreq = self._pio << 3 | self._sm[0]
        dma.config(read=words, write=tx, count=n,
                   ctrl=dma.pack_ctrl(size=2, inc_read=True, inc_write=False, treq_sel=dreq), trigger=True)
        # NACK watch: a report is the frame of the character being repeated
        deadline = time.ticks_add(time.ticks_us(), self._us(n * (40 + self._extra_guard)) + 20000)
        nacked_index = -1
        nacks = 0
        addr = self._reg(SM0_ADDR, self._sm[0])
        pull = self._tx_offset + P.TX_PULL
        while True:
            if tx.rx_fifo():
                tx.get()
                index = n - getattr(dma, "count") - tx.tx_fifo() - 1
                if index == nacked_index:
                    nacks += 1
                else:
                    nacked_index, nacks = index, 1
                if self._retries and nacks > self._retries:
                    self._stop_all()
                    self._tx.active(1)
                    self._arm_rx()
                    return ERR_REPEAT
                deadline = time.ticks_add(deadline, self._us(16))
            elif not dma.active() and tx.tx_fifo() == 0 and machine.mem32[addr] == pull:
                break
            if time.ticks_diff(time.ticks_us(), deadline) > 0 or not self.chip.present():
                self._stop_all()
                self._tx.active(1)
                self._arm_rx()
                return ERR_ABSENT if not self.chip.present() else ERR_REPEAT
        self._arm_rx()
        self._edge_us = time.ticks_add(time.ticks_us(), -self._us(12 + self._extra_guard))
        return OK

    def receive(self, buf, start: int, count: int, first_timeout_etu: int, char_timeout_etu: int, parity) -> int:
        got = 0
        timeout = first_timeout_etu
        nacks = 0
        words = self._words
        rx = self._rx
        dma = self._dma
        dreq = self._pio << 3 | 4 | self._sm[1]
        while got < count:
            want = count - got
            if want > MAX_CHARS:
                want = MAX_CHARS
            dma.config(read=rx, write=words, count=want,
                       ctrl=dma.pack_ctrl(size=2, inc_read=False, inc_write=True, treq_sel=dreq), trigger=True)
            done = 0
            # a word is pushed ~10.5-12 etu after its character's leading edge: allow 12 etu more
            deadline = time.ticks_add(self._edge_us, self._us(timeout + 12))
            while done < want:
                progress = want - getattr(dma, "count")
                if progress > done:
                    done = progress
                    self._edge_us = time.ticks_add(time.ticks_us(), -self._us(11))
                    deadline = time.ticks_add(self._edge_us, self._us(char_timeout_etu + 12))
                elif time.ticks_diff(time.ticks_us(), deadline) > 0 or not self.chip.present():
                    break
            dma.active(0)
            done = want - getattr(dma, "count")
            for i in range(done):
                value, ok = P.rx_decode(words[i], self._inverse)
                if not ok and self._retries and nacks < self._retries:
                    nacks += 1  # the PIO sent the error signal: the card repeats this character
                    continue
                if got < count:
                    buf[start + got] = value
                    parity[start + got] = 0 if ok else 1
                    got += 1
                nacks = 0
            if done < want:
                break
            timeout = char_timeout_etu
        return got

    def now_etu(self) -> int:
        elapsed = time.ticks_diff(self._edge_us, self._span_us)
        return self._acc_etu + (elapsed * self._etu_den // self._etu_num if elapsed > 0 else 0)
