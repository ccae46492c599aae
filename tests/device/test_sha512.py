"""SHA-512 (firmware/cpsdi_fw/sha512.py); runs on CPython and MicroPython.

Expected digests come from tests/vectors/sha512.jsonl (NIST FIPS 180-2 examples checked
against hashlib, plus hashlib digests of every length 0..300 and of multi-block messages;
written by tests/vectors/make_crypto_vectors.py), so MicroPython, whose hashlib has no
SHA-512, checks against the same values. On CPython, random messages and chunkings are
also compared with hashlib.sha512 directly.

The one-million-'a' NIST vector (7 813 blocks, ~15 s on MicroPython-WebAssembly) runs on
CPython only; MicroPython checks the 1 000- and 10 000-byte multi-block vectors instead.
"""

import sys
import unittest

from cpsdi_fw.sha512 import SHA512, sha512

import _paths
from _rng import Rng

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    import hashlib

    _HASHLIB_SHA512 = getattr(hashlib, "sha512", None)
except ImportError:
    _HASHLIB_SHA512 = None

VECTORS = _paths.read_jsonl("sha512.jsonl")
BY_LENGTH = {}
for _rec in VECTORS:
    if _rec["kind"] == "pattern":
        BY_LENGTH[_rec["len"]] = _rec["digest"]

# Lengths around the 128-byte block and the 112-byte padding limit (FIPS 180-4 §5.1.2).
BOUNDARY_LENGTHS = (0, 1, 111, 112, 113, 127, 128, 129, 239, 240, 241, 255, 256, 257, 300)
CHUNK_SIZES = (1, 3, 7, 64, 111, 112, 127, 128, 129, 200)


def _hex(data):
    return "".join("%02x" % b for b in data)


def _pattern(length):
    """Message of a "pattern" vector: byte i = (i * 7 + length) & 0xFF."""
    return bytes((i * 7 + length) & 0xFF for i in range(length))


def _chunked(data, size):
    h = SHA512()
    for i in range(0, len(data), size):
        h.update(data[i : i + size])
    return h.digest()


class TestSHA512Vectors(unittest.TestCase):
    def test_nist_messages(self):
        n = 0
        for rec in VECTORS:
            if rec["kind"] == "message":
                msg = bytes.fromhex(rec["msg"])
                self.assertEqual(_hex(sha512(msg)), rec["digest"], rec["name"])
                n += 1
        self.assertEqual(n, 4)  # empty, abc, 448-bit, 896-bit

    def test_repeated_byte_multi_block(self):
        n = 0
        for rec in VECTORS:
            if rec["kind"] == "repeat" and not rec["slow"]:
                self.assertEqual(_hex(sha512(bytes([rec["byte"]]) * rec["count"])), rec["digest"], rec["name"])
                n += 1
        self.assertEqual(n, 2)

    def test_million_a(self):
        if IS_MICROPYTHON:
            self.skipTest("one million 'a' is 7 813 blocks (~15 s on MicroPython-wasm): CPython only; "
                          "the 1 000/10 000-byte vectors cover multi-block input on MicroPython")
        rec = [r for r in VECTORS if r["kind"] == "repeat" and r["slow"]][0]
        h = SHA512()
        chunk = bytes([rec["byte"]]) * 1000
        for _ in range(rec["count"] // 1000):
            h.update(chunk)
        self.assertEqual(_hex(h.digest()), rec["digest"])

    def test_every_length_0_to_300(self):
        self.assertEqual(sorted(BY_LENGTH), list(range(301)))
        for length in range(301):
            self.assertEqual(_hex(sha512(_pattern(length))), BY_LENGTH[length], "length %d" % length)

    def test_chunked_updates_around_block_boundaries(self):
        for length in BOUNDARY_LENGTHS:
            data = _pattern(length)
            for size in CHUNK_SIZES:
                self.assertEqual(_hex(_chunked(data, size)), BY_LENGTH[length], "length %d chunk %d" % (length, size))

    def test_uneven_chunks(self):
        # A partial block is topped up, then whole blocks come straight from the input.
        data = _pattern(300)
        for first in (0, 1, 100, 127, 128, 129):
            h = SHA512()
            h.update(data[:first])
            h.update(b"")
            h.update(data[first:first + 150])
            h.update(data[first + 150:])
            self.assertEqual(_hex(h.digest()), BY_LENGTH[300], "first chunk %d" % first)

    def test_digest_is_not_destructive(self):
        data = _pattern(257)
        h = SHA512()
        self.assertEqual(_hex(h.digest()), BY_LENGTH[0])
        # digest() at every stage of one object, then more input.
        for start, cut in ((0, 111), (111, 112), (112, 128), (128, 200), (200, 257)):
            h.update(data[start:cut])
            self.assertEqual(h.digest(), sha512(data[:cut]), "digest after %d bytes" % cut)
        self.assertEqual(_hex(h.digest()), BY_LENGTH[257])
        h = SHA512()
        h.update(data[:112])
        first = h.digest()
        self.assertEqual(h.digest(), first)  # twice: same value
        h.update(data[112:])  # update after digest: continues the message
        self.assertEqual(_hex(h.digest()), BY_LENGTH[257])
        self.assertEqual(_hex(first), _hex(sha512(data[:112])))

    def test_input_types(self):
        data = _pattern(250)
        want = BY_LENGTH[250]
        self.assertEqual(_hex(sha512(bytearray(data))), want)
        self.assertEqual(_hex(sha512(memoryview(data))), want)
        # A memoryview starting inside a larger buffer, split across updates.
        big = b"\xAA" * 5 + data + b"\x55" * 3
        mv = memoryview(big)[5 : 5 + 250]
        h = SHA512()
        h.update(mv[:130])
        h.update(mv[130:])
        self.assertEqual(_hex(h.digest()), want)
        self.assertEqual(len(sha512(b"")), 64)
        self.assertIsInstance(sha512(b""), bytes)

    def test_bad_type_raises_type_error(self):
        with self.assertRaises(TypeError):
            sha512(12345)
        with self.assertRaises(TypeError):
            SHA512().update(None)

    def test_against_hashlib_random(self):
        if _HASHLIB_SHA512 is None:
            self.skipTest("hashlib.sha512 is not available here (MicroPython has none): the stored vectors "
                          "are the reference on this interpreter")
        rng = Rng(0x5EED5EED)
        for _ in range(200):
            data = rng.bytes(rng.next(700))
            h = SHA512()
            ref = _HASHLIB_SHA512()
            i = 0
            while i < len(data):
                step = 1 + rng.next(260)
                h.update(data[i : i + step])
                ref.update(data[i : i + step])
                i += step
                self.assertEqual(h.digest(), ref.digest())
            self.assertEqual(sha512(data), _HASHLIB_SHA512(data).digest())
