"""The CPS2ter volet: the GSM-11.11-like compatibility applet of CPS3 and CPS4 cards.

FACT (cps-cards.md §7.5, A1/A8, Cryptolib ``card-cps.c``): CLA ``A0``; SELECT by FID
``A0 A4 00 00 02 <FID>`` (a path is a series of FID selects); the card answers ``9F xx`` and
the FCI is fetched with GET RESPONSE ``A0 C0 00 00 xx``; the FCI starts with tag ``85``
whose value holds [0-1] file size, [2-3] FID, [4] type (01 MF, 02 DF, 04 EF); transparent
EFs; READ BINARY ``A0 B0 <offset> Le``; status words 67 00, 6B 00, 6D 00, 6E 00, 6F 00,
92 40, 94 02, 94 04, 94 08, 98 02, 98 04, 98 08, 98 10, 98 40, 6C xx, 90 00, 9F xx.
FACT §8.2: situations and billing data are read-protected by the holder PIN.

GUESS (not public; GSM 11.11 habits): the FCI is exactly ``85 05 <size> <FID> <type>``
(5 value bytes, what Cryptolib reads; DF size 0); selectable files are the current DF, its
children, and every ancestor and its children (lenient: Cryptolib skips SELECT 3F00 before a
path); which SW answers which error (listed on each branch); VERIFY ``A0 20 00 01 08 <PIN
ASCII, FF-padded to 8>`` with 98 04 (wrong PIN, tries left) / 98 40 (blocked); a protected
EF read before VERIFY → 98 04; READ BINARY past the end → 94 02, Le beyond the end → 6C xx.

With ``aid`` (CPS4: ``80 25 00 00 01 FF 00 02``, FACT A4) the volet also accepts the ISO
SELECT by AID ``00 A4 04 0C|00 08 <AID>`` that Cryptolib's CPS4 recovery sends on the basic
channel (FACT A4); it answers 90 00 without data and makes the MF current (GUESS), a different
AID gets 6A 82 (GUESS). Every other CLA 00 command gets 6E 00.

The class is an APDU handler ``(header, data) -> CardResponse``: it returns ``9F xx`` itself
and serves GET RESPONSE itself, so it runs under :class:`T0Behaviour` (whose own
GET RESPONSE path only starts after ``61 xx``) and inside a CPS4 model's basic channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Mapping

from cpsdi_boards.sim.virtual_card import OUTGOING_INS, CardResponse

__all__ = [
    "CPS2TER_AID",
    "CLA_CPS2TER",
    "INS_SELECT",
    "INS_GET_RESPONSE",
    "INS_READ_BINARY",
    "INS_VERIFY",
    "VOLET_OUTGOING_INS",
    "FILE_MF",
    "FILE_DF",
    "FILE_EF",
    "SW_OK",
    "SW_WRONG_LENGTH",
    "SW_WRONG_P1P2",
    "SW_INS_NOT_SUPPORTED",
    "SW_CLA_NOT_SUPPORTED",
    "SW_NO_DIAGNOSIS",
    "SW_OUT_OF_RANGE",
    "SW_FILE_NOT_FOUND",
    "SW_FILE_INCONSISTENT",
    "SW_PIN_NOT_INITIALISED",
    "SW_ACCESS_DENIED",
    "SW_PIN_BLOCKED",
    "fci",
    "CPS2terVolet",
]

CPS2TER_AID = bytes.fromhex("80 25 00 00 01 FF 00 02")  # FACT A4: CPS2ter applet AID on CPS4
CLA_CPS2TER = 0xA0
INS_SELECT = 0xA4
INS_GET_RESPONSE = 0xC0
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20

# For T0Behaviour: P3 is Le for these INS (READ BINARY, GET RESPONSE are already there).
VOLET_OUTGOING_INS = OUTGOING_INS

FILE_MF = 0x01  # FACT A1: FCI type byte
FILE_DF = 0x02
FILE_EF = 0x04

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700  # FACT A1 (list); used for a bad Lc/P3 — GUESS
SW_WRONG_P1P2 = 0x6B00  # FACT A1 (list); used for P1/P2 ≠ 00 00 on SELECT / VERIFY P2 — GUESS
SW_INS_NOT_SUPPORTED = 0x6D00  # FACT A1
SW_CLA_NOT_SUPPORTED = 0x6E00  # FACT A1
SW_NO_DIAGNOSIS = 0x6F00  # FACT A1 (list); used for GET RESPONSE with nothing pending — GUESS
SW_OUT_OF_RANGE = 0x9402  # FACT A1 "bad address/length"
SW_FILE_NOT_FOUND = 0x9404  # FACT A1
SW_FILE_INCONSISTENT = 0x9408  # FACT A1 "file not usable for this command"
SW_PIN_NOT_INITIALISED = 0x9802  # FACT A1 "PIN not activated"
SW_ACCESS_DENIED = 0x9804  # FACT A1 "PIN incorrect" (GSM: access condition not fulfilled)
SW_PIN_BLOCKED = 0x9840  # FACT A1 "PIN locked"

_PIN_FIELD_LEN = 8  # GUESS (GSM 11.11 CHV field)
_MF_FID = 0x3F00


def fci(size: int, fid: int, file_type: int) -> bytes:
    """The FCI a SELECT makes available: ``85 05 <size:2> <fid:2> <type>`` (layout of the
    value FACT A1; no further bytes: GUESS)."""
    return bytes((0x85, 0x05)) + size.to_bytes(2, "big") + fid.to_bytes(2, "big") + bytes((file_type,))


@dataclass(frozen=True)
class _Node:
    path: tuple[int, ...]
    content: bytes | None  # None for the MF and DFs

    @property
    def fid(self) -> int:
        return self.path[-1]

    @property
    def is_ef(self) -> bool:
        return self.content is not None


def _split_path(path: bytes) -> tuple[int, ...]:
    if len(path) < 4 or len(path) % 2 or path[:2] != b"\x3f\x00":
        raise ValueError(f"a volet path is 3F00 followed by FIDs, got {bytes(path).hex()}")
    return tuple(int.from_bytes(path[i:i + 2], "big") for i in range(0, len(path), 2))


class CPS2terVolet:
    """CPS2ter volet APDU handler over a tree of transparent EFs.

    ``files`` maps EF paths (bytes ``3F 00 …``) to contents; the DFs on those paths exist
    implicitly. ``protected``: paths readable only after the holder PIN. PIN: either the
    volet's own (``pin`` as ASCII digits, ``pin_tries_left``; VERIFY is a GUESS, see the module
    docstring), or an outside check ``pin_verified`` (e.g. a CPS4 model sharing its PIN
    state), which wins when given. ``pin`` None and no ``pin_verified``: protected files
    answer 98 02 (PIN not activated). The PIN is never logged or shown in ``repr``.
    """

    def __init__(
        self,
        files: Mapping[bytes, bytes],
        *,
        protected: Collection[bytes] = (),
        pin: bytes | None = None,
        pin_tries_left: int = 3,
        pin_verified: Callable[[], bool] | None = None,
        aid: bytes | None = None,
    ) -> None:
        self.aid = None if aid is None else bytes(aid)
        self._nodes: dict[tuple[int, ...], _Node] = {(_MF_FID,): _Node((_MF_FID,), None)}
        for path, content in files.items():
            parts = _split_path(path)
            for depth in range(1, len(parts)):
                prefix = parts[:depth]
                node = self._nodes.setdefault(prefix, _Node(prefix, None))
                if node.is_ef:
                    raise ValueError(f"{bytes(path).hex()} lies under an EF")
            if parts in self._nodes:
                raise ValueError(f"{bytes(path).hex()} is also a DF or given twice")
            self._nodes[parts] = _Node(parts, bytes(content))
        self._protected = frozenset(_split_path(p) for p in protected)
        unknown = [p for p in self._protected if p not in self._nodes]
        if unknown:
            raise ValueError("protected paths without a file: " + ", ".join(bytes(b"".join(
                f.to_bytes(2, "big") for f in p)).hex() for p in unknown))
        self._pin = None if pin is None else bytes(pin)
        self.pin_tries_left = pin_tries_left
        self._pin_verified_hook = pin_verified
        self.reset()

    def __repr__(self) -> str:
        return f"CPS2terVolet({len(self._nodes)} files, pin tries left {self.pin_tries_left})"

    def reset(self) -> None:
        """Card reset: MF current, no EF, PIN not verified, nothing pending."""
        self._current_df: tuple[int, ...] = (_MF_FID,)
        self._current_ef: _Node | None = None
        self._pending: bytes | None = None
        self._verified = False

    # -- state, for tests ------------------------------------------------------------------------

    @property
    def current_path(self) -> bytes:
        """Path of the current EF, or of the current DF when no EF is selected."""
        parts = self._current_ef.path if self._current_ef is not None else self._current_df
        return b"".join(p.to_bytes(2, "big") for p in parts)

    @property
    def pin_verified(self) -> bool:
        """Whether protected files are readable now."""
        if self._pin_verified_hook is not None:
            return self._pin_verified_hook()
        return self._verified

    # -- handler ---------------------------------------------------------------------------------

    def handle(self, header: bytes, data: bytes) -> CardResponse:
        """``(CLA INS P1 P2 P3, command data) -> CardResponse`` for T0Behaviour or a CPS4 model."""
        if len(header) < 4:
            return CardResponse(sw=SW_WRONG_LENGTH)  # GUESS
        cla, ins, p1, p2 = header[0], header[1], header[2], header[3]
        p3 = header[4] if len(header) > 4 else 0
        if cla == 0x00 and ins == INS_SELECT and p1 == 0x04 and self.aid is not None:
            return self._select_aid(p2, bytes(data))
        if cla != CLA_CPS2TER:
            return CardResponse(sw=SW_CLA_NOT_SUPPORTED)
        pending, self._pending = self._pending, None  # GSM: GET RESPONSE right after the command
        if ins == INS_GET_RESPONSE:
            return self._get_response(pending, p1, p2, p3)
        if ins == INS_SELECT:
            return self._select(p1, p2, p3, bytes(data))
        if ins == INS_READ_BINARY:
            return self._read_binary(p1, p2, p3)
        if ins == INS_VERIFY:
            return self._verify(p1, p2, p3, bytes(data))
        return CardResponse(sw=SW_INS_NOT_SUPPORTED)

    def _get_response(self, pending: bytes | None, p1: int, p2: int, p3: int) -> CardResponse:
        if pending is None:
            return CardResponse(sw=SW_NO_DIAGNOSIS)  # GUESS
        if (p1, p2) != (0, 0):
            self._pending = pending
            return CardResponse(sw=SW_WRONG_P1P2)  # GUESS
        le = p3 or 256
        if le > len(pending):
            self._pending = pending
            return CardResponse(sw=0x6C00 | len(pending))  # GUESS (6C xx: FACT A1 list)
        return CardResponse(data=pending[:le])

    def _select_aid(self, p2: int, data: bytes) -> CardResponse:
        self._pending = None
        if p2 not in (0x00, 0x0C):
            return CardResponse(sw=0x6A86)  # GUESS (ISO 7816-4: incorrect P1-P2)
        if data != self.aid:
            return CardResponse(sw=0x6A82)  # GUESS (ISO 7816-4: file or application not found)
        self._current_df = (_MF_FID,)
        self._current_ef = None
        return CardResponse()

    def _select(self, p1: int, p2: int, p3: int, data: bytes) -> CardResponse:
        if (p1, p2) != (0, 0):
            return CardResponse(sw=SW_WRONG_P1P2)  # GUESS
        if p3 != 2 or len(data) != 2:
            return CardResponse(sw=SW_WRONG_LENGTH)  # GUESS
        fid = int.from_bytes(data, "big")
        node = self._resolve(fid)
        if node is None:
            return CardResponse(sw=SW_FILE_NOT_FOUND)
        if node.is_ef:
            self._current_df = node.path[:-1]
            self._current_ef = node
            assert node.content is not None
            info = fci(len(node.content), fid, FILE_EF)
        else:
            self._current_df = node.path
            self._current_ef = None
            info = fci(0, fid, FILE_MF if node.path == (_MF_FID,) else FILE_DF)
        self._pending = info
        return CardResponse(sw=0x9F00 | len(info))

    def _resolve(self, fid: int) -> _Node | None:
        """The file ``fid`` seen from the current DF: itself or a child, then each ancestor or
        its children (GUESS, lenient GSM 11.11 selection)."""
        df = self._current_df
        while df:
            if df[-1] == fid:
                return self._nodes[df]
            child = self._nodes.get(df + (fid,))
            if child is not None:
                return child
            df = df[:-1]
        return None

    def _read_binary(self, p1: int, p2: int, p3: int) -> CardResponse:
        ef = self._current_ef
        if ef is None or ef.content is None:
            return CardResponse(sw=SW_FILE_INCONSISTENT)  # GUESS: no EF selected
        if ef.path in self._protected:
            denied = self._access_denied()
            if denied:
                return CardResponse(sw=denied)
        offset = (p1 << 8) | p2
        size = len(ef.content)
        if offset > size or (offset == size and size > 0):
            return CardResponse(sw=SW_OUT_OF_RANGE)  # GUESS
        le = p3 or 256
        if offset + le > size:
            return CardResponse(sw=0x6C00 | ((size - offset) & 0xFF))  # GUESS
        return CardResponse(data=ef.content[offset:offset + le])

    def _access_denied(self) -> int:
        """0 when protected files are readable, else the SW to answer (GUESS mapping)."""
        if self._pin_verified_hook is not None:
            return 0 if self._pin_verified_hook() else SW_ACCESS_DENIED
        if self._pin is None:
            return SW_PIN_NOT_INITIALISED
        if self.pin_tries_left <= 0:
            return SW_PIN_BLOCKED
        return 0 if self._verified else SW_ACCESS_DENIED

    def _verify(self, p1: int, p2: int, p3: int, data: bytes) -> CardResponse:
        if p1 != 0 or p2 != 1:
            return CardResponse(sw=SW_WRONG_P1P2)  # GUESS: CHV1 only
        if p3 != _PIN_FIELD_LEN or len(data) != _PIN_FIELD_LEN:
            return CardResponse(sw=SW_WRONG_LENGTH)  # GUESS
        if self._pin is None:
            return CardResponse(sw=SW_PIN_NOT_INITIALISED)
        if self.pin_tries_left <= 0:
            return CardResponse(sw=SW_PIN_BLOCKED)
        expected = self._pin.ljust(_PIN_FIELD_LEN, b"\xff")
        if data == expected:
            self._verified = True
            return CardResponse()
        self._verified = False
        self.pin_tries_left -= 1
        return CardResponse(sw=SW_PIN_BLOCKED if self.pin_tries_left == 0 else SW_ACCESS_DENIED)

    @staticmethod
    def pin_field(pin: bytes) -> bytes:
        """The VERIFY data for ``pin`` (ASCII digits, FF-padded to 8: GUESS)."""
        if len(pin) > _PIN_FIELD_LEN:
            raise ValueError("PIN longer than the 8-byte field")
        return bytes(pin).ljust(_PIN_FIELD_LEN, b"\xff")
