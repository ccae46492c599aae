"""ISO 7816-3 PPS: proposal policy, request builder, response checker; runs on CPython and MicroPython.

One test per row of iso7816-3.md §6.2 (P1-P12), named after it; the §7.2 vectors
(expected bytes written from the reference text); fuzz-ish checks of the response
checker; a heap_lock test (MicroPython only). P6 and P11 are slot-level rules: what
the engine provides for them (timeout(), PPS_WT_ETU, PPSGate) is tested here; the
timer itself needs the card port and a virtual card (slot tests).
"""

import unittest

from cpsdi_fw.iso7816_3 import pps, timing
from cpsdi_fw.iso7816_3.atr import ACCEPT, DONE, ERROR, NEED_MORE, ATRDecision, ATRParser
from cpsdi_fw.iso7816_3.pps import (
    REFUSE,
    SEND,
    SKIP,
    PPSGate,
    PPSProposal,
    PPSResponseChecker,
    apply_pps,
    build_pps,
    wt_etu_after_pps,
)
from cpsdi_proto import ccid

try:
    import micropython

    _HEAP_LOCK = hasattr(micropython, "heap_lock")
except ImportError:
    _HEAP_LOCK = False

CLOCK_HZ = 3571200
MAX_BAUD = 250000

# iso7816-3.md §7.1 ATRs used below
ATR_NON_EMV_T1_18 = "3B DA 18 FF 81 B1 FE 75 1F 03 00 31 F5 73 C7 8A 40 00 90 00 B0"  # 372/12, T=1, TC1 FF, BWI 7
ATR_SPECIFIC_T1_13 = "3B F4 13 00 FF 91 01 71 7C 41 00 DE AD BE EF E6"  # TA2 = 01: specific T=1, 372/4
ATR_SYSMO_96 = "3B 9F 96 80 1F C7 80 31 A0 73 BE 21 13 67 43 20 07 18 00 00 01 A5"  # 512/32, T=0 (+T=15)
ATR_T0_T1_NO_TA1 = "3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 03 00 00 00 00 68"  # T=0 first, T=1 offered
ATR_INVERSE_T0_T1_18 = "3F 96 18 80 01 80 51 00 61 10 30 9F"  # inverse, 372/12, T=0 first, T=1 offered
ATR_T0_ONLY = "3B 02 14 50"  # no TA1, T=0

# iso7816-3.md §7.2: (T, PPS1 or -1, request, good responses with their F/D)
PPS_VECTORS = (
    (1, 0x18, "FF 11 18 F6", (("FF 11 18 F6", 372, 12), ("FF 01 FE", 372, 1))),
    (1, 0x13, "FF 11 13 FD", (("FF 11 13 FD", 372, 4),)),
    (0, 0x13, "FF 10 13 FC", (("FF 10 13 FC", 372, 4), ("FF 00 FF", 372, 1))),
    (0, 0x18, "FF 10 18 F7", (("FF 10 18 F7", 372, 12),)),
    (0, 0x96, "FF 10 96 79", (("FF 10 96 79", 512, 32),)),
    (1, -1, "FF 01 FE", (("FF 01 FE", 372, 1),)),
)


def _hex(text):
    return bytes.fromhex(text.replace(" ", ""))


def _decision(atr_hex, clock_hz=CLOCK_HZ, max_baud=MAX_BAUD):
    data = _hex(atr_hex)
    parser = ATRParser(rx_inverse=data[0] == 0x3F)
    for b in data:
        parser.feed_byte(b)
    d = ATRDecision()
    action = d.decide(parser, clock_hz, max_baud)
    return d, action


def _propose(atr_hex, clock_hz=CLOCK_HZ, max_baud=MAX_BAUD, want_protocol=-1):
    d, action = _decision(atr_hex, clock_hz, max_baud)
    p = PPSProposal()
    p.decide(d, clock_hz, max_baud, want_protocol)
    return d, action, p


def _request(proposal):
    buf = bytearray(8)
    n = proposal.build(buf)
    return bytes(buf[:n])


def _exchange(request, response, checker=None):
    """Start a checker on `request`, feed `response` byte by byte; return (checker, last status)."""
    if checker is None:
        checker = PPSResponseChecker()
    status = checker.start(request)
    for b in response:
        status = checker.feed_byte(b)
    return checker, status


