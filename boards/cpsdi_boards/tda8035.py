"""NXP TDA8035 (or TDA8024 / ST8024 / NCN8025 in TDA8024-compatible wiring) control lines (pure).

The chip sequences activation and deactivation itself (micropython.md §5): the MCU drives
CMDVCCN (low = activate), RSTIN (copied to the card's RST after activation), the class select
lines and reads OFFN, which is multiplexed: with CMDVCCN high it reports card presence (high =
card present), during a session a low level means a fault (short, overheat, supply drop, card
pulled out) and the chip has already deactivated the card. The error signal is not the chip's
job: the MCU's PIO or USART does it.

Pins are injected (``machine.Pin`` on the device, fakes in tests): this module imports nothing
from the hardware. Class select, TDA8035 pin table: ``5V/3VN`` high = 5 V, low = 3 V; ``1V8N``
low = 1.8 V (overrides 5V/3VN). Check the pin names against the datasheet revision of the part
actually fitted (NCN8025: ``CMDVCC``, ``INT``, ``VSEL0/1``): a different chip gets its own class
or parameters, the firmware above only sees ``present``/``fault``/``power_on``.
"""

from cpsdi_fw.hal import ERR_ABSENT, ERR_CLASS, OK, CardPort
from cpsdi_proto.compat import const

CLASS_A = const(1)  # 5 V
CLASS_B = const(2)  # 3 V
CLASS_C = const(3)  # 1.8 V


class Tda8035:
    """One interface chip. ``sel_1v8_n`` None: the board cannot supply class C."""

    def __init__(self, cmdvcc_n, rstin, off_n, sel_5v3v, sel_1v8_n=None) -> None:
        self.cmdvcc_n = cmdvcc_n
        self.rstin = rstin
        self.off_n = off_n
        self.sel_5v3v = sel_5v3v
        self.sel_1v8_n = sel_1v8_n
        self.active = False
        self._fault = False
        self.cmdvcc_n.value(1)
        self.rstin.value(0)
        if sel_1v8_n is not None:
            sel_1v8_n.value(1)

    @classmethod
    def on_pins(cls, pin, slot):
        """The chip on a board's slot entry (``cmdvcc_n``, ``rstin``, ``off_n``, ``sel_5v3v``,
        ``sel_1v8_n`` pin names; ``sel_1v8_n`` None: no class C), ``pin`` = ``machine.Pin``,
        every output at its idle level from the start."""
        sel_1v8_n = slot.get("sel_1v8_n")
        return cls(pin(slot["cmdvcc_n"], pin.OUT, value=1), pin(slot["rstin"], pin.OUT, value=0),
                   pin(slot["off_n"], pin.IN, pin.PULL_UP), pin(slot["sel_5v3v"], pin.OUT, value=0),
                   None if sel_1v8_n is None else pin(sel_1v8_n, pin.OUT, value=1))

    @property
    def voltage_classes(self) -> int:
        return 0x07 if self.sel_1v8_n is not None else 0x03

    def present(self) -> bool:
        if self.active:
            return not self.fault()
        return self.off_n.value() == 1

    def fault(self) -> bool:
        """A fault seen during the session (sticky until the next ``power_on``)."""
        if self.active and self.off_n.value() == 0:
            self._fault = True
            self.active = False
        return self._fault

    def supports(self, voltage_class: int) -> bool:
        return voltage_class in (CLASS_A, CLASS_B) or (voltage_class == CLASS_C and self.sel_1v8_n is not None)

    def power_on(self, voltage_class: int) -> None:
        """Class select, RSTIN low, CMDVCCN low: the chip starts VCC, then I/O, then CLK."""
        self.cmdvcc_n.value(1)
        if self.sel_1v8_n is not None:
            self.sel_1v8_n.value(0 if voltage_class == CLASS_C else 1)
        self.sel_5v3v.value(1 if voltage_class == CLASS_A else 0)
        self.rstin.value(0)
        self._fault = False
        self.cmdvcc_n.value(0)
        self.active = True

    def set_rst(self, high: bool) -> None:
        self.rstin.value(1 if high else 0)

    def power_off(self) -> None:
        """RSTIN low, CMDVCCN high: the chip runs the ISO deactivation (RST, CLK, I/O low, VCC off)."""
        self.rstin.value(0)
        self.cmdvcc_n.value(1)
        self.active = False


class ChipCardPort(CardPort):
    """A card port whose VCC, RST and presence go through ``chip`` (a :class:`Tda8035`); the
    board's subclass does the character layer (PIO, USART) and ``deactivate``."""

    def __init__(self, chip) -> None:
        self.chip = chip
        self.voltage_classes = chip.voltage_classes
        self._powered = False

    def present(self) -> bool:
        return self.chip.present()

    def fault(self) -> bool:
        return self.chip.fault()

    def _may_activate(self, voltage_class: int) -> int:
        """First steps of ``activate``: ERR_CLASS for a class the chip cannot supply, the
        running session ended (a cold reset), ERR_ABSENT without a card; else OK."""
        if not self.chip.supports(voltage_class):
            return ERR_CLASS
        if self._powered:
            self.deactivate()
        if not self.chip.present():
            return ERR_ABSENT
        return OK
