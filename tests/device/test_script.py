"""APDU scripts (firmware/cpsdi_fw/script.py, vendor Escape CD 20) and the event log
(firmware/cpsdi_fw/eventlog.py, CD 32): parser errors, runner stop conditions, "full" stops,
exact answer bytes, and both through the CCID service with a fake slot.

Runs on CPython (pytest) and on MicroPython (tools/mpwasm/run.mjs). No simulator imports.
"""

import unittest

import _paths  # noqa: F401
from cpsdi_proto import ccid, escape

from cpsdi_fw import script
from cpsdi_fw.ccid_service import CCIDService
from cpsdi_fw.eventlog import EventLog


def h(text):
    return bytes.fromhex(text)


def step(apdu, flags=0, sw=None):
    out = bytearray([flags])
    if sw is not None:
        out += bytes([sw >> 8, sw & 0xFF])
    out += bytes([len(apdu) & 0xFF, len(apdu) >> 8]) + apdu
    return bytes(out)


def payload(*steps):
    return bytes([len(steps)]) + b"".join(steps)


class FakeDecision:
    protocol = 1
    f = 372
    d = 1


class FakePort:
    clock_hz = 4000000


class ScriptedSlot:
    """transmit_apdu answers from a table keyed by INS: data + SW (or -bError)."""

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.sent = []
        self.limits = []
        self.powered = True
        self.present = True
        self.decision = FakeDecision()
        self.port = FakePort()

    def state(self):
        if not self.present:
            self.powered = False
            return 2
        return 0 if self.powered else 1

    def transmit_apdu(self, apdu, n, resp, resp_max):
        self.sent.append(bytes(apdu[:n]))
        self.limits.append(resp_max)
        a = self.answers.get(apdu[1], h("90 00"))
        if isinstance(a, int):
            return a
        if len(a) > resp_max:
            return -ccid.ERR_XFR_OVERRUN
        for i in range(len(a)):
            resp[i] = a[i]
        return len(a)

    def power_on(self, power_select=0):
        if not self.present:
            return ccid.ERR_ICC_MUTE
        self.powered = True
        return 0

    power_on_tpdu = power_on

    def power_off(self):
        self.powered = False

    def atr(self):
        return memoryview(h("3B 00"))


SELECT = h("00 A4 04 00 02 3F 00")
CHALLENGE = h("00 84 00 00 08")
VERIFY = h("00 20 00 01 04 31 32 33 34")


class TestCheckScript(unittest.TestCase):
    def check(self, data):
        buf = bytearray(3) + bytearray(data) + bytearray(2)  # at an offset, junk after
        return script.check_script(buf, 3, len(data))

    def test_good_scripts(self):
        self.assertEqual(self.check(payload(step(SELECT))), 0)
        self.assertEqual(self.check(payload(step(SELECT, 1), step(CHALLENGE, 2, 0x9000), step(h("00 00 00 00")))), 0)
        self.assertEqual(self.check(payload(step(SELECT, 3, 0x6A82))), 0)

    def test_empty_and_count(self):
        self.assertEqual(self.check(b""), escape.ERR_SCRIPT_FORMAT)
        self.assertEqual(self.check(b"\x00"), escape.ERR_SCRIPT_FORMAT)
        self.assertEqual(self.check(b"\xff" + step(SELECT) * 3), escape.ERR_SCRIPT_TOO_LONG)
        self.assertEqual(self.check(bytes([escape.SCRIPT_MAX_STEPS + 1])), escape.ERR_SCRIPT_TOO_LONG)
        many = bytes([escape.SCRIPT_MAX_STEPS]) + step(h("00 00 00 00")) * escape.SCRIPT_MAX_STEPS
        self.assertEqual(self.check(many), 0)

    def test_count_beyond_the_steps(self):
        self.assertEqual(self.check(b"\x02" + step(SELECT)), escape.ERR_SCRIPT_FORMAT)

    def test_truncated(self):
        whole = payload(step(SELECT, 2, 0x9000), step(CHALLENGE))
        for cut in range(1, len(whole)):
            self.assertEqual(self.check(whole[:cut]), escape.ERR_SCRIPT_FORMAT, cut)

    def test_lengths(self):
        self.assertEqual(self.check(b"\x01\x00\x03\x00" + h("00 A4 04")), escape.ERR_SCRIPT_FORMAT)  # < 4
        self.assertEqual(self.check(b"\x01\x00\x08\x00" + SELECT), escape.ERR_SCRIPT_FORMAT)  # past the end
        self.assertEqual(self.check(b"\x01\x00\xff\xff" + SELECT), escape.ERR_SCRIPT_FORMAT)

    def test_trailing_bytes_and_rfu_flags(self):
        self.assertEqual(self.check(payload(step(SELECT)) + b"\x00"), escape.ERR_SCRIPT_FORMAT)
        self.assertEqual(self.check(payload(step(SELECT, 0x04))), escape.ERR_SCRIPT_FORMAT)
        self.assertEqual(self.check(payload(step(SELECT, 0x80))), escape.ERR_SCRIPT_FORMAT)


