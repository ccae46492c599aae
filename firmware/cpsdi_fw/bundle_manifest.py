"""The table of an application bundle (the payload of an update image), device side.

Format (docs/update-image.md §4; the host builds it with ``cpsdi.update.bundle``),
little-endian::

    header   magic "CPSB" | format u8 = 1 | reserved u8 = 0 | count u16 | table_size u32 | data_size u32
    entry    size u32 | sha256 [32] | path_len u8 | path [path_len]       (count entries)
    data     the files, in table order                                     (data_size bytes)

``Manifest.parse(buf, n, total)`` checks the header and table in ``buf[0:n]`` (at least
``table_size`` bytes: the data need not be there) against the bundle length ``total``
(the image's img_size). It never raises; it returns ``OK`` or an ``ERR_*`` code (the host's
``cpsdi.update.bundle.parse_bundle`` raises the same reasons, in the same order). Then
``path(i)``, ``size(i)``, ``sha256(i)`` and ``data_offset(i)`` describe file ``i``.
"""

from cpsdi_proto.compat import const

from cpsdi_fw.byteorder import u16, u32

OK = const(0)
ERR_BOUNDS = const(1)  # short header, table or data past the end, sizes that do not add up
ERR_MAGIC = const(2)
ERR_VERSION = const(3)  # format != 1 or reserved != 0
ERR_COUNT = const(4)  # 0 or more than MAX_FILES files
ERR_PATH = const(5)  # empty, too long, bad character, empty/"."/".." component
ERR_ORDER = const(6)  # paths not strictly increasing (so also duplicates)

ERROR_NAMES = {
    OK: "ok",
    ERR_BOUNDS: "bounds",
    ERR_MAGIC: "magic",
    ERR_VERSION: "version",
    ERR_COUNT: "count",
    ERR_PATH: "path",
    ERR_ORDER: "order",
}

HEADER_SIZE = const(16)
MAX_FILES = const(512)
MAX_PATH = const(96)
_ENTRY_FIXED = const(37)  # size u32 + sha256 + path_len u8


def _path_ok(b, o: int, n: int) -> bool:
    # '/'-separated components of [A-Za-z0-9_.-], none empty, "." or ".."
    if n < 1 or n > MAX_PATH:
        return False
    start = o
    end = o + n
    for i in range(o, end + 1):
        if i == end or b[i] == 0x2F:
            ln = i - start
            if ln == 0:
                return False
            if b[start] == 0x2E and (ln == 1 or (ln == 2 and b[start + 1] == 0x2E)):
                return False
            start = i + 1
            continue
        c = b[i]
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c == 0x5F or c == 0x2E or c == 0x2D):
            return False
    return True


def _less(b, o1: int, n1: int, o2: int, n2: int) -> bool:
    # bytes b[o1:o1+n1] < b[o2:o2+n2], without slicing
    m = n1 if n1 < n2 else n2
    for i in range(m):
        x = b[o1 + i]
        y = b[o2 + i]
        if x != y:
            return x < y
    return n1 < n2


class Manifest:
    """A parsed bundle table; entries are read from the parsed buffer (keep it alive)."""

    def __init__(self) -> None:
        self._buf = b""
        self._entries = []  # offset of each entry in the buffer
        self._data = []  # offset of each file's data in the bundle
        self.count = 0
        self.table_size = 0
        self.data_size = 0

    def parse(self, buf, n: int = -1, total: int = -1) -> int:
        """Check the table in ``buf[0:n]`` of a bundle of ``total`` bytes (both default to len(buf))."""
        if n < 0:
            n = len(buf)
        if total < 0:
            total = n
        err = self._parse(buf, n, total)
        if err != OK:
            self._buf = b""
            self._entries = []
            self._data = []
            self.count = 0
            self.table_size = 0
            self.data_size = 0
        return err

    def _parse(self, b, n: int, total: int) -> int:
        if n > len(b) or n > total or n < HEADER_SIZE:
            return ERR_BOUNDS
        if b[0] != 0x43 or b[1] != 0x50 or b[2] != 0x53 or b[3] != 0x42:  # "CPSB"
            return ERR_MAGIC
        if b[4] != 1 or b[5] != 0:
            return ERR_VERSION
        count = u16(b, 6)
        if count < 1 or count > MAX_FILES:
            return ERR_COUNT
        table = u32(b, 8)
        data = u32(b, 12)
        if table > total or table + data != total:
            return ERR_BOUNDS
        if table > n:
            return ERR_BOUNDS  # the caller must pass the whole table
        entries = []
        offsets = []
        p = HEADER_SIZE
        off = table
        prev = -1
        prev_n = 0
        for _ in range(count):
            if p + _ENTRY_FIXED > table:
                return ERR_BOUNDS
            ln = b[p + 36]
            if p + _ENTRY_FIXED + ln > table:
                return ERR_BOUNDS
            if not _path_ok(b, p + _ENTRY_FIXED, ln):
                return ERR_PATH
            if prev >= 0 and not _less(b, prev, prev_n, p + _ENTRY_FIXED, ln):
                return ERR_ORDER
            size = u32(b, p)
            if off + size > total:
                return ERR_BOUNDS
            entries.append(p)
            offsets.append(off)
            prev = p + _ENTRY_FIXED
            prev_n = ln
            off += size
            p += _ENTRY_FIXED + ln
        if p != table:
            return ERR_BOUNDS
        if off != total:
            return ERR_BOUNDS
        self._buf = b
        self._entries = entries
        self._data = offsets
        self.count = count
        self.table_size = table
        self.data_size = data
        return OK

    def path(self, i: int) -> bytes:
        p = self._entries[i]
        return bytes(self._buf[p + _ENTRY_FIXED:p + _ENTRY_FIXED + self._buf[p + 36]])

    def size(self, i: int) -> int:
        return u32(self._buf, self._entries[i])

    def sha256(self, i: int) -> bytes:
        p = self._entries[i]
        return bytes(self._buf[p + 4:p + 36])

    def data_offset(self, i: int) -> int:
        """Offset of file ``i``'s data from the start of the bundle."""
        return self._data[i]
