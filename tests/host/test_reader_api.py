"""Reader API (slots, power, ATR, transmit, events, errors) against the scripted fake reader."""

from __future__ import annotations

import pytest
from cpsdi_proto import ccid as wire
from test_link_client_support import AID, T1_ATR, FakeCard, FakeReader

from cpsdi.exceptions import (
    BadATRError,
    CardAbsentError,
    CardMuteError,
    ReaderProtocolError,
    ReaderTimeoutError,
    StatusWordError,
)
from cpsdi.reader import ATR, Power, Protocol, Reader, Response
from cpsdi.sw import (
    AuthMethodBlocked,
    FileNotFound,
    SecurityStatusNotSatisfied,
    VerificationFailed,
    WrongLength,
    WrongParameters,
    exception_for_sw,
)
from cpsdi.transport import Transport

SELECT = bytes.fromhex("00A4040007") + AID
VERIFY_OK = bytes.fromhex("0020000104") + b"1234"


def open_fake(fake: FakeReader, **kwargs: object) -> Reader:
    return Reader.open("fake://test", transport=Transport(fake, url="fake://test"), timeout_s=0.2, **kwargs)  # type: ignore[arg-type]


def test_open_info_slots_and_native_apdu_level() -> None:
    fake = FakeReader(slots=2, cards={0: FakeCard(), 1: None})
    with open_fake(fake) as reader:
        assert reader.info.firmware_version == "fake-1.0" and reader.native
        assert [s.index for s in reader.slots] == [0, 1]
        assert all(s.apdu_level for s in reader.slots)
        assert not [f for f in fake.received if f[2:3] == b"\x6b" and f[-3:-1] == b"\x1f\x02"]
    assert not fake.is_open


def test_compat_mode_switches_each_slot_to_apdu_level_with_escape_1f02() -> None:
    fake = FakeReader(slots=2, cards={0: FakeCard(), 1: None})
    with open_fake(fake, native=False) as reader:
        assert not reader.native and all(s.apdu_level for s in reader.slots)
    escapes = [f for f in fake.requests_of(wire.PC_TO_RDR_ESCAPE) if f[12:14] == b"\x1f\x02"]
    assert sorted(f[7] for f in escapes) == [0, 1]


def test_tpdu_level_slot_refuses_transmit() -> None:
    fake = FakeReader(get_info=False, apdu_escape=False)
    with open_fake(fake) as reader:
        assert not reader.slots[0].apdu_level
        with reader.slots[0].connect() as card:
            with pytest.raises(ReaderProtocolError, match="TPDU level"):
                card.transmit(SELECT)


def test_status_connect_transmit_disconnect() -> None:
    fake = FakeReader()
    with open_fake(fake) as reader:
        slot = reader.slots[0]
        st = slot.status()
        assert st.present and not st.powered
        with slot.connect(power=Power.V5) as card:
            assert card.atr.raw == bytes.fromhex("3B021450") and card.atr.hex == "3B 02 14 50"
            assert card.protocol is Protocol.T0
            assert slot.status().powered
            r = card.transmit(SELECT)
            assert r == Response(b"", 0x9000) and r.ok
            r = card.transmit(bytes.fromhex("0084000008"))
            assert r.data == bytes(range(1, 9)) and r.sw1 == 0x90
        assert card.closed and not slot.status().powered
    power_on = fake.requests_of(wire.PC_TO_RDR_ICC_POWER_ON)[0]
    assert power_on[9] == Power.V5


def test_t1_card_protocol_from_get_parameters() -> None:
    fake = FakeReader(cards={0: FakeCard(atr=T1_ATR, protocol=1)})
    with open_fake(fake) as reader, reader.slots[0].connect() as card:
        assert card.protocol is Protocol.T1
        assert card.atr.protocols == (1,) and (card.atr.ifsc, card.atr.bwi, card.atr.cwi) == (254, 4, 5)
        assert card.atr.historical == b"JCOPv241"


