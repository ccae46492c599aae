"""A whole reader on fakes, for CPython and MicroPython: an in-memory host port and two card
ports that answer at the character level, a T=1 card and a T=0 card with the test applet's
commands (boards/cpsdi_boards/sim/test_applet.py: INCREMENT, GET DATA, ECHO, READ BINARY).

No simulator import (the simulator is CPython only): this is what lets the real firmware
(``cpsdi_fw.main.Reader``: link server, CCID service, slots, ATR/PPS/T=0/T=1 engines) run on
the MicroPython interpreter for the heap soak (``FirmwareSoak``; tests/device/test_firmware_soak.py,
``python -m fuzz mpsoak``). The cards inject faults of their own, on a fixed period: T=1
blocks sent with a wrong LRC (the reader's R-block gets the block again) and S(WTX) requests,
T=0 NULL procedure bytes. Card buffers are preallocated; the cards do allocate a little per
command (they are test fixtures, not firmware) but keep nothing.
"""

from cpsdi_fw.hal import ERR_ABSENT, OK, CardPort

INS_READ_BINARY = 0xB0
INS_ECHO = 0x88
INS_INCREMENT = 0x32
INS_GET_DATA = 0xCA
INS_GET_RESPONSE = 0xC0

# The simulator's test cards' ATRs (boards/cpsdi_boards/sim/cards.py, t1_card.py): TA1 18
# (a PPS to 372/12); the T=1 card with LRC and IFSC 32, so that long commands are chained.
T1_ATR = bytes((0x3B, 0x93, 0x18, 0x81, 0x31, 0x20, 0x45, 0x43, 0x50, 0x53, 0x00))
T0_ATR = bytes((0x3B, 0x13, 0x18, 0x43, 0x50, 0x53))


def _with_tck(atr):
    b = bytearray(atr)
    x = 0
    for i in range(1, len(b) - 1):
        x ^= b[i]
    b[-1] = x
    return bytes(b)


T1_ATR = _with_tck(T1_ATR)


def read_binary_byte(offset, i):
    """Byte ``i`` of READ BINARY at ``offset`` (the test applet's pattern)."""
    return ((offset + i) * 7) & 0xFF


class FakeHostPort:
    """In-memory HostPort with a settable millisecond clock; allocation-free read/write."""

    def __init__(self, size=8192):
        self.rx = bytearray(size)
        self.rx_len = 0
        self.rx_pos = 0
        self.tx = bytearray(size)
        self.tx_len = 0
        self.now_ms = 1000
        self.chunk = 64
        self.line_log = []  # (bytes written before the switch, baud, stop bits)

    def feed(self, data):
        if self.rx_pos == self.rx_len:
            self.rx_pos = 0
            self.rx_len = 0
        for b in data:
            self.rx[self.rx_len] = b
            self.rx_len += 1

    def take(self):
        out = bytes(self.tx[: self.tx_len])
        self.tx_len = 0
        return out

    def read_into(self, buf, start, count):
        n = self.rx_len - self.rx_pos
        if n > count:
            n = count
        if n > self.chunk:
            n = self.chunk
        for i in range(n):
            buf[start + i] = self.rx[self.rx_pos + i]
        self.rx_pos += n
        return n

    def write(self, buf, start, end):
        for i in range(start, end):
            self.tx[self.tx_len] = buf[i]
            self.tx_len += 1

    def ticks_ms(self):
        return self.now_ms & 0x3FFFFFFF

    def wait_ms(self, ms):
        self.now_ms += ms

    def flush(self):
        pass

    baud = 115200
    stop_bits = 2
    rates = (9600, 115200, 921600)

    def line_supported(self, baud, stop_bits):
        return baud in self.rates and stop_bits in (1, 2)

    def set_line(self, baud, stop_bits):
        self.baud = baud
        self.stop_bits = stop_bits
        self.line_log.append((self.tx_len, baud, stop_bits))


