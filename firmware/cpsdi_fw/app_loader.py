"""Run the image ``boot.select`` chose, on a device: its bundle as an importable folder.

update-channel.md §4.4 (boot path), docs/update-channel.md "Boot path on a device".

The **factory** application (frozen into the MicroPython build, or in ``/lib``) holds the
selector, the trusted keys and this loader. A slot's bundle replaces the application, never
them: the board's boot entry (``cpsdi_boards.device_boot``) imports the selector from the
factory copy before any slot is on ``sys.path``.

``install(storage, slot, img_size, digest, app_dir)`` makes ``app_dir`` (one folder per slot,
``/app/0`` and ``/app/1``) hold exactly the files of the slot's bundle:

* each file is copied from the slot through SHA-256 and compared with the bundle table;
* ``app_dir/.image`` (the image digest) is written last. A power cut before it leaves no
  marker: the next boot empties the folder and writes it again;
* at every boot each file is hashed again against the table (a file changed on the file
  system is written again: what runs is what was signed) and files the table does not
  name are deleted (a stray ``x.py`` would shadow ``x.mpy``).

Returns ``OK`` or a ``boot.R_*`` reason; never raises. ``activate(app_dir)`` puts the folder
first on ``sys.path`` and forgets the factory copies of the application packages in
``sys.modules``, so the next ``import`` loads the slot's modules.
"""

import hashlib
import os
import sys

from cpsdi_proto.compat import const

from cpsdi_fw import boot, bundle_manifest

OK = const(0)
MARKER = ".image"
PACKAGES = ("cpsdi_fw", "cpsdi_proto", "cpsdi_boards")  # what a bundle replaces
MAX_TABLE = const(16384)  # as updater.MAX_TABLE
MAX_DEPTH = const(6)  # folder levels below app_dir that pruning visits
MAX_ENTRIES = const(1024)  # directory entries pruning looks at, in all
_CHUNK = const(512)
_S_IFDIR = const(0x4000)


def _is_dir(path: str) -> bool:
    try:
        return os.stat(path)[0] & _S_IFDIR != 0
    except OSError:
        return False


def _exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mkdirs(path: str) -> None:
    """Create ``path`` and its parents (absolute or relative, "/"-separated)."""
    parts = path.split("/")
    cur = ""
    for i in range(len(parts)):
        part = parts[i]
        if i == 0 and part == "":
            cur = "/"
            continue
        if not part:
            continue
        cur = cur + part if cur in ("", "/") else cur + "/" + part
        if not _is_dir(cur):
            os.mkdir(cur)


def _remove_tree(path: str, depth: int = 0) -> None:
    """Delete ``path`` and what it holds (bounded by MAX_DEPTH)."""
    if not _is_dir(path):
        if _exists(path):
            os.remove(path)
        return
    if depth < MAX_DEPTH:
        for name in os.listdir(path):
            _remove_tree(path + "/" + name, depth + 1)
    os.rmdir(path)


def _prune(folder: str, rel: str, keep, budget, depth: int) -> None:
    """Delete files under ``folder`` whose path relative to the app folder is not in ``keep``."""
    for name in os.listdir(folder):
        budget[0] -= 1
        if budget[0] < 0:
            raise OSError(27)  # EFBIG: a folder the loader did not write
        path = folder + "/" + name
        sub = rel + name if not rel else rel + "/" + name
        if _is_dir(path):
            if depth < MAX_DEPTH:
                _prune(path, sub, keep, budget, depth + 1)
            if not os.listdir(path):
                os.rmdir(path)
        elif sub != MARKER and sub not in keep:
            os.remove(path)


def _file_digest(path: str, size: int, buf) -> bytes:
    """SHA-256 of the file at ``path`` if it is ``size`` bytes long, else b""."""
    try:
        if os.stat(path)[6] != size:
            return b""
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(memoryview(buf)[:n])
        return h.digest()
    except OSError:
        return b""


