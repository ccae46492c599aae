"""The cpsdi test-card encoding of holder data — NOT the real ANS layout.

    *** This is NOT how a real CPS card stores its holder data. ***

The ASN.1 schemas of CPS_ID_CARD, CPS_NAME_PS, CPS_INFO_PS, CPS_LANG_PS,
CPS_ACTIVITY_xx_PS and CPS_SIT_FACT are defined in ANS document
"ASIP_CPS3_Données-métier_v1.0.2", and the raw CPS2ter file formats are not public either
(cps-cards.md §8.3, §14). The virtual cards still need bytes in those files and data objects,
so this module — and only this module — invents them: the "cpsdi test-card encoding",
version 1. Host code must treat the real objects as opaque blobs (§12); anything that decodes
these bytes is decoding the simulator's own format, which every blob announces with the
marker :data:`MARKER` as its first field.

Encoding (BER-TLV, definite lengths, X.690 short/long form):

    <object tag> L
        80 L "CPSDI-TEST-ENCODING/1"      marker, always first
        81 L <field 1>  82 L <field 2> …  context tags in field order, all present

Object tags (private class, constructed): E1 ID_CARD, E2 NAME_PS, E3 INFO_PS, E4 LANG_PS,
E5 ACTIVITY (one situation), E6 SIT_FACT, E7 DIRAMO. Field values: codes as unsigned
big-endian integers (minimal, ``00`` for zero), text as UTF-8, identifiers as ASCII digits,
keys as zero or one ASCII character, dates as 8 ASCII digits ``YYYYMMDD``, flags as ``00``/
``FF``. LANG_PS and DIRAMO repeat tag 81 once per entry.

Which field sits in which object follows the labels' public meanings (§8.3) and the SESAM-
Vitale groups (§8.4) — a GUESS. The same bytes serve the CPS2ter volet files
(:func:`volet_files`) and the PKCS#15 data objects (:func:`data_objects`) — also a GUESS.
The decoder is strict: wrong tag, wrong length, missing/extra field, truncation → ValueError.
"""

from __future__ import annotations

from datetime import date
from typing import Callable, Literal, Mapping, Sequence, TypeVar

from cpsdi.cps.holder import (
    MAX_SITUATIONS,
    CardIdentification,
    Holder,
    Identity,
    Situation,
)

__all__ = [
    "MARKER",
    "TAG_ID_CARD",
    "TAG_NAME_PS",
    "TAG_INFO_PS",
    "TAG_LANG_PS",
    "TAG_ACTIVITY",
    "TAG_SIT_FACT",
    "TAG_DIRAMO",
    "Generation",
    "encode_tlv",
    "read_tlv",
    "encode_id_card",
    "decode_id_card",
    "encode_name",
    "decode_name",
    "encode_info",
    "decode_info",
    "encode_languages",
    "decode_languages",
    "encode_situation",
    "decode_situation",
    "encode_sit_fact",
    "decode_sit_fact",
    "encode_diramo",
    "decode_diramo",
    "encode_holder",
    "decode_holder",
    "VOLET_MF",
    "VOLET_PATHS",
    "situation_path",
    "SIT_FACT_PATH",
    "volet_files",
    "volet_protected_paths",
    "data_objects",
    "holder_from_volet_files",
]

MARKER = b"CPSDI-TEST-ENCODING/1"

TAG_ID_CARD = 0xE1
TAG_NAME_PS = 0xE2
TAG_INFO_PS = 0xE3
TAG_LANG_PS = 0xE4
TAG_ACTIVITY = 0xE5
TAG_SIT_FACT = 0xE6
TAG_DIRAMO = 0xE7

_TAG_MARKER = 0x80
_TAG_FIELD = 0x81  # first field; field n has tag 0x80 + n

Generation = Literal["cps3", "cps4"]
_T = TypeVar("_T")


# -- TLV ---------------------------------------------------------------------------------------


def encode_tlv(tag: int, value: bytes) -> bytes:
    """One-byte tag, definite length (short form < 128, else 81/82 long form), value."""
    n = len(value)
    if n < 0x80:
        head = bytes((tag, n))
    elif n <= 0xFF:
        head = bytes((tag, 0x81, n))
    elif n <= 0xFFFF:
        head = bytes((tag, 0x82, n >> 8, n & 0xFF))
    else:
        raise ValueError("value too long for the test encoding")
    return head + value


