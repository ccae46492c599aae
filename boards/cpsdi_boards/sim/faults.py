"""Fault scripts for the virtual card: a small line-oriented language, parsed strictly.

``cpsdi sim --fault`` exposes it; docs/fault-scripts.md is the user documentation.
One fault per line, ``#`` starts a comment, keywords are case-insensitive::

    flip response 2 byte 1 mask 80        # XOR a card character (byte values are hex)
    set atr byte 2 to 00
    parity response 1 byte 3 times 2      # sent with a wrong parity bit (2 transmissions)
    delay response 1 byte 1 to WT+1       # leading edge WT+1 etu after the previous one
    delay atr byte 1 to 40001 clocks
    nulls 300 every 4800 before response 1
    mute from response 3
    extra 90 00 after response 2
    remove before response 2 byte 3
    remove at 1200000 clocks
    refuse class A
    nack reader byte 6 times 4
    flip atr byte 2 mask FF once          # `once`: only the first time it applies
    corrupt edc of block 1 mask FF        # T=1 blocks (T1Behaviour): see below
    drop block 2
    truncate block 3 after 4 bytes
    wrong ns on block 1
    len FF on block 1
    nad 12 on block 1
    rfu on block 1 mask 01
    rblock 0 err 1 corrupt instead of block 1
    wtx 02 times 3 before block 1
    ifs 10 before block 2
    abort before block 2
    resynch before block 1
    lose sequence at block 2
    ignore resynch times 3

Counting: ``atr`` is response 0; ``response N`` (N >= 1) is the card's N-th answer since
the last reset (an answer = what the card sends after a reader transmission);
``response N byte K`` is the K-th byte of that answer *as the card produced it* (before
injected NULLs or extra bytes); ``card byte N`` is the N-th character the card puts on
the line since the last reset (injected characters included, repetitions not);
``reader byte N`` the N-th character the reader sent since the last reset; ``block K`` the
K-th T=1 block the card produced since the last reset (inserted S-requests, R-blocks and
dropped blocks included). All are 1-based.

Model (extensible): a :class:`Fault` implements hooks the virtual card calls at the
character level (:meth:`Fault.on_card_char`, :meth:`Fault.on_reader_char`) and at the
answer level (:meth:`Fault.on_response`, called with the whole answer, e.g. one T=1
block, before it is queued). The T=1 card calls :meth:`Fault.before_t1_block` and
:meth:`Fault.shape_t1_block` (both edit a :class:`T1Plan`) and :meth:`Fault.ignores_resynch`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Union

from cpsdi_boards.sim.character import NULL, PARITY_ALWAYS, CardChar

__all__ = [
    "FaultScriptError",
    "FaultEnv",
    "CharSelector",
    "ResponseSelector",
    "ReaderSelector",
    "Selector",
    "Expr",
    "Fault",
    "FlipByte",
    "SetByte",
    "ParityError",
    "DelayByte",
    "NullStorm",
    "Mute",
    "ExtraBytes",
    "RemoveCard",
    "RefuseClass",
    "NackReaderByte",
    "BlockSelector",
    "T1Plan",
    "CorruptEdc",
    "DropBlock",
    "TruncateBlock",
    "WrongNs",
    "SetLen",
    "SetNad",
    "RfuBits",
    "RBlockInstead",
    "SRequestBefore",
    "LoseSequence",
    "IgnoreResynch",
    "FaultScript",
    "FaultSet",
    "parse_fault_script",
    "ALWAYS",
    "TIMING_NAMES",
]

ALWAYS = PARITY_ALWAYS  # `times` value of `always`
TIMING_NAMES = ("WT", "CWT", "BWT", "GT")
_CLASS_LETTERS = {"A": 1, "B": 2, "C": 3}
_CLASS_NAMES = {v: k for k, v in _CLASS_LETTERS.items()}


class FaultScriptError(ValueError):
    """A fault script that does not parse: where (1-based line and column) and what was expected."""

    def __init__(self, line: int, column: int, expected: str, found: str, source: str) -> None:
        self.line = line
        self.column = column
        self.expected = expected
        self.found = found
        self.source = source
        super().__init__(
            "fault script line %d, column %d: expected %s, found %s\n  %s\n  %s^"
            % (line, column, expected, found, source, " " * (column - 1))
        )


class FaultEnv(Protocol):
    """What a fault may ask of, or do to, the virtual card while it applies."""

    @property
    def timing_etu(self) -> Mapping[str, int]:
        """Current WT, CWT, BWT, GT of the card, in etu at its current F/D."""
        ...

    @property
    def spacing_clocks(self) -> int:
        """The card's character spacing (leading edge to leading edge)."""
        ...

    @property
    def turnaround_clocks(self) -> int:
        """The card's delay from the reader's last character to its first."""
        ...

    @property
    def line_edge_clocks(self) -> int:
        """Leading edge of the last character on the line."""
        ...

    def clocks(self, amount: int, unit: str) -> int:
        """``amount`` in ``unit`` ("etu" at the card's current F/D, or "clocks") as clock cycles."""
        ...

    def mute(self) -> None:
        """Stop answering until the next reset."""
        ...

    def remove_at(self, clocks: int) -> None:
        """Leave the slot at ``clocks``."""
        ...

    def nack(self) -> None:
        """Signal a parity error on the reader character being received."""
        ...


