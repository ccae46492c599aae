"""Virtual time of the simulated board, in card clock cycles (ISO/IEC 7816-3 §7.1).

Everything in the simulator is an integer number of card clock cycles since the
origin of a :class:`VirtualClock` (no wall clock, no sleeps): deterministic and
exact. One etu is F/D clock cycles and may be fractional (372/32 = 11.625), so
durations in etu are converted with :func:`etu_to_clocks`, which rounds **up**
(``ceil(n * F / D)``), and clock counts are converted back with
:func:`clocks_to_etu`, which is exact (a :class:`fractions.Fraction`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction

__all__ = ["VirtualClock", "WallPacedClock", "EtuCounter", "etu_to_clocks", "clocks_to_etu", "FD", "DD"]

FD = 372  # ISO 7816-3 §8.1: F and D during the ATR
DD = 1


def etu_to_clocks(etu: int | Fraction, f: int, d: int) -> int:
    """Clock cycles of ``etu`` etu at F/D, rounded up: ``ceil(etu * f / d)``."""
    if f <= 0 or d <= 0:
        raise ValueError("F and D must be positive, got F=%d D=%d" % (f, d))
    if isinstance(etu, int):  # the common case, in integers (Fraction arithmetic is slow)
        return -((-etu * f) // d)
    value = Fraction(etu) * f / d
    return -((-value.numerator) // value.denominator)


def clocks_to_etu(clocks: int, f: int, d: int) -> Fraction:
    """Exact etu count of ``clocks`` clock cycles at F/D."""
    if f <= 0 or d <= 0:
        raise ValueError("F and D must be positive, got F=%d D=%d" % (f, d))
    return Fraction(clocks * d, f)


class VirtualClock:
    """Monotonic virtual time in card clock cycles. Only moves forward."""

    def __init__(self, start_clocks: int = 0) -> None:
        self._now = start_clocks

    @property
    def now(self) -> int:
        """Current virtual time, clock cycles since the origin."""
        return self._now

    def advance(self, clocks: int) -> int:
        """Move forward by ``clocks`` (negative values are ignored); returns the new time."""
        if clocks > 0:
            self._now += clocks
        return self._now

    def advance_to(self, clocks: int) -> int:
        """Move forward to ``clocks`` if it is in the future; returns the new time."""
        if clocks > self._now:
            self._now = clocks
        return self._now


class WallPacedClock(VirtualClock):
    """Virtual time that takes real time: ``cpsdi sim --card-time real``.

    Advancing by n clock cycles lets n / ``clock_hz`` seconds of wall time pass, so a card
    that works for 150 000 etu keeps the reader busy for that long on the wall clock (and
    the firmware's keep-alive bytes, paced by the wall clock, really go out). The card works
    while the firmware computes, as on hardware: wall time the simulation itself spends
    counts towards the card's time (the clock only sleeps when virtual time is ahead); only
    after the card sat idle for more than ``idle_s`` does the clock re-anchor at the next
    advance (virtual time never pays idle time back). Sleeps shorter than ``slack_s`` are
    deferred and summed, so per-character advances do not each cost a system call.
    """

    def __init__(
        self,
        clock_hz: int,
        start_clocks: int = 0,
        *,
        slack_s: float = 0.0003,
        idle_s: float = 0.05,
        now_s: Callable[[], float] = time.monotonic,
        sleep_s: Callable[[float], None] = time.sleep,
    ) -> None:
        if clock_hz <= 0:
            raise ValueError("clock_hz must be positive")
        super().__init__(start_clocks)
        self.clock_hz = clock_hz
        self.slack_s = slack_s
        self.idle_s = idle_s
        self._now_s = now_s
        self._sleep_s = sleep_s
        self._anchor_s = now_s()
        self._anchor_clocks = start_clocks

    def _wall_at(self, clocks: int) -> float:
        return self._anchor_s + (clocks - self._anchor_clocks) / self.clock_hz

    def _pace(self, before: int) -> None:
        wall = self._now_s()
        if wall > self._wall_at(before) + self.idle_s:  # the card was idle: start counting from now
            self._anchor_s, self._anchor_clocks = wall, before
        ahead_s = self._wall_at(self._now) - wall
        if ahead_s > self.slack_s:
            self._sleep_s(ahead_s)

    def advance(self, clocks: int) -> int:
        before = self._now
        super().advance(clocks)
        if self._now != before:
            self._pace(before)
        return self._now

    def advance_to(self, clocks: int) -> int:
        before = self._now
        super().advance_to(clocks)
        if self._now != before:
            self._pace(before)
        return self._now

    def set_rate(self, clock_hz: int) -> None:
        """CLK changes to ``clock_hz`` from now on (clock cycles already counted keep their
        wall time)."""
        if clock_hz <= 0:
            raise ValueError("clock_hz must be positive")
        self._anchor_s, self._anchor_clocks = self._wall_at(self._now), self._now
        self.clock_hz = clock_hz

    def resync(self) -> None:
        """The reader starts to send: the card was idle since its last character, so wall
        time that ran ahead since then is not card time (called by SimCardPort.send)."""
        wall = self._now_s()
        if wall > self._wall_at(self._now):
            self._anchor_s, self._anchor_clocks = wall, self._now


class EtuCounter:
    """Elapsed etu since a start time, with F/D changing along the way (exact, piecewise)."""

    def __init__(self, start_clocks: int = 0, f: int = FD, d: int = DD) -> None:
        self.restart(start_clocks, f, d)

    def restart(self, start_clocks: int, f: int = FD, d: int = DD) -> None:
        """Zero the counter at ``start_clocks`` with F/D in force from then on."""
        self._base_clocks = start_clocks
        self._base_etu = Fraction(0)
        self._f = f
        self._d = d

    def set_fd(self, at_clocks: int, f: int, d: int) -> None:
        """F/D change at ``at_clocks``: etu before it count at the old F/D."""
        self._base_etu = self.etu_at(at_clocks)
        self._base_clocks = at_clocks
        self._f = f
        self._d = d

    def etu_at(self, clocks: int) -> Fraction:
        """Exact etu elapsed between the start and ``clocks`` (clamped at the last F/D change)."""
        return self._base_etu + clocks_to_etu(max(0, clocks - self._base_clocks), self._f, self._d)