class TestPPSRows(unittest.TestCase):
    """iso7816-3.md §6.2, one test per row."""

    def test_P1_negotiable_ta1_18_echo_switches_after_pck(self):
        d, action, p = _propose(ATR_NON_EMV_T1_18)
        self.assertEqual(action, ACCEPT)
        self.assertFalse(d.specific)
        self.assertEqual((d.f, d.d), (372, 1))  # Fd/Dd until the PPS succeeds
        self.assertEqual(p.action, SEND)
        self.assertEqual((p.protocol, p.pps1, p.walked), (1, 0x18, False))
        req = _request(p)
        self.assertEqual(req, _hex("FF 11 18 F6"))
        chk = PPSResponseChecker()
        self.assertEqual(chk.start(req), NEED_MORE)
        echo = _hex("FF 11 18 F6")
        for i in range(3):
            self.assertEqual(chk.feed_byte(echo[i]), NEED_MORE)  # no switch before PCK
            self.assertEqual((chk.f, chk.d), (372, 1))
        self.assertEqual(chk.feed_byte(echo[3]), DONE)
        self.assertEqual((chk.protocol, chk.fidi, chk.f, chk.d, chk.pps1_echoed), (1, 0x18, 372, 12, True))
        self.assertEqual(bytes(chk.response()), echo)
        # Timers rescaled (hand-computed): BWT = 11 + 2^7 * 960 * 12; WT = 10 * 960 * 12; CGT 11 (TC1 FF, T=1)
        self.assertEqual(d.bwt_etu, 11 + 128 * 960)
        self.assertTrue(apply_pps(d, chk))
        self.assertEqual((d.protocol, d.f, d.d), (1, 372, 12))
        self.assertEqual(d.bwt_etu, 1474571)
        self.assertEqual(d.wt_etu, 115200)
        self.assertEqual(d.guard_time_etu, 11)
        self.assertEqual(d.cwt_etu, 11 + 32)  # CWI 5, in etu: unchanged
        self.assertEqual(timing.baud(d.f, d.d, CLOCK_HZ), 115200)

    def test_P2_response_without_pps1_keeps_fd_dd(self):
        d, _, p = _propose(ATR_NON_EMV_T1_18)
        chk, status = _exchange(_request(p), _hex("FF 01 FE"))
        self.assertEqual(status, DONE)
        self.assertEqual(chk.expected_length, 3)
        self.assertEqual((chk.protocol, chk.fidi, chk.f, chk.d, chk.pps1_echoed), (1, 0x11, 372, 1, False))
        self.assertTrue(apply_pps(d, chk))
        self.assertEqual((d.protocol, d.f, d.d), (1, 372, 1))
        self.assertEqual(d.bwt_etu, 11 + 128 * 960)

    def test_P3_different_pps1_fails(self):
        chk = PPSResponseChecker()
        chk.start(_hex("FF 11 18 F6"))
        resp = _hex("FF 11 13 FD")  # PCK valid for what it carries
        self.assertEqual(chk.feed_byte(resp[0]), NEED_MORE)
        self.assertEqual(chk.feed_byte(resp[1]), NEED_MORE)
        self.assertEqual(chk.feed_byte(resp[2]), ERROR)  # known at PPS1, before PCK
        self.assertEqual(chk.error, pps.PPS1_MISMATCH)
        self.assertEqual(chk.feed_byte(resp[3]), ERROR)
        self.assertEqual(pps.ccid_error(chk.error), ccid.ERR_ICC_PROTOCOL_NOT_SUPPORTED)
        d, _, _ = _propose(ATR_NON_EMV_T1_18)
        self.assertFalse(apply_pps(d, chk))
        self.assertEqual((d.f, d.d), (372, 1))

    def test_P4_bad_pck_fails(self):
        for req, resp in (
            ("FF 11 18 F6", "FF 11 18 F7"),
            ("FF 11 18 F6", "FF 01 FF"),
            ("FF 10 96 79", "FF 10 96 00"),
            ("FF 01 FE", "FF 01 00"),
        ):
            chk, status = _exchange(_hex(req), _hex(resp))
            self.assertEqual(status, ERROR, resp)
            self.assertEqual(chk.error, pps.BAD_PCK, resp)
            self.assertEqual(pps.ccid_error(chk.error), ccid.ERR_ICC_PROTOCOL_NOT_SUPPORTED)

    def test_P5_different_t_echoed_fails(self):
        for req, resp in (
            ("FF 11 18 F6", "FF 10 18 F7"),  # valid PCK, T=0 instead of T=1
            ("FF 11 18 F6", "FF 00 FF"),
            ("FF 01 FE", "FF 00 FF"),
            ("FF 10 13 FC", "FF 11 13 FD"),
        ):
            chk = PPSResponseChecker()
            chk.start(_hex(req))
            data = _hex(resp)
            self.assertEqual(chk.feed_byte(data[0]), NEED_MORE)
            self.assertEqual(chk.feed_byte(data[1]), ERROR, resp)  # at PPS0
            self.assertEqual(chk.error, pps.BAD_PROTOCOL, resp)

    def test_P6_no_response_within_initial_wt(self):
        self.assertEqual(pps.PPS_WT_ETU, timing.INITIAL_WT_ETU)
        self.assertEqual(pps.PPS_WT_ETU, 9600)
        chk = PPSResponseChecker()
        chk.start(_hex("FF 11 18 F6"))
        self.assertEqual(chk.remaining(), 3)
        self.assertEqual(chk.timeout(), ERROR)
        self.assertEqual(chk.error, pps.NO_RESPONSE)
        self.assertEqual(pps.ccid_error(chk.error), ccid.ERR_ICC_MUTE)
        # Silence in the middle of the response (WT restarted at each character)
        chk.start(_hex("FF 11 18 F6"))
        chk.feed(_hex("FF 11"))
        self.assertEqual(chk.remaining(), 2)
        self.assertEqual(chk.timeout(), ERROR)
        self.assertEqual(chk.error, pps.TRUNCATED)
        self.assertEqual(pps.ccid_error(chk.error), ccid.ERR_ICC_MUTE)
        # A timer firing after the PCK changes nothing
        chk, status = _exchange(_hex("FF 11 18 F6"), _hex("FF 11 18 F6"))
        self.assertEqual(chk.timeout(), DONE)
        self.assertEqual((chk.error, chk.f, chk.d), (pps.NO_ERROR, 372, 12))

    def test_P7_response_longer_than_request_fails(self):
        for req, resp in (
            ("FF 11 18 F6", "FF 31 18 00 D6"),  # unrequested PPS2 (PCK valid)
            ("FF 11 18 F6", "FF 51 18 00 B6"),  # unrequested PPS3
            ("FF 01 FE", "FF 11 18 F6"),  # unrequested PPS1
            ("FF 00 FF", "FF 10 13 FC"),
        ):
            chk = PPSResponseChecker()
            chk.start(_hex(req))
            data = _hex(resp)
            chk.feed_byte(data[0])
            self.assertEqual(chk.feed_byte(data[1]), ERROR, resp)  # known at PPS0
            self.assertEqual(chk.error, pps.TOO_LONG, resp)
        # A byte after the PCK: longer than PPS0 announced
        chk, status = _exchange(_hex("FF 11 18 F6"), _hex("FF 11 18 F6 00"))
        self.assertEqual(status, ERROR)
        self.assertEqual(chk.error, pps.TOO_LONG)
        chk, status = _exchange(_hex("FF 11 18 F6"), _hex("FF 01 FE F6"))
        self.assertEqual((status, chk.error), (ERROR, pps.TOO_LONG))
        # feed() stops at DONE and leaves what follows to the caller
        chk = PPSResponseChecker()
        chk.start(_hex("FF 11 18 F6"))
        data = _hex("FF 01 FE 77 88")
        self.assertEqual(chk.feed(data), 3)
        self.assertEqual(chk.status, DONE)

    def test_P8_specific_mode_never_sends_pps(self):
        d, action, p = _propose(ATR_SPECIFIC_T1_13)
        self.assertEqual(action, ACCEPT)
        self.assertTrue(d.specific)
        self.assertEqual(p.action, SKIP)
        self.assertEqual((p.protocol, p.pps1, p.f, p.d), (1, -1, 372, 4))
        self.assertEqual(_request(p), b"")
        # Another T cannot be negotiated in specific mode
        _, _, p = _propose(ATR_SPECIFIC_T1_13, want_protocol=0)
        self.assertEqual((p.action, p.error), (REFUSE, pps.SPECIFIC_MODE))
        self.assertEqual(pps.ccid_error(p.error), ccid.ERR_ICC_PROTOCOL_NOT_SUPPORTED)
        gate = PPSGate()
        gate.after_atr(d)
        self.assertFalse(gate.allowed())
        self.assertEqual(gate.before_pps(), pps.NOT_ALLOWED)

    def test_P9_reader_too_slow_walks_di_down_same_fi(self):
        # TA1 96 (512/32, 223 200 bit/s at 3.5712 MHz)
        _, _, p = _propose(ATR_SYSMO_96, max_baud=250000)
        self.assertEqual((p.action, p.pps1, p.walked, p.f, p.d), (SEND, 0x96, False, 512, 32))
        _, _, p = _propose(ATR_SYSMO_96, max_baud=115200)
        self.assertEqual((p.action, p.pps1, p.walked, p.f, p.d), (SEND, 0x95, True, 512, 16))  # 111 600 bit/s
        self.assertEqual(_request(p), _hex("FF 10 95 7A"))
        _, _, p = _propose(ATR_SYSMO_96, max_baud=60000)
        self.assertEqual((p.pps1, p.f, p.d), (0x94, 512, 8))  # 55 800 bit/s
        _, _, p = _propose(ATR_SYSMO_96, max_baud=20000)
        self.assertEqual((p.pps1, p.d), (0x92, 2))  # 13 950 bit/s
        # Nothing faster than 372/1 fits (0x91 = 512/1 is slower): default T -> no PPS at all
        _, _, p = _propose(ATR_SYSMO_96, max_baud=9600)
        self.assertEqual((p.action, p.pps1, p.f, p.d), (SKIP, -1, 372, 1))
        # Clock above fmax(FI 9) = 5 MHz: no DI helps
        _, _, p = _propose(ATR_SYSMO_96, clock_hz=6000000, max_baud=1000000)
        self.assertEqual((p.action, p.pps1), (SKIP, -1))
        # Non-monotonic Table 8: from DI 9 (20), 8 (12) is tried, 7/6/5 (64/32/16) skipped, then 4 (8)
        _, _, p = _propose("3B 10 19", max_baud=150000)
        self.assertEqual((p.pps1, p.d), (0x18, 12))  # 115 200 bit/s
        _, _, p = _propose("3B 10 19", max_baud=100000)
        self.assertEqual((p.pps1, p.d), (0x14, 8))  # 76 800 bit/s
        self.assertEqual(_request(p), _hex("FF 10 14 FB"))
        # Whatever the limit, the proposal is never faster than TA1 nor than the reader
        for max_baud in (9600, 10000, 20000, 40000, 80000, 120000, 200000, 250000, 700000):
            for atr_hex in (ATR_SYSMO_96, "3B 10 19", "3B 10 97", "3B 10 D8", ATR_NON_EMV_T1_18):
                d, _, p = _propose(atr_hex, max_baud=max_baud)
                if p.pps1 >= 0:
                    self.assertEqual(p.pps1 & 0xF0, d.ta1 & 0xF0)
                    self.assertTrue(p.d <= d.di)
                    self.assertTrue(timing.baud(p.f, p.d, CLOCK_HZ) <= max_baud)
                    self.assertTrue(timing.baud(p.f, p.d, CLOCK_HZ) > timing.baud(372, 1, CLOCK_HZ))

    def test_P10_select_t1_when_t0_offered_first(self):
        d, _, p = _propose(ATR_T0_T1_NO_TA1, want_protocol=1)
        self.assertEqual(d.default_protocol, 0)
        self.assertEqual((p.action, p.protocol, p.pps1), (SEND, 1, -1))
        req = _request(p)
        self.assertEqual(req, _hex("FF 01 FE"))
        chk, status = _exchange(req, _hex("FF 01 FE"))
        self.assertEqual((status, chk.protocol, chk.f, chk.d), (DONE, 1, 372, 1))
        self.assertTrue(apply_pps(d, chk))
        self.assertEqual(d.protocol, 1)
        self.assertEqual(d.bwt_etu, timing.bwt_etu(4, 1, 372))
        # The default T alone, no TA1: nothing to negotiate
        _, _, p = _propose(ATR_T0_T1_NO_TA1)
        self.assertEqual((p.action, p.protocol), (SKIP, 0))
        # With TA1 = 18 (inverse-convention card): PPS0 = 11 carries T=1 and PPS1
        d, action, p = _propose(ATR_INVERSE_T0_T1_18, want_protocol=1)
        self.assertEqual(action, ACCEPT)
        self.assertEqual(_request(p), _hex("FF 11 18 F6"))
        _, _, p = _propose(ATR_INVERSE_T0_T1_18)
        self.assertEqual(_request(p), _hex("FF 10 18 F7"))
        # Default T unsupported (TD1 T=2, then T=0): the ATR decision chose T=0, a PPS must select it
        d, action, p = _propose("3B 80 82 00 02")
        self.assertEqual((action, d.default_protocol, d.protocol, d.pps_required), (ACCEPT, 2, 0, True))
        self.assertEqual((p.action, p.protocol), (SEND, 0))
        req = _request(p)
        self.assertEqual(req, _hex("FF 00 FF"))
        chk, status = _exchange(req, req)
        self.assertTrue(apply_pps(d, chk))
        self.assertEqual((d.protocol, d.pps_required), (0, False))
        # A T the card does not offer is refused, never proposed
        _, _, p = _propose(ATR_T0_ONLY, want_protocol=1)
        self.assertEqual((p.action, p.error), (REFUSE, pps.PROTOCOL_NOT_OFFERED))
        _, _, p = _propose(ATR_T0_T1_NO_TA1, want_protocol=2)
        self.assertEqual((p.action, p.error), (REFUSE, pps.PROTOCOL_NOT_OFFERED))

    def test_P11_pps_only_as_first_exchange(self):
        d, _ = _decision(ATR_NON_EMV_T1_18)
        gate = PPSGate()
        self.assertFalse(gate.allowed())  # no ATR yet
        self.assertEqual(gate.state, pps.PPS_FORBIDDEN)
        gate.after_atr(d)
        self.assertTrue(gate.allowed())
        self.assertEqual(gate.state, pps.PPS_ALLOWED)
        gate.after_exchange()  # an APDU/TPDU went to the card
        self.assertFalse(gate.allowed())
        self.assertEqual(gate.before_pps(), pps.NOT_ALLOWED)
        self.assertEqual(pps.ccid_error(pps.NOT_ALLOWED), ccid.ERR_CMD_NOT_SUPPORTED)
        # New ATR (warm reset): allowed once
        gate.after_atr(d)
        self.assertEqual(gate.before_pps(), pps.NO_ERROR)
        self.assertEqual(gate.state, pps.PPS_SENT)
        self.assertEqual(gate.before_pps(), pps.NOT_ALLOWED)
        # A rejected ATR never opens the gate
        rejected = ATRDecision()
        gate.after_atr(rejected)
        self.assertFalse(gate.allowed())
        p = PPSProposal()
        self.assertEqual(p.decide(rejected, CLOCK_HZ, MAX_BAUD), REFUSE)
        self.assertEqual(p.error, pps.ATR_NOT_ACCEPTED)

    def test_P12_wt_after_pps_scales_with_d(self):
        # SIMtrace2 card_emu_tests values: WI 10 -> 9 600, 76 800 (FI/DI 9/4), 115 200 (D 12)
        self.assertEqual(wt_etu_after_pps(10, 372, 1), 9600)
        self.assertEqual(wt_etu_after_pps(10, 512, 8), 76800)
        self.assertEqual(wt_etu_after_pps(10, 372, 12), 115200)
        self.assertEqual(wt_etu_after_pps(10, 512, 32), 307200)
        self.assertEqual(wt_etu_after_pps(255, 2048, 64), 255 * 960 * 64)
        # Fd/Dd kept, TA1's Fi = 512 still in the formula: ceil(9 600 * 512 / 372)
        self.assertEqual(wt_etu_after_pps(10, 372, 1, 512), 13213)
        # Through the engine: T=0 card, TA1 96 walked to 94, echoed
        d, _, p = _propose(ATR_SYSMO_96, max_baud=60000)
        self.assertEqual(d.wt_etu, 13213)
        chk, status = _exchange(_request(p), _hex("FF 10 94 7B"))
        self.assertEqual(status, DONE)
        apply_pps(d, chk)
        self.assertEqual((d.f, d.d, d.wt_etu), (512, 8, 76800))
        # TA1 96 itself
        d, _, p = _propose(ATR_SYSMO_96)
        chk, _ = _exchange(_request(p), _hex("FF 10 96 79"))
        apply_pps(d, chk)
        self.assertEqual(d.wt_etu, 307200)
        # PPS1 absent in the answer: Fd/Dd, WT as before the PPS
        d, _, p = _propose(ATR_SYSMO_96)
        chk, _ = _exchange(_request(p), _hex("FF 00 FF"))
        apply_pps(d, chk)
        self.assertEqual((d.f, d.d, d.wt_etu), (372, 1, 13213))