def read_tlv(buf: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """Parse one TLV at ``pos``: (tag, value, next position). ValueError when malformed."""
    if pos + 2 > len(buf):
        raise ValueError(f"truncated TLV header at offset {pos}")
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first < 0x80:
        n = first
    elif first in (0x81, 0x82):
        k = first & 0x7F
        if pos + k > len(buf):
            raise ValueError(f"truncated TLV length at offset {pos}")
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    else:
        raise ValueError(f"unsupported TLV length byte {first:02X} at offset {pos - 1}")
    if pos + n > len(buf):
        raise ValueError(f"truncated TLV value: tag {tag:02X} needs {n} bytes, {len(buf) - pos} left")
    return tag, bytes(buf[pos:pos + n]), pos + n


def _encode_object(tag: int, fields: Sequence[bytes], *, repeated: bool = False) -> bytes:
    body = encode_tlv(_TAG_MARKER, MARKER)
    for i, value in enumerate(fields):
        body += encode_tlv(_TAG_FIELD if repeated else _TAG_FIELD + i, value)
    return encode_tlv(tag, body)


def _decode_object(tag: int, blob: bytes, count: int | None, name: str) -> list[bytes]:
    """Fields of an object; ``count`` None = a repeated tag 81 list."""
    blob = bytes(blob)
    got_tag, body, end = read_tlv(blob)
    if got_tag != tag:
        raise ValueError(f"{name}: expected tag {tag:02X}, got {got_tag:02X}")
    if end != len(blob):
        raise ValueError(f"{name}: {len(blob) - end} trailing byte(s)")
    mtag, marker, pos = read_tlv(body)
    if mtag != _TAG_MARKER or marker != MARKER:
        raise ValueError(f"{name}: not in the cpsdi test-card encoding (marker missing)")
    fields: list[bytes] = []
    while pos < len(body):
        ftag, value, pos = read_tlv(body, pos)
        want = _TAG_FIELD if count is None else _TAG_FIELD + len(fields)
        if ftag != want:
            raise ValueError(f"{name}: expected field tag {want:02X}, got {ftag:02X}")
        fields.append(value)
    if count is not None and len(fields) != count:
        raise ValueError(f"{name}: expected {count} fields, got {len(fields)}")
    return fields


# -- field values ------------------------------------------------------------------------------


def _uint(value: int) -> bytes:
    if value < 0:
        raise ValueError("codes are unsigned")
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _get_uint(value: bytes, name: str) -> int:
    if not value or (len(value) > 1 and value[0] == 0):
        raise ValueError(f"{name}: not a minimal unsigned integer")
    return int.from_bytes(value, "big")


def _text(value: str) -> bytes:
    return value.encode("utf-8")


def _get_text(value: bytes, name: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8") from exc


def _ascii(value: str) -> bytes:
    return value.encode("ascii")


def _get_ascii(value: bytes, name: str) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not ASCII") from exc


def _flag(value: bool) -> bytes:
    return b"\xff" if value else b"\x00"


def _get_flag(value: bytes, name: str) -> bool:
    if value not in (b"\x00", b"\xff"):
        raise ValueError(f"{name}: a flag is 00 or FF")
    return value == b"\xff"


def _date(value: date) -> bytes:
    return value.strftime("%Y%m%d").encode("ascii")


def _get_date(value: bytes, name: str) -> date:
    text = _get_ascii(value, name)
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"{name}: a date is 8 digits YYYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise ValueError(f"{name}: invalid date {text}") from exc


def _checked(build: Callable[[], _T], name: str) -> _T:
    """Run a model constructor; its validation errors become decoding errors."""
    try:
        return build()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: {exc}") from exc


# -- objects -----------------------------------------------------------------------------------


def encode_id_card(identity: Identity, card: CardIdentification) -> bytes:
    """ID_CARD (CPS_ID_CARD, "card identification"): card type, issuer, card number, dates."""
    return _encode_object(TAG_ID_CARD, (
        _uint(identity.card_type), card.issuer_id, _ascii(card.card_number),
        _date(card.issued), _date(card.expires),
    ))


def decode_id_card(blob: bytes) -> tuple[int, CardIdentification]:
    """(card type, card identification) from an ID_CARD blob."""
    f = _decode_object(TAG_ID_CARD, blob, 5, "ID_CARD")
    card_type = _get_uint(f[0], "ID_CARD card type")
    card = _checked(lambda: CardIdentification(
        card_number=_get_ascii(f[2], "ID_CARD card number"),
        issued=_get_date(f[3], "ID_CARD issued"),
        expires=_get_date(f[4], "ID_CARD expires"),
        issuer_id=f[1],
    ), "ID_CARD")
    return card_type, card


def encode_name(identity: Identity) -> bytes:
    """NAME_PS (CPS_NAME_PS, "holder characteristics"): civility, last name, first name."""
    return _encode_object(TAG_NAME_PS, (
        _uint(identity.civility), _text(identity.last_name), _text(identity.first_name),
    ))


def decode_name(blob: bytes) -> tuple[int, str, str]:
    """(civility, last name, first name) from a NAME_PS blob."""
    f = _decode_object(TAG_NAME_PS, blob, 3, "NAME_PS")
    return _get_uint(f[0], "NAME_PS civility"), _get_text(f[1], "NAME_PS"), _get_text(f[2], "NAME_PS")


def encode_info(identity: Identity) -> bytes:
    """INFO_PS (CPS_INFO_PS, "professional characteristics"): national id type, id, key."""
    return _encode_object(TAG_INFO_PS, (
        _uint(identity.national_id_type), _ascii(identity.national_id), _ascii(identity.national_id_key),
    ))


def decode_info(blob: bytes) -> tuple[int, str, str]:
    """(national id type, national id, key) from an INFO_PS blob."""
    f = _decode_object(TAG_INFO_PS, blob, 3, "INFO_PS")
    return _get_uint(f[0], "INFO_PS id type"), _get_ascii(f[1], "INFO_PS"), _get_ascii(f[2], "INFO_PS")


def encode_languages(languages: Sequence[str]) -> bytes:
    """LANG_PS (CPS_LANG_PS): one two-letter code per entry."""
    return _encode_object(TAG_LANG_PS, [_ascii(x) for x in languages], repeated=True)


def decode_languages(blob: bytes) -> tuple[str, ...]:
    """Language codes from a LANG_PS blob."""
    return tuple(_get_ascii(v, "LANG_PS") for v in _decode_object(TAG_LANG_PS, blob, None, "LANG_PS"))


def encode_situation(s: Situation) -> bytes:
    """ACTIVITY (CPS_ACTIVITY_xx_PS / CPS2ter 3F00/40xx): one situation, §8.4 field order."""
    return _encode_object(TAG_ACTIVITY, (
        _uint(s.index), _uint(s.practice_mode), _uint(s.practice_status), _uint(s.activity_sector),
        _uint(s.structure_id_type), _ascii(s.structure_id), _ascii(s.structure_id_key),
        _text(s.structure_name), _ascii(s.billing_id), _ascii(s.billing_id_key),
        _ascii(s.substitute_id), _ascii(s.substitute_id_key), _uint(s.convention_code),
        _uint(s.speciality_code), _uint(s.tariff_zone_code), _uint(s.ik_zone_code),
        _uint(s.approval_codes[0]), _uint(s.approval_codes[1]), _uint(s.approval_codes[2]),
        _flag(s.may_sign_invoice), _flag(s.may_sign_batch),
    ))


def decode_situation(blob: bytes) -> Situation:
    """A :class:`Situation` from an ACTIVITY blob."""
    f = _decode_object(TAG_ACTIVITY, blob, 21, "ACTIVITY")
    n = "ACTIVITY"
    return _checked(lambda: Situation(
        index=_get_uint(f[0], n), practice_mode=_get_uint(f[1], n), practice_status=_get_uint(f[2], n),
        activity_sector=_get_uint(f[3], n), structure_id_type=_get_uint(f[4], n),
        structure_id=_get_ascii(f[5], n), structure_id_key=_get_ascii(f[6], n),
        structure_name=_get_text(f[7], n), billing_id=_get_ascii(f[8], n),
        billing_id_key=_get_ascii(f[9], n), substitute_id=_get_ascii(f[10], n),
        substitute_id_key=_get_ascii(f[11], n), convention_code=_get_uint(f[12], n),
        speciality_code=_get_uint(f[13], n), tariff_zone_code=_get_uint(f[14], n),
        ik_zone_code=_get_uint(f[15], n),
        approval_codes=(_get_uint(f[16], n), _get_uint(f[17], n), _get_uint(f[18], n)),
        may_sign_invoice=_get_flag(f[19], n), may_sign_batch=_get_flag(f[20], n),
    ), n)


def encode_sit_fact(holder: Holder) -> bytes:
    """SIT_FACT (CPS_SIT_FACT, CPS2ter 3F00/7F01/4000, "situation / billing").

    GUESS content: the billing situation's index, billing id and key, convention code and
    tariff zone; index 0 and empty fields when the card has no situation.
    """
    if holder.billing_situation is None:
        return _encode_object(TAG_SIT_FACT, (_uint(0), b"", b"", _uint(0), _uint(0)))
    s = holder.situation(holder.billing_situation)
    return _encode_object(TAG_SIT_FACT, (
        _uint(s.index), _ascii(s.billing_id), _ascii(s.billing_id_key),
        _uint(s.convention_code), _uint(s.tariff_zone_code),
    ))


def decode_sit_fact(blob: bytes) -> int | None:
    """The billing situation index (None for 0) from a SIT_FACT blob."""
    f = _decode_object(TAG_SIT_FACT, blob, 5, "SIT_FACT")
    index = _get_uint(f[0], "SIT_FACT index")
    if index > MAX_SITUATIONS:
        raise ValueError(f"SIT_FACT: situation index {index} out of range")
    return index or None


def encode_diramo(holder: Holder) -> bytes:
    """DIRAMO (CPS2TER_DIRAMO, "AMO data"): GUESS content — the situation indexes present."""
    return _encode_object(TAG_DIRAMO, [_uint(i) for i in holder.indexes], repeated=True)


def decode_diramo(blob: bytes) -> tuple[int, ...]:
    """Situation indexes from a DIRAMO blob."""
    return tuple(_get_uint(v, "DIRAMO") for v in _decode_object(TAG_DIRAMO, blob, None, "DIRAMO"))


def encode_holder(holder: Holder) -> dict[str, bytes]:
    """All objects of a holder: ID_CARD, NAME_PS, INFO_PS, LANG_PS, ACTIVITY_nn, SIT_FACT, DIRAMO."""
    out = {
        "ID_CARD": encode_id_card(holder.identity, holder.card),
        "NAME_PS": encode_name(holder.identity),
        "INFO_PS": encode_info(holder.identity),
        "LANG_PS": encode_languages(holder.languages),
    }
    for s in holder.situations:
        out[f"ACTIVITY_{s.index:02d}"] = encode_situation(s)
    out["SIT_FACT"] = encode_sit_fact(holder)
    out["DIRAMO"] = encode_diramo(holder)
    return out


def decode_holder(objects: Mapping[str, bytes]) -> Holder:
    """The inverse of :func:`encode_holder` (ValueError on a missing or malformed object;
    SIT_FACT and the situations may be missing: they are read with the PIN)."""
    try:
        card_type, card = decode_id_card(objects["ID_CARD"])
        civility, last_name, first_name = decode_name(objects["NAME_PS"])
        id_type, national_id, key = decode_info(objects["INFO_PS"])
        languages = decode_languages(objects["LANG_PS"])
        # without SIT_FACT (read with the PIN): no billing situation known
        billing = decode_sit_fact(objects["SIT_FACT"]) if "SIT_FACT" in objects else None
    except KeyError as exc:
        raise ValueError(f"missing object {exc.args[0]}") from exc
    situations = []
    for name in sorted(k for k in objects if k.startswith("ACTIVITY_")):
        s = decode_situation(objects[name])
        if name != f"ACTIVITY_{s.index:02d}":
            raise ValueError(f"{name} holds situation {s.index}")
        situations.append(s)
    identity = _checked(lambda: Identity(
        card_type=card_type, national_id_type=id_type, national_id=national_id, national_id_key=key,
        civility=civility, last_name=last_name, first_name=first_name,
    ), "identity")
    return _checked(lambda: Holder(
        identity=identity, card=card, situations=tuple(situations), billing_situation=billing,
        languages=languages,
    ), "holder")


# -- CPS2ter volet files and PKCS#15 data objects ------------------------------------------------

VOLET_MF = b"\x3f\x00"

# Paths in the CPS2ter volet. FACT A6: 3F00/4010..401F (situations 1..16) and 3F00/7F01/4000
# (CPS_SIT_FACT). GUESS: the identity files' FIDs 4001..4005 (not public).
VOLET_PATHS: Mapping[str, bytes] = {
    "ID_CARD": bytes.fromhex("3F00 4001"),
    "NAME_PS": bytes.fromhex("3F00 4002"),
    "LANG_PS": bytes.fromhex("3F00 4003"),
    "INFO_PS": bytes.fromhex("3F00 4004"),
    "DIRAMO": bytes.fromhex("3F00 4005"),
    "SIT_FACT": bytes.fromhex("3F00 7F01 4000"),
}
SIT_FACT_PATH = VOLET_PATHS["SIT_FACT"]


def situation_path(index: int) -> bytes:
    """CPS2ter path of situation ``index`` (FACT A6: 3F00/4010 + index - 1)."""
    if not 1 <= index <= MAX_SITUATIONS:
        raise ValueError(f"situation index must be 1..{MAX_SITUATIONS}")
    return VOLET_MF + (0x4010 + index - 1).to_bytes(2, "big")


def volet_files(holder: Holder) -> dict[bytes, bytes]:
    """CPS2ter volet EF contents by path (bytes: FIDs from 3F00). Absent situations have no file."""
    objects = encode_holder(holder)
    files = {path: objects[name] for name, path in VOLET_PATHS.items()}
    for s in holder.situations:
        files[situation_path(s.index)] = objects[f"ACTIVITY_{s.index:02d}"]
    return files


def volet_protected_paths(holder: Holder) -> frozenset[bytes]:
    """Volet files read-protected by the holder PIN (FACT §8.2: the AM domain — situations and
    billing — is read-protected by the PIN; identification data are free)."""
    return frozenset({SIT_FACT_PATH, *(situation_path(i) for i in holder.indexes)})


def data_objects(holder: Holder, generation: Generation) -> dict[str, bytes]:
    """PKCS#15 data-object values by label (FACT labels and per-generation presence: §8.3).

    CPS3 and CPS4: CPS_DATA (empty: the only writable object), CPS_ID_CARD, CPS_NAME_PS,
    CPS_LANG_PS, CPS_INFO_PS, CPS_ACTIVITY_xx_PS, CPS_SIT_FACT, CPS2TER_ACTIVITY_xx_PS.
    CPS4 only: CPS2TER_ID, CPS2TER_NAME, CPS2TER_LANG, CPS2TER_PSINFO, CPS2TER_DIRAMO
    (CPS2TER_ATR and CPS2TER_ICC are card data, added by the profiles). GUESS: the CPS and
    CPS2TER objects carry the same bytes.
    """
    objects = encode_holder(holder)
    out: dict[str, bytes] = {
        "CPS_DATA": b"",
        "CPS_ID_CARD": objects["ID_CARD"],
        "CPS_NAME_PS": objects["NAME_PS"],
        "CPS_LANG_PS": objects["LANG_PS"],
        "CPS_INFO_PS": objects["INFO_PS"],
    }
    for s in holder.situations:
        out[f"CPS_ACTIVITY_{s.index:02d}_PS"] = objects[f"ACTIVITY_{s.index:02d}"]
    out["CPS_SIT_FACT"] = objects["SIT_FACT"]
    for s in holder.situations:
        out[f"CPS2TER_ACTIVITY_{s.index:02d}_PS"] = objects[f"ACTIVITY_{s.index:02d}"]
    if generation == "cps4":
        out.update({
            "CPS2TER_ID": objects["ID_CARD"],
            "CPS2TER_NAME": objects["NAME_PS"],
            "CPS2TER_LANG": objects["LANG_PS"],
            "CPS2TER_PSINFO": objects["INFO_PS"],
            "CPS2TER_DIRAMO": objects["DIRAMO"],
        })
    elif generation != "cps3":
        raise ValueError(f"unknown generation {generation!r}")
    return out


def holder_from_volet_files(files: Mapping[bytes, bytes]) -> Holder:
    """Decode a holder back from :func:`volet_files` output (test helper)."""
    objects = {name: files[path] for name, path in VOLET_PATHS.items() if path in files}
    for path, blob in files.items():
        if len(path) == 4 and path[:2] == VOLET_MF and 0x4010 <= int.from_bytes(path[2:], "big") <= 0x401F:
            objects[f"ACTIVITY_{int.from_bytes(path[2:], 'big') - 0x4010 + 1:02d}"] = blob
    return decode_holder(objects)


def is_test_encoding(blob: bytes) -> bool:
    """True if ``blob`` is an object of this encoding (its first field is :data:`MARKER`)."""
    try:
        _, value, end = read_tlv(bytes(blob))
        tag, marker, _ = read_tlv(value)
    except ValueError:
        return False
    return end == len(blob) and tag == _TAG_MARKER and marker == MARKER


def holder_from_data_objects(objects: Mapping[str, bytes]) -> Holder:
    """Decode a test card's PKCS#15 data objects (the labels of :func:`data_objects`); without
    the PIN-protected ones (CPS_ACTIVITY_xx_PS, CPS_SIT_FACT) the holder has no situation."""
    names = {"CPS_ID_CARD": "ID_CARD", "CPS_NAME_PS": "NAME_PS", "CPS_INFO_PS": "INFO_PS",
             "CPS_LANG_PS": "LANG_PS", "CPS_SIT_FACT": "SIT_FACT"}
    mapped = {names[label]: blob for label, blob in objects.items() if label in names}
    for label, blob in objects.items():
        if label.startswith("CPS_ACTIVITY_") and label.endswith("_PS"):
            mapped[f"ACTIVITY_{label[len('CPS_ACTIVITY_'):-len('_PS')]}"] = blob
    return decode_holder(mapped)
