"""Link server (firmware/cpsdi_fw/link.py) with the CCID service, on fakes of the HostPort
and of the slot: libccid's open sequence byte for byte (ccid-serial.md §6.1), echo modes,
NAK, resynchronisation, inter-byte timeout, exactly-once, native framing, keep-alive
timing on a fake clock, malformed input.

Runs on CPython (pytest) and on MicroPython (tools/mpwasm/run.mjs). No simulator imports.
"""

import sys
import unittest

import _paths  # noqa: F401  (sys.path set-up shared by the device tests)
from cpsdi_proto import ccid, escape
from cpsdi_proto.decoder import EV_FRAME, EV_KEEPALIVE, EV_NAK, EV_NONE, EV_NOTIFY, FrameDecoder
from cpsdi_proto.gempc import seal_compat
from cpsdi_proto.native import seal_native

from cpsdi_fw import link as link_mod
from cpsdi_fw.ccid_service import CCIDService
from cpsdi_fw.link import ECHO_FULL, ECHO_HEADER, ECHO_NONE, KEEPALIVE_MS, LinkServer

from _fake_board import FakeHostPort

IS_MICROPYTHON = sys.implementation.name == "micropython"


def h(text):
    return bytes.fromhex(text)


class FakeDecision:
    def __init__(self):
        self.f = 372
        self.d = 1
        self.protocol = 0


class FakePort:
    clock_hz = 4000000


class FakeSlot:
    """A slot with a T=0 card 3B 02 14 50 that answers every TPDU/APDU 90 00 after a delay."""

    def __init__(self, host=None, present=True):
        self.present = present
        self.powered = False
        self.decision = FakeDecision()
        self.port = FakePort()
        self.idle = None
        self.host = host
        self.executed = 0
        self.work_ms = 0  # per idle call
        self.idle_calls = 0
        self.feed_at = {}  # idle call number -> host bytes arriving then
        self.aborted = False
        self._atr = bytearray(h("3B 02 14 50"))

    def state(self):
        if not self.present:
            self.powered = False
            return 2
        return 0 if self.powered else 1

    def atr(self):
        return memoryview(self._atr) if self.powered else memoryview(self._atr)[:0]

    def power_on(self, power_select=0):
        if not self.present:
            return ccid.ERR_ICC_MUTE
        self.powered = True
        return 0

    power_on_tpdu = power_on

    def power_off(self):
        self.powered = False

    def _work(self):
        self.aborted = False
        for k in range(self.idle_calls):
            if self.host is not None:
                self.host.now_ms += self.work_ms
                if k in self.feed_at:
                    self.host.feed(self.feed_at[k])
            if self.idle is not None and self.idle():
                self.aborted = True  # as slot.py: stop, deactivate, CMD_ABORTED
                self.powered = False
                return

    def transmit_tpdu(self, tpdu, n, resp, resp_max, bwi=0):
        self.executed += 1
        self._work()
        if self.aborted:
            return -ccid.ERR_CMD_ABORTED
        resp[0] = 0x90
        resp[1] = 0x00
        return 2

    def transmit_apdu(self, apdu, n, resp, resp_max):
        self.executed += 1
        # echo the command data back (for large native exchanges), then 90 00
        m = n if n + 2 <= resp_max else resp_max - 2
        for i in range(m):
            resp[i] = apdu[i]
        resp[m] = 0x90
        resp[m + 1] = 0x00
        return m + 2

    def exchange_pps(self, req, n, resp):
        for i in range(n):
            resp[i] = req[i]
        return n

    def set_parameters(self, protocol, p, off, n):
        return 0

    def get_parameters(self, p, off):
        for i, b in enumerate((0x11, 0x00, 0x00, 0x0A, 0x00)):
            p[off + i] = b
        return 5


def make(echo=ECHO_FULL, slots=1, native=1034):
    host = FakeHostPort()
    fakes = [FakeSlot(host) for _ in range(slots)]
    service = CCIDService(fakes, firmware_version="0.1.0", board="test")
    server = LinkServer(host, service, echo=echo, native_max_message=native)
    for s in fakes:
        s.idle = server.keepalive
    return host, fakes, service, server


