"""BER-TLV reading (ISO/IEC 7816-4 §5.2, X.690 §8.1) for card data: FCPs, SDO answers, PKCS#15.

Lax on purpose where real CPx cards are not strict (cps-cards.md §5.5: the ``03 01 xx`` BIT
STRINGs of the AODF/CDF): values are returned raw, never interpreted here. Strict on framing:
a length running past the end, or an indefinite length, raises :class:`TLVError`.
"""

from __future__ import annotations

from collections.abc import Iterator

from cpsdi.cps.errors import CardDataError

__all__ = ["TLVError", "read_tlv", "iter_tlvs", "find", "find_path"]


class TLVError(CardDataError):
    """Malformed BER-TLV data from the card."""


def read_tlv(data: bytes, pos: int = 0) -> tuple[bytes, bytes, int]:
    """One TLV at ``data[pos:]``: ``(tag bytes, value, position after it)``."""
    if pos >= len(data):
        raise TLVError("TLV expected, end of data")
    start = pos
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:  # X.690 §8.1.2.4: multi-byte tag number
        while True:
            if pos >= len(data):
                raise TLVError("tag runs past the end")
            more = data[pos] & 0x80
            pos += 1
            if not more:
                break
            if pos - start >= 4:  # a fifth byte would follow
                raise TLVError("tag longer than 4 bytes")
    tag = bytes(data[start:pos])
    if pos >= len(data):
        raise TLVError(f"no length after tag {tag.hex()}")
    length = data[pos]
    pos += 1
    if length == 0x80:
        raise TLVError("indefinite length")
    if length > 0x80:
        n = length & 0x7F
        if n > 3 or pos + n > len(data):
            raise TLVError(f"bad long-form length after tag {tag.hex()}")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise TLVError(f"value of tag {tag.hex()} runs past the end ({length} bytes announced)")
    return tag, bytes(data[pos:end]), end


def iter_tlvs(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Every TLV of ``data`` in order; 00 / FF padding between them is skipped (ISO 7816-4 §5.2)."""
    pos = 0
    while pos < len(data):
        if data[pos] in (0x00, 0xFF):
            pos += 1
            continue
        tag, value, pos = read_tlv(data, pos)
        yield tag, value


def find(data: bytes, tag: bytes) -> bytes | None:
    """The value of the first ``tag`` at the top level of ``data``, or None."""
    for t, v in iter_tlvs(data):
        if t == tag:
            return v
    return None


def find_path(data: bytes, *tags: bytes) -> bytes | None:
    """Descend through nested ``tags`` (each at the top level of the previous value)."""
    value: bytes | None = data
    for tag in tags:
        if value is None:
            return None
        value = find(value, tag)
    return value
