"""ATR parser against the pcsc-tools ATR list (iso7816-3.md §6.1 row A27) and hypothesis fuzzing.

CPython only. The corpus is /usr/share/pcsc/smartcard_list.txt from the Debian package
pcsc-tools; only literal ATR lines are used (lines made of hex bytes only; lines with a
regular-expression wildcard such as '..', '.' or '[' are skipped). When pyscard is
importable its ``smartcard.ATR.ATR`` is used as a second opinion on the ATRs the
firmware parser accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cpsdi_fw.iso7816_3.atr import (
    DONE,
    ERROR,
    MAX_ATR_LEN,
    NEED_MORE,
    NO_ERROR,
    ATRDecision,
    ATRParser,
    inverse_byte,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SMARTCARD_LIST = Path("/usr/share/pcsc/smartcard_list.txt")
_LITERAL_ATR = re.compile(r"^[0-9A-Fa-f]{2}( [0-9A-Fa-f]{2})*$")
# Every ATR ends (DONE or ERROR) by its 34th byte: 33 characters at most, plus the one refused.
_BOUND = MAX_ATR_LEN + 1

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _corpus() -> list[bytes]:
    if not SMARTCARD_LIST.is_file():
        return []
    out: list[bytes] = []
    seen: set[bytes] = set()
    for line in SMARTCARD_LIST.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line or line[0] in "#\t ":
            continue
        text = line.strip()
        if not _LITERAL_ATR.match(text):
            continue  # regular-expression entry ('..', '.', '[', ...)
        atr = bytes.fromhex(text)
        if atr not in seen:
            seen.add(atr)
            out.append(atr)
    return out


CORPUS = _corpus()
needs_corpus = pytest.mark.skipif(
    not CORPUS,
    reason="%s absent (install the Debian package pcsc-tools) or without literal ATRs" % SMARTCARD_LIST,
)


class Outcome:
    """The observable result of one parse."""

    def __init__(self, parser: ATRParser, status: int, end: int) -> None:
        self.status = status
        self.end = end  # index of the byte that ended the ATR, -1 if none did
        self.error = parser.error
        self.atr = bytes(parser.atr())
        self.hist = bytes(parser.historical())
        self.extra = parser.extra
        self.inverse = parser.inverse
        self.tck = parser.tck_present

    def key(self) -> tuple:
        return (self.status, self.end, self.error, self.atr, self.hist, self.extra, self.inverse, self.tck)


def _run(parser: ATRParser, data: bytes) -> Outcome:
    status = NEED_MORE
    end = -1
    for i, b in enumerate(data):
        status = parser.feed_byte(b)
        assert status in (NEED_MORE, DONE, ERROR)
        assert parser.length <= MAX_ATR_LEN
        if status != NEED_MORE and end < 0:
            end = i
    return Outcome(parser, status, end)


def _parse(data: bytes, rx_inverse: bool = False) -> Outcome:
    return _run(ATRParser(rx_inverse=rx_inverse), data)


def _check_bounded(data: bytes, rx_inverse: bool = False) -> Outcome:
    """Parse ``data`` padded to 34 bytes: the ATR must have ended by then."""
    padded = data + bytes(max(0, _BOUND - len(data)))
    out = _parse(padded, rx_inverse)
    assert out.status in (DONE, ERROR), data.hex(" ")
    assert 0 <= out.end < _BOUND, data.hex(" ")
    if out.status == DONE:
        assert len(out.atr) == out.end + 1
        assert out.error == NO_ERROR
    else:
        assert out.error != NO_ERROR
    return out


# --- A27: the pcsc-tools list ---------------------------------------------------------


@needs_corpus
def test_A27_corpus_is_large() -> None:
    assert len(CORPUS) > 1000


@needs_corpus
def test_A27_corpus_never_raises_and_terminates() -> None:
    done = 0
    for atr in CORPUS:
        rx_inverse = atr[0] == 0x3F
        out = _parse(atr, rx_inverse)
        if out.status == DONE:
            done += 1
            assert out.atr == atr[: len(out.atr)]
            ATRDecision().decide(ATRParser(), 3571200, 250000)  # never raises, even on a fresh parser
            parser = ATRParser(rx_inverse=rx_inverse)
            _run(parser, atr)
            decision = ATRDecision()
            decision.decide(parser, 3571200, 250000)
            assert decision.protocol in range(16)
            assert 11 <= decision.guard_time_etu <= 266
        _check_bounded(atr, rx_inverse)
    # The list is mostly well-formed: the parser must accept the vast majority.
    assert done >= 0.95 * len(CORPUS), (done, len(CORPUS))


@needs_corpus
def test_A27_corpus_same_result_through_a_direct_mode_uart() -> None:
    for atr in CORPUS:
        if atr[0] != 0x3F:
            continue
        logical = _parse(atr, rx_inverse=True)
        line = _parse(bytes(inverse_byte(b) for b in atr), rx_inverse=False)
        assert line.key() == logical.key(), atr.hex(" ")


@needs_corpus
def test_A27_known_malformed_entries() -> None:
    """The scaffold lists of iso7816-3.md §2.3, when the entries are in this copy of the list."""
    cases = {
        bytes.fromhex("3BBA94004014"): (NEED_MORE, NO_ERROR, 0),  # truncated
        bytes.fromhex("3B02145011"): (DONE, NO_ERROR, 1),  # one extra byte
    }
    found = 0
    for atr in CORPUS:
        if atr in cases:
            found += 1
            out = _parse(atr)
            assert (out.status, out.error, out.extra) == cases[atr], atr.hex(" ")
    if not found:
        pytest.skip("none of the known malformed ATRs is in this copy of smartcard_list.txt")


@needs_corpus
def test_A27_cross_check_with_pyscard() -> None:
    atr_module = pytest.importorskip(
        "smartcard.ATR", reason="pyscard (smartcard.ATR) not installed: cross-check not run"
    )
    PyscardATR = atr_module.ATR
    compared = 0
    for atr in CORPUS:
        rx_inverse = atr[0] == 0x3F
        parser = ATRParser(rx_inverse=rx_inverse)
        out = _run(parser, atr)
        if out.status != DONE or out.extra:
            continue
        try:
            theirs = PyscardATR(list(atr))
        except Exception as exc:  # pyscard rejects it although we accept it
            pytest.fail("pyscard rejects %s (%s) which the parser accepts" % (atr.hex(" "), exc))
        where = atr.hex(" ")
        assert bytes(theirs.getHistoricalBytes()) == out.hist, where
        # pyscard decides TCK presence from the length; with no extra byte both must agree
        assert (theirs.getChecksum() is not None) == out.tck, where
        if out.tck:
            assert getattr(theirs, "checksumOK", True), where
        assert (theirs.getTA1(), theirs.getTB1(), theirs.getTC1(), theirs.getTD1()) == tuple(
            None if v < 0 else v for v in (parser.ta(1), parser.tb(1), parser.tc(1), parser.td(1))
        ), where
        offered = parser.offered_protocols()
        assert theirs.isT0Supported() == bool(offered & 1), where
        assert theirs.isT1Supported() == bool(offered & 2), where
        assert theirs.isT15Supported() == bool(parser.protocols & 0x8000), where
        compared += 1
    assert compared > 0


# --- fuzzing --------------------------------------------------------------------------


_ATR_LIKE = st.one_of(
    st.binary(max_size=64),
    st.tuples(st.sampled_from([0x3B, 0x3F, 0x03, 0x23]), st.binary(max_size=48)).map(lambda t: bytes([t[0]]) + t[1]),
)


@FUZZ
@given(data=_ATR_LIKE, rx_inverse=st.booleans())
def test_fuzz_never_raises_bounded_and_repeatable(data: bytes, rx_inverse: bool) -> None:
    first = _check_bounded(data, rx_inverse)
    # Same bytes, fresh parser and reused parser: same result
    again = _check_bounded(data, rx_inverse)
    assert again.key() == first.key()
    parser = ATRParser(rx_inverse=rx_inverse)
    _run(parser, b"\x3b\x00\x99\x42")
    parser.reset()
    padded = data + bytes(max(0, _BOUND - len(data)))
    assert _run(parser, padded).key() == first.key()
    # Unpadded: the parse of a prefix agrees with the padded one up to its end
    plain = _parse(data, rx_inverse)
    if plain.status != NEED_MORE:
        assert (plain.status, plain.end, plain.error, plain.atr) == (first.status, first.end, first.error, first.atr)
    # Decisions never raise
    decision = ATRDecision()
    decision.decide(parser, 3571200, 250000)
    decision.decide(parser, 20000000, 10000000, True)


@FUZZ
@given(data=_ATR_LIKE)
def test_fuzz_done_atr_reparses_identically(data: bytes) -> None:
    out = _parse(data)
    if out.status != DONE:
        return
    again = _parse(out.atr, rx_inverse=out.inverse)  # logical bytes: TS 3B or 3F
    assert (again.status, again.end, again.atr, again.extra) == (DONE, len(out.atr) - 1, out.atr, 0)
    # and through a UART in the other convention
    other = _parse(bytes(inverse_byte(b) for b in data), rx_inverse=True)
    assert other.key() == out.key()


def test_inverse_convention_atr_as_the_reader_sends_it() -> None:
    from cpsdi.reader import ATR

    atr = ATR.parse(bytes.fromhex("3F 65 25 00 2C 09 69 90 00"))  # Vitale 1 (cps-cards.md §3.1), decoded
    assert atr.inverse_convention and atr.historical == bytes.fromhex("2C 09 69 90 00")
    assert not ATR.parse(bytes.fromhex("3B 13 18 43 50 53")).inverse_convention
