"""PC_to_RDR_Secure (issue #12): the PIN structures and PIN blocks (firmware/cpsdi_fw/ccid_secure.py),
the keypad entry (pin_entry.py) and the Secure command of the CCID service, on fakes.

Exact bytes: the APDU the card gets, the answer the host gets, the bError of each malformed
structure (CCID §6.2.6: index of the offending byte, 10 = bPINOperation, 11 + i = structure
byte i). Runs on CPython (pytest) and on MicroPython (tools/mpwasm/run.mjs).
"""

import sys
import unittest

import _paths  # noqa: F401
from cpsdi_proto import ccid, escape

from cpsdi_fw import hal, pin_entry
from cpsdi_fw.ccid_secure import SecureRequest
from cpsdi_fw.ccid_service import CCIDService

IS_MICROPYTHON = sys.implementation.name == "micropython"
FF8 = "FF FF FF FF FF FF FF FF"
# bTimeOut 00, bmFormatString 82 (bytes, position 0, left, ASCII), block 08, length format 00,
# max 08 min 04, validation 02 (key), 1 message, wLangId 040C, bMsgIndex 00, prologue 00 00 00
CPS_VERIFY = "00 00 82 08 00 08 04 02 01 0C 04 00 00 00 00 00 20 00 01 08 " + FF8
# modify: offsets 00 / 08, max 8 min 4, bConfirmPIN 03, validation 02, 3 messages 00 01 02
CPS3_CHANGE = "01 00 82 08 00 00 08 08 04 03 02 03 0C 04 00 01 02 00 00 00 00 24 00 01 10 " + FF8 + " " + FF8


def h(text):
    return bytes.fromhex(text)


class Entry:
    def __init__(self, digits):
        self.digits = bytearray(16)
        for i in range(len(digits)):
            self.digits[i] = digits[i]
        self.count = len(digits)


def parse(text):
    r = SecureRequest()
    data = h(text)
    return r, data, r.parse(data, 0, len(data))


def built(text, new, old=()):
    r, data, rc = parse(text)
    assert rc == 0, rc
    out = bytearray(260)
    n = r.build(data, out, Entry(old), Entry(new))
    return bytes(out[:n])


