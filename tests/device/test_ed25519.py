"""Ed25519 verification (firmware/cpsdi_fw/ed25519.py); runs on CPython and MicroPython.

Vectors: tests/vectors/ed25519.jsonl (make_crypto_vectors.py): RFC 8032 §7.1 (TEST 1, 2,
3, 1024, SHA(abc)) and edge cases constructed in the spirit of Wycheproof — S out of
range, R and A not canonical / not on the curve / of small or mixed order, lengths.
Each record carries this verifier's expected verdict (``valid``) and those of OpenSSL
(pyca cryptography) and libsodium at generation time; one test method per group.
Then bit flips of every signature byte and every key byte, argument types, random
garbage (never raises), internal constants, and on CPython only a cross-check against
``cryptography`` on 200 random keys and messages.
"""

import sys
import unittest

from cpsdi_fw import ed25519
from cpsdi_fw.ed25519 import verify

import _paths
from _rng import Rng

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
except ImportError:  # MicroPython; or a CPython without the test extras
    Ed25519PrivateKey = None

VECTORS = _paths.read_jsonl("ed25519.jsonl")
GROUPS = (
    "rfc8032",
    "baseline",
    "s-range",
    "r-encoding",
    "r-small-order",
    "cofactor",
    "key-small-order",
    "key-encoding",
    "length",
)
_NO_CRYPTOGRAPHY = "pyca cryptography (OpenSSL) is a CPython test extra: not available here"


def _unhex(text):
    return bytes.fromhex(text)


def _group(name):
    return [r for r in VECTORS if r["group"] == name]


def _baseline():
    rec = [r for r in VECTORS if r["group"] == "baseline" and r["valid"]][0]
    return _unhex(rec["pk"]), _unhex(rec["msg"]), _unhex(rec["sig"])


