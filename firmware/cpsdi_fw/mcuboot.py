"""MCUboot image metadata, device side: parse and check what the host sends at BEGIN.

The **metadata blob** is an update image without its payload (docs/update-image.md §3)::

    header (32) ‖ protected TLV area (protect_tlv_size) ‖ TLV area (its info's total)

``ImageMeta.parse(blob)`` checks it strictly and fills the fields; it never raises on bad
input and returns ``OK`` or one ``ERR_*`` code (the host's ``cpsdi.update.image`` raises the
same reasons, in the same order). It only parses: the Ed25519 signature of ``digest`` is
checked by ``cpsdi_fw.ed25519.verify(key, meta.digest, meta.signature)``, the key is found
by comparing ``meta.keyhash`` with ``keyhash(key)``, and ``check()`` applies the policy.

The image digest (the SHA256 TLV) covers ``header ‖ payload ‖ protected TLV area``; the
payload arrives later, so the updater hashes ``blob[0:hdr_size]``, then the payload chunks,
then ``blob[prot_off:prot_off + protect_tlv_size]`` (``header_view`` / ``protected_view``)
and compares with ``digest`` at FINISH. Until then the protected fields (board, counter,
compatibility) are signed-digest claims, not proven: nothing is activated before FINISH.

Rules (update-channel.md §4.2, MCUboot docs/design.md): header magic 0x96f3b83d,
hdr_size 32, load_addr / flags / pad 0, img_size > 0; the protected area holds exactly
SEC_CNT (0x50, u32), HW_ID (0xA0, ASCII), PAYLOAD_TYPE (0xA1, u8) and FW_COMPAT (0xA2,
ASCII), once each, nothing else; the unprotected area holds exactly one SHA256 (0x10, 32),
KEYHASH (0x01, 32) and ED25519 (0x24, 64); other hash, key or signature TLVs are refused,
any other unprotected TLV is ignored (it decides nothing). Every TLV lies inside its area,
the areas fill the blob exactly.
"""

from cpsdi_proto.compat import const

from cpsdi_fw.byteorder import u16, u32

OK = const(0)
ERR_BOUNDS = const(1)  # truncated, a TLV crosses its area, blob too long
ERR_MAGIC = const(2)  # header magic
ERR_HEADER = const(3)  # hdr_size != 32, load_addr/flags/pad != 0, img_size 0
ERR_TLV_INFO = const(4)  # TLV info magic, or protected info total != protect_tlv_size
ERR_TLV_UNKNOWN = const(5)  # protected TLV not on the allow-list
ERR_TLV_DUP = const(6)  # a TLV twice
ERR_TLV_LEN = const(7)  # a known TLV with a wrong length
ERR_TLV_VALUE = const(8)  # HW_ID / FW_COMPAT not printable ASCII
ERR_TLV_FORBIDDEN = const(9)  # another hash / key / signature TLV in the unprotected area
ERR_TRAILING = const(10)  # bytes after the TLV area
ERR_MISSING = const(11)  # a required TLV (or the protected area) is absent
# policy, check()
ERR_PAYLOAD_TYPE = const(16)
ERR_HW_ID = const(17)
ERR_COMPAT = const(18)
ERR_SIZE = const(19)
ERR_ROLLBACK = const(20)

ERROR_NAMES = {
    OK: "ok",
    ERR_BOUNDS: "bounds",
    ERR_MAGIC: "magic",
    ERR_HEADER: "header",
    ERR_TLV_INFO: "tlv_info",
    ERR_TLV_UNKNOWN: "tlv_unknown",
    ERR_TLV_DUP: "tlv_dup",
    ERR_TLV_LEN: "tlv_len",
    ERR_TLV_VALUE: "tlv_value",
    ERR_TLV_FORBIDDEN: "tlv_forbidden",
    ERR_TRAILING: "trailing",
    ERR_MISSING: "missing",
    ERR_PAYLOAD_TYPE: "payload_type",
    ERR_HW_ID: "hw_id",
    ERR_COMPAT: "compat",
    ERR_SIZE: "size",
    ERR_ROLLBACK: "rollback",
}
"""Code -> reason, as the host's UpdateError.reason spells it."""

IMAGE_MAGIC = const(0x96F3B83D)
HEADER_SIZE = const(32)
MAX_METADATA = const(1024)
MAX_TEXT = const(32)
PAYLOAD_BUNDLE = const(1)

