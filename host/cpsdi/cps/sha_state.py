"""SHA-1 and SHA-256 (FIPS 180-4) that can continue from an intermediate state.

The CPS3 computes the last step of a hash on the card: the host hashes every full 64-byte
block itself and sends the intermediate state, an 8-byte big-endian bit count and the last
block (cps-cards.md §7.2, FACT O1/A3). ``hashlib`` cannot resume from a raw state, hence
these pure compression functions. The state travels as the big-endian words of H
(INFERENCE: the natural FIPS 180-4 byte order; 20 bytes for SHA-1, 32 for SHA-256).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "BLOCK_SIZE",
    "HashAlgorithm",
    "SHA1",
    "SHA256",
    "compress",
    "intermediate",
    "finish",
]

BLOCK_SIZE = 64
_MASK = 0xFFFFFFFF


@dataclass(frozen=True)
class HashAlgorithm:
    """A Merkle-Damgard hash with 64-byte blocks: name, initial state, digest size."""

    name: str
    initial_state: tuple[int, ...]

    @property
    def digest_size(self) -> int:
        """Digest (= state) size in bytes."""
        return 4 * len(self.initial_state)


SHA1 = HashAlgorithm("sha1", (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0))
SHA256 = HashAlgorithm(
    "sha256",
    (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19),
)

_K256 = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _MASK


def _sha1_block(h: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    w = list(struct.unpack(">16I", block))
    for t in range(16, 80):
        w.append(_rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1))
    a, b, c, d, e = h
    for t in range(80):
        if t < 20:
            f, k = (b & c) | (~b & d), 0x5A827999
        elif t < 40:
            f, k = b ^ c ^ d, 0x6ED9EBA1
        elif t < 60:
            f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
        else:
            f, k = b ^ c ^ d, 0xCA62C1D6
        a, b, c, d, e = (_rotl(a, 5) + f + e + k + w[t]) & _MASK, a, _rotl(b, 30), c, d
    return tuple((x + y) & _MASK for x, y in zip(h, (a, b, c, d, e)))


def _sha256_block(h: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):
        s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _MASK)
    a, b, c, d, e, f, g, hh = h
    for t in range(64):
        t1 = (hh + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K256[t] + w[t]) & _MASK
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & _MASK
        a, b, c, d, e, f, g, hh = (t1 + t2) & _MASK, a, b, c, (d + t1) & _MASK, e, f, g
    return tuple((x + y) & _MASK for x, y in zip(h, (a, b, c, d, e, f, g, hh)))


def _words(alg: HashAlgorithm, state: bytes) -> tuple[int, ...]:
    if len(state) != alg.digest_size:
        raise ValueError("%s state must be %d bytes" % (alg.name, alg.digest_size))
    return struct.unpack(">%dI" % len(alg.initial_state), state)


def _pack(words: tuple[int, ...]) -> bytes:
    return struct.pack(">%dI" % len(words), *words)


def compress(alg: HashAlgorithm, state: bytes, blocks: bytes) -> bytes:
    """Run the compression function over whole 64-byte ``blocks`` from ``state`` (raw bytes)."""
    if len(blocks) % BLOCK_SIZE:
        raise ValueError("blocks must be a multiple of 64 bytes")
    h = _words(alg, state)
    step = _sha1_block if alg is SHA1 else _sha256_block
    for i in range(0, len(blocks), BLOCK_SIZE):
        h = step(h, blocks[i:i + BLOCK_SIZE])
    return _pack(h)


def intermediate(alg: HashAlgorithm, message: bytes, keep_full_last_block: bool = False) -> tuple[bytes, int, bytes]:
    """What a host sends for on-card hashing: ``(state, bit_count, last_block)``.

    Every full block is hashed except the remainder (0..63 bytes); with
    ``keep_full_last_block`` a message of a non-zero multiple of 64 bytes keeps its last
    64 bytes as the last block (the split the public traces leave open, cps-cards.md §7.2).
    """
    n_full = len(message) // BLOCK_SIZE * BLOCK_SIZE
    if keep_full_last_block and message and n_full == len(message):
        n_full -= BLOCK_SIZE
    state = compress(alg, _pack(alg.initial_state), message[:n_full])
    return state, 8 * n_full, message[n_full:]


def finish(alg: HashAlgorithm, state: bytes, bit_count: int, last_block: bytes) -> bytes:
    """The digest from an intermediate ``state`` after ``bit_count`` bits, then ``last_block``.

    ``bit_count`` must be a multiple of 512 (whole blocks hashed); ``last_block`` may be
    0..64 bytes.
    """
    if bit_count < 0 or bit_count % (8 * BLOCK_SIZE):
        raise ValueError("the bit count must cover whole 64-byte blocks")
    if len(last_block) > BLOCK_SIZE:
        raise ValueError("the last block has at most 64 bytes")
    total_bits = bit_count + 8 * len(last_block)
    pad_len = (55 - len(last_block)) % BLOCK_SIZE
    tail = bytes(last_block) + b"\x80" + bytes(pad_len) + (total_bits & (2**64 - 1)).to_bytes(8, "big")
    return compress(alg, state, tail)
