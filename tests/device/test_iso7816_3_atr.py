"""ISO 7816-3 ATR parser, reader decisions and timing formulas; runs on CPython and MicroPython.

One test per parsing/decision row of iso7816-3.md §6.1 (A2-A5, A8-A11, A13-A23), named
after it; the vectors of tests/vectors/atr.jsonl (iso7816-3.md §7.1, cps-cards.md §3.1);
timing values computed by hand from iso7816-3.md §1. Rows A1, A6, A7, A12, A24-A26 need
the card port and a virtual card (slot tests); A27 is tests/host/test_atr_corpus.py.
"""

import unittest

from _paths import read_jsonl
from cpsdi_fw.iso7816_3 import atr, timing
from cpsdi_fw.iso7816_3.atr import (
    ACCEPT,
    DONE,
    ERROR,
    KIND_TA,
    KIND_TB,
    KIND_TC,
    NEED_MORE,
    REJECT,
    WARM_RESET,
    ATRDecision,
    ATRParser,
    inverse_byte,
)

try:
    import micropython

    _HEAP_LOCK = hasattr(micropython, "heap_lock")
except ImportError:
    _HEAP_LOCK = False

VECTORS = read_jsonl("atr.jsonl")

_ERRORS = {
    "BAD_TS": atr.BAD_TS,
    "BAD_TCK": atr.BAD_TCK,
    "TOO_LONG": atr.TOO_LONG,
    "T15_IN_TD1": atr.T15_IN_TD1,
    "NOT_DONE": atr.NOT_DONE,
    "BAD_TA1": atr.BAD_TA1,
    "TA1_UNSUPPORTED": atr.TA1_UNSUPPORTED,
    "IMPLICIT_TA2": atr.IMPLICIT_TA2,
    "PROTOCOL_NOT_SUPPORTED": atr.PROTOCOL_NOT_SUPPORTED,
    "BAD_WI": atr.BAD_WI,
    "BAD_IFSC": atr.BAD_IFSC,
    "BAD_BWI": atr.BAD_BWI,
}
_STATUS = {"need_more": NEED_MORE, "done": DONE, "error": ERROR}
_ACTIONS = {"accept": ACCEPT, "warm_reset": WARM_RESET, "reject": REJECT}
_KINDS = {"A": 0, "B": 1, "C": 2, "D": 3}

CLOCK_HZ = 3571200
MAX_BAUD = 250000


def _hex(text):
    return bytes.fromhex(text.replace(" ", ""))


def _with_tck(text):
    """The ATR `text` (hex, TS first) followed by its TCK: XOR of T0..last byte (§2.1)."""
    data = _hex(text)
    x = 0
    for b in data[1:]:
        x ^= b
    return data + bytes([x])


def _line(logical, rx_inverse):
    """The bytes a UART in the given mode delivers for a logical ATR (iso7816-3.md §1.2)."""
    card_inverse = logical[0] == 0x3F
    if card_inverse == rx_inverse:
        return bytes(logical)
    return bytes([inverse_byte(b) for b in logical])


def _feed(parser, data):
    """Feed every byte; return (last status, index of the byte that ended the ATR or -1)."""
    status = NEED_MORE
    end = -1
    for i in range(len(data)):
        status = parser.feed_byte(data[i])
        if status != NEED_MORE and end < 0:
            end = i
    return status, end


def _parse(logical, rx_inverse=None):
    """Parse a logical ATR with a UART in the card's own convention (default) or the given mode."""
    if isinstance(logical, str):
        logical = _hex(logical)
    if rx_inverse is None:
        rx_inverse = logical[0] == 0x3F
    p = ATRParser(rx_inverse=rx_inverse)
    status, _ = _feed(p, _line(logical, rx_inverse))
    return p, status


def _decide(parser, clock_hz=CLOCK_HZ, max_baud=MAX_BAUD, after_warm_reset=False):
    d = ATRDecision()
    action = d.decide(parser, clock_hz, max_baud, after_warm_reset)
    return d, action


