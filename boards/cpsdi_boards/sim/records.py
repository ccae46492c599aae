"""What the virtual card observes on its contacts: characters, gaps, events, exchanges.

Conformance tests assert the reader's minima on these records (ISO/IEC 7816-3 §6-§10,
iso7816-3.md §1.3-§1.5): guard time between consecutive reader characters
(>= 12 + N etu), T=0 turnaround (card's last leading edge -> reader's first, >= 16 etu),
RST low >= 400 clock cycles, deactivation order RST -> CLK -> I/O -> VCC. Benchmarks use
:class:`ExchangeRecord` (etu on the wire per exchange, card processing excluded).

All times are clock cycles of the virtual clock; etu values are exact fractions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction

from cpsdi_boards.sim.clock import clocks_to_etu
from cpsdi_boards.sim.t1_block import DecodedBlock, decode_block

__all__ = [
    "Direction",
    "GapKind",
    "EventKind",
    "CharRecord",
    "GapRecord",
    "Event",
    "ExchangeRecord",
    "T1Mark",
    "T1BlockRecord",
    "CardRecords",
]


class Direction(enum.Enum):
    """Who drove the I/O line."""

    READER = "reader"
    CARD = "card"


class GapKind(enum.Enum):
    """Leading edge to leading edge distance between two consecutive characters on the line."""

    GUARD = "guard"  # reader -> reader (the reader's character spacing, >= 12 + N etu)
    REPEAT = "repeat"  # a character -> its repetition after an error signal
    TURNAROUND = "turnaround"  # card -> reader (T=0: >= 16 etu)
    CARD_TURNAROUND = "card_turnaround"  # reader -> card
    CARD_SPACING = "card_spacing"  # card -> card


class EventKind(enum.Enum):
    """Contact and protocol events, in the order they happen."""

    INSERTED = "inserted"
    REMOVED = "removed"
    VCC_ON = "vcc_on"
    CLK_ON = "clk_on"
    CLK_FREQUENCY = "clk_frequency"  # the reader changed CLK (detail "N Hz")
    CLK_ABOVE_FMAX = "clk_above_fmax"  # ... above the card's fmax (ISO 7816-3 §8.3)
    IO_RECEPTION = "io_reception"
    RST_LOW = "rst_low"
    RST_HIGH = "rst_high"
    CLK_STOP = "clk_stop"
    IO_LOW = "io_low"
    VCC_OFF = "vcc_off"
    CLASS_REFUSED = "class_refused"  # powered in a class the card does not support: no ATR
    ATR_START = "atr_start"
    FD_SWITCH = "fd_switch"  # the card now uses another F/D (detail "F/D")
    PPS = "pps"  # the card received a PPS request (detail: its answer)
    OUTPUT_CANCELLED = "output_cancelled"  # the reader transmitted while the card had output queued
    RX_FLUSHED = "rx_flushed"  # card characters the reader never read (flushed when it transmitted)
    MUTED = "muted"  # a fault made the card stop answering
    SCRIPT_MISMATCH = "script_mismatch"  # scripted card: the reader did not send the expected bytes
    SCRIPT_EXHAUSTED = "script_exhausted"  # scripted card: reader bytes after the last step
    T1_INVALID = "t1_invalid"  # T=1 card: a reader block it found invalid (detail: why)
    T1_DROPPED = "t1_dropped"  # T=1 card: a fault dropped its block (detail "block k")
    T1_RESYNCH_IGNORED = "t1_resynch_ignored"  # T=1 card: did not answer the reader's S(RESYNCH req)
    T1_ABORTED = "t1_aborted"  # T=1 card: chains abandoned after an S(ABORT) exchange
    T1_RESYNCHED = "t1_resynched"  # T=1 card: sequence numbers reset (resynch, or a `lose sequence` fault)


DEACTIVATION_EVENTS = (EventKind.RST_LOW, EventKind.CLK_STOP, EventKind.IO_LOW, EventKind.VCC_OFF)
# Bookkeeping events the card logs on the way; they do not interrupt a deactivation sequence.
_NON_CONTACT_EVENTS = (EventKind.OUTPUT_CANCELLED, EventKind.RX_FLUSHED, EventKind.MUTED)


@dataclass(frozen=True)
class CharRecord:
    """One transmission of a character (a repetition after an error signal is another record).

    ``value`` is what the sender meant; ``received`` what the receiver decoded (they
    differ with a convention or F/D mismatch or a corrupted character);
    ``parity_error`` is the receiver's view; ``nacked`` is True when the receiver sent
    the error signal. ``f``/``d`` are the sender's. ``response`` and ``index`` locate a
    card character (response 0 = the ATR); ``serial`` counts the sender's characters
    since the last reset (repetitions keep the serial of the first transmission).
    """

    direction: Direction
    value: int
    received: int
    parity_error: bool
    nacked: bool
    edge_clocks: int
    edge_etu: Fraction
    f: int
    d: int
    repetition: int
    serial: int
    response: int | None = None
    index: int | None = None


@dataclass(frozen=True)
class GapRecord:
    """Distance between the leading edges of two consecutive characters (indices into ``chars``)."""

    kind: GapKind
    before: int
    after: int
    clocks: int
    etu: Fraction  # at the F/D of the later character's sender


@dataclass(frozen=True)
class Event:
    """A contact or protocol event at ``clocks``."""

    kind: EventKind
    clocks: int
    detail: str = ""


@dataclass
class ExchangeRecord:
    """One exchange: from the reader's first character of a command (TPDU, PPS request, or a
    scripted step) to the card's last character of its answer.

    ``processing_clocks`` is the card processing time the virtual card modelled explicitly
    (``CardResponse.processing_etu``); ``wire_etu`` excludes it.
    """

    index: int
    kind: str
    start_clocks: int
    f: int
    d: int
    reader_chars: int = 0
    card_chars: int = 0
    processing_clocks: int = 0
    end_clocks: int | None = None

    @property
    def complete(self) -> bool:
        """True once the card sent the last character of its answer."""
        return self.end_clocks is not None

    @property
    def elapsed_etu(self) -> Fraction:
        """Leading edge of the first reader character -> leading edge of the card's last character."""
        if self.end_clocks is None:
            raise ValueError("exchange %d is not complete" % self.index)
        return clocks_to_etu(self.end_clocks - self.start_clocks, self.f, self.d)

    @property
    def processing_etu(self) -> Fraction:
        """Modelled card processing time, in etu."""
        return clocks_to_etu(self.processing_clocks, self.f, self.d)

    @property
    def wire_etu(self) -> Fraction:
        """``elapsed_etu`` minus the modelled card processing time."""
        return self.elapsed_etu - self.processing_etu


