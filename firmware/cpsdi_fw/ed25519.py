"""Ed25519 signature verification (RFC 8032 §5.1.7) in pure Python, for update images.

One public function, `verify(public_key, message, signature) -> bool`. It runs on
MicroPython (big ints, 3-argument ``pow`` in C) and CPython alike, brings its own
SHA-512 (`cpsdi_fw.sha512`), and decides as follows (update-channel.md §4.3):

1. Lengths: a public key of 32 bytes and a signature of 64 bytes, else False.
2. S (signature bytes 32..63, little-endian) must satisfy S < L (RFC 8032 §5.1.7 step 1,
   "check that S is in range"), else False: no S >= L, hence no S + L malleability.
3. The public key A is decoded **strictly** (RFC 8032 §5.1.3): y >= p, x² not a square,
   and x = 0 with the sign bit set are rejected (False).
4. A of small order ([8]A is the identity: the 8 points of the 8-torsion, e.g. y = 1,
   y = p - 1) is rejected (False).
5. k = SHA-512(R || A || M) as a little-endian integer, reduced mod L (§5.1.7 step 2).
6. **Cofactorless** check (§5.1.7 step 3 *without* the factor 8): compute
   P = [S]B + [k](-A) and accept iff ``encode(P) == R`` byte for byte (§5.1.2 encoding).
   R is never decoded: comparing encodings rejects by construction every R that is not
   the canonical encoding of a curve point (y >= p, not on the curve, x = 0 with the
   sign bit), since `encode` only produces canonical encodings.
7. P (= R) of small order is rejected (False).

Where libraries agree this matches them; where they disagree (rule 3 for non-canonical A,
rules 4 and 7) it takes the stricter side: it accepts a signature only if both OpenSSL (pyca
``cryptography``) and libsodium would (details and vectors: tests/vectors/ed25519.jsonl).
Honest signatures are never affected: a key made by RFC 8032 §5.1.5 has prime order L,
R = [r]B too, and both encodings are canonical.

Errors: any bytes value returns a bool and never raises. Arguments must be bytes-like
(bytes, bytearray, memoryview of bytes); other types may raise TypeError.

Arithmetic: points in extended homogeneous coordinates (X, Y, Z, T), x = X/Z, y = Y/Z,
xy = T/Z, with the a = -1 formulas of RFC 8032 §5.1.4; [S]B + [k](-A) by a joint
fixed-window (4-bit) double-and-add (Straus/Shamir): 252 doublings and at most 126
additions, with a 16-entry table of multiples of B (built once, on first use) and one
of -A (per call). Variable time: verification handles public data only.
Field values are reduced only after multiplications (sums and differences stay within a
few p of the range, negative values included; `%` returns a non-negative remainder).
Memory: the B table (kept) and the -A table (per call) hold 32 points; the rest is
short-lived temporaries. Measured on CPython with tracemalloc as a proxy (MicroPython's
mpz ints are of similar size): B table 5.8 KB retained, 10 KB peak per call above that.

Speed (x86-64 host, 32-byte message, median): ~2 ms on CPython 3.11, ~10 ms on
MicroPython 1.27 WebAssembly (first call ~35-60 ms: it builds the B table). RP2040 at
125 MHz: ~0.8-1.4 s, an ESTIMATE scaled from update-channel.md §3, to be measured.
"""

from cpsdi_fw import sha512 as _sha512
from cpsdi_proto.compat import const

# RFC 8032 §5.1: the field, the curve constant d = -121665/121666, the group order L.
_P = (1 << 255) - 19
_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
_D2 = (2 * _D) % _P
_L = (1 << 252) + 27742317777372353535851937790883648493
# sqrt(-1) mod p = 2^((p-1)/4) (RFC 8032 §5.1.3 step 3).
_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
# The base point B (RFC 8032 §5.1): y = 4/5, x even ("positive").
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_Y_MASK = (1 << 255) - 1

_WINDOW_BITS = const(4)
_WINDOW_MASK = const(15)
_WINDOWS = const(64)  # 256 bits / 4: covers S < L < 2**253 and k < L

_KEY_SIZE = const(32)  # bytes
_SIGNATURE_SIZE = const(64)  # bytes

_b_table = None  # [j]B for j = 0..15 in "affine cached" form, built on first use


def _decode_point(data):
    """RFC 8032 §5.1.3 strict decoding of 32 bytes to (X, Y, Z, T), or None.

    Rejects y >= p (step 1), x² = (y² - 1)/(d y² + 1) not a square (step 3) and x = 0
    with the sign bit set (step 4).
    """
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= _Y_MASK
    if y >= _P:
        return None
    p = _P
    yy = y * y % p
    u = (yy - 1) % p
    v = (_D * yy + 1) % p
    # Step 2: candidate root x = u v^3 (u v^7)^((p-5)/8).
    v3 = v * v % p * v % p
    x = u * v3 % p * pow(u * v3 % p * v3 % p * v % p, (p - 5) >> 3, p) % p
    # Step 3: v x^2 = u -> x; v x^2 = -u -> x sqrt(-1); otherwise no square root.
    vxx = v * x % p * x % p
    if vxx != u:
        if vxx != (p - u) % p:
            return None
        x = x * _SQRT_M1 % p
    # Step 4: the sign bit selects x or p - x; x = 0 has no negative.
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = p - x
    return (x, y, 1, x * y % p)