class TestEd25519Vectors(unittest.TestCase):
    def _check_group(self, name, minimum):
        records = _group(name)
        self.assertTrue(len(records) >= minimum, "%s: %d records" % (name, len(records)))
        for rec in records:
            got = verify(_unhex(rec["pk"]), _unhex(rec["msg"]), _unhex(rec["sig"]))
            self.assertIs(got, rec["valid"], "%s / %s: %s" % (name, rec["name"], rec["comment"]))

    def test_groups_are_all_tested(self):
        self.assertEqual(sorted(set(r["group"] for r in VECTORS)), sorted(GROUPS))

    def test_rfc8032_7_1(self):
        names = [r["name"] for r in _group("rfc8032")]
        self.assertEqual(names, ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"])
        self._check_group("rfc8032", 5)

    def test_rfc8032_wrong_message(self):
        for rec in _group("rfc8032"):
            msg = _unhex(rec["msg"]) + b"\x00"
            self.assertIs(verify(_unhex(rec["pk"]), msg, _unhex(rec["sig"])), False, rec["name"])

    def test_baseline(self):
        self._check_group("baseline", 4)

    def test_s_out_of_range(self):
        # RFC 8032 §5.1.7 step 1: S >= L is refused even where S mod L would verify.
        self._check_group("s-range", 8)

    def test_r_encoding(self):
        self._check_group("r-encoding", 5)

    def test_r_small_order(self):
        self._check_group("r-small-order", 7)

    def test_cofactor(self):
        # Cofactorless: mixed-order R refused, mixed-order A accepted only when 8 | k.
        self._check_group("cofactor", 3)

    def test_small_order_public_keys(self):
        self._check_group("key-small-order", 8)

    def test_public_key_encoding(self):
        self._check_group("key-encoding", 9)

    def test_lengths(self):
        self._check_group("length", 7)

    def test_divergences_are_the_documented_ones(self):
        # Where OpenSSL and libsodium disagree this verifier sides with the refusal, and
        # every divergence from OpenSSL is one of: small-order or non-canonical key,
        # identity R (ed25519.py docstring, rules 3, 4 and 7).
        for rec in VECTORS:
            if rec["libsodium"] is not None:
                self.assertIs(rec["valid"], rec["openssl"] and rec["libsodium"], rec["name"])
            if rec["valid"] != rec["openssl"]:
                self.assertTrue(rec["group"] in ("key-small-order", "key-encoding", "r-encoding"), rec["name"])
                self.assertIs(rec["valid"], False, rec["name"])


class TestEd25519Tampering(unittest.TestCase):
    def test_bit_flip_in_every_signature_byte(self):
        pk, msg, sig = _baseline()
        self.assertIs(verify(pk, msg, sig), True)
        for i in range(64):
            bad = bytearray(sig)
            bad[i] ^= 1 << (i % 8)
            self.assertIs(verify(pk, msg, bytes(bad)), False, "signature byte %d" % i)

    def test_bit_flip_in_every_key_byte(self):
        pk, msg, sig = _baseline()
        for i in range(32):
            bad = bytearray(pk)
            bad[i] ^= 0x80 >> (i % 8)
            self.assertIs(verify(bytes(bad), msg, sig), False, "key byte %d" % i)

    def test_bit_flip_in_message(self):
        pk, msg, sig = _baseline()
        for i in range(len(msg)):
            bad = bytearray(msg)
            bad[i] ^= 1 << (i % 8)
            self.assertIs(verify(pk, bytes(bad), sig), False, "message byte %d" % i)
        self.assertIs(verify(pk, msg[:-1], sig), False)
        self.assertIs(verify(pk, b"", sig), False)


class TestEd25519Api(unittest.TestCase):
    def test_bytes_like_arguments(self):
        pk, msg, sig = _baseline()
        self.assertIs(verify(bytearray(pk), bytearray(msg), bytearray(sig)), True)
        self.assertIs(verify(memoryview(pk), memoryview(msg), memoryview(sig)), True)
        # Views into a larger buffer (as the update service passes them).
        blob = b"\x00" * 3 + pk + sig + msg
        mv = memoryview(blob)
        self.assertIs(verify(mv[3:35], mv[99:], mv[35:99]), True)

    def test_bad_types_raise_type_error(self):
        pk, msg, sig = _baseline()
        for args in ((None, msg, sig), (pk, msg, None), (pk, None, sig), (12, msg, sig)):
            with self.assertRaises(TypeError):
                verify(*args)

    def test_random_garbage_never_raises(self):
        rng = Rng(0xED25519)
        pk0, msg, sig0 = _baseline()
        accepted = 0
        for i in range(40):
            pk = rng.bytes(32) if i % 2 else pk0
            sig = bytearray(rng.bytes(64))
            if i % 4 < 2:
                sig[63] &= 0x0F  # S < 2^252 < L: past the range check, into the arithmetic
            got = verify(pk, msg, bytes(sig))
            self.assertIsInstance(got, bool)
            accepted += got
        self.assertEqual(accepted, 0)
        for n in (0, 1, 31, 33, 63, 65, 128):
            self.assertIs(verify(rng.bytes(n), msg, rng.bytes(64)), False)
            self.assertIs(verify(pk0, msg, rng.bytes(n)), False)

    def test_only_verify_is_public(self):
        # `const` is the compat shim every device module imports.
        public = [n for n in dir(ed25519) if not n.startswith("_") and n != "const"]
        self.assertEqual(public, ["verify"])


class TestEd25519Internals(unittest.TestCase):
    def test_curve_constants(self):
        p = ed25519._P
        self.assertEqual(p, 2**255 - 19)
        self.assertEqual(ed25519._D * 121666 % p, (-121665) % p)  # d = -121665/121666
        self.assertEqual(ed25519._SQRT_M1 * ed25519._SQRT_M1 % p, p - 1)
        self.assertEqual(ed25519._L, 2**252 + 27742317777372353535851937790883648493)
        x, y = ed25519._BX, ed25519._BY
        self.assertEqual((-x * x + y * y) % p, (1 + ed25519._D * x * x * y * y) % p)  # on the curve
        self.assertEqual(y * 5 % p, 4)
        self.assertEqual(x & 1, 0)
        base = (x, y, 1, x * y % p)
        self.assertEqual(ed25519._encode_point(base), b"\x58" + b"\x66" * 31)

    def test_order_of_base_point(self):
        # [L]B = identity, [L-1]B = -B (exercises every window digit path of the ladder).
        ident = ed25519._double_scalar_mult(ed25519._L, 0, (0, 1, 1, 0))
        self.assertEqual(ed25519._encode_point(ident), b"\x01" + b"\x00" * 31)
        minus_b = ed25519._double_scalar_mult(ed25519._L - 1, 0, (0, 1, 1, 0))
        want = bytearray(b"\x58" + b"\x66" * 31)
        want[31] |= 0x80  # -B: same y, odd x
        self.assertEqual(ed25519._encode_point(minus_b), bytes(want))

    def test_decode_encode_round_trip(self):
        for rec in VECTORS:
            if rec["group"] in ("rfc8032", "key-small-order"):
                pk = _unhex(rec["pk"])
                point = ed25519._decode_point(pk)
                self.assertIsNotNone(point, rec["name"])
                self.assertEqual(ed25519._encode_point(point), pk, rec["name"])

    def test_small_order_detection(self):
        for rec in _group("key-small-order"):
            point = ed25519._decode_point(_unhex(rec["pk"]))
            self.assertIs(ed25519._is_small_order(point), True, rec["name"])
        for rec in _group("rfc8032"):
            point = ed25519._decode_point(_unhex(rec["pk"]))
            self.assertIs(ed25519._is_small_order(point), False, rec["name"])
        self.assertEqual(len(set(r["pk"] for r in _group("key-small-order"))), 8)

    def test_base_table_built_once(self):
        pk, msg, sig = _baseline()
        verify(pk, msg, sig)
        table = ed25519._b_table
        self.assertEqual(len(table), 16)
        verify(pk, msg, sig)
        self.assertIs(ed25519._b_table, table)


class TestEd25519CrossCheck(unittest.TestCase):
    def test_against_cryptography_random_keys(self):
        if Ed25519PrivateKey is None:
            self.skipTest(_NO_CRYPTOGRAPHY)
        rng = Rng(0xC0FFEE)
        for i in range(200):
            key = Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
            pk = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            msg = rng.bytes(rng.next(300))
            sig = key.sign(msg)
            self.assertIs(verify(pk, msg, sig), True, "key %d" % i)
            bad = bytearray(sig)
            bad[rng.next(64)] ^= 1 << rng.next(8)
            self.assertIs(verify(pk, msg, bytes(bad)), _openssl(pk, msg, bytes(bad)), "key %d tampered" % i)
            if msg:
                m2 = bytearray(msg)
                m2[rng.next(len(msg))] ^= 0x01
                self.assertIs(verify(pk, bytes(m2), sig), False, "key %d message" % i)

    def test_recorded_openssl_verdicts_are_current(self):
        if Ed25519PrivateKey is None:
            self.skipTest(_NO_CRYPTOGRAPHY)
        for rec in VECTORS:
            pk, msg, sig = _unhex(rec["pk"]), _unhex(rec["msg"]), _unhex(rec["sig"])
            self.assertIs(_openssl(pk, msg, sig), rec["openssl"], rec["name"])


def _openssl(pk, msg, sig):
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True