class TestStructures(unittest.TestCase):
    def test_cps_verify_ascii_left_ff_padded(self):
        self.assertEqual(built(CPS_VERIFY, (1, 2, 3, 4)), h("00 20 00 01 08 31 32 33 34 FF FF FF FF"))
        self.assertEqual(built(CPS_VERIFY, (9, 8, 7, 6, 5, 4, 3, 2)), h("00 20 00 01 08 39 38 37 36 35 34 33 32"))

    def test_fields_kept(self):
        r, _, rc = parse(CPS_VERIFY)
        self.assertEqual(rc, 0)
        self.assertEqual((r.timeout_s, r.min_digits, r.max_digits, r.validation, r.lang_id), (30, 4, 8, 2, 0x040C))
        self.assertEqual(r.entries(), 1)

    def test_iso9564_format2_bcd_with_length_nibble(self):
        # bits units: PIN at bit 8, BCD; length field 4 bits at bit 4; block 8 bytes
        text = "00 1E 41 48 04 0C 04 02 00 0C 04 00 00 00 00 00 20 00 01 08 20 " + "FF " * 7
        self.assertEqual(built(text, (1, 2, 3, 4, 5)), h("00 20 00 01 08 25 12 34 5F FF FF FF FF"))
        self.assertEqual(built(text, (1, 2, 3, 4)), h("00 20 00 01 08 24 12 34 FF FF FF FF FF"))

    def test_right_justified_and_binary(self):
        right = "00 00 86 08 00 08 04 02 01 0C 04 00 00 00 00 00 20 00 01 08 30 30 30 30 30 30 30 30"
        self.assertEqual(built(right, (1, 2, 3, 4)), h("00 20 00 01 08 30 30 30 30 31 32 33 34"))
        binary = "00 00 88 06 00 04 04 02 01 0C 04 00 00 00 00 00 20 00 01 07 AA 00 00 00 00 00 00"
        self.assertEqual(built(binary, (1, 2, 3, 4)), h("00 20 00 01 07 AA 01 02 03 04 00 00"))

    def test_length_byte_before_the_pin(self):
        # ASCII at byte 1, length field 8 bits at byte 0 (units bytes)
        text = "00 00 8A 89 10 08 04 02 01 0C 04 00 00 00 00 00 20 00 01 09 00 " + FF8
        self.assertEqual(built(text, (4, 3, 2, 1, 0)), h("00 20 00 01 09 05 34 33 32 31 30 FF FF FF"))

    def test_appended_pin_sets_lc(self):
        four = "00 00 82 00 00 08 04 02 01 0C 04 00 00 00 00 00 20 00 01"
        self.assertEqual(built(four, (1, 2, 3, 4, 5)), h("00 20 00 01 05 31 32 33 34 35"))
        bcd = "00 00 81 00 00 08 04 02 01 0C 04 00 00 00 00 00 20 00 01 00"
        self.assertEqual(built(bcd, (1, 2, 3, 4, 5)), h("00 20 00 01 03 12 34 5F"))

    def test_cps3_change_old_and_new(self):
        r, _, rc = parse(CPS3_CHANGE)
        self.assertEqual((rc, r.entries(), bytes(r.messages)), (0, 3, h("00 01 02")))
        self.assertEqual(built(CPS3_CHANGE, (5, 6, 7, 8, 9), (1, 2, 3, 4)),
                         h("00 24 00 01 10 31 32 33 34 FF FF FF FF 35 36 37 38 39 FF FF FF"))

    def test_modify_message_index_counts(self):
        tail = "00 00 00 00 24 01 01 08 " + FF8
        start = "01 00 82 08 00 00 00 08 04 01 02 "
        # bNumberMessage 0: bMsgIndex1 only; 1 and 2: two indexes (libccid); 3: three
        for count, indexes in (("00", "00"), ("01", "01 02"), ("02", "01 02"), ("03", "00 01 02")):
            r, _, rc = parse(start + count + " 0C 04 " + indexes + " " + tail)
            self.assertEqual(rc, 0, count)
            self.assertEqual(r.entries(), 2)
        # libccid's GemPCPinPad type always sends three indexes
        r, _, rc = parse(start + "01 0C 04 01 02 00 " + tail)
        self.assertEqual(rc, 0)
        self.assertEqual(bytes(r.messages[:2]), h("01 02"))
        self.assertEqual(built(start + "01 0C 04 01 02 00 " + tail, (4, 3, 2, 1)),
                         h("00 24 01 01 08 34 33 32 31 FF FF FF FF"))

    def test_malformed_structures_give_the_index_of_the_bad_byte(self):
        def tweak(text, index, value):
            b = bytearray(h(text))
            b[index] = value
            return bytes(b).hex()

        cases = [
            ("", ccid.ERR_BAD_DATA),
            ("02", 10),  # bPINOperation 02 (transfer from secure memory) not supported
            ("00 00 82 08", ccid.ERR_BAD_LENGTH),  # cut short
            (tweak(CPS_VERIFY, 2, 0x83), 12),  # format 11 is RFU
            (tweak(CPS_VERIFY, 4, 0x20), 14),  # bmPINLengthFormat RFU bits
            (tweak(CPS_VERIFY, 5, 0x00), 15),  # max 0
            (tweak(CPS_VERIFY, 5, 17), 15),  # max above 16 digits
            (tweak(CPS_VERIFY, 6, 9), 16),  # min > max
            (tweak(CPS_VERIFY, 6, 0), 16),  # min 0
            (tweak(CPS_VERIFY, 7, 0), 17),  # validation 0
            (tweak(CPS_VERIFY, 7, 8), 17),  # validation RFU bit
            (tweak(CPS_VERIFY, 8, 2), 18),  # bNumberMessage 2 for a verification
            (tweak(CPS_VERIFY, 19, 9), 25),  # Lc says 9, 8 bytes follow
            (CPS_VERIFY + " 00", 25),  # a trailing byte
            (tweak(CPS_VERIFY, 3, 0x09), 13),  # block of 9 bytes past the 8-byte data field
            (tweak(CPS_VERIFY, 2, 0x82 | 2 << 3), 12),  # 8 digits from byte 2 overflow the block
            (tweak(tweak(CPS_VERIFY, 3, 0x48), 4, 0x02), 14),  # length nibble overlapping the digits
            (tweak(CPS_VERIFY, 3, 0x38), 13),  # a 3-bit length field cannot say 8
            (tweak(CPS_VERIFY, 2, 0x86 | 1 << 3), 13),  # right-justified 8 digits under position 1
            (tweak(CPS_VERIFY, 2, 0x81 | 1 << 3), 0),  # BCD from byte 1 fits (control)
            (tweak(CPS3_CHANGE, 3, 0x00), 13),  # a modification needs fixed blocks
            (tweak(CPS3_CHANGE, 9, 0x07), 19),  # bConfirmPIN RFU bit
            (tweak(CPS3_CHANGE, 6, 0x09), 16),  # new PIN block at offset 9 leaves the data field
            (tweak(CPS3_CHANGE, 5, 0x09), 15),  # old PIN block at offset 9
            (tweak(CPS3_CHANGE, 11, 0x04), 21),  # bNumberMessage 4
            (tweak(CPS3_CHANGE, 24, 0x11), 24),  # no bMsgIndex count leaves a well-formed APDU
        ]
        for text, expected in cases:
            _, _, rc = parse(text)
            self.assertEqual(rc, expected, text)