def _encode_point(pt) -> bytes:
    """RFC 8032 §5.1.2: y with the sign (low bit) of x in bit 255, little-endian, 32 bytes."""
    p = _P
    x, y, z, _ = pt
    z_inv = pow(z, p - 2, p)
    x = x * z_inv % p
    y = y * z_inv % p
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _double(pt):
    """RFC 8032 §5.1.4 point doubling (a = -1, 4M + 4S); T of the input is not used."""
    p = _P
    x1, y1, z1, _ = pt
    a = x1 * x1 % p
    b = y1 * y1 % p
    c = 2 * z1 * z1 % p
    h = a + b
    s = x1 + y1
    e = h - s * s % p
    g = a - b
    f = c + g
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _cached(pt):
    """A point prepared as the second operand of `_add_cached`: (Y-X, Y+X, 2d T, 2 Z)."""
    x, y, z, t = pt
    return ((y - x) % _P, (y + x) % _P, _D2 * t % _P, 2 * z % _P)


def _add_cached(pt, q):
    """RFC 8032 §5.1.4 addition (a = -1) of a point and a `_cached` point (8M)."""
    p = _P
    x1, y1, z1, t1 = pt
    ymx2, ypx2, t2d2, z2x2 = q
    a = (y1 - x1) * ymx2 % p
    b = (y1 + x1) * ypx2 % p
    c = t1 * t2d2 % p
    d = z1 * z2x2 % p
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _add_affine(pt, q):
    """The same addition with a second operand of Z = 1: (y-x, y+x, 2d x y) (7M)."""
    p = _P
    x1, y1, z1, t1 = pt
    ymx2, ypx2, t2d2 = q
    a = (y1 - x1) * ymx2 % p
    b = (y1 + x1) * ypx2 % p
    c = t1 * t2d2 % p
    d = 2 * z1
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _multiples(pt):
    """[j]pt for j = 0..15 as a list of `_cached` points (index 0: the identity)."""
    out = [_cached((0, 1, 1, 0)), _cached(pt)]
    acc = pt
    for _ in range(14):
        acc = _add_cached(acc, out[1])
        out.append(_cached(acc))
    return out


def _base_table():
    """[j]B for j = 0..15 with Z = 1 (one inversion each, once per boot)."""
    global _b_table
    if _b_table is None:
        p = _P
        table = []
        for ymx, ypx, t2d, z2 in _multiples((_BX, _BY, 1, _BX * _BY % _P)):
            # (Y-X, Y+X, 2dT) / Z with Z = z2 / 2.
            z_inv = 2 * pow(z2, p - 2, p) % p
            table.append((ymx * z_inv % p, ypx * z_inv % p, t2d * z_inv % p))
        _b_table = table
    return _b_table


def _is_small_order(pt) -> bool:
    """True if [8]pt is the identity (X = 0, Y = Z): pt lies in the 8-torsion."""
    pt = _double(_double(_double(pt)))
    x, y, z, _ = pt
    return x % _P == 0 and (y - z) % _P == 0


def _double_scalar_mult(s: int, k: int, neg_a):
    """[s]B + [k]neg_a for 0 <= s, k < 2**256, by joint 4-bit fixed windows (Straus)."""
    b_table = _base_table()
    a_table = _multiples(neg_a)
    acc = (0, 1, 1, 0)  # identity
    for i in range(_WINDOWS - 1, -1, -1):
        if i != _WINDOWS - 1:
            acc = _double(_double(_double(_double(acc))))
        shift = i * _WINDOW_BITS
        j = (s >> shift) & _WINDOW_MASK
        if j:
            acc = _add_affine(acc, b_table[j])
        j = (k >> shift) & _WINDOW_MASK
        if j:
            acc = _add_cached(acc, a_table[j])
    return acc


def verify(public_key, message, signature) -> bool:
    """True iff ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``.

    RFC 8032 §5.1.7, cofactorless, strict; the exact rules are in the module docstring.
    ``public_key``: 32 bytes, ``message``: any length, ``signature``: 64 bytes (R || S),
    all bytes-like. Never raises on bytes input; wrong lengths return False.
    """
    if len(public_key) != _KEY_SIZE or len(signature) != _SIGNATURE_SIZE:
        return False
    sig = bytes(signature)
    pk = bytes(public_key)
    r_bytes = sig[:32]
    # Step 1 (§5.1.7): S in range 0 <= S < L.
    s = int.from_bytes(sig[32:], "little")
    if s >= _L:
        return False
    # Step 1: decode A strictly (§5.1.3); refuse small-order keys (module doc, step 4).
    a = _decode_point(pk)
    if a is None or _is_small_order(a):
        return False
    # Step 2: k = SHA-512(dom2(F, C) || R || A || PH(M)) mod L; dom2 is empty for Ed25519.
    h = _sha512.SHA512(r_bytes)
    h.update(pk)
    h.update(message)
    k = int.from_bytes(h.digest(), "little") % _L
    # Step 3 without the cofactor: [S]B = R + [k]A  <=>  encode([S]B - [k]A) == R.
    x, y, z, t = a
    check = _double_scalar_mult(s, k, ((_P - x) % _P, y, z, (_P - t) % _P))
    if _encode_point(check) != r_bytes:
        return False
    return not _is_small_order(check)
