"""ISO 7816-3 T=1: block codec and block engine; runs on CPython and MicroPython.

A scripted card (`T1Card`) plays one block per reader block: a list of steps (the block
the reader must send, the card's answer: a block, ``None`` for silence until BWT, or
``P(block)`` for a block received with a parity error). `drive` plays the slot driver
of the action protocol (t1 module docstring): SEND -> the card checks the block, then
on_sent(); RECEIVE -> on_block() with the card's answer, or on_timeout(). Every test
asserts the exact blocks the reader sent (hex) and the exact result.

One test per row of iso7816-3.md §6.4 (T1-1 .. T1-40, named after it; T1-36 tests the
engine's part of the timing), then the §7.3 vectors (block encodings with LRC and both
CRC variants, CRC check values, the ANSSI Annex-A traces and the CCID #72 desync, from
tests/vectors/t1.jsonl), unit checks, a random-card test and a heap_lock test
(MicroPython only) around complete chained exchanges.
"""

import unittest

from cpsdi_fw.iso7816_3 import t1, timing
from cpsdi_fw.iso7816_3.t1 import DONE, ERROR, RECEIVE, SEND, T1Engine
from cpsdi_proto import ccid

import _paths

try:
    import micropython

    _HEAP_LOCK = hasattr(micropython, "heap_lock")
except ImportError:
    _HEAP_LOCK = False


def _hex(text):
    return bytes.fromhex(text.replace(" ", ""))


def _lrc(data):
    x = 0
    for b in data:
        x ^= b
    return x


def _crc_bits(data, iso=False):
    # Independent bitwise CRC-16/MCRF4XX (and its X-25 complement), for the CRC checks.
    c = 0xFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            if c & 1:
                c = (c >> 1) ^ 0x8408
            else:
                c >>= 1
    return c ^ 0xFFFF if iso else c


def L(text):
    """Block from its prologue + INF (hex), LRC appended."""
    d = _hex(text)
    return d + bytes([_lrc(d)])


def C(text, iso=False):
    """Block from its prologue + INF (hex), CRC appended (libccid: high first; ISO: low first)."""
    d = _hex(text)
    c = _crc_bits(d, iso)
    if iso:
        return d + bytes([c & 0xFF, c >> 8])
    return d + bytes([c >> 8, c & 0xFF])


def X(block):
    """The same block with its last (EDC) byte corrupted."""
    b = bytearray(_b(block))
    b[-1] ^= 0xFF
    return bytes(b)


class P:
    """A card block received with a parity error on some character."""

    def __init__(self, block):
        self.block = _b(block)


def _b(x):
    if isinstance(x, str):
        return _hex(x)
    return bytes(x)


class T1Card:
    """Card side of a T=1 dialogue, one answer per reader block; allocation-free once built.

    ``steps``: sequence of (reader block, card answer): the reader block as hex or bytes;
    the answer as hex/bytes, None (silence), or P(block). ``mismatch`` = index of the
    first step whose reader block differs (-1: none); ``sent`` = hex of what the reader
    sent (kept only with record=True).
    """

    def __init__(self, steps, record=True):
        self.expect = []
        self.answer = []
        self.parity = []
        for r, c in steps:
            self.expect.append(_b(r))
            if isinstance(c, P):
                self.answer.append(c.block)
                self.parity.append(True)
            else:
                self.answer.append(None if c is None else _b(c))
                self.parity.append(False)
        self.nsteps = len(self.expect)
        self.record = record
        self.sent = []
        self.waits = []
        self.reset()

    def reset(self):
        self.step = 0
        self.pending = -1  # index of the answer to give, -1 = silence
        self.mismatch = -1

    def receive(self, buf, off, n):
        k = self.step
        if self.record:
            self.sent.append(bytes(buf[off:off + n]).hex())
        ok = k < self.nsteps
        if ok:
            e = self.expect[k]
            if len(e) != n:
                ok = False
            else:
                for i in range(n):
                    if buf[off + i] != e[i]:
                        ok = False
                        break
        if not ok:
            if self.mismatch < 0:
                self.mismatch = k
            self.pending = -1
        else:
            self.pending = k
        self.step = k + 1
        return ok


def drive(eng, card, limit=100000):
    """The slot driver: run the engine against the card until DONE/ERROR; returns the action."""
    n = 0
    while n < limit:
        n += 1
        a = eng.action()
        if a == SEND:
            if not card.receive(eng.tx_buf, eng.tx_offset, eng.tx_count):
                return -1
            eng.on_sent()
        elif a == RECEIVE:
            if card.record:
                card.waits.append(eng.wait_etu)
            k = card.pending
            card.pending = -1
            ans = card.answer[k] if k >= 0 else None
            if ans is None:
                eng.on_timeout()
            else:
                eng.on_block(ans, 0, len(ans), card.parity[k])
        else:
            return a
    return -2


def new_engine(ifsc=32, ifsd=32, crc=False, variant=t1.CRC_DEFAULT, nad=0):
    eng = T1Engine()
    eng.configure(ifsc, ifsd, crc, variant, nad)
    return eng


def exchange(tc, eng, apdu, steps, resp_size=300, resp_max=-1):
    card = T1Card(steps)
    resp = bytearray(resp_size)
    err = eng.start_apdu(_b(apdu), -1, resp, resp_max)
    tc.assertEqual(err, t1.NO_ERROR)
    a = drive(eng, card)
    tc.assertEqual(card.mismatch, -1, "reader sent %s, script %s" % (card.sent, [e.hex() for e in card.expect]))
    tc.assertEqual(card.step, card.nsteps, "reader sent %s, script %s" % (card.sent, [e.hex() for e in card.expect]))
    return a, card


def assert_done(tc, eng, a, response):
    tc.assertEqual((a, eng.error), (DONE, t1.NO_ERROR))
    tc.assertEqual(bytes(eng.response()).hex(), _b(response).hex())


def assert_error(tc, eng, a, code, b_error, dead=False):
    tc.assertEqual((a, eng.error), (ERROR, code))
    tc.assertEqual(t1.ccid_error(eng.error), b_error)
    tc.assertEqual(eng.dead, dead)


