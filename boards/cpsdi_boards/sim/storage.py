"""Simulated durable storage for the update channel (``cpsdi_fw.hal.Storage``), with power cuts.

:class:`SimStorage` keeps two slots and the two state-record copies in memory, or in a
directory (``cpsdi sim --storage DIR``: files ``slot0.bin``, ``slot1.bin``, ``record0.bin``,
``record1.bin``, so the contents survive a restart of the simulator). Slots follow NOR-flash
rules: ``erase`` sets 0xFF, ``write`` can only clear bits (data AND old contents).

Every mutating operation (``erase``, ``write``, ``write_record``) is counted and logged
(:attr:`SimStorage.log`); reads are counted too. ``cut_after = N`` simulates a power cut after
the N-th mutating operation: operation N + 1 and everything after it raise :class:`PowerCut`
(an ``OSError``) and change nothing — or, with ``torn=True``, operation N + 1 is half applied
(the first half of its bytes; a record copy half written) before it raises, as a write
interrupted mid-way. :meth:`SimStorage.reboot` is the next power-up: a new storage over the
same surviving contents, counters at zero, no cut armed; a reboot of the reader is a new
firmware instance (``cpsdi_fw.boot.select`` + ``Updater`` + ``Reader``) over it.

Also the simulator's update policy: :data:`TEST_KEYS` (the public TEST key A of
``tests/vectors/make_update_vectors.py`` — a published test key, never for production),
:data:`SIM_HW_ID`, :data:`SIM_FW_COMPAT` (what ``cpsdi fw build --board sim`` writes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cpsdi_fw.hal import Storage

TEST_KEY_A = bytes.fromhex("39f75044d1a3be63a0a4773f446feecc85ccbd9eaf7a796219c839e1644b830c")
"""Raw public key of the TEST key A (seed: SHA-256 of "cpsdi update TEST key A - not for production")."""
TEST_KEYS = (TEST_KEY_A,)
SIM_HW_ID = b"sim"
SIM_FW_COMPAT = b"mpy6.3 armv6m"
DEFAULT_SLOT_SIZE = 1 << 20


class PowerCut(OSError):
    """The simulated power is off: this operation and every later one fail."""


@dataclass(frozen=True)
class Op:
    """One logged mutating operation."""

    index: int  # 1-based
    kind: str  # "erase" | "write" | "record"
    target: int  # slot or record copy
    offset: int
    length: int


class SimStorage(Storage):
    """Two slots + two record copies in memory or in a directory (module docstring)."""

    def __init__(self, slot_size: int = DEFAULT_SLOT_SIZE, directory: Path | str | None = None, *,
                 cut_after: int | None = None, torn: bool = False) -> None:
        self.slot_size = slot_size
        self.directory = Path(directory) if directory is not None else None
        self.cut_after = cut_after
        self.torn = torn
        self.slots = [bytearray(b"\xff" * slot_size) for _ in range(2)]
        self.records: list[bytes | None] = [None, None]
        self.ops = 0  # mutating operations attempted (the cut one included)
        self.reads = 0
        self.erases = 0
        self.writes = 0
        self.record_writes = 0
        self.log: list[Op] = []
        self.dead = False
        if self.directory is not None:
            self._load()

    # -- persistence -------------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        assert self.directory is not None
        return self.directory / name

    def _load(self) -> None:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        for i in range(2):
            path = self._path(f"slot{i}.bin")
            if path.exists():
                data = path.read_bytes()[: self.slot_size]
                self.slots[i][: len(data)] = data
            else:
                path.write_bytes(bytes(self.slots[i]))
            rec = self._path(f"record{i}.bin")
            self.records[i] = rec.read_bytes() if rec.exists() else None

    def _persist_slot(self, slot: int, offset: int, length: int) -> None:
        if self.directory is None:
            return
        with open(self._path(f"slot{slot}.bin"), "r+b") as f:
            f.seek(offset)
            f.write(self.slots[slot][offset:offset + length])

    def _persist_record(self, copy: int) -> None:
        if self.directory is None:
            return
        data = self.records[copy]
        path = self._path(f"record{copy}.bin")
        if data is None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    # -- power -------------------------------------------------------------------------------------
    def _begin(self, kind: str, target: int, offset: int, length: int) -> bool:
        """Count one mutating operation; False if it is the one the power cut interrupts (torn)."""
        if self.dead:
            raise PowerCut(f"power is off ({kind})")
        self.ops += 1
        if self.cut_after is not None and self.ops > self.cut_after:
            self.dead = True
            if not self.torn:
                raise PowerCut(f"power cut before operation {self.ops} ({kind})")
            return False
        self.log.append(Op(self.ops, kind, target, offset, length))
        return True

    def reboot(self, *, cut_after: int | None = None, torn: bool = False) -> SimStorage:
        """The next power-up: the same surviving contents, fresh counters, optionally a new cut."""
        fresh = SimStorage.__new__(SimStorage)
        fresh.slot_size = self.slot_size
        fresh.directory = self.directory
        fresh.cut_after = cut_after
        fresh.torn = torn
        fresh.slots = [bytearray(s) for s in self.slots]
        fresh.records = list(self.records)
        fresh.ops = fresh.reads = fresh.erases = fresh.writes = fresh.record_writes = 0
        fresh.log = []
        fresh.dead = False
        return fresh

    def _check_slot(self, slot: int, offset: int, length: int) -> None:
        if slot not in (0, 1) or offset < 0 or length < 0 or offset + length > self.slot_size:
            raise OSError(f"slot {slot} [{offset}:{offset + length}] out of range")

    # -- hal.Storage ---------------------------------------------------------------------------------
    def erase(self, slot: int) -> None:
        self._check_slot(slot, 0, 0)
        whole = self._begin("erase", slot, 0, self.slot_size)
        self.erases += 1
        end = self.slot_size if whole else self.slot_size // 2
        self.slots[slot][0:end] = b"\xff" * end
        self._persist_slot(slot, 0, end)
        if not whole:
            raise PowerCut(f"power cut during operation {self.ops} (erase, torn)")

    def write(self, slot: int, offset: int, buf: bytes | bytearray | memoryview, start: int, end: int) -> None:
        length = end - start
        self._check_slot(slot, offset, length)
        whole = self._begin("write", slot, offset, length)
        self.writes += 1
        n = length if whole else length // 2
        data = bytes(memoryview(buf)[start:start + n])
        area = self.slots[slot]
        area[offset:offset + n] = bytes(a & b for a, b in zip(area[offset:offset + n], data))
        self._persist_slot(slot, offset, n)
        if not whole:
            raise PowerCut(f"power cut during operation {self.ops} (write, torn)")

    def read_into(self, slot: int, offset: int, buf: bytearray | memoryview, start: int, n: int) -> int:
        if self.dead:
            raise PowerCut("power is off (read)")
        self.reads += 1
        if slot not in (0, 1) or offset < 0:
            raise OSError(f"slot {slot} offset {offset} out of range")
        n = max(0, min(n, self.slot_size - offset))
        memoryview(buf)[start:start + n] = self.slots[slot][offset:offset + n]
        return n

    def read_record(self, copy: int, buf: bytearray | memoryview) -> int:
        if self.dead:
            raise PowerCut("power is off (read)")
        self.reads += 1
        data = self.records[copy]
        if data is None:
            return 0
        n = min(len(data), len(buf), self.RECORD_SIZE)
        memoryview(buf)[0:n] = data[:n]
        return n

    def write_record(self, copy: int, buf: bytes | bytearray | memoryview, n: int) -> None:
        if copy not in (0, 1) or not 0 < n <= self.RECORD_SIZE:
            raise OSError(f"record copy {copy} / {n} bytes out of range")
        whole = self._begin("record", copy, 0, n)
        self.record_writes += 1
        data = bytes(memoryview(buf)[0:n])
        if not whole:  # a sector erased and half programmed: the rest reads as erased flash
            data = data[: n // 2] + b"\xff" * (n - n // 2)
        self.records[copy] = data
        self._persist_record(copy)
        if not whole:
            raise PowerCut(f"power cut during operation {self.ops} (record, torn)")


def derive_test_key() -> bytes:
    """TEST key A's raw public key, derived from its published seed (checks :data:`TEST_KEY_A`)."""
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = hashlib.sha256(b"cpsdi update TEST key A - not for production").digest()
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
