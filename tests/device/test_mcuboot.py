"""Update-image metadata (cpsdi_fw.mcuboot) and bundle tables (cpsdi_fw.bundle_manifest)
against tests/vectors/update_images.jsonl; runs on CPython and MicroPython."""

import hashlib
import unittest
from binascii import unhexlify

from _paths import read_jsonl
from cpsdi_fw import bundle_manifest, mcuboot

RECORDS = read_jsonl("update_images.jsonl")
KEYS = [r for r in RECORDS if r["kind"] == "keys"][0]
IMAGES = [r for r in RECORDS if r["kind"] == "image"]
BUNDLES = [r for r in RECORDS if r["kind"] == "bundle"]
POLICY = KEYS["policy"]
KEY_A = unhexlify(KEYS["public_key_a"])

try:
    import micropython

    _HEAP_LOCK = hasattr(micropython, "heap_lock")
except ImportError:
    _HEAP_LOCK = False

try:
    from cpsdi_fw import ed25519
except ImportError:  # written by another change; the signature checks skip without it
    ed25519 = None


def _hex(text):
    return unhexlify(text) if text else b""


def _meta(rec):
    return _hex(rec["meta"]) if rec["meta"] is not None else None


def _check(meta):
    return mcuboot.check(meta, POLICY["hw_id"].encode(), POLICY["fw_compat"].encode(), POLICY["floor"],
                         POLICY["max_img_size"])


class TestErrorCodes(unittest.TestCase):
    def test_codes_are_distinct_and_named(self):
        codes = list(mcuboot.ERROR_NAMES.keys())
        self.assertEqual(len(codes), len(set(codes)))
        self.assertEqual(mcuboot.ERROR_NAMES[mcuboot.OK], "ok")
        for code in (mcuboot.ERR_BOUNDS, mcuboot.ERR_MAGIC, mcuboot.ERR_TLV_UNKNOWN, mcuboot.ERR_TLV_DUP,
                     mcuboot.ERR_MISSING, mcuboot.ERR_ROLLBACK, mcuboot.ERR_HW_ID):
            self.assertIn(code, mcuboot.ERROR_NAMES)


