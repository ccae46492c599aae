"""``cpsdi_fw.main.serve``, the boards' main loop: the watchdog is fed after every step and
between the wait slices of a long card exchange (a step can last much longer than the
watchdog's 8 s), and the MCU resets only once the update channel asks for it."""

from __future__ import annotations

from cpsdi_proto import ccid

from cpsdi.ccid import build_message, parse_message
from cpsdi.framing import Frame, FrameReader, encode_frame
from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim.cards import make_card
from cpsdi_boards.sim.host_port import MemoryHostPort
from cpsdi_fw.main import Reader, serve


class Feeds:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def make(faults: str | None = None) -> tuple[Reader, MemoryHostPort]:
    made = make_card("t1", faults)
    assert made is not None
    hp = MemoryHostPort()
    return Reader(hp, [SimCardPort(made[0])], board="sim"), hp


def answers(hp: MemoryHostPort) -> list[bytes]:
    return [e.message for e in FrameReader().feed(hp.host_read()) if isinstance(e, Frame) and e.message[0] >= 0x80]


def test_fed_after_every_step_without_a_reset_request() -> None:
    reader, _ = make()
    feeds = Feeds()
    resets: list[int] = []
    serve(reader, feed=feeds, reset=lambda: resets.append(1), max_steps=5)
    assert feeds.count == 5 and resets == []
    assert reader.feed is feeds


def test_fed_while_the_card_works_inside_one_step() -> None:
    # the T=1 card answers its first I-block 150 000 etu late (WTX-free: within BWT);
    # the firmware waits in slices and feeds between them
    reader, hp = make("delay response 3 byte 1 to 150000 etu\n")
    feeds = Feeds()
    serve(reader, feed=feeds, max_steps=1)
    before = feeds.count
    hp.host_write(encode_frame(build_message(ccid.PC_TO_RDR_ESCAPE, 0, 1, b"\x1f\x02")))  # APDU level
    serve(reader, feed=feeds, max_steps=3)
    hp.host_read()
    hp.host_write(encode_frame(build_message(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 2, bPowerSelect=0)))
    serve(reader, feed=feeds, max_steps=3)
    hp.host_read()
    hp.host_write(encode_frame(build_message(ccid.PC_TO_RDR_XFR_BLOCK, 0, 3, bytes.fromhex("00 B0 00 00 02"))))
    steps_before = feeds.count
    serve(reader, feed=feeds, max_steps=1)  # the whole slow exchange happens in this one step
    got = [parse_message(a) for a in answers(hp)]
    assert got and got[-1].abData[-2:] == b"\x90\x00"
    assert feeds.count - steps_before > 10  # fed from the slot's idle hook, not only after the step
    assert feeds.count > before