def compat(message):
    buf = bytearray(len(message) + 3)
    buf[2 : 2 + len(message)] = message
    return bytes(buf[: seal_compat(buf, len(message))])


def native(message):
    buf = bytearray(len(message) + 6)
    buf[2 : 2 + len(message)] = message
    return bytes(buf[: seal_native(buf, len(message))])


def header(mtype, dlen, slot, seq, p1=0, p2=0, p3=0):
    b = bytearray(10)
    ccid.pack_header(b, 0, mtype, dlen, slot, seq, p1, p2, p3)
    return bytes(b)


def xfr(seq, data, slot=0):
    return header(ccid.PC_TO_RDR_XFR_BLOCK, len(data), slot, seq) + data


def events(stream, native_max=1034):
    """Decode what the reader sent: list of (kind, bytes or value)."""
    dec = FrameDecoder(True, native_max)
    out = []
    i = 0
    while True:
        i = dec.feed(stream, i, len(stream))
        if dec.kind == EV_NONE:
            break
        if dec.kind == EV_FRAME:
            out.append(("native" if dec.native else "frame", bytes(dec.message())))
        elif dec.kind == EV_NAK:
            out.append(("nak", 0))
        elif dec.kind in (EV_KEEPALIVE, EV_NOTIFY):
            out.append(("byte" if dec.kind == EV_KEEPALIVE else "notify", dec.value))
        else:
            out.append(("other", dec.kind))
    return out


# ccid-serial.md §6.1 (GemPCTwin, full echo); the firmware string differs from Gemalto's.
OPEN_SEQUENCE = (
    ("03 06 6B 03 00 00 00 00 01 00 00 00 01 01 01 6D", "03 06 83 00 00 00 00 00 01 01 00 00 86"),
    ("03 06 65 00 00 00 00 00 02 00 00 00 62", "03 06 81 00 00 00 00 00 02 01 00 00 87"),
    ("03 06 65 00 00 00 00 00 03 00 00 00 63", "03 06 81 00 00 00 00 00 03 01 00 00 86"),
    ("03 06 6B 01 00 00 00 00 04 00 00 00 6A 01", "03 06 83 00 00 00 00 00 04 41 00 00 C3"),
    ("03 06 65 00 00 00 00 00 05 00 00 00 65", "03 06 81 00 00 00 00 00 05 01 00 00 80"),
    ("03 06 62 00 00 00 00 00 08 01 00 00 6E", "03 06 80 04 00 00 00 00 08 00 00 00 3B 02 14 50 F4"),
    ("03 06 65 00 00 00 00 00 09 00 00 00 69", "03 06 81 00 00 00 00 00 09 00 00 00 8D"),
    ("03 06 63 00 00 00 00 00 0B 00 00 00 6D", "03 06 81 00 00 00 00 00 0B 01 00 00 8E"),
    ("03 06 63 00 00 00 00 00 0C 00 00 00 6A", "03 06 81 00 00 00 00 00 0C 01 00 00 89"),
)


class TestOpenSequence(unittest.TestCase):
    def test_libccid_open_sequence_full_echo_byte_for_byte(self):
        host, _, _, server = make(ECHO_FULL)
        # Escape 02: echo + firmware string (ours), framed like the trace's
        host.feed(h("03 06 6B 01 00 00 00 00 00 00 00 00 02 6D"))
        self.assertEqual(server.poll(), 1)
        out = host.take()
        self.assertEqual(out[:14], h("03 06 6B 01 00 00 00 00 00 00 00 00 02 6D"))
        ev = events(out[14:])
        self.assertEqual(len(ev), 1)
        msg = ev[0][1]
        self.assertEqual(msg[0], ccid.RDR_TO_PC_ESCAPE)
        self.assertEqual(msg[7], 0x01)  # present, inactive
        self.assertTrue(0 < len(msg) - 10 <= 49)
        for cmd, answer in OPEN_SEQUENCE:
            host.feed(h(cmd))
            self.assertEqual(server.poll(), 1)
            self.assertEqual(host.take(), h(cmd) + h(answer), cmd)

    def test_header_only_echo(self):
        host, _, _, server = make(ECHO_HEADER)
        host.feed(h("03 06 6B 03 00 00 00 00 01 00 00 00 01 01 01 6D"))
        server.poll()
        echo = compat(h("6B 00 00 00 00 00 01 00 00 00"))
        self.assertEqual(host.take(), echo + h("03 06 83 00 00 00 00 00 01 01 00 00 86"))

    def test_no_echo(self):
        host, _, _, server = make(ECHO_NONE)
        host.feed(h("03 06 65 00 00 00 00 00 02 00 00 00 62"))
        server.poll()
        self.assertEqual(host.take(), h("03 06 81 00 00 00 00 00 02 01 00 00 87"))

    def test_absent_card_slot_status(self):
        host, fakes, _, server = make(ECHO_NONE)
        fakes[0].present = False
        host.feed(h("03 06 65 00 00 00 00 00 1B 00 00 00 7B"))
        server.poll()
        self.assertEqual(host.take(), h("03 06 81 00 00 00 00 00 1B 42 FE 00 23"))


