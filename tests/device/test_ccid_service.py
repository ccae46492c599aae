"""CCID service (firmware/cpsdi_fw/ccid_service.py) on a fake slot: header checks, bStatus /
bError, power, XfrBlock routing (TPDU level, PPS, APDU level after 1F 02 and in native
mode), SetParameters, libccid's and cpsdi's Escapes, malformed requests.

Runs on CPython (pytest) and on MicroPython (tools/mpwasm/run.mjs). No simulator imports.
"""

import unittest

import _paths  # noqa: F401
from cpsdi_proto import ccid, escape

from cpsdi_fw.ccid_service import CCIDService


def h(text):
    return bytes.fromhex(text)


class FakeDecision:
    def __init__(self):
        self.f = 372
        self.d = 1
        self.protocol = 0


class FakePort:
    voltage_classes = 0x06  # B and C only
    clock_hz = 4000000


class FakeSlot:
    """Records which slot method the service called."""

    def __init__(self):
        self.present = True
        self.powered = False
        self.decision = FakeDecision()
        self.port = FakePort()
        self.calls = []
        self.fail = 0  # bError to return from card operations
        self.bad_parameter = 0
        self._atr = bytearray(h("3B 02 14 50"))

    def state(self):
        if not self.present:
            self.powered = False
            return 2
        return 0 if self.powered else 1

    def atr(self):
        return memoryview(self._atr) if self.powered else memoryview(self._atr)[:0]

    def _power(self, name, power_select):
        self.calls.append((name, power_select))
        if self.fail:
            self.powered = False
            return self.fail
        self.powered = True
        return 0

    def power_on(self, power_select=0):
        return self._power("power_on", power_select)

    def power_on_tpdu(self, power_select=0):
        return self._power("power_on_tpdu", power_select)

    def power_off(self):
        self.calls.append(("power_off", 0))
        self.powered = False

    def _answer(self, name, data, n, resp, extra):
        self.calls.append((name, bytes(data[:n]), extra))
        if self.fail:
            return -self.fail
        resp[0] = 0x90
        resp[1] = 0x00
        return 2

    def transmit_tpdu(self, tpdu, n, resp, resp_max, bwi=0):
        return self._answer("tpdu", tpdu, n, resp, bwi)

    def transmit_apdu(self, apdu, n, resp, resp_max):
        return self._answer("apdu", apdu, n, resp, resp_max)

    def exchange_pps(self, req, n, resp):
        self.calls.append(("pps", bytes(req[:n]), 0))
        for i in range(n):
            resp[i] = req[i]
        return n

    def set_parameters(self, protocol, p, off, n):
        self.calls.append(("set_parameters", bytes(p[off : off + n]), protocol))
        return self.bad_parameter

    def get_parameters(self, p, off):
        values = (0x11, 0x10, 0x00, 0x4D, 0x00, 0x20, 0x00) if self.decision.protocol else (0x11, 0x00, 0x00, 0x0A, 0x00)
        for i in range(len(values)):
            p[off + i] = values[i]
        return len(values)


class FakeLink:
    native_max_message = 2048

    def __init__(self):
        self.reset = 0

    def write_counters(self, buf, off):
        buf[off] = 1
        buf[off + 1] = 4
        buf[off + 2] = 7
        buf[off + 3] = buf[off + 4] = buf[off + 5] = 0
        return 6

    def reset_counters(self):
        self.reset += 1


def header(mtype, dlen, slot, seq, p1=0, p2=0, p3=0):
    b = bytearray(10)
    ccid.pack_header(b, 0, mtype, dlen, slot, seq, p1, p2, p3)
    return bytes(b)


def make(slots=1):
    fakes = [FakeSlot() for _ in range(slots)]
    service = CCIDService(fakes, firmware_version="1.2.3", board="testboard", serial="SN42")
    service.link = FakeLink()
    return fakes, service


def call(service, message, native=False, max_message=271):
    """Run one request; returns the answer message (bytes), checked for a consistent dwLength."""
    req = bytearray(4) + bytearray(message)  # at an offset, as in the link's buffer
    resp = bytearray(2200)
    n = service.handle(req, 4, len(message), resp, 2, native, max_message)
    answer = bytes(resp[2 : 2 + n])
    assert n >= 10 and n <= max_message, n
    assert ccid.data_length(answer) == n - 10
    assert answer[7] & ccid.TIME_EXTENSION == 0
    return answer


