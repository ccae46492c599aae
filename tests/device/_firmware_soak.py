"""Heap soak of the whole firmware, on CPython and MicroPython (issue #13).

``FirmwareSoak`` is a host speaking native CCID frames to ``cpsdi_fw.main.Reader`` over the
fakes of ``_fake_board`` (a T=1 card in slot 0, a T=0 card in slot 1, each with its own
periodic faults). ``batch(n)`` sends ``n`` APDUs with known answers (INCREMENT: the counter
+ 1, so a double execution shows; GET DATA; ECHO of 1-200 bytes; READ BINARY, 256 bytes
when Le = 00), power cycling each slot every 20-150 APDUs, and counts wrong answers and
failures. Between batches the caller measures the heap: in the MicroPython-WebAssembly port
``gc.collect()`` reclaims nothing while a ``runPython`` call is on the stack, so
``python -m fuzz mpsoak`` (fuzz/mp_soak.mjs) runs each batch and each ``gc.mem_alloc()`` in a
call of its own; tests/device/test_firmware_soak.py runs a short one.
"""

from cpsdi_proto import ccid
from cpsdi_proto.decoder import EV_FRAME, EV_NONE, FrameDecoder
from cpsdi_proto.native import seal_native

from cpsdi_fw.main import Reader

from _fake_board import INS_ECHO, INS_GET_DATA, INS_INCREMENT, INS_READ_BINARY, FakeHostPort, T0FakeCard
from _fake_board import T1FakeCard, read_binary_byte
from _rng import Rng

MAX_STEPS = 200  # main-loop steps per request before the soak calls it a hang


class SoakError(Exception):
    """The reader did not answer a request (a hang) or answered something malformed."""


class FirmwareSoak:
    """The firmware with two fake cards and a native-mode host (module docstring)."""

    def __init__(self, seed=13):
        self.host = FakeHostPort(4096)
        self.cards = [T1FakeCard(), T0FakeCard()]
        self.reader = Reader(self.host, self.cards, board="fake")
        self.rng = Rng(seed)
        self.dec = FrameDecoder(True, 1034)
        self.frame = bytearray(1100)
        self.seq = 0
        self.counters = [0, 0]  # what each card's counter should be
        self.left = [0, 0]  # APDUs before the next power cycle
        self.apdus = 0
        self.wrong = 0
        self.failed = 0
        self.power_cycles = 0
        self.kinds = {INS_INCREMENT: 0, INS_GET_DATA: 0, INS_ECHO: 0, INS_READ_BINARY: 0}
        self.first_wrong = None

    def request(self, mtype, slot, data=b"", p1=0):
        """One CCID request in a native frame; the reader's answer message (bytes)."""
        f = self.frame
        n = ccid.HEADER_SIZE + len(data)
        ccid.pack_header(f, 2, mtype, len(data), slot, self.seq, p1, 0, 0)
        f[2 + ccid.HEADER_SIZE:2 + n] = data
        self.seq = (self.seq + 1) & 0xFF
        self.host.feed(memoryview(f)[:seal_native(f, n)])
        for _ in range(MAX_STEPS):
            self.reader.step()
            if self.host.tx_len:
                out = self.host.take()
                i = self.dec.feed(out, 0, len(out))
                while self.dec.kind != EV_NONE:
                    if self.dec.kind == EV_FRAME:
                        return bytes(self.dec.message())
                    i = self.dec.feed(out, i, len(out))
        raise SoakError("no answer to %02X on slot %d within %d steps" % (mtype, slot, MAX_STEPS))

    def power_on(self, slot):
        msg = self.request(ccid.PC_TO_RDR_ICC_POWER_ON, slot, p1=0)
        if msg[0] != ccid.RDR_TO_PC_DATA_BLOCK or msg[7] & 0xC0 or msg[10:] != self.cards[slot].atr:
            raise SoakError("power on slot %d: %s" % (slot, msg.hex()))
        self.power_cycles += 1
        self.left[slot] = 20 + self.rng.next(131)

    def power_off(self, slot):
        msg = self.request(ccid.PC_TO_RDR_ICC_POWER_OFF, slot)
        if msg[0] != ccid.RDR_TO_PC_SLOT_STATUS:
            raise SoakError("power off slot %d: %s" % (slot, msg.hex()))

    def _command(self, slot):
        """A random command and its expected answer."""
        kind = self.rng.next(10)
        if kind < 4:
            self.counters[slot] = (self.counters[slot] + 1) & 0xFFFFFFFF
            return INS_INCREMENT, bytes((0x00, INS_INCREMENT, 0, 0, 4)), self._counter(slot)
        if kind < 5:
            return INS_GET_DATA, bytes((0x00, INS_GET_DATA, 0, 1, 4)), self._counter(slot)
        if kind < 8:
            data = self.rng.bytes(1 + self.rng.next(200))
            expected = bytes(reversed(data)) + b"\x90\x00"
            return INS_ECHO, bytes((0x00, INS_ECHO, 0, 0, len(data))) + data + b"\x00", expected
        offset = self.rng.next(0x100)
        le = 0 if self.rng.next(4) == 0 else self.rng.next(256)  # 00: 256 bytes, chained by the T=1 card
        n = le if le else 256
        expected = bytes(read_binary_byte(offset, i) for i in range(n)) + b"\x90\x00"
        return INS_READ_BINARY, bytes((0x00, INS_READ_BINARY, 0, offset, le)), expected

    def _counter(self, slot):
        c = self.counters[slot]
        return bytes(((c >> 24) & 0xFF, (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF, 0x90, 0x00))

    def batch(self, n):
        """``n`` APDUs over both slots; returns the number of wrong answers in this batch."""
        wrong = 0
        for _ in range(n):
            slot = self.rng.next(2)
            if self.left[slot] <= 0:
                if self.cards[slot].powered:
                    self.power_off(slot)
                self.power_on(slot)
            self.left[slot] -= 1
            ins, apdu, expected = self._command(slot)
            self.kinds[ins] += 1
            msg = self.request(ccid.PC_TO_RDR_XFR_BLOCK, slot, apdu)
            self.apdus += 1
            if msg[0] != ccid.RDR_TO_PC_DATA_BLOCK or msg[7] & 0xC0:
                self.failed += 1
                self.left[slot] = 0  # power cycle; the counter is read back from the card
                if ins == INS_INCREMENT:
                    self.counters[slot] = self.cards[slot].counter
                continue
            if msg[10:] != expected:
                wrong += 1
                if self.first_wrong is None:
                    self.first_wrong = (slot, apdu.hex(), msg.hex(), expected.hex())
                if ins == INS_INCREMENT:
                    self.counters[slot] = self.cards[slot].counter
        self.wrong += wrong
        return wrong

    def summary(self):
        """The figures so far (ints and a dict, JSON-ready)."""
        t1, t0 = self.cards
        link = self.reader.link
        return {
            "apdus": self.apdus, "wrong": self.wrong, "failed": self.failed,
            "power_cycles": self.power_cycles,
            "kinds": {"increment": self.kinds[INS_INCREMENT], "get_data": self.kinds[INS_GET_DATA],
                      "echo": self.kinds[INS_ECHO], "read_binary": self.kinds[INS_READ_BINARY]},
            "t1_bad_lrc_blocks_resent": t1.resent, "t1_wtx_requests": t1.wtx_sent, "t0_null_bytes": t0.nulls,
            "card_commands": [t1.commands, t0.commands],
            "link_frames": link.frames, "first_wrong": self.first_wrong,
        }
