"""A small BER-TLV / DER encoder and TLV reader (ISO/IEC 7816-4 §5.2, X.690 §8).

Just what the virtual cards need to build PKCS#15 objects, FCPs and SDO answers, and to
read the TLVs of command data. Tags are given as their encoded bytes (``b"\\x30"``,
``b"\\xBF\\x81\\x01"``) so multi-byte tags need no special case.
"""

from __future__ import annotations

__all__ = [
    "tlv",
    "encode_length",
    "integer",
    "octet_string",
    "utf8_string",
    "bit_string",
    "named_bits",
    "sequence",
    "boolean",
    "null",
    "generalized_time",
    "parse_tlvs",
    "TLVError",
]


class TLVError(ValueError):
    """Malformed BER-TLV data."""


def encode_length(n: int) -> bytes:
    """DER length octets."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: bytes, value: bytes) -> bytes:
    """``tag`` (encoded) + DER length + ``value``."""
    return bytes(tag) + encode_length(len(value)) + bytes(value)


def integer(value: int) -> bytes:
    """DER INTEGER (two's complement, minimal)."""
    n = max(1, (value.bit_length() + 8) // 8)
    return tlv(b"\x02", value.to_bytes(n, "big", signed=True))


def octet_string(value: bytes, tag: bytes = b"\x04") -> bytes:
    """OCTET STRING (or an implicitly tagged one)."""
    return tlv(tag, value)


def utf8_string(text: str, tag: bytes = b"\x0C") -> bytes:
    """UTF8String."""
    return tlv(tag, text.encode("utf-8"))


def bit_string(content: bytes, unused_bits: int = 0, tag: bytes = b"\x03") -> bytes:
    """BIT STRING from its content octets and the unused-bits count (no checks: quirks allowed)."""
    return tlv(tag, bytes((unused_bits,)) + bytes(content))


def named_bits(*bits: int) -> bytes:
    """DER BIT STRING of named bits (bit 0 = most significant bit of the first octet)."""
    if not bits:
        return bit_string(b"")
    top = max(bits)
    content = bytearray(top // 8 + 1)
    for b in bits:
        content[b // 8] |= 0x80 >> (b % 8)
    return bit_string(bytes(content), 7 - top % 8)


def sequence(*items: bytes, tag: bytes = b"\x30") -> bytes:
    """SEQUENCE (or a constructed context tag) of already encoded items."""
    return tlv(tag, b"".join(items))


def boolean(value: bool) -> bytes:
    """DER BOOLEAN."""
    return tlv(b"\x01", b"\xFF" if value else b"\x00")


def null() -> bytes:
    """NULL."""
    return b"\x05\x00"


def generalized_time(text: str) -> bytes:
    """GeneralizedTime from its text (``YYYYMMDDhhmmssZ``)."""
    return tlv(b"\x18", text.encode("ascii"))


def _read_tag(data: bytes, pos: int) -> int:
    """End position of the tag starting at ``pos``."""
    if pos >= len(data):
        raise TLVError("truncated tag")
    end = pos + 1
    if data[pos] & 0x1F == 0x1F:
        while True:
            if end >= len(data):
                raise TLVError("truncated tag")
            end += 1
            if not data[end - 1] & 0x80:
                break
    return end


def parse_tlvs(data: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(tag, value)`` pairs of a concatenation of BER-TLVs (definite lengths only)."""
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(data):
        tag_end = _read_tag(data, pos)
        tag = bytes(data[pos:tag_end])
        if tag_end >= len(data):
            raise TLVError("truncated length")
        first = data[tag_end]
        pos = tag_end + 1
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82, 0x83):
            n = first & 0x7F
            if pos + n > len(data):
                raise TLVError("truncated length")
            length = int.from_bytes(data[pos:pos + n], "big")
            pos += n
        else:
            raise TLVError("unsupported length octet %02X" % first)
        if pos + length > len(data):
            raise TLVError("value overruns the data")
        out.append((tag, bytes(data[pos:pos + length])))
        pos += length
    return out