# -- selectors and expressions -----------------------------------------------------------------


@dataclass(frozen=True)
class CharSelector:
    """A card character: ``response N byte K`` (N = 0: ``atr byte K``) or ``card byte N`` (response None)."""

    byte: int
    response: int | None = None

    def matches(self, ch: CardChar, serial: int) -> bool:
        """True if the character (``serial``-th on the line since the reset) is the selected one."""
        if self.response is None:
            return serial == self.byte
        return ch.response == self.response and ch.index == self.byte

    def text(self) -> str:
        """Canonical script text."""
        if self.response is None:
            return "card byte %d" % self.byte
        if self.response == 0:
            return "atr byte %d" % self.byte
        return "response %d byte %d" % (self.response, self.byte)


@dataclass(frozen=True)
class ResponseSelector:
    """A whole card answer: ``atr`` (0) or ``response N``."""

    response: int

    def text(self) -> str:
        """Canonical script text."""
        return "atr" if self.response == 0 else "response %d" % self.response


@dataclass(frozen=True)
class ReaderSelector:
    """A reader character: ``reader byte N``."""

    byte: int

    def text(self) -> str:
        """Canonical script text."""
        return "reader byte %d" % self.byte


@dataclass(frozen=True)
class BlockSelector:
    """A T=1 card block: ``block K``, the K-th block the card puts out since the last reset
    (1-based, counted after the ATR/PPS; injected S-requests and R-blocks count, dropped blocks too)."""

    block: int

    def text(self) -> str:
        """Canonical script text."""
        return "block %d" % self.block


Selector = Union[CharSelector, ResponseSelector, ReaderSelector]


@dataclass(frozen=True)
class Expr:
    """Integer expression: numbers, WT/CWT/BWT/GT (etu), ``+ - *`` and parentheses."""

    op: str  # "num", "name", "+", "-", "*"
    value: int = 0
    name: str = ""
    left: Expr | None = None
    right: Expr | None = None

    def evaluate(self, env: Mapping[str, int]) -> int:
        """Value with the card's current timing values."""
        if self.op == "num":
            return self.value
        if self.op == "name":
            return env[self.name]
        assert self.left is not None and self.right is not None
        a = self.left.evaluate(env)
        b = self.right.evaluate(env)
        if self.op == "+":
            return a + b
        if self.op == "-":
            return a - b
        return a * b

    def names(self) -> set[str]:
        """Timing names used."""
        if self.op == "name":
            return {self.name}
        out: set[str] = set()
        for sub in (self.left, self.right):
            if sub is not None:
                out |= sub.names()
        return out

    def text(self) -> str:
        """Canonical script text (fully parenthesised sub-expressions where needed)."""
        if self.op == "num":
            return str(self.value)
        if self.op == "name":
            return self.name
        assert self.left is not None and self.right is not None
        left = self.left.text()
        right = self.right.text()
        if self.op == "*":
            if self.left.op in ("+", "-"):
                left = "(" + left + ")"
            if self.right.op in ("+", "-"):
                right = "(" + right + ")"
        elif self.op == "-" and self.right.op in ("+", "-"):
            right = "(" + right + ")"
        return "%s%s%s" % (left, self.op, right)


def _num(value: int) -> Expr:
    return Expr("num", value=value)


# -- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Fault:
    """Base of all faults. Hooks return True when the fault applied (``once`` faults then retire)."""

    once: bool = False

    def text(self) -> str:
        """Canonical script line."""
        return self._text() + (" once" if self.once else "")

    def _text(self) -> str:
        raise NotImplementedError

    def on_response(self, response: int, chars: list[CardChar], env: FaultEnv) -> bool:
        """An answer is about to be queued (``chars`` may be edited in place)."""
        return False

    def on_card_char(self, ch: CardChar, serial: int, env: FaultEnv) -> bool:
        """A character is about to go on the line for the first time (edit ``ch`` in place)."""
        return False

    def on_reader_char(self, serial: int, repetition: int, edge_clocks: int, env: FaultEnv, before: bool) -> bool:
        """The reader's ``serial``-th character (``repetition``-th retransmission) at ``edge_clocks``:
        called with ``before=True`` just before it starts, then with ``before=False`` once the card
        received it (a NACK can only be requested then)."""
        return False

    def before_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        """T=1 card, phase 1: it is about to answer a reader block with its ``plan.block``-th block;
        the fault may insert S-requests before it, replace it with an R-block, or make the card
        lose its sequence state (edit ``plan``)."""
        return False

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        """T=1 card, phase 2: block ``plan.block`` (of kind ``plan.kind``) is framed: edit its header,
        EDC, length on the line, or drop it (edit ``plan``)."""
        return False

    def ignores_resynch(self, count: int) -> bool:
        """T=1 card: True if it leaves the reader's ``count``-th S(RESYNCH req) since the reset unanswered."""
        return False

    def refused_classes(self) -> frozenset[int]:
        """Voltage classes in which the card does not answer."""
        return frozenset()

    def removal_clocks(self) -> int | None:
        """Absolute removal time, if the fault is one."""
        return None


