"""CPS2ter volet handler: SELECT / 9F xx / GET RESPONSE / READ BINARY / VERIFY, directly and over T=0."""

from __future__ import annotations

import pytest

from _simreader import power_up, transmit_t0
from cpsdi_boards.sim import SimCardPort, T0Behaviour, VirtualCard
from cpsdi_boards.sim.cps.cps2ter import VOLET_OUTGOING_INS, CPS2terVolet, fci
from cpsdi_boards.sim.cps.profiles import get_profile, make_volet, volet_files
from cpsdi_boards.sim.virtual_card import CardResponse


def h(text: str) -> bytes:
    return bytes.fromhex(text)


ID_FILE = b"identity file content"
SIT_FILE = bytes(range(200))
BILLING = b"billing"
FILES = {
    h("3F00 4001"): ID_FILE,
    h("3F00 4010"): SIT_FILE,
    h("3F00 7F01 4000"): BILLING,
}
PROTECTED = (h("3F00 4010"), h("3F00 7F01 4000"))


def volet(**kwargs: object) -> CPS2terVolet:
    return CPS2terVolet(FILES, protected=PROTECTED, **kwargs)  # type: ignore[arg-type]


def apdu(v: CPS2terVolet, text: str, data: str = "") -> CardResponse:
    return v.handle(h(text), h(data))


def select(v: CPS2terVolet, fid: str) -> CardResponse:
    return apdu(v, "A0 A4 00 00 02", fid)


def test_fci_layout() -> None:
    assert fci(0x1234, 0x4010, 0x04) == h("85 05 12 34 40 10 04")


def test_select_then_get_response_gives_the_fci() -> None:
    v = volet()
    assert select(v, "3F 00") == CardResponse(sw=0x9F07)
    assert apdu(v, "A0 C0 00 00 07") == CardResponse(data=h("85 05 00 00 3F 00 01"))
    assert select(v, "7F 01") == CardResponse(sw=0x9F07)
    assert apdu(v, "A0 C0 00 00 07").data == h("85 05 00 00 7F 01 02")
    assert select(v, "40 00").sw == 0x9F07
    assert apdu(v, "A0 C0 00 00 07").data == h("85 05 00 07 40 00 04")
    assert v.current_path == h("3F00 7F01 4000")


def test_get_response_rules() -> None:
    v = volet()
    assert apdu(v, "A0 C0 00 00 07").sw == 0x6F00  # nothing pending
    select(v, "40 01")
    assert apdu(v, "A0 C0 00 00 09").sw == 0x6C07  # too long: the right length
    assert apdu(v, "A0 C0 00 00 05").data == h("85 05 00 15 40")  # shorter is served
    assert apdu(v, "A0 C0 00 00 07").sw == 0x6F00  # consumed
    select(v, "40 01")
    apdu(v, "A0 B0 00 00 01")  # another command in between
    assert apdu(v, "A0 C0 00 00 07").sw == 0x6F00


def test_selection_is_relative_and_lenient() -> None:
    v = volet()
    select(v, "7F 01")
    assert select(v, "40 01").sw == 0x9F07  # an MF child from DF 7F01: found via the ancestor
    assert v.current_path == h("3F00 4001")
    assert select(v, "40 00").sw == 0x9404  # 4000 is under 7F01, not visible from the MF
    assert select(v, "40 10").sw == 0x9F07
    assert select(v, "3F 00").sw == 0x9F07 and v.current_path == h("3F00")


@pytest.mark.parametrize(
    "header, data, sw",
    [
        ("00 A4 00 00 02", "3F 00", 0x6E00),  # CLA 00
        ("A0 A4 04 00 02", "3F 00", 0x6B00),  # P1 != 0
        ("A0 A4 00 00 03", "3F 00 01", 0x6700),  # not a FID
        ("A0 A4 00 00 02", "40 99", 0x9404),  # unknown FID
        ("A0 B0 00 00 01", "", 0x9408),  # no EF selected
        ("A0 D6 00 00 01", "00", 0x6D00),  # UPDATE BINARY not supported
        ("A0 20 00 02 08", "31 32 33 34 FF FF FF FF", 0x6B00),  # only CHV1
        ("A0 20 00 01 04", "31 32 33 34", 0x6700),  # PIN field is 8 bytes
    ],
)
def test_error_status_words(header: str, data: str, sw: int) -> None:
    assert apdu(volet(pin=b"1234"), header, data).sw == sw