class TestFraming(unittest.TestCase):
    def test_bad_lrc_gives_nak_and_nothing_runs(self):
        host, fakes, _, server = make(ECHO_FULL)
        fakes[0].powered = True
        host.feed(compat(xfr(5, h("00 20 00 01 08 31 32 33 34 FF FF FF FF")))[:-1] + b"\x00")
        server.poll()
        self.assertEqual(host.take(), h("03 15 16"))
        self.assertEqual(fakes[0].executed, 0)
        self.assertEqual(server.naks, 1)
        self.assertEqual(server.bad_checks, 1)

    def test_garbage_is_skipped_and_the_next_frame_served(self):
        host, _, _, server = make(ECHO_NONE)
        host.feed(b"AT\r\n\x00\x03\x01" + h("03 06 65 00 00 00 00 00 02 00 00 00 62"))
        self.assertEqual(server.poll(), 1)
        self.assertEqual(host.take(), h("03 06 81 00 00 00 00 00 02 01 00 00 87"))
        self.assertTrue(server.garbage > 0)

    def test_bytes_in_small_chunks(self):
        host, _, _, server = make(ECHO_NONE)
        host.chunk = 1
        host.feed(h("03 06 65 00 00 00 00 00 02 00 00 00 62") * 2)
        served = 0
        for _ in range(40):
            served += server.poll()
        self.assertEqual(served, 2)

    def test_partial_frame_dropped_after_inter_byte_timeout(self):
        host, _, _, server = make(ECHO_NONE)
        frame = h("03 06 65 00 00 00 00 00 02 00 00 00 62")
        host.feed(frame[:6])
        server.poll()
        host.now_ms += link_mod.INTER_BYTE_MS - 10
        server.poll()
        self.assertEqual(server.timeouts, 0)
        host.now_ms += 20
        server.poll()
        self.assertEqual(server.timeouts, 1)
        host.feed(frame)
        self.assertEqual(server.poll(), 1)
        self.assertEqual(host.take(), h("03 06 81 00 00 00 00 00 02 01 00 00 87"))

    def test_partial_frame_completed_in_time(self):
        host, _, _, server = make(ECHO_NONE)
        frame = h("03 06 65 00 00 00 00 00 02 00 00 00 62")
        host.feed(frame[:6])
        server.poll()
        host.now_ms += 50
        host.feed(frame[6:])
        self.assertEqual(server.poll(), 1)

    def test_native_request_answered_native_without_echo(self):
        host, fakes, _, server = make(ECHO_FULL)
        fakes[0].powered = True
        host.feed(native(header(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 0, 7)))
        server.poll()
        ev = events(host.take())
        self.assertEqual(ev, [("native", h("81 00 00 00 00 00 07 00 00 00"))])

    def test_native_negotiation_then_one_kib_apdu(self):
        host, fakes, _, server = make(ECHO_HEADER)
        fakes[0].powered = True
        host.feed(compat(header(ccid.PC_TO_RDR_ESCAPE, 6, 0, 1) + h("CD 02 00 10 00 00")))
        server.poll()
        ev = events(host.take())
        self.assertEqual(ev[1][1][10:], h("CD 02 0A 04 00 00 01"))  # granted 1034, CRC-32
        apdu = bytes((i * 3) & 0xFF for i in range(1000))
        host.feed(native(xfr(2, apdu)))
        server.poll()
        ev = events(host.take())
        self.assertEqual(len(ev), 1)
        kind, msg = ev[0]
        self.assertEqual(kind, "native")
        self.assertEqual(msg[10:], apdu + h("90 00"))
        # a compat request afterwards is still answered in compat framing
        host.feed(h("03 06 65 00 00 00 00 00 03 00 00 00 63"))
        server.poll()
        self.assertEqual([k for k, _ in events(host.take())], ["frame", "frame"])

    def test_without_native_mode_native_frames_are_garbage(self):
        host, _, _, server = make(ECHO_NONE, native=0)
        host.feed(native(header(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 0, 7)))
        self.assertEqual(server.poll(), 0)
        self.assertEqual(host.take(), b"")
        host.feed(compat(header(ccid.PC_TO_RDR_ESCAPE, 6, 0, 1) + h("CD 02 00 10 00 00")))
        server.poll()
        self.assertEqual(events(host.take())[0][1][7:9], h("41 83"))  # ERR_BAD_STATE

    def test_oversize_compat_frame_is_dropped(self):
        host, _, _, server = make(ECHO_NONE)
        host.feed(h("03 06 6F FF 01 00 00 00 01 00 00 00") + h("03 06 65 00 00 00 00 00 02 00 00 00 62"))
        self.assertEqual(server.poll(), 1)
        self.assertEqual(host.take(), h("03 06 81 00 00 00 00 00 02 01 00 00 87"))
        self.assertEqual(server.oversize, 1)


