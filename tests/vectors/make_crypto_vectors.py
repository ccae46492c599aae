"""Regenerate sha512.jsonl and ed25519.jsonl (run by hand; the output is committed).

    .venv/bin/python tests/vectors/make_crypto_vectors.py

PyNaCl (libsodium) is optional and not a project dependency: to fill the ``libsodium``
column, make it importable for this run only, e.g.
``pip install --no-deps --target /tmp/nacl pynacl`` then ``PYTHONPATH=/tmp/nacl``; without
it the column is written as null. The output is deterministic (no randomness).

Independent of the code under test (firmware/cpsdi_fw/sha512.py, ed25519.py): digests come
from CPython's ``hashlib``, signatures from pyca ``cryptography`` (OpenSSL) or from the
small affine Edwards arithmetic below (RFC 8032 §5.1 formulas, written separately from
the firmware's extended-coordinate code).

Sources:
* SHA-512: FIPS 180-2 Appendix C / NIST "SHA-512 examples" digests ("abc", the 896-bit
  message, one million 'a'), checked against hashlib here; lengths 0..300 and a few
  multi-block messages from hashlib.
* Ed25519: RFC 8032 §7.1 TEST 1, TEST 2, TEST 3, TEST 1024, TEST SHA(abc), pasted below
  and re-derived with ``cryptography`` (public key and signature must match byte for
  byte). Then edge cases in the spirit of Wycheproof's ``ed25519_test.json`` — which
  could not be downloaded here: every edge case below is **constructed by this script**,
  none is copied from Wycheproof.

Each Ed25519 record carries the verdict of this project's verifier (``valid``) and the
verdicts of OpenSSL through ``cryptography`` (``openssl``) and of libsodium through
PyNaCl (``libsodium``; null when PyNaCl was not importable at generation time). The
CPython test re-checks ``openssl`` live; ``valid`` is what firmware/cpsdi_fw/ed25519.py
must return on both interpreters.
"""

import hashlib
import json
import pathlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

try:
    import nacl.exceptions
    import nacl.signing
except ImportError:  # optional: PyNaCl is not a project dependency
    nacl = None

HERE = pathlib.Path(__file__).parent

# ---------------------------------------------------------------- SHA-512

NIST_SHA512 = [
    ("empty", b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
     "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    ("abc", b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    ("448-bit", b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
     "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"),
    ("896-bit", b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
     b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
     "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
]
MILLION_A = "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb" \
            "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"


def pattern(length):
    """The message of a "pattern" record: byte i = (i * 7 + length) & 0xFF."""
    return bytes((i * 7 + length) & 0xFF for i in range(length))


def sha512_records():
    out = []
    for name, msg, digest in NIST_SHA512:
        assert hashlib.sha512(msg).hexdigest() == digest, name
        out.append({"kind": "message", "name": name, "source": "FIPS 180-2 App. C / NIST examples",
                    "msg": msg.hex(), "digest": digest})
    assert hashlib.sha512(b"a" * 1000000).hexdigest() == MILLION_A
    out.append({"kind": "repeat", "name": "million-a", "source": "FIPS 180-2 App. C.3",
                "byte": 0x61, "count": 1000000, "digest": MILLION_A, "slow": True})
    for count in (1000, 10000):  # multi-block vectors small enough for MicroPython-wasm
        out.append({"kind": "repeat", "name": "%d-a" % count, "source": "hashlib",
                    "byte": 0x61, "count": count, "digest": hashlib.sha512(b"a" * count).hexdigest(),
                    "slow": False})
    for length in range(301):
        out.append({"kind": "pattern", "len": length, "source": "hashlib",
                    "digest": hashlib.sha512(pattern(length)).hexdigest()})
    return out


# ---------------------------------------------------------------- Ed25519 arithmetic
# RFC 8032 §5.1 parameters; affine twisted Edwards (a = -1) with one inversion per
# operation: slow, obvious, separate from the firmware's code.

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)


