"""Link client against the scripted fake reader: echo, keep-alives, retransmission, native mode."""

from __future__ import annotations

import time

import pytest
import serial
from cpsdi_proto import ccid as wire
from cpsdi_proto import escape as vendor
from test_link_client_support import FakeReader

from cpsdi.escape import vendor_request
from cpsdi.exceptions import FramingError, ReaderTimeoutError, TransportError
from cpsdi.framing import SlotChange
from cpsdi.link import Answer, LinkClient, check_answer
from cpsdi.transport import Transport


def make(fake: FakeReader, *, native: bool = True, timeout_s: float = 0.2, retries: int = 3, seq: int = 7) -> LinkClient:
    return LinkClient(Transport(fake, url="fake"), native=native, timeout_s=timeout_s, retries=retries, first_seq=seq)


def status(link: LinkClient, slot: int = 0) -> Answer:
    return link.request(wire.PC_TO_RDR_GET_SLOT_STATUS, slot)


def test_compat_request_skips_the_header_only_echo() -> None:
    fake = FakeReader(echo="header")
    link = make(fake)
    answer = status(link)
    assert answer.message_type == wire.RDR_TO_PC_SLOT_STATUS
    assert answer.seq == 7 and answer.icc_status == wire.ICC_INACTIVE and not answer.failed
    assert fake.received[0][:2] == b"\x03\x06"


def test_compat_request_skips_a_full_echo() -> None:
    fake = FakeReader(echo="full")
    link = make(fake)
    answer = link.request(wire.PC_TO_RDR_ESCAPE, 0, vendor_request(vendor.CMD_LOOPBACK, b"hello"))
    assert answer.data == b"\xcd\x04hello"


def test_no_echo_reader_works_too() -> None:
    assert status(make(FakeReader(echo=None))).seq == 7


def test_seq_shared_by_slots_wraps_and_never_repeats_a_slots_last_seq() -> None:
    fake = FakeReader(slots=2, cards={0: None, 1: None})
    link = make(fake, seq=254)
    seqs = [status(link, slot).seq for slot in (0, 1, 0)]
    assert seqs == [254, 255, 0]
    # 256 requests on slot 0 later the counter comes back to slot 1's last seq (255): skipped
    link._seq = 255
    assert status(link, 1).seq == 0
    assert len(fake.executed) == 4


def test_keepalives_restart_the_deadline() -> None:
    fake = FakeReader()
    link = make(fake, timeout_s=0.3, retries=0)
    fake.faults.append(("keepalive", 7, 0.1))  # answer 0.8 s later, a keep-alive every 0.1 s
    start = time.monotonic()
    answer = status(link)
    assert time.monotonic() - start >= 0.7
    assert answer.seq == 7 and len(fake.received) == 1  # no retransmission


def test_without_keepalives_a_late_answer_times_out_and_raises() -> None:
    fake = FakeReader()
    link = make(fake, timeout_s=0.1, retries=0)
    fake.faults.append(("late", 0.5))
    with pytest.raises(ReaderTimeoutError, match="no answer to PC_to_RDR_GetSlotStatus slot 0 seq 7"):
        status(link)


def test_nak_gives_an_identical_retransmission() -> None:
    fake = FakeReader()
    link = make(fake)
    fake.faults.append("nak")
    answer = status(link)
    assert answer.seq == 7
    assert len(fake.received) == 2 and fake.received[0] == fake.received[1]
    assert link.retransmissions == 1
    assert len(fake.executed) == 1


def test_lost_answer_is_retransmitted_with_the_same_seq_and_answered_from_cache() -> None:
    fake = FakeReader()
    link = make(fake, timeout_s=0.1)
    link.request(wire.PC_TO_RDR_ICC_POWER_ON, 0)
    fake.faults.append("drop")
    apdu = bytes.fromhex("0020000104") + b"1234"
    answer = link.request(wire.PC_TO_RDR_XFR_BLOCK, 0, apdu)
    assert answer.data == b"\x90\x00"
    verifies = fake.requests_of(wire.PC_TO_RDR_XFR_BLOCK)
    assert len(verifies) == 2 and verifies[0] == verifies[1]
    # executed exactly once: the second transmission was answered from the cache
    assert [e for e in fake.executed if e[0] == wire.PC_TO_RDR_XFR_BLOCK] == [(wire.PC_TO_RDR_XFR_BLOCK, 0, 8)]
    card = fake.cards[0]
    assert card is not None and len(card.apdus) == 1