class TestExactlyOnce(unittest.TestCase):
    VERIFY = h("00 20 00 01 08 31 32 33 34 FF FF FF FF")

    def test_retransmission_answered_from_cache(self):
        host, fakes, _, server = make(ECHO_HEADER)
        fakes[0].powered = True
        frame = compat(xfr(0x42, self.VERIFY))
        host.feed(frame)
        server.poll()
        first = host.take()
        host.feed(frame)
        server.poll()
        second = host.take()
        self.assertEqual(fakes[0].executed, 1)
        self.assertEqual(first, second)
        self.assertEqual(server.retransmits, 1)

    def test_retransmission_after_nak(self):
        host, fakes, _, server = make(ECHO_NONE)
        fakes[0].powered = True
        frame = compat(xfr(9, self.VERIFY))
        host.feed(frame[:-1] + bytes([frame[-1] ^ 1]))
        server.poll()
        self.assertEqual(host.take(), h("03 15 16"))
        host.feed(frame)
        server.poll()
        host.feed(frame)
        server.poll()
        self.assertEqual(fakes[0].executed, 1)

    def test_same_seq_different_bytes_is_executed(self):
        host, fakes, _, server = make(ECHO_NONE)
        fakes[0].powered = True
        host.feed(compat(xfr(3, self.VERIFY)))
        server.poll()
        host.feed(compat(xfr(3, h("00 84 00 00 08"))))
        server.poll()
        self.assertEqual(fakes[0].executed, 2)
        self.assertEqual(server.retransmits, 0)

    def test_cache_is_per_slot(self):
        host, fakes, _, server = make(ECHO_NONE, slots=2)
        for f in fakes:
            f.powered = True
        a = compat(xfr(3, self.VERIFY, slot=0))
        b = compat(xfr(4, self.VERIFY, slot=1))
        for frame in (a, b, a, b):
            host.feed(frame)
            server.poll()
        self.assertEqual([f.executed for f in fakes], [1, 1])

    def test_bad_slot_is_answered_and_not_cached(self):
        host, _, _, server = make(ECHO_NONE)
        host.feed(h("03 06 65 00 00 00 00 03 02 00 00 00 61"))
        server.poll()
        ev = events(host.take())
        self.assertEqual(ev[0][1], h("81 00 00 00 00 03 02 42 05 00"))


