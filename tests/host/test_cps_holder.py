"""Holder model (SESAM-Vitale fields, code tables) and the cpsdi test-card encoding."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpsdi.cps import test_encoding as codec
from cpsdi.cps.holder import (
    CARD_TYPES,
    CIVILITIES,
    NATIONAL_ID_TYPES,
    PRACTICE_MODES,
    CardIdentification,
    Holder,
    Identity,
    Situation,
    describe,
    luhn_digit,
)
from cpsdi_boards.sim.cps.profiles import PROFILES

MARKER_TLV = "80 15 " + codec.MARKER.hex(" ")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


IDENTITY = Identity(
    card_type=0, national_id_type=0, national_id="991091976", national_id_key="6",
    civility=13, last_name="BIDE", first_name="Jean",
)
CARD = CardIdentification(card_number="0010000001", issued=date(2025, 1, 6), expires=date(2045, 1, 6))


def situation(index: int = 1, **changes: object) -> Situation:
    base = Situation(
        index=index, practice_mode=0, practice_status=1, activity_sector=31, structure_id_type=0,
        structure_id="990781056", structure_id_key="4", structure_name="CABINET",
        billing_id="991000011", billing_id_key="3",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# -- code tables and model ----------------------------------------------------------------------


def test_code_tables_hold_the_public_meanings() -> None:
    assert CARD_TYPES[0].startswith("CPS") and CARD_TYPES[80] == "carte test de PS"
    assert NATIONAL_ID_TYPES[0] == "ADELI" and NATIONAL_ID_TYPES[3] == "FINESS"
    assert PRACTICE_MODES == {0: "libéral", 1: "salarié", 4: "remplaçant", 7: "non rétribué"}
    assert CIVILITIES[13] == "Docteur" and CIVILITIES[22] == "Madame"
    assert describe(CIVILITIES, 31) == "Monsieur"
    assert describe(CIVILITIES, 99) == "code 99 (meaning not public)"


def test_luhn_digit_matches_the_ef_sn_example() -> None:
    # FACT §5.4: 5A 0A 80 25 00 00 01 99 21 38 45 0F -> Luhn digit 0 then filler F
    assert luhn_digit("802500000199213845") == "0"
    assert luhn_digit("7992739871") == "3"
    with pytest.raises(ValueError):
        luhn_digit("12a")


def test_holder_validation() -> None:
    sits = tuple(situation(i) for i in range(1, 17))
    assert len(Holder(IDENTITY, CARD, sits).situations) == 16
    with pytest.raises(ValueError, match="index"):
        situation(17)
    with pytest.raises(ValueError, match="index"):
        situation(0)
    with pytest.raises(ValueError, match="distinct"):
        Holder(IDENTITY, CARD, (situation(2), situation(2)))
    with pytest.raises(ValueError, match="increasing"):
        Holder(IDENTITY, CARD, (situation(3), situation(1)))
    with pytest.raises(ValueError, match="billing_situation"):
        Holder(IDENTITY, CARD, (situation(1),), billing_situation=2)
    with pytest.raises(ValueError, match="one-byte"):
        situation(1, speciality_code=256)
    with pytest.raises(ValueError, match="digits"):
        situation(1, billing_id="12AB")
    with pytest.raises(ValueError, match="10 digits"):
        CardIdentification(card_number="123", issued=date(2025, 1, 1), expires=date(2026, 1, 1))
    with pytest.raises(ValueError, match="expires"):
        CardIdentification(card_number="0000000001", issued=date(2025, 1, 1), expires=date(2024, 1, 1))
    with pytest.raises(ValueError, match="ISO 639-1"):
        Holder(IDENTITY, CARD, languages=("fra",))
    holder = Holder(IDENTITY, CARD, (situation(2), situation(9)), billing_situation=9)
    assert holder.indexes == (2, 9) and holder.situation(9).index == 9
    with pytest.raises(KeyError):
        holder.situation(1)


# -- exact bytes --------------------------------------------------------------------------------


def test_name_exact_bytes() -> None:
    blob = codec.encode_name(IDENTITY)
    assert blob == h("E2 26 " + MARKER_TLV + " 81 01 0D 82 04 42 49 44 45 83 04 4A 65 61 6E")
    assert codec.decode_name(blob) == (13, "BIDE", "Jean")


def test_id_card_exact_bytes() -> None:
    blob = codec.encode_id_card(IDENTITY, CARD)
    assert blob == h(
        "E1 41 " + MARKER_TLV + " 81 01 00 82 05 80 25 00 00 01 83 0A" + " 30" * 2 + " 31" + " 30" * 6 + " 31"
        " 84 08 32 30 32 35 30 31 30 36 85 08 32 30 34 35 30 31 30 36"
    )
    assert codec.decode_id_card(blob) == (0, CARD)


def test_info_languages_diramo_exact_bytes() -> None:
    assert codec.encode_info(IDENTITY) == h(
        "E3 28 " + MARKER_TLV + " 81 01 00 82 09 39 39 31 30 39 31 39 37 36 83 01 36"
    )
    assert codec.encode_languages(("fr", "en")) == h("E4 1F " + MARKER_TLV + " 81 02 66 72 81 02 65 6E")
    holder = Holder(IDENTITY, CARD, (situation(2), situation(16)), billing_situation=2)
    assert codec.encode_diramo(holder) == h("E7 1D " + MARKER_TLV + " 81 01 02 81 01 10")
    assert codec.decode_diramo(codec.encode_diramo(holder)) == (2, 16)


def test_situation_uses_the_long_length_form_and_flags() -> None:
    s = situation(5, structure_name="X" * 150, may_sign_batch=False)
    blob = codec.encode_situation(s)
    assert len(blob) == 253 and blob[:3] == h("E5 81 FA")
    body = blob[3:]
    assert body.startswith(h(MARKER_TLV) + h("81 01 05 82 01 00 83 01 01 84 01 1F"))
    assert h("88 81 96") + b"X" * 150 in body
    assert body.endswith(h("94 01 FF 95 01 00"))
    assert codec.decode_situation(blob) == s


def test_sit_fact_bytes_and_no_situation() -> None:
    holder = Holder(IDENTITY, CARD, (situation(3),), billing_situation=3)
    blob = codec.encode_sit_fact(holder)
    assert blob == h(
        "E6 2E " + MARKER_TLV + " 81 01 03 82 09 39 39 31 30 30 30 30 31 31 83 01 33 84 01 00 85 01 00"
    )
    assert codec.decode_sit_fact(blob) == 3
    empty = codec.encode_sit_fact(Holder(IDENTITY, CARD))
    assert empty == h("E6 24 " + MARKER_TLV + " 81 01 00 82 00 83 00 84 01 00 85 01 00")
    assert codec.decode_sit_fact(empty) is None


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_holder_round_trips(name: str) -> None:
    holder = PROFILES[name].holder
    objects = codec.encode_holder(holder)
    assert codec.decode_holder(objects) == holder
    assert codec.holder_from_volet_files(codec.volet_files(holder)) == holder
    for blob in objects.values():
        assert codec.MARKER in blob


_digits = st.from_regex(r"\A[0-9]{0,14}\Z")
_key = st.from_regex(r"\A[0-9A-Z]?\Z")
_code = st.integers(0, 255)


@st.composite
def situations(draw: st.DrawFn, index: int) -> Situation:
    return Situation(
        index=index, practice_mode=draw(_code), practice_status=draw(_code), activity_sector=draw(_code),
        structure_id_type=draw(_code), structure_id=draw(_digits), structure_id_key=draw(_key),
        structure_name=draw(st.text(max_size=300)), billing_id=draw(_digits), billing_id_key=draw(_key),
        substitute_id=draw(_digits), substitute_id_key=draw(_key), convention_code=draw(_code),
        speciality_code=draw(_code), tariff_zone_code=draw(_code), ik_zone_code=draw(_code),
        approval_codes=(draw(_code), draw(_code), draw(_code)),
        may_sign_invoice=draw(st.booleans()), may_sign_batch=draw(st.booleans()),
    )


@st.composite
def holders(draw: st.DrawFn) -> Holder:
    indexes = sorted(draw(st.sets(st.integers(1, 16), max_size=16)))
    sits = tuple(draw(situations(i)) for i in indexes)
    identity = Identity(
        card_type=draw(_code), national_id_type=draw(_code),
        national_id=draw(st.from_regex(r"\A[0-9]{1,14}\Z")), national_id_key=draw(_key),
        civility=draw(_code), last_name=draw(st.text(max_size=80)), first_name=draw(st.text(max_size=80)),
    )
    billing = draw(st.sampled_from(indexes)) if indexes else None
    langs = tuple(draw(st.lists(st.from_regex(r"\A[a-z]{2}\Z"), max_size=3)))
    return Holder(identity, CARD, sits, billing_situation=billing, languages=langs)


@settings(max_examples=60, deadline=None)
@given(holders())
def test_any_holder_round_trips(holder: Holder) -> None:
    assert codec.decode_holder(codec.encode_holder(holder)) == holder


# -- decoder rejects bad input ------------------------------------------------------------------


def test_every_truncation_is_a_clear_value_error() -> None:
    blob = codec.encode_situation(situation(1))
    for n in range(len(blob)):
        with pytest.raises(ValueError):
            codec.decode_situation(blob[:n])
    with pytest.raises(ValueError, match="truncated"):
        codec.decode_situation(blob[:-1])


@pytest.mark.parametrize(
    "blob, message",
    [
        (h("E1 00"), "expected tag E2, got E1"),
        (h("E2 02 81 00"), "marker missing"),
        (h("E2 03 80 01 00"), "marker missing"),
        (h("E2 17 " + MARKER_TLV), "expected 3 fields, got 0"),
        (h("E2 20 " + MARKER_TLV + " 81 01 0D 83 04 42 49 44 45"), "expected field tag 82, got 83"),
        (h("E2 26 " + MARKER_TLV + " 81 01 0D 82 04 42 49 44 45 83 04 4A 65 61 6E 00"), "trailing"),
        (h("E2 83 00 00 01 00"), "unsupported TLV length byte 83"),
        (h("E2 81"), "truncated TLV length"),
        (h("E2"), "truncated TLV header"),
        (h("E2 26 " + MARKER_TLV + " 81 02 00 0D 82 03 42 49 44 83 04 4A 65 61 6E"), "minimal"),
        (h("E2 26 " + MARKER_TLV + " 81 01 0D 82 04 42 FF 44 45 83 04 4A 65 61 6E"), "UTF-8"),
    ],
)
def test_bad_name_blobs(blob: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        codec.decode_name(blob)


def test_bad_field_values() -> None:
    good = codec.encode_situation(situation(1))
    with pytest.raises(ValueError, match="flag"):
        codec.decode_situation(good[:-1] + b"\x01")
    bad_date = codec.encode_id_card(IDENTITY, CARD).replace(b"20250106", b"20251306")
    with pytest.raises(ValueError, match="invalid date"):
        codec.decode_id_card(bad_date)
    bad_index = good.replace(h("81 01 01"), h("81 01 11"), 1)  # situation 17
    with pytest.raises(ValueError, match="ACTIVITY: situation index"):
        codec.decode_situation(bad_index)
    with pytest.raises(ValueError, match="expected tag E6"):
        codec.decode_sit_fact(good)


def test_decode_holder_missing_or_misplaced_objects() -> None:
    holder = PROFILES["doctor"].holder
    objects = codec.encode_holder(holder)
    partial = dict(objects)
    del partial["NAME_PS"]
    with pytest.raises(ValueError, match="missing object NAME_PS"):
        codec.decode_holder(partial)
    swapped = dict(objects)
    swapped["ACTIVITY_01"], swapped["ACTIVITY_02"] = objects["ACTIVITY_02"], objects["ACTIVITY_01"]
    with pytest.raises(ValueError, match="ACTIVITY_01 holds situation 2"):
        codec.decode_holder(swapped)


# -- volet paths and data-object labels ---------------------------------------------------------


def test_volet_paths_and_protection() -> None:
    holder = PROFILES["sparse"].holder
    files = codec.volet_files(holder)
    assert sorted(p.hex() for p in files) == [
        "3f004001", "3f004002", "3f004003", "3f004004", "3f004005",
        "3f004011", "3f004013", "3f00401f", "3f007f014000",
    ]
    assert codec.volet_protected_paths(holder) == {
        h("3F00 4011"), h("3F00 4013"), h("3F00 401F"), h("3F00 7F01 4000"),
    }
    assert codec.situation_path(1) == h("3F00 4010") and codec.situation_path(16) == h("3F00 401F")
    with pytest.raises(ValueError):
        codec.situation_path(17)


def test_data_object_labels_per_generation() -> None:
    holder = PROFILES["doctor"].holder
    cps3 = codec.data_objects(holder, "cps3")
    assert sorted(cps3) == sorted([
        "CPS_DATA", "CPS_ID_CARD", "CPS_NAME_PS", "CPS_LANG_PS", "CPS_INFO_PS",
        "CPS_ACTIVITY_01_PS", "CPS_ACTIVITY_02_PS", "CPS_ACTIVITY_03_PS", "CPS_SIT_FACT",
        "CPS2TER_ACTIVITY_01_PS", "CPS2TER_ACTIVITY_02_PS", "CPS2TER_ACTIVITY_03_PS",
    ])
    cps4 = codec.data_objects(holder, "cps4")
    assert set(cps4) - set(cps3) == {
        "CPS2TER_ID", "CPS2TER_NAME", "CPS2TER_LANG", "CPS2TER_PSINFO", "CPS2TER_DIRAMO",
    }
    assert cps3["CPS_ACTIVITY_02_PS"] == codec.volet_files(holder)[h("3F00 4011")]
    assert cps3["CPS_SIT_FACT"] == codec.volet_files(holder)[h("3F00 7F01 4000")]
    assert cps3["CPS_DATA"] == b""
    with pytest.raises(ValueError, match="generation"):
        codec.data_objects(holder, "cps2")  # type: ignore[arg-type]