class TestHeader(unittest.TestCase):
    def test_bad_slot(self):
        _, service = make()
        a = call(service, header(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 1, 9))
        self.assertEqual(a, h("81 00 00 00 00 01 09 42 05 00"))

    def test_bad_length(self):
        _, service = make()
        a = call(service, header(ccid.PC_TO_RDR_ICC_POWER_OFF, 1, 0, 9) + b"\x00")
        self.assertEqual(a, h("81 00 00 00 00 00 09 41 01 00"))
        a = call(service, header(ccid.PC_TO_RDR_SET_PARAMETERS, 6, 0, 9) + bytes(6))
        self.assertEqual(a[:10], h("82 00 00 00 00 00 09 41 01 00"))

    def test_unknown_and_unsupported_messages(self):
        _, service = make()
        self.assertEqual(call(service, header(0x70, 0, 0, 1)), h("81 00 00 00 00 00 01 41 00 00"))
        self.assertEqual(call(service, header(ccid.PC_TO_RDR_ICC_CLOCK, 0, 0, 2)), h("81 00 00 00 00 00 02 41 00 00"))
        self.assertEqual(call(service, header(ccid.PC_TO_RDR_SECURE, 0, 0, 3))[:10], h("80 00 00 00 00 00 03 41 00 00"))


class TestPower(unittest.TestCase):
    def test_slot_status_values(self):
        fakes, service = make()
        self.assertEqual(call(service, header(0x65, 0, 0, 1))[7:9], h("01 00"))
        fakes[0].powered = True
        self.assertEqual(call(service, header(0x65, 0, 0, 2))[7:9], h("00 00"))
        fakes[0].present = False
        self.assertEqual(call(service, header(0x65, 0, 0, 3))[7:9], h("42 FE"))

    def test_power_on_tpdu_level_by_default_and_atr(self):
        fakes, service = make()
        a = call(service, header(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 0, 8, 1))
        self.assertEqual(a, h("80 04 00 00 00 00 08 00 00 00 3B 02 14 50"))
        self.assertEqual(fakes[0].calls, [("power_on_tpdu", 1)])

    def test_power_on_apdu_level_and_native(self):
        fakes, service = make()
        call(service, header(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 0, 8, 0), native=True)
        self.assertEqual(fakes[0].calls[-1], ("power_on", 0))
        call(service, header(ccid.PC_TO_RDR_ESCAPE, 2, 0, 9) + h("1F 02"))
        call(service, header(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 0, 10, 1))
        self.assertEqual(fakes[0].calls[-1], ("power_on", 1))

    def test_power_on_failures(self):
        fakes, service = make()
        fakes[0].fail = ccid.ERR_BAD_ATR_TCK
        self.assertEqual(call(service, header(0x62, 0, 0, 1, 1)), h("80 00 00 00 00 00 01 41 F7 00"))
        fakes[0].present = False
        self.assertEqual(call(service, header(0x62, 0, 0, 2, 1)), h("80 00 00 00 00 00 02 42 FE 00"))
        fakes[0].present = True
        self.assertEqual(call(service, header(0x62, 0, 0, 3, 4)), h("80 00 00 00 00 00 03 41 07 00"))

    def test_power_off(self):
        fakes, service = make()
        fakes[0].powered = True
        self.assertEqual(call(service, header(0x63, 0, 0, 0x0B)), h("81 00 00 00 00 00 0B 01 00 00"))
        self.assertFalse(fakes[0].powered)


