"""Virtual card + SimCardPort: activation, ATR timing and conventions, classes, deactivation."""

from __future__ import annotations

from cpsdi_fw.hal import CLASS_A, CLASS_B, CLASS_C, ERR_ABSENT, ERR_CLASS, ERR_FAULT, OK

from _simreader import ATR_WINDOW_ETU, power_up, receive
from cpsdi_boards.sim import EventKind, GapKind, SimCardPort, VirtualCard
from cpsdi_boards.sim.records import Direction

ETU = 372  # clocks per etu at Fd/Dd
ATR = bytes.fromhex("3B 13 18 43 50 53")
INVERSE_ATR = bytes.fromhex("3F 65 25 00 2C 09 69 90 00")  # pyscard test_ATR


def test_atr_after_configured_delay_with_configured_spacing() -> None:
    for delay in (400, 10_000, 40_000):
        card = VirtualCard(ATR, atr_delay_clocks=delay, atr_spacing_etu=13)
        port = SimCardPort(card)
        atr = power_up(port)
        assert atr.data == ATR and atr.parity == bytes(len(ATR))
        rec = card.records
        assert rec.atr_delays() == [delay]
        rise = rec.events_of(EventKind.RST_HIGH)[0].clocks
        edges = [c.edge_clocks for c in rec.card_chars()]
        assert edges[0] - rise == delay
        assert [b - a for a, b in zip(edges, edges[1:])] == [13 * ETU] * (len(ATR) - 1)
        assert all(g.etu == 13 for g in rec.gaps_of(GapKind.CARD_SPACING))


def test_atr_window_timeout_is_exact_between_leading_edges() -> None:
    window = ATR_WINDOW_ETU * ETU  # 40 176 clocks: what a reader allowing 108 etu accepts
    for delay, expect in ((window, True), (window + 1, False)):
        card = VirtualCard(ATR, atr_delay_clocks=delay)
        port = SimCardPort(card)
        port.activate(CLASS_A)
        port.wait_clocks(400)
        port.set_reset(True)
        rise = port.now_clocks
        r = receive(port, 1, ATR_WINDOW_ETU, 9600)
        assert bool(r.data) is expect
        if not expect:
            assert port.now_clocks == rise + window  # the timeout returns at the deadline, not later


def test_inverse_convention_on_the_line() -> None:
    card = VirtualCard(INVERSE_ATR)
    port = SimCardPort(card)
    port.activate(CLASS_A)
    port.wait_clocks(40_000)
    port.set_reset(True)
    ts = receive(port, 1, ATR_WINDOW_ETU, 9600)
    assert (ts.data, ts.parity) == (b"\x03", b"\x01")  # direct-mode port: 03 + parity error
    port.set_character(372, 1, True, 12, 0)
    rest = receive(port, 32, 9600, 9600)
    assert rest.data == INVERSE_ATR[1:] and rest.parity == bytes(len(INVERSE_ATR) - 1)
    ts_rec = card.records.card_chars()[0]
    assert (ts_rec.value, ts_rec.received, ts_rec.parity_error) == (0x3F, 0x03, True)


def test_inverse_port_sees_3f_and_direct_card_in_inverse_port_sees_23() -> None:
    port = SimCardPort(VirtualCard(INVERSE_ATR))
    port.activate(CLASS_A)
    port.set_character(372, 1, True, 12, 0)
    port.wait_clocks(400)
    port.set_reset(True)
    assert receive(port, 1, ATR_WINDOW_ETU, 9600).data == b"\x3f"
    port2 = SimCardPort(VirtualCard(ATR))
    port2.activate(CLASS_A)
    port2.set_character(372, 1, True, 12, 0)
    port2.wait_clocks(400)
    port2.set_reset(True)
    r = receive(port2, 1, ATR_WINDOW_ETU, 9600)
    assert (r.data, r.parity) == (b"\x23", b"\x01")


def test_warm_reset_gives_warm_atr_and_records_rst_low() -> None:
    warm = bytes.fromhex("3B 02 14 50")
    card = VirtualCard(ATR, warm_atr=warm)
    port = SimCardPort(card)
    assert power_up(port, reset_low_clocks=500).data == ATR
    port.set_reset(False)
    port.wait_clocks(450)
    port.set_reset(True)
    r = receive(port, 32, ATR_WINDOW_ETU, 9600)
    assert r.data == warm
    assert card.records.reset_low_clocks() == [500, 450]
    assert len(card.records.atr_delays()) == 2


def test_voltage_classes_board_and_card() -> None:
    port = SimCardPort(VirtualCard(ATR, classes=(CLASS_B, CLASS_C)), classes=(CLASS_A, CLASS_B))
    assert port.activate(CLASS_C) == ERR_CLASS  # the board cannot supply it
    atr = power_up(port, CLASS_A)  # the card does not work at 5 V: no ATR
    assert atr.data == b""
    assert port.card is not None and port.card.records.events_of(EventKind.CLASS_REFUSED)
    port.deactivate()
    assert power_up(port, CLASS_B).data == ATR


def test_absent_card_and_chip_fault() -> None:
    port = SimCardPort()
    assert not port.present()
    assert port.activate(CLASS_A) == ERR_ABSENT
    assert port.send(b"\x00", 0, 1) == ERR_ABSENT
    assert port.receive(bytearray(1), 0, 1, 10, 10, bytearray(1)) == 0
    port.insert(VirtualCard(ATR))
    assert port.present()
    port.set_chip_fault(True)
    assert port.fault() and port.activate(CLASS_A) == ERR_FAULT
    port.set_chip_fault(False)
    assert port.activate(CLASS_A) == OK


def test_activation_and_deactivation_order_recorded() -> None:
    card = VirtualCard(ATR)
    port = SimCardPort(card)
    power_up(port)
    port.deactivate()
    kinds = [e.kind for e in card.records.events]
    assert kinds[:5] == [EventKind.INSERTED, EventKind.RST_LOW, EventKind.VCC_ON, EventKind.CLK_ON,
                         EventKind.IO_RECEPTION]
    assert card.records.deactivations() == [
        [EventKind.RST_LOW, EventKind.CLK_STOP, EventKind.IO_LOW, EventKind.VCC_OFF]
    ]
    assert not port.powered


def test_now_etu_counts_from_activation_across_fd_changes() -> None:
    port = SimCardPort(VirtualCard(ATR))
    port.activate(CLASS_A)
    assert port.now_etu() == 0
    port.wait_clocks(372 * 100 + 371)
    assert port.now_etu() == 100
    port.set_character(372, 12, False, 12, 0)
    port.wait_clocks(31 * 10)
    assert port.now_etu() == 110  # floor(100 + 371/372 + 10)


def test_reset_ignored_without_activation_and_atr_records_directions() -> None:
    card = VirtualCard(ATR)
    port = SimCardPort(card)
    port.set_reset(True)  # not powered: nothing happens
    assert card.records.atr_delays() == []
    power_up(port)
    assert {c.direction for c in card.records.chars} == {Direction.CARD}
    assert card.records.card_bytes(0) == ATR