class TestTiming(unittest.TestCase):
    """iso7816-3.md §1.1, §1.3, §1.4; expected values computed by hand."""

    def test_fi_di_tables(self):
        self.assertEqual(timing.fi_from_ta1(0x11), 372)
        self.assertEqual(timing.di_from_ta1(0x11), 1)
        self.assertEqual((timing.fi_from_ta1(0x13), timing.di_from_ta1(0x13)), (372, 4))
        self.assertEqual((timing.fi_from_ta1(0x18), timing.di_from_ta1(0x18)), (372, 12))
        self.assertEqual((timing.fi_from_ta1(0x96), timing.di_from_ta1(0x96)), (512, 32))
        self.assertEqual((timing.fi_from_ta1(0x97), timing.di_from_ta1(0x97)), (512, 64))
        self.assertEqual((timing.fi_from_ta1(0xD9), timing.di_from_ta1(0xD9)), (2048, 20))
        fi = (372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0)
        fmax_mhz10 = (40, 50, 60, 80, 120, 160, 200, 0, 0, 50, 75, 100, 150, 200, 0, 0)
        di = (0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0)
        for x in range(16):
            self.assertEqual(timing.fi_from_ta1(x << 4 | 1), fi[x])
            self.assertEqual(timing.fmax_hz_from_ta1(x << 4 | 1), fmax_mhz10[x] * 100000)
            self.assertEqual(timing.di_from_ta1(0x10 | x), di[x])

    def test_etu_clocks(self):
        self.assertEqual(timing.etu_clocks(372, 1), 372)
        self.assertEqual(timing.etu_clocks(372, 4), 93)
        self.assertEqual(timing.etu_clocks(372, 12), 31)
        self.assertEqual(timing.etu_clocks(512, 32), 16)
        self.assertEqual(timing.etu_clocks(512, 64), 8)
        self.assertTrue(timing.etu_clocks_exact(372, 12))
        self.assertFalse(timing.etu_clocks_exact(372, 32))  # 11.625 clocks
        self.assertEqual(timing.etu_clocks(372, 32), 11)

    def test_baud(self):
        self.assertEqual(timing.baud(372, 1, 3571200), 9600)
        self.assertEqual(timing.baud(372, 4, 3571200), 38400)
        self.assertEqual(timing.baud(372, 12, 3571200), 115200)
        self.assertEqual(timing.baud(512, 32, 3571200), 223200)
        self.assertEqual(timing.baud(372, 1, 4000000), 10752)  # 10 752.7
        self.assertEqual(timing.baud(372, 1, 5000000), 13440)  # 13 440.9
        self.assertEqual(timing.baud(512, 64, 5000000), 625000)

    def test_wt_etu_t0(self):
        self.assertEqual(timing.INITIAL_WT_ETU, 9600)
        self.assertEqual(timing.wt_etu(10, 1, 372, 372), 9600)
        # The D factor: WI 10 after a PPS to 372/4 is 38 400 etu, not 9 600 (osmo 066489d)
        self.assertEqual(timing.wt_etu(10, 4, 372, 372), 38400)
        self.assertEqual(timing.wt_etu(10, 32, 512, 512), 307200)
        self.assertEqual(timing.wt_etu(42, 1, 372, 372), 40320)  # CPS3 TC2 = 2A
        # Fi = 512 before the PPS (F = 372): 9600 * 512 / 372 = 13 212.9 -> 13 213
        self.assertEqual(timing.wt_etu(10, 1, 512, 372), 13213)
        # Fi = 512, WI = 10 at 3.5712 MHz: WT = 1.376 s (9 600 etu of 512 clocks)
        self.assertEqual(timing.wt_etu(10, 1, 512, 512) * 512 * 1000 // 3571200, 1376)
        self.assertEqual(timing.wt_etu(255, 64, 2048, 372), 255 * 960 * 64 * 2048 // 372 + 1)

    def test_cwt_etu(self):
        self.assertEqual(timing.cwt_etu(0), 12)
        self.assertEqual(timing.cwt_etu(1), 13)
        self.assertEqual(timing.cwt_etu(5), 43)
        self.assertEqual(timing.cwt_etu(13), 8203)

    def test_bwt_etu(self):
        self.assertEqual(timing.bwt_etu(0, 1, 372), 971)
        self.assertEqual(timing.bwt_etu(4, 1, 372), 15371)
        self.assertEqual(timing.bwt_etu(7, 1, 372), 122891)
        self.assertEqual(timing.bwt_etu(9, 1, 372), 491531)
        # seconds at 3.5712 MHz (table of §1.4): 0.101, 1.601, 12.80, 51.2
        for bwi, ms in ((0, 101), (4, 1601), (7, 12801), (9, 51201)):
            self.assertEqual(timing.bwt_etu(bwi, 1, 372) * 372 * 1000 // 3571200, ms)
        self.assertEqual(timing.bwt_etu(4, 4, 372), 61451)
        # Fd = 372 always: at 512/32, 16 * 960 * 372 * 32 / 512 = 357 120
        self.assertEqual(timing.bwt_etu(4, 32, 512), 357131)
        self.assertEqual(timing.bwt_etu(9, 64, 512), 22855691)
        # F = 512, D = 1: 16 * 960 * 372 / 512 = 11 160; 357 120 / 1024 = 348.75 rounds up
        self.assertEqual(timing.bwt_etu(4, 1, 512), 11171)
        self.assertEqual(timing.bwt_etu(0, 1, 1024), 11 + 349)  # 357120 / 1024 = 348.75

    def test_guard_times(self):
        self.assertEqual(timing.guard_time_etu(0, 0), 12)
        self.assertEqual(timing.guard_time_etu(0, 1), 12)
        self.assertEqual(timing.guard_time_etu(2, 1), 14)
        self.assertEqual(timing.guard_time_etu(254, 0), 266)
        self.assertEqual(timing.guard_time_etu(255, 0), 12)
        self.assertEqual(timing.guard_time_etu(255, 1), 11)
        self.assertEqual(timing.bgt_etu(), 22)
        self.assertEqual(timing.BGT_ETU, 22)


class TestHelpers(unittest.TestCase):
    def test_inverse_byte(self):
        self.assertEqual(inverse_byte(0x3F), 0x03)
        self.assertEqual(inverse_byte(0x3B), 0x23)
        self.assertEqual(inverse_byte(0x00), 0xFF)
        self.assertEqual(inverse_byte(0x01), 0x7F)  # complement FE, reversed 7F
        self.assertEqual(inverse_byte(0x80), 0xFE)
        for b in range(256):
            self.assertEqual(inverse_byte(inverse_byte(b)), b)

    def test_ccid_error_mapping(self):
        self.assertEqual(atr.ccid_error(atr.NO_ERROR), 0)
        self.assertEqual(atr.ccid_error(atr.BAD_TS), 0xF8)
        self.assertEqual(atr.ccid_error(atr.BAD_TCK), 0xF7)
        self.assertEqual(atr.ccid_error(atr.TOO_LONG), 0xF7)
        self.assertEqual(atr.ccid_error(atr.T15_IN_TD1), 0xF7)
        for name in ("BAD_TA1", "TA1_UNSUPPORTED", "IMPLICIT_TA2", "PROTOCOL_NOT_SUPPORTED", "BAD_WI", "BAD_IFSC"):
            self.assertEqual(atr.ccid_error(_ERRORS[name]), 0xF6, name)
        self.assertEqual(atr.ccid_error(atr.BAD_BWI), 0xF6)

    def test_reset_reuses_parser(self):
        p = ATRParser()
        self.assertEqual(_feed(p, b"\x42\x3b")[0], ERROR)
        p.reset()
        self.assertEqual(_feed(p, _hex("3b021450"))[0], DONE)
        self.assertEqual(bytes(p.atr()), _hex("3b021450"))
        p.reset(rx_inverse=True)
        self.assertEqual(_feed(p, _hex("3f6525002c09699000"))[0], DONE)
        self.assertTrue(p.inverse)
        p.reset()  # keeps the last UART mode
        self.assertTrue(p.rx_inverse)

    def test_feed_stops_at_the_end_of_the_atr(self):
        data = _hex("3b021450") + _hex("11223344")
        p = ATRParser()
        self.assertEqual(p.feed(data, 0, 2), 2)
        self.assertEqual(p.status, NEED_MORE)
        self.assertEqual(p.feed(data, 2), 4)  # the bytes after the ATR are left to the caller
        self.assertEqual((p.status, p.extra), (DONE, 0))
        self.assertEqual(p.feed(data, 4), 4)
        p = ATRParser()
        self.assertEqual(p.feed(_hex("42021450")), 1)
        self.assertEqual(p.status, ERROR)

    def test_negotiable_unsupported_default_protocol(self):
        # TD1 = 8E (T=14, TD2 follows), TD2 = 01 (T=1): T=1 must be selected by a PPS
        p, status = _parse(_with_tck("3b 80 8e 01"))
        self.assertEqual(status, DONE)
        self.assertEqual((p.default_protocol(), p.offered_protocols()), (14, 0x4002))
        d, action = _decide(p)
        self.assertEqual((action, d.default_protocol, d.protocol, d.pps_required), (ACCEPT, 14, 1, True))
        p, status = _parse(_with_tck("3b 80 0e"))  # T=14 only
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.PROTOCOL_NOT_SUPPORTED))
        p, status = _parse("3b021450")
        d, action = _decide(p)
        self.assertFalse(d.pps_required)

    def test_decide_needs_done(self):
        p = ATRParser()
        p.feed_byte(0x3B)
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.NOT_DONE))
        p.reset()
        p.feed_byte(0x42)
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.BAD_TS))