class TestXfrBlock(unittest.TestCase):
    def test_inactive_card(self):
        _, service = make()
        a = call(service, header(0x6F, 5, 0, 1) + h("00 84 00 00 08"))
        self.assertEqual(a, h("80 00 00 00 00 00 01 41 FE 00"))

    def test_tpdu_level_routing_and_bbwi(self):
        fakes, service = make()
        fakes[0].powered = True
        a = call(service, header(0x6F, 5, 0, 1, 2) + h("00 84 00 00 08"))
        self.assertEqual(a, h("80 02 00 00 00 00 01 00 00 00 90 00"))
        self.assertEqual(fakes[0].calls[-1], ("tpdu", h("00 84 00 00 08"), 2))

    def test_pps_goes_to_exchange_pps(self):
        fakes, service = make()
        fakes[0].powered = True
        a = call(service, header(0x6F, 4, 0, 0x3D) + h("FF 11 13 FD"))
        self.assertEqual(a, h("80 04 00 00 00 00 3D 00 00 00 FF 11 13 FD"))
        self.assertEqual(fakes[0].calls[-1][0], "pps")
        # a TPDU whose CLA is FF but which is no valid PPS goes to the card as a TPDU
        call(service, header(0x6F, 5, 0, 0x3E) + h("FF C2 01 00 00"))
        self.assertEqual(fakes[0].calls[-1][0], "tpdu")

    def test_apdu_level_after_escape_1f02_and_back(self):
        fakes, service = make()
        fakes[0].powered = True
        self.assertEqual(call(service, header(0x6B, 2, 0, 4) + h("1F 02")), h("83 00 00 00 00 00 04 00 00 00"))
        call(service, header(0x6F, 5, 0, 5) + h("00 84 00 00 08"))
        self.assertEqual(fakes[0].calls[-1], ("apdu", h("00 84 00 00 08"), 261))
        call(service, header(0x6B, 2, 0, 6) + h("1F 01"))
        call(service, header(0x6F, 5, 0, 7) + h("00 84 00 00 08"))
        self.assertEqual(fakes[0].calls[-1][0], "tpdu")

    def test_native_is_apdu_level_with_the_native_limit(self):
        fakes, service = make()
        fakes[0].powered = True
        call(service, header(0x6F, 5, 0, 5) + h("00 84 00 00 08"), native=True, max_message=1034)
        self.assertEqual(fakes[0].calls[-1], ("apdu", h("00 84 00 00 08"), 1024))

    def test_card_error(self):
        fakes, service = make()
        fakes[0].powered = True
        fakes[0].fail = ccid.ERR_ICC_MUTE
        a = call(service, header(0x6F, 5, 0, 5) + h("00 84 00 00 08"))
        self.assertEqual(a, h("80 00 00 00 00 00 05 40 FE 00"))
        self.assertEqual(service.card_errors, 1)

    def test_empty_xfr_block(self):
        fakes, service = make()
        fakes[0].powered = True
        self.assertEqual(call(service, header(0x6F, 0, 0, 5)), h("80 00 00 00 00 00 05 40 01 00"))


class TestParameters(unittest.TestCase):
    def test_set_parameters_t0(self):
        fakes, service = make()
        fakes[0].powered = True
        a = call(service, header(0x61, 5, 0, 0x63, 0) + h("11 00 00 0A 00"))
        self.assertEqual(a, h("82 05 00 00 00 00 63 00 00 00 11 00 00 0A 00"))
        self.assertEqual(fakes[0].calls[-1], ("set_parameters", h("11 00 00 0A 00"), 0))

    def test_set_parameters_t1_structure_and_protocol(self):
        fakes, service = make()
        fakes[0].powered = True
        fakes[0].decision.protocol = 1
        a = call(service, header(0x61, 7, 0, 0x3E, 1) + h("11 10 00 4D 00 20 00"))
        self.assertEqual(a, h("82 07 00 00 00 00 3E 00 00 01 11 10 00 4D 00 20 00"))

    def test_not_changeable_echoes_the_request(self):
        fakes, service = make()
        fakes[0].powered = True
        fakes[0].bad_parameter = 10
        a = call(service, header(0x61, 5, 0, 1, 0) + h("18 00 00 0A 00"))
        self.assertEqual(a, h("82 05 00 00 00 00 01 40 0A 00 18 00 00 0A 00"))

    def test_bad_protocol_and_inactive(self):
        fakes, service = make()
        self.assertEqual(call(service, header(0x61, 5, 0, 1, 2) + bytes(5)), h("82 00 00 00 00 00 01 41 07 00"))
        self.assertEqual(call(service, header(0x61, 5, 0, 2, 0) + bytes(5)), h("82 00 00 00 00 00 02 41 FE 00"))

    def test_get_and_reset_parameters(self):
        fakes, service = make()
        fakes[0].powered = True
        self.assertEqual(call(service, header(0x6C, 0, 0, 1)), h("82 05 00 00 00 00 01 00 00 00 11 00 00 0A 00"))
        self.assertEqual(call(service, header(0x6D, 0, 0, 2))[10:], h("11 00 00 0A 00"))

    def test_data_rate_and_clock(self):
        fakes, service = make()
        a = call(service, header(0x73, 8, 0, 1) + bytes(8))
        self.assertEqual(a[:10], h("84 08 00 00 00 00 01 01 00 00"))
        self.assertEqual(a[10:14], (4000).to_bytes(4, "little"))
        self.assertEqual(a[14:18], (10752).to_bytes(4, "little"))

    def test_abort(self):
        _, service = make()
        self.assertEqual(call(service, header(0x72, 0, 0, 1)), h("81 00 00 00 00 00 01 01 00 00"))


def tlvs(data):
    out = {}
    i = 0
    while i < len(data):
        out[data[i]] = bytes(data[i + 2 : i + 2 + data[i + 1]])
        i += 2 + data[i + 1]
    return out