@dataclass(frozen=True, kw_only=True)
class FlipByte(Fault):
    """``flip <char> [mask HH]``: XOR a card character with ``mask`` (default 01)."""

    target: CharSelector
    mask: int = 0x01

    def _text(self) -> str:
        return "flip %s mask %02X" % (self.target.text(), self.mask)

    def on_card_char(self, ch: CardChar, serial: int, env: FaultEnv) -> bool:
        if not self.target.matches(ch, serial):
            return False
        ch.value ^= self.mask
        return True


@dataclass(frozen=True, kw_only=True)
class SetByte(Fault):
    """``set <char> to HH``: replace a card character."""

    target: CharSelector
    value: int

    def _text(self) -> str:
        return "set %s to %02X" % (self.target.text(), self.value)

    def on_card_char(self, ch: CardChar, serial: int, env: FaultEnv) -> bool:
        if not self.target.matches(ch, serial):
            return False
        ch.value = self.value
        return True


@dataclass(frozen=True, kw_only=True)
class ParityError(Fault):
    """``parity <char> [times N | always]``: send a card character with a wrong parity bit.

    With the reader's error signal on, the card repeats it: the first ``times``
    transmissions are wrong (default 1, so the first repetition is good).
    """

    target: CharSelector
    times: int = 1

    def _text(self) -> str:
        if self.times == ALWAYS:
            return "parity %s always" % self.target.text()
        if self.times == 1:
            return "parity %s" % self.target.text()
        return "parity %s times %d" % (self.target.text(), self.times)

    def on_card_char(self, ch: CardChar, serial: int, env: FaultEnv) -> bool:
        if not self.target.matches(ch, serial):
            return False
        ch.parity_errors = self.times
        return True


@dataclass(frozen=True, kw_only=True)
class DelayByte(Fault):
    """``delay <char> by <expr> [etu|clocks]`` (added to the normal spacing) or
    ``delay <char> to <expr> [etu|clocks]`` (leading edge exactly that long after the previous
    character's leading edge, either direction)."""

    target: CharSelector
    amount: Expr
    absolute: bool = False  # "to" instead of "by"
    unit: str = "etu"

    def _text(self) -> str:
        unit = "" if self.unit == "etu" else " clocks"
        return "delay %s %s %s%s" % (self.target.text(), "to" if self.absolute else "by", self.amount.text(), unit)

    def on_card_char(self, ch: CardChar, serial: int, env: FaultEnv) -> bool:
        if not self.target.matches(ch, serial):
            return False
        clocks = max(0, env.clocks(self.amount.evaluate(env.timing_etu), self.unit))
        if self.absolute:
            ch.gap_clocks = clocks
            ch.processing_clocks = min(ch.processing_clocks, clocks)
        else:
            ch.gap_clocks += clocks
        return True


@dataclass(frozen=True, kw_only=True)
class NullStorm(Fault):
    """``nulls N [every <expr> [etu|clocks]] before <answer>``: N NULL (60) bytes before an answer,
    ``every`` = their leading-edge spacing (default the card's character spacing)."""

    count: int
    before: ResponseSelector
    every: Expr | None = None
    unit: str = "etu"

    def _text(self) -> str:
        every = ""
        if self.every is not None:
            every = " every %s%s" % (self.every.text(), "" if self.unit == "etu" else " clocks")
        return "nulls %d%s before %s" % (self.count, every, self.before.text())

    def on_response(self, response: int, chars: list[CardChar], env: FaultEnv) -> bool:
        if response != self.before.response or self.count <= 0:
            return False
        spacing = env.spacing_clocks
        if self.every is not None:
            spacing = max(1, env.clocks(self.every.evaluate(env.timing_etu), self.unit))
        if chars:
            first_gap = chars[0].gap_clocks - chars[0].processing_clocks
            chars[0].gap_clocks = spacing + chars[0].processing_clocks
        else:
            first_gap = env.turnaround_clocks
        nulls = [CardChar(NULL, spacing, response, 0) for _ in range(self.count)]
        nulls[0].gap_clocks = first_gap
        chars[0:0] = nulls
        return True


@dataclass(frozen=True, kw_only=True)
class Mute(Fault):
    """``mute from <answer>``: no answer from then on, until the next reset."""

    start: ResponseSelector

    def _text(self) -> str:
        return "mute from %s" % self.start.text()

    def on_response(self, response: int, chars: list[CardChar], env: FaultEnv) -> bool:
        if response < self.start.response:
            return False
        chars.clear()
        env.mute()
        return True


@dataclass(frozen=True, kw_only=True)
class ExtraBytes(Fault):
    """``extra HH HH... after <answer>``: bytes appended to an answer at the card's spacing."""

    data: bytes
    after: ResponseSelector

    def _text(self) -> str:
        return "extra %s after %s" % (self.data.hex(" ").upper(), self.after.text())

    def on_response(self, response: int, chars: list[CardChar], env: FaultEnv) -> bool:
        if response != self.after.response:
            return False
        first = env.turnaround_clocks if not chars else env.spacing_clocks
        for i, value in enumerate(self.data):
            chars.append(CardChar(value, first if i == 0 else env.spacing_clocks, response, 0))
        return True


