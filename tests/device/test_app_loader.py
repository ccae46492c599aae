"""The boot path on a device (cpsdi_fw.app_loader): the chosen slot's bundle as an importable
folder, checked file by file, repaired, pruned, then first on sys.path. CPython and MicroPython
(FileStorage in /tmp: the wasm MEMFS, a real folder on CPython)."""

import hashlib
import os
import sys
import unittest
from binascii import unhexlify

from cpsdi_fw import app_loader, boot, bundle_manifest
from cpsdi_fw.hal import FileStorage
from test_updater import COMPAT, HW_ID, IMAGES, KEY_A, Device, image, payload_of

SLOT_SIZE = boot.PAYLOAD_OFF + 8192


def _clean(path):
    try:
        is_dir = os.stat(path)[0] & 0x4000
    except OSError:
        return
    if is_dir:
        for name in os.listdir(path):
            _clean(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


def _folder(name):
    try:
        os.mkdir("/tmp")
    except OSError:
        pass
    path = "/tmp/cpsdi-loader-" + name
    _clean(path)
    return path


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _entries(name):
    """(path, size, sha256, data) of each file of image ``name``'s bundle."""
    rec = IMAGES[name]
    payload = payload_of(image(name), rec)
    m = bundle_manifest.Manifest()
    assert m.parse(payload, len(payload), len(payload)) == bundle_manifest.OK
    out = []
    for i in range(m.count):
        off = m.data_offset(i)
        out.append((m.path(i).decode(), m.size(i), m.sha256(i), payload[off:off + m.size(i)]))
    return out


def _put(storage, slot, name, flip_at=-1):
    """Write image ``name``'s payload into ``slot`` as the updater would (no metadata needed here)."""
    rec = IMAGES[name]
    data = bytearray(payload_of(image(name), rec))
    if flip_at >= 0:
        data[flip_at] ^= 0x01
    storage.erase(slot)
    storage.write(slot, boot.PAYLOAD_OFF, data, 0, len(data))
    return rec["img_size"], unhexlify(rec["digest"])


class TestInstall(unittest.TestCase):
    def setUp(self):
        self.root = _folder("install")
        self.storage = FileStorage(_folder(self.root.rsplit("-", 1)[1] + "-storage"), SLOT_SIZE)
        self.app = self.root + "/app/0"

    def assert_installed(self, name):
        for path, size, digest, data in _entries(name):
            self.assertEqual(_read(self.app + "/" + path), data)
            self.assertEqual(hashlib.sha256(data).digest(), digest)
        self.assertEqual(_read(self.app + "/" + app_loader.MARKER), unhexlify(IMAGES[name]["digest"]))

    def test_a_slot_bundle_becomes_a_folder_of_its_files(self):
        size, digest = _put(self.storage, 0, "v1")
        self.assertEqual(app_loader.install(self.storage, 0, size, digest, self.app), app_loader.OK)
        self.assert_installed("v1")
        self.assertEqual(sorted(os.listdir(self.app + "/cpsdi_fw")), sorted(p.split("/")[1] for p, _, _, _ in _entries("v1")))

    def test_a_changed_file_is_written_again_and_a_stray_file_removed(self):
        size, digest = _put(self.storage, 0, "v1")
        self.assertEqual(app_loader.install(self.storage, 0, size, digest, self.app), app_loader.OK)
        first = _entries("v1")[0][0]
        _write(self.app + "/" + first, b"not what was signed")
        _write(self.app + "/cpsdi_fw/mod0.py", b"print('shadow')\n")  # .py would win over .mpy
        os.mkdir(self.app + "/extra")
        _write(self.app + "/extra/x.py", b"")
        self.assertEqual(app_loader.install(self.storage, 0, size, digest, self.app), app_loader.OK)
        self.assert_installed("v1")
        self.assertFalse("mod0.py" in os.listdir(self.app + "/cpsdi_fw"))
        self.assertFalse("extra" in os.listdir(self.app))

    def test_another_image_replaces_the_folder(self):
        size, digest = _put(self.storage, 0, "v1")
        self.assertEqual(app_loader.install(self.storage, 0, size, digest, self.app), app_loader.OK)
        size, digest = _put(self.storage, 0, "small")
        self.assertEqual(app_loader.install(self.storage, 0, size, digest, self.app), app_loader.OK)
        self.assert_installed("small")
        self.assertEqual(len(os.listdir(self.app + "/cpsdi_fw")), len(_entries("small")))

    def test_an_install_cut_before_its_marker_starts_over(self):
        size, digest = _put(self.storage, 0, "v1")
        os.mkdir(self.root)
        os.mkdir(self.root + "/app")
        os.mkdir(self.app)
        os.mkdir(self.app + "/cpsdi_fw")
        _write(self.app + "/cpsdi_fw/mod0.mpy", b"half")  # what a power cut left, no marker
        _write(self.app + "/cpsdi_fw/old.mpy", b"from the previous image")
        self.assertEqual(app_loader.install(self.storage, 0, size, digest, self.app), app_loader.OK)
        self.assert_installed("v1")
        self.assertFalse("old.mpy" in os.listdir(self.app + "/cpsdi_fw"))

    def test_a_file_that_does_not_match_its_table_entry_is_refused(self):
        entries = _entries("v1")
        size, digest = _put(self.storage, 0, "v1", flip_at=IMAGES["v1"]["img_size"] - 1)  # last file's last byte
        self.assertEqual(app_loader.install(self.storage, 0, size, digest, self.app), boot.R_FILE)
        self.assertFalse(app_loader.MARKER in os.listdir(self.app))
        self.assertFalse(entries[-1][0].split("/")[1] in os.listdir(self.app + "/cpsdi_fw"))

    def test_a_malformed_table_is_refused(self):
        size, digest = _put(self.storage, 0, "v1", flip_at=0)  # "CPSB" magic
        self.assertEqual(app_loader.install(self.storage, 0, size, digest, self.app), boot.R_MANIFEST)
        self.assertEqual(app_loader.install(self.storage, 0, 8, digest, self.app), boot.R_MANIFEST)


class TestActivate(unittest.TestCase):
    def setUp(self):
        self.path = list(sys.path)

    def tearDown(self):
        sys.path[:] = self.path
        for name in list(sys.modules):
            if name == "loadertest_pkg" or name.startswith("loadertest_pkg."):
                del sys.modules[name]

    def test_the_next_import_comes_from_the_activated_folder(self):
        root = _folder("activate")
        for n in (1, 2):
            os.mkdir(root) if n == 1 else None
            os.mkdir("%s/%d" % (root, n))
            os.mkdir("%s/%d/loadertest_pkg" % (root, n))
            _write("%s/%d/loadertest_pkg/__init__.py" % (root, n), b"")
            _write("%s/%d/loadertest_pkg/version.py" % (root, n), b"VERSION = %d\n" % n)
        app_loader.activate(root + "/1", ("loadertest_pkg",))
        from loadertest_pkg import version

        self.assertEqual(version.VERSION, 1)
        app_loader.activate(root + "/2", ("loadertest_pkg",))
        self.assertEqual(sys.path[0], root + "/2")
        from loadertest_pkg import version as again

        self.assertEqual(again.VERSION, 2)
        app_loader.activate(root + "/2", ("loadertest_pkg",))
        self.assertEqual(sys.path.count(root + "/2"), 1)


class TestStart(unittest.TestCase):
    """select + install + activate over a FileStorage holding a real signed update."""

    def setUp(self):
        self.path = list(sys.path)
        self.root = _folder("start")
        self.storage = FileStorage(_folder(self.root.rsplit("-", 1)[1] + "-storage"), SLOT_SIZE)

    def tearDown(self):
        sys.path[:] = self.path

    def start(self):
        return app_loader.start(self.storage, [KEY_A], HW_ID, COMPAT, self.root + "/app", ("loadertest_none",))

    def test_factory_until_an_update_then_the_trial_slot_from_its_folder(self):
        r = self.start()
        self.assertEqual((r.running, r.install_error), (boot.FACTORY, 0))
        self.assertEqual(sys.path, self.path)
        d = Device(self.storage)
        r2, a = d.update("v1")
        self.assertEqual(r2, 2)
        slot = a[0]
        r = self.start()
        self.assertEqual((r.running, r.trial, r.install_error), (slot, True, 0))
        app = "%s/app/%d" % (self.root, slot)
        self.assertEqual(sys.path[0], app)
        self.assertEqual(_read(app + "/" + app_loader.MARKER), unhexlify(IMAGES["v1"]["digest"]))

    def test_a_slot_whose_files_cannot_be_installed_runs_the_factory_image(self):
        d = Device(self.storage)
        r2, a = d.update("v1")
        slot = a[0]
        os.mkdir(self.root)
        _write(self.root + "/app", b"a file where the folder should be")
        r = self.start()
        self.assertEqual((r.running, r.trial, r.install_error), (boot.FACTORY, False, boot.R_STORAGE))
        self.assertEqual(sys.path, self.path)
        self.assertNotEqual(slot, boot.FACTORY)


if __name__ == "__main__":
    unittest.main()