# ANSSI Annex-A APDU (case 4) and its blocks, iso7816-3.md §7.3
APDU = "00 A4 04 00 05 75 36 41 70 70 05"
I0 = "00 00 0B 00 A4 04 00 05 75 36 41 70 70 05 A9"  # reader I(0, 0)
I1 = L("00 40 0B 00 A4 04 00 05 75 36 41 70 70 05")  # reader I(1, 0)
ANS0 = "00 00 07 75 74 77 74 75 90 00 E0"  # card I(0, 0)
ANS1 = L("00 40 07 75 74 77 74 75 90 00")  # card I(1, 0)
RESP = "75 74 77 74 75 90 00"
R0, R1 = "00 80 00 80", "00 90 00 90"
R0E, R1E = "00 81 00 81", "00 91 00 91"
R0O, R1O = "00 82 00 82", "00 92 00 92"
RESYNCH, RESYNCH_OK = "00 C0 00 C0", "00 E0 00 E0"
# Sc.5: IFSC = 10, Nc = 22
APDU28 = "00 A4 04 00 16 75 36 41 70 70 FF FF 00 00 00 00 00 FF FF 00 00 FF 00 FF 00 FF 00 05"
C5 = ("00 20 0A 00 A4 04 00 16 75 36 41 70 70 9E", "00 60 0A FF FF 00 00 00 00 00 FF FF 00 6A",
      "00 00 08 00 FF 00 FF 00 FF 00 05 F2")