class TestATRRows(unittest.TestCase):
    """iso7816-3.md §6.1, parsing and decision rows."""

    def test_A2_direct_ts(self):
        p = ATRParser()
        self.assertEqual(p.feed_byte(0x3B), NEED_MORE)
        self.assertFalse(p.inverse)
        self.assertEqual(_feed(p, _hex("021450"))[0], DONE)
        self.assertEqual(bytes(p.atr()), _hex("3b021450"))
        self.assertEqual(bytes(p.historical()), _hex("1450"))

    def test_A3_inverse_ts(self):
        logical = _hex("3f6525002c09699000")
        # Direct-mode UART: TS arrives as 03, the rest is converted in software
        raw = _line(logical, False)
        self.assertEqual(raw[0], 0x03)
        p = ATRParser()
        status, end = _feed(p, raw)
        self.assertEqual((status, end), (DONE, len(logical) - 1))
        self.assertTrue(p.inverse)
        self.assertEqual(p.buf[0], 0x3F)
        self.assertEqual(bytes(p.atr()), logical)
        self.assertEqual((p.tb(1), p.tc(1)), (0x25, 0x00))
        self.assertEqual(bytes(p.historical()), _hex("2c09699000"))
        # The slot switches the UART to inverse mode after TS: bytes arrive decoded
        p = ATRParser()
        self.assertEqual(p.feed_byte(0x03), NEED_MORE)
        p.set_rx_inverse(True)
        self.assertEqual(_feed(p, logical[1:])[0], DONE)
        self.assertEqual(bytes(p.atr()), logical)
        # Inverse-mode UART from the start: TS is 3F
        p, status = _parse(logical, rx_inverse=True)
        self.assertEqual(status, DONE)
        self.assertTrue(p.inverse)
        self.assertEqual(bytes(p.atr()), logical)
        # An inverse ATR with TCK, through a direct-mode UART
        p, status = _parse("3f961880018051006110309f", rx_inverse=False)
        self.assertEqual(status, DONE)
        self.assertTrue(p.tck_present)

    def test_A4_direct_ts_seen_in_inverse_mode(self):
        logical = _hex("3bf81300008131fe15597562696b657934d4")
        raw = _line(logical, True)
        self.assertEqual(raw[0], 0x23)
        p = ATRParser(rx_inverse=True)
        self.assertEqual(_feed(p, raw)[0], DONE)
        self.assertFalse(p.inverse)
        self.assertEqual(bytes(p.atr()), logical)
        self.assertEqual(p.ta(3), 0xFE)

    def test_A5_invalid_ts(self):
        for ts, rx_inverse in ((0x42, False), (0x00, False), (0xFF, False), (0x3F, False), (0x3B, True), (0x03, True)):
            p = ATRParser(rx_inverse=rx_inverse)
            self.assertEqual(p.feed_byte(ts), ERROR)
            self.assertEqual(p.error, atr.BAD_TS)
            self.assertEqual(atr.ccid_error(p.error), 0xF8)
            self.assertEqual(p.feed_byte(0x02), ERROR)  # stays in error
            self.assertEqual(p.length, 0)
        p, status = _parse(_hex("42021450"), rx_inverse=False)
        self.assertEqual((status, p.error), (ERROR, atr.BAD_TS))

    def test_A8_td_chain_attribution(self):
        # TD1 = 80 (T=0), TD2 = B1 (T=1: TA3 TB3 TD3), TD3 = F1 (T=1: TA4 TB4 TC4 TD4), TD4 = 1F (T=15: TA5)
        data = _with_tck("3b 80 80 b1 fe 45 f1 20 13 01 1f 03")
        p, status = _parse(data)
        self.assertEqual(status, DONE)
        self.assertEqual(p.groups, 5)
        self.assertEqual((p.td(1), p.td(2), p.td(3), p.td(4)), (0x80, 0xB1, 0xF1, 0x1F))
        self.assertEqual((p.ta(1), p.tb(1), p.tc(1), p.ta(2), p.tb(2), p.tc(2)), (-1, -1, -1, -1, -1, -1))
        self.assertEqual((p.ta(3), p.tb(3), p.tc(3)), (0xFE, 0x45, -1))
        self.assertEqual((p.ta(4), p.tb(4), p.tc(4)), (0x20, 0x13, 0x01))
        self.assertEqual((p.ta(5), p.tb(5), p.tc(5), p.td(5)), (0x03, -1, -1, -1))
        self.assertEqual(p.ta(6), -1)
        # only the first TA/TB/TC per T counts
        self.assertEqual(p.first_for_protocol(KIND_TA, 1), 0xFE)
        self.assertEqual(p.first_for_protocol(KIND_TB, 1), 0x45)
        self.assertEqual(p.first_for_protocol(KIND_TC, 1), 0x01)  # first present one is TC4
        self.assertEqual(p.first_for_protocol(KIND_TA, 15), 0x03)
        self.assertEqual(p.first_for_protocol(KIND_TA, 0), -1)  # group 2 bytes are global, not T=0's
        self.assertEqual(p.offered_protocols(), 0x03)
        self.assertEqual(p.default_protocol(), 0)
        self.assertTrue(p.tck_present)
        d, action = _decide(p)
        self.assertEqual(action, ACCEPT)
        self.assertEqual((d.protocol, d.ifsc, d.bwi, d.cwi, d.edc_crc), (0, 254, 4, 5, True))
        # T=15's TA4 is not an IFSC (openemv non-EMV vector)
        p, status = _parse("3bda18ff81b1fe751f030031f573c78a40009000b0")
        self.assertEqual(status, DONE)
        self.assertEqual((p.ta(4), p.first_for_protocol(KIND_TA, 1), p.first_for_protocol(KIND_TA, 15)), (3, 254, 3))

    def test_A9_no_tck_when_only_t0(self):
        cases = ("3b021450", "3bdc18ff00001225006480000401009000", "3b808000", "3b00", "3bac00402a001225006480000310009000")
        for text in cases:
            data = _hex(text)
            p = ATRParser()
            status, end = _feed(p, data)
            self.assertEqual((status, end), (DONE, len(data) - 1), text)
            self.assertFalse(p.tck_present)
            self.assertEqual(p.extra, 0)
            self.assertEqual(p.length, len(data))

    def test_A10_tck_required_for_t_other_than_0(self):
        for text in (
            "3bf41300ffd0000a3f0300deadbeefdc",  # T=0 + T=15
            "3be000ff81317c4192",  # T=1
            "3b9b188001001225006480040100009044",  # T=0 + T=1 (CPS4)
            "3b800e8e",  # T=14 only
        ):
            data = _hex(text)
            p = ATRParser()
            self.assertEqual(_feed(p, data[:-1])[0], NEED_MORE, text)
            self.assertEqual(p.feed_byte(data[-1]), DONE, text)
            self.assertTrue(p.tck_present)
            x = 0
            for b in p.atr()[1:]:
                x ^= b
            self.assertEqual(x, 0)

    def test_A11_wrong_tck(self):
        p, status = _parse("3b888001000000007783950000")
        self.assertEqual((status, p.error), (ERROR, atr.BAD_TCK))
        self.assertEqual(atr.ccid_error(p.error), 0xF7)
        good = _hex("3be000ff81317c4192")
        for i in range(2, len(good)):  # TB1..TCK; flipping b2 keeps every presence bit
            bad = bytearray(good)
            bad[i] ^= 0x02
            p, status = _parse(bytes(bad))
            self.assertEqual(status, ERROR, i)
            self.assertEqual(p.error, atr.BAD_TCK, i)
        self.assertEqual(p.feed_byte(0x00), ERROR)
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.BAD_TCK))

    def test_A13_extra_bytes_after_end(self):
        p = ATRParser()
        status, end = _feed(p, _hex("3b02145011"))
        self.assertEqual((status, end, p.extra), (DONE, 3, 1))
        self.assertEqual(bytes(p.atr()), _hex("3b021450"))
        for _ in range(300):
            self.assertEqual(p.feed_byte(0x3B), DONE)
        self.assertEqual(p.extra, 255)  # saturates
        self.assertEqual(bytes(p.atr()), _hex("3b021450"))
        self.assertEqual(bytes(p.historical()), _hex("1450"))
        d, action = _decide(p)
        self.assertEqual(action, ACCEPT)

    def test_A14_more_than_33_characters(self):
        # endless TD chain: the 34th character is refused, nothing written past buf
        p = ATRParser()
        status, end = _feed(p, _hex("3b") + bytes([0x80] * 60))
        self.assertEqual((status, end, p.error), (ERROR, 33, atr.TOO_LONG))
        self.assertEqual(p.length, 33)
        self.assertEqual(len(p.buf), 33)
        self.assertEqual(atr.ccid_error(p.error), 0xF7)
        # exactly 33 characters (K = 15 + TCK): accepted
        head = "3b ff 11 00 00 e1 00 0a f1 fe 45 00 f1 20 45 00 01"
        data = _with_tck(head + " 00" * 15)
        self.assertEqual(len(data), 33)
        p, status = _parse(data)
        self.assertEqual((status, p.length), (DONE, 33))
        # one more group: the announced length (37) is refused when the interface bytes end
        data = _hex("3b ff 11 00 00 e1 00 0a f1 fe 45 00 f1 20 45 00 f1 20 45 00 01") + bytes(16)
        p = ATRParser()
        status, end = _feed(p, data)
        self.assertEqual((status, end, p.error, p.length), (ERROR, 20, atr.TOO_LONG, 21))

    def test_A15_t15_in_td1(self):
        p = ATRParser()
        status, end = _feed(p, _with_tck("3b 80 0f"))
        self.assertEqual((status, end, p.error), (ERROR, 2, atr.T15_IN_TD1))
        p, status = _parse("3b801fc78031e073fe211163407163830790009a")
        self.assertEqual((status, p.error, p.length), (ERROR, atr.T15_IN_TD1, 3))
        self.assertEqual(atr.ccid_error(p.error), 0xF7)
        # T=15 in TD2 is fine
        p, status = _parse("3b9f96801fc78031a073be21136743200718000001a5")
        self.assertEqual(status, DONE)

    def test_A16_rfu_fi_di(self):
        # negotiable mode: TA1 unusable, stay at 372/1
        for ta1 in ("70", "80", "e1", "f1", "10", "1a", "1f"):
            p, status = _parse("3b10" + ta1)
            self.assertEqual(status, DONE, ta1)
            d, action = _decide(p)
            self.assertEqual(action, ACCEPT, ta1)
            self.assertFalse(d.ta1_usable)
            self.assertFalse(d.ta1_supported)
            self.assertEqual((d.fi, d.di, d.f, d.d), (372, 1, 372, 1), ta1)
            self.assertEqual(d.wt_etu, 9600)
        # specific mode with an RFU TA1: warm reset if the card can change mode, else reject
        p, status = _parse("3b90701000")
        self.assertEqual(status, DONE)
        d, action = _decide(p)
        self.assertEqual((action, d.error), (WARM_RESET, atr.BAD_TA1))
        self.assertEqual(atr.ccid_error(d.error), 0xF6)
        d, action = _decide(p, after_warm_reset=True)
        self.assertEqual(action, REJECT)
        p, status = _parse("3b90701080")
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.BAD_TA1))

    def test_A17_specific_mode_uses_ta2_protocol_and_ta1(self):
        p, status = _parse("3bf41300ff9101717c4100deadbeefe6")
        d, action = _decide(p)
        self.assertEqual(action, ACCEPT)
        self.assertTrue(d.specific)
        self.assertTrue(d.can_change_mode)
        self.assertEqual((d.protocol, d.f, d.d), (1, 372, 4))
        self.assertEqual(d.bwt_etu, 11 + 16 * 960 * 4)
        p, status = _parse("3bf41300ffd0000a3f0300deadbeefdc")
        d, action = _decide(p)
        self.assertEqual(action, ACCEPT)
        self.assertEqual((d.protocol, d.f, d.d, d.wt_etu, d.guard_time_etu), (0, 372, 4, 38400, 12))
        # TA2's T wins over TD1's: TD1 offers T=0 and T=1, TA2 says T=1
        p, status = _parse(_with_tck("3b 90 18 90 01 01"))
        self.assertEqual(status, DONE)
        self.assertEqual(p.default_protocol(), 0)
        d, action = _decide(p)
        self.assertEqual((action, d.protocol, d.f, d.d), (ACCEPT, 1, 372, 12))
        # negotiable mode keeps Fd/Dd: TA1 is only a PPS proposal
        p, status = _parse("3b9813400aa503010101ad1311")
        d, action = _decide(p)
        got = (action, d.specific, d.fi, d.di, d.f, d.d, d.ta1_supported)
        self.assertEqual(got, (ACCEPT, False, 372, 4, 372, 1, True))

    def test_A18_specific_ta1_unsupported(self):
        # TA1 = 97 (512/64): 446 400 bit/s at 3.5712 MHz, above a 250 000 bit/s reader
        p, status = _parse("3b90971000")
        self.assertEqual(status, DONE)
        d, action = _decide(p)
        self.assertEqual((action, d.error), (WARM_RESET, atr.TA1_UNSUPPORTED))
        d, action = _decide(p, after_warm_reset=True)  # still specific after the warm reset
        self.assertEqual((action, d.error), (REJECT, atr.TA1_UNSUPPORTED))
        p, status = _parse("3b90971080")  # b8 = 1: unable to change mode
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.TA1_UNSUPPORTED))
        self.assertFalse(d.can_change_mode)
        # a faster reader honours it
        p, status = _parse("3b90971000")
        d, action = _decide(p, max_baud=500000)
        self.assertEqual((action, d.f, d.d), (ACCEPT, 512, 64))
        # clock above fmax (TA1 = 13: fmax 5 MHz)
        p, status = _parse("3b90131000")
        d, action = _decide(p, clock_hz=6000000)
        self.assertEqual((action, d.error), (WARM_RESET, atr.TA1_UNSUPPORTED))
        # TA2 asks for an unsupported protocol (T=14)
        p, status = _parse("3b 90 11 10 0e")  # T=0 only indicated: no TCK
        self.assertEqual(status, DONE)
        d, action = _decide(p)
        self.assertEqual((action, d.error), (WARM_RESET, atr.PROTOCOL_NOT_SUPPORTED))

    def test_A19_implicit_ta2(self):
        p, status = _parse(_with_tck("3b 90 11 11 11"))
        self.assertEqual(status, DONE)
        d, action = _decide(p)
        self.assertTrue(d.implicit)
        self.assertEqual((action, d.error), (WARM_RESET, atr.IMPLICIT_TA2))
        d, action = _decide(p, after_warm_reset=True)
        self.assertEqual((action, d.error), (REJECT, atr.IMPLICIT_TA2))
        p, status = _parse(_with_tck("3b 90 11 11 91"))
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.IMPLICIT_TA2))
        self.assertEqual(atr.ccid_error(d.error), 0xF6)

    def test_A20_guard_time_from_tc1(self):
        cases = (
            ("3bdc18ff00001225006480000401009000", 255, 0, 12),  # N = 255, T=0
            ("3be000ff81317c4192", 255, 1, 11),  # N = 255, T=1
            ("3bf2180002c10a31fe58c80874", 2, 1, 14),  # N = 2
            ("3b021450", 0, 0, 12),  # TC1 absent
            ("3b40fe", 254, 0, 266),
        )
        for text, n, protocol, gt in cases:
            p, status = _parse(text)
            self.assertEqual(status, DONE, text)
            d, action = _decide(p)
            self.assertEqual((action, d.n, d.protocol, d.guard_time_etu), (ACCEPT, n, protocol, gt), text)

    def test_A21_tc2_zero_invalid(self):
        p, status = _parse("3b804000")
        self.assertEqual(status, DONE)
        self.assertEqual(p.tc(2), 0)
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.BAD_WI))
        p, status = _parse("3b80400a")
        d, action = _decide(p)
        self.assertEqual((action, d.wi, d.wt_etu), (ACCEPT, 10, 9600))
        p, status = _parse("3b80402a")
        d, action = _decide(p)
        self.assertEqual((action, d.wi, d.wt_etu), (ACCEPT, 42, 40320))

    def test_A22_ifsc_reserved_values(self):
        p, status = _parse(_with_tck("3b e0 00 ff 81 31 00 41"))
        self.assertEqual(status, DONE)
        d, action = _decide(p)
        self.assertEqual((action, d.error), (REJECT, atr.BAD_IFSC))
        p, status = _parse(_with_tck("3b e0 00 ff 81 31 ff 41"))
        d, action = _decide(p)
        self.assertEqual((action, d.ifsc), (ACCEPT, 254))  # clamped like libccid
        p, status = _parse(_with_tck("3b e0 00 ff 81 31 fe 41"))
        d, action = _decide(p)
        self.assertEqual((action, d.ifsc), (ACCEPT, 254))
        p, status = _parse(_with_tck("3b e0 00 ff 81 31 01 41"))
        d, action = _decide(p)
        self.assertEqual((action, d.ifsc), (ACCEPT, 1))
        p, status = _parse(_with_tck("3b e0 00 ff 81 21 41"))  # TA3 absent: default 32
        d, action = _decide(p)
        self.assertEqual((action, d.ifsc, d.bwi, d.cwi), (ACCEPT, 32, 4, 1))

    def test_A23_bwi_rfu_rejected(self):
        for tb3 in ("a1", "b5", "f0"):
            p, status = _parse(_with_tck("3b e0 00 ff 81 31 7c " + tb3))
            self.assertEqual(status, DONE, tb3)
            d, action = _decide(p)
            self.assertEqual((action, d.error), (REJECT, atr.BAD_BWI), tb3)
        p, status = _parse(_with_tck("3b e0 00 ff 81 31 7c 9f"))
        d, action = _decide(p)
        self.assertEqual((action, d.bwi, d.cwi, d.bwt_etu, d.cwt_etu), (ACCEPT, 9, 15, 491531, 11 + 32768))


