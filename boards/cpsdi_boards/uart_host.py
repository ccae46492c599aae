"""``HostPort`` over a hardware UART that is not the REPL (ccid-serial.md pitfall 6).

Used by the RP2040 board (UART0 on GP0/GP1 to a USB-serial bridge; the MicroPython REPL stays
on USB CDC) and by the STM32 board (a USART other than the ST-LINK virtual COM port, which
carries the REPL). Imports ``machine``: board code only.
"""

import time

import machine
from cpsdi_fw.hal import HostPort

# Baud rates LINK_SETTINGS may switch to (8N1 / 8N2); the UART hardware of both chips does them.
SUPPORTED_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


class UartHostPort(HostPort):
    """``uart_id`` with ``baud`` 8N1; ``tx``/``rx`` pin numbers where the port takes them (rp2)."""

    def __init__(self, uart_id: int, baud: int, tx=None, rx=None, rxbuf: int = 1100) -> None:
        self._id = uart_id
        self._pins = (tx, rx)
        self._rxbuf = rxbuf
        self.baud = baud
        self.stop_bits = 1
        self._uart = self._open(baud, 1)

    def _open(self, baud: int, stop: int):
        tx, rx = self._pins
        if tx is not None and rx is not None:
            return machine.UART(self._id, baudrate=baud, bits=8, parity=None, stop=stop,
                                tx=machine.Pin(tx), rx=machine.Pin(rx), rxbuf=self._rxbuf, timeout=0)
        return machine.UART(self._id, baudrate=baud, bits=8, parity=None, stop=stop, rxbuf=self._rxbuf, timeout=0)

    def read_into(self, buf, start: int, count: int) -> int:
        pending = self._uart.any()
        if pending <= 0 or count <= 0:
            return 0
        if pending < count:
            count = pending
        n = self._uart.readinto(memoryview(buf)[start:start + count], count)
        return n or 0

    def write(self, buf, start: int, end: int) -> None:
        view = memoryview(buf)[start:end]
        while len(view):
            n = self._uart.write(view)
            if n:
                view = view[n:]

    def ticks_ms(self):  # a wrapping counter: compare with ticks_diff
        return time.ticks_ms()

    def wait_ms(self, ms: int) -> None:
        end = time.ticks_add(time.ticks_ms(), ms)
        while not self._uart.any() and time.ticks_diff(end, time.ticks_ms()) > 0:
            time.sleep_ms(1)

    def flush(self) -> None:
        self._uart.flush()

    def line_supported(self, baud: int, stop_bits: int) -> bool:
        return baud in SUPPORTED_BAUDS and stop_bits in (1, 2)

    def set_line(self, baud: int, stop_bits: int) -> None:
        self._uart.flush()
        self._uart = self._open(baud, stop_bits)
        self.baud = baud
        self.stop_bits = stop_bits
