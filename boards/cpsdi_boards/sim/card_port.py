"""The simulated board's card port: ``cpsdi_fw.hal.CardPort`` against a :class:`VirtualCard`, in virtual time.

Semantics (exactly those of ``hal.py``, made precise for the simulator):

* Time is a :class:`VirtualClock` in card clock cycles; port calls advance it, nothing
  else does. ``wait_clocks(n)`` advances by n; ``wait_etu(n)`` advances to n etu after the
  leading edge of the last character on the line (either direction) if that is later.
* ``send`` starts its first character *now*, the next ones ``guard_time_etu`` after the
  previous leading edge, and returns after the last one's guard time. A character the card
  NACKs is repeated 13 etu after (or the guard time if longer), at most ``retries`` times,
  then ``ERR_REPEAT``; with ``retries`` = 0 the port ignores NACKs (T=1). Card characters
  the reader did not read before sending are flushed (``EventKind.RX_FLUSHED``).
* ``receive``: the port's receiver runs whether or not the firmware is reading (a FIFO).
  A character already on the line when it is asked for (leading edge <= now) is
  delivered at once, whatever the timeouts (so ``receive(buf, 0, n, 0, 0, flags)``
  drains the FIFO). Otherwise receive waits: a character is accepted if its leading
  edge is at most ``first_timeout_etu`` (then ``char_timeout_etu``) after the leading
  edge of the character before it on the line, exactly (``ceil(n * F / D)`` clocks). With ``retries`` > 0 a card
  character with a parity error is NACKed (at most ``retries`` times per character); the
  card repeats it up to its own limit; a character still wrong is delivered with
  ``parity[i] = 1``. After a character is received the time is its leading edge + 12 etu;
  after a timeout it is the deadline. Before the first character after activation or a
  reset, timeouts count from RST rising (or from the activation).
* Removal (``remove(at_clocks)`` or a fault) makes ``present()`` false from that instant:
  ``send`` returns ``ERR_ABSENT``, ``receive`` returns short at the removal time,
  ``activate`` returns ``ERR_ABSENT``.
* ``now_etu()`` is the etu elapsed since the activation at the F/D in force in each period
  (floor), at the current instant.
"""

from __future__ import annotations

from collections import deque
from typing import Collection, MutableSequence, Sequence

from cpsdi_fw.hal import (CLASS_A, CLASS_B, CLASS_C, ERR_ABSENT, ERR_CLASS, ERR_FAULT, ERR_REPEAT, OK, CardPort,
                          clock_target)

from cpsdi_boards.sim.character import decode_levels, encode_levels, garble
from cpsdi_boards.sim.clock import DD, FD, EtuCounter, VirtualClock, etu_to_clocks
from cpsdi_boards.sim.records import CardRecords, EventKind
from cpsdi_boards.sim.virtual_card import REPEAT_GAP_ETU, VirtualCard

__all__ = ["SimCardPort", "RECEIVE_END_ETU"]

RECEIVE_END_ETU = 12  # receive() returns this long after the last character's leading edge

Buffer = bytes | bytearray | memoryview