def test_corrupted_answer_is_retransmitted() -> None:
    fake = FakeReader()
    link = make(fake)
    fake.faults.append("corrupt")
    answer = status(link)
    assert answer.seq == 7 and link.retransmissions == 1
    assert fake.received[0] == fake.received[1] and len(fake.executed) == 1


def test_stale_answers_with_other_seq_or_slot_are_discarded() -> None:
    fake = FakeReader()
    link = make(fake)
    fake.faults.append("stale")
    answer = status(link)
    assert (answer.slot, answer.seq) == (0, 7)
    assert link.stale_frames == 2 and link.retransmissions == 0


def test_a_late_answer_of_the_previous_request_never_answers_the_next() -> None:
    fake = FakeReader()
    link = make(fake, timeout_s=0.1, retries=0)
    fake.faults.append(("late", 0.3))
    with pytest.raises(ReaderTimeoutError):
        status(link)
    time.sleep(0.4)  # the late answer (seq 7) is now in the input buffer
    answer = link.request(wire.PC_TO_RDR_ESCAPE, 0, vendor_request(vendor.CMD_LOOPBACK, b"x"))
    assert answer.message_type == wire.RDR_TO_PC_ESCAPE and answer.seq == 8
    assert link.stale_frames == 1


def test_retries_are_bounded_then_timeout_raises() -> None:
    fake = FakeReader()
    link = make(fake, timeout_s=0.05, retries=2)
    fake.faults.extend(["drop"] * 3)
    with pytest.raises(ReaderTimeoutError, match="after 3 transmissions"):
        status(link)
    assert len(fake.received) == 3 and len(set(fake.received)) == 1


def test_repeated_naks_raise_a_framing_error() -> None:
    fake = FakeReader()
    link = make(fake, retries=1)
    fake.faults.extend(["nak", "nak"])
    with pytest.raises(FramingError, match="NAK"):
        status(link)


def test_slot_changes_are_queued_and_extend_the_deadline() -> None:
    fake = FakeReader()
    link = make(fake)
    seen: list[SlotChange] = []
    link.add_listener(seen.append)
    fake.faults.append(("notify", 0x03))
    status(link)
    assert [e.bitmap for e in link.slot_changes] == [0x03] and seen[0].present(0) and seen[0].changed(0)
    fake.notify(0x02)
    link.poll_events(0.05)
    assert [e.bitmap for e in link.slot_changes] == [0x03, 0x02]


def test_open_negotiates_native_mode() -> None:
    fake = FakeReader(native_max=4096)
    link = make(fake)
    info = link.open()
    assert info.board == "fake" and info.native_max_message == 4096
    assert link.native and link.max_message == 4096 == fake.native_granted
    # GET_INFO and NATIVE went in compat framing, the next request in native framing
    assert [f[1] for f in fake.received] == [0x06, 0x06]
    status(link)
    assert fake.received[-1][1] == 0x0E
    big = bytes(range(256)) * 8
    answer = link.request(wire.PC_TO_RDR_ESCAPE, 0, vendor_request(vendor.CMD_LOOPBACK, big))
    assert answer.data[2:] == big


def test_native_mode_retransmission_keeps_native_framing() -> None:
    fake = FakeReader()
    link = make(fake)
    link.open()
    fake.faults.append("corrupt")
    assert status(link).seq == 9
    assert fake.received[-1] == fake.received[-2] and fake.received[-1][1] == 0x0E


def test_open_stays_compat_when_not_wanted() -> None:
    fake = FakeReader()
    link = make(fake, native=False)
    link.open()
    assert not link.native and link.max_data == 261
    assert not fake.requests_of(wire.PC_TO_RDR_ESCAPE)[1:]  # only GET_INFO


def test_stock_reader_without_get_info_falls_back_to_compat() -> None:
    fake = FakeReader(get_info=False)
    link = make(fake)
    info = link.open()
    assert not link.native and info.protocol_version == 0 and info.slots == 1
    assert status(link).seq == 8


def test_reader_without_native_mode_stays_compat() -> None:
    fake = FakeReader(native_max=0)
    link = make(fake)
    link.open()
    assert not link.native
    assert len(fake.requests_of(wire.PC_TO_RDR_ESCAPE)) == 1


@pytest.mark.parametrize("answer", [b"\x00\x01\x00\x00\x01", b"\x00\x10\x00\x00\x02", b"\x00"])
def test_out_of_contract_native_answer_stays_compat(answer: bytes) -> None:
    link = make(FakeReader(native_answer=answer))
    link.open()
    assert not link.native
    assert status(link).seq == 9