class TestVectors(unittest.TestCase):
    def test_vectors_present(self):
        self.assertTrue(len(VECTORS) >= 30)
        names = [r["name"] for r in VECTORS]
        for needle in ("CPS3 contact", "CPS4 contact", "CPS4 T=0 only", "Vitale 2", "pyscard inverse / Vitale 1"):
            self.assertTrue(needle in names, needle)

    def _check_parse(self, rec, p, status, where):
        msg = rec["name"] + " " + where
        self.assertEqual(status, _STATUS[rec["status"]], msg)
        self.assertEqual(p.error, _ERRORS[rec["error"]] if rec["error"] else atr.NO_ERROR, msg)
        self.assertEqual(p.length, rec["length"], msg)
        self.assertEqual(p.extra, rec["extra"], msg)
        logical = _hex(rec["atr"])
        self.assertEqual(bytes(p.atr()), logical[: rec["length"]], msg)
        if rec["status"] != "done":
            return
        self.assertEqual(p.inverse, rec["inverse"], msg)
        self.assertEqual(bytes(p.historical()), _hex(rec["hist"]), msg)
        self.assertEqual(p.tck_present, rec["tck"], msg)
        bitmap = 0
        for t in rec["protocols"]:
            bitmap |= 1 << t
        self.assertEqual(p.offered_protocols(), bitmap, msg)
        self.assertEqual(p.default_protocol(), rec["default_protocol"], msg)
        for i in range(1, 8):
            for k in "ABCD":
                name = "T%s%d" % (k, i)
                want = int(rec["iface"][name], 16) if name in rec["iface"] else -1
                self.assertEqual(p.iface(_KINDS[k], i), want, msg + " " + name)

    def test_vectors_parse_in_card_convention(self):
        for rec in VECTORS:
            p, status = _parse(rec["atr"])
            self._check_parse(rec, p, status, "(UART in card convention)")

    def test_vectors_parse_through_direct_and_inverse_uart(self):
        for rec in VECTORS:
            for rx_inverse in (False, True):
                p, status = _parse(rec["atr"], rx_inverse=rx_inverse)
                self._check_parse(rec, p, status, "(UART inverse=%s)" % rx_inverse)

    def test_vectors_decisions(self):
        n = 0
        for rec in VECTORS:
            if "decision" not in rec:
                continue
            p, _ = _parse(rec["atr"])
            d, action = _decide(p)
            want = rec["decision"]
            for key in want:
                if key == "action":
                    self.assertEqual(action, _ACTIONS[want[key]], rec["name"])
                    self.assertEqual(d.action, action)
                elif key == "error":
                    self.assertEqual(d.error, _ERRORS[want[key]] if want[key] else atr.NO_ERROR, rec["name"])
                else:
                    self.assertEqual(getattr(d, key), want[key], rec["name"] + " " + key)
            n += 1
        self.assertTrue(n >= 20)