class FakeKeypad(hal.Keypad):
    """Keys at given times (ms); virtual clock; records what the display shows."""

    display_lines = 2
    display_chars = 16

    def __init__(self, keys=()):
        self.keys = list(keys)  # (time ms, key)
        self.now = 0
        self.shown = []
        self.begun = 0
        self.ended = 0

    def begin(self):
        self.begun += 1

    def ticks_ms(self):
        return self.now

    def read_key(self, timeout_ms):
        if self.keys and self.keys[0][0] <= self.now + timeout_ms:
            t, key = self.keys.pop(0)
            if t > self.now:
                self.now = t
            return key
        self.now += timeout_ms
        return hal.KEY_NONE

    def show(self, message, digits):
        self.shown.append((message, digits))

    def end(self):
        self.ended += 1


def typed(text, gap_ms=100, start_ms=100):
    """Key list for a string: digits, E enter, C cancel, B clear."""
    special = {"E": hal.KEY_ENTER, "C": hal.KEY_CANCEL, "B": hal.KEY_CLEAR, "X": 0x41}
    out = []
    t = start_ms
    for ch in text:
        out.append((t, special[ch] if ch in special else ord(ch)))
        t += gap_ms
    return out


def collect(keys, min_digits=4, max_digits=8, validation=ccid.PIN_VALID_KEY, key_ms=30000, total_ms=120000,
            idle=None, present=None):
    pad = FakeKeypad(keys)
    entry = pin_entry.PINEntry()
    result = pin_entry.collect(pad, entry, min_digits, max_digits, validation, 0, key_ms, total_ms, idle,
                               present or (lambda: True))
    return result, bytes(entry.digits[:entry.count]), pad