@dataclass(frozen=True, kw_only=True)
class RemoveCard(Fault):
    """``remove at T clocks`` | ``remove before <sel>`` | ``remove after <sel>``.

    "before" a character = at its leading edge (it is not sent); "after" = 12 etu after its
    leading edge (it is complete). Before/after an answer = its first/last character.
    """

    at_clocks: int | None = None
    target: Selector | None = None
    after: bool = False

    def _text(self) -> str:
        if self.at_clocks is not None:
            return "remove at %d clocks" % self.at_clocks
        assert self.target is not None
        return "remove %s %s" % ("after" if self.after else "before", self.target.text())

    def removal_clocks(self) -> int | None:
        return self.at_clocks

    def on_response(self, response: int, chars: list[CardChar], env: FaultEnv) -> bool:
        if not isinstance(self.target, ResponseSelector) or self.target.response != response:
            return False
        if not chars:
            env.remove_at(env.line_edge_clocks + env.turnaround_clocks)
        elif self.after:
            chars[-1].remove_after = True
        else:
            chars[0].remove_before = True
        return True

    def on_card_char(self, ch: CardChar, serial: int, env: FaultEnv) -> bool:
        if not isinstance(self.target, CharSelector) or not self.target.matches(ch, serial):
            return False
        if self.after:
            ch.remove_after = True
        else:
            ch.remove_before = True
        return True

    def on_reader_char(self, serial: int, repetition: int, edge_clocks: int, env: FaultEnv, before: bool) -> bool:
        if not isinstance(self.target, ReaderSelector) or self.target.byte != serial or repetition:
            return False
        if before == self.after:
            return False
        env.remove_at(edge_clocks + (env.clocks(12, "etu") if self.after else 0))
        return True


@dataclass(frozen=True, kw_only=True)
class RefuseClass(Fault):
    """``refuse class A [B ...]``: activated in one of these classes, the card stays mute (no ATR)."""

    classes: frozenset[int]

    def _text(self) -> str:
        return "refuse class " + " ".join(_CLASS_NAMES[c] for c in sorted(self.classes))

    def refused_classes(self) -> frozenset[int]:
        return self.classes


@dataclass(frozen=True, kw_only=True)
class NackReaderByte(Fault):
    """``nack reader byte N [times M | always]``: the card signals a parity error on the reader's
    N-th character (its first M transmissions; default 1)."""

    target: ReaderSelector
    times: int = 1

    def _text(self) -> str:
        if self.times == ALWAYS:
            return "nack %s always" % self.target.text()
        if self.times == 1:
            return "nack %s" % self.target.text()
        return "nack %s times %d" % (self.target.text(), self.times)

    def on_reader_char(self, serial: int, repetition: int, edge_clocks: int, env: FaultEnv, before: bool) -> bool:
        if before or serial != self.target.byte or (self.times != ALWAYS and repetition >= self.times):
            return False
        env.nack()
        return True


# -- T=1 block faults ---------------------------------------------------------------------------------


@dataclass
class T1Plan:
    """What a T=1 card is about to do for its block number ``block`` (faults edit it).

    Phase 1 (:meth:`Fault.before_t1_block`, ``kind`` = ""): ``before`` = S-requests (PCB, INF)
    to send first, each waiting for the reader's S-response (they become blocks ``block``,
    ``block + 1``, ...); ``instead`` = (PCB, corrupt) of an R-block sent instead of the answer
    (the reader's block is disregarded); ``lose_sequence``: the card forgets N(S)/N(R) and
    answers R(0, other error).

    Phase 2 (:meth:`Fault.shape_t1_block`, ``kind`` = I, R or S): header edits (``nad``,
    ``pcb_or``, ``toggle_ns``, ``length``) are made before the EDC is computed (the block stays
    EDC-valid); then ``edc_xor`` corrupts the EDC's last byte; ``truncate`` keeps the first n
    bytes on the line; ``drop`` sends nothing.
    """

    block: int
    kind: str = ""
    before: list[tuple[int, bytes]] = field(default_factory=list)
    instead: tuple[int, bool] | None = None
    lose_sequence: bool = False
    drop: bool = False
    truncate: int | None = None
    edc_xor: int = 0
    toggle_ns: bool = False
    length: int | None = None
    nad: int | None = None
    pcb_or: int = 0


@dataclass(frozen=True, kw_only=True)
class CorruptEdc(Fault):
    """``corrupt edc of block K [mask HH]``: XOR the last EDC byte with ``mask`` (default FF)."""

    target: BlockSelector
    mask: int = 0xFF

    def _text(self) -> str:
        return "corrupt edc of %s mask %02X" % (self.target.text(), self.mask)

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block:
            return False
        plan.edc_xor ^= self.mask
        return True


@dataclass(frozen=True, kw_only=True)
class DropBlock(Fault):
    """``drop block K``: the card stays silent instead of sending the block (the reader's BWT runs
    out); its state moves on as if it had sent it (an R-block then gets it retransmitted)."""

    target: BlockSelector

    def _text(self) -> str:
        return "drop %s" % self.target.text()

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block:
            return False
        plan.drop = True
        return True