def test_disconnect_reset_keeps_the_card_powered() -> None:
    fake = FakeReader()
    with open_fake(fake) as reader:
        card = reader.slots[0].connect()
        card.disconnect(mode="reset")
        assert reader.slots[0].status().powered
        assert len(fake.requests_of(wire.PC_TO_RDR_ICC_POWER_ON)) == 2
        with pytest.raises(ReaderProtocolError):
            card.transmit(SELECT)


def test_absent_and_mute_cards() -> None:
    fake = FakeReader(slots=2, cards={0: None, 1: FakeCard(mute=True)})
    with open_fake(fake) as reader:
        assert not reader.slots[0].status().present
        with pytest.raises(CardAbsentError):
            reader.slots[0].connect()
        with pytest.raises(CardMuteError) as exc:
            reader.slots[1].connect()
        assert exc.value.code == 0xFE


def test_transmit_check_and_status_word_table() -> None:
    fake = FakeReader()
    with open_fake(fake) as reader, reader.slots[0].connect() as card:
        with pytest.raises(FileNotFound) as nf:
            card.transmit(bytes.fromhex("00A4040002A000"), check=True)
        assert nf.value.sw == 0x6A82 and nf.value.command_header == bytes.fromhex("00A40400")
        with pytest.raises(SecurityStatusNotSatisfied):
            card.transmit(bytes.fromhex("00B0000004"), check=True)
        r = card.transmit(bytes.fromhex("0020000104") + b"9999")
        assert r.sw == 0x63C2  # check=False: no exception
        with pytest.raises(VerificationFailed) as vf:
            card.transmit(bytes.fromhex("0020000104") + b"9999", check=True)
        assert vf.value.retries == 1
        assert card.transmit(VERIFY_OK, check=True).ok
        assert card.transmit(bytes.fromhex("00B0000004"), check=True).data == b"DATA"
    assert isinstance(exception_for_sw(0x6983), AuthMethodBlocked)
    assert isinstance(exception_for_sw(0x6700), WrongLength)
    assert isinstance(exception_for_sw(0x6A86), WrongParameters)
    assert type(exception_for_sw(0x6A99)) is StatusWordError
    Response(b"", 0x6100 | 0x10).check()  # more data: not an error


def test_response_without_status_word_is_a_protocol_error() -> None:
    with pytest.raises(ReaderProtocolError, match="no status word"):
        Response.from_bytes(b"\x90")


def test_transmit_validates_the_apdu() -> None:
    with open_fake(FakeReader()) as reader, reader.slots[0].connect() as card:
        with pytest.raises(ValueError):
            card.transmit(b"\x00\xa4")


def test_atr_parse_errors() -> None:
    with pytest.raises(BadATRError):
        ATR.parse(bytes.fromhex("3B02"))
    with pytest.raises(BadATRError):
        ATR.parse(bytes.fromhex("3B02145000"))
    with pytest.raises(BadATRError):
        ATR.parse(bytes.fromhex("12"))
    atr = ATR.parse(bytes.fromhex("3B021450"))
    assert atr.protocols == (0,) and atr.fi == 372 and atr.di == 1 and not atr.tck_present


def test_events_from_notifications_and_polling() -> None:
    fake = FakeReader(slots=2, cards={0: None, 1: FakeCard()})
    with open_fake(fake) as reader, reader.events(poll_interval_s=0.05) as events:
        with pytest.raises(ReaderTimeoutError):
            events.get(0.12)  # first poll: the initial state is not an event
        fake.cards[0] = FakeCard()
        fake.notify(0x03 | 0x04)  # slot 0 present+changed, slot 1 present unchanged
        ev = events.get(1.0)
        assert (ev.slot, ev.present, ev.source) == (0, True, "notify")
        fake.cards[1] = None  # removed without a notification: polling sees it
        ev = events.get(1.0)
        assert (ev.slot, ev.present, ev.source) == (1, False, "poll")
    assert events.closed
    with pytest.raises(ReaderProtocolError):
        events.get(0.1)


def test_close_powers_off_connected_cards() -> None:
    fake = FakeReader()
    reader = open_fake(fake)
    card = reader.slots[0].connect()
    reader.close()
    assert card.closed and fake.powered[0] is False and not fake.is_open
    reader.close()  # idempotent
