"""A plain test card application for the simulator (``cpsdi sim --card t0|t1``).

Not a CPS card (those come with their own issue): a deterministic applet whose answers a
test can predict from the command alone, plus a counter that proves exactly-once
execution over a faulty link.

| INS | command | answer |
|---|---|---|
| A4 | SELECT (any) | 9000 |
| 84 | GET CHALLENGE, Le = n | n bytes of SHA-256(counter of challenges) | 9000 |
| B0 | READ BINARY, P1P2 = offset, Le = n (00 = 256) | bytes (offset + i) * 7 mod 256 | 9000 |
| 88 | ECHO (case 3/4): data | the data reversed | 9000 |
| 32 | INCREMENT (case 2, Le = 4) | the new counter, 4 bytes big-endian | 9000 |
| CA | GET DATA 00 01 | the counter, 4 bytes | 9000 |
| other | | 6D00 |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cpsdi_boards.sim.virtual_card import CardResponse

INS_SELECT = 0xA4
INS_GET_CHALLENGE = 0x84
INS_READ_BINARY = 0xB0
INS_ECHO = 0x88
INS_INCREMENT = 0x32
INS_GET_DATA = 0xCA


def read_binary_bytes(offset: int, n: int) -> bytes:
    """What READ BINARY returns at ``offset`` for ``n`` bytes."""
    return bytes(((offset + i) * 7) & 0xFF for i in range(n))


@dataclass
class TestApplet:
    """The applet's state: the counter and how many commands of each kind ran."""

    counter: int = 0
    challenges: int = 0
    executed: dict[int, int] = field(default_factory=dict)

    def handle(self, header: bytes, data: bytes) -> CardResponse:
        """T0Behaviour/T1Behaviour handler: ``(CLA INS P1 P2 P3, command data)``."""
        ins, p1, p2, p3 = header[1], header[2], header[3], header[4] if len(header) > 4 else 0
        self.executed[ins] = self.executed.get(ins, 0) + 1
        if ins == INS_SELECT:
            return CardResponse()
        if ins == INS_GET_CHALLENGE:
            self.challenges += 1
            seed = hashlib.sha256(self.challenges.to_bytes(4, "big")).digest()
            return CardResponse(data=(seed * 9)[: p3 or 256])
        if ins == INS_READ_BINARY:
            return CardResponse(data=read_binary_bytes(p1 << 8 | p2, p3 or 256))
        if ins == INS_ECHO:
            return CardResponse(data=bytes(reversed(data)))
        if ins == INS_INCREMENT:
            self.counter += 1
            return CardResponse(data=self.counter.to_bytes(4, "big"))
        if ins == INS_GET_DATA and (p1, p2) == (0, 1):
            return CardResponse(data=self.counter.to_bytes(4, "big"))
        return CardResponse(sw=0x6D00)