class TestKeepAlive(unittest.TestCase):
    def test_keepalive_bytes_during_a_long_card_operation(self):
        host, fakes, _, server = make(ECHO_HEADER)
        slot = fakes[0]
        slot.powered = True
        slot.work_ms = 200
        slot.idle_calls = 6  # 1.2 s of card work, idle hook every 200 ms
        host.feed(compat(xfr(1, h("00 B0 00 00 10"))))
        server.poll()
        ev = events(host.take())
        self.assertEqual([k for k, _ in ev], ["frame", "byte", "byte", "frame"])
        self.assertEqual(ev[1][1], 0x80)
        self.assertEqual(server.keepalives, 2)
        self.assertLessEqual(KEEPALIVE_MS, 1000)

    def test_no_keepalive_when_the_card_is_quick(self):
        host, fakes, _, server = make(ECHO_HEADER)
        fakes[0].powered = True
        fakes[0].work_ms = 100
        fakes[0].idle_calls = 4
        host.feed(compat(xfr(1, h("00 B0 00 00 10"))))
        server.poll()
        self.assertEqual([k for k, _ in events(host.take())], ["frame", "frame"])

    def test_abort_during_a_long_card_operation(self):
        host, fakes, _, server = make(ECHO_HEADER)
        slot = fakes[0]
        slot.powered = True
        slot.work_ms = 200
        slot.idle_calls = 10
        abort = compat(header(ccid.PC_TO_RDR_ABORT, 0, 0, 2))
        slot.feed_at = {3: abort[:5], 4: abort[5:]}  # split across two reads, after 0.8 s
        host.feed(compat(xfr(1, h("00 B0 00 00 10"))))
        self.assertEqual(server.poll(), 2)
        ev = events(host.take())
        self.assertEqual([k for k, _ in ev], ["frame", "byte", "frame", "frame", "frame"])
        self.assertEqual(ev[2][1], h("80 00 00 00 00 00 01 41 FF 00"))  # aborted, card inactive
        self.assertEqual(ev[3][1], h("72 00 00 00 00 00 02 00 00 00"))  # the Abort's echo
        self.assertEqual(ev[4][1], h("81 00 00 00 00 00 02 01 00 00"))  # its SlotStatus
        self.assertEqual(server.aborts, 1)
        self.assertFalse(server.abort_requested)

    def test_abort_for_another_slot_or_a_bad_check_does_not_abort(self):
        host, fakes, _, server = make(ECHO_NONE, slots=2)
        slot = fakes[0]
        slot.powered = True
        slot.idle_calls = 4
        bad = bytearray(native(header(ccid.PC_TO_RDR_ABORT, 0, 0, 3)))
        bad[-1] ^= 1
        slot.feed_at = {0: native(header(ccid.PC_TO_RDR_ABORT, 0, 1, 2)), 1: bytes(bad)}
        host.feed(compat(xfr(1, h("00 B0 00 00 10"))))
        server.poll()
        ev = events(host.take())
        self.assertEqual(ev[0][1][7:9], h("00 00"))  # the command completed
        self.assertEqual(ev[1][1][:9], h("81 00 00 00 00 01 02 01 00"))  # slot 1's Abort, answered after
        self.assertEqual(ev[2], ("nak", 0))  # the corrupted frame, NAKed in turn
        self.assertEqual(server.aborts, 0)

    def test_keepalive_outside_a_request_sends_nothing(self):
        host, _, _, server = make()
        host.now_ms += 5000
        server.keepalive()
        self.assertEqual(host.take(), b"")

    def test_notify_off_in_compat_on_after_native(self):
        host, fakes, _, server = make(ECHO_NONE)
        self.assertFalse(server.notify(0x03))
        self.assertEqual(host.take(), b"")
        host.feed(native(header(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 0, 7)))
        server.poll()
        host.take()
        self.assertTrue(server.notify(0x03))
        self.assertEqual(host.take(), h("50 03"))


class BrokenService:
    slot_count = 1

    def handle(self, req, off, n, resp, resp_off, native=False, max_message=271):
        raise RuntimeError("bug")

    def icc_status(self, slot):
        return 1


def line_settings(seq, baud, stop_bits, slot=0):
    payload = bytes([escape.VENDOR_CLASS, escape.CMD_LINK_SETTINGS]) + baud.to_bytes(4, "little") + bytes([stop_bits])
    return header(ccid.PC_TO_RDR_ESCAPE, len(payload), slot, seq) + payload


