"""Host side of the wire contract: construct codecs, framing wrapper, escapes, against the golden vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cpsdi_proto import ccid as wire
from cpsdi_proto import escape as esc

from cpsdi.ccid import T0Parameters, T1Parameters, build_message, message_name, parse_message
from cpsdi.escape import ReaderInfo, build_info, parse_info, vendor_answer_payload, vendor_request
from cpsdi.exceptions import FramingError, ReaderProtocolError
from cpsdi.framing import BadFrame, Frame, FrameReader, KeepAlive, Nak, Oversize, SlotChange, encode_frame

VECTORS = Path(__file__).parent.parent / "vectors"
FRAMES = [json.loads(line) for line in (VECTORS / "frames.jsonl").read_text().splitlines() if line.strip()]
STREAMS = [json.loads(line) for line in (VECTORS / "streams.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("rec", FRAMES, ids=[r["name"] for r in FRAMES])
def test_construct_parses_golden_message(rec: dict) -> None:
    msg = bytes.fromhex(rec["message"])
    parsed = parse_message(msg)
    assert message_name(parsed.bMessageType) == rec["type"]
    assert [parsed.bMessageType, parsed.dwLength, parsed.bSlot, parsed.bSeq] == rec["header"][:4]
    for name, value in rec["fields"].items():
        assert parsed.params[name] == value, name
    assert parsed.abData == bytes.fromhex(rec["data"])
    params = {k: v for k, v in parsed.params.items() if not k.startswith("_")}
    assert build_message(parsed.bMessageType, parsed.bSlot, parsed.bSeq, parsed.abData, **params) == msg


@pytest.mark.parametrize("rec", FRAMES, ids=[r["name"] for r in FRAMES])
def test_host_frames_match_golden(rec: dict) -> None:
    msg = bytes.fromhex(rec["message"])
    assert encode_frame(msg, native=rec["framing"] == "native").hex() == rec["frame"]
    if rec["dir"] == "R>H":
        events = list(FrameReader().feed(bytes.fromhex(rec["frame"])))
        assert events == [Frame(msg, rec["framing"] == "native")]


def test_host_reader_streams() -> None:
    names = {Frame: "frame", BadFrame: "bad_check", Oversize: "oversize", Nak: "nak", SlotChange: "notify", KeepAlive: "keepalive"}
    checked = 0
    for rec in STREAMS:
        if not rec["from_reader"]:
            continue
        reader = FrameReader(native_max_message=rec["native_max_message"])
        got = []
        for event in reader.feed(bytes.fromhex(rec["stream"])):
            item: list = [names[type(event)]]
            if isinstance(event, Frame):
                item.append(event.message.hex())
            elif isinstance(event, BadFrame):
                item.append(event.frame[2 : -4 if event.native else -1].hex())
            elif isinstance(event, SlotChange):
                item.append(event.bitmap)
            elif isinstance(event, KeepAlive):
                item.append(event.value)
            got.append(item)
        assert got == rec["events"], rec["name"]
        assert reader.garbage == rec["garbage"]
        checked += 1
    assert checked >= 5


def test_slot_change_bits() -> None:
    inserted_slot1 = SlotChange(0b1100)
    assert inserted_slot1.present(1) and inserted_slot1.changed(1)
    assert not inserted_slot1.present(0) and not inserted_slot1.changed(0)
    assert SlotChange(0x02).changed(0) and not SlotChange(0x02).present(0)


def test_default_answers_and_parameters() -> None:
    # libccid's defaults (ccid-serial.md §5.4)
    assert T0Parameters.build({}) == bytes.fromhex("1100000a00")
    assert T1Parameters.build({}) == bytes.fromhex("1110004d002000")
    assert T1Parameters.parse(bytes.fromhex("13100045" "00fe00")).bIFSC == 0xFE
    power_on = build_message(wire.PC_TO_RDR_ICC_POWER_ON, seq=8, bPowerSelect=wire.POWER_5V)
    assert encode_frame(power_on).hex() == "030662000000000008010000" + "6e"


def test_parse_message_rejects_bad_input() -> None:
    with pytest.raises(FramingError, match="shorter"):
        parse_message(b"\x6f\x00")
    with pytest.raises(FramingError, match="dwLength 5 but 1"):
        parse_message(bytes.fromhex("6f05000000000000000000"))


def test_build_message_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="bytes"):
        build_message(wire.PC_TO_RDR_XFR_BLOCK, slot=256)
    with pytest.raises(ValueError, match="PC_to_RDR_XfrBlock"):
        build_message(wire.PC_TO_RDR_XFR_BLOCK, bBWI=300)


def test_encode_frame_limits() -> None:
    with pytest.raises(ValueError, match="header"):
        encode_frame(b"\x65")
    big = build_message(wire.PC_TO_RDR_XFR_BLOCK, data=bytes(262))
    with pytest.raises(ValueError, match="compat limit 271"):
        encode_frame(big)
    assert len(encode_frame(big, native=True)) == len(big) + 6


def test_framing_error_hexdump_is_bounded() -> None:
    exc = FramingError("bad", bytes(range(100)))
    assert exc.frame == bytes(range(100))
    assert str(exc).startswith("bad [00 01 02") and str(exc).endswith("3f …]")


def test_reader_info_round_trip_and_golden() -> None:
    info = ReaderInfo(1, "0.1.0", "sim", 2, 1034, 0x0F, "SN-42")
    assert parse_info(build_info(info)) == info
    assert info.has(esc.FEATURE_SCRIPTS) and not info.has(esc.FEATURE_PIN_PAD)
    golden = next(r for r in FRAMES if r["name"] == "vendor GET_INFO answer")
    parsed = parse_info(vendor_answer_payload(esc.CMD_GET_INFO, bytes.fromhex(golden["data"])))
    assert parsed == ReaderInfo(1, "0.1.0", "sim", 2, 1034, 0x0F)
    request = next(r for r in FRAMES if r["name"] == "vendor GET_INFO request")
    assert vendor_request(esc.CMD_GET_INFO) == bytes.fromhex(request["data"])


def test_reader_info_rejects_malformed() -> None:
    good = build_info(ReaderInfo(1, "x", "y", 1, 0, 0))
    with pytest.raises(ReaderProtocolError, match="ends inside"):
        parse_info(good + b"\x07\x05ab")
    with pytest.raises(ReaderProtocolError, match="no protocol version"):
        parse_info(b"\x02\x01x")
    assert parse_info(good + b"\xee\x01z").board == "y"  # unknown tags are skipped
    with pytest.raises(ReaderProtocolError, match="does not echo"):
        vendor_answer_payload(esc.CMD_GET_INFO, b"\xcd\x02")


def test_native_frames_without_binascii_crc32(monkeypatch: pytest.MonkeyPatch) -> None:
    # Boards built without MICROPY_PY_BINASCII_CRC32 use the bit-by-bit fallback: same bytes.
    from cpsdi_proto import native

    rec = next(r for r in FRAMES if r["framing"] == "native")
    monkeypatch.setattr(native, "_crc32", None)
    assert encode_frame(bytes.fromhex(rec["message"]), native=True).hex() == rec["frame"]
    assert list(FrameReader().feed(bytes.fromhex(rec["frame"]))) == [Frame(bytes.fromhex(rec["message"]), True)]


def test_reader_info_slot_capabilities_round_trip() -> None:
    info = ReaderInfo(1, "0.1.0", "board", 2, 1034, 0x07, "", ((0x06, 0x03), (0x01, 0x01)))
    assert parse_info(build_info(info)) == info
    assert info.voltage_classes(0) == "BC" and info.voltage_classes(1) == "A"