class TestResponseRoom(unittest.TestCase):
    def test_cases(self):
        room = script.response_room
        self.assertEqual(room(h("00 A4 00 00"), 0, 4), 2)
        self.assertEqual(room(CHALLENGE, 0, 5), 10)
        self.assertEqual(room(h("00 B0 00 00 00"), 0, 5), 258)
        self.assertEqual(room(SELECT, 0, 7), 2)
        self.assertEqual(room(h("00 88 00 00 02 01 02 00"), 0, 8), 258)
        self.assertEqual(room(h("00 88 00 00 02 01 02 10"), 0, 8), 18)
        self.assertEqual(room(h("00 B0 00 00 00 01 00"), 0, 7), 258)
        self.assertEqual(room(h("00 B0 00 00 00 00 00"), 0, 7), 65538)
        self.assertEqual(room(h("00 88 00 00 00 00 02 01 02 00 10"), 0, 11), 18)
        self.assertEqual(room(h("00 88 00 00 00 00 02 01 02"), 0, 9), 2)
        self.assertEqual(room(h("00 88 00 00 09 01"), 0, 6), 2)  # malformed


class TestRunScript(unittest.TestCase):
    def run_it(self, slot, data, room=300):
        buf = bytearray(5) + bytearray(data)
        self.assertEqual(script.check_script(buf, 5, len(data)), 0)
        out = bytearray(room + 20)
        n = script.run_script(slot, buf, 5, len(data), out, 4, 4 + room)
        if n < 0:
            return n
        return bytes(out[4:4 + n])

    def test_all_steps_exact_bytes(self):
        slot = ScriptedSlot({0x84: h("01 02 03 04 05 06 07 08 90 00")})
        a = self.run_it(slot, payload(step(SELECT, 1), step(CHALLENGE, 1), step(h("00 00 00 00"))))
        self.assertEqual(a, h("03 00  02 00 90 00  0A 00 01 02 03 04 05 06 07 08 90 00  02 00 90 00"))
        self.assertEqual(slot.sent, [SELECT, CHALLENGE, h("00 00 00 00")])

    def test_stop_on_error(self):
        slot = ScriptedSlot({0xA4: h("6A 82")})
        a = self.run_it(slot, payload(step(SELECT, escape.SCRIPT_STOP_ON_ERROR), step(CHALLENGE)))
        self.assertEqual(a, h("01 01 02 00 6A 82"))
        self.assertEqual(len(slot.sent), 1)

    def test_continue_always(self):
        slot = ScriptedSlot({0xA4: h("6A 82")})
        a = self.run_it(slot, payload(step(SELECT, 0), step(h("00 00 00 00"))))
        self.assertEqual(a, h("02 00 02 00 6A 82 02 00 90 00"))

    def test_expected_sw(self):
        slot = ScriptedSlot({0x20: h("63 C2")})
        a = self.run_it(slot, payload(step(VERIFY, escape.SCRIPT_EXPECT_SW, 0x63C2), step(SELECT, 2, 0x6A82),
                                      step(CHALLENGE)))
        self.assertEqual(a, h("02 02 02 00 63 C2 02 00 90 00"))  # SELECT said 9000, not 6A82
        # the expected SW wins over stop-on-error
        slot = ScriptedSlot({0x20: h("63 C2")})
        a = self.run_it(slot, payload(step(VERIFY, 3, 0x63C2), step(h("00 00 00 00"))))
        self.assertEqual(a, h("02 00 02 00 63 C2 02 00 90 00"))

    def test_full_stops_before_the_step(self):
        slot = ScriptedSlot({0xB0: bytes(200) + h("90 00")})
        read = h("00 B0 00 00 C8")  # Le 200: needs 2 + 202 bytes
        a = self.run_it(slot, payload(step(SELECT), step(read), step(read)), room=2 + 4 + 204 + 100)
        self.assertEqual(a[:2], h("02 03"))
        self.assertEqual(len(a), 2 + 4 + 204)
        self.assertEqual(len(slot.sent), 2)
        # nothing fits: 0 steps run, FULL
        slot = ScriptedSlot()
        self.assertEqual(self.run_it(slot, payload(step(read)), room=100), h("00 03"))
        self.assertEqual(slot.sent, [])

    def test_card_gets_the_whole_room(self):
        slot = ScriptedSlot()
        self.run_it(slot, payload(step(CHALLENGE), step(CHALLENGE)), room=100)
        self.assertEqual(slot.limits, [96, 92])

    def test_card_error(self):
        slot = ScriptedSlot({0x84: -ccid.ERR_ICC_MUTE})
        self.assertEqual(self.run_it(slot, payload(step(SELECT), step(CHALLENGE), step(SELECT))), -ccid.ERR_ICC_MUTE)
        self.assertEqual(len(slot.sent), 2)