class TestLinkSettings(unittest.TestCase):
    def test_switch_after_the_answer_and_confirm(self):
        host, _, _, server = make(ECHO_NONE)
        host.feed(native(line_settings(1, 921600, 1)))
        server.poll()
        out = host.take()
        ev = events(out)
        self.assertEqual(ev[0][1], h("83 07 00 00 00 00 01 01 00 00 CD 03 00 10 0E 00 01"))
        self.assertEqual(host.line_log, [(len(out), 921600, 1)])  # after the whole answer
        host.now_ms += 300
        host.feed(native(header(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 0, 2)))  # the host confirms
        server.poll()
        host.now_ms += 10000
        server.poll()
        self.assertEqual((host.baud, host.stop_bits, server.line_reverts), (921600, 1, 0))

    def test_no_good_frame_at_the_new_rate_goes_back(self):
        host, _, _, server = make(ECHO_HEADER)
        host.feed(compat(line_settings(1, 9600, 2)))
        server.poll()
        host.take()
        host.feed(h("55 AA 03 06 FF"))  # garbage at the wrong rate does not confirm
        host.now_ms += 1000
        server.poll()
        self.assertEqual(host.baud, 9600)
        host.now_ms += 1500
        server.poll()
        self.assertEqual((host.baud, host.stop_bits, server.line_reverts), (115200, 2, 1))
        self.assertEqual([c[1:] for c in host.line_log], [(9600, 2), (115200, 2)])
        host.feed(compat(header(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 0, 2)))  # the old rate works
        server.poll()
        self.assertEqual(events(host.take())[-1][1][:7], h("81 00 00 00 00 00 02"))

    def test_two_switches_before_a_confirmation_go_back_to_the_confirmed_rate(self):
        host, _, _, server = make(ECHO_NONE)
        host.feed(native(line_settings(1, 921600, 2)))
        server.poll()
        host.feed(native(line_settings(2, 9600, 2)))  # arrives at the new rate: a good frame
        server.poll()
        host.now_ms += 3000
        server.poll()
        self.assertEqual((host.baud, server.line_reverts), (921600, 1))

    def test_refusals(self):
        host, _, _, server = make(ECHO_NONE)
        host.feed(native(line_settings(1, 14400, 2)))  # a rate the port cannot do
        host.feed(native(line_settings(2, 115200, 3)))  # 3 stop bits
        bad = header(ccid.PC_TO_RDR_ESCAPE, 6, 0, 3) + h("CD 03 00 C2 01 00")  # 4 bytes of payload
        host.feed(native(bad))
        server.poll()
        answers = [e[1] for e in events(host.take())]
        self.assertEqual([a[7:9] for a in answers], [h("41 82"), h("41 82"), h("41 81")])
        self.assertEqual(host.line_log, [])

    def test_a_port_without_line_settings_refuses(self):
        from cpsdi_fw.hal import HostPort

        class CdcPort(FakeHostPort):
            line_supported = HostPort.line_supported

        host = CdcPort()
        service = CCIDService([FakeSlot(host)], firmware_version="0.1.0", board="test")
        server = LinkServer(host, service, echo=ECHO_NONE)
        host.feed(native(line_settings(1, 115200, 2)))
        server.poll()
        self.assertEqual(events(host.take())[0][1][7:9], h("41 82"))