@dataclass(frozen=True, kw_only=True)
class TruncateBlock(Fault):
    """``truncate block K after N [bytes]``: only the first N bytes of the block go on the line."""

    target: BlockSelector
    keep: int

    def _text(self) -> str:
        return "truncate %s after %d bytes" % (self.target.text(), self.keep)

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block:
            return False
        plan.truncate = self.keep if plan.truncate is None else min(plan.truncate, self.keep)
        return True


@dataclass(frozen=True, kw_only=True)
class WrongNs(Fault):
    """``wrong ns on block K``: an I-block goes out with the other N(S) (EDC recomputed). No effect
    (and not spent by ``once``) if block K is not an I-block."""

    target: BlockSelector

    def _text(self) -> str:
        return "wrong ns on %s" % self.target.text()

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block or plan.kind != "I":
            return False
        plan.toggle_ns = not plan.toggle_ns
        return True


@dataclass(frozen=True, kw_only=True)
class SetLen(Fault):
    """``len HH on block K``: the LEN byte is HH (e.g. FF), the INF unchanged, EDC recomputed."""

    target: BlockSelector
    value: int

    def _text(self) -> str:
        return "len %02X on %s" % (self.value, self.target.text())

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block:
            return False
        plan.length = self.value
        return True


@dataclass(frozen=True, kw_only=True)
class SetNad(Fault):
    """``nad HH on block K``: the block's NAD is HH (EDC recomputed)."""

    target: BlockSelector
    value: int

    def _text(self) -> str:
        return "nad %02X on %s" % (self.value, self.target.text())

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block:
            return False
        plan.nad = self.value
        return True


_RFU_DEFAULT = {"I": 0x01, "R": 0x20, "S": 0x04}  # I b1; R b6; S type 3 -> 7 (C3 -> C7), 0 -> 4 req


@dataclass(frozen=True, kw_only=True)
class RfuBits(Fault):
    """``rfu on block K [mask HH]``: OR RFU bits into the PCB (default: I-block 01, R-block 20 (b6),
    S-block 04 (an unknown type)); EDC recomputed."""

    target: BlockSelector
    mask: int | None = None

    def _text(self) -> str:
        return "rfu on %s%s" % (self.target.text(), "" if self.mask is None else " mask %02X" % self.mask)

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block:
            return False
        plan.pcb_or |= self.mask if self.mask is not None else _RFU_DEFAULT.get(plan.kind, 0x01)
        return True


@dataclass(frozen=True, kw_only=True)
class RBlockInstead(Fault):
    """``rblock N [err E] [corrupt] instead of block K``: the card answers the reader's block with
    R(N, E) (E decimal 0-15, default 0), EDC corrupted with ``corrupt``, and disregards the
    reader's block (no state change: a retransmission is processed as new)."""

    target: BlockSelector
    nr: int
    err: int = 0
    corrupt: bool = False

    def _text(self) -> str:
        return "rblock %d%s%s instead of %s" % (
            self.nr, " err %d" % self.err if self.err else "", " corrupt" if self.corrupt else "", self.target.text())

    def before_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block or plan.instead is not None:
            return False
        plan.instead = (0x80 | (self.nr << 4) | self.err, self.corrupt)
        return True


_S_REQUESTS = {"resynch": 0xC0, "ifs": 0xC1, "abort": 0xC2, "wtx": 0xC3}


@dataclass(frozen=True, kw_only=True)
class SRequestBefore(Fault):
    """``wtx HH [times N] before block K`` | ``ifs HH before block K`` | ``abort before block K`` |
    ``resynch before block K``: the card sends S(... req) (N times in a row for WTX, each after the
    reader's S-response) before block K."""

    target: BlockSelector
    request: str  # "wtx", "ifs", "abort", "resynch"
    value: int | None = None
    count: int = 1

    def _text(self) -> str:
        text = self.request
        if self.value is not None:
            text += " %02X" % self.value
        if self.count != 1:
            text += " times %d" % self.count
        return "%s before %s" % (text, self.target.text())

    def before_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block or plan.instead is not None or plan.lose_sequence:
            return False
        inf = b"" if self.value is None else bytes((self.value,))
        plan.before.extend([(_S_REQUESTS[self.request], inf)] * self.count)
        return True


@dataclass(frozen=True, kw_only=True)
class LoseSequence(Fault):
    """``lose sequence at block K``: the card forgets its sequence state (N(S) = N(R) = 0, chains
    dropped) and answers R(0, other error) ``00 82 00 82`` as block K (CCID issue #72)."""

    target: BlockSelector

    def _text(self) -> str:
        return "lose sequence at %s" % self.target.text()

    def before_t1_block(self, plan: T1Plan, env: FaultEnv) -> bool:
        if plan.block != self.target.block or plan.instead is not None:
            return False
        plan.lose_sequence = True
        return True


