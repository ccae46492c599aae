"""The card clock after the ATR/PPS: up to the card's fmax (ISO 7816-3 §8.3), within the
board's limit and the reader's bit rate, back at the activation clock for every ATR."""

from __future__ import annotations

from fractions import Fraction

from cpsdi_proto import escape

from cpsdi_boards.sim import CardResponse, EventKind, SimCardPort, T0Behaviour, VirtualCard
from cpsdi_boards.sim.clock import WallPacedClock
from cpsdi_boards.sim.t1_card import T1_ATR_LRC, T1Behaviour
from cpsdi_fw.slot import Slot

ACTIVATION_HZ = 3_571_200
ATR_T0_TA1_18 = bytes.fromhex("3B 13 18 43 50 53")  # negotiable, TA1 = 18 (372/12, fmax 5 MHz), T=0
ATR_T0_PLAIN = bytes.fromhex("3B 02 14 50")  # no TA1: fmax 5 MHz, Fd/Dd
ATR_T0_TA1_97 = bytes.fromhex("3B 13 97 43 50 53")  # 512/64, fmax 5 MHz
ATR_T0_TA1_71 = bytes.fromhex("3B 13 71 43 50 53")  # FI 7 is RFU: fmax unknown


def handler(header: bytes, data: bytes) -> CardResponse:
    """READ BINARY returns P3 bytes of a pattern; everything else 9000."""
    if header[1] == 0xB0:
        return CardResponse(data=bytes((i * 7 + header[3]) & 0xFF for i in range(header[4] or 256)))
    return CardResponse()