class TestEscape(unittest.TestCase):
    def esc(self, service, data, seq=1, **kw):
        return call(service, header(0x6B, len(data), 0, seq) + data, **kw)

    def test_firmware_string(self):
        _, service = make()
        for first in (0x02, 0x06):
            a = self.esc(service, bytes([first]))
            self.assertEqual(a[7:9], h("01 00"))
            self.assertEqual(a[10:], b"cpsdi 1.2.3 testboard")
        long = CCIDService([FakeSlot()], firmware_version="9" * 80, board="b")
        self.assertEqual(len(self.esc(long, b"\x02")) - 10, 49)

    def test_libccid_escapes(self):
        _, service = make()
        self.assertEqual(self.esc(service, h("01 01 01"), 1), h("83 00 00 00 00 00 01 01 00 00"))
        self.assertEqual(self.esc(service, h("6A"), 4), h("83 00 00 00 00 00 04 41 00 00"))
        self.assertEqual(self.esc(service, h("B2 A0 00 4D 4C"), 5)[7:9], h("01 00"))
        self.assertEqual(self.esc(service, h("01 10 20"), 6)[7:9], h("41 00"))
        self.assertEqual(self.esc(service, b"", 7)[7:9], h("41 00"))

    def test_get_info(self):
        _, service = make(2)
        a = self.esc(service, h("CD 01"))
        self.assertEqual(a[10:12], h("CD 01"))
        t = tlvs(a[12:])
        self.assertEqual(t[escape.INFO_PROTOCOL_VERSION], b"\x01")
        self.assertEqual(t[escape.INFO_FIRMWARE_VERSION], b"1.2.3")
        self.assertEqual(t[escape.INFO_BOARD], b"testboard")
        self.assertEqual(t[escape.INFO_SLOTS], b"\x02")
        self.assertEqual(t[escape.INFO_NATIVE_MAX_MESSAGE], (2048).to_bytes(4, "little"))
        features = escape.FEATURE_APDU_LEVEL | escape.FEATURE_TPDU_LEVEL | escape.FEATURE_SCRIPTS
        self.assertEqual(t[escape.INFO_FEATURES], features.to_bytes(4, "little"))
        self.assertEqual(t[escape.INFO_SERIAL], b"SN42")
        self.assertEqual(t[escape.INFO_SLOT_CAPABILITIES], h("06 03 06 03"))

    def test_native(self):
        _, service = make()
        self.assertEqual(self.esc(service, h("CD 02 00 10 00 00"))[10:], h("CD 02 00 08 00 00 01"))
        self.assertEqual(self.esc(service, h("CD 02 0A 04 00 00"))[10:], h("CD 02 0A 04 00 00 01"))
        self.assertEqual(self.esc(service, h("CD 02 00 01 00 00"))[7:9], h("41 82"))
        self.assertEqual(self.esc(service, h("CD 02 00 10"))[7:9], h("41 81"))
        service.link = None
        self.assertEqual(self.esc(service, h("CD 02 00 10 00 00"))[7:9], h("41 83"))

    def test_loopback_counters_and_unknown(self):
        _, service = make()
        self.assertEqual(self.esc(service, h("CD 04 01 02 03"))[10:], h("CD 04 01 02 03"))
        self.assertEqual(self.esc(service, h("CD 04") + bytes(260))[7:9], h("41 81"))
        c = tlvs(self.esc(service, h("CD 30"))[12:])
        self.assertEqual(c[1], (7).to_bytes(4, "little"))
        self.assertEqual(c[0x10], (3).to_bytes(4, "little"))
        self.assertEqual(self.esc(service, h("CD 31"))[10:], h("CD 31"))
        self.assertEqual(service.link.reset, 1)
        self.assertEqual(self.esc(service, h("CD 10 00"))[7:9], h("41 84"))
        self.assertEqual(self.esc(service, h("CD"))[7:9], h("41 81"))


class TestMalformed(unittest.TestCase):
    def test_random_requests_never_raise(self):
        fakes, service = make(2)
        x = 987654321
        for _ in range(600):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            n = 10 + x % 24
            msg = bytearray(((x >> (i % 23)) + i * 13) & 0xFF for i in range(n))
            msg[0] = 0x60 + (x >> 4) % 20
            if x & 1:
                msg[1] = n - 10
                msg[2] = msg[3] = msg[4] = 0
            msg[5] &= 3
            fakes[(x >> 6) & 1].powered = bool(x & 4)
            fakes[(x >> 7) & 1].decision.protocol = (x >> 8) & 1
            call(service, bytes(msg), native=bool(x & 8), max_message=271)


if __name__ == "__main__":
    unittest.main()
