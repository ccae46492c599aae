"""The virtual CPS4: ChipDoc on logical channel 1, the CPS2ter applet on the basic channel,
PIN / CHANGE / UNBLOCK, MSE tag 91 algorithms with PSO CDS (PKCS#1 v1.5 and PSS), raw RSA
decipher with key 0x20, 69 85 on a lost channel 1 and the recovery sequence (cps-cards.md
§7.4), at handler level and through the firmware Slot in T=1 and T=0 (both ATRs)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim.cps.cards import CPS4_ATR, CPS4_T0_ATR, make_cps4_card
from cpsdi_boards.sim.cps.cps2ter import CPS2terVolet
from cpsdi_boards.sim.cps.cps4 import CHIPDOC_AID, CPS2TER_AID, ISD_AID, CPS4Application
from cpsdi_boards.sim.cps.pkcs1 import DIGEST_INFO_PREFIX, pad_type1
from cpsdi_boards.sim.virtual_card import CardResponse
from cpsdi_fw.slot import Slot

from _cps_keys import key_and_cert, public_key_of

H = bytes.fromhex
SERIAL = H("5A 0A 80 25 00 00 01 31 00 60 37 46")
SELECT_CHIPDOC = H("01 A4 04 0C 08") + CHIPDOC_AID
SELECT_ISD_CH1 = H("01 A4 04 0C 07") + ISD_AID
SELECT_CPS2TER = H("00 A4 04 0C 08") + CPS2TER_AID


class FakeVolet:
    """Stands in for the CPS2ter volet: records what reaches it."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.resets = 0

    def handle(self, header: bytes, data: bytes) -> CardResponse:
        self.seen.append(header + data)
        return CardResponse(data=b"\x85\x05\x00\x00\x3f\x00\x01" if header[1] == 0xC0 else b"", sw=0x9000)

    def reset(self) -> None:
        self.resets += 1


def make_app(volet: FakeVolet | None = None, **kw: object) -> CPS4Application:
    auth_key, auth_cert = key_and_cert("CPS4 auth")
    sign_key, sign_cert = key_and_cert("CPS4 sign")
    return CPS4Application(serial=SERIAL, auth_key=auth_key, sign_key=sign_key, auth_cert=auth_cert,
                           sign_cert=sign_cert, data_objects={"CPS_ID_CARD": H("30 00")}, pin=b"1234",
                           unblock_code=b"12345678", cps2ter=volet.handle if volet else None,
                           **kw)  # type: ignore[arg-type]


def run(app: CPS4Application, apdu: bytes | str, data: bytes = b"") -> tuple[bytes, int]:
    raw = (H(apdu) if isinstance(apdu, str) else apdu) + data
    resp = app.handle(raw[:5], raw[5:])
    return resp.data, resp.sw


def sw(app: CPS4Application, apdu: bytes | str, data: bytes = b"") -> int:
    return run(app, apdu, data)[1]


def ready(app: CPS4Application, verify: bool = True) -> None:
    assert sw(app, SELECT_CHIPDOC) == 0x9000
    if verify:
        assert sw(app, "01 20 00 01 04", b"1234") == 0x9000


# -- PIN ---------------------------------------------------------------------------------------------