class TestMetadataVectors(unittest.TestCase):
    def test_vector_count(self):
        self.assertTrue(len(IMAGES) > 100)

    def test_parse(self):
        meta = mcuboot.ImageMeta()
        n = 0
        for rec in IMAGES:
            blob = _meta(rec)
            if blob is None:
                continue
            err = meta.parse(blob)
            self.assertEqual(mcuboot.ERROR_NAMES[err], rec["parse"], rec["name"])
            if err != mcuboot.OK:
                self.assertEqual(meta.digest, b"", rec["name"])  # cleared on error
                continue
            n += 1
            f = rec["fields"]
            self.assertEqual(meta.hdr_size, f["hdr_size"])
            self.assertEqual(meta.img_size, f["img_size"], rec["name"])
            self.assertEqual(meta.protect_tlv_size, f["protect_tlv_size"])
            self.assertEqual(meta.tlv_size, f["tlv_size"])
            self.assertEqual(list(meta.version()), f["version"])
            self.assertEqual(meta.sec_cnt, f["sec_cnt"])
            self.assertEqual(meta.hw_id, f["hw_id"].encode())
            self.assertEqual(meta.payload_type, f["payload_type"])
            self.assertEqual(meta.fw_compat, f["fw_compat"].encode())
            self.assertEqual(meta.digest, _hex(f["digest"]))
            self.assertEqual(meta.keyhash, _hex(f["keyhash"]))
            self.assertEqual(meta.signature, _hex(f["signature"]))
            self.assertEqual(meta.prot_off, f["prot_off"])
            self.assertEqual(meta.tlv_off, f["tlv_off"])
            self.assertEqual(meta.ignored, f["ignored"], rec["name"])
            self.assertEqual(meta.size, len(blob))
        self.assertTrue(n > 20)

    def test_parse_with_length(self):
        # n < len(buf): the parser looks at buf[0:n] only (a receive buffer with spare room)
        rec = IMAGES[0]
        blob = _meta(rec)
        buf = bytearray(2048)
        buf[0:len(blob)] = blob
        meta = mcuboot.ImageMeta()
        self.assertEqual(meta.parse(buf, len(blob)), mcuboot.OK)
        self.assertEqual(meta.parse(buf, len(blob) + 1), mcuboot.ERR_TRAILING)
        self.assertEqual(meta.parse(buf, len(blob) - 1), mcuboot.ERR_BOUNDS)
        self.assertEqual(meta.parse(blob, len(blob) + 1), mcuboot.ERR_BOUNDS)
        self.assertEqual(meta.parse(memoryview(blob)), mcuboot.OK)

    def test_policy(self):
        meta = mcuboot.ImageMeta()
        seen = set()
        for rec in IMAGES:
            if rec.get("parse") != "ok":
                continue
            self.assertEqual(meta.parse(_meta(rec)), mcuboot.OK)
            reason = mcuboot.ERROR_NAMES[_check(meta)]
            self.assertEqual(reason, rec["check"], rec["name"])
            seen.add(reason)
        for reason in ("ok", "rollback", "hw_id", "compat", "payload_type", "size"):
            self.assertIn(reason, seen)

    def test_keyhash(self):
        self.assertEqual(mcuboot.keyhash(KEY_A), _hex(KEYS["keyhash_a"]))
        meta = mcuboot.ImageMeta()
        for rec in IMAGES:
            if rec.get("parse") != "ok":
                continue
            meta.parse(_meta(rec))
            self.assertEqual(meta.keyhash == mcuboot.keyhash(KEY_A), rec["key_ok"], rec["name"])

    def test_digest(self):
        # the updater's hash: header, then the payload as it arrives, then the protected TLVs
        meta = mcuboot.ImageMeta()
        n = 0
        for rec in IMAGES:
            if rec.get("parse") != "ok" or rec["image"] is None:
                continue
            blob = _meta(rec)
            image = _hex(rec["image"])
            meta.parse(blob)
            payload_len = len(image) - len(blob)
            h = hashlib.sha256(meta.header_view(blob))
            for off in range(32, 32 + payload_len, 64):
                h.update(memoryview(image)[off:min(off + 64, 32 + payload_len)])
            h.update(meta.protected_view(blob))
            self.assertEqual(h.digest() == meta.digest, rec["digest_ok"], rec["name"])
            n += 1
        self.assertTrue(n > 20)

    def test_signature(self):
        if ed25519 is None:
            self.skipTest("cpsdi_fw.ed25519 not available")
        meta = mcuboot.ImageMeta()
        n = 0
        for rec in IMAGES:
            if rec.get("parse") != "ok" or not rec.get("sig_check"):
                continue
            meta.parse(_meta(rec))
            self.assertEqual(ed25519.verify(KEY_A, meta.digest, meta.signature), rec["sig_ok"], rec["name"])
            n += 1
        self.assertTrue(n >= 4)

    def test_every_tampered_image_is_refused_somewhere(self):
        # parse, policy, KEYHASH, signature or (at FINISH) digest: one of them says no
        accepted = []
        for rec in IMAGES:
            if rec.get("parse") != "ok":
                continue
            stages_ok = rec["check"] == "ok" and rec["key_ok"] and rec["sig_ok"] and rec.get("digest_ok", True)
            if stages_ok:
                accepted.append(rec["name"])
        self.assertEqual(sorted(accepted), sorted([
            "valid", "counter equal to floor", "counter above floor", "unprotected SEC_CNT injected (ignored)",
            "unprotected HW_ID injected (ignored)"]))

    def test_refusals_do_not_allocate(self):
        if not _HEAP_LOCK:
            self.skipTest("needs micropython.heap_lock")
        blob = bytearray(_meta(IMAGES[0]))
        bad_magic = bytearray(blob)
        bad_magic[3] ^= 0x80
        unknown = bytearray(blob)
        unknown[36] = 0xA7  # first protected TLV type
        meta = mcuboot.ImageMeta()
        cases = ((blob, 20), (bad_magic, len(blob)), (unknown, len(blob)), (blob, len(blob) + 1))
        results = []
        micropython.heap_lock()
        try:
            for buf, n in cases:
                results.append(meta.parse(buf, n))
        finally:
            micropython.heap_unlock()
        self.assertEqual(results, [mcuboot.ERR_BOUNDS, mcuboot.ERR_MAGIC, mcuboot.ERR_TLV_UNKNOWN,
                                   mcuboot.ERR_BOUNDS])

    def test_fw_compat_of(self):
        # sys.implementation._mpy = version | (sub | arch << 2) << 8
        self.assertEqual(mcuboot.fw_compat_of(6 | (3 | 4 << 2) << 8), b"mpy6.3 armv6m")
        self.assertEqual(mcuboot.fw_compat_of(6 | (3 | 10 << 2) << 8), b"mpy6.3 xtensawin")
        self.assertEqual(mcuboot.fw_compat_of(6 | 3 << 8), b"mpy6.3 none")
        self.assertEqual(mcuboot.fw_compat_of(6 | (3 | 40 << 2) << 8), b"mpy6.3 arch40")
        own = mcuboot.fw_compat()
        self.assertIsInstance(own, bytes)