def test_too_long_for_compat_is_refused_before_sending() -> None:
    fake = FakeReader()
    link = make(fake, native=False)
    with pytest.raises(ValueError, match="exceeds the link limit 261"):
        link.request(wire.PC_TO_RDR_XFR_BLOCK, 0, bytes(262))
    assert not fake.received


def test_check_answer_maps_errors() -> None:
    from cpsdi.exceptions import CardAbsentError, CardMuteError, NotSupportedError, ParityError, VendorCommandError

    def failed(error: int, icc: int = 1) -> Answer:
        return Answer(wire.RDR_TO_PC_DATA_BLOCK, 0, 0, 0x40 | icc, error, 0, b"")

    with pytest.raises(CardAbsentError):
        check_answer(failed(0xFE, 2), wire.PC_TO_RDR_ICC_POWER_ON)
    with pytest.raises(CardMuteError) as mute:
        check_answer(failed(0xFE), wire.PC_TO_RDR_ICC_POWER_ON)
    assert mute.value.code == 0xFE
    with pytest.raises(ParityError):
        check_answer(failed(0xFD), wire.PC_TO_RDR_XFR_BLOCK)
    with pytest.raises(NotSupportedError):
        check_answer(failed(0x00), wire.PC_TO_RDR_ESCAPE)
    with pytest.raises(VendorCommandError) as vend:
        check_answer(failed(0x84), wire.PC_TO_RDR_ESCAPE)
    assert vend.value.code == 0x84


def test_transport_wraps_serial_errors_and_never_returns_short_data() -> None:
    class Broken(FakeReader):
        def read(self, size: int = 1) -> bytes:
            raise serial.SerialException("device reports readiness to read but returned no data")

    with pytest.raises(TransportError, match="read from fake failed"):
        Transport(Broken(), url="fake").read(time.monotonic() + 0.1)
    quiet = Transport(FakeReader(), url="fake")
    start = time.monotonic()
    with pytest.raises(ReaderTimeoutError):
        quiet.read(start + 0.05)
    assert time.monotonic() - start >= 0.05


def test_transport_open_errors_are_transport_errors() -> None:
    with pytest.raises(TransportError, match="cannot open /dev/cpsdi-nope"):
        Transport.open("/dev/cpsdi-nope")
    with pytest.raises(TransportError, match="cannot open nosuch://x"):
        Transport.open("nosuch://x")


def test_transport_over_loop_url() -> None:
    with Transport.open("loop://") as t:
        t.write(b"\x03\x15\x16")
        assert t.read(time.monotonic() + 1.0) == b"\x03\x15\x16"
    assert t.closed
    with pytest.raises(TransportError, match="closed"):
        t.write(b"x")


def test_foreign_answer_to_get_info_falls_back_to_compat() -> None:
    class Foreign(FakeReader):
        def _escape(self, slot: int, seq: int, data: bytes) -> bytes:
            if data[:1] == b"\xcd":
                return self._answer(wire.RDR_TO_PC_ESCAPE, slot, seq, b"GemTwRC2-V2.10")
            return super()._escape(slot, seq, data)

    link = make(Foreign())
    info = link.open()
    assert info.protocol_version == 0 and not link.native


def test_endless_keepalives_are_capped() -> None:
    fake = FakeReader()
    link = LinkClient(Transport(fake, url="fake"), timeout_s=0.25, retries=0, max_wait_s=0.4, first_seq=0)
    fake.faults.append(("keepalive", 60, 0.05))  # 3 s of keep-alives before the answer
    start = time.monotonic()
    with pytest.raises(ReaderTimeoutError):
        status(link)
    assert time.monotonic() - start < 1.5


def test_garbage_stream_does_not_hold_past_the_deadline() -> None:
    fake = FakeReader()
    link = make(fake, timeout_s=0.1, retries=0)
    fake.faults.append("drop")
    for k in range(200):
        fake.emit(b"\x07", 0.01 * k)  # a byte every 10 ms for 2 s, never a frame
    start = time.monotonic()
    with pytest.raises(ReaderTimeoutError):
        status(link)
    assert time.monotonic() - start < 1.0


def test_a_new_session_reusing_the_last_bseq_with_another_request_is_executed() -> None:
    # A host restart starts its bSeq anywhere: same bSeq, different bytes = a new request
    # (protocol/README.md "Exactly once"), never the previous session's cached answer.
    fake = FakeReader()
    first = make(fake, seq=42)
    first.open()  # GET_INFO (seq 42), NATIVE (seq 43)
    last_seq = first._last_seq[0]
    second = make(fake, seq=last_seq)
    info = second.open()  # GET_INFO with the bSeq NATIVE used: answered, not replayed
    assert info.board == "fake"