class TestPPSVectors(unittest.TestCase):
    """iso7816-3.md §7.2."""

    def test_build_pps_vectors(self):
        buf = bytearray(8)
        for t, fidi, req, _ in PPS_VECTORS:
            n = build_pps(buf, t, fidi)
            self.assertEqual(bytes(buf[:n]), _hex(req), req)
            self.assertEqual(pps.check_request(buf, n), pps.NO_ERROR, req)

    def test_good_responses_accepted(self):
        for t, fidi, req, goods in PPS_VECTORS:
            for resp, f, d in goods:
                chk, status = _exchange(_hex(req), _hex(resp))
                self.assertEqual(status, DONE, resp)
                self.assertEqual((chk.protocol, chk.f, chk.d), (t, f, d), resp)
                self.assertEqual(chk.pps1_echoed, fidi >= 0 and len(_hex(resp)) == 4, resp)
                self.assertEqual(bytes(chk.response()), _hex(resp))
                # feed() over the whole response agrees with feed_byte()
                chk2 = PPSResponseChecker()
                chk2.start(_hex(req))
                self.assertEqual(chk2.feed(_hex(resp)), len(_hex(resp)))
                self.assertEqual((chk2.status, chk2.f, chk2.d), (DONE, f, d))

    def test_pcsc_issue_71_and_gempc_twin_traces(self):
        # §7.2: FF 11 18 F6 echoed (PCSC issue #71); FF 11 13 FD echoed (GemPC Twin, ccid-serial.md)
        for req in ("FF 11 18 F6", "FF 11 13 FD"):
            chk, status = _exchange(_hex(req), _hex(req))
            self.assertEqual((status, chk.fidi), (DONE, _hex(req)[2]))

    def test_build_pps_bad_arguments(self):
        buf = bytearray(8)
        self.assertEqual(build_pps(buf, 16, -1), 0)
        self.assertEqual(build_pps(buf, -1, -1), 0)
        self.assertEqual(build_pps(buf, 0, 256), 0)
        self.assertEqual(build_pps(buf, 0, -2), 0)
        self.assertEqual(build_pps(bytearray(3), 1, 0x18), 0)
        self.assertEqual(build_pps(bytearray(3), 1, -1), 3)
        self.assertEqual(build_pps(bytearray(2), 1, -1), 0)

    def test_check_request(self):
        ok = pps.NO_ERROR
        bad = pps.BAD_REQUEST
        self.assertEqual(pps.check_request(_hex("FF 11 18 F6")), ok)
        self.assertEqual(pps.check_request(_hex("FF 31 18 02 D4")), ok)  # with PPS2 (host-built)
        self.assertEqual(pps.check_request(_hex("FF 11 18 F6 00"), 4), ok)
        self.assertEqual(pps.check_request(_hex("FF 11 18 F7")), bad)  # PCK
        self.assertEqual(pps.check_request(_hex("FE 11 18 F7")), bad)  # PPSS
        self.assertEqual(pps.check_request(_hex("FF 11 F6")), bad)  # length
        self.assertEqual(pps.check_request(_hex("FF 91 18 76")), bad)  # PPS0 b8
        self.assertEqual(pps.check_request(_hex("FF 11 1A F4")), bad)  # DI RFU
        self.assertEqual(pps.check_request(_hex("FF 11 78 96")), bad)  # FI RFU
        self.assertEqual(pps.check_request(_hex("FF 01 FE"), 4), bad)
        self.assertEqual(pps.check_request(b"\xff\x00"), bad)
        chk = PPSResponseChecker()
        self.assertEqual(chk.feed_byte(0xFF), ERROR)  # not started
        self.assertEqual(chk.error, pps.NOT_STARTED)
        self.assertEqual(chk.start(_hex("FF 11 18 F7")), ERROR)
        self.assertEqual(chk.error, pps.BAD_REQUEST)
        self.assertEqual(pps.ccid_error(chk.error), ccid.ERR_CMD_NOT_SUPPORTED)

    def test_pps2_echoed_or_absent(self):
        req = _hex("FF 31 18 02 D4")
        for resp, ok in (
            ("FF 31 18 02 D4", True),
            ("FF 11 18 F6", True),
            ("FF 21 02 DC", True),
            ("FF 01 FE", True),
            ("FF 31 18 03 D5", False),
            ("FF 21 03 DD", False),
        ):
            chk, status = _exchange(req, _hex(resp))
            self.assertEqual(status == DONE, ok, resp)
            if not ok:
                self.assertEqual(chk.error, pps.PPS2_MISMATCH)
        chk, status = _exchange(req, _hex("FF 21 02 DC"))
        self.assertEqual((chk.f, chk.d, chk.pps1_echoed), (372, 1, False))

    def test_parity_error_and_ccid_mapping(self):
        chk = PPSResponseChecker()
        chk.start(_hex("FF 11 18 F6"))
        chk.feed_byte(0xFF)
        self.assertEqual(chk.parity_error(), ERROR)
        self.assertEqual(chk.error, pps.PARITY)
        self.assertEqual(pps.ccid_error(pps.PARITY), ccid.ERR_XFR_PARITY_ERROR)
        self.assertEqual(pps.ccid_error(pps.NO_ERROR), 0)
        for code in (pps.BAD_PPSS, pps.BAD_PPS0, pps.BAD_PROTOCOL, pps.TOO_LONG, pps.PPS1_MISMATCH):
            self.assertEqual(pps.ccid_error(code), ccid.ERR_ICC_PROTOCOL_NOT_SUPPORTED)
        for code in (pps.PPS2_MISMATCH, pps.BAD_PCK, pps.PROTOCOL_NOT_OFFERED, pps.SPECIFIC_MODE):
            self.assertEqual(pps.ccid_error(code), ccid.ERR_ICC_PROTOCOL_NOT_SUPPORTED)
        self.assertEqual(pps.ccid_error(pps.ATR_NOT_ACCEPTED), ccid.ERR_ICC_PROTOCOL_NOT_SUPPORTED)

    def test_no_pps_that_brings_nothing(self):
        for atr_hex in (ATR_T0_ONLY, "3B 10 11", "3B 10 01", "3B 10 91", "3B 10 1A"):
            d, action, p = _propose(atr_hex)
            self.assertEqual(action, ACCEPT, atr_hex)
            self.assertEqual((p.action, p.pps1), (SKIP, -1), atr_hex)


