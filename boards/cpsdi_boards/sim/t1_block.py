"""T=1 block codec for the simulator: EDC variants, framing, decoding (ISO/IEC 7816-3 §11, iso7816-3.md §5).

``NAD PCB LEN [INF] EDC``. EDC kinds (iso7816-3.md §5.2):

* ``"lrc"``: XOR of NAD..last INF byte, 1 byte.
* ``"crc-libccid"``: reflected CRC-16 poly 0x8408, init FFFF, no final XOR (CRC-16/MCRF4XX),
  high byte first (libccid / OpenCT). check("123456789") = 0x6F91.
* ``"crc-iso13239"``: the same with the final complement (ISO/IEC 13239 FCS), low byte first.
  check("123456789") = 0x906E.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EDC_KINDS",
    "edc_len",
    "compute_edc",
    "crc16_libccid",
    "crc16_iso13239",
    "frame_block",
    "swap_nad",
    "DecodedBlock",
    "decode_block",
    "S_TYPES",
    "r_pcb",
    "i_pcb",
]

EDC_KINDS = ("lrc", "crc-libccid", "crc-iso13239")

# S-block types (PCB b5..b1) and names
S_TYPES = {0: "RESYNCH", 1: "IFS", 2: "ABORT", 3: "WTX", 4: "VPP"}


def edc_len(edc: str) -> int:
    """EDC length in bytes."""
    if edc not in EDC_KINDS:
        raise ValueError("EDC must be one of %s, got %r" % (", ".join(EDC_KINDS), edc))
    return 1 if edc == "lrc" else 2


def crc16_libccid(data: bytes) -> int:
    """CRC-16/MCRF4XX (reflected 0x8408, init FFFF, no final XOR)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def crc16_iso13239(data: bytes) -> int:
    """ISO/IEC 13239 FCS: CRC-16/MCRF4XX with the final complement."""
    return crc16_libccid(data) ^ 0xFFFF


def compute_edc(data: bytes, edc: str) -> bytes:
    """EDC bytes of ``data`` (prologue + INF) as transmitted."""
    if edc == "lrc":
        out = 0
        for b in data:
            out ^= b
        return bytes((out,))
    if edc == "crc-libccid":
        crc = crc16_libccid(data)
        return bytes((crc >> 8, crc & 0xFF))
    if edc == "crc-iso13239":
        crc = crc16_iso13239(data)
        return bytes((crc & 0xFF, crc >> 8))
    raise ValueError("EDC must be one of %s, got %r" % (", ".join(EDC_KINDS), edc))


def frame_block(nad: int, pcb: int, inf: bytes, edc: str, length: int | None = None) -> bytes:
    """``NAD PCB LEN INF EDC``; ``length`` overrides the LEN byte (the EDC covers the bytes sent)."""
    body = bytes((nad & 0xFF, pcb & 0xFF, len(inf) if length is None else length & 0xFF)) + bytes(inf)
    return body + compute_edc(body, edc)


def swap_nad(nad: int) -> int:
    """The NAD of an answer: DAD and SAD exchanged (Vpp bits kept)."""
    return ((nad & 0x07) << 4) | ((nad >> 4) & 0x07) | (nad & 0x88)


def i_pcb(ns: int, more: bool) -> int:
    """PCB of I(ns, M)."""
    return ((ns & 1) << 6) | (0x20 if more else 0)


def r_pcb(nr: int, err: int = 0) -> int:
    """PCB of R(nr, err): err 0 OK, 1 EDC/parity, 2 other."""
    return 0x80 | ((nr & 1) << 4) | (err & 0x0F)


@dataclass(frozen=True)
class DecodedBlock:
    """What a receiver makes of a T=1 block's bytes (lenient: truncated blocks decode as far as they go)."""

    raw: bytes
    nad: int | None
    pcb: int | None
    kind: str  # "I", "R", "S", or "?" (fewer than 2 bytes)
    ns: int | None  # I-blocks
    nr: int | None  # R-blocks
    more: bool  # I-blocks: M bit
    s_type: str | None  # S-blocks: RESYNCH, IFS, ABORT, WTX, VPP or "RFU(xx)"
    s_response: bool  # S-blocks: b6
    err: int | None  # R-blocks: b4..b1
    length: int | None  # the LEN byte
    inf: bytes
    edc: bytes
    edc_ok: bool  # EDC present and matching
    complete: bool  # exactly 3 + LEN + EDC bytes (LEN != FF)
    rfu: bool  # RFU PCB bits set (I: b5..b1; R: b6 or error code > 2; S: unknown type)

    def text(self) -> str:
        """Short notation: I(0,0), R(1,1), S(WTX req, 02)."""
        if self.kind == "I":
            return "I(%d,%d)" % (self.ns or 0, 1 if self.more else 0)
        if self.kind == "R":
            return "R(%d%s)" % (self.nr or 0, ",%d" % self.err if self.err else "")
        if self.kind == "S":
            body = "%s %s" % (self.s_type, "resp" if self.s_response else "req")
            if self.inf:
                body += ", " + self.inf.hex(" ").upper()
            return "S(%s)" % body
        return "?"


def decode_block(raw: bytes, edc: str) -> DecodedBlock:
    """Decode ``raw`` (one block as seen on the line) with EDC kind ``edc``."""
    n = edc_len(edc)
    nad = raw[0] if len(raw) > 0 else None
    pcb = raw[1] if len(raw) > 1 else None
    length = raw[2] if len(raw) > 2 else None
    kind = "?"
    ns = nr = err = None
    more = False
    s_type: str | None = None
    s_resp = False
    rfu = False
    if pcb is not None:
        if not pcb & 0x80:
            kind = "I"
            ns = (pcb >> 6) & 1
            more = bool(pcb & 0x20)
            rfu = bool(pcb & 0x1F)
        elif not pcb & 0x40:
            kind = "R"
            nr = (pcb >> 4) & 1
            err = pcb & 0x0F
            rfu = bool(pcb & 0x20) or err > 2
        else:
            kind = "S"
            s_resp = bool(pcb & 0x20)
            t = pcb & 0x1F
            s_type = S_TYPES.get(t, "RFU(%02X)" % t)
            rfu = t not in S_TYPES or (t == 4 and not s_resp)
    if length is not None and length != 0xFF:
        inf = raw[3:3 + length]
        edc_bytes = raw[3 + length:3 + length + n]
        complete = len(raw) == 3 + length + n
    else:
        inf = raw[3:max(3, len(raw) - n)]
        edc_bytes = raw[3 + len(inf):]
        complete = False
    edc_ok = len(edc_bytes) == n and compute_edc(raw[:3 + len(inf)], edc) == edc_bytes
    return DecodedBlock(bytes(raw), nad, pcb, kind, ns, nr, more, s_type, s_resp, err, length, bytes(inf),
                        bytes(edc_bytes), edc_ok, complete, rfu)