def test_read_binary_offsets_and_lengths() -> None:
    v = volet()
    select(v, "40 01")
    assert apdu(v, "A0 B0 00 00 15").data == ID_FILE
    assert apdu(v, "A0 B0 00 09 04").data == ID_FILE[9:13]
    assert apdu(v, "A0 B0 00 10 09").sw == 0x6C05  # past the end: the bytes left
    assert apdu(v, "A0 B0 00 15 01").sw == 0x9402  # offset at the end
    assert apdu(v, "A0 B0 01 00 01").sw == 0x9402


def test_protected_files_need_the_pin() -> None:
    v = volet(pin=b"1234", pin_tries_left=3)
    select(v, "40 10")
    assert apdu(v, "A0 B0 00 00 10").sw == 0x9804
    assert apdu(v, "A0 20 00 01 08", "31 31 31 31 FF FF FF FF").sw == 0x9804
    assert v.pin_tries_left == 2 and not v.pin_verified
    assert apdu(v, "A0 20 00 01 08", CPS2terVolet.pin_field(b"1234").hex()).sw == 0x9000
    assert v.pin_tries_left == 2  # and reads now work:
    select(v, "40 10")
    assert apdu(v, "A0 B0 00 00 00").sw == 0x6CC8  # Le 00 = 256 > 200 bytes
    assert apdu(v, "A0 B0 00 00 C8").data == SIT_FILE
    v.reset()
    assert not v.pin_verified and v.current_path == h("3F00")
    select(v, "40 10")
    assert apdu(v, "A0 B0 00 00 10").sw == 0x9804


def test_pin_blocks_after_the_last_try() -> None:
    v = volet(pin=b"1234", pin_tries_left=2)
    wrong = "39 39 39 39 FF FF FF FF"
    assert apdu(v, "A0 20 00 01 08", wrong).sw == 0x9804
    assert apdu(v, "A0 20 00 01 08", wrong).sw == 0x9840
    assert apdu(v, "A0 20 00 01 08", CPS2terVolet.pin_field(b"1234").hex()).sw == 0x9840
    select(v, "40 10")
    assert apdu(v, "A0 B0 00 00 10").sw == 0x9840
    select(v, "40 01")
    assert apdu(v, "A0 B0 00 00 02").data == ID_FILE[:2]  # identification data stay free


def test_no_pin_and_external_pin_state() -> None:
    v = volet()
    select(v, "40 10")
    assert apdu(v, "A0 B0 00 00 10").sw == 0x9802
    state = {"ok": False}
    shared = volet(pin_verified=lambda: state["ok"])
    select(shared, "40 10")
    assert apdu(shared, "A0 B0 00 00 10").sw == 0x9804
    state["ok"] = True
    assert apdu(shared, "A0 B0 00 00 10").data == SIT_FILE[:16]


def test_constructor_checks_paths_and_hides_the_pin() -> None:
    with pytest.raises(ValueError):
        CPS2terVolet({h("4010"): b""})
    with pytest.raises(ValueError):
        CPS2terVolet({h("3F00 4010"): b"", h("3F00 4010 0001"): b""})
    with pytest.raises(ValueError, match="protected"):
        CPS2terVolet(FILES, protected=(h("3F00 4011"),))
    assert "1234" not in repr(volet(pin=b"1234"))


def test_profile_volet_serves_the_encoded_files() -> None:
    profile = get_profile("doctor")
    v = make_volet(profile)
    files = volet_files(profile)
    select(v, "40 11")
    size = len(files[h("3F00 4011")])
    assert apdu(v, "A0 C0 00 00 07").data == fci(size, 0x4011, 0x04)
    assert apdu(v, "A0 20 00 01 08", CPS2terVolet.pin_field(profile.pin).hex()).sw == 0x9000
    select(v, "40 11")
    assert apdu(v, f"A0 B0 00 00 {size:02X}").data == files[h("3F00 4011")]
    assert select(v, "40 13").sw == 0x9404  # doctor has situations 1..3 only


