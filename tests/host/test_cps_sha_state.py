"""Pure SHA-1 / SHA-256 continued from an intermediate state (on-card partial hashing of the
CPS3, cps-cards.md §7.2) against hashlib, over many lengths incl. multiples of 64."""

from __future__ import annotations

import hashlib

import pytest

from cpsdi.cps.sha_state import SHA1, SHA256, HashAlgorithm, compress, finish, intermediate

LENGTHS = list(range(0, 140)) + [191, 192, 193, 255, 256, 257, 640, 1000, 4096]


@pytest.mark.parametrize("alg", [SHA1, SHA256], ids=["sha1", "sha256"])
@pytest.mark.parametrize("keep_full_last_block", [False, True])
def test_finish_matches_hashlib(alg: HashAlgorithm, keep_full_last_block: bool) -> None:
    for n in LENGTHS:
        message = bytes((i * 31 + n) & 0xFF for i in range(n))
        state, bits, last = intermediate(alg, message, keep_full_last_block)
        assert bits % 512 == 0 and len(last) <= 64
        if keep_full_last_block and n and n % 64 == 0:
            assert len(last) == 64
        assert finish(alg, state, bits, last) == hashlib.new(alg.name, message).digest(), n


def test_state_is_big_endian_words_of_h() -> None:
    initial = bytes.fromhex("67452301 EFCDAB89 98BADCFE 10325476 C3D2E1F0")
    assert intermediate(SHA1, b"abc") == (initial, 0, b"abc")
    state, bits, last = intermediate(SHA256, bytes(64))
    assert (bits, last) == (512, b"") and len(state) == 32
    assert compress(SHA256, bytes.fromhex("6A09E667BB67AE853C6EF372A54FF53A510E527F9B05688C1F83D9AB5BE0CD19"),
                    bytes(64)) == state


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError):
        finish(SHA1, bytes(20), 8, b"")
    with pytest.raises(ValueError):
        finish(SHA1, bytes(20), 0, bytes(65))
    with pytest.raises(ValueError):
        finish(SHA256, bytes(20), 0, b"")
    with pytest.raises(ValueError):
        compress(SHA1, bytes(20), bytes(10))