class TestEntry(unittest.TestCase):
    def test_digits_then_enter(self):
        result, digits, pad = collect(typed("1234E"))
        self.assertEqual((result, digits), (pin_entry.DONE, h("01 02 03 04")))
        self.assertEqual(pad.shown, [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 4)])  # counts, never digits

    def test_clear_and_ignored_keys(self):
        result, digits, _ = collect(typed("12B3X45E"))
        self.assertEqual((result, digits), (pin_entry.DONE, h("01 03 04 05")))

    def test_enter_below_minimum_is_ignored_then_the_key_timeout(self):
        result, digits, pad = collect(typed("123E"))
        self.assertEqual(result, pin_entry.TIMEOUT)
        self.assertEqual(pad.now, 400 + 30000)  # last key at 400 ms, then the 30 s key timeout

    def test_digits_past_the_maximum_are_ignored(self):
        result, digits, _ = collect(typed("123456E"), max_digits=4)
        self.assertEqual((result, digits), (pin_entry.DONE, h("01 02 03 04")))

    def test_cancel(self):
        self.assertEqual(collect(typed("12C"))[0], pin_entry.CANCELLED)

    def test_validation_by_max_size_and_by_timeout(self):
        result, digits, _ = collect(typed("12345"), max_digits=5, validation=ccid.PIN_VALID_MAX_SIZE)
        self.assertEqual((result, digits), (pin_entry.DONE, h("01 02 03 04 05")))
        result, digits, _ = collect(typed("1234E"), validation=ccid.PIN_VALID_MAX_SIZE)
        self.assertEqual(result, pin_entry.TIMEOUT)  # Enter is not a validation here
        result, digits, _ = collect(typed("1234"), validation=ccid.PIN_VALID_TIMEOUT)
        self.assertEqual((result, digits), (pin_entry.DONE, h("01 02 03 04")))
        result, _, _ = collect(typed("123"), validation=ccid.PIN_VALID_TIMEOUT)
        self.assertEqual(result, pin_entry.TIMEOUT)  # below the minimum

    def test_key_timeout_restarts_at_each_key(self):
        result, _, _ = collect(typed("1234E", gap_ms=20000, start_ms=20000), key_ms=30000, total_ms=500000)
        self.assertEqual(result, pin_entry.DONE)
        result, _, pad = collect(typed("1234E", start_ms=30001), key_ms=30000)
        self.assertEqual((result, pad.now), (pin_entry.TIMEOUT, 30000))

    def test_total_deadline_bounds_a_busy_holder(self):
        keys = typed("1B" * 100, gap_ms=1000)
        result, _, pad = collect(keys, key_ms=30000, total_ms=50000)
        self.assertEqual((result, pad.now), (pin_entry.TIMEOUT, 50000))

    def test_abort_and_removal(self):
        self.assertEqual(collect(typed("12345678E"), idle=lambda: True)[0], pin_entry.ABORTED)
        self.assertEqual(collect(typed("12345678E"), present=lambda: False)[0], pin_entry.REMOVED)

    def test_same_as(self):
        a = pin_entry.PINEntry()
        b = pin_entry.PINEntry()
        for k in (1, 2, 3, 4):
            a.press(0x30 + k, 4, 8, 2)
            b.press(0x30 + k, 4, 8, 2)
        self.assertTrue(a.same_as(b))
        b.press(0x35, 4, 8, 2)
        self.assertFalse(a.same_as(b))
        a.wipe()
        self.assertEqual((a.count, bytes(a.digits)), (0, bytes(16)))


class FakeDecision:
    def __init__(self, protocol):
        self.protocol = protocol


class FakePort:
    voltage_classes = 0x07
    clock_hz = 4000000

    def __init__(self):
        self.inserted = True

    def present(self):
        return self.inserted


class FakeT1:
    edc_crc = False
    crc_variant = 0

    def __init__(self):
        self.tx_buf = bytearray(16)
        for i in range(16):
            self.tx_buf[i] = 0x31  # what an APDU-level exchange would leave there


class FakeSlot:
    """A powered card: records what reaches it, answers the queued responses."""

    def __init__(self, protocol=0):
        self.port = FakePort()
        self.decision = FakeDecision(protocol)
        self.t1 = FakeT1()
        self.powered = True
        self.sent = []  # (kind, bytes, bwi)
        self.answers = [h("90 00")]
        self.aborting = False

    def idle(self):
        return self.aborting

    def state(self):
        if not self.port.present():
            self.powered = False
            return ccid.ICC_ABSENT
        return ccid.ICC_ACTIVE if self.powered else ccid.ICC_INACTIVE

    def _answer(self, kind, data, n, resp, bwi):
        self.sent.append((kind, bytes(data[:n]), bwi))
        a = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        for i in range(len(a)):
            resp[i] = a[i]
        return len(a)

    def transmit_apdu(self, apdu, n, resp, resp_max):
        return self._answer("apdu", apdu, n, resp, 0)

    def transmit_tpdu(self, tpdu, n, resp, resp_max, bwi=0):
        return self._answer("tpdu", tpdu, n, resp, bwi)


def make(keys, protocol=0, keypad=True):
    slot = FakeSlot(protocol)
    pad = FakeKeypad(keys) if keypad else None
    service = CCIDService([slot], firmware_version="1.0", board="pad", keypad=pad)
    return slot, pad, service