def inv(x):
    return pow(x, P - 2, P)


def add(p1, p2):
    (x1, y1), (x2, y2) = p1, p2
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * inv(1 + t) % P, (y1 * y2 + x1 * x2) * inv(1 - t) % P)


def mul(n, pt):
    acc = IDENTITY
    while n:
        if n & 1:
            acc = add(acc, pt)
        pt = add(pt, pt)
        n >>= 1
    return acc


def neg(pt):
    return ((-pt[0]) % P, pt[1])


def on_curve(pt):
    x, y = pt
    return (-x * x + y * y - 1 - D * x * x * y * y) % P == 0


def x_from_y(y, sign):
    """RFC 8032 §5.1.3 steps 2-4 (y already < p), or None."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x2 = u * inv(v) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x == 0 and sign:
        return None
    return P - x if (x & 1) != sign and x else x


def enc(pt):
    x, y = pt
    return (y | (x & 1) << 255).to_bytes(32, "little")


def enc_raw(y, sign):
    """Any 255-bit y (non-canonical allowed) with a sign bit."""
    return (y | sign << 255).to_bytes(32, "little")


B = (x_from_y(4 * inv(5) % P, 0), 4 * inv(5) % P)
assert on_curve(B) and mul(L, B) == IDENTITY
assert enc(B).hex() == "5866666666666666666666666666666666666666666666666666666666666666"


def h_int(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def secret_scalar(seed):
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little")


def order(pt):
    for n in (1, 2, 4, 8):
        if mul(n, pt) == IDENTITY:
            return n
    return None  # not small


def torsion_points():
    """The 8 points of the 8-torsion, as (order, point), from [L]Q for hashed points Q."""
    found = {IDENTITY: 1}
    i = 0
    while len(found) < 8:
        i += 1
        y = h_int(b"cpsdi torsion", bytes([i])) % P
        x = x_from_y(y, 0)
        if x is None:
            continue
        t = mul(L, (x, y))
        found[t] = order(t)
        for j in range(2, 8):
            tj = mul(j, t)
            found[tj] = order(tj)
    return sorted(((o, pt) for pt, o in found.items()), key=lambda item: (item[0], enc(item[1])))


# ---------------------------------------------------------------- verdicts of the libraries


def openssl_verdict(pk, msg, sig):
    try:
        key = Ed25519PublicKey.from_public_bytes(pk)
        key.verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def libsodium_verdict(pk, msg, sig):
    if nacl is None:
        return None
    try:
        nacl.signing.VerifyKey(pk).verify(msg, sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        return False
    return True


# ---------------------------------------------------------------- Ed25519 records

RFC8032 = [
    ("TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("TEST 1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
     "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
     "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
     "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
     "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
     "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
     "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
     "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
     "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
     "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
     "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
     "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
     "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
     "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
     "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
     "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
     "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
     "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
     "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
     "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
     "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
     "c60c905c15fc910840b94c00a0b9d0",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
     "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    ("TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     hashlib.sha512(b"abc").hexdigest(),
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]


def raw_public(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Records:
    def __init__(self):
        self.out = []

    def add(self, group, name, pk, msg, sig, valid, comment, source="constructed"):
        openssl = openssl_verdict(pk, msg, sig)
        libsodium = libsodium_verdict(pk, msg, sig)
        # This project's rule: accept only what both libraries accept (ed25519.py docstring).
        if libsodium is not None:
            assert valid == (openssl and libsodium), (name, valid, openssl, libsodium)
        self.out.append({"group": group, "name": name, "source": source, "pk": pk.hex(), "msg": msg.hex(),
                         "sig": sig.hex(), "valid": valid, "openssl": openssl, "libsodium": libsodium,
                         "comment": comment})


def short(enc_bytes):
    """First and last 2 bytes of an encoding, in hex (names of small-order points)."""
    h = enc_bytes.hex()
    return h[:4] + ".." + h[-4:]


def sign_with(a, prefix_label, pk, msg, r_point=None, r=None):
    """(R, S) for secret scalar a: R = [r]B unless r_point is given (then r must match)."""
    if r is None:
        r = h_int(b"cpsdi r", prefix_label, msg) % L
    if r_point is None:
        r_point = mul(r, B)
    r_bytes = enc(r_point)
    k = h_int(r_bytes, pk, msg) % L
    return r_bytes, (r + k * a) % L, k


def ed25519_records():
    rec = Records()
    # RFC 8032 §7.1.
    for name, sk, pk, msg, sig in RFC8032:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sk))
        assert raw_public(key).hex() == pk, name
        assert key.sign(bytes.fromhex(msg)).hex() == sig, name
        rec.add("rfc8032", name, bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig), True,
                "RFC 8032 §7.1 %s" % name, source="RFC 8032 §7.1")

    # The key of the constructed cases: a fixed seed; its secret scalar a (RFC 8032 §5.1.5).
    seed = hashlib.sha256(b"cpsdi ed25519 edge-case key").digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pk = raw_public(key)
    a = secret_scalar(seed)
    A = mul(a, B)
    assert enc(A) == pk
    msg = b"cpsdi update image digest"
    sig = key.sign(msg)
    r_bytes, s = sig[:32], int.from_bytes(sig[32:], "little")

    def with_s(new_s):
        return r_bytes + new_s.to_bytes(32, "little")

    rec.add("baseline", "valid", pk, msg, sig, True, "signature by cryptography (the base of the flips and S cases)")
    rec.add("baseline", "wrong message", pk, msg + b".", sig, False, "one byte appended to the message")
    rec.add("baseline", "empty message, other signature", pk, b"", sig, False, "signature of another message")
    other = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"cpsdi other key").digest())
    rec.add("baseline", "wrong key", raw_public(other), msg, sig, False, "valid signature, another public key")

    # S out of range (RFC 8032 §5.1.7 step 1): every one of these is valid mod L.
    rec.add("s-range", "S = L", pk, msg, with_s(L), False, "S = L (the order itself)")
    rec.add("s-range", "S + L", pk, msg, with_s(s + L), False, "S + L: same value mod L (malleability)")
    rec.add("s-range", "S + 2L", pk, msg, with_s(s + 2 * L), False, "S + 2L, above 2^253")
    rec.add("s-range", "S + 2^253", pk, msg, with_s(s + 2**253), False, "bit 253 set (S >= 2^253)")
    rec.add("s-range", "S + 2^255", pk, msg, with_s(s + 2**255), False, "bit 255 set (the top bit of the signature)")
    rec.add("s-range", "S = 2^256 - 1", pk, msg, with_s(2**256 - 1), False, "all ones")
    rec.add("s-range", "S = L - 1 (in range)", pk, msg, with_s(L - 1), False,
            "largest S in range: passes the range check, fails the equation")
    rec.add("s-range", "S = 0", pk, msg, with_s(0), False, "S = 0: [0]B - [k]A = -[k]A != R")

    # R that is not the canonical encoding of a curve point (compared by encoding).
    y = 2
    while x_from_y(y, 0) is not None:
        y += 1
    rec.add("r-encoding", "R not on the curve", pk, msg, enc_raw(y, 0) + sig[32:], False,
            "R = (y = %d, no x): not a point" % y)

    def s_for_r(r_enc):
        # S = k a: then [S]B - [k]A = identity; meaningful for R encoding the identity.
        k = h_int(r_enc, pk, msg) % L
        return r_enc + (k * a % L).to_bytes(32, "little")

    rec.add("r-encoding", "R = identity, y = 1 + p", pk, msg, s_for_r(enc_raw(1 + P, 0)), False,
            "non-canonical R (y >= p) for the identity, S = k a: a verifier that decodes R mod p and "
            "compares points accepts it; encodings differ")
    rec.add("r-encoding", "R = identity with sign bit", pk, msg, s_for_r(enc_raw(1, 1)), False,
            "x = 0 with the sign bit set (RFC 8032 §5.1.3 step 4), S = k a")
    rec.add("r-encoding", "R = identity", pk, msg, s_for_r(enc_raw(1, 0)), False,
            "DIVERGENCE: canonical identity R with S = k a satisfies the cofactorless equation "
            "(forgeable only with the secret key); OpenSSL accepts, libsodium refuses a small-order "
            "R; this verifier refuses (rule 7)")
    rec.add("r-encoding", "R with y = 2^255 - 1", pk, msg, enc_raw(2**255 - 1, 0) + sig[32:], False,
            "y = 2^255 - 1 >= p")

    torsion = torsion_points()
    assert [o for o, _ in torsion] == [1, 2, 4, 4, 8, 8, 8, 8]
    for o, t in torsion:
        if o == 1:
            continue
        rec.add("r-small-order", "R of order %d (%s)" % (o, short(enc(t))), pk, msg, s_for_r(enc(t)), False,
                "small-order R, S = k a: the equation gives the identity, not R")

    # Mixed-order R: R = [r]B + T8; cofactored verifiers accept, cofactorless ones do not.
    t8 = torsion[-1][1]
    r = h_int(b"cpsdi mixed R") % L
    r_mixed = add(mul(r, B), t8)
    rb, s_mixed, _ = sign_with(a, b"", pk, msg, r_point=r_mixed, r=r)
    rec.add("cofactor", "R = [r]B + T8", pk, msg, rb + s_mixed.to_bytes(32, "little"), False,
            "R has an order-8 component: [S]B - [k]A = [r]B != R (a cofactored verifier accepts)")

    # Mixed-order public key A' = A + T8: [S]B - [k]A' = R - [k]T8, equal to R iff 8 | k.
    a_mixed = add(A, t8)
    pk_mixed = enc(a_mixed)
    found = {}
    i = 0
    while len(found) < 2:
        i += 1
        rb, s_m, k = sign_with(a, bytes([i]), pk_mixed, msg)
        kind = k % 8 == 0
        if kind not in found:
            found[kind] = rb + s_m.to_bytes(32, "little")
    rec.add("cofactor", "mixed-order key, 8 | k", pk_mixed, msg, found[True], True,
            "A = [a]B + T8, k = 0 mod 8: the cofactorless equation holds; OpenSSL and libsodium accept")
    rec.add("cofactor", "mixed-order key, 8 does not divide k", pk_mixed, msg, found[False], False,
            "A = [a]B + T8, k != 0 mod 8: cofactorless refuses (a cofactored verifier accepts)")

    # Small-order public keys: signatures valid under the cofactorless equation.
    for o, t in torsion:
        pk_t = enc(t)
        i = 0
        while True:
            i += 1
            s_t = h_int(b"cpsdi small key", pk_t, bytes([i])) % L
            r_enc = enc(mul(s_t, B))
            k = h_int(r_enc, pk_t, msg) % L
            if k % o == 0:  # [k]T = identity: [S]B - [k]T = [S]B = R
                break
        rec.add("key-small-order", "A of order %d (%s)" % (o, short(pk_t)), pk_t, msg,
                r_enc + s_t.to_bytes(32, "little"), False,
                "DIVERGENCE: small-order key, signature satisfies the cofactorless equation "
                "(any message can be 'signed' for it); OpenSSL accepts, libsodium refuses; "
                "this verifier refuses (rule 4)")

    # Non-canonical and undecodable public keys.
    s_id = h_int(b"cpsdi non-canonical key") % L
    r_id = enc(mul(s_id, B))
    for label, pk_bad in (("identity as y = 1 + p", enc_raw(1 + P, 0)),
                          ("identity with sign bit", enc_raw(1, 1)),
                          ("identity as y = 1 + p, sign bit", enc_raw(1 + P, 1))):
        # For the identity, [k]A = identity whatever k: R = [S]B is "valid".
        rec.add("key-encoding", label, pk_bad, msg, r_id + s_id.to_bytes(32, "little"), False,
                "non-canonical encoding of the identity (RFC 8032 §5.1.3), with R = [S]B")
    x4 = torsion[2][1]
    for label, pk_bad in (("order 4 as y = p", enc_raw(P, x4[0] & 1)),
                          ("order 4 as y = p, other sign", enc_raw(P, 1 - (x4[0] & 1))),
                          ("order 2 with sign bit", enc_raw(P - 1, 1))):
        i = 0
        while True:
            i += 1
            s_t = h_int(b"cpsdi nc key", pk_bad, bytes([i])) % L
            r_enc = enc(mul(s_t, B))
            if (h_int(r_enc, pk_bad, msg) % L) % 4 == 0:
                break
        rec.add("key-encoding", label, pk_bad, msg, r_enc + s_t.to_bytes(32, "little"), False,
                "non-canonical or sign-bit encoding of a small-order point, R = [S]B, 4 | k")
    # y in 2..18 on the curve: y + p < 2^255 is a non-canonical encoding of a real point.
    y = 2
    while x_from_y(y, 0) is None:
        y += 1
    rec.add("key-encoding", "y = %d + p" % y, enc_raw(y + P, 0), msg, sig, False,
            "non-canonical y of a point of unknown discrete log (no valid signature constructible)")
    rec.add("key-encoding", "y = 2^255 - 1", enc_raw(2**255 - 1, 0), msg, sig, False, "y >= p")
    y = 2
    while x_from_y(y, 0) is not None:
        y += 1
    rec.add("key-encoding", "key not on the curve (y = %d)" % y, enc_raw(y, 0), msg, sig, False,
            "x^2 = (y^2 - 1)/(d y^2 + 1) is not a square")

    # Lengths.
    rec.add("length", "key 31 bytes", pk[:31], msg, sig, False, "truncated public key")
    rec.add("length", "key 33 bytes", pk + b"\x00", msg, sig, False, "extended public key")
    rec.add("length", "key empty", b"", msg, sig, False, "empty public key")
    rec.add("length", "signature 63 bytes", pk, msg, sig[:63], False, "truncated signature")
    rec.add("length", "signature 65 bytes", pk, msg, sig + b"\x00", False, "extended signature")
    rec.add("length", "signature 32 bytes", pk, msg, sig[:32], False, "R only")
    rec.add("length", "signature empty", pk, msg, b"", False, "empty signature")
    return rec.out


def write_jsonl(path, header, records):
    with open(path, "w") as f:
        for line in header:
            f.write("# %s\n" % line)
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")


def main():
    write_jsonl(HERE / "sha512.jsonl", [
        "SHA-512 (FIPS 180-4) vectors, written by make_crypto_vectors.py (do not edit by hand).",
        "kind message: msg hex; repeat: `count` copies of `byte` (slow: CPython only);",
        "pattern: `len` bytes, byte i = (i * 7 + len) & 0xFF. NIST digests checked against hashlib.",
    ], sha512_records())
    write_jsonl(HERE / "ed25519.jsonl", [
        "Ed25519 verify vectors, written by make_crypto_vectors.py (do not edit by hand).",
        "rfc8032: RFC 8032 §7.1 (TEST 1, 2, 3, 1024, SHA(abc)), re-derived with cryptography.",
        "Every other group is CONSTRUCTED by make_crypto_vectors.py in the spirit of Wycheproof's",
        "ed25519_test.json (not downloadable here; nothing copied from it).",
        "valid: this project's verdict (cofactorless, strict, small-order A/R refused);",
        "openssl / libsodium: verdicts of cryptography 50 (OpenSSL) / PyNaCl 1.6 (libsodium) at generation.",
    ], ed25519_records())


if __name__ == "__main__":
    main()
