"""``tda8035.Tda8035`` with fake pins: activation/deactivation lines, class select, OFFN meaning."""

from cpsdi_boards.tda8035 import CLASS_A, CLASS_B, CLASS_C, Tda8035


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