@dataclass(frozen=True, kw_only=True)
class IgnoreResynch(Fault):
    """``ignore resynch [times N | always]``: the card leaves the reader's first N S(RESYNCH req)
    since the reset unanswered (default 1)."""

    times: int = 1

    def _text(self) -> str:
        if self.times == ALWAYS:
            return "ignore resynch always"
        if self.times == 1:
            return "ignore resynch"
        return "ignore resynch times %d" % self.times

    def ignores_resynch(self, count: int) -> bool:
        return self.times == ALWAYS or count <= self.times


# -- a parsed script and its run-time state ----------------------------------------------------------


@dataclass(frozen=True)
class FaultScript:
    """A parsed fault script: faults in source order. ``text()`` gives the canonical form."""

    faults: tuple[Fault, ...] = ()

    def text(self) -> str:
        """Canonical script (parses back to an equal FaultScript)."""
        return "".join(f.text() + "\n" for f in self.faults)


@dataclass
class FaultSet:
    """Run-time state of a script on one card: which ``once`` faults are spent."""

    script: FaultScript = field(default_factory=FaultScript)
    _spent: set[int] = field(default_factory=set)

    def _active(self) -> list[tuple[int, Fault]]:
        if not self.script.faults:  # the common case, asked several times per character
            return []
        return [(i, f) for i, f in enumerate(self.script.faults) if i not in self._spent]

    def _fired(self, i: int, fault: Fault) -> None:
        if fault.once:
            self._spent.add(i)

    def refused_classes(self) -> frozenset[int]:
        """Union of the refused classes."""
        out: frozenset[int] = frozenset()
        for _, f in self._active():
            out |= f.refused_classes()
        return out

    def removal_clocks(self) -> int | None:
        """Earliest absolute removal time."""
        times = [t for _, f in self._active() for t in (f.removal_clocks(),) if t is not None]
        return min(times) if times else None

    def on_response(self, response: int, chars: list[CardChar], env: FaultEnv) -> None:
        """Apply answer-level faults."""
        for i, f in self._active():
            if f.on_response(response, chars, env):
                self._fired(i, f)

    def on_card_char(self, ch: CardChar, serial: int, env: FaultEnv) -> None:
        """Apply character-level faults to a card character."""
        for i, f in self._active():
            if f.on_card_char(ch, serial, env):
                self._fired(i, f)

    def on_reader_char(self, serial: int, repetition: int, edge_clocks: int, env: FaultEnv, before: bool) -> None:
        """Apply faults on a reader character (see :meth:`Fault.on_reader_char`)."""
        for i, f in self._active():
            if f.on_reader_char(serial, repetition, edge_clocks, env, before):
                self._fired(i, f)

    def before_t1_block(self, plan: T1Plan, env: FaultEnv) -> None:
        """Apply phase-1 T=1 block faults (see :meth:`Fault.before_t1_block`)."""
        for i, f in self._active():
            if f.before_t1_block(plan, env):
                self._fired(i, f)

    def shape_t1_block(self, plan: T1Plan, env: FaultEnv) -> None:
        """Apply phase-2 T=1 block faults (see :meth:`Fault.shape_t1_block`)."""
        for i, f in self._active():
            if f.shape_t1_block(plan, env):
                self._fired(i, f)

    def ignores_resynch(self, count: int) -> bool:
        """True if a fault leaves the reader's ``count``-th S(RESYNCH req) unanswered."""
        out = False
        for i, f in self._active():
            if f.ignores_resynch(count):
                self._fired(i, f)
                out = True
        return out


# -- parser -------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<word>[A-Za-z0-9_]+)|(?P<punct>[+\-*()])|(?P<comment>#.*)|(?P<bad>\S))")
_DECIMAL = re.compile(r"[0-9]+(?:_[0-9]+)*\Z")
_HEXBYTE = re.compile(r"(?:0[xX])?([0-9A-Fa-f]{1,2})\Z")
_HEXSTRING = re.compile(r"(?:0[xX])?((?:[0-9A-Fa-f]{2})+)\Z")
_VERBS = ("flip", "set", "parity", "delay", "nulls", "mute", "extra", "remove", "refuse", "nack",
          "corrupt", "drop", "truncate", "wrong", "len", "nad", "rfu", "rblock", "wtx", "ifs", "abort",
          "resynch", "lose", "ignore")


@dataclass(frozen=True)
class _Tok:
    text: str
    column: int  # 1-based
    kind: str  # "word" or "punct"