class TestPPSFuzz(unittest.TestCase):
    """Corrupted, truncated and extended responses: ERROR or a legitimate outcome, never another F/D."""

    def _outcome_ok(self, t, fidi, chk, data, goods):
        # A DONE response must be one of the §7.2 good answers, with its T and F/D
        for resp, f, d in goods:
            if bytes(data) == _hex(resp):
                return chk.protocol == t and chk.f == f and chk.d == d
        return False

    def test_every_single_byte_corruption(self):
        chk = PPSResponseChecker()
        accepted = 0
        rejected = 0
        for t, fidi, req_hex, goods in PPS_VECTORS:
            req = _hex(req_hex)
            for resp_hex, _, _ in goods:
                good = _hex(resp_hex)
                data = bytearray(good)
                for i in range(len(good)):
                    for v in range(256):
                        if v == good[i]:
                            continue
                        data[i] = v
                        chk.start(req)
                        status = NEED_MORE
                        for b in data:
                            status = chk.feed_byte(b)
                        if status == DONE:
                            self.assertTrue(self._outcome_ok(t, fidi, chk, data, goods), data)
                            accepted += 1
                        else:
                            self.assertEqual(status, ERROR, data)
                            self.assertNotEqual(chk.error, pps.NO_ERROR)
                            rejected += 1
                    data[i] = good[i]
        self.assertEqual(accepted, 0)  # no single-byte change turns a good answer into another good one
        self.assertEqual(rejected, 255 * (4 + 3 + 4 + 4 + 3 + 4 + 4 + 3))

    def test_all_pps0_and_pps1_values_with_valid_pck(self):
        req = _hex("FF 11 18 F6")
        chk = PPSResponseChecker()
        for x in range(256):
            # any PPS0, PPS1 = 18, PCK valid
            chk.start(req)
            chk.feed(bytes([0xFF, x, 0x18, 0xFF ^ x ^ 0x18]))
            if chk.status == DONE:
                self.assertEqual(x, 0x11)
                self.assertEqual((chk.f, chk.d), (372, 12))
            # PPS0 = 11, any PPS1, PCK valid
            chk.start(req)
            chk.feed(bytes([0xFF, 0x11, x, 0xEE ^ x]))
            self.assertEqual(chk.status == DONE, x == 0x18)
            # any 3-byte answer with valid PCK
            chk.start(req)
            chk.feed(bytes([0xFF, x, 0xFF ^ x]))
            if chk.status == DONE:
                self.assertEqual(x, 0x01)
                self.assertEqual((chk.f, chk.d, chk.protocol), (372, 1, 1))

    def test_truncated_and_extended(self):
        chk = PPSResponseChecker()
        for t, fidi, req_hex, goods in PPS_VECTORS:
            for resp_hex, _, _ in goods:
                good = _hex(resp_hex)
                for n in range(len(good)):
                    chk.start(_hex(req_hex))
                    for i in range(n):
                        self.assertEqual(chk.feed_byte(good[i]), NEED_MORE)
                    self.assertTrue(chk.remaining() >= 1)
                    if n >= 2:
                        self.assertEqual(chk.remaining(), len(good) - n)
                    self.assertEqual(chk.timeout(), ERROR)
                for extra in (0x00, 0xFF, good[-1]):
                    chk.start(_hex(req_hex))
                    chk.feed(good)
                    self.assertEqual(chk.status, DONE)
                    self.assertEqual(chk.feed_byte(extra), ERROR)
                    self.assertEqual(chk.error, pps.TOO_LONG)


