"""Unit tests of the CPS API's parsers and builders, on exact bytes: BER-TLV (tlv.py), PKCS#15
directory files (pkcs15.py), generation and EF.SN (detect.py), PKCS#1 v1.5 pieces (rsa.py),
PIN values (pin.py), the DOCP/FCP readers and the PIN status-word mapping (card.py)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from cpsdi.cps import (
    CardBlocked,
    CardDataError,
    CPSError,
    NotACPSCard,
    PinBlocked,
    PinError,
    PinRequired,
    PinStatus,
    WrongPin,
)
from cpsdi.cps.card import CPSCard, _fcp_size, parse_docp
from cpsdi.cps.detect import CardNumber, Generation, generation_from_atr, parse_ef_sn
from cpsdi.cps.pin import UNBLOCK_CODE_LENGTHS, pin_bytes
from cpsdi.cps.pkcs15 import ODF, KeyEntry, ObjectEntry, parse_cdf, parse_dodf, parse_odf, parse_prkdf
from cpsdi.cps.rsa import DIGEST_INFO_PREFIX, digest_info, pad_type1, unpad_type2
from cpsdi.cps.tlv import TLVError, find, find_path, iter_tlvs, read_tlv
from cpsdi.exceptions import ReaderError, StatusWordError
from cpsdi_boards.sim.cps import pkcs15 as sim_pkcs15
from cpsdi_boards.sim.cps.pki import card_pki
from cpsdi_boards.sim.cps.profiles import PROFILES

H = bytes.fromhex


def tlv(tag: str, value: bytes) -> bytes:
    """DER TLV with a short or long definite length (test helper)."""
    n = len(value)
    head = bytes((n,)) if n < 0x80 else bytes((0x81, n)) if n < 0x100 else b"\x82" + n.to_bytes(2, "big")
    return H(tag) + head + value


# -- tlv.py ------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, pos, expected", [
    (H("5A 02 01 02"), 0, (H("5A"), H("01 02"), 4)),
    (H("00 80 01 AA"), 1, (H("80"), H("AA"), 4)),
    (H("4F 00 90 00"), 0, (H("4F"), b"", 2)),
    (H("BF 81 01 02 AA BB"), 0, (H("BF 81 01"), H("AA BB"), 6)),  # SDO tag (FACT §6.3)
    (H("7F 49 00"), 0, (H("7F 49"), b"", 3)),
    (H("1F 81 81 01 01 55"), 0, (H("1F 81 81 01"), H("55"), 6)),  # 4-byte tag: the longest accepted
    (H("30 81 80") + bytes(128), 0, (H("30"), bytes(128), 131)),
    (H("30 82 01 00") + bytes(256), 0, (H("30"), bytes(256), 260)),
    (H("30 83 01 00 00") + bytes(65536), 0, (H("30"), bytes(65536), 65541)),
    (H("30 81 05") + bytes(5), 0, (H("30"), bytes(5), 8)),  # long form for a short length: lax
])
def test_read_tlv_exact(data: bytes, pos: int, expected: tuple[bytes, bytes, int]) -> None:
    assert read_tlv(data, pos) == expected


@pytest.mark.parametrize("data, message", [
    (b"", "end of data"),
    (H("5A"), "no length"),
    (H("5A 80 01 02 00 00"), "indefinite"),  # X.690 §8.1.3.6: not in card data
    (H("30 80"), "indefinite"),
    (H("5A 03 01 02"), "runs past the end"),
    (H("5A 81"), "long-form"),
    (H("5A 82 01"), "long-form"),
    (H("5A 84 00 00 00 01 00"), "long-form"),  # more than 3 length bytes
    (H("5A 82 01 00") + bytes(255), "runs past the end"),
    (H("1F"), "tag runs past"),
    (H("BF 81"), "tag runs past"),
    (H("1F 81 81 81 01 01 55"), "tag longer"),  # a 5-byte tag
    (H("1F 81 81 81 81 81 01 00"), "tag longer"),
])
def test_read_tlv_rejects_bad_framing(data: bytes, message: str) -> None:
    with pytest.raises(TLVError, match=message):
        read_tlv(data)


def test_tlv_error_is_card_data_error() -> None:
    assert issubclass(TLVError, CardDataError) and issubclass(CardDataError, CPSError)


def test_iter_tlvs_skips_padding_and_find() -> None:
    data = H("00 FF 5A 01 01 00 4F 00 FF FF 5A 01 02 00 00")
    assert list(iter_tlvs(data)) == [(H("5A"), H("01")), (H("4F"), b""), (H("5A"), H("02"))]
    assert find(data, H("5A")) == H("01")  # the first one
    assert find(data, H("4F")) == b""
    assert find(data, H("50")) is None
    assert list(iter_tlvs(b"")) == [] and list(iter_tlvs(H("00 00 FF"))) == []
    nested = H("62 0A 82 01 01 A5 05 80 03 01 02 03")
    assert find_path(nested, H("62"), H("A5"), H("80")) == H("01 02 03")
    assert find_path(nested, H("62"), H("A6"), H("80")) is None
    assert find_path(nested) == nested


def test_iter_tlvs_truncated_inside() -> None:
    with pytest.raises(TLVError):
        list(iter_tlvs(H("5A 01 01 4F 05 01")))
    with pytest.raises(TLVError):
        find(H("5A 01 01 4F"), H("4F"))


# -- card.py: FCP, DOCP, PIN status words ---------------------------------------------------------


def test_parse_docp_fact_bytes() -> None:
    # FACT §6.3: the GET DATA answer for CHV1's DOCP
    answer = H("70 16 BF 81 01 12 A0 10 9A 01 03 9B 01 03 A1 08 8C 06 F3 00 00 13 FF 00")
    assert parse_docp(answer) == {0x9A: 3, 0x9B: 3}
    chv2 = H("70 1A BF 81 02 16 A0 14 9A 01 0A 9B 01 07 9D 02 00 64 A1 08 8C 06 F3 FF 00 FF FF 00")
    assert parse_docp(chv2) == {0x9A: 10, 0x9B: 7, 0x9D: 100}
    assert parse_docp(b"") == {}
    with pytest.raises(CardDataError, match="malformed DOCP"):
        parse_docp(answer[:-3])
    with pytest.raises(CardDataError):
        parse_docp(H("70 80 BF 81 01 00 00 00"))


@pytest.mark.parametrize("fcp, size", [
    (H("62 04 80 02 04 02"), 0x402),
    (H("62 0A 82 01 01 83 02 D0 03 81 01 0C"), 12),  # tag 81 when 80 is absent
    (H("62 03 80 01 00"), 0),
    (H("62 03 82 01 01"), None),  # no size
    (H("6F 04 80 02 04 02"), None),  # not an FCP template
    (b"", None),
    (H("62 05 80 02 04"), None),  # truncated: not an exception, no size
])
def test_fcp_size(fcp: bytes, size: int | None) -> None:
    assert _fcp_size(fcp) == size


@pytest.mark.parametrize("sw, what, for_good, kind, tries", [
    (0x63C2, "PIN", False, WrongPin, 2),
    (0x63C1, "unblock code", True, WrongPin, 1),
    (0x63C9, "unblock code", True, WrongPin, 9),
    (0x63C0, "PIN", False, PinBlocked, None),  # the last try was wrong: blocked now
    (0x63C0, "PIN", True, CardBlocked, None),
    (0x63C0, "unblock code", True, CardBlocked, None),
    (0x6983, "PIN", False, PinBlocked, None),
    (0x6983, "unblock code", True, CardBlocked, None),
    (0x6982, "PIN", False, PinRequired, None),
])
def test_pin_status_word_mapping(sw: int, what: str, for_good: bool, kind: type[PinError], tries: int | None) -> None:
    with pytest.raises(kind) as e:
        CPSCard._pin_answer(sw, what, for_good)
    assert type(e.value) is kind and e.value.sw == sw and f"SW {sw:04X}" in str(e.value)
    assert isinstance(e.value, PinError) and isinstance(e.value, ReaderError)
    if tries is not None:
        assert isinstance(e.value, WrongPin) and (e.value.tries_left, e.value.what) == (tries, what)
        assert f"wrong {what}" in str(e.value)


def test_pin_status_word_mapping_success_and_others() -> None:
    CPSCard._pin_answer(0x9000, "PIN")
    with pytest.raises(StatusWordError) as e:
        CPSCard._pin_answer(0x6A80, "PIN")
    assert e.value.sw == 0x6A80 and not isinstance(e.value, PinError)


def test_wrong_pin_message_grammar() -> None:
    assert str(WrongPin(1, 0x63C1)) == "wrong PIN: 1 try left (SW 63C1)"
    assert str(WrongPin(2, 0x63C2, "unblock code")) == "wrong unblock code: 2 tries left (SW 63C2)"


# -- detect.py ---------------------------------------------------------------------------------

CPS3_ATR = H("3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00")


@pytest.mark.parametrize("atr, generation", [
    (CPS3_ATR, Generation.CPS3),
    (H("3B AC 18 40 2A 00 12 25 00 64 80 00 02 11 00 90 00"), Generation.CPS3),  # masked bytes differ
    (H("3B AC 00 40 2A 01 12 25 00 64 80 00 03 10 00 90 00"), Generation.UNKNOWN),  # a fixed byte differs
    (CPS3_ATR[:-1], Generation.UNKNOWN),
    (CPS3_ATR + b"\x00", Generation.UNKNOWN),
    (H("3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44"), Generation.CPS4),
    (H("3B 9B 18 80 01 00 12 25 00 64 80 00 04 01 00 90 44"), Generation.CPS4),
    # T=0-only CPS4 ATR: it also fits the CPx mask, the exact CPS4 list wins (§3.2)
    (H("3B DC 18 FF 00 00 12 25 00 64 80 00 04 01 00 90 00"), Generation.CPS4),
    (H("3B 8F 80 01 00 31 B8 64 04 B0 EC C1 73 94 01 80 82 90 00 0E"), Generation.CPS3_CONTACTLESS),
    (H("3B 75 13 00 00 45 09 EA 90 00"), Generation.VITALE),
    (H("3F 65 25 00 2C 09 69 90 00"), Generation.VITALE),
    (H("3B 13 18 43 50 53"), Generation.UNKNOWN),
    (b"", Generation.UNKNOWN),
])
def test_generation_from_atr(atr: bytes, generation: Generation) -> None:
    assert generation_from_atr(atr) is generation


def test_parse_ef_sn_fact_example() -> None:
    content = H("5A 0A 80 25 00 00 01 99 21 38 45 0F")  # FACT §7.2 step 5
    assert parse_ef_sn(content) == CardNumber(pan="8025000001992138450", number="99213845", raw=content)


@pytest.mark.parametrize("name", list(PROFILES))
def test_parse_ef_sn_of_the_profiles(name: str) -> None:
    profile = PROFILES[name]
    generation = Generation.CPS3 if profile.generation == "cps3" else Generation.CPS4
    number = parse_ef_sn(profile.serial_number, generation)
    assert number.raw == profile.serial_number
    assert number.number == profile.holder.card.card_number[2:]


def test_parse_ef_sn_cps4_rfu_bytes() -> None:
    content = H("5A 0A 80 25 00 00 01 00 00 12 34 5F")
    assert parse_ef_sn(content, Generation.CPS4).number == "1234"  # 2 RFU bytes skipped (A1)
    assert parse_ef_sn(content, Generation.CPS3).number == "00001234"


@pytest.mark.parametrize("content, message", [
    (H("5A 0A 80 25 00 00 02 99 21 38 45 0F"), "issuer 8025000002 is not ANS"),
    (H("5A 0A 12 34 56 78 9A 99 21 38 45 0F"), "issuer"),
    (H("5A 0A 80 25 00 00 01 99 21 38 45"), "11 bytes"),
    (H("5A 0A 80 25 00 00 01 99 21 38 45 0F 00"), "13 bytes"),
    (H("5B 0A 80 25 00 00 01 99 21 38 45 0F"), "5A 0A"),
    (H("5A 0B 80 25 00 00 01 99 21 38 45 0F"), "5A 0A"),
    (b"", "0 bytes"),
])
def test_parse_ef_sn_rejects(content: bytes, message: str) -> None:
    with pytest.raises(NotACPSCard, match=message):
        parse_ef_sn(content)


# -- rsa.py ------------------------------------------------------------------------------------


def test_digest_info_exact() -> None:
    # RFC 8017 §9.2 note 1
    assert DIGEST_INFO_PREFIX["sha1"] == H("30 21 30 09 06 05 2b 0e 03 02 1a 05 00 04 14")
    assert DIGEST_INFO_PREFIX["sha256"] == H("30 31 30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20")
    assert digest_info("sha256", b"abc") == DIGEST_INFO_PREFIX["sha256"] + hashlib.sha256(b"abc").digest()
    assert digest_info("sha1", b"") == DIGEST_INFO_PREFIX["sha1"] + H("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    with pytest.raises(ValueError):
        digest_info("md5", b"abc")


def test_pad_type1_exact() -> None:
    assert pad_type1(H("01 02"), 16) == H("00 01") + b"\xff" * 11 + H("00 01 02")
    assert pad_type1(bytes(5), 16) == H("00 01") + b"\xff" * 8 + H("00") + bytes(5)  # 8 FF: the minimum
    with pytest.raises(ValueError):
        pad_type1(bytes(6), 16)


@pytest.mark.parametrize("block, message", [
    (H("00 02") + b"\x11" * 8 + H("00") + b"hi", b"hi"),
    (H("00 02") + b"\x11" * 9 + H("00"), b""),
    (H("00 02") + b"\x11" * 8 + H("00 00 00"), H("00 00")),
])
def test_unpad_type2(block: bytes, message: bytes) -> None:
    assert unpad_type2(block) == message


@pytest.mark.parametrize("block", [
    H("00 02") + b"\x11" * 7 + H("00") + b"hi",  # padding string shorter than 8
    H("00 01") + b"\x11" * 8 + H("00") + b"hi",  # type 1
    H("01 02") + b"\x11" * 8 + H("00") + b"hi",
    H("00 02") + b"\x11" * 12,  # no separator
    H("00 02") + b"\x11" * 8,  # too short
    b"",
])
def test_unpad_type2_rejects(block: bytes) -> None:
    with pytest.raises(CardDataError):
        unpad_type2(block)


def test_pkcs1_pieces_agree_with_cryptography() -> None:
    key = card_pki("doctor").auth_key
    numbers = key.private_numbers()
    n, d, e = numbers.public_numbers.n, numbers.d, numbers.public_numbers.e
    for hash_name, algorithm in (("sha1", hashes.SHA1()), ("sha256", hashes.SHA256())):
        digest = hashlib.new(hash_name, b"challenge").digest()
        signature = key.sign(digest, padding.PKCS1v15(), utils.Prehashed(algorithm))
        encoded = pow(int.from_bytes(signature, "big"), e, n).to_bytes(256, "big")
        assert encoded == pad_type1(digest_info(hash_name, b"challenge"), 256)
    for secret in (b"", b"x", bytes(range(245))):
        ciphertext = key.public_key().encrypt(secret, padding.PKCS1v15())
        block = pow(int.from_bytes(ciphertext, "big"), d, n).to_bytes(256, "big")
        assert unpad_type2(block) == secret


# -- pin.py ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("1234", b"1234"), (b"1234", b"1234"), (bytearray(b"0000"), b"0000"), ("12345678", b"12345678"),
    ("98765", b"98765"),
])
def test_pin_bytes(value: str | bytes, expected: bytes) -> None:
    assert pin_bytes(value) == expected


@pytest.mark.parametrize("value", [
    "7a91", "739", "739173917", "", " 7391", "7391\n", "73 91", "7391\x00", "-739", "+7391",
    "٧٣٩١",  # Arabic-Indic digits: str.isdigit() is True, but not ASCII
    "⑦③⑨①", "７３９１", b"7a91", b"\xff\xff\xff\xff", b"739", bytes(4),
])
def test_pin_bytes_rejects_without_echoing_the_value(value: str | bytes) -> None:
    with pytest.raises(ValueError) as e:
        pin_bytes(value)
    text = str(e.value) + repr(e.value)
    shown = value if isinstance(value, str) else value.decode("latin-1")
    assert shown.strip() == "" or shown not in text
    assert "7391" not in text and "739" not in text


def test_unblock_code_lengths() -> None:
    assert pin_bytes("61835092", "unblock code", UNBLOCK_CODE_LENGTHS) == b"61835092"
    for bad in ("6183509", "618350921", "1234"):
        with pytest.raises(ValueError, match="unblock code must have 8 to 8 digits"):
            pin_bytes(bad, "unblock code", UNBLOCK_CODE_LENGTHS)


def test_pin_status_blocked_for_good() -> None:
    assert PinStatus(0, 3, True, False, 0).blocked_for_good
    assert not PinStatus(0, 3, True, False, 5).blocked_for_good
    assert not PinStatus(0, 3, True, False, None).blocked_for_good  # unknown: not claimed
    assert not PinStatus(3, 3, False, False, 0).blocked_for_good  # the PIN itself still works


# -- pkcs15.py ---------------------------------------------------------------------------------

APP = H("3F 00 00 01")


def path_seq(fid: str) -> bytes:
    return tlv("30", tlv("04", APP + H(fid)))


def test_parse_odf_exact() -> None:
    odf = (H("A0 0A 30 08 04 06 3F 00 00 01 70 02") + H("A4 0A 30 08 04 06 3F 00 00 01 70 05")
           + H("A7 0A 30 08 04 06 3F 00 00 01 70 06") + H("A8 0A 30 08 04 06 3F 00 00 01 70 01") + bytes(6))
    assert parse_odf(odf) == ODF(APP + H("70 02"), APP + H("70 05"), APP + H("70 06"), APP + H("70 01"))
    # absent entries are None; a [1] publicKeys entry is ignored; non-context tags skipped
    assert parse_odf(H("A1 0A 30 08 04 06 3F 00 00 01 70 03 04 01 00")) == ODF(None, None, None, None)
    assert parse_odf(b"") == ODF(None, None, None, None)


@pytest.mark.parametrize("odf", [
    H("A4 0A 30 08 04 06 3F 00 00 01 70"),  # truncated
    H("A4 80 30 08 04 06 3F 00 00 01 70 05 00 00"),  # indefinite length
    H("A4 04 30 02 05 00"),  # a Path without its OCTET STRING
])
def test_parse_odf_rejects(odf: bytes) -> None:
    with pytest.raises(TLVError):
        parse_odf(odf)


def cdf_entry(label: str, cert_id: bytes, fid: str, flags: bytes, auth_id: bytes | None = None) -> bytes:
    common = tlv("0C", label.encode()) + flags + (tlv("04", auth_id) if auth_id else b"")
    return tlv("30", tlv("30", common) + tlv("30", tlv("04", cert_id)) + tlv("A1", tlv("30", path_seq(fid))))


def test_parse_cdf_exact_quirky_flags() -> None:
    # FACT (I2224 hexdump of a real CPS3's CDF): flags BIT STRING 03 02 08 00 (unused bits 8)
    quirky = cdf_entry("Certificat de Signature CPS", H("01"), "C0 01", H("03 02 08 00"))
    assert quirky == (H("30 36 30 21 0C 1B") + b"Certificat de Signature CPS"
                      + H("03 02 08 00 30 03 04 01 01 A1 0C 30 0A 30 08 04 06 3F 00 00 01 C0 01"))
    data = quirky + cdf_entry("Certificat d'Authentification CPS", H("02"), "C0 02", H("03 01 08"))
    assert parse_cdf(data) == [
        ObjectEntry("Certificat de Signature CPS", None, APP + H("C0 01"), H("01")),
        ObjectEntry("Certificat d'Authentification CPS", None, APP + H("C0 02"), H("02")),
    ]


def test_parse_cdf_literal_bytes() -> None:
    entry = H(
        "30 20"
        " 30 0B 0C 05 6C 61 62 65 6C 03 02 08 00"  # label "label", the CPS3's flags 03 02 08 00
        " 30 03 04 01 45"  # iD 45
        " A1 0C 30 0A 30 08 04 06 3F 00 00 01 C0 01"  # x509 value: Path 3F00 0001 C001
    )
    assert parse_cdf(entry) == [ObjectEntry("label", None, H("3F 00 00 01 C0 01"), H("45"))]
    # the Path directly in the [1] SEQUENCE (no inner SEQUENCE) is accepted too
    direct = H("30 1E 30 0B 0C 05 6C 61 62 65 6C 03 02 08 00 30 03 04 01 45 A1 0A 30 08 04 06 3F 00 00 01 C0 01")
    assert parse_cdf(direct) == [ObjectEntry("label", None, H("3F 00 00 01 C0 01"), H("45"))]


@pytest.mark.parametrize("entry, message", [
    (H("30 05 04 03 01 02 03"), "CommonObjectAttributes"),  # first element is not a SEQUENCE
    (H("30 00"), "CommonObjectAttributes"),
    (H("30 0C 30 07 0C 05 6C 61 62 65 6C 30 01 04"), ""),  # truncated inside
    (H("30 0E 30 07 0C 05 6C 61 62 65 6C 30 03 04 01 45"), "without a path"),  # no [1]
    (H("30 13 30 07 0C 05 6C 61 62 65 6C 30 03 04 01 45 A1 03 02 01 01"), "without a path"),
    (H("30 15 30 07 0C 05 6C 61 62 65 6C 30 03 04 01 45 A1 05 30 03 30 01 05"), ""),
])
def test_parse_cdf_rejects(entry: bytes, message: str) -> None:
    with pytest.raises(TLVError, match=message or None):
        parse_cdf(entry)


def test_parse_dodf_free_and_protected() -> None:
    free = tlv("30", tlv("30", tlv("0C", b"CPS_ID_CARD")) + tlv("30", b"") + tlv("A1", path_seq("D1 01")))
    protected = tlv("30", tlv("30", tlv("0C", b"CPS_SIT_FACT") + tlv("04", H("01")))
                    + tlv("30", b"") + tlv("A1", path_seq("D1 05")))
    assert parse_dodf(free + protected + bytes(3)) == [
        ObjectEntry("CPS_ID_CARD", None, APP + H("D1 01")),
        ObjectEntry("CPS_SIT_FACT", H("01"), APP + H("D1 05")),
    ]
    with pytest.raises(TLVError):
        parse_dodf((free + protected)[:-1])


@pytest.mark.parametrize("reference, expected", [
    (H("02 02 00 81"), 0x81),  # DER INTEGER 129
    (H("02 01 81"), 0x81),  # the card's sloppy form: read unsigned
    (H("02 01 01"), 0x01),
    (b"", None),
])
def test_parse_prkdf_reference_and_size(reference: bytes, expected: int | None) -> None:
    common_key = tlv("04", H("E8 28 01")) + H("03 03 06 20 40") + H("03 02 03 B8") + reference
    entry = tlv("30", tlv("30", tlv("0C", b"CPS_PRIV_SIG") + tlv("04", H("01"))) + tlv("30", common_key)
                + tlv("A1", tlv("30", path_seq("") + H("02 02 08 00"))))
    assert parse_prkdf(entry) == [KeyEntry("CPS_PRIV_SIG", H("E8 28 01"), expected, 2048)]


@pytest.mark.parametrize("quirks", [True, False], ids=["quirks", "clean"])
def test_directory_files_of_the_virtual_cards(quirks: bool) -> None:
    """The sim's own DER builders (both variants, §5.5) parse to what was put in."""
    aid = H("E8 28 BD 08 0F 80 25 00 00 01 FF 00 10")
    odf = sim_pkcs15.build_odf(prkdf=APP + H("70 02"), cdf=APP + H("70 05"), dodf=APP + H("70 06"),
                               aodf=APP + H("70 01"))
    assert parse_odf(odf) == ODF(APP + H("70 02"), APP + H("70 05"), APP + H("70 06"), APP + H("70 01"))
    certs = (sim_pkcs15.CertificateInfo("Certificat de Signature CPS", aid + b"\x01", APP + H("C0 01")),
             sim_pkcs15.CertificateInfo("Certificat d'Authentification CPS", aid + b"\x02", APP + H("C0 02")))
    assert parse_cdf(sim_pkcs15.build_cdf(certs, quirks)) == [
        ObjectEntry("Certificat de Signature CPS", None, APP + H("C0 01"), aid + b"\x01"),
        ObjectEntry("Certificat d'Authentification CPS", None, APP + H("C0 02"), aid + b"\x02"),
    ]
    keys = (
        sim_pkcs15.PrivateKeyInfo("CPS_PRIV_SIG", aid + b"\x01", (sim_pkcs15.USAGE_NON_REPUDIATION,), 0x81, 2048,
                                  APP, b"\x01", (3, 4)),
        sim_pkcs15.PrivateKeyInfo("CPS_PRIV_AUT", aid + b"\x02", (sim_pkcs15.USAGE_DECRYPT, sim_pkcs15.USAGE_SIGN),
                                  0x82, 2048, APP, b"\x01", (5,)),
    )
    assert parse_prkdf(sim_pkcs15.build_prkdf(keys, quirks)) == [
        KeyEntry("CPS_PRIV_SIG", aid + b"\x01", 0x81, 2048),
        KeyEntry("CPS_PRIV_AUT", aid + b"\x02", 0x82, 2048),
    ]
    objects = (sim_pkcs15.DataObjectInfo("CPS_ID_CARD", APP + H("D1 01"), None),
               sim_pkcs15.DataObjectInfo("CPS_ACTIVITY_16_PS", APP + H("D1 2F"), b"\x01"))
    assert parse_dodf(sim_pkcs15.build_dodf(objects)) == [
        ObjectEntry("CPS_ID_CARD", None, APP + H("D1 01")),
        ObjectEntry("CPS_ACTIVITY_16_PS", b"\x01", APP + H("D1 2F")),
    ]
