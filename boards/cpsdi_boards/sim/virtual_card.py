"""A virtual smart card speaking ISO/IEC 7816-3 at the character level, in virtual time.

The card sees its contacts (VCC, CLK, RST, I/O) through :class:`~cpsdi_boards.sim.card_port.SimCardPort`
and answers per character: ATR after a cold or warm reset (direct or inverse convention),
PPS (accept / partial / reject / silent), then a behaviour: :class:`T0Behaviour` (an APDU
handler driving the T=0 procedure bytes), ``T1Behaviour`` (:mod:`cpsdi_boards.sim.t1_card`,
T=1 blocks) or :class:`ScriptedBehaviour` (exact byte sequences, to reproduce any
conformance row). Faults (:mod:`cpsdi_boards.sim.faults`)
apply to its characters and answers. It records everything it observes
(:class:`~cpsdi_boards.sim.records.CardRecords`).

Timing model (all in clock cycles): every card character has a leading-edge distance
from the previous character on the line (either direction): ``turnaround_etu`` after the
reader's last character (plus modelled processing time), ``char_spacing_etu`` between its
own characters, ``atr_delay_clocks`` from RST rising to TS, 13 etu for a repetition after
an error signal (ISO 7816-3 §7.3: repetition at least 2 etu after the error signal seen at 11 etu).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Callable, Collection, Iterable, Mapping, Sequence, Union

from cpsdi_boards.sim.character import NULL, CardChar, decode_levels, encode_levels, garble
from cpsdi_boards.sim.clock import DD, FD, EtuCounter, etu_to_clocks
from cpsdi_boards.sim.faults import FaultScript, FaultSet, parse_fault_script
from cpsdi_boards.sim.records import CardRecords, CharRecord, Direction, EventKind, ExchangeRecord

__all__ = [
    "FI_TABLE",
    "DI_TABLE",
    "ATRParams",
    "parse_atr_params",
    "PPSMode",
    "AckMode",
    "CardResponse",
    "APDUHandler",
    "default_handler",
    "Behaviour",
    "T0Behaviour",
    "ScriptStep",
    "ScriptedBehaviour",
    "VirtualCard",
    "DEFAULT_ATR",
    "OUTGOING_INS",
    "REPEAT_GAP_ETU",
    "INITIAL_WT_ETU",
    "CLASS_A",
    "CLASS_B",
    "CLASS_C",
]

CLASS_A = 1  # same values as cpsdi_fw.hal
CLASS_B = 2
CLASS_C = 3

# ISO 7816-3:2006 Tables 7/8 (iso7816-3.md §1.1); 0 = RFU.
FI_TABLE = (372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0)
DI_TABLE = (0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0)
FMAX_KHZ_TABLE = (4000, 5000, 6000, 8000, 12000, 16000, 20000, 0, 0, 5000, 7500, 10000, 15000, 20000, 0, 0)

INITIAL_WT_ETU = 9600  # ISO 7816-3 §8.1 / §9.1: ATR and PPS
REPEAT_GAP_ETU = 13  # a repeated character's leading edge after the NACKed one's (§7.3)
RECEIVE_END_ETU = 12  # a character plus the minimum guard: "after" a character

# T=0: P3 is Le (data from the card) for these INS; Lc for all others (case 3/4).
OUTGOING_INS = frozenset({0x84, 0xB0, 0xB1, 0xB2, 0xB3, 0xC0, 0xCA, 0xCB, 0x12})

# A negotiable T=0 card: TA1 = 18 (Fi 372, Di 12), historical bytes "CPS".
DEFAULT_ATR = bytes.fromhex("3B 13 18 43 50 53")


def _xor(data: Iterable[int]) -> int:
    out = 0
    for b in data:
        out ^= b
    return out


# -- ATR parameters the card itself uses --------------------------------------------------------


@dataclass(frozen=True)
class ATRParams:
    """What the virtual card takes from its own ATR (lenient: a malformed ATR keeps defaults)."""

    inverse: bool = False
    fi: int = FD
    di: int = DD
    n: int = 0  # TC1, extra guard time
    wi: int = 10  # TC2
    specific: bool = False  # TA2 present
    implicit: bool = False  # TA2 b5
    bwi: int = 4
    cwi: int = 13
    protocols: tuple[int, ...] = (0,)
    ifsc: int = 32  # first TA(i>=3) after a TD(i-1) announcing T=1
    crc: bool = False  # first TC(i>=3) after a TD(i-1) announcing T=1, b1
    fmax_hz: int = 5_000_000  # TA1's FI (§8.3 Table 7); 5 MHz without TA1


def parse_atr_params(atr: bytes) -> ATRParams:
    """Interface bytes of an ATR given in logical values (TS = 3B or 3F)."""
    if not atr:
        return ATRParams()
    inverse = atr[0] == 0x3F
    pos = 1
    if pos >= len(atr):
        return ATRParams(inverse=inverse)
    y = atr[pos] >> 4
    pos += 1
    i = 1
    ta: dict[int, int] = {}
    tb: dict[int, int] = {}
    tc: dict[int, int] = {}
    td: dict[int, int] = {}
    while True:
        for bit, table in ((1, ta), (2, tb), (4, tc), (8, td)):
            if y & bit:
                if pos >= len(atr):
                    y = 0
                    break
                table[i] = atr[pos]
                pos += 1
        if i not in td or i > 8:
            break
        y = td[i] >> 4
        i += 1
    protocols = tuple(td[k] & 0x0F for k in sorted(td)) or (0,)
    fi, di = FD, DD
    if 1 in ta and FI_TABLE[ta[1] >> 4] and DI_TABLE[ta[1] & 0x0F]:
        fi, di = FI_TABLE[ta[1] >> 4], DI_TABLE[ta[1] & 0x0F]
    bwi, cwi = 4, 13
    for k in range(2, i + 1):  # first TB(i>=3) after a TD(i-1) announcing T=1
        if k - 1 in td and td[k - 1] & 0x0F == 1 and k >= 3 and k in tb:
            bwi, cwi = tb[k] >> 4, tb[k] & 0x0F
            break
    ifsc, crc = 32, False
    for k in range(3, i + 1):  # first TA(i>=3) for T=1
        if k - 1 in td and td[k - 1] & 0x0F == 1 and k in ta:
            ifsc = ta[k]
            break
    for k in range(3, i + 1):  # first TC(i>=3) for T=1
        if k - 1 in td and td[k - 1] & 0x0F == 1 and k in tc:
            crc = bool(tc[k] & 1)
            break
    fmax_hz = FMAX_KHZ_TABLE[ta[1] >> 4] * 1000 if 1 in ta else 5_000_000
    return ATRParams(
        fmax_hz=fmax_hz,
        inverse=inverse,
        fi=fi,
        di=di,
        n=tc.get(1, 0),
        wi=tc.get(2, 10) or 10,
        specific=2 in ta,
        implicit=bool(ta.get(2, 0) & 0x10),
        bwi=bwi,
        cwi=cwi,
        protocols=protocols,
        ifsc=ifsc,
        crc=crc,
    )


# -- behaviours ------------------------------------------------------------------------------------


class PPSMode(enum.Enum):
    """How the card answers a PPS request (ISO 7816-3 §9, iso7816-3.md §3 and §6.2)."""

    ACCEPT = "accept"  # echo; switch to the requested Fi/Di after PCK
    PARTIAL = "partial"  # FF 0x PCK: PPS1 absent, keep Fd/Dd
    REJECT_PCK = "reject_pck"  # echo with a wrong PCK
    REJECT_FD = "reject_fd"  # answer with a different PPS1 (11, or 12 if 11 was asked)
    SILENT = "silent"  # no answer


class AckMode(enum.Enum):
    """T=0 ACK procedure bytes the card uses for a data transfer (ISO 7816-3 §10.3.3)."""

    INS = "ins"  # one INS: all remaining bytes
    SINGLE = "single"  # INS xor FF before every byte
    MIXED = "mixed"  # INS xor FF for the first byte, then INS for the rest


@dataclass(frozen=True)
class CardResponse:
    """What an APDU handler answers: response data, SW1-SW2, and modelled processing time (etu)."""

    data: bytes = b""
    sw: int = 0x9000
    processing_etu: int = 0


APDUHandler = Callable[[bytes, bytes], CardResponse]


def default_handler(header: bytes, data: bytes) -> CardResponse:
    """Answers 90 00 with no data to everything."""
    return CardResponse()


class Behaviour:
    """Card-side protocol logic after the ATR (and PPS, unless ``raw``)."""

    raw = False  # True: the card passes every reader byte here, PPS included

    def on_reset(self, card: VirtualCard, warm: bool) -> None:
        """The card was reset (its ATR is queued)."""

    def on_char(self, card: VirtualCard, value: int) -> None:
        """A reader character the card accepted (not NACKed)."""

    def on_card_char_sent(self, card: VirtualCard, ch: CardChar, record_index: int) -> None:
        """A card character went on the line (first transmission); ``record_index`` into ``records.chars``."""


def _sw_bytes(sw: int) -> bytes:
    return bytes(((sw >> 8) & 0xFF, sw & 0xFF))


class T0Behaviour(Behaviour):
    """T=0 card side driven by an APDU handler ``(header, command data) -> CardResponse``.

    Case 1/2 (INS in ``outgoing_ins`` or P3 = 0): the handler runs on the header; no data
    -> SW; data of a length other than Le (P3, 00 = 256) -> ``6C xx``; else ACK + data + SW
    (more than 256 bytes: the first Le bytes then ``61 xx``). Case 3/4: ACK, the P3 command
    bytes, then the handler; response data with 9000 -> ``61 xx`` and GET RESPONSE (INS C0)
    serves it (``6C xx`` if its Le exceeds what is left, ``61 xx`` while more remains); data
    with a 62xx/63xx warning -> the warning, data kept for GET RESPONSE; data with an error
    SW is dropped. ``nulls`` NULL bytes precede every answer to a header or to the data;
    with ``null_interval_etu`` the card sends a NULL every that many etu of processing time.
    With ``case1_p3_zero``, P3 = 00 for an INS not in ``outgoing_ins`` is case 1 (ISO/IEC
    7816-3 §10.3.2, as the CPS3 does): response data, if any, goes through ``61 xx`` and
    GET RESPONSE as for case 3/4.
    """

    def __init__(
        self,
        handler: APDUHandler = default_handler,
        *,
        outgoing_ins: Collection[int] = OUTGOING_INS,
        ack: AckMode = AckMode.INS,
        nulls: int = 0,
        null_interval_etu: int | None = None,
        case1_p3_zero: bool = False,
    ) -> None:
        self.handler = handler
        self.outgoing_ins = frozenset(outgoing_ins)
        self.case1_p3_zero = case1_p3_zero
        self.ack = ack
        self.nulls = nulls
        self.null_interval_etu = null_interval_etu
        self.commands: list[tuple[bytes, bytes]] = []  # (header, data) seen by the handler
        self._reset_state()

    def _reset_state(self) -> None:
        self._header = bytearray()
        self._cmd = b""
        self._data = bytearray()
        self._lc = 0
        self._acked = 0
        self._pending: bytes | None = None
        self._pending_sw = 0x9000

    def on_reset(self, card: VirtualCard, warm: bool) -> None:
        self._reset_state()

    def _frame(self, ins: int, data: bytes) -> bytes:
        if not data:
            return b""
        if self.ack is AckMode.INS:
            return bytes((ins,)) + data
        if self.ack is AckMode.SINGLE:
            return b"".join(bytes((ins ^ 0xFF, b)) for b in data)
        return bytes((ins ^ 0xFF, data[0])) + (bytes((ins,)) + data[1:] if len(data) > 1 else b"")

    def _answer(self, card: VirtualCard, out: bytes, processing_etu: int) -> None:
        card.respond(out, processing_etu=processing_etu, nulls=self.nulls, null_interval_etu=self.null_interval_etu)

    def on_char(self, card: VirtualCard, value: int) -> None:
        if self._lc:
            self._data.append(value)
            if len(self._data) == self._lc:
                self._finish_incoming(card)
            elif len(self._data) == self._acked:
                ins = self._cmd[1]
                if self.ack is AckMode.SINGLE:
                    self._acked += 1
                    card.respond(bytes((ins ^ 0xFF,)), end_exchange=False)
                else:  # MIXED after the first byte
                    self._acked = self._lc
                    card.respond(bytes((ins,)), end_exchange=False)
            return
        self._header.append(value)
        if len(self._header) < 5:
            return
        header = bytes(self._header)
        self._header.clear()
        self._on_header(card, header)

    def _on_header(self, card: VirtualCard, header: bytes) -> None:
        ins, p3 = header[1], header[4]
        if ins == 0xC0 and self._pending is not None:
            self._get_response(card, header)
            return
        self._pending = None
        if ins not in self.outgoing_ins and p3 > 0:
            self._cmd = header
            self._lc = p3
            self._data = bytearray()
            self._acked = p3 if self.ack is AckMode.INS else 1
            ack = ins if self.ack is AckMode.INS else ins ^ 0xFF
            card.respond(bytes((ack,)), nulls=self.nulls, end_exchange=False)
            return
        if self.case1_p3_zero and ins not in self.outgoing_ins:
            self.commands.append((header, b""))
            self._serve(card, self.handler(header, b""))
            return
        self.commands.append((header, b""))
        resp = self.handler(header, b"")
        le = p3 or 256
        data = bytes(resp.data)
        if not data:
            self._answer(card, _sw_bytes(resp.sw), resp.processing_etu)
        elif len(data) <= 256 and le != len(data):
            self._answer(card, bytes((0x6C, len(data) & 0xFF)), resp.processing_etu)
        else:
            n = min(le, len(data))
            rest = data[n:]
            if rest:
                self._pending, self._pending_sw = rest, resp.sw
                tail = bytes((0x61, min(len(rest), 256) & 0xFF))
            else:
                tail = _sw_bytes(resp.sw)
            self._answer(card, self._frame(ins, data[:n]) + tail, resp.processing_etu)

    def _finish_incoming(self, card: VirtualCard) -> None:
        header, data = self._cmd, bytes(self._data)
        self._lc = 0
        self.commands.append((header, data))
        self._serve(card, self.handler(header, data))

    def _serve(self, card: VirtualCard, resp: CardResponse) -> None:
        """Case 1/3/4 answer: data with 9000 -> ``61 xx`` (kept for GET RESPONSE)."""
        rdata = bytes(resp.data)
        sw = resp.sw
        if rdata and sw == 0x9000:
            self._pending, self._pending_sw = rdata, 0x9000
            sw = 0x6100 | (min(len(rdata), 256) & 0xFF)
        elif rdata and (sw >> 8) in (0x62, 0x63):
            self._pending, self._pending_sw = rdata, 0x9000
        self._answer(card, _sw_bytes(sw), resp.processing_etu)

    def _get_response(self, card: VirtualCard, header: bytes) -> None:
        assert self._pending is not None
        self.commands.append((header, b""))
        avail = len(self._pending)
        le = header[4] or 256
        if le > avail:
            self._answer(card, bytes((0x6C, avail & 0xFF)), 0)
            return
        part, rest = self._pending[:le], self._pending[le:]
        if rest:
            tail = bytes((0x61, min(len(rest), 256) & 0xFF))
            self._pending = rest
        else:
            tail = _sw_bytes(self._pending_sw)
            self._pending = None
        self._answer(card, self._frame(0xC0, part) + tail, 0)


@dataclass(frozen=True)
class ScriptStep:
    """One step of a scripted card: wait for ``expect`` (exact bytes, checked, or a count), then send ``reply``.

    ``expect`` = 0 / empty: reply right after the previous step (or after the ATR).
    ``then_fd``: the card switches to this F/D after the reply (e.g. after a PPS echo).
    """

    reply: bytes
    expect: Union[bytes, int] = 0
    end_exchange: bool = True
    processing_etu: int = 0
    then_fd: tuple[int, int] | None = None


class ScriptedBehaviour(Behaviour):
    """Replays exact card byte sequences; every reader byte goes to the script (PPS included).

    Restarts at the first step after every reset. A reader sequence different from a step's
    ``expect`` bytes is recorded (``EventKind.SCRIPT_MISMATCH``) and the reply is sent anyway.
    """

    raw = True

    def __init__(self, steps: Iterable[Union[ScriptStep, tuple[Union[bytes, int], bytes]]]) -> None:
        self.steps: tuple[ScriptStep, ...] = tuple(
            s if isinstance(s, ScriptStep) else ScriptStep(reply=bytes(s[1]), expect=s[0]) for s in steps
        )
        self._i = 0
        self._buf = bytearray()

    @staticmethod
    def _need(step: ScriptStep) -> int:
        return step.expect if isinstance(step.expect, int) else len(step.expect)

    def _chain(self, card: VirtualCard) -> None:
        while self._i < len(self.steps) and self._need(self.steps[self._i]) == 0:
            self._reply(card, self.steps[self._i])

    def _reply(self, card: VirtualCard, step: ScriptStep) -> None:
        self._i += 1
        card.respond(step.reply, processing_etu=step.processing_etu, end_exchange=step.end_exchange,
                     then_fd=step.then_fd)

    def on_reset(self, card: VirtualCard, warm: bool) -> None:
        self._i = 0
        self._buf = bytearray()
        self._chain(card)

    def on_char(self, card: VirtualCard, value: int) -> None:
        if self._i >= len(self.steps):
            card.records.add_event(EventKind.SCRIPT_EXHAUSTED, card.line_edge_clocks, "%02x" % value)
            return
        self._buf.append(value)
        step = self.steps[self._i]
        if len(self._buf) < self._need(step):
            return
        got = bytes(self._buf)
        self._buf = bytearray()
        if isinstance(step.expect, bytes) and got != step.expect:
            card.records.add_event(
                EventKind.SCRIPT_MISMATCH,
                card.line_edge_clocks,
                "step %d: expected %s, got %s" % (self._i + 1, step.expect.hex(" "), got.hex(" ")),
            )
        self._reply(card, step)
        self._chain(card)


# -- the card ---------------------------------------------------------------------------------------

_OFF = "off"
_NEGOTIATE = "negotiate"  # ATR sent or being sent; a PPS may come
_PPS = "pps"
_SESSION = "session"


class VirtualCard:
    """A card in virtual time. Constructor arguments:

    * ``atr``: logical ATR bytes (TS 3B direct, 3F inverse: on the line they are the
      bit-reversed complements); ``warm_atr``: ATR after a warm reset (default ``atr``).
    * ``behaviour``: :class:`T0Behaviour` (default, with :func:`default_handler`),
      ``T1Behaviour`` (:mod:`cpsdi_boards.sim.t1_card`), :class:`ScriptedBehaviour` or any
      :class:`Behaviour`.
    * ``atr_delay_clocks``: RST rising -> TS leading edge (ISO window 400..40 000; any
      value >= 0 is accepted, for negative tests). ``atr_spacing_etu``: ATR characters'
      spacing. ``char_spacing_etu`` / ``turnaround_etu``: after the ATR.
    * ``classes``: voltage classes the card works in (others: powered but mute).
    * ``pps``: :class:`PPSMode`. ``repeat_limit``: repetitions after error signals from the
      reader. ``error_signal``: the card NACKs reader characters with a parity error.
    * ``faults``: a :class:`FaultScript` or its text.
    """

    def __init__(
        self,
        atr: bytes = DEFAULT_ATR,
        *,
        behaviour: Behaviour | None = None,
        warm_atr: bytes | None = None,
        atr_delay_clocks: int = 10_000,
        atr_spacing_etu: int = 12,
        char_spacing_etu: int = 12,
        turnaround_etu: int = 16,
        classes: Collection[int] = (CLASS_A, CLASS_B, CLASS_C),
        pps: PPSMode = PPSMode.ACCEPT,
        repeat_limit: int = 4,
        error_signal: bool = True,
        faults: FaultScript | str | None = None,
    ) -> None:
        if not atr:
            raise ValueError("a card needs an ATR")
        if atr_delay_clocks < 0 or atr_spacing_etu < 1 or char_spacing_etu < 1 or turnaround_etu < 1:
            raise ValueError("delays and spacings must be positive")
        self.atr = bytes(atr)
        self.warm_atr = bytes(warm_atr) if warm_atr is not None else self.atr
        self.behaviour: Behaviour = behaviour if behaviour is not None else T0Behaviour()
        self.atr_delay_clocks = atr_delay_clocks
        self.atr_spacing_etu = atr_spacing_etu
        self.char_spacing_etu = char_spacing_etu
        self.turnaround_etu = turnaround_etu
        self.classes = frozenset(classes)
        self.pps_mode = pps
        self.repeat_limit = repeat_limit
        self.error_signal = error_signal
        if isinstance(faults, str):
            faults = parse_fault_script(faults)
        self.faults = FaultSet(faults if faults is not None else FaultScript())
        self.records = CardRecords()
        self.params = parse_atr_params(self.atr)
        self._f, self._d = FD, DD
        self._inverse = self.params.inverse
        self._powered = False
        self._class_ok = False
        self._clk = False
        self._rst_high = False
        self._io = False
        self._removed = False
        self._removal: int | None = None
        self._resets = 0
        self._state = _OFF
        self._queue: deque[CardChar] = deque()
        self._head_repeats = 0
        self._line_edge = 0
        self._segment = 0
        self._response_no = 0
        self._card_serial = 0
        self._reader_serial = 0
        self._muted = False
        self._nack_request = False
        self._shaping_response = 0
        self._pps_response = -1
        self._pps = bytearray()
        self._exchange: ExchangeRecord | None = None
        self._etu = EtuCounter()

    # -- state ---------------------------------------------------------------------------------

    @property
    def fd(self) -> tuple[int, int]:
        """F and D the card currently uses."""
        return self._f, self._d

    @property
    def inverse(self) -> bool:
        """True if the card uses the inverse convention (TS of its current ATR = 3F)."""
        return self._inverse

    @property
    def active(self) -> bool:
        """Powered in a supported class, clocked, RST high, in the slot."""
        return self._powered and self._class_ok and self._clk and self._rst_high and not self._removed

    @property
    def removal_clocks(self) -> int | None:
        """When the card leaves the slot (scheduled by a fault or by the port), or None."""
        times = [t for t in (self._removal, self.faults.removal_clocks()) if t is not None]
        return min(times) if times else None

    @property
    def response_count(self) -> int:
        """Answers since the last reset (the ATR is answer 0)."""
        return self._response_no

    # -- FaultEnv ---------------------------------------------------------------------------------

    @property
    def timing_etu(self) -> Mapping[str, int]:
        f, d = self._f, self._d
        p = self.params
        if self._shaping_response in (0, self._pps_response):
            wt = INITIAL_WT_ETU
        else:
            wt = etu_to_clocks(p.wi * 960 * p.fi * d, 1, f)  # ceil(WI*960*Fi*D/F)
        bwt = 11 + etu_to_clocks((1 << p.bwi) * 960 * 372 * d, 1, f)
        return {
            "WT": wt,
            "CWT": 11 + (1 << p.cwi),
            "BWT": bwt,
            "GT": 12 + (p.n if p.n != 255 else 0),
        }

    @property
    def spacing_clocks(self) -> int:
        return etu_to_clocks(self.char_spacing_etu, self._f, self._d)

    @property
    def turnaround_clocks(self) -> int:
        return etu_to_clocks(self.turnaround_etu, self._f, self._d)

    @property
    def line_edge_clocks(self) -> int:
        return self._line_edge

    def clocks(self, amount: int, unit: str) -> int:
        if unit == "clocks":
            return amount
        return etu_to_clocks(amount, self._f, self._d)

    def mute(self) -> None:
        if not self._muted:
            self.records.add_event(EventKind.MUTED, self._line_edge, "response %d" % self._shaping_response)
        self._muted = True

    def remove_at(self, clocks: int) -> None:
        self._removal = clocks if self._removal is None else min(self._removal, clocks)

    def nack(self) -> None:
        self._nack_request = True

    # -- answers (used by behaviours) -----------------------------------------------------------

    def respond(
        self,
        data: bytes | Sequence[int],
        *,
        processing_etu: int = 0,
        nulls: int = 0,
        null_interval_etu: int | None = None,
        end_exchange: bool = True,
        then_fd: tuple[int, int] | None = None,
        turnaround_etu: int | None = None,
        spacing_etu: int | None = None,
    ) -> None:
        """Queue an answer: ``nulls`` NULLs, then (after ``processing_etu``, with a NULL every
        ``null_interval_etu`` meanwhile) ``data``. Its first character comes ``turnaround_etu``
        (default: the card's) after the previous character on the line, the next ones
        ``spacing_etu`` (default: the card's ``char_spacing_etu``) apart."""
        if not self.active:
            return
        self._response_no += 1
        first = self.turnaround_clocks if turnaround_etu is None else self.clocks(turnaround_etu, "etu")
        spacing = self.spacing_clocks if spacing_etu is None else self.clocks(spacing_etu, "etu")
        self._queue_answer(
            self._response_no, bytes(data), first, spacing,
            self.clocks(processing_etu, "etu"), nulls, null_interval_etu, end_exchange, then_fd,
        )

    def _queue_answer(
        self,
        response: int,
        data: bytes,
        first_gap: int,
        spacing: int,
        processing: int,
        nulls: int,
        null_interval_etu: int | None,
        end_exchange: bool,
        then_fd: tuple[int, int] | None,
    ) -> None:
        chars: list[CardChar] = []
        gap = first_gap
        for _ in range(nulls):
            chars.append(CardChar(NULL, gap, response, 0))
            gap = spacing
        remaining = processing
        if null_interval_etu is not None and null_interval_etu > 0:
            interval = self.clocks(null_interval_etu, "etu")
            while remaining > interval:
                chars.append(CardChar(NULL, interval, response, 0, processing_clocks=interval))
                remaining -= interval
                gap = spacing
        for i, value in enumerate(data):
            ch = CardChar(value, gap, response, i + 1)
            if i == 0:
                ch.gap_clocks += remaining
                ch.processing_clocks = remaining
            chars.append(ch)
            gap = spacing
        if data:
            chars[-1].end_exchange = end_exchange
            chars[-1].then_fd = then_fd
        elif then_fd is not None:
            self._switch_fd(then_fd, self._line_edge)
        self._shaping_response = response
        if self._muted:
            chars = []
        else:
            self.faults.on_response(response, chars, self)
        self._queue.extend(chars)

    def _switch_fd(self, fd: tuple[int, int], at_clocks: int) -> None:
        if fd != (self._f, self._d):
            self._f, self._d = fd
            self._etu.set_fd(at_clocks, *fd)
            self.records.add_event(EventKind.FD_SWITCH, at_clocks, "%d/%d" % fd)

    # -- contacts (driven by the port) --------------------------------------------------------------

    def inserted(self, clocks: int) -> None:
        """The card enters a slot."""
        self._removed = False
        self._removal = None
        self.records.add_event(EventKind.INSERTED, clocks)

    def removed(self, clocks: int) -> None:
        """The card leaves the slot: it loses every contact."""
        if self._removed:
            return
        self._removed = True
        self.records.add_event(EventKind.REMOVED, clocks)
        self._powered = self._clk = self._rst_high = False
        self._stop(clocks)

    def contact_vcc(self, on: bool, clocks: int, voltage_class: int = CLASS_A) -> None:
        """VCC switched on in ``voltage_class`` or off."""
        if on:
            self._powered = True
            self._resets = 0
            self._class_ok = voltage_class in self.classes and voltage_class not in self.faults.refused_classes()
            self.records.add_event(EventKind.VCC_ON, clocks, "class %s" % "?ABC"[voltage_class & 3])
            if not self._class_ok:
                self.records.add_event(EventKind.CLASS_REFUSED, clocks, "class %s" % "?ABC"[voltage_class & 3])
        else:
            self._powered = False
            self.records.add_event(EventKind.VCC_OFF, clocks)
            self._stop(clocks)

    def contact_clk(self, running: bool, clocks: int) -> None:
        """CLK started or stopped low."""
        self._clk = running
        self.records.add_event(EventKind.CLK_ON if running else EventKind.CLK_STOP, clocks)
        if not running:
            self._stop(clocks)

    def clock_frequency(self, hz: int, clocks: int) -> None:
        """The reader changed CLK to ``hz`` (only wall time per clock cycle changes); above the
        card's fmax (§8.3) the card logs CLK_ABOVE_FMAX (a real card's behaviour is undefined)."""
        self.records.add_event(EventKind.CLK_FREQUENCY, clocks, "%d Hz" % hz)
        if hz > self.params.fmax_hz:
            self.records.add_event(EventKind.CLK_ABOVE_FMAX, clocks, "%d Hz > %d Hz" % (hz, self.params.fmax_hz))

    def contact_io(self, reception: bool, clocks: int) -> None:
        """I/O put in reception (pulled high) or driven low."""
        self._io = reception
        self.records.add_event(EventKind.IO_RECEPTION if reception else EventKind.IO_LOW, clocks)

    def contact_rst(self, high: bool, clocks: int) -> None:
        """RST driven; a rising edge while powered and clocked starts an ATR."""
        was = self._rst_high
        self._rst_high = high
        self.records.add_event(EventKind.RST_HIGH if high else EventKind.RST_LOW, clocks)
        if not high:
            self._stop(clocks)
            return
        if was or not self.active:
            return
        warm = self._resets > 0
        self._resets += 1
        atr = self.warm_atr if warm else self.atr
        self.params = parse_atr_params(atr)
        self._inverse = self.params.inverse
        self._f, self._d = FD, DD
        self._etu.restart(clocks)
        self._line_edge = clocks
        self._segment = len(self.records.chars)
        self._response_no = 0
        self._card_serial = 0
        self._reader_serial = 0
        self._muted = False
        self._pps_response = -1
        self._state = _NEGOTIATE
        specific_fd: tuple[int, int] | None = None
        if self.params.specific and not self.params.implicit:
            specific_fd = (self.params.fi, self.params.di)
        self._queue_answer(
            0, atr, self.atr_delay_clocks, etu_to_clocks(self.atr_spacing_etu, FD, DD), 0, 0, None,
            False, specific_fd,
        )
        if self.params.specific:
            self._state = _SESSION
        self.behaviour.on_reset(self, warm)

    def _stop(self, clocks: int) -> None:
        if self._queue:
            self.records.add_event(EventKind.OUTPUT_CANCELLED, clocks, "%d character(s)" % len(self._queue))
        self._queue.clear()
        self._head_repeats = 0
        self._state = _OFF
        self._exchange = None

    # -- characters (driven by the port) ----------------------------------------------------------

    def next_char(self) -> tuple[CardChar, int] | None:
        """The character the card will put on the line next and its leading edge, or None."""
        if not self.active or not self._queue:
            return None
        ch = self._queue[0]
        if not ch.faults_applied:
            ch.faults_applied = True
            self._shaping_response = ch.response
            self.faults.on_card_char(ch, self._card_serial + 1, self)
        edge = self._line_edge + ch.gap_clocks
        if ch.remove_before:
            self.remove_at(edge)
        return ch, edge

    def line_levels(self, ch: CardChar) -> tuple[int, ...]:
        """Line levels of the next transmission of ``ch`` (parity fault included)."""
        return encode_levels(ch.value, self._inverse, ch.parity_errors == 0)

    def char_done(self, edge: int, received: int, parity_error: bool, nacked: bool) -> bool:
        """The head character went on the line at ``edge``; the reader decoded ``received``
        and NACKed it or not. Returns True if the card will repeat it."""
        ch = self._queue[0]
        rep = self._head_repeats
        if rep == 0:
            self._card_serial += 1
            if ch.response == 0 and self._card_serial == 1:
                self.records.add_event(EventKind.ATR_START, edge)
        self.records.add_char(
            CharRecord(
                Direction.CARD, ch.value, received, parity_error, nacked, edge, self._etu.etu_at(edge),
                self._f, self._d, rep, self._card_serial, ch.response, ch.index,
            ),
            self._segment,
        )
        if rep == 0:
            self.behaviour.on_card_char_sent(self, ch, len(self.records.chars) - 1)
        self._line_edge = edge
        if self._exchange is not None:
            self._exchange.card_chars += 1
            if rep == 0:
                self._exchange.processing_clocks += ch.processing_clocks
        if ch.parity_errors > 0:
            ch.parity_errors -= 1
        if nacked and rep < self.repeat_limit:
            self._head_repeats += 1
            ch.gap_clocks = etu_to_clocks(REPEAT_GAP_ETU, self._f, self._d)
            ch.processing_clocks = 0
            return True
        self._queue.popleft()
        self._head_repeats = 0
        if ch.remove_after:
            self.remove_at(edge + etu_to_clocks(RECEIVE_END_ETU, self._f, self._d))
        if ch.end_exchange and self._exchange is not None:
            self._exchange.end_clocks = edge
            self._exchange = None
        if ch.then_fd is not None:
            self._switch_fd(ch.then_fd, edge)
        return False

    def before_reader_char(self, edge: int, repetition: int) -> None:
        """The reader is about to start a character at ``edge`` (removal faults)."""
        if not self.active:
            return
        self.faults.on_reader_char(self._reader_serial + (0 if repetition else 1), repetition, edge, self, before=True)

    def reader_char(self, value: int, levels: tuple[int, ...], edge: int, f: int, d: int, repetition: int) -> bool:
        """A reader character (``value`` as meant, ``levels`` on the line) at ``edge``, sent at F/D
        ``f``/``d``. Returns True if the card signals a parity error (NACK)."""
        if repetition == 0:
            self._reader_serial += 1
        if self._queue:
            self.records.add_event(EventKind.OUTPUT_CANCELLED, edge, "%d character(s)" % len(self._queue))
            self._queue.clear()
            self._head_repeats = 0
        received, ok = decode_levels(levels, self._inverse)
        if (f, d) != (self._f, self._d):
            received, ok = garble(received), False
        self._nack_request = False
        active = self.active
        if active:
            self.faults.on_reader_char(self._reader_serial, repetition, edge, self, before=False)
        nack = active and (self._nack_request or (not ok and self.error_signal))
        self.records.add_char(
            CharRecord(
                Direction.READER, value, received, not ok, nack, edge, self._etu.etu_at(edge), f, d,
                repetition, self._reader_serial,
            ),
            self._segment,
        )
        self._line_edge = edge
        if not active:
            return False
        if self._exchange is None:
            self._exchange = ExchangeRecord(len(self.records.exchanges), "command", edge, self._f, self._d)
            self.records.exchanges.append(self._exchange)
        self._exchange.reader_chars += 1
        if not nack:
            self._on_reader_byte(received)
        return nack

    def _on_reader_byte(self, value: int) -> None:
        if self._state == _NEGOTIATE:
            if not self.behaviour.raw and value == 0xFF:
                self._state = _PPS
                self._pps = bytearray((value,))
                if self._exchange is not None:
                    self._exchange.kind = "pps"
                return
            self._state = _SESSION
        if self._state == _PPS:
            self._pps.append(value)
            need = 3 + bin(self._pps[1] & 0x70).count("1") if len(self._pps) >= 2 else 3
            if len(self._pps) >= need:
                self._state = _SESSION
                self._answer_pps(bytes(self._pps))
            return
        if self._state == _SESSION:
            if self.behaviour.raw and self._exchange is not None:
                self._exchange.kind = "script"
            self.behaviour.on_char(self, value)

    def _answer_pps(self, req: bytes) -> None:
        mode = self.pps_mode
        if _xor(req) != 0:
            self.records.add_event(EventKind.PPS, self._line_edge, "%s: bad PCK, silent" % req.hex(" "))
            return
        self.records.add_event(EventKind.PPS, self._line_edge, "%s: %s" % (req.hex(" "), mode.value))
        pps0 = req[1]
        pps1 = req[2] if pps0 & 0x10 else None
        then_fd: tuple[int, int] | None = None
        if mode is PPSMode.ACCEPT and pps1 is not None:
            fi, di = FI_TABLE[pps1 >> 4], DI_TABLE[pps1 & 0x0F]
            if fi and di:
                then_fd = (fi, di)
            else:
                mode = PPSMode.PARTIAL
        if mode is PPSMode.SILENT:
            return
        if mode is PPSMode.ACCEPT:
            resp = req
        elif mode is PPSMode.PARTIAL:
            body = bytes((0xFF, pps0 & 0x0F))
            resp = body + bytes((_xor(body),))
        elif mode is PPSMode.REJECT_PCK:
            resp = req[:-1] + bytes((req[-1] ^ 0xFF,))
        else:  # REJECT_FD
            alt = 0x12 if pps1 == 0x11 else 0x11
            rest = req[3:-1] if pps1 is not None else req[2:-1]
            body = bytes((0xFF, pps0 | 0x10, alt)) + rest
            resp = body + bytes((_xor(body),))
        self._pps_response = self._response_no + 1
        self.respond(resp, then_fd=then_fd)
