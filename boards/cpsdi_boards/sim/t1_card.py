"""T=1 card side of the virtual card (ISO/IEC 7816-3 §11, iso7816-3.md §5 and §6.4).

:class:`T1Behaviour` plugs into :class:`~cpsdi_boards.sim.virtual_card.VirtualCard` like
:class:`~cpsdi_boards.sim.virtual_card.T0Behaviour`: it receives the reader's characters,
assembles blocks, validates them, runs the APDU handler and answers block by block. Block
faults of the fault-script language (docs/fault-scripts.md, "T=1 blocks") act on the card's
blocks by number. Every block in both directions is recorded
(:meth:`~cpsdi_boards.sim.records.CardRecords.t1_blocks`).

Card rules (what the card does with a reader block):

* Invalid block (EDC, LEN = FF, LEN > IFSC, NAD other than ``nad``, RFU PCB bits, R-block
  with LEN != 0, S-block with a wrong LEN / unknown type / IFS 00 or FF, S(WTX req) or
  S(VPP) from the reader, I-block with an unexpected N(S) or during card chaining, an
  unmatched S-response): ``R(N(R), 1)`` for an EDC error, ``R(N(R), 2)`` otherwise; the
  card's state does not change (an ``EventKind.T1_INVALID`` event says why).
* I-block with the expected N(S): M = 1 -> ``R(next N(S))`` (reader chaining); M = 0 -> the
  APDU (all chained INF) goes to the handler; data + SW are sent in I-blocks of at most
  IFSD bytes (card chaining, each next block after the reader's ``R(next)`` ack).
* R-block: during card chaining, ``R(N(R) = the card's next N(S))`` is an ack (next chained
  block); any other R-block makes the card retransmit its last block (its last I-block,
  R-ack or its own S-request); with nothing to retransmit, ``R(N(R), 2)``.
* ``S(RESYNCH req)`` -> ``S(RESYNCH resp)``; N(S) = N(R) = 0, chains dropped (IFSC/IFSD
  kept). Unless ``answer_resynch=False`` or an ``ignore resynch`` fault: then silent.
* ``S(IFS req, n)`` -> echo, IFSD = n; ``S(ABORT req)`` -> ``S(ABORT resp)``, chains dropped.
* While the card waits for the answer to its own S-request, any other valid block makes it
  resend the S-request (a reader ``S(RESYNCH req)`` is still honoured).

Timing: the card answers ``delay_etu`` (>= BGT = 22) after the leading edge of the reader's
last character, plus modelled processing time; its characters are ``char_spacing_etu``
apart. A reader block whose characters are more than the card's CWT apart is abandoned
(the card stays silent). Parity errors on reader characters are not modelled for T=1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cpsdi_boards.sim.character import CardChar
from cpsdi_boards.sim.faults import T1Plan
from cpsdi_boards.sim.records import Direction, EventKind, T1Mark
from cpsdi_boards.sim.t1_block import EDC_KINDS, DecodedBlock, decode_block, edc_len, frame_block, i_pcb, r_pcb, swap_nad
from cpsdi_boards.sim.virtual_card import (
    APDUHandler,
    Behaviour,
    CardResponse,
    VirtualCard,
    default_handler,
)

__all__ = [
    "T1Behaviour",
    "split_apdu",
    "BGT_ETU",
    "T1_ATR_LRC",
    "T1_ATR_LRC_IFSC254",
    "T1_ATR_CRC",
    "T1_ATR_CRC_IFSC254",
]

BGT_ETU = 22


def _with_tck(body: str) -> bytes:
    data = bytes.fromhex(body)
    tck = 0
    for b in data[1:]:
        tck ^= b
    return data + bytes((tck,))


# T=1 ATRs: TA1 = 18 (Fi 372, Di 12, negotiable), TD1 = 81 (T=1), TD2 = T=1 with TA3 = IFSC,
# TB3 = 45 (BWI 4, CWI 5: CWT 43 etu), TC3 = 01 (CRC) on the CRC cards; historical bytes "CPS"; TCK.
T1_ATR_LRC = _with_tck("3B 93 18 81 31 20 45 43 50 53")  # LRC, IFSC 32
T1_ATR_LRC_IFSC254 = _with_tck("3B 93 18 81 31 FE 45 43 50 53")  # LRC, IFSC 254
T1_ATR_CRC = _with_tck("3B 93 18 81 71 20 45 01 43 50 53")  # CRC, IFSC 32
T1_ATR_CRC_IFSC254 = _with_tck("3B 93 18 81 71 FE 45 01 43 50 53")  # CRC, IFSC 254

APDUFunction = Callable[[bytes], CardResponse]


def split_apdu(apdu: bytes) -> tuple[bytes, bytes]:
    """``(header, data)`` for an :data:`APDUHandler` as a T=0 card would see them: header = CLA INS
    P1 P2 P3 with P3 = Lc (command data present) or Le (short) or 00; data = command data.
    Extended APDUs: P3 = 00 and the command data (use ``apdu_handler`` for the exact APDU)."""
    if len(apdu) <= 4:
        return bytes(apdu).ljust(4, b"\x00") + b"\x00", b""
    head = bytes(apdu[:4])
    if len(apdu) == 5:
        return bytes(apdu[:5]), b""
    lc = apdu[4]
    if lc and len(apdu) in (5 + lc, 6 + lc):
        return bytes(apdu[:5]), bytes(apdu[5:5 + lc])
    if lc == 0 and len(apdu) >= 7:
        elc = (apdu[5] << 8) | apdu[6]
        if elc and len(apdu) in (7 + elc, 9 + elc):
            return head + b"\x00", bytes(apdu[7:7 + elc])
        return head + bytes((apdu[6],)), b""
    return bytes(apdu[:5]), bytes(apdu[5:])


@dataclass
class _Item:
    """A block the card will send: ``kind`` "I" = the next chunk of the pending response."""

    kind: str  # "I", "R", "S", "resend"
    pcb: int = 0
    inf: bytes = b""
    processing_etu: int = 0
    end_exchange: bool = False
    remember: bool = False  # becomes the block to retransmit on a reader R-block
    s_request: bool = False  # the card then waits for the matching S-response
    corrupt: bool = False


def _kind(pcb: int) -> str:
    return "I" if not pcb & 0x80 else ("R" if not pcb & 0x40 else "S")


class T1Behaviour(Behaviour):
    """T=1 card side driven by an APDU handler (see the module docstring for its rules).

    Args:
        handler: ``(header, data) -> CardResponse`` as for :class:`T0Behaviour` (header and data
            from :func:`split_apdu`); ``apdu_handler``: ``(apdu) -> CardResponse`` instead (the whole
            APDU verbatim). ``CardResponse.processing_etu`` is the card's processing time.
        ifsc: the card's IFSC (None: from its ATR, first TA for T=1, default 32).
        ifsd: the IFSD the card assumes until the reader's ``S(IFS req)`` (ISO default 32).
        edc: "lrc", "crc-libccid" or "crc-iso13239" (None: from the ATR, first TC for T=1 b1:
            CRC -> ``crc_variant``).
        nad: the NAD the card expects from the reader (its own blocks carry it with DAD/SAD swapped).
        check_nad: False: any NAD accepted.
        wtx: m: before every APDU answer the card sends ``S(WTX req, m)`` and spends its processing
            time after the reader's ``S(WTX resp)``, in as many WTX rounds as needed to keep
            each wait within m x BWT. None: the processing time passes before the answer.
        ifs_request: n: the card sends ``S(IFS req, n)`` before its answer to the first APDU after
            each reset (IFSC = n once the reader echoes it).
        delay_etu: reader's last character -> card's first character (>= BGT = 22).
        char_spacing_etu: leading edge to leading edge of the card's characters in a block.
        answer_resynch: False: the card never answers ``S(RESYNCH req)``.
    """

    def __init__(
        self,
        handler: APDUHandler = default_handler,
        *,
        apdu_handler: APDUFunction | None = None,
        ifsc: int | None = None,
        ifsd: int = 32,
        edc: str | None = None,
        crc_variant: str = "crc-libccid",
        nad: int = 0,
        check_nad: bool = True,
        wtx: int | None = None,
        ifs_request: int | None = None,
        delay_etu: int = BGT_ETU,
        char_spacing_etu: int = 12,
        answer_resynch: bool = True,
    ) -> None:
        if edc is not None:
            edc_len(edc)
        if crc_variant not in EDC_KINDS[1:]:
            raise ValueError("crc_variant must be crc-libccid or crc-iso13239")
        if ifsc is not None and not 1 <= ifsc <= 254:
            raise ValueError("IFSC must be 1..254")
        if not 1 <= ifsd <= 254:
            raise ValueError("IFSD must be 1..254")
        if ifs_request is not None and not 0 <= ifs_request <= 255:
            raise ValueError("ifs_request must be a byte")
        if wtx is not None and not 1 <= wtx <= 255:
            raise ValueError("WTX multiplier must be 1..255")
        if delay_etu < BGT_ETU:
            raise ValueError("the card respects BGT: delay_etu must be >= %d" % BGT_ETU)
        if char_spacing_etu < 11:
            raise ValueError("char_spacing_etu must be >= 11")
        self.handler = handler
        self.apdu_handler = apdu_handler
        self.config_ifsc = ifsc
        self.config_ifsd = ifsd
        self.config_edc = edc
        self.crc_variant = crc_variant
        self.nad = nad
        self.check_nad = check_nad
        self.wtx = wtx
        self.ifs_request = ifs_request
        self.delay_etu = delay_etu
        self.char_spacing_etu = char_spacing_etu
        self.answer_resynch = answer_resynch
        self.apdus: list[bytes] = []  # every APDU the handler saw, verbatim
        self.commands: list[tuple[bytes, bytes]] = []  # (header, data) passed to ``handler``
        self.edc = edc or "lrc"
        self.ifsc = ifsc or 32
        self._reset_state()

    # -- state -------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.ifsd = self.config_ifsd
        self.ns = 0  # N(S) of the card's next I-block
        self.nr = 0  # N(S) expected in the reader's next I-block
        self.blocks_sent = 0  # card blocks since the reset (dropped ones included)
        self.reader_blocks = 0
        self._rx = bytearray()
        self._rx_mark: T1Mark | None = None
        self._rx_edge = 0
        self._rx_chain = bytearray()
        self._tx_rest: bytes | None = None
        self._resend: tuple[int, bytes, bool] | None = None
        self._pending_s: _Item | None = None
        self._queue: list[_Item] = []
        self._resynch_count = 0
        self._ifs_requested = False
        self._marks: dict[int, T1Mark] = {}

    def on_reset(self, card: VirtualCard, warm: bool) -> None:
        p = card.params
        self.ifsc = self.config_ifsc if self.config_ifsc is not None else (p.ifsc if 1 <= p.ifsc <= 254 else 32)
        self.edc = self.config_edc or (self.crc_variant if p.crc else "lrc")
        self._reset_state()

    @property
    def waiting_for_s_response(self) -> bool:
        """True while the card waits for the reader's answer to its S-request."""
        return self._pending_s is not None

    @property
    def chaining(self) -> bool:
        """True while the card has response data left to send (card chaining)."""
        return self._tx_rest is not None

    # -- characters --------------------------------------------------------------------------

    def on_char(self, card: VirtualCard, value: int) -> None:
        edge = card.line_edge_clocks
        index = len(card.records.chars) - 1
        if self._rx and edge - self._rx_edge > card.clocks(card.timing_etu["CWT"], "etu"):
            card.records.add_event(EventKind.T1_INVALID, self._rx_edge,
                                   "CWT: incomplete block %s abandoned" % bytes(self._rx).hex(" "))
            self._rx = bytearray()
        if not self._rx:
            self.reader_blocks += 1
            self._rx_mark = T1Mark(Direction.READER, self.edc, self.reader_blocks)
            card.records.t1_marks.append(self._rx_mark)
        assert self._rx_mark is not None
        self._rx.append(value)
        self._rx_mark.chars.append(index)
        self._rx_edge = edge
        if len(self._rx) < 3:
            return
        length = self._rx[2] if self._rx[2] != 0xFF else 0
        if len(self._rx) >= 3 + length + edc_len(self.edc):
            block = bytes(self._rx)
            self._rx = bytearray()
            self._on_block(card, block)

    def on_card_char_sent(self, card: VirtualCard, ch: CardChar, record_index: int) -> None:
        mark = self._marks.get(ch.response)
        if mark is not None:
            mark.chars.append(record_index)

    # -- blocks received ---------------------------------------------------------------------

    def _check(self, d: DecodedBlock) -> tuple[int, str]:
        """(error code, reason) for an invalid block, (0, "") for a valid one."""
        if not d.edc_ok:
            return 1, "EDC"
        if d.length == 0xFF:
            return 2, "LEN FF"
        if self.check_nad and d.nad != self.nad:
            return 2, "NAD %02X" % (d.nad or 0)
        if d.rfu:
            return 2, "RFU PCB bits %02X" % (d.pcb or 0)
        length = d.length or 0
        if d.kind == "I":
            if length > self.ifsc:
                return 2, "LEN %d > IFSC %d" % (length, self.ifsc)
        elif d.kind == "R":
            if length:
                return 2, "R-block with LEN %d" % length
        else:
            t = (d.pcb or 0) & 0x1F
            if length != (1 if t in (1, 3) else 0):
                return 2, "S-block LEN %d" % length
            if t == 4:
                return 2, "S(VPP) from the reader"
            if t == 3 and not d.s_response:
                return 2, "S(WTX req) from the reader"
            if t == 1 and d.inf[0] in (0x00, 0xFF):
                return 2, "IFS %02X" % d.inf[0]
        return 0, ""

    def _on_block(self, card: VirtualCard, block: bytes) -> None:
        d = decode_block(block, self.edc)
        err, why = self._check(d)
        if err:
            card.records.add_event(EventKind.T1_INVALID, card.line_edge_clocks, "%s: %s" % (why, block.hex(" ")))
            self._answer(card, d, lambda: [self._nak(err)])
            return
        pcb = d.pcb or 0
        if pcb == 0xC0:  # S(RESYNCH req)
            self._resynch_count += 1
            ignored = card.faults.ignores_resynch(self._resynch_count) or not self.answer_resynch
            if ignored:
                card.records.add_event(EventKind.T1_RESYNCH_IGNORED, card.line_edge_clocks,
                                       "request %d" % self._resynch_count)
                return
            self._answer(card, d, lambda: self._resynch(card))
            return
        pending = self._pending_s
        if pending is not None:
            if pcb == pending.pcb | 0x20 and d.inf == pending.inf:
                self._answer(card, d, lambda: self._s_response(card, pending))
            else:
                self._answer(card, d, lambda: self._repeat_s_request(pending))
            return
        if d.kind == "I":
            self._answer(card, d, lambda: self._i_block(card, d))
        elif d.kind == "R":
            self._answer(card, d, lambda: self._r_block(card, d))
        elif pcb == 0xC1:
            self._answer(card, d, lambda: self._ifs_req(d))
        elif pcb == 0xC2:
            self._answer(card, d, lambda: self._abort_req(card))
        else:  # an S-response nobody asked for
            card.records.add_event(EventKind.T1_INVALID, card.line_edge_clocks,
                                   "unexpected S-response: %s" % block.hex(" "))
            self._answer(card, d, lambda: [self._nak(2)])

    def _repeat_s_request(self, pending: _Item) -> list[_Item]:
        self._pending_s = None  # sent again (and pending again) right away
        return [_Item("S", pending.pcb, pending.inf, s_request=True)]

    def _nak(self, err: int) -> _Item:
        return _Item("R", r_pcb(self.nr, err))

    def _i_block(self, card: VirtualCard, d: DecodedBlock) -> list[_Item]:
        if d.ns != self.nr or self._tx_rest is not None:
            why = "N(S) %d, expected %d" % (d.ns or 0, self.nr) if d.ns != self.nr else "I-block during card chaining"
            card.records.add_event(EventKind.T1_INVALID, card.line_edge_clocks, why)
            return [self._nak(2)]
        self.nr ^= 1
        self._rx_chain += d.inf
        if d.more:
            return [_Item("R", r_pcb(self.nr), remember=True)]
        apdu = bytes(self._rx_chain)
        self._rx_chain = bytearray()
        self.apdus.append(apdu)
        if self.apdu_handler is not None:
            resp = self.apdu_handler(apdu)
        else:
            header, data = split_apdu(apdu)
            self.commands.append((header, data))
            resp = self.handler(header, data)
        self._tx_rest = bytes(resp.data) + bytes(((resp.sw >> 8) & 0xFF, resp.sw & 0xFF))
        items: list[_Item] = []
        if self.ifs_request is not None and not self._ifs_requested:
            self._ifs_requested = True
            items.append(_Item("S", 0xC1, bytes((self.ifs_request,)), s_request=True))
        processing = max(0, resp.processing_etu)
        if self.wtx is not None:
            per = max(1, self.wtx * card.timing_etu["BWT"] - self.delay_etu)
            rounds = max(1, -(-processing // per))
            chunks = [per] * (rounds - 1) + [processing - per * (rounds - 1)]
            wtx_inf = bytes((self.wtx,))
            items.append(_Item("S", 0xC3, wtx_inf, s_request=True))
            for c in chunks[:-1]:
                items.append(_Item("S", 0xC3, wtx_inf, processing_etu=c, s_request=True))
            processing = chunks[-1]
        items.append(_Item("I", processing_etu=processing, remember=True))
        return items

    def _r_block(self, card: VirtualCard, d: DecodedBlock) -> list[_Item]:
        if self._tx_rest is not None and d.nr == self.ns:
            return [_Item("I", remember=True)]
        if self._resend is not None:
            return [_Item("resend")]
        card.records.add_event(EventKind.T1_INVALID, card.line_edge_clocks, "R-block with nothing to retransmit")
        return [self._nak(2)]

    def _ifs_req(self, d: DecodedBlock) -> list[_Item]:
        self.ifsd = d.inf[0]
        return [_Item("S", 0xE1, d.inf, end_exchange=True)]

    def _drop_chains(self) -> None:
        self._rx_chain = bytearray()
        self._tx_rest = None
        self._queue = []
        self._pending_s = None

    def _abort_req(self, card: VirtualCard) -> list[_Item]:
        self._drop_chains()
        card.records.add_event(EventKind.T1_ABORTED, card.line_edge_clocks, "reader S(ABORT req)")
        return [_Item("S", 0xE2, end_exchange=True)]

    def _resynch(self, card: VirtualCard) -> list[_Item]:
        self._drop_chains()
        self.ns = self.nr = 0
        self._resend = None
        card.records.add_event(EventKind.T1_RESYNCHED, card.line_edge_clocks, "reader S(RESYNCH req)")
        return [_Item("S", 0xE0, end_exchange=True)]

    def _s_response(self, card: VirtualCard, pending: _Item) -> list[_Item]:
        self._pending_s = None
        t = pending.pcb & 0x1F
        if t == 1 and 1 <= pending.inf[0] <= 254:
            self.ifsc = pending.inf[0]
        elif t == 2:
            self._drop_chains()
            card.records.add_event(EventKind.T1_ABORTED, card.line_edge_clocks, "card S(ABORT req)")
        elif t == 0:
            self.ns = self.nr = 0
            card.records.add_event(EventKind.T1_RESYNCHED, card.line_edge_clocks, "card S(RESYNCH req)")
        return []

    # -- blocks sent -------------------------------------------------------------------------

    def _answer(self, card: VirtualCard, d: DecodedBlock, compute: Callable[[], list[_Item]]) -> None:
        """Answer a reader block: phase-1 faults, then ``compute`` (which changes the card's state)."""
        plan = T1Plan(block=self.blocks_sent + 1)
        card.faults.before_t1_block(plan, card)
        if plan.instead is not None:
            pcb, corrupt = plan.instead
            item = _Item("R", pcb, corrupt=corrupt, remember=d.kind == "I")
            self._send(card, item)
            return
        if plan.lose_sequence:
            self._drop_chains()
            self.ns = self.nr = 0
            card.records.add_event(EventKind.T1_RESYNCHED, card.line_edge_clocks, "sequence lost (fault)")
            self._send(card, _Item("R", r_pcb(0, 2), remember=True))
            return
        items = [_Item("S", pcb, inf, s_request=True) for pcb, inf in plan.before] + compute()
        self._queue[0:0] = items
        if self._pending_s is None and self._queue:
            self._send(card, self._queue.pop(0))

    def _send(self, card: VirtualCard, item: _Item) -> None:
        end = item.end_exchange
        if item.kind == "resend":
            assert self._resend is not None
            pcb, inf, end = self._resend
        elif item.kind == "I":
            rest = self._tx_rest or b""
            inf, rest = rest[:self.ifsd], rest[self.ifsd:]
            self._tx_rest = rest or None
            pcb = i_pcb(self.ns, bool(rest))
            self.ns ^= 1
            end = not rest
        else:
            pcb, inf = item.pcb, item.inf
        if item.remember:
            self._resend = (pcb, inf, end)
        if item.s_request:
            self._pending_s = _Item("S", pcb, inf, s_request=True)
            self._resend = (pcb, inf, end)
        self._emit(card, pcb, inf, item.processing_etu, end, item.corrupt)

    def _emit(self, card: VirtualCard, pcb: int, inf: bytes, processing_etu: int, end: bool, corrupt: bool) -> None:
        self.blocks_sent += 1
        k = self.blocks_sent
        plan = T1Plan(block=k, kind=_kind(pcb))
        card.faults.shape_t1_block(plan, card)
        if corrupt:
            plan.edc_xor ^= 0xFF
        nad = plan.nad if plan.nad is not None else swap_nad(self.nad)
        pcb |= plan.pcb_or
        if plan.toggle_ns:
            pcb ^= 0x40
        data = bytearray(frame_block(nad, pcb, inf, self.edc, plan.length))
        data[-1] ^= plan.edc_xor
        if plan.drop:
            card.records.add_event(EventKind.T1_DROPPED, card.line_edge_clocks, "block %d" % k)
            return
        if plan.truncate is not None:
            del data[plan.truncate:]
        if not card.active:
            return
        mark = T1Mark(Direction.CARD, self.edc, k)
        card.records.t1_marks.append(mark)
        card.respond(bytes(data), processing_etu=processing_etu, end_exchange=end,
                     turnaround_etu=self.delay_etu, spacing_etu=self.char_spacing_etu)
        self._marks[card.response_count] = mark