@dataclass
class T1Mark:
    """Where a T=1 block is in ``CardRecords.chars`` (kept by the T=1 card while it runs)."""

    direction: Direction
    edc: str
    block: int  # 1-based, per direction, since the last reset
    chars: list[int] = field(default_factory=list)  # indices into CardRecords.chars (first transmissions)


@dataclass(frozen=True)
class T1BlockRecord:
    """One T=1 block on the line, decoded (``decoded``: NAD, PCB kind, N(S)/N(R)/M, S type, LEN, INF,
    EDC ok?) with the leading edges of its first and last characters, and its largest character
    spacing (leading edge to leading edge, for CWT)."""

    direction: Direction
    block: int
    decoded: DecodedBlock
    first_clocks: int
    last_clocks: int
    first_etu: Fraction
    last_etu: Fraction
    max_char_gap_etu: Fraction
    f: int
    d: int
    chars: tuple[int, ...]

    @property
    def raw(self) -> bytes:
        """The block's bytes as received."""
        return self.decoded.raw

    @property
    def kind(self) -> str:
        """I, R or S."""
        return self.decoded.kind

    @property
    def edc_ok(self) -> bool:
        """EDC present and correct."""
        return self.decoded.edc_ok

    def text(self) -> str:
        """``card I(0,0) 00 00 02 90 00 92``."""
        return "%s %s %s" % (self.direction.value, self.decoded.text(), self.raw.hex(" ").upper())