_TLV_INFO_MAGIC = const(0x6907)
_TLV_PROT_INFO_MAGIC = const(0x6908)
_TLV_KEYHASH = const(0x01)
_TLV_SHA256 = const(0x10)
_TLV_ED25519 = const(0x24)
_TLV_SEC_CNT = const(0x50)
_TLV_HW_ID = const(0xA0)
_TLV_PAYLOAD_TYPE = const(0xA1)
_TLV_FW_COMPAT = const(0xA2)
# seen-bits
_S_SEC_CNT = const(1)
_S_HW_ID = const(2)
_S_PAYLOAD_TYPE = const(4)
_S_FW_COMPAT = const(8)
_S_SHA256 = const(16)
_S_KEYHASH = const(32)
_S_ED25519 = const(64)
_S_PROTECTED = const(15)
_S_UNPROTECTED = const(112)

ED25519_SPKI_PREFIX = b"\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"
"""DER SubjectPublicKeyInfo of an Ed25519 key before its 32 bytes (RFC 8410): KEYHASH input."""

MPY_ARCHS = (
    "none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
    "xtensa", "xtensawin", "rv32imc", "rv64imc",
)


def _text_ok(b, o: int, n: int) -> bool:
    # printable ASCII words separated by single spaces (no leading/trailing space)
    if n < 1 or n > MAX_TEXT:
        return False
    prev_space = True
    for i in range(o, o + n):
        c = b[i]
        if c == 0x20:
            if prev_space:
                return False
            prev_space = True
        elif 0x21 <= c <= 0x7E:
            prev_space = False
        else:
            return False
    return not prev_space