def _read_marker(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(33)
    except OSError:
        return b""


def _copy(storage, slot: int, start: int, size: int, path: str, want: bytes, buf) -> int:
    """Copy bundle bytes ``start..start+size`` of ``slot`` to ``path``, checking their SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        off = start
        end = start + size
        while off < end:
            n = end - off if end - off < len(buf) else len(buf)
            storage.read_into(slot, boot.PAYLOAD_OFF + off, buf, 0, n)
            view = memoryview(buf)[:n]
            h.update(view)
            f.write(view)
            off += n
    if h.digest() != want:
        os.remove(path)
        return boot.R_FILE
    return OK


def read_table(storage, slot: int, img_size: int):
    """The slot's bundle table as a parsed ``Manifest``, or None when it is malformed."""
    head = bytearray(bundle_manifest.HEADER_SIZE)
    if img_size < bundle_manifest.HEADER_SIZE:
        return None
    storage.read_into(slot, boot.PAYLOAD_OFF, head, 0, bundle_manifest.HEADER_SIZE)
    table = head[8] | head[9] << 8 | head[10] << 16 | head[11] << 24
    if table < bundle_manifest.HEADER_SIZE or table > MAX_TABLE or table > img_size:
        return None
    tbl = bytearray(table)
    storage.read_into(slot, boot.PAYLOAD_OFF, tbl, 0, table)
    m = bundle_manifest.Manifest()
    if m.parse(tbl, table, img_size) != bundle_manifest.OK:
        return None
    return m


def install(storage, slot: int, img_size: int, digest: bytes, app_dir: str) -> int:
    """Make ``app_dir`` hold exactly the bundle of ``slot`` (module docstring); OK or ``boot.R_*``."""
    buf = bytearray(_CHUNK)
    try:
        m = read_table(storage, slot, img_size)
        if m is None:
            return boot.R_MANIFEST
        marker = app_dir + "/" + MARKER
        if _read_marker(marker) != digest:
            _remove_tree(app_dir)  # another image, or an install a power cut interrupted
        _mkdirs(app_dir)
        keep = set()
        for i in range(m.count):
            keep.add(m.path(i).decode())
        _prune(app_dir, "", keep, [MAX_ENTRIES], 0)
        for i in range(m.count):
            rel = m.path(i).decode()
            path = app_dir + "/" + rel
            if _file_digest(path, m.size(i), buf) == m.sha256(i):
                continue
            cut = rel.rfind("/")
            if cut > 0:
                _mkdirs(app_dir + "/" + rel[:cut])
            if _is_dir(path):
                _remove_tree(path)
            err = _copy(storage, slot, m.data_offset(i), m.size(i), path, m.sha256(i), buf)
            if err:
                return err
        if not _exists(marker):
            with open(marker, "wb") as f:
                f.write(digest)
    except OSError:
        return boot.R_STORAGE
    return OK


def activate(app_dir: str, packages=PACKAGES) -> None:
    """Import the application from ``app_dir`` from now on (module docstring)."""
    for name in list(sys.modules):
        for p in packages:
            if name == p or name.startswith(p + "."):
                del sys.modules[name]
                break
    while app_dir in sys.path:
        sys.path.remove(app_dir)
    sys.path.insert(0, app_dir)


def start(storage, keys, hw_id: bytes, fw_compat: bytes, app_root: str = "/app", packages=PACKAGES):
    """Select the image (``boot.select``) and, for a slot, install and activate its bundle.

    Returns the ``BootResult`` plus ``install_error`` (OK, or why the slot's files could not be
    put in place: the factory application then runs this time; a trial that cannot install
    never confirms, so the next boots revert it)."""
    result = boot.select(storage, keys, hw_id, fw_compat)
    if result.running != boot.FACTORY:
        app_dir = "%s/%d" % (app_root, result.running)
        err = install(storage, result.running, _img_size(storage, result.running), result.digest, app_dir)
        if err == OK:
            activate(app_dir, packages)
        else:
            result.install_error = err
            result.running = boot.FACTORY
            result.trial = False
    return result


def _img_size(storage, slot: int) -> int:
    from cpsdi_fw import mcuboot

    blob = bytearray(mcuboot.MAX_METADATA)
    meta = mcuboot.ImageMeta()
    if boot.read_meta(storage, slot, blob, meta) != mcuboot.OK:
        return 0
    return meta.img_size