@dataclass
class CardRecords:
    """Everything the virtual card observed, in time order."""

    chars: list[CharRecord] = field(default_factory=list)
    gaps: list[GapRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    exchanges: list[ExchangeRecord] = field(default_factory=list)
    t1_marks: list[T1Mark] = field(default_factory=list)

    def add_event(self, kind: EventKind, clocks: int, detail: str = "") -> None:
        """Append an event."""
        self.events.append(Event(kind, clocks, detail))

    def add_char(self, rec: CharRecord, segment_start: int) -> None:
        """Append a character and the gap from the previous one (not across a reset: ``segment_start``
        is the index of the first character since the last reset)."""
        self.chars.append(rec)
        after = len(self.chars) - 1
        if after - 1 < segment_start:
            return
        prev = self.chars[after - 1]
        if rec.repetition > 0 and prev.direction is rec.direction:
            kind = GapKind.REPEAT
        elif prev.direction is Direction.READER:
            kind = GapKind.GUARD if rec.direction is Direction.READER else GapKind.CARD_TURNAROUND
        else:
            kind = GapKind.TURNAROUND if rec.direction is Direction.READER else GapKind.CARD_SPACING
        clocks = rec.edge_clocks - prev.edge_clocks
        self.gaps.append(GapRecord(kind, after - 1, after, clocks, clocks_to_etu(clocks, rec.f, rec.d)))

    # -- queries ---------------------------------------------------------------------------

    def reader_chars(self) -> list[CharRecord]:
        """Every transmission by the reader."""
        return [c for c in self.chars if c.direction is Direction.READER]

    def card_chars(self) -> list[CharRecord]:
        """Every transmission by the card."""
        return [c for c in self.chars if c.direction is Direction.CARD]

    def reader_bytes(self) -> bytes:
        """The reader's characters as the card accepted them (NACKed transmissions left out)."""
        return bytes(c.received for c in self.chars if c.direction is Direction.READER and not c.nacked)

    def card_bytes(self, response: int | None = None) -> bytes:
        """The card's characters as it meant them, first transmissions only; one response or all."""
        return bytes(
            c.value
            for c in self.chars
            if c.direction is Direction.CARD and c.repetition == 0 and (response is None or c.response == response)
        )

    def gaps_of(self, kind: GapKind) -> list[GapRecord]:
        """Gaps of one kind, in time order."""
        return [g for g in self.gaps if g.kind is kind]

    def guard_times(self) -> list[GapRecord]:
        """Reader -> reader character spacings."""
        return self.gaps_of(GapKind.GUARD)

    def turnarounds(self) -> list[GapRecord]:
        """Card's last character -> reader's first character."""
        return self.gaps_of(GapKind.TURNAROUND)

    def min_etu(self, kind: GapKind) -> Fraction | None:
        """Smallest gap of a kind in etu, or None if there is none."""
        gaps = self.gaps_of(kind)
        return min(g.etu for g in gaps) if gaps else None

    def events_of(self, kind: EventKind) -> list[Event]:
        """Events of one kind."""
        return [e for e in self.events if e.kind is kind]

    def reset_low_clocks(self) -> list[int]:
        """Duration of every RST low period that ended with RST rising (cold and warm resets)."""
        out: list[int] = []
        low_since: int | None = None
        for e in self.events:
            if e.kind is EventKind.RST_LOW and low_since is None:
                low_since = e.clocks
            elif e.kind is EventKind.RST_HIGH and low_since is not None:
                out.append(e.clocks - low_since)
                low_since = None
            elif e.kind in (EventKind.VCC_OFF, EventKind.REMOVED):
                low_since = None
        return out

    def atr_delays(self) -> list[int]:
        """Clock cycles from each RST rise to the leading edge of the ATR's first character."""
        out: list[int] = []
        rise: int | None = None
        for e in self.events:
            if e.kind is EventKind.RST_HIGH:
                rise = e.clocks
            elif e.kind is EventKind.ATR_START and rise is not None:
                out.append(e.clocks - rise)
                rise = None
        return out

    def deactivations(self) -> list[list[EventKind]]:
        """The contact events of every deactivation, in order (expected: RST_LOW, CLK_STOP, IO_LOW, VCC_OFF).

        A deactivation is the run of RST_LOW / CLK_STOP / IO_LOW events directly before a VCC_OFF
        (bookkeeping events such as OUTPUT_CANCELLED in between are skipped).
        """
        out: list[list[EventKind]] = []
        for i, e in enumerate(self.events):
            if e.kind is not EventKind.VCC_OFF:
                continue
            run: list[EventKind] = [e.kind]
            j = i - 1
            while j >= 0 and self.events[j].kind not in run:
                kind = self.events[j].kind
                if kind in DEACTIVATION_EVENTS:
                    run.append(kind)
                elif kind not in _NON_CONTACT_EVENTS:
                    break
                j -= 1
            run.reverse()
            out.append(run)
        return out

    # -- T=1 ------------------------------------------------------------------------------------

    def t1_blocks(self, direction: Direction | None = None) -> list[T1BlockRecord]:
        """Every T=1 block on the line (both directions, or one), in time order. A block the reader
        cut short or a card block a fault truncated is there as far as it went; a card block whose
        characters never reached the line (dropped, cancelled) is not."""
        out: list[T1BlockRecord] = []
        for m in self.t1_marks:
            if not m.chars or (direction is not None and m.direction is not direction):
                continue
            chars = [self.chars[i] for i in m.chars]
            raw = bytes(c.received if m.direction is Direction.READER else c.value for c in chars)
            gaps = [clocks_to_etu(b.edge_clocks - a.edge_clocks, b.f, b.d) for a, b in zip(chars, chars[1:])]
            out.append(
                T1BlockRecord(
                    m.direction, m.block, decode_block(raw, m.edc), chars[0].edge_clocks, chars[-1].edge_clocks,
                    chars[0].edge_etu, chars[-1].edge_etu, max(gaps) if gaps else Fraction(0),
                    chars[-1].f, chars[-1].d, tuple(m.chars),
                )
            )
        out.sort(key=lambda b: b.chars[0])
        return out

    def t1_turnarounds(self, first: Direction) -> list[tuple[T1BlockRecord, T1BlockRecord, Fraction]]:
        """Consecutive blocks (``first`` direction, then the other one) and the etu from the leading
        edge of the first block's last character to the leading edge of the second block's first
        character. ``first=CARD``: the reader's BGT (>= 22 etu); ``first=READER``: the card's
        answer delay (<= BWT, or the WTX-extended BWT)."""
        out: list[tuple[T1BlockRecord, T1BlockRecord, Fraction]] = []
        blocks = self.t1_blocks()
        for a, b in zip(blocks, blocks[1:]):
            if a.direction is first and b.direction is not first and b.chars[0] > a.chars[-1]:
                clocks = b.first_clocks - a.last_clocks
                out.append((a, b, clocks_to_etu(clocks, b.f, b.d)))
        return out

    def t1_bgt_etu(self) -> list[Fraction]:
        """Card's last character -> reader's next block, for every such pair (BGT >= 22 etu)."""
        return [g for _, _, g in self.t1_turnarounds(Direction.CARD)]

    def t1_bwt_etu(self) -> list[Fraction]:
        """Reader's last character -> the card's next block (the wait BWT bounds)."""
        return [g for _, _, g in self.t1_turnarounds(Direction.READER)]