class ImageMeta:
    """The fields of a metadata blob; filled by ``parse()`` (all cleared on error)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.hdr_size = 0
        self.img_size = 0
        self.protect_tlv_size = 0
        self.tlv_size = 0  # unprotected TLV area, info header included
        self.major = 0
        self.minor = 0
        self.revision = 0
        self.build = 0
        self.sec_cnt = 0
        self.hw_id = b""
        self.payload_type = 0
        self.fw_compat = b""
        self.digest = b""
        self.keyhash = b""
        self.signature = b""
        self.prot_off = 0  # offset of the protected TLV area in the blob (= hdr_size)
        self.tlv_off = 0  # offset of the unprotected TLV area in the blob
        self.ignored = 0  # unknown unprotected TLVs skipped
        self.size = 0  # blob length

    def version(self) -> tuple:
        """(major, minor, revision, build)."""
        return (self.major, self.minor, self.revision, self.build)

    def header_view(self, blob) -> memoryview:
        """The header bytes of ``blob``: first part of the image digest."""
        return memoryview(blob)[0:self.hdr_size]

    def protected_view(self, blob) -> memoryview:
        """The protected TLV area of ``blob``: last part of the image digest (after the payload)."""
        return memoryview(blob)[self.prot_off:self.prot_off + self.protect_tlv_size]

    def parse(self, blob, n: int = -1) -> int:
        """Parse ``blob[0:n]`` (all of it if n < 0); ``OK`` or an ``ERR_*`` code; never raises."""
        self.clear()
        err = self._parse(blob, len(blob) if n < 0 else n)
        if err != OK:
            self.clear()
        return err

    def _parse(self, b, n: int) -> int:
        if n > len(b) or n > MAX_METADATA or n < HEADER_SIZE:
            return ERR_BOUNDS
        if u16(b, 0) != 0xB83D or u16(b, 2) != 0x96F3:  # IMAGE_MAGIC, without a big int
            return ERR_MAGIC
        if u16(b, 8) != HEADER_SIZE or u32(b, 4) != 0 or u32(b, 16) != 0 or u32(b, 28) != 0:
            return ERR_HEADER
        img_size = u32(b, 12)
        if img_size == 0:
            return ERR_HEADER
        prot = u16(b, 10)
        if prot < 4:
            return ERR_MISSING
        # protected area
        p = HEADER_SIZE
        end = p + prot
        if end + 4 > n:
            return ERR_BOUNDS
        if u16(b, p) != _TLV_PROT_INFO_MAGIC or u16(b, p + 2) != prot:
            return ERR_TLV_INFO
        seen = 0
        p += 4
        while p < end:
            if p + 4 > end:
                return ERR_BOUNDS
            t = u16(b, p)
            ln = u16(b, p + 2)
            v = p + 4
            if v + ln > end:
                return ERR_BOUNDS
            if t == _TLV_SEC_CNT:
                bit = _S_SEC_CNT
                ok = ln == 4
            elif t == _TLV_HW_ID:
                bit = _S_HW_ID
                ok = 1 <= ln <= MAX_TEXT
            elif t == _TLV_PAYLOAD_TYPE:
                bit = _S_PAYLOAD_TYPE
                ok = ln == 1
            elif t == _TLV_FW_COMPAT:
                bit = _S_FW_COMPAT
                ok = 1 <= ln <= MAX_TEXT
            else:
                return ERR_TLV_UNKNOWN
            if seen & bit:
                return ERR_TLV_DUP
            if not ok:
                return ERR_TLV_LEN
            seen |= bit
            if bit == _S_SEC_CNT:
                self.sec_cnt = u32(b, v)
            elif bit == _S_PAYLOAD_TYPE:
                self.payload_type = b[v]
            else:
                if not _text_ok(b, v, ln):
                    return ERR_TLV_VALUE
                if bit == _S_HW_ID:
                    self.hw_id = bytes(b[v:v + ln])
                else:
                    self.fw_compat = bytes(b[v:v + ln])
            p = v + ln
        if seen != _S_PROTECTED:
            return ERR_MISSING
        # unprotected area
        self.tlv_off = end
        p = end
        if u16(b, p) != _TLV_INFO_MAGIC:
            return ERR_TLV_INFO
        total = u16(b, p + 2)
        if total < 4:
            return ERR_TLV_INFO
        end = p + total
        if end > n:
            return ERR_BOUNDS
        p += 4
        while p < end:
            if p + 4 > end:
                return ERR_BOUNDS
            t = u16(b, p)
            ln = u16(b, p + 2)
            v = p + 4
            if v + ln > end:
                return ERR_BOUNDS
            if t == _TLV_SHA256 or t == _TLV_KEYHASH or t == _TLV_ED25519:
                if t == _TLV_SHA256:
                    bit = _S_SHA256
                    want = 32
                elif t == _TLV_KEYHASH:
                    bit = _S_KEYHASH
                    want = 32
                else:
                    bit = _S_ED25519
                    want = 64
                if seen & bit:
                    return ERR_TLV_DUP
                if ln != want:
                    return ERR_TLV_LEN
                seen |= bit
                if bit == _S_SHA256:
                    self.digest = bytes(b[v:v + ln])
                elif bit == _S_KEYHASH:
                    self.keyhash = bytes(b[v:v + ln])
                else:
                    self.signature = bytes(b[v:v + ln])
            elif t == 0x02 or t == 0x11 or t == 0x12 or 0x20 <= t <= 0x23 or t == 0x25:
                return ERR_TLV_FORBIDDEN
            else:
                self.ignored += 1
            p = v + ln
        if end != n:
            return ERR_TRAILING
        if seen & _S_UNPROTECTED != _S_UNPROTECTED:
            return ERR_MISSING
        self.hdr_size = HEADER_SIZE
        self.img_size = img_size
        self.protect_tlv_size = prot
        self.tlv_size = total
        self.major = b[20]
        self.minor = b[21]
        self.revision = u16(b, 22)
        self.build = u32(b, 24)
        self.prot_off = HEADER_SIZE
        self.size = n
        return OK


def check(meta: ImageMeta, hw_id, fw_compat, floor: int, max_img_size: int) -> int:
    """The update policy on a parsed blob: ``OK`` or ``ERR_PAYLOAD_TYPE``, ``ERR_HW_ID``,
    ``ERR_COMPAT``, ``ERR_SIZE``, ``ERR_ROLLBACK`` (``sec_cnt >= floor``: equal passes, as in
    MCUboot). ``hw_id`` / ``fw_compat`` are bytes (the board's NAME, ``fw_compat()``)."""
    if meta.payload_type != PAYLOAD_BUNDLE:
        return ERR_PAYLOAD_TYPE
    if meta.hw_id != hw_id:
        return ERR_HW_ID
    if meta.fw_compat != fw_compat:
        return ERR_COMPAT
    if meta.img_size > max_img_size:
        return ERR_SIZE
    if meta.sec_cnt < floor:
        return ERR_ROLLBACK
    return OK


def keyhash(public_key) -> bytes:
    """KEYHASH of a 32-byte Ed25519 public key: SHA-256 of its DER SubjectPublicKeyInfo (as imgtool)."""
    import hashlib

    h = hashlib.sha256(ED25519_SPKI_PREFIX)
    h.update(bytes(public_key))
    return h.digest()


def fw_compat_of(mpy: int) -> bytes:
    """FW_COMPAT string of an ``sys.implementation._mpy`` value: b"mpy<ver>.<sub> <arch>".

    ``_mpy`` = version | (sub-version | arch << 2) << 8 (py/persistentcode.h).
    """
    ver = mpy & 0xFF
    flags = (mpy >> 8) & 0xFF
    arch = flags >> 2
    name = MPY_ARCHS[arch] if arch < len(MPY_ARCHS) else "arch%d" % arch
    return ("mpy%d.%d %s" % (ver, flags & 3, name)).encode()


def fw_compat() -> bytes:
    """This interpreter's FW_COMPAT (b"" on CPython, which has no ``sys.implementation._mpy``)."""
    import sys

    mpy = getattr(sys.implementation, "_mpy", None)
    if mpy is None:
        return b""
    return fw_compat_of(mpy)
