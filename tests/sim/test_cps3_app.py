"""The virtual CPS3 application driven directly (handler level): PIN counters, blocking and
unblocking, signatures in both command orders, partial hashing, INTERNAL AUTHENTICATE, PSO
DECIPHER with chaining, GET DATA on SDOs, PKCS#15 files (quirky and clean), security
conditions (cps-cards.md §5-§7)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from cpsdi_boards.sim.cps.cps3 import CPS3Application, data_object_fid
from cpsdi_boards.sim.cps.der import parse_tlvs
from cpsdi_boards.sim.cps.pkcs1 import DIGEST_INFO_PREFIX
from cpsdi.cps.sha_state import SHA1, SHA256, HashAlgorithm, intermediate

from _cps_keys import key_and_cert, public_key_of

H = bytes.fromhex
SERIAL = H("5A 0A 80 25 00 00 01 99 21 38 45 0F")
ACTIVITY = H("30 06 0C 04 73 69 74 31")
ID_CARD = H("30 03 02 01 07")


def make_app(quirks: bool = True, **kw: object) -> CPS3Application:
    auth_key, auth_cert = key_and_cert("CPS3 auth")
    sign_key, sign_cert = key_and_cert("CPS3 sign")
    return CPS3Application(serial=SERIAL, auth_key=auth_key, sign_key=sign_key, auth_cert=auth_cert,
                           sign_cert=sign_cert, pin=b"1234", unblock_code=b"12345678", quirks=quirks,
                           data_objects={"CPS_ID_CARD": ID_CARD, "CPS_ACTIVITY_01_PS": ACTIVITY,
                                         "CPS_DATA": bytes(8)}, **kw)  # type: ignore[arg-type]


def run(app: CPS3Application, apdu: bytes | str, data: bytes = b"") -> tuple[bytes, int]:
    """Send ``apdu`` (5-byte header + data) straight to the handler."""
    raw = (H(apdu) if isinstance(apdu, str) else apdu) + data
    resp = app.handle(raw[:5], raw[5:])
    return resp.data, resp.sw


def sw(app: CPS3Application, apdu: bytes | str, data: bytes = b"") -> int:
    return run(app, apdu, data)[1]


def read_file(app: CPS3Application, path: bytes) -> bytes:
    assert sw(app, bytes((0, 0xA4, 0x09, 0x0C, len(path))) + path) == 0x9000
    out = b""
    while True:
        data, status = run(app, bytes((0, 0xB0, len(out) >> 8, len(out) & 0xFF, 0xE7)))
        out += data
        if status != 0x9000:
            assert status == 0x6282
            return out


def verify_pin(app: CPS3Application, pin: bytes = b"1234", ref: int = 1) -> int:
    return sw(app, bytes((0, 0x20, 0, ref, len(pin))) + pin)


def chv_docp(app: CPS3Application, ref: int) -> bytes:
    assert sw(app, "00 A4 09 0C 02 3F 00") == 0x9000
    data, status = run(app, "00 CB 3F FF 0A 4D 08 70 06 BF 81" + "%02X" % ref + "02 A0 80")
    assert status == 0x9000
    return data


# -- PIN ---------------------------------------------------------------------------------------------

def test_pin_counter_block_and_unblock() -> None:
    app = make_app()
    assert sw(app, "00 20 00 01 00") == 0x63C3
    assert verify_pin(app, b"0000") == 0x63C2
    assert verify_pin(app, b"1234") == 0x9000
    assert sw(app, "00 20 00 01 00") == 0x9000  # verified
    assert [verify_pin(app, b"9999") for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    assert verify_pin(app, b"1234") == 0x6983
    assert sw(app, "00 20 00 01 00") == 0x6983
    assert chv_docp(app, 1) == H("70 16 BF 81 01 12 A0 10 9A 01 03 9B 01 00 A1 08 8C 06 F3 00 00 13 FF 00")
    # RESET RETRY COUNTER needs the unblock code (SCB 13 = SE#3)
    assert sw(app, "00 2C 02 01 04", b"4321") == 0x6982
    assert verify_pin(app, b"12345678", ref=2) == 0x9000
    assert sw(app, "00 2C 02 01 04", b"4321") == 0x9000
    assert verify_pin(app, b"1234") == 0x63C2  # new value in force
    assert verify_pin(app, b"4321") == 0x9000
    assert chv_docp(app, 2) == H("70 1A BF 81 02 16 A0 14 9A 01 0A 9B 01 0A 9D 02 00 63"
                                 " A1 08 8C 06 F3 FF 00 FF FF 00")
    assert sw(app, "00 2C 02 01 04", b"5555") == 0x6982  # one unblock per verification


def test_unblock_code_uses_run_out_for_good() -> None:
    app = make_app(unblock_uses=2)
    assert verify_pin(app, b"12345678", ref=2) == 0x9000
    assert verify_pin(app, b"12345678", ref=2) == 0x9000
    assert verify_pin(app, b"12345678", ref=2) == 0x6983
    assert H("9A 01 0A 9B 01 0A 9D 02 00 00") in chv_docp(app, 2)
    assert verify_pin(app, b"00000000", ref=0x82) == 0x6983


def test_unblock_code_tries() -> None:
    app = make_app()
    assert [verify_pin(app, b"00000000", ref=2) for _ in range(10)][-2:] == [0x63C1, 0x63C0]
    assert verify_pin(app, b"12345678", ref=2) == 0x6983
    assert sw(app, "00 24 00 02 10", b"12345678" + b"87654321") == 0x6982  # change = never


def test_change_reference_data() -> None:
    app = make_app()
    assert sw(app, "00 24 00 01 08", b"1234" + b"5678") == 0x9000
    assert verify_pin(app, b"5678") == 0x9000
    assert sw(app, "00 24 00 01 08", b"0000" + b"1111") == 0x63C2
    assert sw(app, "00 24 00 01 07", b"5678" + b"12a") == 0x6A80
    padded = b"5678\xFF\xFF\xFF\xFF" + b"24680000"
    assert sw(app, "00 24 00 01 10", padded) == 0x9000
    assert verify_pin(app, b"24680000") == 0x9000


def test_pin_state_cleared_by_reset_and_logout() -> None:
    app = make_app()
    assert verify_pin(app) == 0x9000
    app.reset()
    assert sw(app, "00 20 00 01 00") == 0x63C3
    assert verify_pin(app) == 0x9000
    assert sw(app, "00 20 FF 01 00") == 0x9000
    assert sw(app, "00 20 00 81 00") == 0x63C3


def test_pin_tries_left_at_start() -> None:
    app = make_app(pin_tries_left=0)
    assert sw(app, "00 20 00 01 00") == 0x6983


# -- signature -----------------------------------------------------------------------------------------

def _hash_apdu(alg: HashAlgorithm, message: bytes, keep_full_last_block: bool = False) -> bytes:
    state, bits, last = intermediate(alg, message, keep_full_last_block)
    inner = (b"\x90\x00" if not bits else b"\x90" + bytes((len(state) + 8,)) + state + bits.to_bytes(8, "big"))
    body = inner + b"\x80" + bytes((len(last),)) + last
    return H("00 2A 90 A0") + bytes((len(body),)) + body


@pytest.mark.parametrize("length", [0, 20, 64, 65, 128, 1000])
@pytest.mark.parametrize("alg,ht,dst_alg", [(SHA1, 0x10, 0x12), (SHA256, 0x40, 0x42)], ids=["sha1", "sha256"])
@pytest.mark.parametrize("order", ["opensc", "cryptolib"])
def test_signature_both_orders(length: int, alg: HashAlgorithm, ht: int, dst_alg: int, order: str) -> None:
    app = make_app()
    message = bytes((i * 7) & 0xFF for i in range(length))
    assert sw(app, "00 A4 09 0C 04 3F 00 00 01") == 0x9000
    assert verify_pin(app) == 0x9000
    mse_ht = H("00 22 41 AA 03 80 01") + bytes((ht,))
    if order == "opensc":
        mse_dst = H("00 22 41 B6 06 84 01 81 80 01") + bytes((dst_alg,))
        sequence = [mse_ht, mse_dst, _hash_apdu(alg, message, keep_full_last_block=length == 128)]
    else:
        mse_dst = H("00 22 41 B6 06 80 01") + bytes((dst_alg,)) + H("84 01 81")
        sequence = [mse_ht, _hash_apdu(alg, message), mse_dst]
    for apdu in sequence:
        assert sw(app, apdu) == 0x9000
    signature, status = run(app, "00 2A 9E 9A 00")
    assert status == 0x9000 and len(signature) == 256
    h = hashes.SHA1() if alg is SHA1 else hashes.SHA256()
    public_key_of(key_and_cert("CPS3 sign")[1]).verify(
        signature, hashlib.new(alg.name, message).digest(), padding.PKCS1v15(), utils.Prehashed(h))
    assert sw(app, "00 2A 9E 9A 00") == 0x6985  # the hash is consumed


def test_signature_security_conditions() -> None:
    app = make_app()
    assert sw(app, "00 22 41 B6 06 84 01 81 80 01 12") == 0x6A88  # keys live in DF 0001
    assert sw(app, "00 A4 09 0C 04 3F 00 00 01") == 0x9000
    assert sw(app, "00 2A 90 A0 05 90 00 80 01 41") == 0x6985  # no hash template
    assert sw(app, "00 22 41 AA 03 80 01 10") == 0x9000
    assert sw(app, "00 2A 90 A0 05 90 00 80 01 41") == 0x9000
    assert sw(app, "00 22 41 B6 06 84 01 81 80 01 12") == 0x9000
    assert sw(app, "00 2A 9E 9A 00") == 0x6982  # PIN not verified
    assert verify_pin(app) == 0x9000
    assert sw(app, "00 22 41 B6 06 84 01 82 80 01 12") == 0x6A80  # 0x82 cannot sign (pso_cds)
    assert sw(app, "00 22 41 B6 06 84 01 83 80 01 12") == 0x6A88
    assert sw(app, "00 22 41 B6 06 84 01 81 80 01 42") == 0x9000
    assert sw(app, "00 2A 9E 9A 00") == 0x6985  # SHA-1 hash, SHA-256 DST
    assert sw(app, "00 2A 90 A0 05 90 00 80 01 41") == 0x9000
    assert sw(app, "00 22 41 B6 06 84 01 81 80 01 12") == 0x9000
    assert run(app, "00 2A 9E 9A 00")[1] == 0x9000
    assert sw(app, H("00 2A 90 A0 0E 90 0A") + bytes(10) + H("80 00")) == 0x6A80  # malformed state


# -- authentication and decipher ----------------------------------------------------------------------

def test_internal_authenticate() -> None:
    app = make_app()
    digest_info = DIGEST_INFO_PREFIX["sha256"] + hashlib.sha256(b"challenge").digest()
    assert sw(app, "00 A4 09 0C 04 3F 00 00 01") == 0x9000
    assert sw(app, "00 22 41 A4 06 80 01 02 84 01 82") == 0x9000
    assert sw(app, bytes((0, 0x88, 0, 0, len(digest_info))) + digest_info) == 0x6982
    assert verify_pin(app) == 0x9000
    out, status = run(app, bytes((0, 0x88, 0, 0, len(digest_info))) + digest_info)
    assert status == 0x9000 and len(out) == 256
    public_key_of(key_and_cert("CPS3 auth")[1]).verify(
        out, hashlib.sha256(b"challenge").digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    assert sw(app, "00 88 00 00 67", bytes(103)) == 0x6700  # > 40 % of the modulus


def test_decipher_with_chaining() -> None:
    app = make_app()
    secret = b"session key 0123456789abcdef"
    pub = public_key_of(key_and_cert("CPS3 auth")[1])
    cryptogram = b"\x81" + pub.encrypt(secret, padding.PKCS1v15())
    assert sw(app, "00 A4 09 0C 04 3F 00 00 01") == 0x9000
    assert sw(app, "00 22 41 B8 06 84 01 82 80 01 1A") == 0x9000
    assert verify_pin(app) == 0x9000
    assert sw(app, bytes((0x10, 0x2A, 0x80, 0x86, 200)) + cryptogram[:200]) == 0x9000
    out, status = run(app, bytes((0x00, 0x2A, 0x80, 0x86, len(cryptogram) - 200)) + cryptogram[200:])
    assert (out, status) == (secret, 0x9000)
    # a chain broken by another command
    assert sw(app, bytes((0x10, 0x2A, 0x80, 0x86, 200)) + cryptogram[:200]) == 0x9000
    assert sw(app, "00 B0 00 00 04") == 0x6883
    assert sw(app, bytes((0x10, 0xB0, 0, 0, 4))) == 0x6884
    bad = b"\x81" + bytes(256)
    assert sw(app, bytes((0x10, 0x2A, 0x80, 0x86, 200)) + bad[:200]) == 0x9000
    assert sw(app, bytes((0x00, 0x2A, 0x80, 0x86, 57)) + bad[200:]) == 0x6A80


# -- files, SDOs, data objects ------------------------------------------------------------------------

def test_ef_dir_and_sfi_reads() -> None:
    app = make_app()
    ef_dir = read_file(app, H("3F00 2F00"))
    assert len(ef_dir) == 0x65
    templates = parse_tlvs(ef_dir)
    # CL first (INFERENCE from OpenSC's reordering, cps3.EF_DIR_CONTENT)
    assert [dict(parse_tlvs(v))[b"\x50"] for _, v in templates] == [b"CPX IAS CL", b"CPX IAS"]
    assert sw(app, "00 A4 00 0C 02 3F 00") == 0x9000
    assert run(app, "00 B0 9C 00 0C") == (SERIAL, 0x9000)  # SFI 1C as OpenSC reads it
    assert run(app, "00 B0 9C 00 C0") == (SERIAL, 0x6282)
    # above the 0xE7 limit: served like Le = 00 (at most E7 bytes; the T=0 layer answers 6C xx)
    assert run(app, "00 B0 00 00 E8") == (SERIAL, 0x9000)
    assert run(app, "00 B0 00 00 00") == (SERIAL, 0x9000)
    assert sw(app, "00 B0 00 0C 01") == 0x6B00
    assert sw(app, "00 B0 9B 00 01") == 0x6A82


def test_pkcs15_quirky_and_clean() -> None:
    quirky, clean = make_app(quirks=True), make_app(quirks=False)
    aodf_q, aodf_c = read_file(quirky, H("3F00 0001 7001")), read_file(clean, H("3F00 0001 7001"))
    assert b"Code porteur de la carte CPX" in aodf_q
    first_q = parse_tlvs(parse_tlvs(parse_tlvs(aodf_q)[0][1])[0][1])
    first_c = parse_tlvs(parse_tlvs(parse_tlvs(aodf_c)[0][1])[0][1])
    assert first_q[1] == (b"\x03", b"\x08")  # 03 01 08 (FACT I2224 hexdump of a real AODF)
    assert first_c[1] == (b"\x03", b"\x06\xC0")
    assert first_q[2] == first_c[2] == (b"\x04", b"\x02")  # unblocked with auth object 02
    prkdf_q, prkdf_c = read_file(quirky, H("3F00 0001 7002")), read_file(clean, H("3F00 0001 7002"))
    labels = [parse_tlvs(parse_tlvs(v)[0][1])[0][1] for _, v in parse_tlvs(prkdf_q)]
    assert labels == [b"CPS_PRIV_SIG", b"CPS_PRIV_AUT"]
    key_attrs_q = [parse_tlvs(parse_tlvs(v)[1][1]) for _, v in parse_tlvs(prkdf_q)]
    key_attrs_c = [parse_tlvs(parse_tlvs(v)[1][1]) for _, v in parse_tlvs(prkdf_c)]
    assert [a[3] for a in key_attrs_q] == [(b"\x02", b"\x00\x81"), (b"\x02", b"\x00\x82")]
    assert all(len(a) == 4 for a in key_attrs_q)  # no algReference (FACT I2267)
    assert [a[4] for a in key_attrs_c] == [(b"\xA1", H("020103020104")), (b"\xA1", H("020105"))]
    token = read_file(quirky, H("3F00 0001 5032"))
    fields = parse_tlvs(parse_tlvs(token)[0][1])
    assert fields[1] == (b"\x04", H("00 00 01 99 21 38 45 0F"))
    assert fields[2] == (b"\x0C", b"ASIP SANTE")
    assert fields[4] == (b"\x03", b"\x06\xC0")
    odf = parse_tlvs(read_file(quirky, H("3F00 0001 5031")))
    assert [t for t, _ in odf] == [b"\xA0", b"\xA4", b"\xA7", b"\xA8"]
    cdf = read_file(clean, H("3F00 0001 7005"))
    assert b"Certificat de Signature CPS" in cdf
    assert read_file(clean, H("3F00 0001 C001")) == key_and_cert("CPS3 sign")[1]


def test_data_objects_need_the_pin() -> None:
    app = make_app()
    activity = H("3F00 0001") + data_object_fid("CPS_ACTIVITY_01_PS", 0).to_bytes(2, "big")
    assert data_object_fid("CPS_ACTIVITY_16_PS", 0) == 0xD12F
    assert read_file(app, H("3F00 0001") + data_object_fid("CPS_ID_CARD", 0).to_bytes(2, "big")) == ID_CARD
    assert sw(app, bytes((0, 0xA4, 0x09, 0x0C, 6)) + activity) == 0x9000
    assert sw(app, "00 B0 00 00 08") == 0x6982
    assert verify_pin(app) == 0x9000
    assert read_file(app, activity) == ACTIVITY
    dodf = read_file(app, H("3F00 0001 7006"))
    assert b"CPS_ACTIVITY_01_PS" in dodf and b"CPS_ID_CARD" in dodf
    # CPS_DATA is the one writable object (UPDATE needs the PIN)
    assert sw(app, "00 A4 09 0C 06 3F 00 00 01 D1 00") == 0x9000
    assert sw(app, "00 D6 00 00 02 AB CD") == 0x9000
    app.reset()
    assert sw(app, "00 A4 09 0C 06 3F 00 00 01 D1 00") == 0x9000
    assert sw(app, "00 D6 00 00 02 AB CD") == 0x6982
    assert run(app, "00 B0 00 00 03") == (H("AB CD 00"), 0x9000)


def test_key_sdos_and_public_key() -> None:
    app = make_app()
    get_key_docp = "00 CB 3F FF 0A 4D 08 70 06 BF 90 02 02 A0 80"
    assert sw(app, get_key_docp) == 0x6A88  # keys: DF 0001 current
    assert sw(app, "00 A4 09 0C 04 3F 00 00 01") == 0x9000
    data, status = run(app, get_key_docp)
    # size in bytes (0x0100, INFERENCE from OpenSC), then the key's ACL (AM 78: CDS/IA/DEC/GEN)
    assert (data, status) == (H("70 13 BF 90 02 0F A0 0D 80 02 01 00 A1 07 8C 05 78 FF 11 11 FF"), 0x9000)
    data, status = run(app, "00 CB 3F FF 0B 4D 09 70 07 BF A0 02 03 7F 49 80")
    assert status == 0x9000
    pub = public_key_of(key_and_cert("CPS3 auth")[1]).public_numbers()
    inner = dict(parse_tlvs(dict(parse_tlvs(dict(parse_tlvs(data))[b"\x70"]))[b"\xBF\xA0\x02"]))
    comps = dict(parse_tlvs(inner[b"\x7F\x49"]))
    assert int.from_bytes(comps[b"\x81"], "big") == pub.n and int.from_bytes(comps[b"\x82"], "big") == pub.e
    assert sw(app, "00 CB 3F FF 0B 4D 09 70 07 BF 81 01 03 7F 41 80") == 0x6A88  # CHV: MF current


def test_misc_status_words() -> None:
    app = make_app()
    assert sw(app, "01 A4 00 0C 02 3F 00") == 0x6881  # no logical channels
    assert sw(app, "00 70 00 00 01") == 0x6881
    assert sw(app, "0C A4 00 0C 02 3F 00") == 0x6882
    assert sw(app, "80 A4 00 0C 02 3F 00") == 0x6E00
    assert sw(app, "A0 A4 00 00 02 3F 00") == 0x6E00
    assert sw(app, "00 FE 00 00 00") == 0x6D00
    assert sw(app, "00 A4 00 08 02 3F 00") == 0x6A86
    assert sw(app, "00 A4 04 04 08 80 25 00 00 01 FF 01 00") == 0x9000
    data, status = run(app, "00 84 00 00 08")
    assert status == 0x9000 and len(data) == 8 and run(app, "00 84 00 00 08")[0] != data
    assert sw(app, "00 84 00 00 10") == 0x6700
    data, status = run(app, "00 A4 04 04 0D E8 28 BD 08 0F 80 25 00 00 01 FF 00 10")
    assert (data, status) == (H("62 2D 82 01 38 83 02 00 01 84 0D E8 28 BD 08 0F 80 25 00 00 01 FF 00 10"
                                " A1 12 8C 07 7B 45 FF FF FF 45 FF 9C 07 7B FF FF FF FF FF FF"
                                " 8A 01 05"), 0x9000)  # DF FCP: GUESS layout, ACLs as OpenSC needs them


def test_opensc_interop_behaviour() -> None:
    """What OpenSC 0.23's iasecc driver needs (docs/virtual-cards.md "OpenSC"): DF FCPs with an
    ACL template, FID 3F00 with P1 = 02 selects the MF, an explicit Le above 0xE7 is served
    like Le = 00, an empty EF reads as 6282, the real CDF flags quirk ``03 02 08 00``."""
    auth_key, auth_cert = key_and_cert("CPS3 auth")
    sign_key, sign_cert = key_and_cert("CPS3 sign")
    app = CPS3Application(serial=SERIAL, auth_key=auth_key, sign_key=sign_key, auth_cert=auth_cert,
                          sign_cert=sign_cert, pin=b"1234", unblock_code=b"12345678",
                          data_objects={"CPS_DATA": b""})
    # DF FCPs (MF, 0001, 0002) carry A1 { 8C, 9C }: iasecc_process_fci fails without them
    for path in ("3F00", "3F00 0001", "3F00 0002"):
        data, status = run(app, "00 A4 09 04 " + "%02X " % len(H(path)) + path)
        assert status == 0x9000
        assert H("A1 12 8C 07 7B 45 FF FF FF 45 FF 9C 07 7B FF FF FF FF FF FF") in data
    # from DF 0001, `00 A4 02 04 02 3F 00` (OpenSC before reading the CHV1 policy) -> MF
    assert sw(app, "00 A4 09 0C 04 3F 00 00 01") == 0x9000
    data, status = run(app, "00 A4 02 04 02 3F 00")
    assert status == 0x9000 and data.startswith(H("62 28 82 01 38 83 02 3F 00 84 08 80 25 00 00 01 FF 01 00"))
    assert run(app, "00 CB 3F FF 0A 4D 08 70 06 BF 81 01 02 A0 80")[1] == 0x9000  # CHV SDOs: MF current
    assert sw(app, "00 A4 01 0C 02 3F 00") == 0x9000
    assert sw(app, "00 A4 02 0C 02 2F 00") == 0x9000 and sw(app, "00 A4 02 0C 02 D0 10") == 0x6A82
    # READ BINARY: Le F2 > E7 -> at most E7 bytes (a T=0 card says 6C E7); empty EF -> 6282
    cert = key_and_cert("CPS3 sign")[1]
    assert sw(app, "00 A4 09 0C 06 3F 00 00 01 C0 01") == 0x9000
    data, status = run(app, "00 B0 00 00 F2")
    assert (data, status) == (cert[:0xE7], 0x9000)
    assert sw(app, "00 A4 09 0C 06 3F 00 00 01 D1 00") == 0x9000  # CPS_DATA, empty
    assert run(app, "00 B0 00 00 00") == (b"", 0x6282)
    assert sw(app, "00 B0 00 01 00") == 0x6B00
    # PKCS#15 quirks with the bytes of a real card (FACT I2224): AODF 03 01 08, CDF 03 02 08 00
    cdf = read_file(app, H("3F00 0001 7005"))
    first = parse_tlvs(parse_tlvs(parse_tlvs(cdf)[0][1])[0][1])
    assert first[1] == (b"\x03", b"\x08\x00")
    # EF.DIR lists the CL application first (INFERENCE: OpenSC then binds the contact one)
    assert read_file(app, H("3F00 2F00"))[:6] == H("61 32 4F 0D E8 28")
    # MSE SET CT with TokenInfo's RSA-PKCS algRef 02, as OpenSC sends it before PSO DECIPHER
    assert sw(app, "00 A4 09 0C 04 3F 00 00 01") == 0x9000
    assert sw(app, "00 22 41 B8 06 84 01 82 80 01 02") == 0x9000
    assert sw(app, "00 22 41 B8 06 84 01 82 80 01 12") == 0x6A80
