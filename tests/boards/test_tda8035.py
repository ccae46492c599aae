"""``tda8035.Tda8035`` with fake pins: activation/deactivation lines, class select, OFFN meaning;
``Tda8035.on_pins`` (a board's slot table) and ``ChipCardPort`` (the activation preamble)."""

from typing import Any

from cpsdi_fw.hal import ERR_ABSENT, ERR_CLASS, OK

from cpsdi_boards.tda8035 import CLASS_A, CLASS_B, CLASS_C, ChipCardPort, Tda8035


class FakePin:
    def __init__(self, level: int = 0) -> None:
        self.level = level
        self.history: list[int] = []

    def value(self, v: int | None = None) -> int:
        if v is not None:
            self.level = v
            self.history.append(v)
        return self.level


def chip(with_1v8: bool = True) -> tuple[Tda8035, dict[str, FakePin]]:
    pins = {n: FakePin() for n in ("cmdvcc_n", "rstin", "off_n", "sel_5v3v", "sel_1v8_n")}
    c = Tda8035(pins["cmdvcc_n"], pins["rstin"], pins["off_n"], pins["sel_5v3v"],
                pins["sel_1v8_n"] if with_1v8 else None)
    return c, pins


def test_idle_lines_and_presence() -> None:
    c, p = chip()
    assert p["cmdvcc_n"].level == 1 and p["rstin"].level == 0 and p["sel_1v8_n"].level == 1
    p["off_n"].level = 0
    assert not c.present()
    p["off_n"].level = 1
    assert c.present() and not c.fault()


def test_power_on_classes() -> None:
    c, p = chip()
    p["off_n"].level = 1
    c.power_on(CLASS_A)
    assert (p["sel_5v3v"].level, p["sel_1v8_n"].level, p["cmdvcc_n"].level, p["rstin"].level) == (1, 1, 0, 0)
    c.power_on(CLASS_B)
    assert (p["sel_5v3v"].level, p["sel_1v8_n"].level) == (0, 1)
    c.power_on(CLASS_C)
    assert p["sel_1v8_n"].level == 0
    assert c.voltage_classes == 7
    assert chip(with_1v8=False)[0].voltage_classes == 3
    assert not chip(with_1v8=False)[0].supports(CLASS_C)


def test_fault_in_session_is_sticky_and_deactivates() -> None:
    c, p = chip()
    p["off_n"].level = 1
    c.power_on(CLASS_A)
    c.set_rst(True)
    assert p["rstin"].level == 1
    p["off_n"].level = 0  # chip deactivated the card (short, removal...)
    assert c.fault() and not c.present()
    p["off_n"].level = 1
    assert c.fault()  # sticky until the next activation
    c.power_on(CLASS_A)
    assert not c.fault()


def test_power_off_order() -> None:
    c, p = chip()
    p["off_n"].level = 1
    c.power_on(CLASS_B)
    c.set_rst(True)
    p["rstin"].history.clear()
    p["cmdvcc_n"].history.clear()
    c.power_off()
    assert p["rstin"].history == [0] and p["cmdvcc_n"].history == [1]
    assert not c.active


class FakePinClass:
    """Stands in for ``machine.Pin``: records how each pin was made."""

    OUT, IN, PULL_UP = "out", "in", "pull_up"

    def __init__(self) -> None:
        self.made: dict[Any, tuple[Any, ...]] = {}
        self.pins: dict[Any, FakePin] = {}

    def __call__(self, name: Any, mode: str, pull: str | None = None, *, value: int | None = None) -> FakePin:
        self.made[name] = (mode, pull, value)
        self.pins[name] = FakePin(0 if value is None else value)
        return self.pins[name]


SLOT = {"cmdvcc_n": 10, "rstin": 11, "off_n": 12, "sel_5v3v": 13, "sel_1v8_n": 14, "io": 1, "clk": 2}


def test_on_pins_makes_every_line_at_its_idle_level() -> None:
    pin = FakePinClass()
    c = Tda8035.on_pins(pin, SLOT)
    assert pin.made == {10: ("out", None, 1), 11: ("out", None, 0), 12: ("in", "pull_up", None),
                        13: ("out", None, 0), 14: ("out", None, 1)}
    assert c.voltage_classes == 7 and c.off_n is pin.pins[12]


def test_on_pins_without_a_1v8_line_has_no_class_c() -> None:
    pin = FakePinClass()
    c = Tda8035.on_pins(pin, dict(SLOT, sel_1v8_n=None))
    assert 14 not in pin.made and c.voltage_classes == 3 and not c.supports(CLASS_C)


class _Port(ChipCardPort):
    def __init__(self, chip: Tda8035) -> None:
        super().__init__(chip)
        self.deactivations = 0

    def deactivate(self) -> None:
        self.deactivations += 1
        self._powered = False
        self.chip.power_off()


def test_chip_card_port_activation_preamble() -> None:
    c, p = chip(with_1v8=False)
    port = _Port(c)
    assert port.voltage_classes == 3
    p["off_n"].level = 1
    assert port.present() and not port.fault()
    assert port._may_activate(CLASS_C) == ERR_CLASS  # the chip cannot supply 1.8 V
    assert port._may_activate(CLASS_A) == OK and port.deactivations == 0
    port._powered = True  # a session in progress: ended first (cold reset)
    c.power_on(CLASS_A)
    assert port._may_activate(CLASS_B) == OK and port.deactivations == 1 and not c.active
    p["off_n"].level = 0  # no card
    assert port._may_activate(CLASS_A) == ERR_ABSENT and not port.present()
