# MicroPython script (run by bench/mp_footprint.mjs under the WebAssembly build): a CPS4-like
# T=1 session through the firmware's T=1 engine against an in-script card, measuring the GC
# heap (gc.mem_alloc) and checking zero allocation per block under micropython.heap_lock().
# Prints one JSON line.
import gc
import json

import micropython
from cpsdi_fw.iso7816_3 import t1

RECEIVE = t1.RECEIVE
SEND = t1.SEND
DONE = t1.DONE

# (command APDU length, response data length): SELECT, 8 x READ BINARY 231, VERIFY, MSE, PSO CDS
SESSION = [(13, 0)] + [(5, 231)] * 8 + [(9, 0), (9, 0), (38, 250)]


class Card:
    """Answers every reader I-block with an I-block of ``size`` + 2 bytes (allocation-free
    once its blocks are built)."""

    def __init__(self):
        self.ns = 0
        self.blocks = {}
        self.size = 0
        self.pending = None

    def build(self, size):
        for ns in (0, 1):
            key = size * 2 + ns
            if key not in self.blocks:
                b = bytearray(3 + size + 2 + 1)
                b[1] = 0x40 if ns else 0x00
                b[2] = size + 2
                for i in range(size):
                    b[3 + i] = i & 0xFF
                b[3 + size] = 0x90
                lrc = 0
                for i in range(len(b) - 1):
                    lrc ^= b[i]
                b[len(b) - 1] = lrc
                self.blocks[key] = b

    def receive(self, buf, off, n):
        self.pending = self.blocks[self.size * 2 + self.ns]
        self.ns ^= 1


def run_session(eng, card, apdus, resp):
    for apdu, size in apdus:
        card.size = size
        eng.start_apdu(apdu, len(apdu), resp, len(resp))
        for _ in range(100):
            a = eng.action()
            if a == SEND:
                card.receive(eng.tx_buf, eng.tx_offset, eng.tx_count)
                eng.on_sent()
            elif a == RECEIVE:
                blk = card.pending
                card.pending = None
                eng.on_block(blk, 0, len(blk), False)
            else:
                break
        if a != DONE:
            raise RuntimeError("exchange failed")


gc.collect()
base = gc.mem_alloc()
eng = t1.T1Engine()
eng.configure(254, 254, False)
card = Card()
resp = bytearray(300)
apdus = []
for cmd, size in SESSION:
    card.build(size)
    apdus.append((bytearray(cmd), size))
gc.collect()
setup = gc.mem_alloc() - base
peak = 0
for _ in range(3):
    for one in apdus:
        run_session(eng, card, (one,), resp)
        used = gc.mem_alloc() - base
        if used > peak:
            peak = used
locked_ok = True
micropython.heap_lock()
try:
    run_session(eng, card, apdus, resp)
except MemoryError:
    locked_ok = False
finally:
    micropython.heap_unlock()
print(json.dumps({"setup_bytes": setup, "peak_bytes": peak, "exchanges": len(SESSION) * 4,
                  "heap_locked_session_ok": locked_ok}))
