"""ISO 7816-3 T=0: TPDU engine and APDU -> TPDU mapping; runs on CPython and MicroPython.

A tiny scripted card (`ScriptedCard`) answers what the engine SENDs: a list of steps
(bytes the reader must send, bytes the card answers). `drive` plays the slot driver
of the action protocol (t0 module docstring): SEND -> the card gets the bytes, then
on_sent(); RECEIVE -> the next card byte, or on_timeout() when the card has nothing
more to say. Every test asserts the exact bytes the reader sent (the script must be
consumed exactly, nothing more) and the exact result.

One test per engine-level row of iso7816-3.md §6.3 (T0-1 .. T0-27, T0-32 .. T0-34),
named after it; T0-28 .. T0-31 are port-level rows, only the engine's part is tested
(test_T0_28_engine_..). Then the §7.4 vectors (ANSSI cases, EMV CIS Annex A2-A7), unit
checks (apdu_case, ccid_error, refusals, wire-time accounting), and a heap_lock test
(MicroPython only) proving the byte path allocates nothing.
"""

import unittest

from cpsdi_fw.iso7816_3 import t0
from cpsdi_fw.iso7816_3.t0 import DONE, ERROR, RECEIVE, SEND, T0APDU, T0TPDU
from cpsdi_proto import ccid

try:
    import micropython

    _HEAP_LOCK = hasattr(micropython, "heap_lock")
except ImportError:
    _HEAP_LOCK = False


def _hex(text):
    return bytes.fromhex(text.replace(" ", ""))


def _b(x):
    if isinstance(x, str):
        return _hex(x)
    return bytes(x)


def _seq(n, first=0):
    """n distinct-looking data bytes (first, first + 1, ... mod 256)."""
    out = bytearray(n)
    for i in range(n):
        out[i] = (first + i) & 0xFF
    return bytes(out)


# EMV CIS Annex A / iso7816-3.md §7.4
PSE = b"1PAY.SYS.DDF01"  # 14 bytes
SELECT_PSE_4 = _hex("00 A4 04 00 0E") + PSE + b"\x00"  # case 4S, Le = 00


class ScriptedCard:
    """Card side of a T=0 dialogue; allocation-free once built (used under heap_lock).

    ``steps``: sequence of (reader bytes, card bytes), hex strings or bytes. When the
    reader has sent exactly the bytes of the current step, that step's card bytes
    become available to the driver. ``mismatch_at`` = index of the first reader byte
    that differs from the script (-1: none); ``sent`` keeps what the reader sent.
    """

    def __init__(self, steps, sent_cap=2048):
        reader = bytearray()
        out = bytearray()
        self.reader_ends = []
        self.card_ends = []
        for r, c in steps:
            reader.extend(_b(r))
            out.extend(_b(c))
            self.reader_ends.append(len(reader))
            self.card_ends.append(len(out))
        self.reader = bytes(reader)
        self.out = bytes(out)
        self.nsteps = len(self.reader_ends)
        self.sent = bytearray(sent_cap)
        self.sent_cap = sent_cap
        self.rpos = 0
        self.step = 0
        self.avail = 0
        self.cpos = 0
        self.timeouts = 0
        self.mismatch_at = -1

    def receive(self, b):
        r = self.rpos
        if r < self.sent_cap:
            self.sent[r] = b
        if self.mismatch_at < 0 and (r >= len(self.reader) or self.reader[r] != b):
            self.mismatch_at = r
        r += 1
        self.rpos = r
        while self.step < self.nsteps and r == self.reader_ends[self.step]:
            self.avail = self.card_ends[self.step]
            self.step += 1

    def sent_hex(self):
        n = self.rpos if self.rpos < self.sent_cap else self.sent_cap
        return bytes(self.sent[:n]).hex()


def drive(eng, card, parity_at=-1, limit=1000000):
    """The slot driver: run the engine against the card until DONE/ERROR; returns the action."""
    n = 0
    while n < limit:
        n += 1
        a = eng.action()
        if a == SEND:
            buf = eng.tx_buf
            off = eng.tx_offset
            for i in range(eng.tx_count):
                card.receive(buf[off + i])
            eng.on_sent()
        elif a == RECEIVE:
            i = card.cpos
            if i < card.avail:
                card.cpos = i + 1
                eng.feed(card.out[i], i == parity_at)
            else:
                card.timeouts += 1
                eng.on_timeout()
        else:
            return a
    return -1


def check_script(tc, card, all_delivered=True):
    """The reader sent exactly the scripted bytes (and the card said all it had to)."""
    tc.assertEqual(card.mismatch_at, -1, "reader sent %s, script %s" % (card.sent_hex(), card.reader.hex()))
    tc.assertEqual(card.rpos, len(card.reader), "reader sent %s, script %s" % (card.sent_hex(), card.reader.hex()))
    if all_delivered:
        tc.assertEqual(card.cpos, len(card.out), "card bytes left undelivered")


def run_apdu(apdu, steps, resp_size=300, parity_at=-1, **kw):
    eng = T0APDU(**kw)
    resp = bytearray(resp_size)
    card = ScriptedCard(steps)
    err = eng.start(_b(apdu), -1, resp)
    action = drive(eng, card, parity_at) if err == t0.NO_ERROR else eng.action()
    return eng, card, action


def run_tpdu(tpdu, steps, resp_size=300, parity_at=-1, **kw):
    eng = T0TPDU(**kw)
    resp = bytearray(resp_size)
    card = ScriptedCard(steps)
    err = eng.start_tpdu(_b(tpdu), -1, resp)
    action = drive(eng, card, parity_at) if err == t0.NO_ERROR else eng.action()
    return eng, card, action, resp


def assert_response(tc, eng, action, expected):
    tc.assertEqual(action, DONE, "error %d" % eng.error)
    tc.assertEqual(bytes(eng.response()).hex(), _b(expected).hex())


def assert_error(tc, eng, action, code, bError):
    tc.assertEqual(action, ERROR)
    tc.assertEqual(eng.error, code)
    tc.assertEqual(t0.ccid_error(eng.error), bError)


