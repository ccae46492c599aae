"""Random APDUs never crash the virtual CPS3/CPS4 applications: every answer is a
CardResponse with a plausible status word (a misbehaving host must not break the simulator)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpsdi_boards.sim.cps.cps3 import CPS3Application
from cpsdi_boards.sim.cps.cps4 import CPS4Application

from _cps_keys import key_and_cert

SERIAL = bytes.fromhex("5A 0A 80 25 00 00 01 99 21 38 45 0F")
INS = [0xA4, 0xB0, 0xD6, 0xCB, 0x20, 0x24, 0x2C, 0x22, 0x2A, 0x88, 0x84, 0x70, 0xC0, 0xDB, 0x00, 0xFF]
CLA = [0x00, 0x01, 0x02, 0x10, 0x11, 0x0C, 0x40, 0x80, 0xA0]

apdus = st.lists(st.tuples(st.sampled_from(CLA), st.sampled_from(INS), st.integers(0, 255), st.integers(0, 255),
                           st.binary(max_size=40)), min_size=1, max_size=12)
# structured prefixes that reach the deeper parsers
PREFIXES = [b"", bytes.fromhex("4D 08 70 06 BF 81 01 02"), bytes.fromhex("90 00 80"), bytes.fromhex("80 01"),
            bytes.fromhex("91 02"), bytes.fromhex("4D 09 70 07 BF 90 02 03 7F")]


def _apps() -> tuple[CPS3Application, CPS4Application]:
    auth_key, auth_cert = key_and_cert("CPS3 auth")
    sign_key, sign_cert = key_and_cert("CPS3 sign")
    kw = dict(serial=SERIAL, auth_key=auth_key, sign_key=sign_key, auth_cert=auth_cert, sign_cert=sign_cert,
              data_objects={"CPS_ACTIVITY_01_PS": b"\x30\x00"}, pin=b"1234", unblock_code=b"12345678")
    return CPS3Application(**kw), CPS4Application(**kw)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(apdus, st.sampled_from(PREFIXES))
def test_random_apdus_never_raise(commands: list[tuple[int, int, int, int, bytes]], prefix: bytes) -> None:
    for app in _apps():
        app.handle(bytes((0x00, 0x20, 0x00, 0x01, 0x04)), b"1234")
        for cla, ins, p1, p2, data in commands:
            data = prefix + data if data else b""
            header = bytes((cla, ins, p1, p2, len(data) if data else p1 & 0x0F))
            resp = app.handle(header, data)
            assert 0x6000 <= resp.sw <= 0x9FFF
