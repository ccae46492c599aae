"""ISO/IEC 7816-4 card side: status words, class byte, file tree, FCP, SELECT, READ BINARY,
logical channels and command chaining, as the virtual CPS cards need them.

Card-specific rules (which P2 values a SELECT accepts, the READ BINARY limit, how many
logical channels) are parameters; the CPS3/CPS4 modules set them from cps-cards.md. Facts
keep their labels from there (FACT / INFERENCE / GUESS).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Generic, Iterator, TypeVar, Union

from cpsdi_boards.sim.cps.der import tlv
from cpsdi_boards.sim.virtual_card import CardResponse

__all__ = [
    "SW",
    "sw_response",
    "ClassByte",
    "decode_cla",
    "EF",
    "DF",
    "FileContext",
    "SelectRules",
    "select",
    "read_binary",
    "update_binary",
    "LogicalChannels",
    "CommandChain",
    "ACL_READ_ALWAYS",
    "ACL_NEVER",
    "SCB_ALWAYS",
    "SCB_NEVER",
    "scb_read",
    "scb_update",
]


class SW(enum.IntEnum):
    """ISO/IEC 7816-4 §5.1.3 status words used by the virtual cards."""

    OK = 0x9000
    END_OF_FILE = 0x6282  # fewer bytes than Le before the end of the EF
    WRONG_LENGTH = 0x6700
    CHANNEL_NOT_SUPPORTED = 0x6881
    SM_NOT_SUPPORTED = 0x6882
    LAST_COMMAND_EXPECTED = 0x6883
    CHAINING_NOT_SUPPORTED = 0x6884
    SECURITY_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_NOT_USABLE = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    NO_CURRENT_EF = 0x6986
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    INCORRECT_P1P2 = 0x6A86
    LC_INCONSISTENT = 0x6A87
    REFERENCE_NOT_FOUND = 0x6A88
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


def sw_response(sw: int, data: bytes = b"") -> CardResponse:
    """A :class:`CardResponse` with ``sw`` (and optional data)."""
    return CardResponse(data=data, sw=int(sw))


# -- class byte (ISO/IEC 7816-4 §5.4.1) ------------------------------------------------------------


@dataclass(frozen=True)
class ClassByte:
    """An interindustry CLA: logical channel, command chaining, secure messaging indication."""

    channel: int
    chaining: bool
    secure_messaging: bool


def decode_cla(cla: int) -> ClassByte | None:
    """Decode an interindustry CLA (``0x00-0x1F``, ``0x40-0x7F``); None for proprietary/RFU."""
    if cla < 0x20:
        return ClassByte(cla & 0x03, bool(cla & 0x10), bool(cla & 0x0C))
    if 0x40 <= cla < 0x80:
        return ClassByte(4 + (cla & 0x0F), bool(cla & 0x10), bool(cla & 0x20))
    return None


# -- files ---------------------------------------------------------------------------------------------

SCB_ALWAYS = 0x00
SCB_NEVER = 0xFF
# FACT (cps-cards.md §5.1): AM 7B -> SCBs for DELETE, TERMINATE, ACTIVATE, DEACTIVATE, UPDATE, READ.
ACL_READ_ALWAYS = bytes((0x7B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00))  # as EF.SN (FACT §5.1)
ACL_NEVER = bytes((0x7B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF))


def scb_read(acl: bytes) -> int:
    """The READ security condition byte of an AM-7B access rule."""
    return acl[-1]


def scb_update(acl: bytes) -> int:
    """The UPDATE security condition byte of an AM-7B access rule."""
    return acl[-2]


@dataclass(eq=False)
class EF:
    """A transparent elementary file. ``acl`` / ``acl_cl``: AM + SCBs (contact, contactless)."""

    fid: int
    content: bytearray
    sfi: int | None = None
    acl: bytes = ACL_READ_ALWAYS
    acl_cl: bytes = ACL_READ_ALWAYS
    parent: DF | None = None

    def fcp(self) -> bytes:
        """FCP template, CPS3 layout (FACT cps-cards.md §5.1): ``62 25 80 82 83 88 A1(8C 9C) 8A``
        (GUESS: an EF without SFI has an empty tag 88, ISO/IEC 7816-4 §5.3.3)."""
        body = (
            tlv(b"\x80", len(self.content).to_bytes(2, "big"))
            + tlv(b"\x82", b"\x01")
            + tlv(b"\x83", self.fid.to_bytes(2, "big"))
            + tlv(b"\x88", bytes((self.sfi << 3,)) if self.sfi is not None else b"")
            + tlv(b"\xA1", tlv(b"\x8C", self.acl) + tlv(b"\x9C", self.acl_cl))
            + tlv(b"\x8A", b"\x05")
        )
        return tlv(b"\x62", body)


@dataclass(eq=False)
class DF:
    """A dedicated file (the MF when it has no parent), optionally named (AID).

    ``acl`` / ``acl_cl``: AM + SCBs (contact, contactless) put in the FCP as ``A1(8C 9C)``;
    None: no security attributes in the FCP."""

    fid: int
    name: bytes | None = None
    children: list[Union[EF, "DF"]] = field(default_factory=list)
    parent: DF | None = None
    acl: bytes | None = None
    acl_cl: bytes | None = None

    def add(self, node: Union[EF, "DF"]) -> Union[EF, "DF"]:
        """Attach ``node`` as a child and return it."""
        node.parent = self
        self.children.append(node)
        return node

    def child(self, fid: int) -> EF | DF | None:
        """The child with this FID, or None."""
        for node in self.children:
            if node.fid == fid:
                return node
        return None

    def by_sfi(self, sfi: int) -> EF | None:
        """The child EF with this short file identifier, or None."""
        for node in self.children:
            if isinstance(node, EF) and node.sfi == sfi:
                return node
        return None

    def walk(self) -> Iterator[DF]:
        """This DF and every DF below it."""
        yield self
        for node in self.children:
            if isinstance(node, DF):
                yield from node.walk()

    def root(self) -> DF:
        """The MF of this tree."""
        df = self
        while df.parent is not None:
            df = df.parent
        return df

    def fcp(self) -> bytes:
        """FCP of a DF. GUESS (cps-cards.md §12): not published; descriptor 38, FID, name,
        the ACL template A1 (when ``acl`` is set, same layout as the EF FCP of §5.1), LCS 05."""
        body = tlv(b"\x82", b"\x38") + tlv(b"\x83", self.fid.to_bytes(2, "big"))
        if self.name:
            body += tlv(b"\x84", self.name)
        if self.acl is not None:
            acls = tlv(b"\x8C", self.acl)
            if self.acl_cl is not None:
                acls += tlv(b"\x9C", self.acl_cl)
            body += tlv(b"\xA1", acls)
        body += tlv(b"\x8A", b"\x05")
        return tlv(b"\x62", body)


@dataclass
class FileContext:
    """Current DF and EF of one logical channel."""

    df: DF
    ef: EF | None = None


@dataclass(frozen=True)
class SelectRules:
    """Card-specific SELECT/READ BINARY rules.

    * ``p2_fcp`` / ``p2_none``: P2 returning the FCP / nothing; any other P2 -> 6A86.
    * ``silent_names``: DF names for which P2 = 00 (and P2 = ``p2_fcp``) answers 90 00 with no data.
    * ``mf_prefix_absolute``: P1 = 09 with a path starting with 3F00 starts at the MF.
    * ``read_binary_max``: largest Le READ BINARY serves.
    * ``mf_fid_child_p1``: P1 = 01/02 (child DF/EF) with FID 3F00 selects the MF from any DF.
    """

    p2_fcp: int = 0x04
    p2_none: int = 0x0C
    silent_names: frozenset[bytes] = frozenset()
    mf_prefix_absolute: bool = True
    read_binary_max: int = 256
    mf_fid_child_p1: bool = False


MF_FID = 0x3F00


def _walk_path(start: DF, path: bytes) -> EF | DF | None:
    node: EF | DF = start
    for i in range(0, len(path), 2):
        if not isinstance(node, DF):
            return None
        fid = int.from_bytes(path[i:i + 2], "big")
        found = node.child(fid)
        if found is None:
            return None
        node = found
    return node


def _find_name(mf: DF, name: bytes) -> DF | None:
    for df in mf.walk():
        if df.name == name:
            return df
    return None


def select(ctx: FileContext, p1: int, p2: int, data: bytes, rules: SelectRules) -> CardResponse:
    """SELECT (ISO/IEC 7816-4 §11.2.2) on ``ctx``; a failed SELECT leaves ``ctx`` unchanged."""
    mf = ctx.df.root()
    if p2 in (0x00, rules.p2_fcp) and p1 == 0x04 and bytes(data) in rules.silent_names:
        target: EF | DF | None = _find_name(mf, bytes(data))
        if target is None:
            return sw_response(SW.FILE_NOT_FOUND)
        return _make_current(ctx, target, fcp=False)
    if p2 not in (rules.p2_fcp, rules.p2_none):
        return sw_response(SW.INCORRECT_P1P2)
    if p1 == 0x00:  # MF, DF or EF by FID
        if not data or bytes(data) == b"\x3F\x00":
            target = mf
        elif len(data) != 2:
            return sw_response(SW.LC_INCONSISTENT)
        else:
            fid = int.from_bytes(data, "big")
            target = ctx.df.child(fid) or (ctx.df if ctx.df.fid == fid else None)
    elif p1 in (0x01, 0x02) and rules.mf_fid_child_p1 and bytes(data) == b"\x3F\x00":
        target = mf
    elif p1 in (0x01, 0x02):  # child DF / EF of the current DF
        if len(data) != 2:
            return sw_response(SW.LC_INCONSISTENT)
        target = ctx.df.child(int.from_bytes(data, "big"))
        if target is not None and isinstance(target, DF) != (p1 == 0x01):
            target = None
    elif p1 == 0x03:  # parent DF
        target = ctx.df.parent
    elif p1 == 0x04:  # DF name
        if not data:
            return sw_response(SW.LC_INCONSISTENT)
        target = _find_name(mf, bytes(data))
    elif p1 in (0x08, 0x09):  # path from the MF / from the current DF
        if not data or len(data) % 2:
            return sw_response(SW.LC_INCONSISTENT)
        start = mf if p1 == 0x08 else ctx.df
        path = bytes(data)
        if p1 == 0x09 and rules.mf_prefix_absolute and path[:2] == b"\x3F\x00":
            # FACT (cps-cards.md §7.1, I2231): the CPx takes a leading 3F00 as the MF.
            start, path = mf, path[2:]
        target = _walk_path(start, path) if path else start
    else:
        return sw_response(SW.INCORRECT_P1P2)
    if target is None:
        return sw_response(SW.FILE_NOT_FOUND)
    return _make_current(ctx, target, fcp=p2 == rules.p2_fcp)


def _make_current(ctx: FileContext, target: EF | DF, fcp: bool) -> CardResponse:
    if isinstance(target, EF):
        assert target.parent is not None
        ctx.df, ctx.ef = target.parent, target
    else:
        ctx.df, ctx.ef = target, None
    return CardResponse(data=target.fcp() if fcp else b"")


AccessCheck = Callable[[int], bool]  # SCB -> condition satisfied


def _target_ef(ctx: FileContext, p1: int) -> tuple[EF | None, int]:
    """``(EF, SW)`` for READ/UPDATE BINARY P1: SFI (b8 = 1) or the current EF."""
    if p1 & 0x80:
        if p1 & 0x60:
            return None, SW.INCORRECT_P1P2
        ef = ctx.df.by_sfi(p1 & 0x1F)
        if ef is None:
            return None, SW.FILE_NOT_FOUND
        return ef, SW.OK
    if ctx.ef is None:
        return None, SW.NO_CURRENT_EF
    return ctx.ef, SW.OK


def read_binary(ctx: FileContext, p1: int, p2: int, le: int, rules: SelectRules, allowed: AccessCheck) -> CardResponse:
    """READ BINARY (ISO/IEC 7816-4 §11.3.3), ``le`` = P3 (0 = up to ``read_binary_max``).

    An explicit Le above the card's limit is served like Le = 00: up to ``read_binary_max``
    bytes, which a T=0 card answers with ``6C xx`` (GUESS; it was 6700 before. OpenSC reads
    an IAS-ECC EF in 256-byte steps and re-sends a READ BINARY with the Le of a ``6C xx``, so a
    CPx's certificate whose last step is 0xE8..0xFF bytes long reads only this way).
    Fewer bytes left than an explicit Le -> the bytes + 6282; offset at or past the end -> 6B00,
    except offset 0 of an empty EF -> 6282 without data (GUESS: "end of file reached before
    Le bytes"; OpenSC then reads an empty PKCS#15 data object as 0 bytes, with 6B00 it fails
    with "EF offset too large").
    """
    ef, sw = _target_ef(ctx, p1)
    if ef is None:
        return sw_response(sw)
    offset = p2 if p1 & 0x80 else (p1 << 8 | p2)
    if le > rules.read_binary_max:
        le = 0  # GUESS (docstring): served like Le = 00
    if not allowed(scb_read(ef.acl)):
        return sw_response(SW.SECURITY_NOT_SATISFIED)
    if p1 & 0x80:  # ISO: reading by SFI makes the EF current
        ctx.ef = ef
    if offset >= len(ef.content):
        return sw_response(SW.END_OF_FILE if offset == 0 else SW.WRONG_P1P2)  # GUESS (docstring)
    want = le or rules.read_binary_max
    part = bytes(ef.content[offset:offset + want])
    if le and len(part) < le:
        return CardResponse(data=part, sw=SW.END_OF_FILE)
    return CardResponse(data=part)


def update_binary(ctx: FileContext, p1: int, p2: int, data: bytes, allowed: AccessCheck) -> CardResponse:
    """UPDATE BINARY (ISO/IEC 7816-4 §11.3.5) within the EF's current size."""
    ef, sw = _target_ef(ctx, p1)
    if ef is None:
        return sw_response(sw)
    offset = p2 if p1 & 0x80 else (p1 << 8 | p2)
    if not allowed(scb_update(ef.acl)):
        return sw_response(SW.SECURITY_NOT_SATISFIED)
    if offset + len(data) > len(ef.content):
        return sw_response(SW.WRONG_P1P2)
    if p1 & 0x80:
        ctx.ef = ef
    ef.content[offset:offset + len(data)] = data
    return CardResponse()


# -- logical channels and chaining -------------------------------------------------------------------

T = TypeVar("T")


class LogicalChannels(Generic[T]):
    """Open logical channels (ISO/IEC 7816-4 §5.4.1, MANAGE CHANNEL §11.1.2).

    Channel 0 is always open; ``count`` channels exist (1 = no logical channels: the card
    answers 6881). ``make_state`` gives the fresh state of a newly opened channel.
    """

    def __init__(self, count: int, make_state: Callable[[], T]) -> None:
        self.count = count
        self.make_state = make_state
        self.states: dict[int, T] = {}
        self.reset()

    def reset(self) -> None:
        """Power-on state: only the basic channel open."""
        self.states = {0: self.make_state()}

    def get(self, channel: int) -> T | None:
        """State of an open channel, or None."""
        return self.states.get(channel)

    def open(self, channel: int) -> T:
        """Open ``channel`` (fresh state)."""
        state = self.make_state()
        self.states[channel] = state
        return state

    def manage(self, cla: ClassByte, p1: int, p2: int, le: int) -> CardResponse:
        """MANAGE CHANNEL: P1 = 00 open (P2 = 00: the card picks, answers 1 byte), P1 = 80 close P2."""
        if self.count <= 1:
            return sw_response(SW.CHANNEL_NOT_SUPPORTED)
        if cla.channel not in self.states:
            return sw_response(SW.CHANNEL_NOT_SUPPORTED)
        if p1 == 0x00:
            if p2 == 0x00:
                free = [c for c in range(1, self.count) if c not in self.states]
                if not free:
                    return sw_response(SW.CONDITIONS_NOT_SATISFIED)
                if le not in (0, 1):
                    return sw_response(SW.WRONG_LENGTH)
                self.open(free[0])
                return CardResponse(data=bytes((free[0],)))
            if p2 >= self.count or p2 in self.states:
                return sw_response(SW.INCORRECT_P1P2)
            self.open(p2)
            return CardResponse()
        if p1 == 0x80:
            target = p2 or cla.channel
            if target == 0 or target >= self.count:
                return sw_response(SW.INCORRECT_P1P2)
            if target not in self.states:
                return sw_response(SW.CHANNEL_NOT_SUPPORTED)
            del self.states[target]
            return CardResponse()
        return sw_response(SW.INCORRECT_P1P2)


class CommandChain:
    """Command chaining (ISO/IEC 7816-4 §5.1.1.1): collects the data of chained commands."""

    def __init__(self) -> None:
        self._key: tuple[int, int, int, int] | None = None
        self._data = bytearray()

    def reset(self) -> None:
        """Drop a pending chain."""
        self._key = None
        self._data = bytearray()

    @property
    def pending(self) -> bool:
        """True while a chain is open."""
        return self._key is not None

    def feed(self, channel: int, header: bytes, data: bytes, more: bool) -> tuple[bytes | None, int]:
        """Add one command. Returns ``(all data, 9000)`` for the last command, ``(None, 9000)``
        for an intermediate one, ``(None, 6883)`` if a chained command changes INS/P1/P2."""
        key = (channel, header[1], header[2], header[3])
        if self._key is not None and key != self._key:
            self.reset()
            return None, SW.LAST_COMMAND_EXPECTED
        self._data += data
        if more:
            self._key = key
            return None, SW.OK
        out = bytes(self._data)
        self.reset()
        return out, SW.OK

    def pso_data(self, channel: int, header: bytes, data: bytes, chaining: bool) -> tuple[bytes | None, CardResponse | None]:
        """The data of a command under the CPx rule "chaining for PSO only" (FACT §7.1, PSO
        DECIPHER): ``(data, None)`` to execute it (whole chain or no chain), ``(None, answer)``
        to answer at once (an intermediate link, a broken chain, chaining on another INS)."""
        if not (chaining or self.pending):
            return data, None
        if chaining and header[1] != 0x2A:
            return None, sw_response(SW.CHAINING_NOT_SUPPORTED)
        whole, status = self.feed(channel, header, data, chaining)
        if whole is None:
            return None, sw_response(status)
        return whole, None