def test_pin_status_block_change_and_unblock() -> None:
    app = make_app()
    ready(app, verify=False)
    assert sw(app, "01 20 00 01") == 0x63C3
    assert sw(app, "01 24 01 01 04", b"5678") == 0x6982  # CHANGE P1 = 01 needs a VERIFY first
    assert sw(app, "01 20 00 01 04", b"1234") == 0x9000
    assert sw(app, "01 24 01 01 04", b"5678") == 0x9000
    assert [sw(app, "01 20 00 01 04", b"0000") for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    assert sw(app, "01 20 00 01") == 0x6983
    assert sw(app, "01 20 00 01 04", b"5678") == 0x6983
    # UNBLOCK: the unblock code verified, then 01 2C 03 ref|80 (no data), then CHANGE
    assert sw(app, "01 2C 03 81") == 0x6982
    assert sw(app, "01 20 00 02 08", b"12345678") == 0x9000
    assert sw(app, "01 2C 03 81") == 0x9000
    assert sw(app, "01 24 01 01 04", b"2468") == 0x9000
    assert sw(app, "01 20 00 01") == 0x9000
    app.reset()
    assert sw(app, "01 20 00 01") == 0x6985  # channel 1 closed by the reset
    ready(app, verify=False)
    assert sw(app, "01 20 00 01 04", b"2468") == 0x9000


# -- signature and authentication --------------------------------------------------------------------

@pytest.mark.parametrize("alg,name,pss", [(0x0A, "sha1", False), (0x15, "sha1", True),
                                          (0x28, "sha256", False), (0x2C, "sha256", True)])
def test_sign_with_tag_91_algorithms(alg: int, name: str, pss: bool) -> None:
    app = make_app()
    ready(app)
    digest = hashlib.new(name, b"document").digest()
    h: hashes.HashAlgorithm = hashes.SHA1() if name == "sha1" else hashes.SHA256()
    assert sw(app, H("01 22 81 B6 04 91 02") + bytes((alg, 0x81))) == 0x9000
    out, status = run(app, H("01 2A 9E 9A") + bytes((len(digest),)) + digest)
    assert status == 0x9000 and len(out) == 256
    pad: padding.AsymmetricPadding = (padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
                                      if pss else padding.PKCS1v15())
    public_key_of(key_and_cert("CPS4 sign")[1]).verify(out, digest, pad, utils.Prehashed(h))
    # PSS with the authentication key (A7: signature path with key 0x20|0x80)
    assert sw(app, H("01 22 81 B6 04 91 02") + bytes((alg, 0xA0))) == 0x9000
    out, status = run(app, H("01 2A 9E 9A") + bytes((len(digest),)) + digest)
    assert status == 0x9000
    public_key_of(key_and_cert("CPS4 auth")[1]).verify(out, digest, pad, utils.Prehashed(h))


def test_sign_refusals() -> None:
    app = make_app()
    ready(app, verify=False)
    assert sw(app, "01 2A 9E 9A 14", bytes(20)) == 0x6985  # no MSE
    assert sw(app, "01 22 81 B6 04 91 02 29 81") == 0x6A80  # SHA-384 PSS: "not implemented"
    assert sw(app, "01 22 81 B6 04 91 02 28 85") == 0x6A88
    assert sw(app, "01 22 81 B6 04 91 02 28 81") == 0x9000
    assert sw(app, "01 2A 9E 9A 20", bytes(32)) == 0x6982  # PIN
    assert sw(app, "01 20 00 01 04", b"1234") == 0x9000
    assert sw(app, "01 2A 9E 9A 14", bytes(20)) == 0x6A80  # SHA-1 length for a SHA-256 algorithm


def test_client_authentication_is_raw_decipher_with_key_0x20() -> None:
    app = make_app()
    ready(app)
    digest = hashlib.sha256(b"TLS handshake").digest()
    block = pad_type1(DIGEST_INFO_PREFIX["sha256"] + digest, 256)
    assert sw(app, "01 22 41 B8 03 83 01 20") == 0x9000
    assert sw(app, H("11 2A 80 86 80") + block[:128]) == 0x9000  # command chaining, CLA 11
    out, status = run(app, H("01 2A 80 86 80") + block[128:])
    assert status == 0x9000
    public_key_of(key_and_cert("CPS4 auth")[1]).verify(out, digest, padding.PKCS1v15(),
                                                       utils.Prehashed(hashes.SHA256()))
    assert sw(app, "01 22 41 B8 03 83 01 01") == 0x6A88  # only key 0x20 deciphers
    assert sw(app, H("01 2A 80 86 10") + bytes(16)) == 0x6700
    # a real decryption: the host unpads the raw result
    secret = b"premaster"
    ct = public_key_of(key_and_cert("CPS4 auth")[1]).encrypt(secret, padding.PKCS1v15())
    assert sw(app, H("11 2A 80 86 80") + ct[:128]) == 0x9000
    raw, status = run(app, H("01 2A 80 86 80") + ct[128:])
    assert status == 0x9000 and raw[:2] == b"\x00\x02" and raw.endswith(b"\x00" + secret)


# -- channels ------------------------------------------------------------------------------------------

def test_channel_1_lost_then_the_three_step_recovery() -> None:
    volet = FakeVolet()
    app = make_app(volet)
    ready(app)
    assert run(app, "01 A4 09 0C 04 3F 00 D0 03")[1] == 0x9000
    assert run(app, "01 B0 00 00 0C") == (SERIAL, 0x9000)
    # an IAS-style stack selects ChipDoc on the basic channel: channel 1 is lost
    assert sw(app, H("00 A4 04 0C 08") + CHIPDOC_AID) == 0x9000
    assert sw(app, "01 20 00 01") == 0x6985
    assert sw(app, "01 B0 00 00 0C") == 0x6985
    assert sw(app, SELECT_CHIPDOC) == 0x6985  # still active on the basic channel
    assert sw(app, "A0 A4 00 00 02 3F 00") == 0x6E00  # no CPS2ter on the basic channel now
    # recovery (FACT A4): ISD on channel 1, CPS2ter on the basic channel, ChipDoc on channel 1
    assert sw(app, SELECT_ISD_CH1) == 0x9000
    assert sw(app, SELECT_CPS2TER) == 0x9000
    assert sw(app, SELECT_CHIPDOC) == 0x9000
    assert sw(app, "01 20 00 01") == 0x63C3  # a fresh selection: the PIN must be presented again
    assert sw(app, "01 20 00 01 04", b"1234") == 0x9000
    assert sw(app, "A0 A4 00 00 02 3F 00") == 0x9000
    assert volet.seen[-1] == H("A0 A4 00 00 02 3F 00") and SELECT_CPS2TER in volet.seen


def test_basic_channel_routing_and_manage_channel() -> None:
    volet = FakeVolet()
    app = make_app(volet)
    assert volet.resets == 1
    assert sw(app, "A0 A4 00 00 02 3F 00") == 0x9000  # CPS2ter selected at power-on (GUESS)
    assert sw(app, "00 B0 00 00 04") == 0x9000 and volet.seen[-1] == H("00 B0 00 00 04")
    assert sw(app, "80 CA 00 00 00") == 0x6E00
    assert sw(app, "02 20 00 01") == 0x6985  # channel 2 not open
    assert sw(app, "44 20 00 01") == 0x6881  # channel 8: not on this card
    assert run(app, "00 70 00 00 01") == (b"\x01", 0x9000)
    assert sw(app, "01 20 00 01") == 0x6985  # open, nothing selected
    assert sw(app, SELECT_CHIPDOC) == 0x9000
    assert app.chipdoc_channel() == 1
    assert sw(app, "00 70 80 01 00") == 0x9000
    assert app.chipdoc_channel() is None
    assert sw(app, H("01 A4 04 0C 08") + CPS2TER_AID) == 0x6985  # CPS2ter: basic channel only
    assert sw(app, H("01 A4 04 0C 05 A0 00 00 00 99")) == 0x6A82
    app_no_volet = make_app()
    assert sw(app_no_volet, "A0 A4 00 00 02 3F 00") == 0x6E00
    assert sw(app_no_volet, "00 B0 00 00 04") == 0x6D00


def test_with_the_cps2ter_volet_sharing_the_pin_state() -> None:
    holder: list[CPS4Application] = []
    volet = CPS2terVolet({H("3F00 4010"): b"situation 1"}, protected=[H("3F00 4010")], aid=CPS2TER_AID,
                         pin_verified=lambda: holder[0].chipdoc.pin.verified)
    auth_key, auth_cert = key_and_cert("CPS4 auth")
    sign_key, sign_cert = key_and_cert("CPS4 sign")
    app = CPS4Application(serial=SERIAL, auth_key=auth_key, sign_key=sign_key, auth_cert=auth_cert,
                          sign_cert=sign_cert, data_objects={}, pin=b"1234", unblock_code=b"12345678",
                          cps2ter=volet.handle)
    holder.append(app)
    assert sw(app, SELECT_CPS2TER) == 0x9000
    ready(app)
    assert sw(app, "A0 A4 00 00 02 40 10") >> 8 == 0x9F


# -- through the firmware Slot -------------------------------------------------------------------------

def _transmit(slot: Slot, apdu: bytes) -> bytes:
    resp = bytearray(600)
    n = slot.transmit_apdu(bytearray(apdu), len(apdu), resp, len(resp))
    assert n >= 2, f"transmit failed {-n:02X}"
    return bytes(resp[:n])


@pytest.mark.parametrize("t0_only", [False, True], ids=["t1", "t0-only"])
def test_slot_session(t0_only: bool) -> None:
    app = make_app()
    card = make_cps4_card(app, t0_only=t0_only)
    port = SimCardPort(card)
    slot = Slot(port)
    assert slot.power_on() == 0
    assert bytes(slot.atr()) == (CPS4_T0_ATR if t0_only else CPS4_ATR)
    assert slot.protocol() == (0 if t0_only else 1)
    assert port.fd == (372, 12)  # TA1 = 18 negotiated
    if not t0_only:
        assert slot.t1.ifsc == 32 and not slot.decision.edc_crc
    assert _transmit(slot, SELECT_CHIPDOC) == H("90 00")
    assert _transmit(slot, H("01 A4 09 0C 04 3F 00 D0 03")) == H("90 00")
    assert _transmit(slot, H("01 B0 00 00 0C")) == SERIAL + H("90 00")
    assert _transmit(slot, H("01 20 00 01")) == H("63 C3")
    assert _transmit(slot, H("01 20 00 01 04") + b"1234") == H("90 00")
    digest = hashlib.sha256(b"over the wire").digest()
    assert _transmit(slot, H("01 22 81 B6 04 91 02 2C 81")) == H("90 00")
    out = _transmit(slot, H("01 2A 9E 9A 20") + digest + b"\x00")
    assert out[-2:] == H("90 00") and len(out) == 258
    h = hashes.SHA256()
    public_key_of(key_and_cert("CPS4 sign")[1]).verify(
        out[:-2], digest, padding.PSS(mgf=padding.MGF1(h), salt_length=32), utils.Prehashed(h))
    # a warm reset closes channel 1: 69 85, and the recovery works on the wire too
    assert slot.power_off() is None and slot.power_on() == 0
    assert _transmit(slot, H("01 20 00 01")) == H("69 85")
    for apdu in (SELECT_ISD_CH1, SELECT_CPS2TER, SELECT_CHIPDOC):
        assert _transmit(slot, apdu) == H("90 00")
    assert _transmit(slot, H("01 20 00 01")) == H("63 C3")