class RecordingPort(SimCardPort):
    """Notes the clock at every reset release: the card's ATR comes at that clock."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.atr_clocks_hz: list[int] = []

    def set_reset(self, high: bool) -> None:
        if high:
            self.atr_clocks_hz.append(self.clock_hz)
        super().set_reset(high)


def make(atr: bytes, clock_max_hz: int = 5_000_000) -> tuple[VirtualCard, RecordingPort, Slot, list[tuple[int, int]]]:
    card = VirtualCard(atr, behaviour=T0Behaviour(handler))
    port = RecordingPort(card, clock_max_hz=clock_max_hz)
    events: list[tuple[int, int]] = []
    slot = Slot(port, on_event=lambda event, arg1, arg2: events.append((event, arg1)))
    return card, port, slot, events


def read(slot: Slot, p2: int, n: int) -> bytes:
    resp = bytearray(300)
    apdu = bytearray((0x00, 0xB0, 0x00, p2, n))
    got = slot.transmit_apdu(apdu, len(apdu), resp, len(resp))
    assert got > 0, f"bError {-got:02X}"
    return bytes(resp[:got])


def clock_details(card: VirtualCard) -> list[str]:
    return [e.detail for e in card.records.events_of(EventKind.CLK_FREQUENCY)]


def test_cps4_like_t0_card_runs_at_5_mhz_after_its_pps() -> None:
    card, port, slot, events = make(ATR_T0_TA1_18)
    assert slot.power_on() == 0
    assert port.fd == (372, 12)
    assert port.atr_clocks_hz == [ACTIVATION_HZ]
    assert port.clock_hz == 5_000_000
    assert clock_details(card) == ["5000000 Hz"]
    assert not card.records.events_of(EventKind.CLK_ABOVE_FMAX)
    # the clock changed once the PPS exchange was over
    pps = card.records.events_of(EventKind.PPS)[0]
    assert card.records.events_of(EventKind.CLK_FREQUENCY)[0].clocks >= pps.clocks
    assert (escape.EVENT_CLOCK, 50) in events
    assert read(slot, 5, 16) == bytes((i * 7 + 5) & 0xFF for i in range(16)) + b"\x90\x00"


def test_a_card_without_ta1_gets_5_mhz_on_an_8_mhz_board() -> None:
    card, port, slot, _ = make(ATR_T0_PLAIN, clock_max_hz=8_000_000)
    assert slot.power_on() == 0
    assert port.clock_hz == 5_000_000
    assert not card.records.events_of(EventKind.CLK_ABOVE_FMAX)
    assert read(slot, 0, 4)[-2:] == b"\x90\x00"


def test_a_card_with_an_rfu_fi_stays_at_the_activation_clock() -> None:
    card, port, slot, events = make(ATR_T0_TA1_71)
    assert slot.power_on() == 0
    assert port.clock_hz == ACTIVATION_HZ
    assert clock_details(card) == []
    assert not [e for e in events if e[0] == escape.EVENT_CLOCK]


def test_a_fixed_clock_board_never_changes_the_clock() -> None:
    card, port, slot, events = make(ATR_T0_TA1_18, clock_max_hz=0)
    assert slot.power_on() == 0
    assert port.clock_hz == ACTIVATION_HZ
    assert clock_details(card) == []
    assert not [e for e in events if e[0] == escape.EVENT_CLOCK]


def test_every_atr_comes_at_the_activation_clock() -> None:
    card, port, slot, _ = make(ATR_T0_TA1_18)
    assert slot.power_on() == 0
    assert slot.warm_reset() == 0  # §6.2.3: back to the activation clock before RST rises
    assert port.clock_hz == 5_000_000
    slot.power_off()
    assert slot.power_on() == 0
    assert port.atr_clocks_hz == [ACTIVATION_HZ] * 3
    assert clock_details(card) == ["5000000 Hz", f"{ACTIVATION_HZ} Hz", "5000000 Hz", "5000000 Hz"]
    assert port.clock_hz == 5_000_000
    assert read(slot, 1, 2)[-2:] == b"\x90\x00"


def test_a_host_pps_to_a_high_d_brings_the_clock_back_down() -> None:
    # TPDU level: the slot raises CLK at Fd/Dd (13 441 bit/s at 5 MHz); the host then
    # negotiates 512/64, which at 5 MHz would be 625 000 bit/s > 250 000: CLK goes back
    card, port, slot, events = make(ATR_T0_TA1_97)
    assert slot.power_on_tpdu() == 0
    assert port.clock_hz == 5_000_000
    resp = bytearray(4)
    assert slot.exchange_pps(bytearray.fromhex("FF 10 97 78"), 4, resp) == 4
    assert bytes(resp) == bytes.fromhex("FF 10 97 78")
    assert port.fd == (512, 64)
    assert port.clock_hz == ACTIVATION_HZ
    assert [arg for event, arg in events if event == escape.EVENT_CLOCK] == [50, 35]


def test_t1_card_at_5_mhz_keeps_its_timing_in_etu() -> None:
    card = VirtualCard(T1_ATR_LRC, behaviour=T1Behaviour(apdu_handler=lambda apdu: CardResponse(data=bytes(200))))
    port = SimCardPort(card, clock_max_hz=5_000_000)
    slot = Slot(port)
    assert slot.power_on() == 0
    assert slot.protocol() == 1
    resp = bytearray(300)
    apdu = bytearray.fromhex("00 B0 00 00 C8")
    assert slot.transmit_apdu(apdu, len(apdu), resp, len(resp)) == 202
    assert port.clock_hz == 5_000_000
    assert not card.records.events_of(EventKind.CLK_ABOVE_FMAX)
    assert not card.records.events_of(EventKind.T1_INVALID)


def test_wall_paced_clock_rate_change_keeps_past_time() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    clock = WallPacedClock(1_000_000, now_s=lambda: now[0], sleep_s=sleep, idle_s=10.0)
    clock.advance(1_000_000)  # 1 s at 1 MHz
    clock.set_rate(4_000_000)
    clock.advance(1_000_000)  # 0.25 s at 4 MHz
    assert Fraction(round(sum(slept) * 1000), 1000) == Fraction(5, 4)