@unittest.skipIf(not _HEAP_LOCK, "micropython.heap_lock only on MicroPython")
class TestNoAllocation(unittest.TestCase):
    def test_feed_byte_allocates_nothing(self):
        streams = []
        for rec in VECTORS:
            logical = _hex(rec["atr"])
            streams.append(logical)
            streams.append(_line(logical, False))  # inverse ATRs: software conversion path
        streams.append(_hex("3b") + bytes([0x80] * 40))  # TOO_LONG
        streams.append(_hex("42021450"))  # BAD_TS
        parsers = (ATRParser(rx_inverse=False), ATRParser(rx_inverse=True))
        out = bytearray(len(streams))
        micropython.heap_lock()
        try:
            for j in range(len(streams)):
                data = streams[j]
                p = parsers[1] if data[0] == 0x3F else parsers[0]
                p.reset()
                status = NEED_MORE
                for i in range(len(data)):
                    status = p.feed_byte(data[i])
                out[j] = status
                p.reset()
                p.feed(data)
                if p.status != status:
                    out[j] = 0xFF
        finally:
            micropython.heap_unlock()
        for j in range(len(out)):
            self.assertTrue(out[j] in (NEED_MORE, DONE, ERROR), j)  # feed() agreed with feed_byte()
        self.assertEqual(out[-1], ERROR)
        self.assertEqual(out[-2], ERROR)
        self.assertEqual(out[0], DONE)
        self.assertEqual(out[1], DONE)