# -- over T=0 through a VirtualCard ---------------------------------------------------------------

# CPS3 contact ATR (FACT §3.1): T=0, no TA1.
CPS3_ATR = h("3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00")


def test_round_trip_over_t0() -> None:
    profile = get_profile("sparse")
    v = make_volet(profile)
    card = VirtualCard(CPS3_ATR, behaviour=T0Behaviour(v.handle, outgoing_ins=VOLET_OUTGOING_INS))
    port = SimCardPort(card)
    assert power_up(port).data == CPS3_ATR
    files = volet_files(profile)

    assert transmit_t0(port, h("A0 A4 00 00 02"), h("3F 00")) == (b"", 0x9F07)
    assert transmit_t0(port, h("A0 C0 00 00 07")) == (h("85 05 00 00 3F 00 01"), 0x9000)

    name = files[h("3F00 4002")]
    assert transmit_t0(port, h("A0 A4 00 00 02"), h("40 02")) == (b"", 0x9F07)
    fci_data, sw = transmit_t0(port, h("A0 C0 00 00 07"))
    assert sw == 0x9000 and fci_data == fci(len(name), 0x4002, 0x04)
    assert transmit_t0(port, h("A0 B0 00 00") + bytes((len(name),))) == (name, 0x9000)

    # situation 16 (401F) is PIN-protected: VERIFY (case 3) then read it in two parts
    sit = files[h("3F00 401F")]
    assert transmit_t0(port, h("A0 A4 00 00 02"), h("40 1F")) == (b"", 0x9F07)
    assert transmit_t0(port, h("A0 B0 00 00 10")) == (b"", 0x9804)
    assert transmit_t0(port, h("A0 20 00 01 08"), CPS2terVolet.pin_field(b"1234")) == (b"", 0x9000)
    first, sw1 = transmit_t0(port, h("A0 B0 00 00 40"))
    rest_len = len(sit) - 0x40
    rest, sw2 = transmit_t0(port, h("A0 B0 00 40") + bytes((rest_len,)))
    assert (sw1, sw2) == (0x9000, 0x9000) and first + rest == sit
    assert transmit_t0(port, h("A0 B0 00 40") + bytes((rest_len + 1,))) == (b"", 0x6C00 | rest_len)

    # the billing situation through the DF
    billing = files[h("3F00 7F01 4000")]
    assert transmit_t0(port, h("A0 A4 00 00 02"), h("7F 01"))[1] == 0x9F07
    assert transmit_t0(port, h("A0 A4 00 00 02"), h("40 00"))[1] == 0x9F07
    assert transmit_t0(port, h("A0 C0 00 00 07"))[0] == fci(len(billing), 0x4000, 0x04)
    assert transmit_t0(port, h("A0 B0 00 00") + bytes((len(billing),))) == (billing, 0x9000)
    # the card saw the volet's own status words (no 61xx from T0Behaviour)
    headers = [cmd[0][:2] for cmd in card.behaviour.commands]  # type: ignore[attr-defined]
    assert headers.count(h("A0 C0")) == 3


def test_select_by_aid_on_cps4() -> None:
    v = make_volet(get_profile("pharmacist"))
    assert v.aid == h("80 25 00 00 01 FF 00 02")
    select(v, "40 01")
    assert apdu(v, "00 A4 04 0C 08", "80 25 00 00 01 FF 00 02") == CardResponse()
    assert v.current_path == h("3F00")
    assert apdu(v, "00 A4 04 0C 08", "80 25 00 00 01 FF 01 00").sw == 0x6A82
    assert apdu(v, "00 A4 04 04 08", "80 25 00 00 01 FF 00 02").sw == 0x6A86
    assert apdu(v, "00 B0 00 00 01").sw == 0x6E00
    cps3 = make_volet(get_profile("doctor"))
    assert cps3.aid is None
    assert apdu(cps3, "00 A4 04 0C 08", "80 25 00 00 01 FF 00 02").sw == 0x6E00