class _Parser:
    def __init__(self, source: str, line: int) -> None:
        self.source = source
        self.line = line
        self.toks: list[_Tok] = []
        self.pos = 0
        i = 0
        while i < len(source):
            m = _TOKEN.match(source, i)
            if m is None:  # only trailing whitespace left
                break
            if m.lastgroup == "comment":
                break
            if m.lastgroup == "bad":
                raise self._error_at(m.start("bad") + 1, "a word, a number, '+', '-', '*', '(' or ')'",
                                     repr(m.group("bad")))
            kind = m.lastgroup or "word"
            self.toks.append(_Tok(m.group(kind), m.start(kind) + 1, kind))
            i = m.end()
        self.end_column = len(source.rstrip()) + 1
        if "#" in source:
            self.end_column = min(self.end_column, source.index("#") + 1)

    # token helpers

    def _error_at(self, column: int, expected: str, found: str) -> FaultScriptError:
        return FaultScriptError(self.line, column, expected, found, self.source)

    def error(self, expected: str) -> FaultScriptError:
        tok = self.peek()
        if tok is None:
            return self._error_at(self.end_column, expected, "end of line")
        return self._error_at(tok.column, expected, repr(tok.text))

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def at_end(self) -> bool:
        return self.pos >= len(self.toks)

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def accept(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.lower() in words:
            self.pos += 1
            return tok.text.lower()
        return None

    def expect(self, *words: str, what: str = "") -> str:
        got = self.accept(*words)
        if got is None:
            quoted = ["'%s'" % w for w in words]
            alternatives = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
            raise self.error(what + alternatives)
        return got

    def integer(self, what: str, minimum: int = 0) -> int:
        tok = self.peek()
        expected = "%s (a decimal number >= %d)" % (what, minimum)
        if tok is None or tok.kind != "word" or not _DECIMAL.match(tok.text):
            raise self.error(expected)
        value = int(tok.text)
        if value < minimum:
            raise self.error(expected)
        self.pos += 1
        return value

    def byte(self, what: str) -> int:
        tok = self.peek()
        m = _HEXBYTE.match(tok.text) if tok is not None and tok.kind == "word" else None
        if m is None:
            raise self.error("%s (a hexadecimal byte such as 6F or 0x6F)" % what)
        self.pos += 1
        return int(m.group(1), 16)

    # grammar

    def char_selector(self) -> CharSelector:
        word = self.expect("atr", "response", "card")
        if word == "atr":
            self.expect("byte")
            return CharSelector(self.integer("a byte position", 1), 0)
        if word == "response":
            n = self.integer("a response number", 0)
            self.expect("byte")
            return CharSelector(self.integer("a byte position", 1), n)
        self.expect("byte")
        return CharSelector(self.integer("a card byte number", 1))

    def response_selector(self) -> ResponseSelector:
        word = self.expect("atr", "response")
        if word == "atr":
            return ResponseSelector(0)
        return ResponseSelector(self.integer("a response number", 0))

    def any_selector(self) -> Selector:
        word = self.expect("atr", "response", "card", "reader")
        if word == "reader":
            self.expect("byte")
            return ReaderSelector(self.integer("a reader byte number", 1))
        if word == "card":
            self.expect("byte")
            return CharSelector(self.integer("a card byte number", 1))
        n = 0 if word == "atr" else self.integer("a response number", 0)
        if self.accept("byte"):
            return CharSelector(self.integer("a byte position", 1), n)
        return ResponseSelector(n)

    def block_selector(self) -> BlockSelector:
        self.expect("block")
        return BlockSelector(self.integer("a block number", 1))

    def times(self) -> int:
        if self.accept("always"):
            return ALWAYS
        if self.accept("times"):
            return self.integer("a repetition count", 1)
        return 1

    def expr(self) -> Expr:
        left = self.term()
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "punct" or tok.text not in "+-":
                return left
            self.pos += 1
            left = Expr(tok.text, left=left, right=self.term())

    def term(self) -> Expr:
        left = self.factor()
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "punct" or tok.text != "*":
                return left
            self.pos += 1
            left = Expr("*", left=left, right=self.factor())

    def factor(self) -> Expr:
        tok = self.peek()
        expected = "a number, WT, CWT, BWT, GT or '('"
        if tok is None:
            raise self.error(expected)
        if tok.kind == "punct" and tok.text == "(":
            self.pos += 1
            inner = self.expr()
            tok = self.peek()
            if tok is None or tok.text != ")":
                raise self.error("')'")
            self.pos += 1
            return inner
        if tok.kind == "word" and tok.text.upper() in TIMING_NAMES:
            self.pos += 1
            return Expr("name", name=tok.text.upper())
        if tok.kind == "word" and _DECIMAL.match(tok.text):
            self.pos += 1
            return _num(int(tok.text))
        raise self.error(expected)

    def amount(self) -> tuple[Expr, str]:
        start = self.peek()
        expr = self.expr()
        unit = self.accept("etu", "clocks") or "etu"
        if unit == "clocks" and expr.names():
            assert start is not None
            raise self._error_at(start.column, "a number of clocks (WT, CWT, BWT and GT are in etu: use etu)",
                                 "/".join(sorted(expr.names())))
        return expr, unit

    def t1_statement(self, verb: str) -> Fault:
        if verb == "corrupt":
            self.expect("edc")
            self.expect("of")
            target = self.block_selector()
            mask = self.byte("a mask") if self.accept("mask") else 0xFF
            return CorruptEdc(target=target, mask=mask)
        if verb == "drop":
            return DropBlock(target=self.block_selector())
        if verb == "truncate":
            target = self.block_selector()
            self.expect("after")
            keep = self.integer("a number of bytes", 1)
            self.accept("bytes", "byte")
            return TruncateBlock(target=target, keep=keep)
        if verb == "wrong":
            self.expect("ns")
            self.expect("on")
            return WrongNs(target=self.block_selector())
        if verb in ("len", "nad"):
            value = self.byte("the %s value" % verb.upper())
            self.expect("on")
            target = self.block_selector()
            return SetLen(target=target, value=value) if verb == "len" else SetNad(target=target, value=value)
        if verb == "rfu":
            self.expect("on")
            target = self.block_selector()
            rfu_mask = self.byte("a mask") if self.accept("mask") else None
            return RfuBits(target=target, mask=rfu_mask)
        if verb == "rblock":
            tok = self.peek()
            if tok is None or tok.kind != "word" or tok.text not in ("0", "1"):
                raise self.error("N(R) (0 or 1)")
            self.pos += 1
            nr = int(tok.text)
            err = 0
            if self.accept("err"):
                err = self.integer("an error code", 0)
                if err > 15:
                    self.pos -= 1
                    raise self.error("an error code (a decimal number 0 to 15)")
            corrupt = self.accept("corrupt") is not None
            self.expect("instead")
            self.expect("of")
            return RBlockInstead(target=self.block_selector(), nr=nr, err=err, corrupt=corrupt)
        if verb in ("wtx", "ifs"):
            value = self.byte("the %s value" % ("WTX multiplier" if verb == "wtx" else "IFS"))
            count = 1
            if verb == "wtx" and self.accept("times"):
                count = self.integer("a number of WTX requests", 1)
            self.expect("before")
            return SRequestBefore(target=self.block_selector(), request=verb, value=value, count=count)
        if verb in ("abort", "resynch"):
            self.expect("before")
            return SRequestBefore(target=self.block_selector(), request=verb)
        if verb == "lose":
            self.expect("sequence")
            self.expect("at")
            return LoseSequence(target=self.block_selector())
        # ignore
        self.expect("resynch")
        return IgnoreResynch(times=self.times())

    def statement(self) -> Fault:
        verb = self.expect(*_VERBS, what="a fault: ")
        fault: Fault
        if verb == "flip":
            target = self.char_selector()
            mask = self.byte("a mask") if self.accept("mask") else 0x01
            fault = FlipByte(target=target, mask=mask)
        elif verb == "set":
            target = self.char_selector()
            self.expect("to")
            fault = SetByte(target=target, value=self.byte("the new value"))
        elif verb == "parity":
            fault = ParityError(target=self.char_selector(), times=self.times())
        elif verb == "delay":
            target = self.char_selector()
            mode = self.expect("by", "to")
            amount, unit = self.amount()
            fault = DelayByte(target=target, amount=amount, absolute=mode == "to", unit=unit)
        elif verb == "nulls":
            count = self.integer("a number of NULL bytes", 1)
            every: Expr | None = None
            unit = "etu"
            if self.accept("every"):
                every, unit = self.amount()
            self.expect("before")
            fault = NullStorm(count=count, before=self.response_selector(), every=every, unit=unit)
        elif verb == "mute":
            self.expect("from")
            fault = Mute(start=self.response_selector())
        elif verb == "extra":
            data = bytearray()
            while True:
                tok = self.peek()
                if tok is not None and tok.kind == "word" and tok.text.lower() == "after" and data:
                    break
                m = _HEXSTRING.match(tok.text) if tok is not None and tok.kind == "word" else None
                if m is None:
                    raise self.error("hexadecimal bytes (such as 90 00)" + (" or 'after'" if data else ""))
                data += bytes.fromhex(m.group(1))
                self.pos += 1
            self.expect("after")
            fault = ExtraBytes(data=bytes(data), after=self.response_selector())
        elif verb == "remove":
            where = self.expect("at", "before", "after")
            if where == "at":
                at = self.integer("a time in clock cycles", 0)
                self.expect("clocks")
                fault = RemoveCard(at_clocks=at)
            else:
                fault = RemoveCard(target=self.any_selector(), after=where == "after")
        elif verb == "refuse":
            self.expect("class")
            classes: set[int] = set()
            while True:
                tok = self.peek()
                if tok is None or tok.kind != "word" or tok.text.upper() not in _CLASS_LETTERS:
                    if classes and (tok is None or tok.text.lower() == "once"):
                        break
                    raise self.error("a voltage class A, B or C")
                classes.add(_CLASS_LETTERS[tok.text.upper()])
                self.pos += 1
            fault = RefuseClass(classes=frozenset(classes))
        elif verb in ("nack",):
            self.expect("reader")
            self.expect("byte")
            target_r = ReaderSelector(self.integer("a reader byte number", 1))
            fault = NackReaderByte(target=target_r, times=self.times())
        else:
            fault = self.t1_statement(verb)
        if self.accept("once"):
            fault = _with_once(fault)
        if not self.at_end():
            raise self.error("end of line" if fault.once else "'once' or end of line")
        return fault


def _with_once(fault: Fault) -> Fault:
    return dataclasses.replace(fault, once=True)


def parse_fault_script(text: str) -> FaultScript:
    """Parse a fault script; raises :class:`FaultScriptError` (line, column, expected, found)."""
    faults: list[Fault] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parser = _Parser(line, lineno)
        if parser.at_end():
            continue
        faults.append(parser.statement())
    return FaultScript(tuple(faults))