class TestRobustness(unittest.TestCase):
    def test_service_bug_gives_hw_error_answer(self):
        host = FakeHostPort()
        server = LinkServer(host, BrokenService(), echo=ECHO_NONE)
        host.feed(compat(h("6F 01 00 00 00 00 05 00 00 00 00")))
        server.poll()
        ev = events(host.take())
        self.assertEqual(ev[0][1], h("80 00 00 00 00 00 05 41 FB 00"))
        self.assertEqual(server.errors, 1)

    def test_fuzzed_frames_never_raise(self):
        host, fakes, service, server = make(ECHO_HEADER, slots=2)
        x = 0x1234567
        valid = [h(c) for c, _ in OPEN_SEQUENCE]
        for round_ in range(300):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            kind = x % 4
            if kind == 0:  # random bytes
                n = x % 40
                data = bytes(((x >> (i % 16)) + i * 7) & 0xFF for i in range(n))
                host.feed(data)
            else:  # a valid-checksum frame with a random message
                n = 10 + (x >> 8) % 30
                msg = bytearray(((x >> (i % 20)) * (i + 1)) & 0xFF for i in range(n))
                if kind == 1:
                    msg[0] = 0x61 + (x >> 3) % 20
                    msg[1] = n - 10
                    msg[2] = msg[3] = msg[4] = 0
                    msg[5] &= 3
                if kind == 3:
                    msg = bytearray(valid[(x >> 5) % len(valid)][2:-1])
                    msg[(x >> 7) % len(msg)] ^= (x >> 11) & 0xFF
                    n = len(msg)
                host.feed(compat(bytes(msg)) if (x >> 13) & 1 else native(bytes(msg)))
            server.poll()
            host.take()
            if round_ % 17 == 0:
                fakes[(x >> 9) & 1].present = bool(x & 1)
        self.assertEqual(server.errors, 0)
        host.now_ms += 1000
        server.poll()  # any partial frame left by the fuzz is dropped
        host.take()
        host.feed(h("03 06 65 00 00 00 00 00 02 00 00 00 62"))
        for _ in range(4):
            server.poll()
        answers = [m for k, m in events(host.take()) if k == "frame" and m[0] == 0x81]
        self.assertEqual(answers[-1][6], 0x02)

    def test_counters_escape(self):
        host, _, _, server = make(ECHO_NONE)
        host.feed(b"\x00\x01" + compat(header(ccid.PC_TO_RDR_ESCAPE, 2, 0, 1) + bytes([escape.VENDOR_CLASS, 0x30])))
        server.poll()
        msg = events(host.take())[0][1]
        data = msg[10:]
        self.assertEqual(data[:2], h("CD 30"))
        tlv = {}
        i = 2
        while i < len(data):
            tlv[data[i]] = int.from_bytes(data[i + 2 : i + 2 + data[i + 1]], "little")
            i += 2 + data[i + 1]
        self.assertEqual(tlv[link_mod.CTR_GARBAGE], 2)
        self.assertEqual(tlv[link_mod.CTR_FRAMES], 1)
        host.feed(compat(header(ccid.PC_TO_RDR_ESCAPE, 2, 0, 2) + bytes([escape.VENDOR_CLASS, 0x31])))
        server.poll()
        self.assertEqual(server.garbage, 0)


class TestHeapLock(unittest.TestCase):
    def test_abort_watch_allocates_nothing(self):
        if not IS_MICROPYTHON:
            self.skipTest("micropython.heap_lock only on MicroPython")
        import micropython  # pyright: ignore[reportMissingImports]

        host, _, _, server = make(ECHO_HEADER)
        server.busy = True
        server.busy_slot = 0
        host.feed(h("55 55"))
        server.keepalive()  # warm-up
        host.feed(compat(header(ccid.PC_TO_RDR_ABORT, 0, 0, 2)))
        micropython.heap_lock()
        try:
            aborted = server.keepalive()
        finally:
            micropython.heap_unlock()
        self.assertTrue(aborted)

    def test_poll_get_slot_status_allocates_nothing(self):
        if not IS_MICROPYTHON:
            self.skipTest("micropython.heap_lock only on MicroPython")
        import micropython  # pyright: ignore[reportMissingImports]

        host, _, _, server = make(ECHO_HEADER)
        frame = h("03 06 65 00 00 00 00 00 02 00 00 00 62")
        host.feed(frame)
        server.poll()  # warm-up: first-call allocations (attribute caches) happen here
        host.take()
        host.feed(h("03 06 65 00 00 00 00 00 03 00 00 00 63"))
        micropython.heap_lock()
        try:
            served = server.poll()
        finally:
            micropython.heap_unlock()
        self.assertEqual(served, 1)
        self.assertEqual(server.errors, 0)
        self.assertTrue(host.take().endswith(h("03 06 81 00 00 00 00 00 03 01 00 00 86")))


if __name__ == "__main__":
    unittest.main()
