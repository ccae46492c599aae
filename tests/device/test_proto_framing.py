"""Wire framing (cpsdi_proto) against the golden vectors; runs on CPython and MicroPython."""

import unittest

from _paths import read_jsonl
from cpsdi_proto import ccid, escape, gempc, native
from cpsdi_proto.decoder import (
    EV_BAD_CHECK,
    EV_FRAME,
    EV_KEEPALIVE,
    EV_NAK,
    EV_NONE,
    EV_NOTIFY,
    EV_OVERSIZE,
    FrameDecoder,
)

try:
    import micropython

    _HEAP_LOCK = hasattr(micropython, "heap_lock")
except ImportError:
    _HEAP_LOCK = False

FRAMES = read_jsonl("frames.jsonl")
STREAMS = read_jsonl("streams.jsonl")
_NAMES = {
    EV_FRAME: "frame",
    EV_BAD_CHECK: "bad_check",
    EV_OVERSIZE: "oversize",
    EV_NAK: "nak",
    EV_NOTIFY: "notify",
    EV_KEEPALIVE: "keepalive",
}


def _decode(dec, data, chunk):
    """Feed ``data`` in chunks of ``chunk`` bytes; return the events as the vectors write them."""
    events = []
    for start in range(0, len(data), chunk):
        end = min(start + chunk, len(data))
        i = start
        while True:
            i = dec.feed(data, i, end)
            if dec.kind == EV_NONE:
                break
            ev = [_NAMES[dec.kind]]
            if dec.kind in (EV_FRAME, EV_BAD_CHECK):
                ev.append(bytes(dec.message()).hex())
            elif dec.kind in (EV_NOTIFY, EV_KEEPALIVE):
                ev.append(dec.value)
            events.append(ev)
    return events


def _decoder_for(rec):
    return FrameDecoder(from_reader=rec["dir"] == "R>H", native_max_message=native.NATIVE_MAX_MESSAGE)


class TestGoldenFrames(unittest.TestCase):
    def test_vectors_present(self):
        self.assertTrue(len(FRAMES) >= 80)
        self.assertTrue(any(r["framing"] == "native" for r in FRAMES))

    def test_decode_whole(self):
        for rec in FRAMES:
            frame = bytes.fromhex(rec["frame"])
            self.assertEqual(_decode(_decoder_for(rec), frame, len(frame)), [["frame", rec["message"]]], rec["name"])

    def test_decode_byte_by_byte(self):
        for rec in FRAMES:
            dec = _decoder_for(rec)
            frame = bytes.fromhex(rec["frame"])
            self.assertEqual(_decode(dec, frame, 1), [["frame", rec["message"]]], rec["name"])
            self.assertEqual(dec.native, rec["framing"] == "native")
            self.assertEqual(dec.frame_len, len(frame))
            self.assertFalse(dec.in_frame)

    def test_header_fields(self):
        for rec in FRAMES:
            msg = bytes.fromhex(rec["message"])
            self.assertEqual(list(ccid.unpack_header(msg)), rec["header"], rec["name"])
            self.assertEqual(ccid.data_length(msg), len(msg) - ccid.HEADER_SIZE)

    def test_seal_rebuilds_frame(self):
        for rec in FRAMES:
            h = rec["header"]
            data = bytes.fromhex(rec["data"])
            buf = bytearray(len(data) + ccid.HEADER_SIZE + native.NATIVE_OVERHEAD)
            ccid.pack_header(buf, gempc.MESSAGE_OFFSET, h[0], h[1], h[2], h[3], h[4], h[5], h[6])
            buf[12 : 12 + len(data)] = data
            if rec["framing"] == "native":
                n = native.seal_native(buf, len(data) + ccid.HEADER_SIZE)
            else:
                n = gempc.seal_compat(buf, len(data) + ccid.HEADER_SIZE)
            self.assertEqual(bytes(buf[:n]).hex(), rec["frame"], rec["name"])

    def test_answer_types(self):
        for rec in FRAMES:
            t = rec["header"][0]
            if rec["dir"] == "H>R":
                self.assertTrue(ccid.is_request(t), rec["name"])
                self.assertTrue(ccid.answer_type(t) >= ccid.RDR_TO_PC_DATA_BLOCK)
            else:
                self.assertFalse(ccid.is_request(t), rec["name"])
        self.assertEqual(ccid.answer_type(ccid.PC_TO_RDR_XFR_BLOCK), ccid.RDR_TO_PC_DATA_BLOCK)
        self.assertEqual(ccid.answer_type(ccid.PC_TO_RDR_SET_PARAMETERS), ccid.RDR_TO_PC_PARAMETERS)
        self.assertEqual(ccid.answer_type(ccid.PC_TO_RDR_ABORT), ccid.RDR_TO_PC_SLOT_STATUS)
        self.assertEqual(ccid.answer_type(0x00), 0)
        self.assertEqual(ccid.answer_type(ccid.RDR_TO_PC_DATA_BLOCK), 0)

    def test_vendor_escapes_use_vendor_class(self):
        for rec in FRAMES:
            if rec["name"].startswith("vendor") and rec["data"]:
                self.assertEqual(bytes.fromhex(rec["data"])[0], escape.VENDOR_CLASS)


