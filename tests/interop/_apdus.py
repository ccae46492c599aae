"""APDUs for the test applet (boards/cpsdi_boards/sim/test_applet.py) and what it answers."""

from __future__ import annotations

from cpsdi_boards.sim.test_applet import read_binary_bytes

T0_ATR = bytes.fromhex("3B 13 18 43 50 53")  # cpsdi sim --card t0
T1_ATR = bytes.fromhex("3B 93 18 81 31 FE 45 43 50 53 C0")  # cpsdi sim --card t1 (IFSC 254, BWI 4)
ATRS = {"t0": T0_ATR, "t1": T1_ATR}
PROTOCOLS = {"t0": "T0", "t1": "T1"}
OK = 0x9000


def read_binary(offset: int, le: int) -> bytes:
    """READ BINARY (case 2), Le 1..256."""
    return bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, le & 0xFF])


def echo(data: bytes) -> bytes:
    """ECHO (case 4, short): the card answers ``data`` reversed."""
    return bytes([0x00, 0x88, 0x00, 0x00, len(data)]) + data + b"\x00"


def echo_extended(data: bytes) -> bytes:
    """ECHO as an extended case-4 APDU (Lc on 3 bytes, Le 00 00)."""
    return b"\x00\x88\x00\x00\x00" + len(data).to_bytes(2, "big") + data + b"\x00\x00"


def pattern(n: int) -> bytes:
    return bytes((7 * i + 3) & 0xFF for i in range(n))


SELECT = bytes.fromhex("00 A4 04 00 07 A0 00 00 00 03 10 10")  # case 3: 9000, no data
GET_CHALLENGE_8 = bytes.fromhex("00 84 00 00 08")
INCREMENT = bytes.fromhex("00 32 00 00 04")
GET_COUNTER = bytes.fromhex("00 CA 00 01 04")
UNKNOWN_INS = bytes.fromhex("00 F0 00 00 00")  # 6D00

# Response size classes (1, 255, 256 bytes) and command sizes (1, 255 bytes of data:
# T=1 chaining of the command at IFSC 254, of the answer at IFSD 254).
SIZE_CLASSES: list[tuple[bytes, bytes]] = [
    (read_binary(0x10, 1), read_binary_bytes(0x10, 1)),
    (read_binary(0x10, 255), read_binary_bytes(0x10, 255)),
    (read_binary(0x10, 256), read_binary_bytes(0x10, 256)),
    (echo(pattern(1)), pattern(1)[::-1]),
    (echo(pattern(128)), pattern(128)[::-1]),
    (echo(pattern(255)), pattern(255)[::-1]),
]

# A script whose answers depend on the card's state too: the same fresh card must answer
# it identically through pcscd and through the cpsdi Reader API (no command lost or run twice).
STATEFUL_SCRIPT: list[bytes] = [
    SELECT, GET_CHALLENGE_8, INCREMENT, INCREMENT, GET_CHALLENGE_8, GET_COUNTER, UNKNOWN_INS,
    *(apdu for apdu, _ in SIZE_CLASSES), INCREMENT, GET_COUNTER,
]
