"""Hypothesis fuzzing of both decoders: the shared stream decoder and the host's message parser."""

from __future__ import annotations

import pytest
from construct import Container
from cpsdi_proto import decoder as dec
from cpsdi_proto.gempc import COMPAT_MAX_DATA, MESSAGE_OFFSET, lrc
from cpsdi_proto.native import check_native
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpsdi.ccid import MESSAGE_NAMES, build_message, parse_message
from cpsdi.exceptions import FramingError
from cpsdi.framing import Frame, FrameReader, encode_frame

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _events(d: dec.FrameDecoder, data: bytes, cuts: list[int]) -> list[tuple]:
    out: list[tuple] = []
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in zip(bounds, bounds[1:]):
        i = start
        while True:
            i = d.feed(data, i, end)
            if d.kind == dec.EV_NONE:
                break
            assert start <= i <= end
            out.append((d.kind, d.value, bytes(d.message()) if d.kind in (dec.EV_FRAME, dec.EV_BAD_CHECK) else b""))
    return out


@FUZZ
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=20),
    from_reader=st.booleans(),
    native_max=st.sampled_from([0, 10, 300, 1034, 65546]),
)
def test_stream_decoder_never_raises_and_ignores_chunking(
    data: bytes, cuts: list[int], from_reader: bool, native_max: int
) -> None:
    d1 = dec.FrameDecoder(from_reader, native_max)
    size = len(d1.buf)
    whole = _events(d1, data, [])
    d2 = dec.FrameDecoder(from_reader, native_max)
    assert _events(d2, data, cuts) == whole
    assert len(d1.buf) == size  # bounded: the buffer never grows
    for kind, _value, message in whole:
        if kind == dec.EV_FRAME:
            assert len(message) >= 10
            assert int.from_bytes(message[1:5], "little") == len(message) - 10
    assert d1.frames == sum(1 for k, _, _ in whole if k == dec.EV_FRAME)


_MESSAGES = st.builds(
    lambda t, slot, seq, data: build_message(t, slot, seq, data),
    st.sampled_from(sorted(MESSAGE_NAMES)),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=600),
)


@FUZZ
@given(
    messages=st.lists(_MESSAGES, min_size=1, max_size=6),
    noise=st.lists(st.binary(max_size=20), min_size=7, max_size=7),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=30),
)
def test_frames_survive_noise_between_them(messages: list[bytes], noise: list[bytes], cuts: list[int]) -> None:
    # Noise the host decoder can never take for an event: no SYNC, no 0x50, no 0x80..0xFF.
    clean = [bytes(b for b in n if b not in (0x03, 0x50) and b < 0x80) for n in noise]
    stream = clean[0]
    for i, m in enumerate(messages):
        stream += encode_frame(m, native=len(m) - 10 > COMPAT_MAX_DATA) + clean[i + 1]
    d = dec.FrameDecoder(from_reader=True, native_max_message=1034)
    got = [m for k, _, m in _events(d, stream, cuts) if k == dec.EV_FRAME]
    assert got == messages  # data <= 600 bytes: every message fits the 1034-byte native limit
    assert d.garbage == sum(len(c) for c in clean[: len(messages) + 1])
    assert d.bad_checks == 0 and d.oversize == 0


@FUZZ
@given(message=_MESSAGES, flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7)), min_size=1, max_size=3))
def test_corruption_never_yields_a_different_frame(message: bytes, flips: list[tuple[int, int]]) -> None:
    native = len(message) - 10 > COMPAT_MAX_DATA or len(message) % 2 == 0
    frame = bytearray(encode_frame(message, native=native))
    for pos, bit in flips:
        frame[2 + pos % (len(frame) - 2)] ^= 1 << bit
    frames = [e for e in FrameReader().feed(bytes(frame)) if isinstance(e, Frame)]
    if native:
        # CRC-32 catches every pattern of up to 3 bit flips: nothing, or the original frame
        assert frames in ([], [Frame(message, True)])
    for f in frames:
        buf = bytearray(encode_frame(f.message, f.native))
        assert check_native(buf, len(buf)) if f.native else lrc(buf, 0, len(buf)) == 0


@FUZZ
@given(data=st.binary(max_size=400))
def test_parse_message_only_raises_framing_error(data: bytes) -> None:
    try:
        parsed = parse_message(data)
    except FramingError as exc:
        assert exc.frame == data
    else:
        assert isinstance(parsed, Container)
        assert parsed.dwLength == len(data) - 10


def test_frame_offset_constant() -> None:
    assert MESSAGE_OFFSET == 2


@pytest.mark.parametrize("native_max", [0, 1034])
def test_decoder_handles_every_single_byte_value(native_max: int) -> None:
    for from_reader in (False, True):
        d = dec.FrameDecoder(from_reader, native_max)
        _events(d, bytes(range(256)) * 3, [1, 5, 99])
        assert d.frames == 0