class TestT0Rows(unittest.TestCase):
    """iso7816-3.md §6.3, one test per engine-level row."""

    def test_T0_1_case1_returns_9000(self):
        eng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", "90 00")])
        check_script(self, card)
        assert_response(self, eng, a, "90 00")
        self.assertEqual((eng.case, eng.data_length, eng.sw, eng.tpdus), (t0.CASE_1, 0, 0x9000, 1))
        # TPDU level, raw CCID TPDU
        teng, card, a, _ = run_tpdu("00 A4 04 00 00", [("00 A4 04 00 00", "90 00")])
        check_script(self, card)
        self.assertEqual((a, teng.sw1, teng.sw2, teng.rx_length), (DONE, 0x90, 0x00, 0))

    def test_T0_2_null_bytes_restart_wt(self):
        eng = T0TPDU(wt_etu=9600)
        self.assertEqual(eng.start(_hex("00 A4 04 00 00"), 0, 0), t0.NO_ERROR)
        self.assertEqual((eng.action(), eng.tx_count), (SEND, 5))
        self.assertEqual(eng.on_sent(), RECEIVE)
        for _ in range(2):
            self.assertEqual(eng.feed(0x60), RECEIVE)  # keep waiting: WT restarts with the character
            self.assertEqual((eng.rx_count, eng.timeout_etu), (1, 9600))
        self.assertEqual(eng.feed(0x90), RECEIVE)
        self.assertEqual(eng.feed(0x00), DONE)
        self.assertEqual((eng.sw, eng.null_count), (0x9000, 2))
        aeng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", "60 60 90 00")])
        check_script(self, card)
        assert_response(self, aeng, a, "90 00")
        self.assertEqual(aeng.tpdu.null_count, 2)

    def test_T0_3_null_storm_bounded_by_a_large_cap(self):
        self.assertEqual(t0.NULL_LIMIT_DEFAULT, 65535)
        storm = b"\x60" * 5000  # far beyond oscam's 200
        eng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", storm + b"\x90\x00")])
        check_script(self, card)
        assert_response(self, eng, a, "90 00")
        self.assertEqual(eng.tpdu.null_count, 5000)
        # Configurable cap: exactly null_limit NULLs in a row are fine, one more is an error
        eng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", b"\x60" * 100 + b"\x90\x00")], null_limit=100)
        assert_response(self, eng, a, "90 00")
        eng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", b"\x60" * 101 + b"\x90\x00")], null_limit=100)
        assert_error(self, eng, a, t0.TOO_MANY_NULLS, ccid.ERR_ICC_MUTE)
        self.assertEqual(card.cpos, 101)  # stopped at the 101st NULL
        # The counter restarts on progress (an ACK): 100 NULLs before and after each single-byte ACK
        nulls = b"\x60" * 100
        steps = [("00 B0 00 00 02", nulls + b"\x4f\x11" + nulls + b"\x4f\x22" + nulls + b"\x90\x00")]
        eng, card, a = run_apdu("00 B0 00 00 02", steps, null_limit=100)
        check_script(self, card)
        assert_response(self, eng, a, "11 22 90 00")

    def test_T0_4_silence_after_header_is_icc_mute(self):
        eng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", "")])
        check_script(self, card)
        assert_error(self, eng, a, t0.MUTE, ccid.ERR_ICC_MUTE)
        self.assertEqual(card.timeouts, 1)
        # Silence before SW2, and inside a data phase with fewer than 2 bytes: also mute
        eng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", "90")])
        assert_error(self, eng, a, t0.MUTE, ccid.ERR_ICC_MUTE)
        eng, card, a = run_apdu("00 B0 00 00 04", [("00 B0 00 00 04", "B0 6A")])
        assert_error(self, eng, a, t0.MUTE, ccid.ERR_ICC_MUTE)
        # on_timeout while sending changes nothing (the driver only times RECEIVE)
        e = T0TPDU()
        e.start(_hex("00 A4 04 00 00"), 0, 0)
        self.assertEqual(e.on_timeout(), SEND)

    def test_T0_5_invalid_procedure_byte_is_protocol_error(self):
        eng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", "10 90 00")])
        assert_error(self, eng, a, t0.BAD_PROCEDURE, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
        self.assertEqual(card.cpos, 1)
        self.assertEqual(eng.feed(0x90), ERROR)  # stays in ERROR, sends nothing more
        self.assertEqual(eng.tx_count, 0)
        # Every value as first procedure byte of a case 3 TPDU (INS A4): classified, never a crash
        e = T0TPDU()
        hdr = _hex("00 A4 04 00 01")
        for b in range(256):
            self.assertEqual(e.start(hdr, 1, 0, b"\x55"), t0.NO_ERROR)
            e.on_sent()
            got = e.feed(b)
            if b == 0x60 or t0.is_sw1(b):
                want = RECEIVE
            elif b == 0xA4 or b == 0x5B:
                want = SEND
            else:
                want = ERROR
            self.assertEqual(got, want, "procedure byte %02x" % b)
            if want == ERROR:
                self.assertEqual(e.error, t0.BAD_PROCEDURE)

    def test_T0_6_case2s1_returns_data_and_9000(self):
        eng, card, a = run_apdu("00 A4 04 00 05", [("00 A4 04 00 05", "A4 45 75 74 77 74 90 00")])
        check_script(self, card)
        assert_response(self, eng, a, "45 75 74 77 74 90 00")
        self.assertEqual((eng.case, eng.ne, eng.data_length), (t0.CASE_2S, 5, 5))

    def test_T0_7_le_00_expects_256_bytes(self):
        data = _seq(256, 3)
        eng, card, a = run_apdu("00 B0 00 00 00", [("00 B0 00 00 00", b"\xb0" + data + b"\x90\x00")])
        check_script(self, card)
        assert_response(self, eng, a, data + b"\x90\x00")
        self.assertEqual((eng.ne, eng.tpdu.ne, eng.tpdu.rx_length), (256, 256, 256))

    def test_T0_8_le_01_single_byte_read(self):
        for proc in ("B0", "4F"):  # INS ACK, INS xor FF
            eng, card, a = run_apdu("00 B0 00 00 01", [("00 B0 00 00 01", proc + " 5A 90 00")])
            check_script(self, card)
            assert_response(self, eng, a, "5A 90 00")

    def test_T0_9_case2s2_error_sw_without_data(self):
        eng, card, a = run_apdu("00 A4 04 00 05", [("00 A4 04 00 05", "67 00")])
        check_script(self, card)
        assert_response(self, eng, a, "67 00")
        self.assertEqual(eng.data_length, 0)

    def test_T0_10_6cxx_reissue_with_p3_xx(self):
        steps = [("00 A4 04 00 05", "6C 03"), ("00 A4 04 00 03", "A4 45 75 74 90 00")]
        eng, card, a = run_apdu("00 A4 04 00 05", steps)
        check_script(self, card)
        assert_response(self, eng, a, "45 75 74 90 00")
        self.assertEqual((eng.tpdus, eng.followups), (2, 1))

    def test_T0_11_6cxx_larger_than_ne_returns_first_ne_bytes(self):
        steps = [("00 A4 04 00 05", "6C 06"), ("00 A4 04 00 06", "A4 45 75 74 77 74 99 90 00")]
        eng, card, a = run_apdu("00 A4 04 00 05", steps)
        check_script(self, card)
        assert_response(self, eng, a, "45 75 74 77 74 90 00")
        self.assertEqual((eng.tpdu.rx_length, eng.tpdu.stored()), (6, 5))

    def test_T0_12_case2_61xx_get_response_loop_concatenates(self):
        d1 = _seq(8, 0x10)
        d2 = _seq(8, 0x20)
        steps = [
            ("00 B2 01 0C 10", "61 08"),
            ("00 C0 00 00 08", b"\xc0" + d1 + b"\x61\x08"),
            ("00 C0 00 00 08", b"\xc0" + d2 + b"\x90\x00"),
        ]
        eng, card, a = run_apdu("00 B2 01 0C 10", steps)
        check_script(self, card)
        assert_response(self, eng, a, d1 + d2 + b"\x90\x00")
        self.assertEqual(eng.followups, 2)

    def test_T0_13_case3s_data_after_ack(self):
        eng, card, a = run_apdu("00 A4 04 00 05 45 75 74 77 74", [("00 A4 04 00 05", "A4"), ("45 75 74 77 74", "90 00")])
        check_script(self, card)
        assert_response(self, eng, a, "90 00")
        self.assertEqual((eng.case, eng.tpdu.tx_done), (t0.CASE_3S, 5))

    def test_T0_14_case3_early_error_sends_no_data(self):
        eng, card, a = run_apdu("00 A4 04 00 05 45 75 74 77 74", [("00 A4 04 00 05", "6A 82")])
        check_script(self, card)  # only the header went out
        assert_response(self, eng, a, "6A 82")
        self.assertEqual(eng.tpdu.tx_done, 0)

    def test_T0_15_ins_xor_ff_single_bytes_mixed_with_ins(self):
        # To the card: 5B -> 1 byte, NULL, 5B -> 1 byte, A4 -> only the 3 remaining
        steps = [("00 A4 04 00 05", "5B"), ("45", "60 5B"), ("75", "A4"), ("74 77 74", "90 00")]
        eng, card, a = run_apdu("00 A4 04 00 05 45 75 74 77 74", steps)
        check_script(self, card)
        assert_response(self, eng, a, "90 00")
        self.assertEqual((eng.tpdu.tx_done, eng.tpdu.acks), (5, 3))
        # From the card: 4F d0, 4F d1, B0 d2 d3 d4
        steps = [("00 B0 00 00 05", "4F 01 4F 02 60 B0 03 04 05 90 00")]
        eng, card, a = run_apdu("00 B0 00 00 05", steps)
        check_script(self, card)
        assert_response(self, eng, a, "01 02 03 04 05 90 00")
        # INS then INS xor FF after everything went: nothing left -> protocol error, nothing resent
        steps = [("00 A4 04 00 02", "A4"), ("45 75", "5B")]
        eng, card, a = run_apdu("00 A4 04 00 02 45 75", steps)
        check_script(self, card)
        assert_error(self, eng, a, t0.BAD_PROCEDURE, ccid.ERR_PROCEDURE_BYTE_CONFLICT)

    def test_T0_16_sw1_in_the_middle_of_the_data_phase(self):
        # Byte by byte: SW1 instead of the next INS xor FF
        eng, card, a = run_apdu("00 B0 00 00 05", [("00 B0 00 00 05", "4F 01 6A 82")])
        check_script(self, card)
        assert_response(self, eng, a, "01 6A 82")
        self.assertFalse(eng.tpdu.early_sw)
        # To the card, byte by byte: the rest of the data is not sent
        steps = [("00 A4 04 00 05", "5B"), ("45", "65 81")]
        eng, card, a = run_apdu("00 A4 04 00 05 45 75 74 77 74", steps)
        check_script(self, card)
        assert_response(self, eng, a, "65 81")
        self.assertEqual(eng.tpdu.tx_done, 1)
        # After an INS ACK: two data bytes, then SW1 SW2, then silence -> SW recognised at WT expiry
        eng, card, a = run_apdu("00 B0 00 00 05", [("00 B0 00 00 05", "B0 01 02 6A 82")])
        check_script(self, card)
        assert_response(self, eng, a, "01 02 6A 82")
        self.assertTrue(eng.tpdu.early_sw)
        self.assertEqual((eng.tpdu.rx_length, card.timeouts), (2, 1))
        # ... SW instead of any data
        eng, card, a = run_apdu("00 B0 00 00 05", [("00 B0 00 00 05", "B0 69 86")])
        assert_response(self, eng, a, "69 86")
        # ... but silence after bytes that end with no SW1 in place is mute
        eng, card, a = run_apdu("00 B0 00 00 05", [("00 B0 00 00 05", "B0 01 02 03")])
        assert_error(self, eng, a, t0.MUTE, ccid.ERR_ICC_MUTE)
        eng, card, a = run_apdu("00 B0 00 00 05", [("00 B0 00 00 05", "B0 60 00")])  # 60 is NULL, not SW1
        assert_error(self, eng, a, t0.MUTE, ccid.ERR_ICC_MUTE)

    def test_T0_17_null_after_data_phase_before_sw1(self):
        eng, card, a = run_apdu("00 B0 00 00 02", [("00 B0 00 00 02", "B0 11 22 60 60 60 90 00")])
        check_script(self, card)
        assert_response(self, eng, a, "11 22 90 00")
        steps = [("00 D6 00 00 02", "D6"), ("11 22", "60 60 90 00")]
        eng, card, a = run_apdu("00 D6 00 00 02 11 22", steps)
        check_script(self, card)
        assert_response(self, eng, a, "90 00")

    def test_T0_18_case4s1_error_after_data_no_get_response(self):
        steps = [("00 A4 04 00 05", "A4"), ("45 75 74 77 74", "64 00")]
        eng, card, a = run_apdu("00 A4 04 00 05 45 75 74 77 74 00", steps)
        check_script(self, card)  # no GET RESPONSE
        assert_response(self, eng, a, "64 00")
        self.assertEqual((eng.case, eng.ne, eng.tpdus), (t0.CASE_4S, 256, 1))

    def test_T0_19_case4s_61xx_get_response_loop(self):
        part1 = _seq(0x26, 0x40)
        part2 = _seq(0x14, 0x80)
        steps = [
            ("00 A4 04 00 0E", "A4"),
            (PSE, "61 26"),
            ("00 C0 00 00 26", b"\xc0" + part1 + b"\x61\x14"),
            ("00 C0 00 00 14", b"\xc0" + part2 + b"\x90\x00"),
        ]
        eng, card, a = run_apdu(SELECT_PSE_4, steps)
        check_script(self, card)
        assert_response(self, eng, a, part1 + part2 + b"\x90\x00")
        self.assertEqual((eng.tpdus, eng.data_length), (3, 0x26 + 0x14))

    def test_T0_20_case4s_9000_without_data_policy(self):
        apdu = "00 A4 04 00 05 45 75 74 77 74 10"
        # Default (EMV): 9000 is final
        self.assertEqual(T0APDU().case4_policy, t0.CASE4_FINISH)
        eng, card, a = run_apdu(apdu, [("00 A4 04 00 05", "A4"), ("45 75 74 77 74", "90 00")])
        check_script(self, card)
        assert_response(self, eng, a, "90 00")
        # ANSSI 4S.2: GET RESPONSE with P3 = Le
        data = _seq(0x10, 0xA0)
        steps = [("00 A4 04 00 05", "A4"), ("45 75 74 77 74", "90 00"), ("00 C0 00 00 10", b"\xc0" + data + b"\x90\x00")]
        eng, card, a = run_apdu(apdu, steps, case4_policy=t0.CASE4_GET_RESPONSE)
        check_script(self, card)
        assert_response(self, eng, a, data + b"\x90\x00")
        # ANSSI policy, card refuses the GET RESPONSE: still 9000, no data
        steps = [("00 A4 04 00 05", "A4"), ("45 75 74 77 74", "90 00"), ("00 C0 00 00 10", "6A 86")]
        eng, card, a = run_apdu(apdu, steps, case4_policy=t0.CASE4_GET_RESPONSE)
        check_script(self, card)
        assert_response(self, eng, a, "90 00")

    def test_T0_21_case4_warning_then_6c_reports_original_warning(self):
        data = _seq(0x26, 0x30)
        steps = [
            ("00 A4 04 00 0E", "A4"),
            (PSE, "62 86"),
            ("00 C0 00 00 00", "6C 26"),
            ("00 C0 00 00 26", b"\xc0" + data + b"\x90\x00"),
        ]
        eng, card, a = run_apdu(SELECT_PSE_4, steps)
        check_script(self, card)
        assert_response(self, eng, a, data + b"\x62\x86")
        # GET RESPONSE refused: the warning, without data
        steps = [("00 A4 04 00 0E", "A4"), (PSE, "63 C2"), ("00 C0 00 00 00", "6A 82")]
        eng, card, a = run_apdu(SELECT_PSE_4, steps)
        check_script(self, card)
        assert_response(self, eng, a, "63 C2")

    def test_T0_22_get_response_data_with_warning(self):
        data = _seq(0x26, 0x50)
        steps = [("00 A4 04 00 0E", "A4"), (PSE, "61 26"), ("00 C0 00 00 26", b"\xc0" + data + b"\x62\x86")]
        eng, card, a = run_apdu(SELECT_PSE_4, steps)
        check_script(self, card)
        assert_response(self, eng, a, data + b"\x62\x86")

    def test_T0_23_61xx_6cxx_on_case1_and_case3_are_errors(self):
        for sw in ("61 10", "6C 10"):
            eng, card, a = run_apdu("00 44 00 00", [("00 44 00 00 00", sw)])
            check_script(self, card)
            assert_error(self, eng, a, t0.SW_NOT_ALLOWED, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
            eng, card, a = run_apdu("00 D6 00 00 01 AA", [("00 D6 00 00 01", "D6"), ("AA", sw)])
            check_script(self, card)
            assert_error(self, eng, a, t0.SW_NOT_ALLOWED, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
        # 6Cxx to a case 4 command phase cannot be re-issued either
        eng, card, a = run_apdu("00 88 00 00 01 AA 00", [("00 88 00 00 01", "88"), ("AA", "6C 10")])
        assert_error(self, eng, a, t0.SW_NOT_ALLOWED, ccid.ERR_PROCEDURE_BYTE_CONFLICT)

    def test_T0_24_ins_6x_9x_refused_before_sending(self):
        resp = bytearray(8)
        for hi in (0x60, 0x90):
            for lo in range(16):
                ins = hi | lo
                eng = T0APDU()
                self.assertEqual(eng.start(bytes((0x00, ins, 0, 0)), -1, resp), t0.BAD_INS)
                self.assertEqual((eng.action(), eng.tx_count), (ERROR, 0))
                self.assertEqual(t0.ccid_error(eng.error), ccid.ERR_CMD_NOT_SUPPORTED)
                te = T0TPDU()
                self.assertEqual(te.start(bytes((0x00, ins, 0, 0, 0)), 0, 0), t0.BAD_INS)
                self.assertEqual((te.action(), te.tx_count), (ERROR, 0))
        self.assertTrue(t0.ins_valid(0xA4) and t0.ins_valid(0x5F) and t0.ins_valid(0xA0))

    def test_T0_25_odd_ins_ack_is_ins(self):
        steps = [("00 CB 3F FF 03", "CB 01 02 03 90 00")]
        eng, card, a = run_apdu("00 CB 3F FF 03", steps)
        check_script(self, card)
        assert_response(self, eng, a, "01 02 03 90 00")
        steps = [("00 CB 3F FF 03", "34 01 CB 02 03 90 00")]  # INS xor FF then INS
        eng, card, a = run_apdu("00 CB 3F FF 03", steps)
        assert_response(self, eng, a, "01 02 03 90 00")
        # No legacy INS xor 01 / INS xor FE (Vpp) acknowledgements
        for proc in ("CA", "35"):
            eng, card, a = run_apdu("00 CB 3F FF 03", [("00 CB 3F FF 03", proc + " 01 02 03 90 00")])
            assert_error(self, eng, a, t0.BAD_PROCEDURE, ccid.ERR_PROCEDURE_BYTE_CONFLICT)

    def test_T0_26_extended_nc_sent_in_envelope_chunks(self):
        body = _seq(600, 7)
        apdu = _hex("80 E2 00 00 00 02 58") + body  # case 3E, Nc = 600 -> 607 bytes
        steps = [
            ("80 C2 00 00 FF", "C2"),
            (apdu[0:255], "90 00"),
            ("80 C2 00 00 FF", "3D"),  # single-byte ACK then INS: chunks still exact
            (apdu[255:256], "C2"),
            (apdu[256:510], "90 00"),
            ("80 C2 00 00 61", "C2"),
            (apdu[510:607], "90 00"),
        ]
        eng, card, a = run_apdu(apdu, steps)
        check_script(self, card)
        assert_response(self, eng, a, "90 00")
        self.assertEqual((eng.case, eng.nc, eng.tpdus), (t0.CASE_3E, 600, 3))
        # Case 4E: last chunk answers 61xx -> GET RESPONSE
        apdu = _hex("00 2A 9E 9A 00 01 2C") + _seq(300) + _hex("01 00")  # Nc 300, Ne 256
        data = _seq(0x20, 0x99)
        steps = [
            ("00 C2 00 00 FF", "C2"),
            (apdu[0:255], "90 00"),
            ("00 C2 00 00 36", "C2"),
            (apdu[255:], "61 20"),
            ("00 C0 00 00 20", b"\xc0" + data + b"\x90\x00"),
        ]
        eng, card, a = run_apdu(apdu, steps)
        check_script(self, card)
        assert_response(self, eng, a, data + b"\x90\x00")
        self.assertEqual((eng.case, eng.ne), (t0.CASE_4E, 256))
        # An intermediate chunk refused: stop there, report its SW
        steps = [("00 C2 00 00 FF", "C2"), (apdu[0:255], "6D 00")]
        eng, card, a = run_apdu(apdu, steps)
        check_script(self, card)
        assert_response(self, eng, a, "6D 00")
        # Extended with Nc <= 255: a plain TPDU
        eng, card, a = run_apdu("00 D6 00 00 00 00 02 11 22", [("00 D6 00 00 02", "D6"), ("11 22", "90 00")])
        check_script(self, card)
        assert_response(self, eng, a, "90 00")

    def test_T0_27_ne_above_256_p3_00_then_61xx(self):
        d1 = _seq(256, 1)
        d2 = _seq(256, 2)
        d3 = _seq(0x58, 3)
        steps = [
            ("00 B0 00 00 00", b"\xb0" + d1 + b"\x61\x00"),
            ("00 C0 00 00 00", b"\xc0" + d2 + b"\x61\x58"),
            ("00 C0 00 00 58", b"\xc0" + d3 + b"\x90\x00"),
        ]
        eng, card, a = run_apdu("00 B0 00 00 00 02 58", steps, resp_size=602)  # 2E, Ne = 600
        check_script(self, card)
        assert_response(self, eng, a, d1 + d2 + d3 + b"\x90\x00")
        self.assertEqual((eng.case, eng.ne, eng.data_length), (t0.CASE_2E, 600, 600))
        # Ne = 300 reached while the card still says 61xx: stop, report 61xx with Ne bytes
        steps = [("00 B0 00 00 00", b"\xb0" + d1 + b"\x61\x00"), ("00 C0 00 00 00", b"\xc0" + d2 + b"\x61\x10")]
        eng, card, a = run_apdu("00 B0 00 00 00 01 2C", steps, resp_size=400)
        check_script(self, card)
        assert_response(self, eng, a, d1 + d2[:44] + b"\x61\x10")
        # Extended Le <= 256: as case 2S; Le 0000 = 65 536
        eng, card, a = run_apdu("00 B0 00 00 00 00 05", [("00 B0 00 00 05", "B0 01 02 03 04 05 90 00")])
        check_script(self, card)
        assert_response(self, eng, a, "01 02 03 04 05 90 00")
        eng, card, a = run_apdu("00 B0 00 00 00 00 00", [("00 B0 00 00 00", b"\xb0" + d1 + b"\x90\x00")])
        assert_response(self, eng, a, d1 + b"\x90\x00")
        self.assertEqual(eng.ne, 65536)

    def test_T0_28_engine_parity_error_after_retries_is_error(self):
        # The port repeats (error signal) up to its limit; what is still wrong is reported with the byte.
        script = [("00 B0 00 00 02", "60 B0 11 22 90 00")]
        for at in range(6):  # NULL, ACK, data, data, SW1, SW2
            eng, card, a = run_apdu("00 B0 00 00 02", script, parity_at=at)
            assert_error(self, eng, a, t0.PARITY, ccid.ERR_XFR_PARITY_ERROR)
            self.assertEqual(card.cpos, at + 1)
        eng, card, a = run_apdu("00 B0 00 00 02", script, parity_at=99)
        assert_response(self, eng, a, "11 22 90 00")

    def test_T0_29_engine_card_nacks_reader_char_send_error(self):
        # The port repeats NACKed characters (bounded); when it gives up the engine stops.
        eng = T0APDU()
        resp = bytearray(8)
        eng.start(_hex("00 D6 00 00 01 AA"), -1, resp)
        self.assertEqual(eng.action(), SEND)
        self.assertEqual(eng.on_send_error(), ERROR)
        self.assertEqual((eng.error, t0.ccid_error(eng.error)), (t0.SEND_FAILED, ccid.ERR_XFR_PARITY_ERROR))
        eng.start(_hex("00 D6 00 00 01 AA"), -1, resp)
        eng.on_sent()
        self.assertEqual(eng.feed(0xD6), SEND)  # data chunk
        self.assertEqual((eng.tx_buf[eng.tx_offset], eng.tx_count), (0xAA, 1))
        self.assertEqual(eng.on_send_error(), ERROR)
        self.assertEqual(eng.error, t0.SEND_FAILED)
        # on_send_error while receiving changes nothing
        e = T0TPDU()
        e.start(_hex("00 A4 04 00 00"), 0, 0)
        e.on_sent()
        self.assertEqual(e.on_send_error(), RECEIVE)

    def test_T0_30_engine_turnaround_and_wire_time(self):
        self.assertEqual(t0.TURNAROUND_ETU, 16)
        # Hand-computed from the formula (t0 docstring), GT = 12 unless given
        self.assertEqual(t0.tpdu_min_etu(0, 0), 48 + 16 + 24)  # case 1: 88
        self.assertEqual(t0.tpdu_min_etu(0, 256), 64 + 257 * 12 + 24)  # 3172
        self.assertEqual(t0.tpdu_min_etu(0, 1), 64 + 24 + 24)
        self.assertEqual(t0.tpdu_min_etu(5, 0), 64 + 16 + 4 * 12 + 16 + 24)  # 168
        self.assertEqual(t0.tpdu_min_etu(255, 0), 64 + 16 + 254 * 12 + 16 + 24)
        self.assertEqual(t0.tpdu_min_etu(5, 0, 14), 4 * 14 + 16 + 16 + 4 * 14 + 16 + 24)
        # The APDU layer sums the minimum over its TPDUs (EMV A4: 14 bytes out, then 38 in)
        eng, card, a = run_apdu(VECTORS[10][1], VECTORS[10][2])
        self.assertEqual(VECTORS[10][0], "EMV A4")
        self.assertEqual(eng.wire_min_etu, t0.tpdu_min_etu(14, 0) + t0.tpdu_min_etu(0, 38))
        # The engine never asks to send while a byte is due: SEND only after the card's procedure byte
        e = T0TPDU()
        e.start(_hex("00 D6 00 00 02"), 2, 0, b"\x11\x22")
        self.assertEqual(e.on_sent(), RECEIVE)
        self.assertEqual(e.feed(0xD6), SEND)

    def test_T0_31_engine_echo_must_not_reach_the_engine(self):
        # A single-wire port removes its echo; an echo fed while sending is an error, not data.
        e = T0TPDU()
        e.start(_hex("00 B0 00 00 02"), 0, 2, None, 0, bytearray(4))
        self.assertEqual(e.feed(0x00), ERROR)
        self.assertEqual((e.error, t0.ccid_error(e.error)), (t0.BYTE_WHILE_SENDING, ccid.ERR_PROCEDURE_BYTE_CONFLICT))
        # An echo leaking after on_sent() is no valid procedure byte either (CLA 00)
        e.start(_hex("00 B0 00 00 02"), 0, 2, None, 0, bytearray(4))
        e.on_sent()
        self.assertEqual(e.feed(0x00), ERROR)
        self.assertEqual(e.error, t0.BAD_PROCEDURE)

    def test_T0_32_extra_byte_after_sw2_ignored(self):
        eng, card, a = run_apdu("00 A4 04 00", [("00 A4 04 00 00", "90 00 FF")])
        check_script(self, card, all_delivered=False)
        assert_response(self, eng, a, "90 00")
        self.assertEqual(card.cpos, 2)  # the driver flushes the rest
        self.assertEqual(eng.feed(0xFF), DONE)
        self.assertEqual(eng.extra_count, 1)
        assert_response(self, eng, eng.action(), "90 00")
        teng, card, a, _ = run_tpdu("00 A4 04 00 00", [("00 A4 04 00 00", "90 00 FF")])
        self.assertEqual((teng.feed(0xFF), teng.feed(0xFE), teng.extra_count, teng.sw), (DONE, DONE, 2, 0x9000))

    def test_T0_33_gsm_class_a0_9fxx_get_response_a0(self):
        data = _seq(0x16, 0x60)
        apdu = "A0 A4 00 00 02 3F 00 00"  # case 4
        steps = [("A0 A4 00 00 02", "A4"), ("3F 00", "9F 16"), ("A0 C0 00 00 16", b"\xc0" + data + b"\x90\x00")]
        eng, card, a = run_apdu(apdu, steps)
        check_script(self, card)
        assert_response(self, eng, a, data + b"\x90\x00")
        # 61xx on class A0 also uses CLA A0
        steps = [("A0 A4 00 00 02", "A4"), ("3F 00", "61 16"), ("A0 C0 00 00 16", b"\xc0" + data + b"\x90\x00")]
        eng, card, a = run_apdu(apdu, steps)
        check_script(self, card)
        assert_response(self, eng, a, data + b"\x90\x00")
        # Profile off, or another class, or case 3: 9Fxx is returned as is
        steps = [("A0 A4 00 00 02", "A4"), ("3F 00", "9F 16")]
        eng, card, a = run_apdu(apdu, steps, gsm_class_a0=False)
        check_script(self, card)
        assert_response(self, eng, a, "9F 16")
        eng, card, a = run_apdu("A0 A4 00 00 02 3F 00", steps)
        check_script(self, card)
        assert_response(self, eng, a, "9F 16")
        eng, card, a = run_apdu("00 A4 00 00 02 3F 00 00", [("00 A4 00 00 02", "A4"), ("3F 00", "9F 16")])
        check_script(self, card)
        assert_response(self, eng, a, "9F 16")

    def test_T0_34_all_lengths_round_trip(self):
        eng = T0APDU()
        resp = bytearray(258)
        apdu = bytearray(261)
        pattern = _seq(256, 0x5A)
        for lc in range(1, 256):  # case 3S, Lc 1..255
            apdu[0] = 0x80
            apdu[1] = 0xD6
            apdu[2] = 0
            apdu[3] = 0
            apdu[4] = lc
            for i in range(lc):
                apdu[5 + i] = pattern[i]
            card = ScriptedCard([(apdu[:5], "D6"), (pattern[:lc], "90 00")])
            self.assertEqual(eng.start(apdu, 5 + lc, resp), t0.NO_ERROR)
            self.assertEqual(drive(eng, card), DONE, "Lc %d" % lc)
            self.assertEqual((card.mismatch_at, card.rpos, eng.sw, eng.resp_length), (-1, 5 + lc, 0x9000, 2), "Lc %d" % lc)
        for le in range(1, 257):  # case 2S, Le 1..256 (00)
            p3 = le & 0xFF
            hdr = bytes((0x80, 0xB0, 0, 0, p3))
            card = ScriptedCard([(hdr, b"\xb0" + pattern[:le] + b"\x90\x00")])
            self.assertEqual(eng.start(hdr, 5, resp), t0.NO_ERROR)
            self.assertEqual(drive(eng, card), DONE, "Le %d" % le)
            self.assertEqual((card.mismatch_at, eng.data_length, eng.sw), (-1, le, 0x9000), "Le %d" % le)
            self.assertEqual(bytes(resp[:le]), pattern[:le], "Le %d" % le)


# iso7816-3.md §7.4: (name, command APDU, card script, expected response data + SW)
D28 = _seq(28, 0x70)
D38 = _seq(38, 0x21)
D16 = D38[:16]
D22 = D38[16:]
VECTORS = (
    ("ANSSI Case1", "00 A4 04 00", [("00 A4 04 00 00", "90 00")], "90 00"),
    ("ANSSI Case1 NULL", "00 A4 04 00", [("00 A4 04 00 00", "60 60 90 00")], "90 00"),
    ("ANSSI Case2S.1", "00 A4 04 00 05", [("00 A4 04 00 05", "A4 45 75 74 77 74 90 00")], "45 75 74 77 74 90 00"),
    ("ANSSI Case2S.2", "00 A4 04 00 05", [("00 A4 04 00 05", "67 00")], "67 00"),
    ("ANSSI Case2S.3", "00 A4 04 00 05", [("00 A4 04 00 05", "6C 03"), ("00 A4 04 00 03", "A4 45 75 74 90 00")],
     "45 75 74 90 00"),
    ("ANSSI Case3S", "00 A4 04 00 05 45 75 74 77 74", [("00 A4 04 00 05", "A4"), ("45 75 74 77 74", "90 00")],
     "90 00"),
    ("ANSSI Case4S.1", "00 A4 04 00 05 45 75 74 77 74 00", [("00 A4 04 00 05", "A4"), ("45 75 74 77 74", "64 00")],
     "64 00"),
    ("EMV A1", "00 A4 04 00", [("00 A4 04 00 00", "90 00")], "90 00"),
    ("EMV A2", "00 B2 01 0C 00", [("00 B2 01 0C 00", "6C 1C"), ("00 B2 01 0C 1C", b"\xb2" + D28 + b"\x90\x00")],
     D28 + b"\x90\x00"),
    ("EMV A3", "00 82 00 00 04 DE AD BE EF", [("00 82 00 00 04", "82"), ("DE AD BE EF", "90 00")], "90 00"),
    ("EMV A4", SELECT_PSE_4,
     [("00 A4 04 00 0E", "A4"), (PSE, "61 26"), ("00 C0 00 00 26", b"\xc0" + D38 + b"\x90\x00")], D38 + b"\x90\x00"),
    # EMV A5 (case 2 with 6Cxx then 61xx; shape of openemv tests/emv_ttl_tpdu_test.c): the card
    # returns 13 of the 28 bytes then 61 0F (SW1 inside the data phase, T0-16: costs one WT)
    ("EMV A5", "00 B2 01 0C 00",
     [("00 B2 01 0C 00", "6C 1C"), ("00 B2 01 0C 1C", "61 1C"), ("00 C0 00 00 1C", b"\xc0" + D28[:13] + b"\x61\x0f"),
      ("00 C0 00 00 0F", b"\xc0" + D28[13:] + b"\x90\x00")], D28 + b"\x90\x00"),
    # EMV A6: 16 of the 38 bytes then 61 16 (T0-16 again). iso7816-3.md §7.4 writes "61 14" then
    # 22 bytes, which cannot be byte-exact (0x14 = 20, 16 + 20 != 0x26); openemv's TPDU-mode
    # emulator does not check counts. A byte-exact T=0 card says 61 16.
    ("EMV A6", SELECT_PSE_4,
     [("00 A4 04 00 0E", "A4"), (PSE, "61 26"), ("00 C0 00 00 26", b"\xc0" + D16 + b"\x61\x16"),
      ("00 C0 00 00 16", b"\xc0" + D22 + b"\x90\x00")], D38 + b"\x90\x00"),
    ("EMV A7 (1)", SELECT_PSE_4,
     [("00 A4 04 00 0E", "A4"), (PSE, "62 86"), ("00 C0 00 00 00", "6C 26"),
      ("00 C0 00 00 26", b"\xc0" + D38 + b"\x90\x00")], D38 + b"\x62\x86"),
    ("EMV A7 (2)", SELECT_PSE_4,
     [("00 A4 04 00 0E", "A4"), (PSE, "61 26"), ("00 C0 00 00 26", b"\xc0" + D38 + b"\x62\x86")], D38 + b"\x62\x86"),
)


class TestT0Vectors(unittest.TestCase):
    """iso7816-3.md §7.4: ANSSI cases and EMV CIS Annex A through the APDU layer."""

    def test_vectors(self):
        for name, apdu, steps, expected in VECTORS:
            eng, card, a = run_apdu(apdu, steps)
            self.assertEqual(card.mismatch_at, -1, "%s: reader sent %s" % (name, card.sent_hex()))
            self.assertEqual((card.rpos, card.cpos), (len(card.reader), len(card.out)), name)
            self.assertEqual(a, DONE, "%s: error %d" % (name, eng.error))
            self.assertEqual(bytes(eng.response()).hex(), _b(expected).hex(), name)

    def test_emv_a5_a6_short_data_phase_costs_one_wt(self):
        for k in (11, 12):
            name, apdu, steps, expected = VECTORS[k]
            self.assertEqual(name[:5], "EMV A")
            eng, card, a = run_apdu(apdu, steps)
            self.assertEqual((a, card.timeouts), (DONE, 1), name)  # the short data phase ends at WT expiry
            self.assertEqual(bytes(eng.response()), expected, name)

    def test_vectors_at_tpdu_level(self):
        # The TPDU engine alone on raw TPDUs (CCID TPDU level): no GET RESPONSE, no re-issue.
        e, card, a, resp = run_tpdu("00 A4 04 00 05", [("00 A4 04 00 05", "A4 45 75 74 77 74 90 00")])
        check_script(self, card)
        self.assertEqual((a, e.sw, e.rx_length, bytes(resp[:5])), (DONE, 0x9000, 5, _hex("45 75 74 77 74")))
        self.assertEqual(bytes(resp[: e.resp_length]), _hex("45 75 74 77 74 90 00"))  # DataBlock-ready
        e, card, a, resp = run_tpdu("00 A4 04 00 05", [("00 A4 04 00 05", "6C 03")])
        self.assertEqual((a, e.sw, e.rx_length, bytes(resp[: e.resp_length])), (DONE, 0x6C03, 0, _hex("6C 03")))
        e, card, a, resp = run_tpdu("00 82 00 00 04 DE AD BE EF", [("00 82 00 00 04", "82"), ("DE AD BE EF", "90 00")])
        check_script(self, card)
        self.assertEqual((a, e.sw, e.tx_done), (DONE, 0x9000, 4))


class TestT0Units(unittest.TestCase):
    def test_apdu_case(self):
        cases = (
            ("00 A4 04 00", t0.CASE_1),
            ("00 A4 04 00 05", t0.CASE_2S),
            ("00 A4 04 00 00", t0.CASE_2S),
            ("00 A4 04 00 01 AA", t0.CASE_3S),
            ("00 A4 04 00 01 AA 00", t0.CASE_4S),
            ("00 A4 04 00 00 01 00", t0.CASE_2E),
            ("00 A4 04 00 00 00 01 AA", t0.CASE_3E),
            ("00 A4 04 00 00 00 01 AA 00 00", t0.CASE_4E),
            ("00 A4 04", 0),
            ("00 A4 04 00 02 AA", 0),
            ("00 A4 04 00 01 AA 00 00", 0),
            ("00 A4 04 00 00 01", 0),
            ("00 A4 04 00 00 00 00 AA", 0),  # extended Lc = 0
            ("00 A4 04 00 00 00 02 AA", 0),
        )
        for text, want in cases:
            self.assertEqual(t0.apdu_case(_hex(text)), want, text)
        self.assertEqual(t0.apdu_case(_hex("00 A4 04 00 05 99"), 5), t0.CASE_2S)
        self.assertEqual(t0.apdu_case(_hex("00 A4 04 00"), 9), 0)

    def test_ccid_error_mapping(self):
        self.assertEqual(t0.ccid_error(t0.NO_ERROR), 0)
        table = (
            (t0.MUTE, ccid.ERR_ICC_MUTE),
            (t0.TOO_MANY_NULLS, ccid.ERR_ICC_MUTE),
            (t0.PARITY, ccid.ERR_XFR_PARITY_ERROR),
            (t0.SEND_FAILED, ccid.ERR_XFR_PARITY_ERROR),
            (t0.BAD_PROCEDURE, ccid.ERR_PROCEDURE_BYTE_CONFLICT),
            (t0.BYTE_WHILE_SENDING, ccid.ERR_PROCEDURE_BYTE_CONFLICT),
            (t0.SW_NOT_ALLOWED, ccid.ERR_PROCEDURE_BYTE_CONFLICT),
            (t0.LOOP_LIMIT, ccid.ERR_PROCEDURE_BYTE_CONFLICT),
            (t0.OVERRUN, ccid.ERR_XFR_OVERRUN),
            (t0.BAD_INS, ccid.ERR_CMD_NOT_SUPPORTED),
            (t0.BAD_TPDU, ccid.ERR_CMD_NOT_SUPPORTED),
            (t0.BAD_APDU, ccid.ERR_CMD_NOT_SUPPORTED),
            (t0.NOT_STARTED, ccid.ERR_CMD_NOT_SUPPORTED),
        )
        for code, want in table:
            self.assertEqual(t0.ccid_error(code), want, "code %d" % code)
        self.assertEqual((ccid.ERR_ICC_MUTE, ccid.ERR_XFR_PARITY_ERROR, ccid.ERR_XFR_OVERRUN), (0xFE, 0xFD, 0xFC))
        self.assertEqual(ccid.ERR_PROCEDURE_BYTE_CONFLICT, 0xF4)

    def test_tpdu_start_refusals(self):
        e = T0TPDU()
        self.assertEqual(e.action(), t0.IDLE)
        self.assertEqual(e.feed(0x90), ERROR)
        self.assertEqual(e.error, t0.NOT_STARTED)
        hdr_in = _hex("00 B0 00 00 04")
        self.assertEqual(e.start(hdr_in, 0, 5, None, 0, bytearray(8)), t0.BAD_TPDU)  # P3 != Ne
        self.assertEqual(e.start(hdr_in, 0, 4, None, 0, bytearray(3)), t0.OVERRUN)  # resp too small
        self.assertEqual(e.start(hdr_in, 0, 4, None, 0, bytearray(4), 1, 3), t0.NO_ERROR)  # keep fits
        self.assertEqual(e.start(hdr_in, 4, 0, b"\x01\x02\x03"), t0.BAD_TPDU)  # data too short
        self.assertEqual(e.start(hdr_in, 4, 4, b"\x01\x02\x03\x04"), t0.BAD_TPDU)  # both directions
        self.assertEqual(e.start(hdr_in, 0, 0), t0.BAD_TPDU)  # case 1 needs P3 = 00
        self.assertEqual(e.start(_hex("00 B0 00"), 0, 0), t0.BAD_TPDU)
        self.assertEqual(e.start_tpdu(_hex("00 B0 00 00"), -1, bytearray(8)), t0.BAD_TPDU)
        self.assertEqual(e.start_tpdu(_hex("00 D6 00 00 02 11"), -1, bytearray(8)), t0.BAD_TPDU)  # Nc != P3
        self.assertEqual(e.action(), ERROR)
        self.assertEqual(e.start_tpdu(_hex("00 D6 00 00 01 11"), -1, None), t0.OVERRUN)  # SW needs room
        self.assertEqual(e.start_tpdu(_hex("00 B0 00 00 00"), -1, bytearray(257)), t0.OVERRUN)  # 256 + SW
        self.assertEqual(e.start_tpdu(_hex("00 B0 00 00 00"), -1, bytearray(258)), t0.NO_ERROR)
        self.assertEqual((e.ne, e.tx_count, e.action()), (256, 5, SEND))
        e.reset()
        self.assertEqual((e.action(), e.error), (t0.IDLE, t0.NOT_STARTED))

    def test_apdu_start_refusals_and_overrun(self):
        eng = T0APDU()
        self.assertEqual(eng.feed(0x90), ERROR)
        self.assertEqual(eng.start(_hex("00 A4 04"), -1, bytearray(8)), t0.BAD_APDU)
        self.assertEqual(eng.start(_hex("00 A4 04 00"), -1, bytearray(1)), t0.OVERRUN)
        self.assertEqual(eng.start(_hex("00 A4 04 00"), -1, None), t0.OVERRUN)
        self.assertEqual(t0.ccid_error(eng.error), ccid.ERR_XFR_OVERRUN)
        # 5 bytes wanted, room for 3 + SW: OVERRUN once the data arrived, never an exception
        eng, card, a = run_apdu("00 B0 00 00 05", [("00 B0 00 00 05", "B0 01 02 03 04 05 90 00")], resp_size=5)
        assert_error(self, eng, a, t0.OVERRUN, ccid.ERR_XFR_OVERRUN)
        # resp_max smaller than the buffer is honoured
        eng = T0APDU()
        resp = bytearray(64)
        eng.start(_hex("00 B0 00 00 05"), -1, resp, 4)
        card = ScriptedCard([("00 B0 00 00 05", "B0 01 02 03 04 05 90 00")])
        self.assertEqual(drive(eng, card), ERROR)
        self.assertEqual(eng.error, t0.OVERRUN)
        # GET RESPONSE data that do not fit
        steps = [("00 A4 04 00 0E", "A4"), (PSE, "61 26"), ("00 C0 00 00 26", b"\xc0" + D38 + b"\x90\x00")]
        eng, card, a = run_apdu(SELECT_PSE_4, steps, resp_size=20)
        assert_error(self, eng, a, t0.OVERRUN, ccid.ERR_XFR_OVERRUN)

    def test_loops_are_bounded(self):
        # 6Cxx again and again
        steps = [("00 B0 00 00 05", "6C 04")] + [("00 B0 00 00 04", "6C 04")] * 3
        eng, card, a = run_apdu("00 B0 00 00 05", steps)
        check_script(self, card)
        assert_error(self, eng, a, t0.LOOP_LIMIT, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
        self.assertEqual(t0.MAX_6C_IN_A_ROW, 3)
        # 61xx for ever (Ne = 65 536): bounded by max_followups
        steps = [("00 B0 00 00 00", "61 01")] + [("00 C0 00 00 01", "C0 AA 61 01")] * 4
        eng, card, a = run_apdu("00 B0 00 00 00 00 00", steps, max_followups=4)
        check_script(self, card)
        assert_error(self, eng, a, t0.LOOP_LIMIT, ccid.ERR_PROCEDURE_BYTE_CONFLICT)
        self.assertEqual(T0APDU().max_followups, t0.MAX_FOLLOWUPS_DEFAULT)

    def test_feed_buf_stops_when_the_action_changes(self):
        eng = T0APDU()
        resp = bytearray(16)
        eng.start(_hex("00 B0 00 00 02"), -1, resp)
        eng.on_sent()
        buf = _hex("B0 11 22 90 00 FF FF")
        self.assertEqual(eng.feed_buf(buf), 5)
        assert_response(self, eng, eng.action(), "11 22 90 00")
        e = T0TPDU()
        e.start(_hex("00 B0 00 00 02"), 0, 2, None, 0, resp)
        e.on_sent()
        self.assertEqual(e.feed_buf(buf, 0, 2), 2)
        self.assertEqual((e.action(), e.rx_count), (RECEIVE, 1))
        self.assertEqual(e.feed_buf(buf, 2), 5)
        self.assertEqual((e.action(), e.sw, bytes(resp[:2])), (DONE, 0x9000, _hex("11 22")))


class TestT0Fuzz(unittest.TestCase):
    """Never assert on card input (iso7816-3.md §8.2): random card bytes always end in DONE or ERROR."""

    def test_random_card_bytes_always_terminate(self):
        apdus = (
            _hex("00 A4 04 00"),
            _hex("00 B0 00 00 04"),
            _hex("00 D6 00 00 02 11 22"),
            _hex("00 A4 04 00 02 3F 00 00"),
            _hex("A0 A4 00 00 02 3F 00 10"),
            _hex("00 B0 00 00 00 01 2C"),
        )
        # Procedure-ish values are over-represented so that exchanges get somewhere
        alphabet = _hex("60 61 6C 62 63 90 00 9F 6A B0 4F D6 29 A4 5B C0 3F 01 02 FF")
        stream = bytearray(64)
        resp = bytearray(64)
        eng = T0APDU(null_limit=8, max_followups=6)
        x = 12345
        for it in range(400):
            apdu = apdus[it % len(apdus)]
            for i in range(len(stream)):
                x = (x * 1103515245 + 12345) & 0x3FFFFFFF
                r = x >> 12
                stream[i] = alphabet[r % len(alphabet)] if r & 0x100 else r & 0xFF
            eng.start(apdu, -1, resp)
            pos = 0
            a = eng.action()
            steps = 0
            while a == SEND or a == RECEIVE:
                steps += 1
                self.assertTrue(steps < 10000, "iteration %d does not terminate" % it)
                if a == SEND:
                    self.assertTrue(0 < eng.tx_count <= 255 or eng.tx_count == 5)
                    self.assertTrue(eng.tx_offset + eng.tx_count <= len(eng.tx_buf))
                    a = eng.on_sent()
                elif pos < len(stream):
                    a = eng.feed(stream[pos], False)
                    pos += 1
                else:
                    a = eng.on_timeout()
            self.assertTrue(a == DONE or a == ERROR, "iteration %d: action %d" % (it, a))
            if a == DONE:
                self.assertTrue(2 <= eng.resp_length <= len(resp))
                self.assertEqual(resp[eng.resp_length - 2] << 8 | resp[eng.resp_length - 1], eng.sw)
            else:
                self.assertTrue(eng.error != t0.NO_ERROR and t0.ccid_error(eng.error) in (0xFE, 0xFD, 0xFC, 0xF4))


class TestNoAllocation(unittest.TestCase):
    @unittest.skipIf(not _HEAP_LOCK, "micropython.heap_lock only on MicroPython")
    def test_feeding_procedure_and_data_bytes_allocates_nothing(self):
        scripts = []
        for name, apdu, steps, expected in VECTORS:
            scripts.append((_b(apdu), ScriptedCard(steps), _b(expected)))
        mixed = ScriptedCard([("00 B0 00 00 05", "60 4F 01 60 4F 02 B0 03 04 05 60 90 00")])
        scripts.append((_hex("00 B0 00 00 05"), mixed, _hex("01 02 03 04 05 90 00")))
        eng = T0APDU()
        resp = bytearray(300)
        results = bytearray(len(scripts))
        lengths = bytearray(len(scripts))
        micropython.heap_lock()
        try:
            for k in range(len(scripts)):
                apdu, card, expected = scripts[k]
                eng.start(apdu, -1, resp)
                results[k] = drive(eng, card)
                lengths[k] = eng.resp_length
        finally:
            micropython.heap_unlock()
        for k in range(len(scripts)):
            apdu, card, expected = scripts[k]
            self.assertEqual(results[k], DONE, "script %d" % k)
            self.assertEqual(card.mismatch_at, -1, "script %d" % k)
            self.assertEqual(lengths[k], len(expected), "script %d" % k)
        self.assertEqual(bytes(eng.response()), scripts[-1][2])