class TestBundleVectors(unittest.TestCase):
    def test_parse(self):
        m = bundle_manifest.Manifest()
        ok = 0
        for rec in BUNDLES:
            data = _hex(rec["bundle"])
            err = m.parse(data)
            self.assertEqual(bundle_manifest.ERROR_NAMES[err], rec["parse"], rec["name"])
            if err != bundle_manifest.OK:
                self.assertEqual(m.count, 0)
                continue
            ok += 1
            self.assertEqual(m.count, len(rec["entries"]))
            for i, (path, size, digest, offset) in enumerate(rec["entries"]):
                self.assertEqual(m.path(i), path.encode())
                self.assertEqual(m.size(i), size)
                self.assertEqual(m.sha256(i), _hex(digest))
                self.assertEqual(m.data_offset(i), offset)
                self.assertEqual(hashlib.sha256(data[offset:offset + size]).digest(), _hex(digest))
        self.assertEqual(ok, 1)
        self.assertTrue(len(BUNDLES) > 10)

    def test_table_prefix_only(self):
        # the table can be checked before the data is there: buf holds the table, total the length
        data = _hex(BUNDLES[0]["bundle"])
        m = bundle_manifest.Manifest()
        table = m.parse(data) == bundle_manifest.OK and m.table_size
        self.assertTrue(table)
        self.assertEqual(m.parse(data[:table], -1, len(data)), bundle_manifest.OK)
        self.assertEqual(m.parse(data[:table - 1], -1, len(data)), bundle_manifest.ERR_BOUNDS)
        self.assertEqual(m.parse(data[:table], -1, len(data) + 1), bundle_manifest.ERR_BOUNDS)

    def test_payload_of_valid_image(self):
        rec = IMAGES[0]
        self.assertEqual(rec["name"], "valid")
        blob = _meta(rec)
        image = _hex(rec["image"])
        meta = mcuboot.ImageMeta()
        self.assertEqual(meta.parse(blob), mcuboot.OK)
        payload = image[32:32 + meta.img_size]
        m = bundle_manifest.Manifest()
        self.assertEqual(m.parse(payload, -1, meta.img_size), bundle_manifest.OK)
        self.assertEqual(m.count, 3)
        for i in range(m.count):
            off = m.data_offset(i)
            self.assertEqual(hashlib.sha256(payload[off:off + m.size(i)]).digest(), m.sha256(i))


if __name__ == "__main__":
    unittest.main()