def secure(service, data, seq=7, native=True, level=b"\x00\x00", bwi=0):
    msg = bytearray(10)
    ccid.pack_header(msg, 0, ccid.PC_TO_RDR_SECURE, len(data), 0, seq, bwi, level[0], level[1])
    req = bytearray(3) + msg + bytearray(data)
    resp = bytearray(300)
    n = service.handle(req, 3, 10 + len(data), resp, 0, native, 271)
    return bytes(resp[:n])


class TestSecureCommand(unittest.TestCase):
    def test_verify_at_apdu_level_forwards_the_card_answer(self):
        slot, pad, service = make(typed("1234E"))
        self.assertEqual(secure(service, h(CPS_VERIFY)), h("80 02 00 00 00 00 07 00 00 00 90 00"))
        self.assertEqual(slot.sent, [("apdu", h("00 20 00 01 08 31 32 33 34 FF FF FF FF"), 0)])
        self.assertEqual((pad.begun, pad.ended), (1, 1))

    def test_wrong_and_blocked_answers_are_passed_through(self):
        slot, _, service = make(typed("0000E"))
        slot.answers = [h("63 C2")]
        self.assertEqual(secure(service, h(CPS_VERIFY)), h("80 02 00 00 00 00 07 00 00 00 63 C2"))
        slot, _, service = make(typed("0000E"))
        slot.answers = [h("69 83")]
        self.assertEqual(secure(service, h(CPS_VERIFY)), h("80 02 00 00 00 00 07 00 00 00 69 83"))

    def test_cancel_timeout_abort_removal_reach_no_card(self):
        slot, _, service = make(typed("12C"))
        self.assertEqual(secure(service, h(CPS_VERIFY)), h("80 00 00 00 00 00 07 40 EF 00"))
        slot2, _, service2 = make(typed("12"))
        self.assertEqual(secure(service2, h(CPS_VERIFY)), h("80 00 00 00 00 00 07 40 F0 00"))
        slot3, _, service3 = make(typed("1234E"))
        slot3.aborting = True
        self.assertEqual(secure(service3, h(CPS_VERIFY)), h("80 00 00 00 00 00 07 40 FF 00"))
        slot4, _, service4 = make(typed("1234E"))
        still = [True, True]  # present at the request and after the first key, then pulled out

        def present():
            return still.pop(0) if still else False

        slot4.port.present = present
        self.assertEqual(secure(service4, h(CPS_VERIFY)), h("80 00 00 00 00 00 07 42 FE 00"))
        self.assertEqual(slot.sent + slot2.sent + slot3.sent + slot4.sent, [])

    def test_change_with_confirmation_and_mismatch(self):
        slot, _, service = make(typed("1234E5678E5678E"))
        self.assertEqual(secure(service, h(CPS3_CHANGE)), h("80 02 00 00 00 00 07 00 00 00 90 00"))
        self.assertEqual(slot.sent[0][1], h("00 24 00 01 10 31 32 33 34 FF FF FF FF 35 36 37 38 FF FF FF FF"))
        slot, _, service = make(typed("1234E5678E5679E"))
        self.assertEqual(secure(service, h(CPS3_CHANGE)), h("80 02 00 00 00 00 07 00 00 00 64 02"))
        self.assertEqual(slot.sent, [])

    def test_tpdu_level_t0_sends_the_apdu_as_a_tpdu(self):
        slot, _, service = make(typed("1234E"))
        self.assertEqual(secure(service, h(CPS_VERIFY), native=False, bwi=3)[10:], h("90 00"))
        self.assertEqual(slot.sent, [("tpdu", h("00 20 00 01 08 31 32 33 34 FF FF FF FF"), 3)])

    def test_tpdu_level_t1_builds_the_block_from_the_prologue(self):
        slot, _, service = make(typed("1234E"), protocol=1)
        data = bytearray(h(CPS_VERIFY))
        data[12] = 0x00  # NAD
        data[13] = 0x40  # PCB: I-block N(S) = 1, as libccid numbered it
        data[14] = 0x0D  # LEN (libccid's)
        block = bytearray(h("00 40 0D 00 20 00 01 08 31 32 33 34 FF FF FF FF 00"))
        lrc = 0
        for b in block[:-1]:
            lrc ^= b
        block[-1] = lrc
        wtx = bytearray(h("00 C3 01 02 00"))
        wtx[4] = 0xC3 ^ 0x01 ^ 0x02
        slot.answers = [bytes(wtx), h("00 40 02 90 00 D2")]
        self.assertEqual(secure(service, bytes(data), native=False)[10:], h("00 40 02 90 00 D2"))
        self.assertEqual(slot.sent[0], ("tpdu", bytes(block), 0))
        response = bytearray(h("00 E3 01 02 00"))
        response[4] = 0xE3 ^ 0x01 ^ 0x02
        self.assertEqual(slot.sent[1], ("tpdu", bytes(response), 2))  # S(WTX resp), BWT x 2

    def test_refusals_before_any_key(self):
        slot, pad, service = make(typed("1234E"))
        self.assertEqual(secure(service, h(CPS_VERIFY), level=b"\x01\x00"), h("80 00 00 00 00 00 07 40 08 00"))
        bad = bytearray(h(CPS_VERIFY))
        bad[7] = 0
        self.assertEqual(secure(service, bytes(bad)), h("80 00 00 00 00 00 07 40 11 00"))
        self.assertEqual(secure(service, h("05")), h("80 00 00 00 00 00 07 40 0A 00"))
        slot.powered = False
        self.assertEqual(secure(service, h(CPS_VERIFY)), h("80 00 00 00 00 00 07 41 FE 00"))
        self.assertEqual((pad.begun, slot.sent), (0, []))

    def test_without_a_keypad_secure_is_not_supported(self):
        slot, _, service = make(typed("1234E"), keypad=False)
        self.assertEqual(secure(service, h(CPS_VERIFY)), h("80 00 00 00 00 00 07 40 00 00"))
        self.assertEqual(slot.sent, [])
        self.assertFalse(service.features & escape.FEATURE_PIN_PAD)

    def test_every_pin_buffer_is_wiped(self):
        slot, _, service = make(typed("1234E"), protocol=1)
        secure(service, h(CPS_VERIFY), native=True)
        for buf in (service._apdu, service._block, slot.t1.tx_buf):
            self.assertEqual(bytes(buf), bytes(len(buf)))
        for e in service._entries:
            self.assertEqual((e.count, bytes(e.digits)), (0, bytes(16)))

    def test_get_info_announces_the_pin_pad(self):
        _, _, service = make(())
        self.assertTrue(service.features & escape.FEATURE_PIN_PAD)
        data = bytearray(10) + bytearray(h("CD 01"))
        ccid.pack_header(data, 0, ccid.PC_TO_RDR_ESCAPE, 2, 0, 1, 0, 0, 0)
        resp = bytearray(300)
        n = service.handle(data, 0, len(data), resp, 0, False, 271)
        payload = bytes(resp[12:n])
        i = 0
        tlv = {}
        while i < len(payload):
            tlv[payload[i]] = payload[i + 2:i + 2 + payload[i + 1]]
            i += 2 + payload[i + 1]
        self.assertEqual(tlv[escape.INFO_PIN_PAD], h("03 02 10 10"))


class TestHeapLock(unittest.TestCase):
    def test_key_press_and_pin_block_allocate_nothing(self):
        if not IS_MICROPYTHON:
            self.skipTest("micropython.heap_lock only on MicroPython")
        import micropython  # pyright: ignore[reportMissingImports]

        r, data, rc = parse(CPS3_CHANGE)
        self.assertEqual(rc, 0)
        out = bytearray(260)
        old = pin_entry.PINEntry()
        new = pin_entry.PINEntry()
        old.press(0x31, 4, 8, 2)  # warm-up
        r.build(data, out, old, new)
        micropython.heap_lock()
        try:
            for k in (0x32, 0x33, 0x34):
                old.press(k, 4, 8, 2)
            for k in (0x35, 0x36, 0x37, 0x38):
                new.press(k, 4, 8, 2)
            n = r.build(data, out, old, new)
            new.wipe()
        finally:
            micropython.heap_unlock()
        self.assertEqual(bytes(out[:n]), h("00 24 00 01 10 31 32 33 34 FF FF FF FF 35 36 37 38 FF FF FF FF"))


if __name__ == "__main__":
    unittest.main()