class TestT1Rows(unittest.TestCase):
    """iso7816-3.md §6.4, one test per row."""

    def test_T1_1_basic_exchange_and_sequence_numbers(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual((eng.ns, eng.nr, eng.sw), (1, 1, 0x9000))
        a, _ = exchange(self, eng, APDU, [(I1, ANS1)])
        assert_done(self, eng, a, RESP)
        self.assertEqual((eng.ns, eng.nr), (0, 0))

    def test_T1_2_short_apdus_verbatim_le_00_kept(self):
        eng = new_engine()
        a, _ = exchange(self, eng, "00 B0 00 00 00", [(L("00 00 05 00 B0 00 00 00"), L("00 00 04 AA BB 90 00"))])
        assert_done(self, eng, a, "AA BB 90 00")
        a, _ = exchange(self, eng, "00 D6 00 00 02 11 22", [(L("00 40 07 00 D6 00 00 02 11 22"), L("00 40 02 90 00"))])
        assert_done(self, eng, a, "90 00")
        a, _ = exchange(self, eng, "00 A4 04 00 02 3F 00 00",
                        [(L("00 00 08 00 A4 04 00 02 3F 00 00"), L("00 00 03 6F 90 00"))])
        assert_done(self, eng, a, "6F 90 00")

    def test_T1_3_reader_ifsd_negotiation_strict_echo(self):
        eng = new_engine()
        req = "00 C1 01 FE 3E"
        card = T1Card([(req, "00 E1 01 FE 1E")])
        self.assertEqual(eng.start_ifsd(0xFE), t1.NO_ERROR)
        self.assertEqual(drive(eng, card), DONE)
        self.assertEqual((card.mismatch, card.step, eng.ifsd), (-1, 1, 254))
        # Wrong value, NAD, PCB, LEN, EDC: each re-sends the request; 3 transmissions then IFS_FAILED
        bad = (L("00 E1 01 FD"), L("10 E1 01 FE"), L("00 E2 01 FE"), L("00 E1 02 FE 00"), X("00 E1 01 FE 1E"),
               L("00 C1 01 FE"))
        for i in range(len(bad) - 2):
            eng = new_engine()
            card = T1Card([(req, bad[i]), (req, bad[i + 1]), (req, bad[i + 2])])
            eng.start_ifsd(0xFE)
            a = drive(eng, card)
            self.assertEqual((card.mismatch, card.step), (-1, 3))
            assert_error(self, eng, a, t1.IFS_FAILED, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
            self.assertEqual(eng.ifsd, 32)
        # Silent card: MUTE; two failures then the echo: DONE
        eng = new_engine()
        card = T1Card([(req, None), (req, None), (req, None)])
        eng.start_ifsd(0xFE)
        assert_error(self, eng, drive(eng, card), t1.MUTE, ccid.ERR_ICC_MUTE)
        eng = new_engine()
        eng.ifs_transmissions = 4  # "3 retries" reading
        card = T1Card([(req, None), (req, None), (req, None), (req, None)])
        eng.start_ifsd(0xFE)
        assert_error(self, eng, drive(eng, card), t1.MUTE, ccid.ERR_ICC_MUTE)
        self.assertEqual(card.step, 4)
        eng = new_engine()
        card = T1Card([(req, None), (req, bad[0]), (req, "00 E1 01 FE 1E")])
        eng.start_ifsd(0xFE)
        self.assertEqual((drive(eng, card), card.step, eng.ifsd), (DONE, 3, 254))
        # The session then uses IFSD 254 (a 254-byte card block is valid) and N(S) is untouched
        a, _ = exchange(self, eng, APDU, [(I0, L("00 00 FE " + "00 " * 252 + "90 00"))])
        self.assertEqual((a, eng.resp_length), (DONE, 254))
        self.assertEqual(eng.start_ifsd(0), t1.BAD_PARAM)
        self.assertEqual(eng.start_ifsd(255), t1.BAD_PARAM)

    def test_T1_4_card_ifs_request_while_waiting(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 C1 01 10 D0"), ("00 E1 01 10 F0", ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual(eng.ifsc, 16)
        apdu = "00 D6 00 00 0F " + "11 " * 15  # 20 bytes: 16 + 4 with IFSC = 16
        a, _ = exchange(self, eng, apdu, [(L("00 60 10 00 D6 00 00 0F " + "11 " * 11), R0),
                                          (L("00 00 04 11 11 11 11"), ANS1)])
        assert_done(self, eng, a, RESP)

    def test_T1_5_card_ifs_request_inf_00_ff_invalid(self):
        for v in ("00", "FF"):
            eng = new_engine()
            a, _ = exchange(self, eng, APDU, [(I0, L("00 C1 01 " + v)), (R0O, ANS0)])
            assert_done(self, eng, a, RESP)
            self.assertEqual(eng.ifsc, 32)
        # EMV: below 10 invalid too; ISO accepts it
        eng = new_engine()
        eng.emv_mode = True
        a, _ = exchange(self, eng, APDU, [(I0, L("00 C1 01 0F")), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, L("00 C1 01 0F")), (L("00 E1 01 0F"), ANS0)])
        self.assertEqual((a, eng.ifsc), (DONE, 15))

    def test_T1_6_wtx_answered_one_shot_and_repeatable(self):
        eng = new_engine()
        bwt = eng.bwt_etu
        a, card = exchange(self, eng, APDU, [(I0, "00 C3 01 02 C0"), ("00 E3 01 02 E0", L("00 C3 01 03")),
                                             (L("00 E3 01 03"), L("00 C3 01 FF")), (L("00 E3 01 FF"), ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual(card.waits, [bwt, 2 * bwt, 3 * bwt, 255 * bwt])
        self.assertEqual((eng.wtx_count, eng.blocks), (3, 1))  # WTX responses are not counted
        a, card = exchange(self, eng, APDU, [(I1, ANS1)])
        self.assertEqual(card.waits, [bwt])
        # m = 0 is an invalid block
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, L("00 C3 01 00")), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_7_reader_chaining(self):
        eng = new_engine(ifsc=10)
        a, _ = exchange(self, eng, APDU28, [(C5[0], R1), (C5[1], R0), (C5[2], ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual((eng.ns, eng.nr, eng.blocks), (1, 1, 3))

    def test_T1_8_card_chaining_reassembled(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 20 05 75 74 77 74 75 52"), (R1, "00 40 02 90 00 D2")])
        assert_done(self, eng, a, RESP)
        self.assertEqual((eng.ns, eng.nr), (1, 0))
        # next card block N(S) = 0, ours 1
        a, _ = exchange(self, eng, APDU, [(I1, L("00 20 01 01")), (R1, L("00 60 01 02")), (R0, L("00 00 02 90 00"))])
        assert_done(self, eng, a, "01 02 90 00")

    def test_T1_9_both_directions_chained(self):
        eng = new_engine(ifsc=10)
        a, _ = exchange(self, eng, APDU28, [(C5[0], R1), (C5[1], R0), (C5[2], L("00 20 03 01 02 03")),
                                            (R1, L("00 40 02 90 00"))])
        assert_done(self, eng, a, "01 02 03 90 00")
        self.assertEqual((eng.ns, eng.nr), (1, 0))
        a, _ = exchange(self, eng, APDU28, [(L("00 60 0A 00 A4 04 00 16 75 36 41 70 70"), R0),
                                            (L("00 20 0A FF FF 00 00 00 00 00 FF FF 00"), R1),
                                            (L("00 40 08 00 FF 00 FF 00 FF 00 05"), L("00 20 01 07")),
                                            (R1, L("00 40 02 90 00"))])
        assert_done(self, eng, a, "07 90 00")

    def test_T1_10_card_nak_retransmits_identical_i_block(self):
        for nak in ("00 81 00 81", "00 80 00 80", "00 82 00 82"):
            eng = new_engine()
            a, _ = exchange(self, eng, APDU, [(I0, nak), (I0, ANS0)])
            assert_done(self, eng, a, RESP)

    def test_T1_11_bad_edc_gives_r_edc(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, X(ANS0)), (R0E, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_12_bwt_expiry_gives_r_other_emv_deactivates(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, None), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)
        eng = new_engine()
        eng.emv_mode = True
        a, _ = exchange(self, eng, APDU, [(I0, None)])
        assert_error(self, eng, a, t1.DEAD_MUTE, ccid.ERR_ICC_MUTE, dead=True)

    def test_T1_13_corrupted_nak_then_valid_nak(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, X(R0E)), (R0E, R0E), (I0, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_14_unexpected_r_after_our_r_resends_it(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, X(ANS0)), (R0E, R1), (R0E, ANS0)])
        assert_done(self, eng, a, RESP)
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, None), (R0O, R1), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_15_corrupted_r_after_our_r_resends_it(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, X(ANS0)), (R0E, X(R1)), (R0E, ANS0)])
        assert_done(self, eng, a, RESP)
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, None), (R0O, None), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_16_corrupted_wtx_request(self):
        eng = new_engine()
        bwt = eng.bwt_etu
        a, card = exchange(self, eng, APDU, [(I0, X("00 C3 01 02 C0")), (R0E, "00 C3 01 02 C0"),
                                             ("00 E3 01 02 E0", ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual(card.waits, [bwt, bwt, 2 * bwt])

    def test_T1_17_corrupted_ifs_request(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, X("00 C1 01 10 D0")), (R0E, "00 C1 01 10 D0"),
                                          ("00 E1 01 10 F0", ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual(eng.ifsc, 16)

    def test_T1_18_repeated_ifs_request_answered_again(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 C1 01 10 D0"), ("00 E1 01 10 F0", "00 C1 01 10 D0"),
                                          ("00 E1 01 10 F0", ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_19_ifs_then_corrupted_i_then_r_games(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 C1 01 10 D0"), ("00 E1 01 10 F0", X(ANS0)), (R0E, R1),
                                          (R0E, ANS0)])
        assert_done(self, eng, a, RESP)
        # R-block right after our S(IFS resp): that response is re-sent
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 C1 01 10 D0"), ("00 E1 01 10 F0", R1),
                                          ("00 E1 01 10 F0", ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_20_corrupted_ack_during_reader_chaining(self):
        # ANSSI Sc.21 (IFSC = 5)
        eng = new_engine(ifsc=5)
        a, _ = exchange(self, eng, APDU, [("00 20 05 00 A4 04 00 05 80", X(R1)), (R0E, R1),
                                          ("00 60 05 75 36 41 70 70 67", R0), ("00 00 01 05 04", ANS0)])
        assert_done(self, eng, a, RESP)
        # A NAK instead of the ack after our R-block retransmits the chained I-block
        eng = new_engine(ifsc=5)
        a, _ = exchange(self, eng, APDU, [("00 20 05 00 A4 04 00 05 80", X(R1)), (R0E, R0),
                                          ("00 20 05 00 A4 04 00 05 80", R1),
                                          ("00 60 05 75 36 41 70 70 67", R0), ("00 00 01 05 04", ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_20_error_r_block_is_never_an_ack(self):
        # During our chain the card answers I(1, more) with R(0, EDC error): N(R) says "next",
        # the error code says "not received". Taking it as an ack would splice the chain; the
        # reader retransmits the block instead.
        eng = new_engine(ifsc=10)
        a, _ = exchange(self, eng, APDU28, [(C5[0], R1), (C5[1], R0E), (C5[1], R0), (C5[2], ANS0)])
        assert_done(self, eng, a, RESP)

    def test_start_resynch_alone(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, ANS0)])
        self.assertEqual((eng.ns, eng.nr), (1, 1))
        self.assertEqual(eng.start_resynch(), t1.NO_ERROR)
        card = T1Card([("00 C0 00 C0", "00 E0 00 E0")])
        a = drive(eng, card)
        self.assertEqual(a, DONE)
        self.assertEqual((eng.ns, eng.nr), (0, 0))

    def test_T1_21_card_r_err_during_card_chaining(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 20 05 75 74 77 74 75 52"), (R1, R1E), (R1, "00 40 02 90 00 D2")])
        assert_done(self, eng, a, RESP)

    def test_T1_22_corrupted_card_r_err_during_card_chaining(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 20 05 75 74 77 74 75 52"), (R1, X(R1E)),
                                          (R1, "00 40 02 90 00 D2")])
        assert_done(self, eng, a, RESP)

    def test_T1_23_three_failures_resynch_and_restart(self):
        eng = new_engine()
        exchange(self, eng, APDU, [(I0, ANS0)])
        a, _ = exchange(self, eng, APDU, [(I1, R1E), (I1, R1O), (I1, R1), (RESYNCH, RESYNCH_OK), (I0, ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual((eng.ns, eng.nr, eng.resynch_count), (1, 1, 1))
        # Chained APDU: restarts from its first block; IFSC back to its initial value
        eng = new_engine(ifsc=10)
        a, _ = exchange(self, eng, APDU28, [(C5[0], "00 C1 01 0E CE"), (L("00 E1 01 0E"), R1),
                                            (L("00 60 0E FF FF 00 00 00 00 00 FF FF 00 00 FF 00 FF"), None),
                                            (R0O, None), (R0O, X(R0)), (RESYNCH, RESYNCH_OK),
                                            (C5[0], R1), (C5[1], R0), (C5[2], ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual(eng.ifsc, 10)
        # Invalid blocks: R, same R, then resynch; the partial response is dropped
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, L("00 20 01 AA")), (R1, X(ANS0)), (R1, None), (R1, None),
                                          (RESYNCH, RESYNCH_OK), (I0, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_24_resynch_unanswered_is_dead_until_reset(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, None), (R0O, None), (R0O, None), (RESYNCH, None), (RESYNCH, X(RESYNCH_OK)),
                                          (RESYNCH, None)])
        assert_error(self, eng, a, t1.DEAD_MUTE, ccid.ERR_ICC_MUTE, dead=True)
        self.assertTrue(t1.needs_deactivation(eng.error))
        self.assertEqual(eng.start_apdu(_hex(APDU), -1, bytearray(10)), t1.NEEDS_RESET)
        self.assertEqual(eng.start_ifsd(254), t1.NEEDS_RESET)
        eng.reset_session()
        a, _ = exchange(self, eng, APDU, [(I0, ANS0)])
        assert_done(self, eng, a, RESP)
        # Ending on a parity / protocol failure picks the matching code
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, X(ANS0)), (R0E, X(ANS0)), (R0E, X(ANS0)), (RESYNCH, None),
                                          (RESYNCH, None), (RESYNCH, P(RESYNCH_OK))])
        assert_error(self, eng, a, t1.DEAD_PARITY, ccid.ERR_XFR_PARITY_ERROR, dead=True)
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, R0), (I0, R0), (I0, R0), (RESYNCH, R0), (RESYNCH, R0), (RESYNCH, R0)])
        assert_error(self, eng, a, t1.DEAD_PROTOCOL, ccid.ERR_PROCEDURE_BYTE_CONFLICT, dead=True)

    def test_T1_25_card_lost_sequence_ccid_issue_72(self):
        eng = new_engine()
        eng.ns = eng.nr = 1
        apdu = "00 A4 04 00 06 11 22 33 44 55 66"
        a, _ = exchange(self, eng, apdu, [("00 40 0B 00 A4 04 00 06 11 22 33 44 55 66 9A", R0O),
                                          (R1O, "00 00 02 6D 00 6F"), (R1O, "00 00 02 6D 00 6F"),
                                          (RESYNCH, RESYNCH_OK), (L("00 00 0B " + apdu), "00 00 02 6D 00 6F")])
        assert_done(self, eng, a, "6D 00")
        # A card that never recovers: bounded, then DEAD (never a loop)
        eng = new_engine()
        eng.ns = eng.nr = 1
        card = FixedCard(_hex(R0O))
        eng.start_apdu(_hex(apdu), -1, bytearray(10))
        a = drive_fixed(eng, card, 1000)
        assert_error(self, eng, a, t1.DEAD_PROTOCOL, ccid.ERR_PROCEDURE_BYTE_CONFLICT, dead=True)
        self.assertTrue(card.blocks <= 12, card.blocks)

    def test_T1_26_card_resynch_request_reader_resynchs(self):
        eng = new_engine()
        exchange(self, eng, APDU, [(I0, ANS0)])
        a, _ = exchange(self, eng, APDU, [(I1, RESYNCH), (RESYNCH, RESYNCH_OK), (I0, ANS0)])
        assert_done(self, eng, a, RESP)
        self.assertEqual((eng.ns, eng.nr), (1, 1))

    def test_T1_27_card_abort_during_chaining(self):
        eng = new_engine(ifsc=10)
        a, _ = exchange(self, eng, APDU28, [(C5[0], R1), (C5[1], "00 C2 00 C2"), ("00 E2 00 E2", None)])
        assert_error(self, eng, a, t1.ABORTED, ccid.ERR_CMD_ABORTED)
        # Session continues: our unacknowledged I(1) keeps N(S) = 1
        a, _ = exchange(self, eng, "00 B0 00 00 00", [(L("00 40 05 00 B0 00 00 00"), ANS0)])
        assert_done(self, eng, a, RESP)
        # During card chaining
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, L("00 20 01 AA")), (R1, "00 C2 00 C2"), ("00 E2 00 E2", None)])
        assert_error(self, eng, a, t1.ABORTED, ccid.ERR_CMD_ABORTED)

    def test_T1_28_wrong_nad(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, L("10 00 07 75 74 77 74 75 90 00")), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)
        # NAD 12: reader blocks carry 12, the card's must carry 21
        eng = new_engine(nad=0x12)
        a, _ = exchange(self, eng, "00 B0 00 00 00", [(L("12 00 05 00 B0 00 00 00"), L("12 00 02 90 00")),
                                                      (L("12 82 00"), L("21 00 02 90 00"))])
        assert_done(self, eng, a, "90 00")

    def test_T1_29_len_ff(self):
        eng = new_engine()
        self.assertEqual(eng.expected_block_length(0, 0, 0xFF), -1)
        a, _ = exchange(self, eng, APDU, [(I0, "00 00 FF 90 00 6F"), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)
        eng = new_engine()
        eng.emv_mode = True
        a, _ = exchange(self, eng, APDU, [(I0, "00 00 FF 90 00 6F")])
        assert_error(self, eng, a, t1.DEAD_PROTOCOL, ccid.ERR_PROCEDURE_BYTE_CONFLICT, dead=True)

    def test_T1_30_len_above_ifsd_or_block_cut_short(self):
        eng = new_engine()
        self.assertEqual(eng.expected_block_length(0, 0, 33), -1)
        self.assertEqual(eng.expected_block_length(0, 0, 32), 36)
        a, _ = exchange(self, eng, APDU, [(I0, L("00 00 21 " + "00 " * 31 + "90 00")), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 00 07 75 74"), (R0O, "00 00"), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)
        # Too long (extra bytes before CWT silence) is invalid too
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, ANS0 + " 00"), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_31_rfu_pcb_unknown_s_wrong_lengths(self):
        bad = (L("00 01 02 90 00"), L("00 10 02 90 00"), L("00 C5 00"), L("00 C4 00"), L("00 C3 00"),
               L("00 C1 02 10 10"), L("00 C0 01 00"), L("00 80 01 00"), L("00 A0 00"), L("00 83 00"),
               L("00 88 00"), L("00 E2 00"), L("00 E3 01 02"), L("00 E4 00"))
        for blk in bad:
            eng = new_engine()
            a, _ = exchange(self, eng, APDU, [(I0, blk), (R0O, ANS0)])
            assert_done(self, eng, a, RESP)

    def test_T1_32_parity_error_gives_r_edc(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, P(ANS0)), (R0E, P("00 00")), (R0E, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_33_wrong_card_ns(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, ANS1), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)
        # An I-block while our chain waits for R(next) is invalid too
        eng = new_engine(ifsc=10)
        a, _ = exchange(self, eng, APDU28, [(C5[0], ANS0), (R0O, R1), (C5[1], R0), (C5[2], ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_34_r_next_while_not_chaining(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, R1), (R0O, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_35_wrong_s_response_resends_request(self):
        eng = new_engine()
        card = T1Card([("00 C1 01 FE 3E", "00 E2 00 E2"), ("00 C1 01 FE 3E", "00 E1 01 FE 1E")])
        eng.start_ifsd(0xFE)
        self.assertEqual((drive(eng, card), card.step, card.mismatch), (DONE, 2, -1))
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, R0), (I0, R0), (I0, R0), (RESYNCH, "00 E1 01 FE 1E"),
                                          (RESYNCH, RESYNCH_OK), (I0, ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_36_engine_timing_bgt_bwt_cwt_wtx(self):
        eng = new_engine()
        self.assertEqual((eng.bgt_etu, timing.BGT_ETU), (22, 22))
        self.assertEqual((eng.bwt_etu, eng.cwt_etu), (timing.bwt_etu(4, 1, 372), timing.cwt_etu(13)))
        self.assertEqual((eng.bwt_etu, eng.cwt_etu), (15371, 8203))
        eng.set_waits(bwi=2, cwi=5, f=512, d=8)
        self.assertEqual((eng.bwt_etu, eng.cwt_etu), (timing.bwt_etu(2, 8, 512), 43))
        eng.start_apdu(_hex(APDU), -1, bytearray(20))
        self.assertEqual((eng.action(), eng.tx_offset, eng.tx_count), (SEND, 0, 15))
        self.assertEqual(eng.on_sent(), RECEIVE)
        self.assertEqual(eng.wait_etu, eng.bwt_etu)
        self.assertEqual(eng.on_block(_hex("00 C3 01 05 C7"), 0, 5), SEND)
        self.assertEqual(eng.wait_etu, eng.bwt_etu)  # not yet: after S(WTX resp) is sent
        self.assertEqual(eng.on_sent(), RECEIVE)
        self.assertEqual((eng.wait_etu, eng.wtx_mult), (5 * eng.bwt_etu, 5))
        self.assertEqual(eng.on_timeout(), SEND)  # R(0, 2)
        self.assertEqual(bytes(eng.tx_buf[:eng.tx_count]).hex(), _hex(R0O).hex())
        self.assertEqual(eng.on_sent(), RECEIVE)
        self.assertEqual((eng.wait_etu, eng.wtx_mult), (eng.bwt_etu, 0))  # one shot
        # Clamp: BWI 9, D 64 and m = 255 stay a small int
        eng.bwt_etu = timing.bwt_etu(9, 64, 372)
        eng.on_block(_hex("00 C3 01 FF 3D"), 0, 5)
        eng.on_sent()
        self.assertEqual(eng.wait_etu, t1.WAIT_ETU_MAX)
        # Inputs out of turn are ignored
        self.assertEqual(eng.on_sent(), RECEIVE)
        self.assertEqual(eng.on_send_error(), RECEIVE)
        # Wire time: I(4) + I(2) with LRC, CGT 12 -> 7*12 + 22 + 6*12
        self.assertEqual(t1.exchange_min_etu(4, 2), 178)
        # Sc.5 (IFSC 10, 28 bytes) + 7-byte answer: blocks 14, R 4, 14, R 4, 12, then 11 chars
        self.assertEqual(t1.exchange_min_etu(28, 7, 10), 13 * 12 + 22 + 3 * 12 + 22 + 13 * 12 + 22 + 3 * 12 + 22
                         + 11 * 12 + 22 + 11 * 12)
        # Card chain of 2 blocks (IFSD 5), CRC, CGT 11
        self.assertEqual(t1.exchange_min_etu(4, 7, 32, 5, 2, 11), 8 * 11 + 22 + 9 * 11 + 22 + 4 * 11 + 22 + 7 * 11)

    def test_T1_37_crc_card_both_variants(self):
        for iso in (False, True):
            v = t1.CRC_ISO13239 if iso else t1.CRC_LIBCCID
            eng = new_engine(crc=True, variant=v)
            i0 = C("00 00 0B 00 A4 04 00 05 75 36 41 70 70 05", iso)
            ans = C("00 00 07 75 74 77 74 75 90 00", iso)
            a, _ = exchange(self, eng, APDU, [(i0, X(ans)), (C("00 81 00", iso), ans)])
            assert_done(self, eng, a, RESP)
            self.assertEqual(eng.expected_block_length(0, 0, 7), 12)
            # A block with the other variant's CRC is an EDC error
            other = C("00 40 02 90 00", not iso)
            a, _ = exchange(self, eng, "00 B0 00 00 00", [(C("00 40 05 00 B0 00 00 00", iso), other),
                                                          (C("00 91 00", iso), C("00 40 02 90 00", iso))])
            assert_done(self, eng, a, "90 00")
        # The §7.3 libccid-variant R-block
        eng = new_engine(crc=True)
        a, _ = exchange(self, eng, APDU, [(C("00 00 0B 00 A4 04 00 05 75 36 41 70 70 05"), None),
                                          ("00 82 00 86 4F", C("00 00 02 90 00"))])
        assert_done(self, eng, a, "90 00")

    def test_T1_38_empty_final_i_block_is_no_sw(self):
        eng = new_engine()
        a, _ = exchange(self, eng, APDU, [(I0, "00 00 00 00")])
        assert_error(self, eng, a, t1.NO_SW, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
        a, _ = exchange(self, eng, APDU, [(I1, L("00 60 01 90")), (R0, L("00 00 00"))])  # one byte in all
        assert_error(self, eng, a, t1.NO_SW, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
        a, _ = exchange(self, eng, APDU, [(I0, ANS1)])  # session fine
        assert_done(self, eng, a, RESP)

    def test_T1_39_ifsc_changed_mid_chain(self):
        eng = new_engine(ifsc=10)
        a, _ = exchange(self, eng, APDU28, [(C5[0], "00 C1 01 05 C5"), ("00 E1 01 05 E5", R1),
                                            (L("00 60 05 FF FF 00 00 00"), R0), (L("00 20 05 00 00 FF FF 00"), R1),
                                            (L("00 60 05 00 FF 00 FF 00"), R0), (L("00 00 03 FF 00 05"), ANS0)])
        assert_done(self, eng, a, RESP)
        # A NAK after the change retransmits the block with its original length
        eng = new_engine(ifsc=10)
        a, _ = exchange(self, eng, APDU28, [(C5[0], "00 C1 01 05 C5"), ("00 E1 01 05 E5", R0), (C5[0], R1),
                                            (L("00 60 05 FF FF 00 00 00"), R0), (L("00 20 05 00 00 FF FF 00"), R1),
                                            (L("00 60 05 00 FF 00 FF 00"), R0), (L("00 00 03 FF 00 05"), ANS0)])
        assert_done(self, eng, a, RESP)

    def test_T1_40_maximum_sizes_bounded_buffers(self):
        # IFSC = IFSD = 254; case 4E with Nc = 600 (609 bytes: 254 + 254 + 101); 1 002-byte answer
        eng = new_engine(ifsc=254, ifsd=254)
        data = bytes(range(256)) * 3
        apdu = _hex("00 DA 01 02 00 02 58") + data[:600] + _hex("04 00")
        resp_data = bytes(range(200)) * 5 + _hex("90 00")

        def blk(pcb, data):
            d = bytes([0, pcb, len(data)]) + data
            return d + bytes([_lrc(d)])

        fixed = [(blk(0x20, apdu[0:254]), R1), (blk(0x60, apdu[254:508]), R0),
                 (blk(0x00, apdu[508:609]), blk(0x20, resp_data[0:254])), (R1, blk(0x60, resp_data[254:508])),
                 (R0, blk(0x20, resp_data[508:762])), (R1, blk(0x40, resp_data[762:1002]))]
        a, _ = exchange(self, eng, apdu, fixed, resp_size=1002)
        self.assertEqual(a, DONE)
        self.assertEqual((eng.resp_length, bytes(eng.response()) == resp_data), (1002, True))
        # One byte less room: the chain is still acknowledged to its end, then OVERRUN (session in sync)
        eng = new_engine(ifsc=254, ifsd=254)
        a, _ = exchange(self, eng, apdu, fixed, resp_size=1001)
        assert_error(self, eng, a, t1.OVERRUN, ccid.ERR_XFR_OVERRUN)
        self.assertEqual((eng.ns, eng.nr), (1, 0))
        # The largest APDU (case 4E, 65 544 bytes = 258 blocks of 254 + 12) is chained in full
        eng = new_engine(ifsc=254)
        big = bytearray(t1.APDU_MAX)
        big[4:7] = _hex("00 FF FF")
        card = FixedAckCard()
        self.assertEqual(eng.start_apdu(big, -1, bytearray(2)), t1.NO_ERROR)
        self.assertEqual(drive_fixed(eng, card, 2000), DONE)
        self.assertEqual((card.blocks, card.inf_bytes, eng.sw), (259, t1.APDU_MAX, 0x9000))
        self.assertEqual(eng.start_apdu(bytearray(t1.APDU_MAX + 1), -1, bytearray(2)), t1.BAD_APDU)


class FixedCard:
    """Answers every reader block with the same block (a desynchronised card)."""

    def __init__(self, answer):
        self.answer = answer
        self.blocks = 0


class FixedAckCard:
    """Acknowledges every chained reader block, answers the last one with 90 00."""

    def __init__(self):
        self.blocks = 0
        self.inf_bytes = 0
        self.nr = 0
        self.ack = bytearray(4)
        self.final = bytearray(_hex("00 00 02 90 00 92"))
        self.answer = self.ack

    def on_block(self, buf, n):
        pcb = buf[1]
        self.inf_bytes += buf[2]
        self.nr = ((pcb >> 6) & 1) ^ 1
        if pcb & 0x20:
            self.ack[0] = 0
            self.ack[1] = 0x80 | (self.nr << 4)
            self.ack[2] = 0
            self.ack[3] = self.ack[1]
            self.answer = self.ack
        else:
            self.answer = self.final


def drive_fixed(eng, card, limit):
    n = 0
    while n < limit:
        n += 1
        a = eng.action()
        if a == SEND:
            card.blocks += 1
            if isinstance(card, FixedAckCard):
                card.on_block(eng.tx_buf, eng.tx_count)
            eng.on_sent()
        elif a == RECEIVE:
            eng.on_block(card.answer, 0, len(card.answer))
        else:
            return a
    return -2


class TestT1Vectors(unittest.TestCase):
    """iso7816-3.md §7.3."""

    def test_crc_check_values(self):
        self.assertEqual(t1.crc16(b"123456789", 0, 9, t1.CRC_LIBCCID), 0x6F91)
        self.assertEqual(t1.crc16(b"123456789", 0, 9, t1.CRC_ISO13239), 0x906E)
        self.assertEqual(t1.crc16(b"x123456789", 1, 10), 0x6F91)
        self.assertEqual(t1.CRC_DEFAULT, t1.CRC_LIBCCID)
        self.assertEqual(_crc_bits(b"123456789"), 0x6F91)

    def test_block_encodings(self):
        # (PCB, INF, LRC form, libccid CRC bytes)
        table = (
            (0xC0, "", "00 C0 00 C0", "F3 99"), (0xE0, "", "00 E0 00 E0", "D0 AA"),
            (0xC1, "FE", "00 C1 01 FE 3E", "54 4E"), (0xE1, "FE", "00 E1 01 FE 1E", "57 75"),
            (0xC2, "", "00 C2 00 C2", "C0 29"), (0xE2, "", "00 E2 00 E2", "E3 1A"),
            (0xC3, "02", "00 C3 01 02 C0", "DC 15"), (0xE3, "02", "00 E3 01 02 E0", "DF 2E"),
            (0x80, "", "00 80 00 80", "B5 FF"), (0x90, "", "00 90 00 90", "20 6E"),
            (0x81, "", "00 81 00 81", "AC 27"), (0x91, "", "00 91 00 91", "39 B6"),
            (0x82, "", "00 82 00 82", "86 4F"), (0x92, "", "00 92 00 92", "13 DE"),
            (0x00, "90 00", "00 00 02 90 00 92", "9C 6D"), (0x40, "90 00", "00 40 02 90 00 D2", "8A DA"),
        )
        buf = bytearray(t1.BLOCK_MAX)
        for pcb, inf, lrc_form, crc in table:
            d = _hex(inf)
            n = t1.encode_block(buf, 0, pcb, d, 0, len(d))
            self.assertEqual(bytes(buf[:n]).hex(), _hex(lrc_form).hex())
            self.assertTrue(t1.check_edc(buf, 0, n - 1, False))
            n = t1.encode_block(buf, 0, pcb, d, 0, len(d), True, t1.CRC_LIBCCID)
            self.assertEqual(bytes(buf[:n]).hex(), (_hex(lrc_form)[:-1] + _hex(crc)).hex())
            self.assertTrue(t1.check_edc(buf, 0, n - 2, True, t1.CRC_LIBCCID))
            self.assertFalse(t1.check_edc(buf, 0, n - 2, True, t1.CRC_ISO13239))
            # ISO 13239 form: complement, low byte first
            c = ((_hex(crc)[0] << 8) | _hex(crc)[1]) ^ 0xFFFF
            n = t1.encode_block(buf, 0, pcb, d, 0, len(d), True, t1.CRC_ISO13239)
            self.assertEqual(bytes(buf[n - 2:n]).hex(), bytes([c & 0xFF, c >> 8]).hex())
            self.assertTrue(t1.check_edc(buf, 0, n - 2, True, t1.CRC_ISO13239))
        self.assertEqual(t1.edc_length(False), 1)
        self.assertEqual(t1.edc_length(True), 2)
        self.assertEqual(t1.swap_nibbles(0x12), 0x21)

    def test_further_anssi_blocks(self):
        buf = bytearray(t1.BLOCK_MAX)
        for text in ("00 00 0F 00 A4 04 00 0A 45 75 74 77 74 75 36 41 70 70 E0",
                     "00 40 0F 00 A4 04 00 0A 45 75 74 77 74 75 36 41 70 70 A0", "00 00 05 00 A4 04 00 05 A0",
                     "00 00 02 6A 82 EA", "00 00 02 90 00 92", "00 40 02 90 00 D2"):
            blk = _hex(text)
            n = t1.encode_block(buf, blk[0], blk[1], blk, 3, blk[2])
            self.assertEqual(bytes(buf[:n]).hex(), blk.hex())

    def test_trace_vectors(self):
        records = _paths.read_jsonl("t1.jsonl")
        self.assertTrue(len(records) >= 10)
        for rec in records:
            eng = new_engine(rec.get("ifsc", 32), rec.get("ifsd", 32), rec.get("crc", False))
            eng.ns = rec.get("ns", 0)
            eng.nr = rec.get("nr", 0)
            steps = [(s[0], s[1]) for s in rec["steps"]]
            card = T1Card(steps)
            resp = bytearray(300)
            if "ifsd_req" in rec:
                eng.start_ifsd(rec["ifsd_req"])
            else:
                eng.start_apdu(_hex(rec["apdu"]), -1, resp)
            a = drive(eng, card)
            name = rec["name"]
            self.assertEqual((card.mismatch, card.step), (-1, card.nsteps), "%s: reader sent %s" % (name, card.sent))
            if "response" in rec:
                self.assertEqual(a, DONE, name)
                self.assertEqual(bytes(eng.response()).hex(), _hex(rec["response"]).hex(), name)
            elif "ifsd" in rec:
                self.assertEqual((a, eng.ifsd), (DONE, rec["ifsd"]), name)
            else:
                self.assertEqual((a, eng.error), (ERROR, rec["error"]), name)


class TestT1Units(unittest.TestCase):
    def test_ccid_error_mapping(self):
        m = {
            t1.NO_ERROR: 0, t1.MUTE: 0xFE, t1.DEAD_MUTE: 0xFE, t1.NEEDS_RESET: 0xFE, t1.DEAD_PARITY: 0xFD,
            t1.DEAD_PROTOCOL: 0xF4, t1.LOOP_LIMIT: 0xF4, t1.IFS_FAILED: 0xF4, t1.NO_SW: 0xF4, t1.ABORTED: 0xFF,
            t1.OVERRUN: 0xFC, t1.SEND_FAILED: 0xFB, t1.BAD_APDU: 0x00, t1.BAD_PARAM: 0x00, t1.NOT_STARTED: 0x00,
        }
        for code in m:
            self.assertEqual(t1.ccid_error(code), m[code], "code %d" % code)
        self.assertEqual(len(m), 15)
        for code in (t1.DEAD_MUTE, t1.DEAD_PARITY, t1.DEAD_PROTOCOL, t1.LOOP_LIMIT, t1.SEND_FAILED, t1.NEEDS_RESET):
            self.assertTrue(t1.needs_deactivation(code))
        for code in (t1.ABORTED, t1.OVERRUN, t1.NO_SW, t1.MUTE, t1.IFS_FAILED):
            self.assertFalse(t1.needs_deactivation(code))

    def test_start_refusals(self):
        eng = new_engine()
        self.assertEqual(eng.start_apdu(b"", -1, bytearray(4)), t1.BAD_APDU)
        self.assertEqual((eng.action(), t1.ccid_error(eng.error)), (ERROR, 0))
        self.assertEqual(eng.start_apdu(_hex(APDU), 20, bytearray(4)), t1.BAD_APDU)
        self.assertEqual(eng.start_apdu(_hex(APDU), -1, None), t1.OVERRUN)
        self.assertEqual(eng.start_apdu(_hex(APDU), -1, bytearray(1)), t1.OVERRUN)
        self.assertEqual(eng.start_apdu(_hex(APDU), -1, bytearray(10), 1), t1.OVERRUN)
        self.assertEqual(eng.configure(0, 32), t1.BAD_PARAM)
        self.assertEqual(eng.configure(32, 255), t1.BAD_PARAM)
        eng = T1Engine()
        self.assertEqual((eng.action(), eng.on_timeout(), eng.on_block(b"\x00\x00\x00\x00", 0, 4)), (0, 0, 0))

    def test_send_error_is_dead(self):
        eng = new_engine()
        eng.start_apdu(_hex(APDU), -1, bytearray(10))
        self.assertEqual(eng.on_send_error(), ERROR)
        self.assertEqual((eng.error, eng.dead, t1.ccid_error(eng.error)), (t1.SEND_FAILED, True, 0xFB))

    def test_block_limit(self):
        eng = new_engine()
        eng.start_apdu(_hex(APDU), -1, bytearray(10))
        self.assertEqual(eng.block_limit, t1.BLOCK_LIMIT_BASE + t1.BLOCK_LIMIT_PER_BYTE * (11 + 10))
        # A card that chains empty I-blocks forever is stopped by the bound
        eng.on_sent()
        blk = bytearray(_hex("00 20 00 20"))
        n = 0
        while eng.action() != ERROR and n < 10000:
            n += 1
            blk[1] = 0x20 | (eng.nr << 6)
            blk[3] = blk[1]
            eng.on_block(blk, 0, 4)
            if eng.action() == SEND:
                eng.on_sent()
        assert_error(self, eng, eng.action(), t1.LOOP_LIMIT, 0xF4, dead=True)
        self.assertEqual(eng.blocks, eng.block_limit + 1)

    def test_offset_into_driver_buffer(self):
        eng = new_engine()
        eng.start_apdu(_hex(APDU), -1, bytearray(10))
        eng.on_sent()
        rb = eng.rx_buf
        ans = _hex(ANS0)
        for i in range(len(ans)):
            rb[5 + i] = ans[i]
        self.assertEqual(eng.on_block(rb, 5, len(ans)), DONE)
        self.assertEqual(bytes(eng.response()).hex(), _hex(RESP).hex())
        self.assertEqual(len(eng.rx_buf), 260)


class TestT1Fuzz(unittest.TestCase):
    """Never assert on card input (iso7816-3.md §8.2): random cards always end in DONE or ERROR, within the bound."""

    def test_random_card_blocks_always_terminate(self):
        pcbs = _hex("00 40 20 60 80 90 81 91 82 92 C0 E0 C1 E1 C2 E2 C3 E3 01 A0 FF")
        eng = T1Engine()
        buf = bytearray(t1.RX_MAX)
        apdus = (_hex(APDU), _hex(APDU28), _hex("00 B0 00 00 00"))
        x = 4242
        total = 0
        for it in range(250):
            if eng.dead or it % 50 == 0:
                eng.configure(5 + it % 40, 8 + it % 30, it % 3 == 0, it % 2, 0)
            apdu = apdus[it % 3]
            eng.start_apdu(apdu, -1, bytearray(40))
            a = eng.action()
            replies = 0
            while a == SEND or a == RECEIVE:
                total += 1
                self.assertTrue(eng.blocks <= eng.block_limit + 1)
                if a == SEND:
                    self.assertTrue(4 <= eng.tx_count <= 3 + 254 + 2)
                    a = eng.on_sent()
                    continue
                replies += 1
                x = (x * 1103515245 + 12345) & 0x3FFFFFFF
                r = x >> 8
                if replies > 40 or r % 11 == 0:
                    a = eng.on_timeout()
                    continue
                pcb = pcbs[r % len(pcbs)]
                ln = (r >> 5) % 6
                if pcb & 0xC0 == 0xC0:
                    ln = 1 if pcb & 1 else 0
                elif pcb & 0xC0 == 0x80:
                    ln = 0
                buf[0] = 0
                buf[1] = pcb
                buf[2] = ln
                for i in range(ln):
                    buf[3 + i] = (r >> i) & 0xFF
                n = t1.put_edc(buf, 0, 3 + ln, eng.edc_crc, eng.crc_variant)
                if r % 7 == 0:
                    buf[(r >> 3) % n] ^= 1 << (r % 8)
                if r % 13 == 0:
                    n = (r >> 4) % (n + 1)
                a = eng.on_block(buf, 0, n, r % 17 == 0)
            self.assertTrue(a == DONE or a == ERROR, "iteration %d: action %d" % (it, a))
            if a == ERROR:
                self.assertTrue(eng.error != t1.NO_ERROR)
                self.assertTrue(t1.ccid_error(eng.error) in (0xFE, 0xFD, 0xFC, 0xF4, 0xFF))
            else:
                self.assertTrue(2 <= eng.resp_length <= 40)
        self.assertTrue(total > 1000)


class TestNoAllocation(unittest.TestCase):
    @unittest.skipIf(not _HEAP_LOCK, "micropython.heap_lock only on MicroPython")
    def test_chained_exchanges_allocate_nothing(self):
        eng = new_engine(ifsc=10)
        resp = bytearray(64)
        scripts = (
            (_hex(APDU28), T1Card([(C5[0], R1), (C5[1], R0), (C5[2], L("00 20 03 01 02 03")),
                                   (R1, L("00 40 02 90 00"))], record=False)),
            (_hex(APDU28), T1Card([(L("00 60 0A 00 A4 04 00 16 75 36 41 70 70"), X(R0)), (R0E, R0),
                                   (L("00 20 0A FF FF 00 00 00 00 00 FF FF 00"), "00 C3 01 02 C0"),
                                   ("00 E3 01 02 E0", R1),
                                   (L("00 40 08 00 FF 00 FF 00 FF 00 05"), "00 C1 01 10 D0"),
                                   ("00 E1 01 10 F0", None), (R0O, L("00 00 02 90 00"))], record=False)),
            (_hex(APDU), T1Card([(L("00 00 0B 00 A4 04 00 05 75 36 41 70 70 05"), R0),
                                 (L("00 00 0B 00 A4 04 00 05 75 36 41 70 70 05"), R0),
                                 (L("00 00 0B 00 A4 04 00 05 75 36 41 70 70 05"), R0),
                                 (RESYNCH, RESYNCH_OK), (L("00 20 0A 00 A4 04 00 05 75 36 41 70 70"), R1),
                                 (L("00 40 01 05"), ANS0)], record=False)),
        )
        results = bytearray(len(scripts))
        micropython.heap_lock()
        try:
            for k in range(len(scripts)):
                apdu, card = scripts[k]
                eng.start_apdu(apdu, -1, resp)
                results[k] = drive(eng, card) & 0xFF
        finally:
            micropython.heap_unlock()
        for k in range(len(scripts)):
            card = scripts[k][1]
            self.assertEqual((results[k], card.mismatch, card.step), (DONE, -1, card.nsteps), "script %d" % k)
        self.assertEqual(bytes(eng.response()).hex(), _hex(RESP).hex())