class TestEventLog(unittest.TestCase):
    def test_ring(self):
        log = EventLog(4)
        out = bytearray(64)
        self.assertEqual(log.write(out, 0, 64), 3)
        self.assertEqual(bytes(out[:3]), h("00 00 00"))
        for i in range(6):
            log.record(0x01020300 + i, 3, i & 1, i, 0xEE)
        n = log.write(out, 1, 63)
        self.assertEqual(n, 3 + 4 * 8)
        self.assertEqual(bytes(out[1:4]), h("04 02 00"))
        self.assertEqual(bytes(out[4:12]), h("02 03 02 01 03 00 02 EE"))  # oldest kept: i = 2
        self.assertEqual(bytes(out[28:36]), h("05 03 02 01 03 01 05 EE"))
        # not enough room: the newest ones, the others count as lost
        self.assertEqual(log.write(out, 0, 3 + 8 + 7), 11)
        self.assertEqual(bytes(out[:11]), h("01 05 00 05 03 02 01 03 01 05 EE"))
        log.clear()
        self.assertEqual(log.write(out, 0, 64), 3)
        self.assertEqual(bytes(out[:3]), h("00 00 00"))


class FakeHostPort:
    def __init__(self):
        self.ms = 1000

    def ticks_ms(self):
        return self.ms


class FakeLink:
    native_max_message = 1034

    def __init__(self):
        self.port = FakeHostPort()

    def write_counters(self, buf, off):
        return 0

    def reset_counters(self):
        pass


def header(mtype, dlen, slot, seq, p1=0):
    b = bytearray(10)
    ccid.pack_header(b, 0, mtype, dlen, slot, seq, p1, 0, 0)
    return bytes(b)


def make(slot=None):
    slot = slot or ScriptedSlot()
    service = CCIDService([slot], firmware_version="1", board="t")
    service.link = FakeLink()
    return slot, service


def call(service, message, native=False, max_message=271):
    req = bytearray(4) + bytearray(message)
    resp = bytearray(1100)
    n = service.handle(req, 4, len(message), resp, 2, native, max_message)
    assert 10 <= n <= max_message, n
    return bytes(resp[2:2 + n])


def esc(service, data, seq=1, **kw):
    return call(service, header(ccid.PC_TO_RDR_ESCAPE, len(data), 0, seq) + data, **kw)


