"""Ready-made test card profiles: registry, PIN data, EF.SN, volet files and data objects."""

from __future__ import annotations

import dataclasses

import pytest

from cpsdi.cps import test_encoding
from cpsdi_boards.sim.cps.cps2ter import CPS2terVolet
from cpsdi_boards.sim.cps.profiles import (
    GENERATION_ATRS,
    PROFILES,
    CardProfile,
    data_objects,
    ef_sn,
    get_profile,
    make_volet,
    profile_names,
    volet_files,
    volet_protected_paths,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_registry() -> None:
    assert profile_names() == ("doctor", "pharmacist", "blocked", "expired", "sparse", "employee")
    assert get_profile("doctor") is PROFILES["doctor"]
    with pytest.raises(ValueError, match="unknown card profile 'nurse' .*doctor, pharmacist"):
        get_profile("nurse")
    for name, p in PROFILES.items():
        assert p.name == name and p.description


def test_ef_sn_matches_the_public_example() -> None:
    # corpus row 7 (FACT §13): 5A 0A 80 25 00 00 01 99 21 38 45 0F
    assert ef_sn("99213845") == h("5A 0A 80 25 00 00 01 99 21 38 45 0F")
    assert ef_sn("10000001") == h("5A 0A 80 25 00 00 01 10 00 00 01 4F")
    with pytest.raises(ValueError):
        ef_sn("1234")
    serials = [p.serial_number for p in PROFILES.values()]
    assert len(set(serials)) == len(serials)
    assert all(len(s) == 12 and s[2:7] == h("80 25 00 00 01") for s in serials)


def test_profile_contents() -> None:
    doctor = get_profile("doctor")
    assert doctor.generation == "cps3" and doctor.holder.indexes == (1, 2, 3)
    assert doctor.holder.identity.civility == 13
    assert (doctor.pin, doctor.unblock_code) == (b"1234", b"12345678")
    assert (doctor.pin_tries_left, doctor.unblock_tries_left, doctor.unblock_uses_left) == (3, 10, 100)
    assert doctor.quirks and not doctor.pin_blocked and not doctor.cert_expired
    assert doctor.atr == GENERATION_ATRS["cps3"]
    pharmacist = get_profile("pharmacist")
    assert pharmacist.generation == "cps4" and not pharmacist.quirks and len(pharmacist.holder.situations) == 1
    blocked = get_profile("blocked")
    assert blocked.pin_blocked and not blocked.card_blocked
    assert dataclasses.replace(blocked, unblock_uses_left=0).card_blocked
    expired = get_profile("expired")
    assert expired.cert_expired and expired.holder.card.expires.year == 2024
    assert get_profile("sparse").holder.indexes == (2, 4, 16)
    employee = get_profile("employee")
    assert employee.holder.identity.card_type == 2 and employee.holder.situations == ()
    assert employee.holder.billing_situation is None


def test_pin_never_in_repr_or_errors() -> None:
    p = get_profile("doctor")
    text = repr(p)
    assert "pin=" not in text and "unblock_code=" not in text and "12345678" not in text
    with pytest.raises(ValueError) as err:
        dataclasses.replace(p, pin=b"12a4")
    assert "12a4" not in str(err.value)
    with pytest.raises(ValueError):
        dataclasses.replace(p, unblock_code=b"123")
    with pytest.raises(ValueError):
        dataclasses.replace(p, pin_tries_left=4)
    with pytest.raises(ValueError):
        dataclasses.replace(p, generation="cps2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="EF.SN"):
        dataclasses.replace(p, serial_number=b"\x5a\x0a")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_volet_files_decode_back(name: str) -> None:
    p = get_profile(name)
    files = volet_files(p)
    assert test_encoding.holder_from_volet_files(files) == p.holder
    protected = volet_protected_paths(p)
    assert h("3F00 7F01 4000") in protected
    assert {path for path in files if path[2:3] == b"\x40" and path[3] >= 0x10} <= protected


def test_data_objects_per_generation() -> None:
    cps3 = data_objects(get_profile("doctor"))
    assert "CPS2TER_ATR" not in cps3 and "CPS_ACTIVITY_03_PS" in cps3
    cps4 = data_objects(get_profile("sparse"))
    assert cps4["CPS2TER_ATR"] == GENERATION_ATRS["cps4"]
    assert cps4["CPS2TER_ICC"] == get_profile("sparse").serial_number
    assert sorted(k for k in cps4 if k.startswith("CPS_ACTIVITY")) == [
        "CPS_ACTIVITY_02_PS", "CPS_ACTIVITY_04_PS", "CPS_ACTIVITY_16_PS",
    ]
    assert test_encoding.decode_situation(cps4["CPS_ACTIVITY_16_PS"]).index == 16
    assert test_encoding.decode_sit_fact(cps4["CPS_SIT_FACT"]) == 2


def test_blocked_profile_volet_refuses_protected_reads() -> None:
    v = make_volet(get_profile("blocked"))
    assert v.handle(h("A0 A4 00 00 02"), h("40 10")).sw == 0x9F07
    assert v.handle(h("A0 B0 00 00 10"), b"").sw == 0x9840
    assert v.handle(h("A0 20 00 01 08"), CPS2terVolet.pin_field(b"1234")).sw == 0x9840


def test_custom_profile() -> None:
    base = get_profile("doctor")
    custom = CardProfile("my-card", "custom", "cps4", base.holder, ef_sn("12345678"), pin=b"0000")
    assert data_objects(custom)["CPS2TER_ICC"] == ef_sn("12345678")
