"""Application bundles (cpsdi.update.bundle): the real firmware compiled once, determinism,
the table format, and agreement with the device parser (cpsdi_fw.bundle_manifest)."""

from __future__ import annotations

import hashlib
import random

import pytest

from cpsdi.exceptions import ImageFormatError, UpdateError
from cpsdi.update import bundle as bm
from cpsdi_fw import bundle_manifest


@pytest.fixture(scope="module")
def app() -> bm.AppBundle:
    """The whole firmware for the sim board, compiled once for this module."""
    return bm.build_app_bundle("sim")


def test_app_bundle_content(app: bm.AppBundle) -> None:
    paths = [f.path for f in app.files]
    assert paths == sorted(paths)
    assert "cpsdi_fw/__init__.mpy" in paths
    assert "cpsdi_proto/ccid.mpy" in paths
    assert "cpsdi_fw/iso7816_3/t1.mpy" in paths
    assert "cpsdi_boards/__init__.mpy" in paths
    assert not any(p.startswith("cpsdi_boards/sim") for p in paths)  # host-only board
    assert all(p.endswith(".mpy") for p in paths)
    assert app.fw_compat == "mpy6.3 armv6m"
    for f in app.files:
        assert f.data[:2] == b"M\x06"
    sources = bm.device_sources("sim")
    assert len(sources) == len(app.files)


def test_app_bundle_round_trip(app: bm.AppBundle) -> None:
    entries = bm.parse_bundle(app.data)
    assert [e.path for e in entries] == [f.path for f in app.files]
    for e, f in zip(entries, app.files):
        assert e.size == len(f.data)
        assert e.sha256 == hashlib.sha256(f.data).digest()
        assert app.data[e.offset:e.offset + e.size] == f.data


def test_device_manifest_parser_agrees(app: bm.AppBundle) -> None:
    m = bundle_manifest.Manifest()
    assert m.parse(app.data) == bundle_manifest.OK
    entries = bm.parse_bundle(app.data)
    assert m.count == len(entries)
    for i, e in enumerate(entries):
        assert m.path(i) == e.path.encode()
        assert (m.size(i), m.sha256(i), m.data_offset(i)) == (e.size, e.sha256, e.offset)


def test_deterministic(app: bm.AppBundle) -> None:
    files = bm.compile_sources(bm.device_sources("sim"))
    assert bm.build_bundle(files) == app.data
    assert bm.build_bundle(list(reversed(files))) == app.data  # order of the input does not matter


def test_source_names_are_package_relative(app: bm.AppBundle) -> None:
    data = next(f.data for f in app.files if f.path == "cpsdi_fw/link.mpy")
    assert b"cpsdi_fw/link.py" in data
    assert b"/work/" not in data and b"/home/" not in data


def test_arch_and_compat() -> None:
    assert bm.fw_compat_for("armv7emsp") == "mpy6.3 armv7emsp"
    with pytest.raises(ValueError):
        bm.fw_compat_for("z80")


def test_unknown_board() -> None:
    with pytest.raises(UpdateError, match="unknown board"):
        bm.device_sources("nope")
    assert "sim" in bm.board_names()


def test_build_bundle_refuses_bad_paths() -> None:
    for path in ("", "/a.mpy", "a//b.mpy", "../a.mpy", "a/./b.mpy", "a b.mpy", "é.mpy", "x" * 97):
        with pytest.raises(ValueError):
            bm.build_bundle([bm.BundleFile(path, b"x")])
    with pytest.raises(ValueError):
        bm.build_bundle([bm.BundleFile("a.mpy", b"1"), bm.BundleFile("a.mpy", b"2")])
    with pytest.raises(ValueError):
        bm.build_bundle([])


def test_empty_file_is_allowed() -> None:
    data = bm.build_bundle([bm.BundleFile("a/empty.mpy", b""), bm.BundleFile("a/b.mpy", b"x")])
    entries = bm.parse_bundle(data)
    assert [(e.path, e.size) for e in entries] == [("a/b.mpy", 1), ("a/empty.mpy", 0)]
    assert bundle_manifest.Manifest().parse(data) == bundle_manifest.OK


def test_file_digest_checked() -> None:
    data = bytearray(bm.build_bundle([bm.BundleFile("a.mpy", b"hello")]))
    data[-1] ^= 1
    with pytest.raises(ImageFormatError) as exc:
        bm.parse_bundle(bytes(data))
    assert exc.value.reason == "file_digest"
    assert bm.parse_bundle(bytes(data), check_data=False)[0].size == 5


def test_device_and_host_agree_on_random_mutations() -> None:
    rng = random.Random(4)
    base = bm.build_bundle([bm.BundleFile("a/x.mpy", b"12345"), bm.BundleFile("a/y.mpy", b"678"),
                            bm.BundleFile("b.mpy", b"")])
    m = bundle_manifest.Manifest()
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1 and data:
                del data[rng.randrange(len(data)):]
            else:
                data += bytes([rng.randrange(256)])
        err = m.parse(bytes(data))
        try:
            bm.parse_bundle(bytes(data), check_data=False)
            host = "ok"
        except ImageFormatError as exc:
            host = exc.reason
        assert bundle_manifest.ERROR_NAMES[err] == host, bytes(data).hex()


def test_real_board_bundles_carry_their_driver_modules() -> None:
    from cpsdi.update.bundle import board_names, device_sources

    assert board_names() == ["nucleo_l476_sc", "pico_tda8035", "sim"]  # drivers are not boards
    names = {n for n, _ in device_sources("pico_tda8035") if n.startswith("cpsdi_boards/")}
    assert names == {"cpsdi_boards/__init__.py", "cpsdi_boards/pico_tda8035.py", "cpsdi_boards/board_check.py",
                     "cpsdi_boards/pio_iso7816.py", "cpsdi_boards/tda8035.py", "cpsdi_boards/rp2_pio_iso7816.py",
                     "cpsdi_boards/uart_host.py", "cpsdi_boards/device_boot.py"}
    assert not any(n.startswith("cpsdi_boards/sim/") for n, _ in device_sources("pico_tda8035"))