class TestServiceScript(unittest.TestCase):
    def test_answer_in_native_and_compat_after_1f02(self):
        slot, service = make(ScriptedSlot({0x84: h("11 22 90 00")}))
        a = esc(service, h("CD 20") + payload(step(SELECT, 1), step(h("00 84 00 00 02"), 1)), native=True,
                max_message=1034)
        self.assertEqual(a, h("83 0E 00 00 00 00 01 00 00 00 CD 20 02 00 02 00 90 00 04 00 11 22 90 00"))
        # compat framing: TPDU level until Escape 1F 02
        a = esc(service, h("CD 20") + payload(step(SELECT)), seq=2)
        self.assertEqual(a, h("83 00 00 00 00 00 02 40 83 00"))
        esc(service, h("1F 02"), seq=3)
        a = esc(service, h("CD 20") + payload(step(SELECT)), seq=4)
        self.assertEqual(a[7:], h("00 00 00 CD 20 01 00 02 00 90 00"))

    def test_errors(self):
        slot, service = make()
        self.assertEqual(esc(service, h("CD 20"), native=True)[7:9], h("40 A0"))
        self.assertEqual(esc(service, h("CD 20 00"), native=True)[7:9], h("40 A0"))
        self.assertEqual(esc(service, h("CD 20 FF"), native=True)[7:9], h("40 A1"))
        self.assertEqual(esc(service, h("CD 20") + payload(step(SELECT)) + b"\x00", native=True)[7:9], h("40 A0"))
        slot.powered = False
        self.assertEqual(esc(service, h("CD 20") + payload(step(SELECT)), native=True)[7:9], h("41 FE"))
        slot.present = False
        self.assertEqual(esc(service, h("CD 20") + payload(step(SELECT)), native=True)[7:9], h("42 FE"))
        self.assertEqual(slot.sent, [])

    def test_card_error_mid_script(self):
        slot, service = make(ScriptedSlot({0x84: -ccid.ERR_XFR_PARITY_ERROR}))
        a = esc(service, h("CD 20") + payload(step(SELECT), step(CHALLENGE)), native=True)
        self.assertEqual(a, h("83 00 00 00 00 00 01 40 FD 00"))
        self.assertEqual(service.card_errors, 1)

    def test_full_in_compat(self):
        slot, service = make(ScriptedSlot({0xB0: bytes(200) + h("90 00")}))
        esc(service, h("1F 02"))
        read = h("00 B0 00 00 C8")
        a = esc(service, h("CD 20") + payload(step(read), step(read)), seq=2)
        self.assertEqual(a[7:9], h("00 00"))
        self.assertEqual(a[10:14], h("CD 20 01 03"))
        self.assertEqual(len(a), 10 + 4 + 2 + 202)


class TestServiceEventLog(unittest.TestCase):
    def entries(self, service, **kw):
        a = esc(service, h("CD 32"), seq=99, **kw)
        self.assertEqual((a[7] & 0x40, a[8]), (0, 0))
        self.assertEqual(a[10:12], h("CD 32"))
        n = a[12]
        self.assertEqual(len(a), 15 + 8 * n)
        return [bytes(a[15 + 8 * i:23 + 8 * i]) for i in range(n)]

    def test_events(self):
        slot, service = make()
        slot.powered = False
        link = service.link
        self.assertEqual(self.entries(service), [])
        call(service, header(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 0, 1), native=True)
        link.port.ms = 0x01020304
        call(service, header(ccid.PC_TO_RDR_ICC_POWER_OFF, 0, 0, 2))
        slot.present = False
        link.port.ms = 2000
        call(service, header(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 0, 3))
        slot.present = True
        esc(service, h("CD 20 00"), seq=4)
        e = self.entries(service)
        self.assertEqual(e, [
            h("E8 03 00 00 03 00 01 01"),  # power on: T=1, APDU level
            h("04 03 02 01 05 00 00 00"),  # power off
            h("D0 07 00 00 02 00 00 00"),  # removed
            h("D0 07 00 00 04 00 FE 00"),  # power on failed, mute
            h("D0 07 00 00 01 00 00 00"),  # inserted
            h("D0 07 00 00 07 00 A0 20"),  # escape error: script format
        ])
        self.assertEqual(esc(service, h("CD 32 00"))[7:9], h("41 81"))
        esc(service, h("CD 31"), seq=5)
        self.assertEqual(self.entries(service), [])

    def test_full_log_fits_compat(self):
        slot, service = make()
        for i in range(40):
            call(service, header(ccid.PC_TO_RDR_ICC_POWER_OFF, 0, 0, i))
        a = esc(service, h("CD 32"), seq=200)
        self.assertEqual(len(a), 271)
        self.assertEqual(a[12:15], h("20 08 00"))


if __name__ == "__main__":
    unittest.main()
