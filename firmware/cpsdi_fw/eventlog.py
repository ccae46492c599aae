"""Event log: a bounded ring of recent reader events, read with vendor Escape ``CD 32``.

house-style §10.4 ("ring buffer of recent events, readable with a log-read message").
One preallocated ``bytearray`` of ``entries`` x EVENT_SIZE bytes; recording overwrites the
oldest entry when full and counts it (``overwritten``); nothing is allocated per event.

Entry (protocol/README.md §3, row 32): time ms u32 LE (the HostPort's wrapping millisecond
counter), event u8 (``cpsdi_proto.escape.EVENT_*``), slot u8, arg1 u8, arg2 u8.
"""

from cpsdi_proto import escape

_SIZE = escape.EVENT_SIZE


class EventLog:
    """Ring buffer of ``entries`` events (module docstring)."""

    def __init__(self, entries: int = escape.EVENT_LOG_ENTRIES) -> None:
        self.entries = entries
        self.buf = bytearray(entries * _SIZE)
        self.head = 0  # index of the next entry to write
        self.count = 0
        self.overwritten = 0

    def clear(self) -> None:
        self.head = 0
        self.count = 0
        self.overwritten = 0

    def record(self, t_ms: int, event: int, slot: int, arg1: int = 0, arg2: int = 0) -> None:
        """Append one event (the oldest is overwritten when the ring is full)."""
        buf = self.buf
        p = self.head * _SIZE
        buf[p] = t_ms & 0xFF
        buf[p + 1] = (t_ms >> 8) & 0xFF
        buf[p + 2] = (t_ms >> 16) & 0xFF
        buf[p + 3] = (t_ms >> 24) & 0xFF
        buf[p + 4] = event & 0xFF
        buf[p + 5] = slot & 0xFF
        buf[p + 6] = arg1 & 0xFF
        buf[p + 7] = arg2 & 0xFF
        self.head += 1
        if self.head >= self.entries:
            self.head = 0
        if self.count < self.entries:
            self.count += 1
        elif self.overwritten < 0xFFFF:
            self.overwritten += 1

    def write(self, out, off: int, room: int) -> int:
        """The READ_EVENT_LOG answer payload at ``out[off:]`` in at most ``room`` bytes: count u8,
        lost u16 LE, then the entries oldest first (only the newest ones when they do not all fit;
        the others count as lost). Returns its length (>= 3 when room >= 3, else 0)."""
        if room < 3:
            return 0
        n = self.count
        fit = (room - 3) // _SIZE
        skipped = 0
        if n > fit:
            skipped = n - fit
            n = fit
        lost = self.overwritten + skipped
        if lost > 0xFFFF:
            lost = 0xFFFF
        out[off] = n
        out[off + 1] = lost & 0xFF
        out[off + 2] = lost >> 8
        # oldest kept entry: count back from head
        first = self.head - n
        if first < 0:
            first += self.entries
        buf = self.buf
        q = off + 3
        for k in range(n):
            i = first + k
            if i >= self.entries:
                i -= self.entries
            p = i * _SIZE
            for j in range(_SIZE):
                out[q + j] = buf[p + j]
            q += _SIZE
        return q - off