class TestStreams(unittest.TestCase):
    def test_streams_any_chunking(self):
        for rec in STREAMS:
            data = bytes.fromhex(rec["stream"])
            for chunk in (1, 2, 3, 7, 64, len(data)):
                dec = FrameDecoder(from_reader=rec["from_reader"], native_max_message=rec["native_max_message"])
                self.assertEqual(_decode(dec, data, chunk), rec["events"], rec["name"] + " chunk " + str(chunk))
                self.assertEqual(dec.garbage, rec["garbage"], rec["name"])
                self.assertFalse(dec.in_frame, rec["name"])

    def test_partial_frame_then_reset(self):
        rec = FRAMES[4]
        frame = bytes.fromhex(rec["frame"])
        dec = FrameDecoder()
        self.assertEqual(_decode(dec, frame[:7], 7), [])
        self.assertTrue(dec.in_frame)
        dec.reset()
        self.assertFalse(dec.in_frame)
        self.assertEqual(_decode(dec, frame, 5), [["frame", rec["message"]]])

    def test_native_rejected_when_disabled(self):
        nat = [r for r in FRAMES if r["framing"] == "native"][0]
        dec = FrameDecoder(native_max_message=0)
        self.assertEqual(_decode(dec, bytes.fromhex(nat["frame"]), 9), [])
        self.assertEqual(dec.frames, 0)

    def test_compat_limit_is_271(self):
        dec = FrameDecoder()
        msg = bytearray(gempc.COMPAT_MAX_MESSAGE + gempc.COMPAT_OVERHEAD + 1)
        for length, expected in ((gempc.COMPAT_MAX_DATA, "frame"), (gempc.COMPAT_MAX_DATA + 1, "oversize")):
            ccid.pack_header(msg, 2, ccid.PC_TO_RDR_XFR_BLOCK, length, 0, 1, 0, 0, 0)
            n = gempc.seal_compat(msg, ccid.HEADER_SIZE + length)
            events = _decode(dec, bytes(msg[:n]), 50)
            self.assertEqual(events[0][0], expected)

    def test_native_limit(self):
        dec = FrameDecoder(native_max_message=100)
        buf = bytearray(200)
        for length, expected in ((90, "frame"), (91, "oversize")):
            ccid.pack_header(buf, 2, ccid.PC_TO_RDR_XFR_BLOCK, length, 0, 1, 0, 0, 0)
            n = native.seal_native(buf, ccid.HEADER_SIZE + length)
            self.assertEqual(_decode(dec, bytes(buf[:n]), 13)[0][0], expected)

    def test_bad_arguments(self):
        self.assertRaises(ValueError, FrameDecoder, False, -1)
        self.assertRaises(ValueError, FrameDecoder, False, 5)
        self.assertRaises(ValueError, FrameDecoder, False, native.NATIVE_MAX_MESSAGE + 1)


class TestChecks(unittest.TestCase):
    def test_nak_frame(self):
        self.assertEqual(gempc.NAK_FRAME, bytes([gempc.SYNC, gempc.CTRL_NAK, gempc.NAK_LRC]))
        self.assertEqual(gempc.lrc(gempc.NAK_FRAME, 0, 3), 0)

    def test_crc32_known_value(self):
        # CRC-32/ISO-HDLC check value
        self.assertEqual(native.crc32(b"123456789", 0, 9), 0xCBF43926)
        self.assertEqual(native.crc32_py(b"123456789", 0, 9), 0xCBF43926)
        data = bytes(range(256)) * 3
        self.assertEqual(native.crc32_py(data, 5, 700), native.crc32(data, 5, 700))

    def test_every_single_bit_flip_is_caught(self):
        for rec in (FRAMES[1], [r for r in FRAMES if r["framing"] == "native"][0]):
            frame = bytearray(bytes.fromhex(rec["frame"]))
            for pos in range(2, len(frame)):
                for bit in range(8):
                    frame[pos] ^= 1 << bit
                    events = _decode(_decoder_for(rec), frame, len(frame))
                    frame[pos] ^= 1 << bit
                    self.assertFalse(["frame", rec["message"]] in events, rec["name"])

    def test_echo_header(self):
        for rec in FRAMES:
            if rec["dir"] != "H>R" or rec["framing"] != "compat":
                continue
            buf = bytearray(bytes.fromhex(rec["frame"]))
            n = gempc.seal_echo_header(buf, len(buf))
            self.assertEqual(n, 13)
            msg = bytes.fromhex(rec["message"])
            self.assertEqual(bytes(buf[2:12]), msg[:1] + b"\x00\x00\x00\x00" + msg[5:10])
            self.assertEqual(gempc.lrc(buf, 0, 13), 0)
        self.assertEqual(gempc.seal_echo_header(bytearray(5), 5), 0)


@unittest.skipIf(not _HEAP_LOCK, "micropython.heap_lock only on MicroPython")
class TestNoAllocation(unittest.TestCase):
    def test_compat_decode_allocates_nothing(self):
        dec = FrameDecoder(from_reader=True, native_max_message=1034)
        frames = [bytes.fromhex(r["frame"]) for r in FRAMES if r["framing"] == "compat"]
        stream = bytes.fromhex([r for r in STREAMS if r["name"].startswith("reader keep-alives")][0]["stream"])
        kinds = bytearray(64)
        n = 0
        micropython.heap_lock()
        try:
            for frame in frames:
                i = 0
                end = len(frame)
                while i < end:
                    i = dec.feed(frame, i, i + 1)
                i = 0
                while True:
                    i = dec.feed(stream, i, len(stream))
                    if dec.kind == EV_NONE:
                        break
                    if n < 64:
                        kinds[n] = dec.kind
                        n += 1
        finally:
            micropython.heap_unlock()
        self.assertEqual(dec.frames, len(frames) * 2)
        self.assertEqual(dec.bad_checks, 0)
        self.assertEqual(kinds[0], EV_KEEPALIVE)

    def test_seal_compat_allocates_nothing(self):
        buf = bytearray(300)
        micropython.heap_lock()
        try:
            ccid.pack_header(buf, 2, ccid.RDR_TO_PC_DATA_BLOCK, 250, 0, 7, 0, 0, 0)
            n = gempc.seal_compat(buf, 260)
        finally:
            micropython.heap_unlock()
        self.assertEqual(n, 263)