class TestNoAllocation(unittest.TestCase):
    @unittest.skipIf(not _HEAP_LOCK, "micropython.heap_lock only on MicroPython")
    def test_checker_and_builder_allocate_nothing(self):
        requests = [_hex(v[2]) for v in PPS_VECTORS]
        responses = [[_hex(g[0]) for g in v[3]] for v in PPS_VECTORS]
        bad = _hex("FF 11 13 FD 00")
        chk = PPSResponseChecker()
        buf = bytearray(8)
        out = bytearray(32)
        n = 0
        micropython.heap_lock()
        try:
            for j in range(len(requests)):
                req = requests[j]
                goods = responses[j]
                for g in range(len(goods)):
                    resp = goods[g]
                    chk.start(req)
                    for i in range(len(resp)):
                        chk.feed_byte(resp[i])
                    out[n] = chk.status
                    n += 1
                chk.start(req)
                chk.feed(bad)
                out[n] = chk.status
                n += 1
                chk.start(req)
                chk.timeout()
                out[n] = chk.error
                n += 1
            k = build_pps(buf, 1, 0x18)
            chk.start(buf, k)
            chk.feed(buf, 0, k)
            chk.feed_byte(0)
            out[n] = chk.error
            n += 1
        finally:
            micropython.heap_unlock()
        self.assertEqual(out[0], DONE)  # FF 11 18 F6 echoed
        self.assertEqual(out[1], DONE)  # FF 01 FE
        self.assertEqual(out[2], ERROR)  # FF 11 13 FD to FF 11 18 F6
        self.assertEqual(out[3], pps.NO_RESPONSE)
        self.assertEqual(out[n - 1], pps.TOO_LONG)
