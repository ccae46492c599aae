"""The public CPS3 replay corpus (cps-cards.md §13) against the virtual CPS3, TPDU by TPDU
through the card's own T=0 side (VirtualCard + T0Behaviour on a SimCardPort), 61xx and
GET RESPONSE included; plus the same card driven by the firmware Slot at APDU level."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from cpsdi_boards.sim import SimCardPort, VirtualCard
from cpsdi_boards.sim.cps.cards import CPS3_ATR, make_cps3_card
from cpsdi_boards.sim.cps.cps3 import EF_ATR_CONTENT, CPS3Application
from cpsdi_fw.slot import Slot

from _cps_keys import key_and_cert, public_key_of
from _simreader import power_up, transmit_t0

H = bytes.fromhex
SERIAL = H("5A 0A 80 25 00 00 01 99 21 38 45 0F")  # FACT §13 row 7
FCP_2F01 = H("62 25 80 02 00 39 82 01 01 83 02 2F 01 88 01 E8 A1 12 8C 07 7B 45 FF FF FF 45 00"
             " 9C 07 7B FF FF FF FF FF 00 8A 01 05")
FCP_2F00 = H("62 25 80 02 00 65 82 01 01 83 02 2F 00 88 01 F0 A1 12 8C 07 7B 45 FF FF FF 45 00"
             " 9C 07 7B FF FF FF FF FF 00 8A 01 05")
FCP_D003 = H("62 25 80 02 00 0C 82 01 01 83 02 D0 03 88 01 E0 A1 12 8C 07 7B FF FF FF FF FF 00"
             " 9C 07 7B FF FF FF FF FF 00 8A 01 05")
CHV1_DOCP = H("70 16 BF 81 01 12 A0 10 9A 01 03 9B 01 03 A1 08 8C 06 F3 00 00 13 FF 00")


def make_app() -> CPS3Application:
    auth_key, auth_cert = key_and_cert("CPS3 auth")
    sign_key, sign_cert = key_and_cert("CPS3 sign")
    return CPS3Application(serial=SERIAL, auth_key=auth_key, sign_key=sign_key, auth_cert=auth_cert,
                           sign_cert=sign_cert, data_objects={"CPS_ID_CARD": H("30 03 02 01 01")},
                           pin=b"1234", unblock_code=b"12345678")


@pytest.fixture
def session() -> tuple[CPS3Application, VirtualCard, SimCardPort]:
    app = make_app()
    card = make_cps3_card(app)
    port = SimCardPort(card)
    assert power_up(port).data == CPS3_ATR
    return app, card, port


def tpdu(port: SimCardPort, command: bytes) -> bytes:
    """One TPDU: header (+ data for case 3); returns response data + SW."""
    header, data = command[:5], command[5:]
    out, sw = transmit_t0(port, header, data)
    return out + sw.to_bytes(2, "big")


def test_rows_1_to_9_discovery_and_reads(session: tuple[CPS3Application, VirtualCard, SimCardPort]) -> None:
    _, card, port = session
    script = [
        ("00 A4 00 0C 02 3F 00", "90 00"),                                  # 1
        ("00 A4 09 04 02 2F 01", "61 27"),                                  # 2
        ("00 C0 00 00 27", FCP_2F01.hex() + "90 00"),
        ("00 B0 00 00 39", EF_ATR_CONTENT.hex() + "90 00"),                 # 3
        ("00 A4 04 00 08 80 25 00 00 01 FF 01 00", "90 00"),                # 4
        ("00 A4 09 04 02 2F 00", "61 27"),                                  # 5
        ("00 C0 00 00 27", FCP_2F00.hex() + "90 00"),
        ("00 A4 09 04 04 3F 00 D0 03", "61 27"),                            # 6
        ("00 C0 00 00 27", FCP_D003.hex() + "90 00"),
        ("00 B0 00 00 0C", "5A 0A 80 25 00 00 01 99 21 38 45 0F 90 00"),    # 7
        ("00 A4 09 04 04 3F 00 D0 10", "6A 82"),                            # 8
        ("00 A4 09 0C 04 3F 00 00 01", "90 00"),                            # 9
        ("00 A4 09 0C 02 3F 00", "90 00"),
    ]
    for command, response in script:
        assert tpdu(port, H(command)) == H(response), command
    # the exact first content byte of EF.ATR is the CPx quirk (§5.2)
    assert EF_ATR_CONTENT[0] == 0x80 and len(EF_ATR_CONTENT) == 0x39


def test_row_10_chv1_docp(session: tuple[CPS3Application, VirtualCard, SimCardPort]) -> None:
    _, _, port = session
    assert tpdu(port, H("00 A4 09 0C 02 3F 00")) == H("90 00")
    assert tpdu(port, H("00 CB 3F FF 0A 4D 08 70 06 BF 81 01 02 A0 80")) == H("61 18")
    assert tpdu(port, H("00 C0 00 00 18")) == CHV1_DOCP + H("90 00")


def test_row_11_se_get_data_needs_the_mf(session: tuple[CPS3Application, VirtualCard, SimCardPort]) -> None:
    _, _, port = session
    get_se5 = H("00 CB 3F FF 0A 4D 08 70 06 BF FB 05 02 7B 80")
    assert tpdu(port, H("00 A4 09 0C 04 3F 00 00 02")) == H("90 00")  # DF 0002 current
    assert tpdu(port, get_se5) == H("6A 88")
    first = tpdu(port, H("00 A4 09 04 02 3F 00"))
    assert first[0] == 0x61
    assert tpdu(port, H("00 C0 00 00") + first[1:]).endswith(H("90 00"))
    answer = tpdu(port, get_se5)
    assert answer[0] == 0x61
    assert tpdu(port, H("00 C0 00 00") + answer[1:]).endswith(H("90 00"))


@pytest.mark.parametrize("openSC_order", [False, True])
def test_row_12_signature_61_00_then_e7_and_19(session: tuple[CPS3Application, VirtualCard, SimCardPort],
                                               openSC_order: bool) -> None:
    app, _, port = session
    message = b"corpus row 12: 20 b."  # 20 bytes: whole message in tag 80, tag 90 empty
    assert len(message) == 20
    hash_cmd = H("00 2A 90 A0 18 90 00 80 14") + message
    ht = H("00 22 41 AA 03 80 01 10")
    dst = H("00 22 41 B6 06 84 01 81 80 01 12") if openSC_order else H("00 22 41 B6 06 80 01 12 84 01 81")
    assert tpdu(port, H("00 A4 09 0C 04 3F 00 00 01")) == H("90 00")
    assert tpdu(port, H("00 20 00 01 04") + b"1234") == H("90 00")
    order = [ht, dst, hash_cmd] if openSC_order else [ht, hash_cmd, dst]
    for command in order:
        assert tpdu(port, command) == H("90 00")
    assert tpdu(port, H("00 2A 9E 9A 00")) == H("61 00")
    part1 = tpdu(port, H("00 C0 00 00 E7"))
    assert len(part1) == 231 + 2 and part1[-2:] == H("61 19")
    part2 = tpdu(port, H("00 C0 00 00 19"))
    assert len(part2) == 25 + 2 and part2[-2:] == H("90 00")
    signature = part1[:-2] + part2[:-2]
    public_key_of(key_and_cert("CPS3 sign")[1]).verify(
        signature, hashlib.sha1(message).digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))


def test_rows_13_to_15_select_rules(session: tuple[CPS3Application, VirtualCard, SimCardPort]) -> None:
    _, _, port = session
    script = [
        ("00 A4 04 00 0D E8 28 BD 08 0F 80 25 00 00 01 FF 00 10", "6A 86"),  # 13
        ("00 A4 04 0C 0D E8 28 BD 08 0F 80 25 00 00 01 FF 00 10", "90 00"),
        ("00 A4 02 00 02 A0 01", "6A 86"),                                    # 14
        ("00 A4 09 04 02 2F 00", "6A 82"),                                    # 15: DF 0001 current
        ("00 A4 09 0C 02 3F 00", "90 00"),
        ("00 A4 09 04 02 2F 00", "61 27"),                                    # from the MF: found
    ]
    for command, response in script:
        assert tpdu(port, H(command)) == H(response), command


def test_slot_reads_ef_sn_and_signs_at_apdu_level() -> None:
    app = make_app()
    card = make_cps3_card(app)
    slot = Slot(SimCardPort(card))
    assert slot.power_on() == 0
    assert bytes(slot.atr()) == CPS3_ATR and slot.protocol() == 0

    def transmit(apdu: bytes) -> bytes:
        resp = bytearray(300)
        n = slot.transmit_apdu(bytearray(apdu), len(apdu), resp, len(resp))
        assert n >= 2, f"transmit failed {-n:02X}"
        return bytes(resp[:n])

    assert transmit(H("00 A4 09 04 04 3F 00 D0 03 00")) == FCP_D003 + H("90 00")  # case 4
    assert transmit(H("00 B0 00 00 0C")) == SERIAL + H("90 00")
    assert transmit(H("00 A4 09 0C 04 3F 00 00 01")) == H("90 00")
    assert transmit(H("00 20 00 01 04") + b"1234") == H("90 00")
    message = bytes(range(256)) * 3 + b"tail"
    digest = hashlib.sha256(message).digest()
    from cpsdi.cps.sha_state import SHA256, intermediate
    state, bits, last = intermediate(SHA256, message)
    body = b"\x90\x28" + state + bits.to_bytes(8, "big") + b"\x80" + bytes((len(last),)) + last
    for apdu in (H("00 22 41 AA 03 80 01 40"), H("00 2A 90 A0") + bytes((len(body),)) + body,
                 H("00 22 41 B6 06 80 01 42 84 01 81")):
        assert transmit(apdu) == H("90 00")
    out = transmit(H("00 2A 9E 9A 00"))
    assert out[-2:] == H("90 00") and len(out) == 258
    public_key_of(key_and_cert("CPS3 sign")[1]).verify(
        out[:-2], digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def test_t0_authentication_and_chained_decipher(session: tuple[CPS3Application, VirtualCard, SimCardPort]) -> None:
    _, card, port = session
    pub = public_key_of(key_and_cert("CPS3 auth")[1])
    for command in ("00 A4 09 0C 04 3F 00 00 01", "00 20 00 01 04 31 32 33 34", "00 22 41 A4 06 80 01 02 84 01 82"):
        assert tpdu(port, H(command)) == H("90 00")
    from cpsdi_boards.sim.cps.pkcs1 import DIGEST_INFO_PREFIX
    digest = hashlib.sha1(b"challenge").digest()
    digest_info = DIGEST_INFO_PREFIX["sha1"] + digest
    assert tpdu(port, H("00 88 00 00") + bytes((len(digest_info),)) + digest_info) == H("61 00")
    out = tpdu(port, H("00 C0 00 00 00"))
    assert out[-2:] == H("90 00")
    pub.verify(out[:-2], digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
    # PSO DECIPHER: 1 + 256 bytes in two chained TPDUs (CLA 10 first)
    secret = b"0123456789abcdef"
    cryptogram = b"\x81" + pub.encrypt(secret, padding.PKCS1v15())
    assert tpdu(port, H("00 22 41 B8 06 84 01 82 80 01 1A")) == H("90 00")
    assert tpdu(port, H("10 2A 80 86 FF") + cryptogram[:255]) == H("90 00")
    assert tpdu(port, H("00 2A 80 86 02") + cryptogram[255:]) == H("61 10")
    assert tpdu(port, H("00 C0 00 00 10")) == secret + H("90 00")
    assert tpdu(port, H("00 C0 00 00 10")) == H("69 85")  # nothing pending any more (GUESS SW)


def test_ef_actua_present_when_given() -> None:
    auth_key, auth_cert = key_and_cert("CPS3 auth")
    sign_key, sign_cert = key_and_cert("CPS3 sign")
    actua = H("EC 12 81 07 20 24 01 02 03 04 05 82 07 20 34 01 02 03 04 05")
    app = CPS3Application(serial=SERIAL, auth_key=auth_key, sign_key=sign_key, auth_cert=auth_cert,
                          sign_cert=sign_cert, data_objects={}, pin=b"1234", unblock_code=b"12345678",
                          actua=actua)
    card = make_cps3_card(app)
    port = SimCardPort(card)
    assert power_up(port).data == CPS3_ATR
    assert tpdu(port, H("00 A4 09 04 04 3F 00 D0 10")) == H("61 26")  # FCP without SFI: 88 00
    assert tpdu(port, H("00 C0 00 00 26"))[:18] == H("62 24 80 02 00 14 82 01 01 83 02 D0 10 88 00 A1 12 8C")
    assert tpdu(port, H("00 B0 00 00 14")) == actua + H("90 00")
    assert tpdu(port, H("00 B0 00 00 15")) == H("6C 14")  # T=0 wrong Le


@pytest.mark.parametrize("processing_etu", [9_000, 35_000])
def test_slow_signature_within_the_cps3_work_waiting_time(processing_etu: int) -> None:
    # TC2 = 2A: WT = 960 x 42 = 40 320 etu; a 35 000-etu RSA operation fits without NULLs
    app = make_app()
    app.rsa_processing_etu = processing_etu
    card = make_cps3_card(app)
    slot = Slot(SimCardPort(card))
    assert slot.power_on() == 0
    resp = bytearray(300)
    for apdu in (H("00 A4 09 0C 04 3F 00 00 01"), H("00 20 00 01 04") + b"1234", H("00 22 41 AA 03 80 01 10"),
                 H("00 2A 90 A0 05 90 00 80 01 41"), H("00 22 41 B6 06 80 01 12 84 01 81"), H("00 2A 9E 9A 00")):
        n = slot.transmit_apdu(bytearray(apdu), len(apdu), resp, len(resp))
        assert n >= 2 and resp[n - 2:n] == H("90 00"), (apdu.hex(), n)
    assert n == 258
    public_key_of(key_and_cert("CPS3 sign")[1]).verify(
        bytes(resp[:256]), hashlib.sha1(b"A").digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