class FakeCard(CardPort):
    """Character-level card: what the reader sends goes to ``_on_byte``; what the card says
    waits in ``out`` for ``receive``. Silence is a timeout (nothing is ever late)."""

    clock_hz = 3571200
    atr = b""

    def __init__(self):
        self.inserted = True
        self.powered = False
        self.out = bytearray(600)
        self.out_len = 0
        self.out_pos = 0
        self.etu = 0
        self.f = 372
        self.d = 1
        self.pps = bytearray(6)
        self.pps_len = 0
        self.in_pps = False
        self.atr_done = False
        self.counter = 0
        self.commands = 0
        self.activations = 0

    # -- HAL ------------------------------------------------------------------------------
    def present(self):
        return self.inserted

    def fault(self):
        return False

    def activate(self, voltage_class):
        if not self.inserted:
            return ERR_ABSENT
        self.powered = True
        self.activations += 1
        self.out_len = self.out_pos = 0
        self.f, self.d = 372, 1
        self.atr_done = False
        self.pps_len = 0
        self.reset_protocol()
        return OK

    def set_reset(self, high):
        if high and self.powered:
            self.out_len = self.out_pos = 0
            self.queue(self.atr)
            self.atr_done = True
            self.pps_len = 0
            self.reset_protocol()

    def deactivate(self):
        self.powered = False
        self.out_len = self.out_pos = 0

    def wait_clocks(self, clocks):
        self.etu += 1

    def wait_etu(self, etu):
        self.etu += 1

    def set_character(self, f, d, inverse, guard_time_etu, retries):
        self.f, self.d = f, d

    def send(self, buf, start, end):
        if not self.inserted:
            return ERR_ABSENT
        for i in range(start, end):
            self.etu += 1
            b = buf[i]
            if self.atr_done and (self.pps_len or b == 0xFF) and self._pps_byte(b):
                continue
            self.atr_done = False
            self.on_byte(b)
        return OK

    def receive(self, buf, start, count, first_timeout_etu, char_timeout_etu, parity):
        n = self.out_len - self.out_pos
        if n > count:
            n = count
        for i in range(n):
            buf[start + i] = self.out[self.out_pos + i]
            parity[start + i] = 0
        self.out_pos += n
        self.etu += n
        if self.out_pos == self.out_len:
            self.out_pos = self.out_len = 0
        return n

    def now_etu(self):
        return self.etu

    # -- card side ------------------------------------------------------------------------
    def queue(self, data):
        for b in data:
            self.out[self.out_len] = b
            self.out_len += 1

    def queue_byte(self, b):
        self.out[self.out_len] = b
        self.out_len += 1

    def _pps_byte(self, b):
        # ISO 7816-3 §9.2: PPSS FF, PPS0, PPS1..3 as PPS0's bits 5-7 say, PCK; answered by echo
        self.pps[self.pps_len] = b
        self.pps_len += 1
        if self.pps_len >= 2:
            p0 = self.pps[1]
            total = 3 + ((p0 >> 4) & 1) + ((p0 >> 5) & 1) + ((p0 >> 6) & 1)
            if self.pps_len == total:
                for i in range(total):
                    self.queue_byte(self.pps[i])
                self.pps_len = 0
                self.atr_done = False
        return True

    def reset_protocol(self):
        """A new session (ATR): the card's protocol state starts afresh."""

    def on_byte(self, b):
        raise NotImplementedError

    def execute(self, apdu, n, resp):
        """The applet: ``apdu[:n]`` (header + data) -> response data + SW in ``resp``; length."""
        self.commands += 1
        ins = apdu[1]
        if ins == INS_INCREMENT:
            self.counter = (self.counter + 1) & 0xFFFFFFFF
            return self._counter(resp)
        if ins == INS_GET_DATA:
            return self._counter(resp)
        if ins == INS_ECHO and n > 5:
            lc = apdu[4]
            for i in range(lc):
                resp[i] = apdu[4 + lc - i]
            resp[lc] = 0x90
            resp[lc + 1] = 0x00
            return lc + 2
        if ins == INS_READ_BINARY:
            offset = apdu[2] << 8 | apdu[3]
            le = apdu[n - 1] if n > 4 else 0
            if le == 0:
                le = 256
            for i in range(le):
                resp[i] = read_binary_byte(offset, i)
            resp[le] = 0x90
            resp[le + 1] = 0x00
            return le + 2
        resp[0] = 0x6D
        resp[1] = 0x00
        return 2

    def _counter(self, resp):
        c = self.counter
        resp[0] = (c >> 24) & 0xFF
        resp[1] = (c >> 16) & 0xFF
        resp[2] = (c >> 8) & 0xFF
        resp[3] = c & 0xFF
        resp[4] = 0x90
        resp[5] = 0x00
        return 6