class SimCardPort(CardPort):
    """One simulated slot.

    Args:
        card: the card in the slot (None: empty slot; see :meth:`insert`).
        classes: voltage classes the board can supply (others: ``ERR_CLASS``).
        clock_hz: CLK frequency at activation (time is in clock cycles; with a
            :class:`WallPacedClock` it also sets how much wall time a cycle takes).
        clock_max_hz: highest CLK after the ATR (``set_clock``); 0 (default): fixed clock.
        clock: a shared :class:`VirtualClock` (several slots), or a new one.
    """

    def __init__(
        self,
        card: VirtualCard | None = None,
        *,
        classes: Collection[int] = (CLASS_A, CLASS_B, CLASS_C),
        clock_hz: int = 3_571_200,
        clock_max_hz: int = 0,
        clock: VirtualClock | None = None,
    ) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        self.clock_hz = self.activation_clock_hz = clock_hz
        self.clock_max_hz = clock_max_hz
        self.classes = frozenset(classes)
        self._card: VirtualCard | None = None
        self._gone = True
        self._removal: int | None = None
        self._chip_fault = False
        self._powered = False
        self._f, self._d = FD, DD
        self._inverse = False
        self._guard_etu = 12
        self._retries = 0
        self._fifo: deque[tuple[int, int, int, int]] = deque()  # value, parity flag, edge, previous edge
        self._rx_nacks = 0
        self._line_edge = 0
        self._etu = EtuCounter()
        if card is not None:
            self.insert(card)

    # -- simulation controls ------------------------------------------------------------------------

    @property
    def card(self) -> VirtualCard | None:
        """The card in (or last removed from) the slot."""
        return self._card

    @property
    def records(self) -> CardRecords:
        """The current card's records."""
        if self._card is None:
            raise ValueError("no card was ever inserted")
        return self._card.records

    @property
    def now_clocks(self) -> int:
        """Current virtual time."""
        return self.clock.now

    @property
    def voltage_classes(self) -> int:  # type: ignore[override]
        """Bitmap of the classes this board supplies (1 = A, 2 = B, 4 = C), as GET_INFO reports."""
        return sum(1 << (c - 1) for c in self.classes)

    @property
    def powered(self) -> bool:
        """True between activate() and deactivate() (or removal)."""
        return self._powered

    @property
    def fd(self) -> tuple[int, int]:
        """F/D of the port's character layer."""
        return self._f, self._d

    def insert(self, card: VirtualCard) -> None:
        """Put ``card`` in the slot now (replacing any previous one)."""
        self._card = card
        self._gone = False
        self._removal = None
        self._powered = False
        self._fifo.clear()
        card.inserted(self.clock.now)

    def remove(self, at_clocks: int | None = None) -> None:
        """Take the card out now, or at virtual time ``at_clocks``."""
        t = self.clock.now if at_clocks is None else at_clocks
        self._removal = t if self._removal is None else min(self._removal, t)
        self._check_removal()

    def set_chip_fault(self, on: bool) -> None:
        """Simulate an interface chip fault (E3): ``fault()`` is True, ``activate`` returns ERR_FAULT."""
        self._chip_fault = on
        if on and self._powered:
            self._deactivate_contacts()

    def _removal_time(self) -> int | None:
        times = [t for t in (self._removal, self._card.removal_clocks if self._card else None) if t is not None]
        return min(times) if times else None

    def _check_removal(self) -> bool:
        """Process a removal that is due; True if the card is gone."""
        if self._gone:
            return True
        t = self._removal_time()
        if t is not None and t <= self.clock.now:
            self._gone = True
            self._powered = False
            self._fifo.clear()
            assert self._card is not None
            self._card.removed(t)
        return self._gone

    def _clocks(self, etu: int) -> int:
        return etu_to_clocks(etu, self._f, self._d)

    # -- receiver ----------------------------------------------------------------------------------

    def _pump(self, limit: int, one: bool) -> None:
        """Run the receiver over card characters whose leading edge is before ``limit``."""
        card = self._card
        if card is None or self._gone:
            return
        while True:
            nxt = card.next_char()
            if nxt is None:
                return
            ch, edge = nxt
            removal = self._removal_time()
            if edge >= limit or (removal is not None and removal <= edge):
                return
            levels = card.line_levels(ch)
            value, ok = decode_levels(levels, self._inverse)
            if card.fd != (self._f, self._d):
                value, ok = garble(value), False
            nack = not ok and self._retries > 0 and self._rx_nacks < self._retries
            prev = self._line_edge
            repeat = card.char_done(edge, value, not ok, nack)
            self._line_edge = edge
            if nack and repeat:
                self._rx_nacks += 1
                continue
            self._rx_nacks = 0
            self._fifo.append((value, 0 if ok else 1, edge, prev))
            if one:
                return

    def _flush(self) -> None:
        if self._fifo and self._card is not None:
            self._card.records.add_event(EventKind.RX_FLUSHED, self.clock.now, "%d character(s)" % len(self._fifo))
        self._fifo.clear()

    # -- CardPort -----------------------------------------------------------------------------------

    def present(self) -> bool:
        return not self._check_removal()

    def fault(self) -> bool:
        return self._chip_fault

    def activate(self, voltage_class: int) -> int:
        if self._check_removal():
            return ERR_ABSENT
        if self._chip_fault:
            return ERR_FAULT
        if voltage_class not in self.classes:
            return ERR_CLASS
        card = self._card
        assert card is not None
        if self._powered:
            self._deactivate_contacts()
        now = self.clock.now
        self._clock_rate(self.activation_clock_hz)
        card.contact_rst(False, now)
        card.contact_vcc(True, now, voltage_class)
        card.contact_clk(True, now)
        card.contact_io(True, now)
        self._powered = True
        self._f, self._d = FD, DD
        self._inverse = False
        self._guard_etu = 12
        self._retries = 0
        self._fifo.clear()
        self._rx_nacks = 0
        self._line_edge = now
        self._etu.restart(now)
        return OK

    def _clock_rate(self, hz: int) -> None:
        self.clock_hz = hz
        set_rate = getattr(self.clock, "set_rate", None)  # real card time: wall time per cycle
        if set_rate is not None:
            set_rate(hz)

    def set_clock(self, hz: int) -> int:
        """CLK to ``hz`` (bounded by ``clock_max_hz``, at least the activation clock); the card is told."""
        hz = clock_target(hz, self.activation_clock_hz, self.clock_max_hz)
        if hz != self.clock_hz and self._powered and self._card is not None:
            self._clock_rate(hz)
            self._card.clock_frequency(hz, self.clock.now)
        return self.clock_hz

    def set_reset(self, high: bool) -> None:
        if self._check_removal() or not self._powered:
            return
        assert self._card is not None
        now = self.clock.now
        self._card.contact_rst(high, now)
        self._fifo.clear()
        self._rx_nacks = 0
        if high:
            self._line_edge = now

    def _deactivate_contacts(self) -> None:
        card = self._card
        assert card is not None
        now = self.clock.now
        card.contact_rst(False, now)
        card.contact_clk(False, now)
        card.contact_io(False, now)
        card.contact_vcc(False, now)
        self._powered = False
        self._fifo.clear()

    def deactivate(self) -> None:
        if self._check_removal() or not self._powered:
            self._powered = False
            return
        self._deactivate_contacts()

    def wait_clocks(self, clocks: int) -> None:
        self.clock.advance(clocks)
        self._check_removal()

    def wait_etu(self, etu: int) -> None:
        if self._powered and not self._check_removal():
            self._pump(self.clock.now + 1, one=False)
        self.clock.advance_to(self._line_edge + self._clocks(etu))
        self._check_removal()

    def set_character(self, f: int, d: int, inverse: bool, guard_time_etu: int, retries: int) -> None:
        if f <= 0 or d <= 0:
            raise ValueError("F and D must be positive")
        self._etu.set_fd(self.clock.now, f, d)
        self._f, self._d = f, d
        self._inverse = inverse
        self._guard_etu = guard_time_etu
        self._retries = max(0, retries)

    def send(self, buf: Buffer | Sequence[int], start: int, end: int) -> int:
        if self._check_removal() or not self._powered:
            return ERR_ABSENT
        card = self._card
        assert card is not None
        self._pump(self.clock.now + 1, one=False)
        self._flush()
        resync = getattr(self.clock, "resync", None)  # real card time: the card waited for the reader
        if resync is not None:
            resync()
        edge = self.clock.now
        guard = self._clocks(self._guard_etu)
        for i in range(start, end):
            value = buf[i]
            attempt = 0
            while True:
                self._pump(edge, one=False)
                self._flush()
                card.before_reader_char(edge, attempt)
                removal = self._removal_time()
                if removal is not None and removal <= edge:
                    self.clock.advance_to(removal)
                    self._check_removal()
                    return ERR_ABSENT
                levels = encode_levels(value, self._inverse)
                nack = card.reader_char(value, levels, edge, self._f, self._d, attempt)
                self._line_edge = edge
                if nack and self._retries > 0:
                    attempt += 1
                    if attempt > self._retries:
                        self.clock.advance_to(edge + guard)
                        self._check_removal()
                        return ERR_REPEAT
                    edge += max(guard, self._clocks(REPEAT_GAP_ETU))
                    continue
                break
            edge += guard
        self.clock.advance_to(edge)
        if self._check_removal():
            return ERR_ABSENT
        return OK

    def receive(
        self,
        buf: bytearray | memoryview | MutableSequence[int],
        start: int,
        count: int,
        first_timeout_etu: int,
        char_timeout_etu: int,
        parity: bytearray | memoryview | MutableSequence[int],
    ) -> int:
        if self._check_removal() or not self._powered:
            return 0
        n = 0
        while n < count:
            timeout = self._clocks(first_timeout_etu if n == 0 else char_timeout_etu)
            deadline = self._line_edge + timeout
            if not self._fifo:
                self._pump(max(deadline, self.clock.now) + 1, one=True)
            if self._fifo:
                value, bad, edge, prev = self._fifo[0]
                if edge > self.clock.now and edge - prev > timeout:  # too late
                    self.clock.advance_to(prev + timeout)
                    break
                self._fifo.popleft()
                buf[start + n] = value
                parity[start + n] = bad
                n += 1
                self.clock.advance_to(edge + self._clocks(RECEIVE_END_ETU))
                continue
            removal = self._removal_time()
            if removal is not None and removal <= deadline:
                self.clock.advance_to(removal)
                self._check_removal()
                break
            self.clock.advance_to(deadline)
            break
        self._check_removal()
        return n

    def now_etu(self) -> int:
        etu = self._etu.etu_at(self.clock.now)
        return etu.numerator // etu.denominator