class T1FakeCard(FakeCard):
    """T=1 (ISO 7816-3 §11), LRC, IFSC 32: chaining both ways, R-block retransmission, IFS,
    RESYNCH and ABORT answered. Every ``bad_lrc_every``-th I-block goes out with a wrong LRC;
    every ``wtx_every``-th command is answered after an S(WTX request)."""

    atr = T1_ATR

    def __init__(self, bad_lrc_every=11, wtx_every=17):
        FakeCard.__init__(self)
        self.bad_lrc_every = bad_lrc_every
        self.wtx_every = wtx_every
        self.blk = bytearray(260)
        self.blk_len = 0
        self.apdu = bytearray(300)
        self.apdu_len = 0
        self.resp = bytearray(300)
        self.resp_len = 0
        self.resp_pos = 0
        self.last = bytearray(260)
        self.last_len = 0
        self.i_blocks = 0
        self.resent = 0
        self.wtx_sent = 0

    def reset_protocol(self):
        self.blk_len = 0
        self.apdu_len = 0
        self.resp_len = self.resp_pos = 0
        self.ns = 0  # N(S) of the card's next I-block
        self.nr = 0  # N(S) expected in the reader's next I-block
        self.ifsd = 32
        self.last_ns = 0

    def on_byte(self, b):
        self.blk[self.blk_len] = b
        self.blk_len += 1
        if self.blk_len >= 3 and self.blk_len == 4 + self.blk[2]:
            self.blk_len = 0
            self._block()
        elif self.blk_len >= len(self.blk):
            self.blk_len = 0

    def _block(self):
        blk = self.blk
        pcb = blk[1]
        n = blk[2]
        if pcb & 0x80 == 0:  # I-block, §11.3.2
            if (pcb >> 6) & 1 == self.nr:
                self.nr ^= 1
                for i in range(n):
                    self.apdu[self.apdu_len + i] = blk[3 + i]
                self.apdu_len += n
            if pcb & 0x20:  # chained: ask for the next block
                self._send(0x80 | (self.nr << 4), None, 0, 0, False)
                return
            self.resp_len = self.execute(self.apdu, self.apdu_len, self.resp)
            self.resp_pos = 0
            self.apdu_len = 0
            if self.wtx_every and self.commands % self.wtx_every == 0:
                self.wtx_sent += 1
                self._send(0xC3, b"\x01", 0, 1, False)
                return
            self._next_chunk()
        elif pcb & 0x40 == 0:  # R-block, §11.3.3
            if (pcb >> 4) & 1 != self.last_ns and self.resp_pos < self.resp_len:
                self._next_chunk()  # acknowledges our chained block
            else:
                self.resent += 1
                self._resend()
        elif pcb == 0xC1:  # S(IFS request)
            self.ifsd = blk[3]
            self._send(0xE1, blk, 3, 4, False)
        elif pcb == 0xE3:  # S(WTX response): the answer follows
            self._next_chunk()
        elif pcb == 0xC0:  # S(RESYNCH request)
            self.reset_protocol()
            self._send(0xE0, None, 0, 0, False)
        elif pcb == 0xC2:  # S(ABORT request)
            self.resp_len = self.resp_pos = 0
            self._send(0xE2, None, 0, 0, False)

    def _next_chunk(self):
        left = self.resp_len - self.resp_pos
        k = left if left <= self.ifsd else self.ifsd
        more = left > k
        pcb = (self.ns << 6) | (0x20 if more else 0)
        self.last_ns = self.ns
        self.ns ^= 1
        self.i_blocks += 1
        bad = self.bad_lrc_every and self.i_blocks % self.bad_lrc_every == 0
        self._send(pcb, self.resp, self.resp_pos, self.resp_pos + k, bad)
        self.resp_pos += k

    def _send(self, pcb, src, start, end, bad_lrc):
        last = self.last
        last[0] = 0x00
        last[1] = pcb
        last[2] = end - start
        for i in range(start, end):
            last[3 + i - start] = src[i]
        n = 3 + end - start
        x = 0
        for i in range(n):
            x ^= last[i]
        last[n] = x
        self.last_len = n + 1
        for i in range(n):
            self.queue_byte(last[i])
        self.queue_byte(x ^ 0x5A if bad_lrc else x)

    def _resend(self):
        for i in range(self.last_len):
            self.queue_byte(self.last[i])


class T0FakeCard(FakeCard):
    """T=0 (ISO 7816-3 §10): header, procedure bytes, data, SW; case 4 answered 61 xx and
    GET RESPONSE. Every ``null_every``-th command gets a NULL procedure byte (60) first."""

    atr = T0_ATR

    def __init__(self, null_every=7):
        FakeCard.__init__(self)
        self.null_every = null_every
        self.hdr = bytearray(5)
        self.apdu = bytearray(300)
        self.resp = bytearray(300)
        self.nulls = 0

    def reset_protocol(self):
        self.hdr_len = 0
        self.data_left = 0
        self.apdu_len = 0
        self.pending = 0  # response bytes waiting for GET RESPONSE

    def on_byte(self, b):
        if self.data_left:
            self.apdu[self.apdu_len] = b
            self.apdu_len += 1
            self.data_left -= 1
            if not self.data_left:
                self._answer()
            return
        self.apdu[self.hdr_len] = b
        self.hdr_len += 1
        if self.hdr_len < 5:
            return
        self.hdr_len = 0
        self.apdu_len = 5
        ins = self.apdu[1]
        if self.null_every and (self.commands + 1) % self.null_every == 0:
            self.nulls += 1
            self.queue_byte(0x60)
        if ins == INS_ECHO and self.apdu[4]:
            self.queue_byte(ins)  # §10.3.3: send all the data
            self.data_left = self.apdu[4]
            return
        self._answer()

    def _answer(self):
        apdu = self.apdu
        ins = apdu[1]
        resp = self.resp
        if ins == INS_GET_RESPONSE:
            self.commands += 1
            p3 = apdu[4]
            if not self.pending:
                self.queue((0x6F, 0x00))
                return
            if p3 != self.pending - 2:  # §10.3.3: 6C xx, the right Le
                self.queue((0x6C, (self.pending - 2) & 0xFF))
                return
            self.queue_byte(ins)
            for i in range(self.pending):
                self.queue_byte(resp[i])
            self.pending = 0
            return
        n = self.execute(apdu, self.apdu_len, resp)
        if ins == INS_ECHO and n > 2:
            self.pending = n
            self.queue((0x61, (n - 2) & 0xFF))
            return
        if n > 2:
            self.queue_byte(ins)
        for i in range(n):
            self.queue_byte(resp[i])
