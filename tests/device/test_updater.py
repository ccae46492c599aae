"""The update channel on the device: state record, updater (CD 10..16), boot selector, on a fake
storage that counts operations and can cut power. Runs on CPython and MicroPython-wasm
(`node tools/mpwasm/run.mjs --filter test_updater`) with the real Ed25519 verifier, except
the clearly marked ``TestWithVerifyStub`` unit tests.

Images: tests/vectors/update_channel.jsonl (signed flows) and update_images.jsonl (tamper).
"""

import unittest
from binascii import unhexlify

from _paths import read_jsonl
from cpsdi_fw import boot, mcuboot, updater
from cpsdi_proto import escape

CHANNEL = read_jsonl("update_channel.jsonl")
KEYS_REC = [r for r in CHANNEL if r["kind"] == "keys"][0]
KEY_A = unhexlify(KEYS_REC["public_key_a"])
HW_ID = b"sim"
COMPAT = b"mpy6.3 armv6m"
IMAGES = {}
for _r in CHANNEL:
    if _r["kind"] == "image":
        IMAGES[_r["name"]] = _r

CHUNK = 512  # data bytes per WRITE in these tests
BIG_SLOT = boot.PAYLOAD_OFF + 8192


class Cut(OSError):
    pass


class FakeStorage:
    """hal.Storage in memory; counts mutating operations; ``cut_after`` N: operation N+1 on fails."""

    RECORD_COPIES = 2
    RECORD_SIZE = 64

    def __init__(self, slot_size=BIG_SLOT, cut_after=-1):
        self.slot_size = slot_size
        self.slots = [bytearray(b"\xff" * slot_size), bytearray(b"\xff" * slot_size)]
        self.records = [None, None]
        self.ops = 0
        self.erases = 0
        self.writes = 0
        self.record_writes = 0
        self.cut_after = cut_after
        self.dead = False

    def _op(self):
        if self.dead:
            raise Cut("power off")
        self.ops += 1
        if 0 <= self.cut_after < self.ops:
            self.dead = True
            raise Cut("power cut")

    def reboot(self):
        s = FakeStorage(self.slot_size)
        s.slots = [bytearray(self.slots[0]), bytearray(self.slots[1])]
        s.records = [self.records[0], self.records[1]]
        return s

    def erase(self, slot):
        self._op()
        self.erases += 1
        a = self.slots[slot]
        for i in range(len(a)):
            a[i] = 0xFF

    def write(self, slot, offset, buf, start, end):
        self._op()
        self.writes += 1
        a = self.slots[slot]
        for i in range(end - start):
            a[offset + i] &= buf[start + i]

    def read_into(self, slot, offset, buf, start, n):
        if self.dead:
            raise Cut("power off")
        a = self.slots[slot]
        for i in range(n):
            buf[start + i] = a[offset + i]
        return n

    def read_record(self, copy, buf):
        if self.dead:
            raise Cut("power off")
        r = self.records[copy]
        if r is None:
            return 0
        for i in range(len(r)):
            buf[i] = r[i]
        return len(r)

    def write_record(self, copy, buf, n):
        self._op()
        self.record_writes += 1
        self.records[copy] = bytes(buf[0:n])


class Clock:
    def __init__(self):
        self.ms = 1000


def image(name):
    return unhexlify(IMAGES[name]["image"])


def meta_of(img, rec):
    n = rec["img_size"]
    return img[:32] + img[32 + n:]


def payload_of(img, rec):
    return img[32:32 + rec["img_size"]]


def _u32(b, o):
    return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)


def _le32(v):
    return bytes([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, (v >> 24) & 0xFF])


class Device:
    """One power-up of the reader: boot.select + Updater over ``storage``."""

    def __init__(self, storage, self_test=None, verify=None, resume_every=4, start=True):
        self.storage = storage
        self.boot = boot.select(storage, [KEY_A], HW_ID, COMPAT, verify=verify)
        self.u = updater.Updater(storage, self.boot, keys=[KEY_A], hw_id=HW_ID, fw_compat=COMPAT, verify=verify,
                                 self_test=self_test, resume_every=resume_every, session_timeout_ms=5000)
        self.clock = Clock()
        if start:
            self.u.start()

    def cmd(self, cmd, payload=b""):
        req = bytearray(payload)
        resp = bytearray(1100)
        r = self.u.handle(cmd, req, 0, len(req), resp, 0, 1022, self.clock.ms)
        if r < 0:
            return r, b""
        return r, bytes(resp[:r])

    def begin(self, name):
        rec = IMAGES[name]
        return self.cmd(escape.CMD_UPDATE_BEGIN, meta_of(image(name), rec))

    def send(self, name, start=0, stop=-1):
        """WRITE chunks from ``start`` to ``stop`` (img_size if < 0); returns the last answer."""
        rec = IMAGES[name]
        data = payload_of(image(name), rec)
        end = rec["img_size"] if stop < 0 else stop
        off = start
        r = (0, b"")
        while off < end:
            n = min(CHUNK, end - off)
            r = self.cmd(escape.CMD_UPDATE_WRITE, _le32(off) + data[off:off + n])
            if r[0] < 0:
                return r
            off = _u32(r[1], 0)
        return r

    def finish(self, flags=0):
        return self.cmd(escape.CMD_UPDATE_FINISH, bytes([flags]))

    def update(self, name):
        r = self.begin(name)
        assert r[0] == 9, r
        r = self.send(name, _u32(r[1], 0))
        assert r[0] >= 0, r
        return self.finish(updater.FLAG_REBOOT)


def status(dev):
    r, a = dev.cmd(escape.CMD_UPDATE_STATUS)
    assert r > 0
    return a


class TestStateRecord(unittest.TestCase):
    def test_round_trip_and_copies_alternate(self):
        s = FakeStorage()
        st = boot.State()
        self.assertFalse(st.load(s))
        st.floor = 7
        st.active = 1
        st.status[1] = boot.INSTALLED
        st.save(s)
        st.save(s)
        self.assertTrue(s.records[0] is not None and s.records[1] is not None)
        st2 = boot.State()
        self.assertTrue(st2.load(s))
        self.assertEqual((st2.floor, st2.active, st2.status[1], st2.seq), (7, 1, boot.INSTALLED, 2))

    def test_torn_copy_keeps_the_other(self):
        s = FakeStorage()
        st = boot.State()
        st.floor = 3
        st.save(s)  # seq 1
        old = st.copy
        st.floor = 9
        st.save(s)  # seq 2, the other copy
        new = st.copy
        self.assertEqual(old + new, 1)
        torn = bytearray(s.records[new])
        for i in range(32, 64):
            torn[i] = 0xFF
        s.records[new] = bytes(torn)
        st2 = boot.State()
        self.assertTrue(st2.load(s))
        self.assertEqual((st2.floor, st2.seq), (3, 1))
        st2.floor = 11
        st2.save(s)  # must overwrite the torn copy, not the good one
        self.assertEqual(st2.copy, new)
        st3 = boot.State()
        st3.load(s)
        self.assertEqual((st3.floor, st3.seq), (11, 2))

    def test_garbage_is_a_fresh_device(self):
        s = FakeStorage()
        s.records = [b"\x00" * 64, b"\xff" * 64]
        st = boot.State()
        self.assertFalse(st.load(s))
        self.assertEqual((st.active, st.pending, st.floor), (boot.FACTORY, boot.NONE, 0))


class TestUpdateFlow(unittest.TestCase):
    def test_fresh_device_update_trial_confirm(self):
        s = FakeStorage()
        d = Device(s)
        self.assertEqual(d.boot.running, boot.FACTORY)
        r, a = d.begin("v1")
        self.assertEqual(r, 9)
        self.assertEqual((_u32(a, 0), _u32(a, 4), a[8]), (0, IMAGES["v1"]["img_size"], 0))
        self.assertEqual(s.erases, 1)
        r, a = d.send("v1")
        self.assertEqual(_u32(a, 0), IMAGES["v1"]["img_size"])
        r, a = d.finish(updater.FLAG_REBOOT)
        self.assertEqual((r, a[0], a[1]), (2, 0, boot.TRIAL_TRIES))
        self.assertTrue(d.u.reboot_requested)
        # reboot: the trial runs, confirms itself
        d2 = Device(s.reboot())
        self.assertEqual((d2.boot.running, d2.boot.trial), (0, True))
        self.assertEqual(list(d2.boot.version), IMAGES["v1"]["version"])
        self.assertTrue(d2.u.confirmed_at_start)
        st = d2.u.state
        self.assertEqual((st.active, st.pending, st.floor), (0, boot.NONE, 5))
        # reboot again: plain boot of the active slot
        d3 = Device(d2.storage.reboot())
        self.assertEqual((d3.boot.running, d3.boot.trial), (0, False))
        a = status(d3)
        self.assertEqual((a[0], a[2], a[3], a[4]), (updater.STATUS_FORMAT, 0, 0, boot.NONE))
        self.assertEqual(_u32(a, 8), 5)
        # N -> N+1 goes to slot 1, floor rises only at confirm
        r, a = d3.update("v2")
        self.assertEqual(a[0], 1)
        self.assertEqual(d3.u.state.floor, 5)
        d4 = Device(d3.storage.reboot())
        self.assertEqual((d4.boot.running, d4.u.state.active, d4.u.state.floor), (1, 1, 6))

    def test_bad_image_never_confirms_reverts(self):
        s = FakeStorage()
        d = Device(s)
        d.update("v1")
        d = Device(d.storage.reboot())
        self.assertEqual(d.u.state.active, 0)
        d.update("v2")
        boots = []
        storage = d.storage
        for _ in range(boot.TRIAL_TRIES + 1):
            d = Device(storage.reboot(), self_test=lambda: False)
            boots.append((d.boot.running, d.boot.trial))
            storage = d.storage
            if not d.boot.trial:
                break
        self.assertEqual(boots, [(1, True)] * boot.TRIAL_TRIES + [(0, False)])
        self.assertEqual(d.boot.reverted, 1)
        st = d.u.state
        self.assertEqual((st.active, st.pending, st.status[1], st.floor), (0, boot.NONE, boot.BAD, 5))

    def test_offset_mismatch_answers_next_offset(self):
        d = Device(FakeStorage())
        d.begin("v1")
        writes = d.storage.writes
        r, a = d.cmd(escape.CMD_UPDATE_WRITE, _le32(100) + b"x" * 10)
        self.assertEqual((r, _u32(a, 0)), (4, 0))
        self.assertEqual(d.storage.writes, writes)
        r, a = d.cmd(escape.CMD_UPDATE_WRITE, _le32(0) + b"\xff" * (IMAGES["v1"]["img_size"] + 1))
        self.assertEqual(r, -escape.ERR_UPDATE_OFFSET)
        r, a = d.cmd(escape.CMD_UPDATE_WRITE, b"\x00\x00")
        self.assertEqual(r, -escape.ERR_BAD_LENGTH)

    def test_resume_after_reboot_rehashes_prefix(self):
        s = FakeStorage()
        d = Device(s)
        d.begin("v1")
        d.send("v1", 0, 9 * CHUNK + 100)  # 10 chunks: resume point saved after 4 and 8
        d2 = Device(s.reboot())
        r, a = d2.begin("v1")
        self.assertEqual((r, _u32(a, 0)), (9, 8 * CHUNK))
        self.assertEqual(d2.storage.erases, 0)
        d2.send("v1", _u32(a, 0))
        r, a = d2.finish()
        self.assertEqual(r, 2)
        self.assertEqual(d2.u.state.pending, 0)

    def test_same_session_reconnect_and_other_image_restarts(self):
        d = Device(FakeStorage())
        d.begin("v1")
        d.send("v1", 0, 3 * CHUNK)
        r, a = d.begin("v1")  # host reconnected: RAM session kept
        self.assertEqual(_u32(a, 0), 3 * CHUNK)
        r, a = d.begin("v2")  # another image: a new session
        self.assertEqual(_u32(a, 0), 0)
        self.assertEqual(d.storage.erases, 2)

    def test_finish_tamper_nothing_activated(self):
        for name, err, reason in (("flipped", escape.ERR_UPDATE_HASH, boot.R_DIGEST),
                                  ("bad_manifest", escape.ERR_UPDATE_FORMAT, boot.R_MANIFEST),
                                  ("bad_file", escape.ERR_UPDATE_HASH, boot.R_FILE)):
            d = Device(FakeStorage())
            r, a = d.begin(name)
            self.assertEqual(r, 9, name)
            d.send(name)
            r, a = d.finish(updater.FLAG_REBOOT)
            self.assertEqual(r, -err, name)
            self.assertEqual(d.u.last_error, reason, name)
            st = d.u.state
            self.assertEqual((st.pending, st.status[0], st.session), (boot.NONE, boot.EMPTY, boot.NONE), name)
            self.assertFalse(d.u.reboot_requested)
            d2 = Device(d.storage.reboot())
            self.assertEqual(d2.boot.running, boot.FACTORY, name)

    def test_finish_early_and_without_session(self):
        d = Device(FakeStorage())
        self.assertEqual(d.finish()[0], -escape.ERR_BAD_STATE)
        self.assertEqual(d.cmd(escape.CMD_UPDATE_WRITE, _le32(0) + b"a")[0], -escape.ERR_BAD_STATE)
        d.begin("v1")
        d.send("v1", 0, CHUNK)
        self.assertEqual(d.finish()[0], -escape.ERR_UPDATE_OFFSET)

    def test_downgrade_refused_after_confirm_nothing_erased(self):
        d = Device(FakeStorage())
        d.update("v2")
        d = Device(d.storage.reboot())
        self.assertEqual(d.u.state.floor, 6)
        ops = d.storage.ops
        r, a = d.begin("old")
        self.assertEqual(r, -escape.ERR_UPDATE_DOWNGRADE)
        self.assertEqual(d.u.last_error, mcuboot.ERR_ROLLBACK)
        self.assertEqual(d.storage.ops, ops)
        r, a = d.begin("v1")  # sec_cnt 5 < 6
        self.assertEqual(r, -escape.ERR_UPDATE_DOWNGRADE)

    def test_pending_trial_refuses_begin(self):
        d = Device(FakeStorage())
        d.update("v1")
        self.assertEqual(d.begin("v2")[0], -escape.ERR_BAD_STATE)
        self.assertEqual(d.u.last_error, boot.R_PENDING)
        # CONFIRM before the trial ran: refused
        self.assertEqual(d.cmd(escape.CMD_UPDATE_CONFIRM)[0], -escape.ERR_BAD_STATE)

    def test_host_confirm_and_rollback(self):
        d = Device(FakeStorage())
        d.update("v1")
        d = Device(d.storage.reboot())
        d.update("v2")
        d = Device(d.storage.reboot(), start=False)  # the trial of v2, not yet self-confirmed
        self.assertEqual((d.boot.running, d.boot.trial), (1, True))
        self.assertEqual(status(d)[1] & updater.ST_TRIAL, updater.ST_TRIAL)
        r, a = d.cmd(escape.CMD_UPDATE_CONFIRM)
        self.assertEqual((r, a[0], _u32(a, 1)), (5, 1, 6))
        self.assertEqual(d.cmd(escape.CMD_UPDATE_CONFIRM)[0], 5)  # idempotent
        # roll back to v1 (slot 0): refused, sec_cnt 5 < floor 6
        r, a = d.cmd(escape.CMD_UPDATE_ROLLBACK, b"\x00")
        self.assertEqual(r, -escape.ERR_UPDATE_DOWNGRADE)
        # v3 then roll back its trial by command
        d.update("v3")
        d = Device(d.storage.reboot(), start=False)
        self.assertEqual((d.boot.running, d.boot.trial), (0, True))
        r, a = d.cmd(escape.CMD_UPDATE_ROLLBACK, bytes([updater.FLAG_REBOOT]))
        self.assertEqual((r, a[0], a[1]), (2, 1, boot.NONE))
        self.assertTrue(d.u.reboot_requested)
        d = Device(d.storage.reboot())
        self.assertEqual((d.boot.running, d.u.state.status[0], d.u.state.floor), (1, boot.BAD, 6))

    def test_rollback_to_previous_installed_image(self):
        d = Device(FakeStorage())
        d.update("v1")
        d = Device(d.storage.reboot())
        d.update("small")  # sec_cnt 5, equal counter passes
        d = Device(d.storage.reboot())
        self.assertEqual(d.u.state.active, 1)
        r, a = d.cmd(escape.CMD_UPDATE_ROLLBACK, b"\x00")
        self.assertEqual((r, a[1]), (2, 0))
        d = Device(d.storage.reboot())
        self.assertEqual((d.boot.running, d.u.state.active), (0, 0))
        self.assertEqual(list(d.boot.version), IMAGES["v1"]["version"])

    def test_abort_and_timeout(self):
        d = Device(FakeStorage())
        d.begin("v1")
        d.send("v1", 0, 2 * CHUNK)
        self.assertEqual(d.cmd(escape.CMD_UPDATE_ABORT)[0], 0)
        self.assertEqual((d.u.state.session, d.u.state.status[0]), (boot.NONE, boot.EMPTY))
        self.assertEqual(d.cmd(escape.CMD_UPDATE_WRITE, _le32(2 * CHUNK) + b"a")[0], -escape.ERR_BAD_STATE)
        d.begin("v1")
        d.clock.ms += 6000  # idle beyond session_timeout_ms
        self.assertEqual(status(d)[1] & updater.ST_SESSION, 0)
        self.assertEqual(d.cmd(escape.CMD_UPDATE_WRITE, _le32(0) + b"a")[0], -escape.ERR_BAD_STATE)

    def test_status_layout(self):
        d = Device(FakeStorage())
        a = status(d)
        self.assertEqual(len(a), updater.STATUS_FIXED + 1 + len(COMPAT) + 1 + 32)
        self.assertEqual(a[2], boot.FACTORY)
        self.assertEqual(_u32(a, 20), BIG_SLOT - boot.PAYLOAD_OFF)
        q = updater.STATUS_FIXED
        self.assertEqual(bytes(a[q + 1:q + 1 + a[q]]), COMPAT)
        q += 1 + a[q]
        self.assertEqual((a[q], bytes(a[q + 1:q + 33])), (1, KEY_A))
        self.assertEqual(d.cmd(escape.CMD_UPDATE_STATUS, b"x")[0], -escape.ERR_BAD_LENGTH)

    def test_storage_failure_is_an_error_not_an_exception(self):
        s = FakeStorage(cut_after=2)  # record + erase, then the metadata write fails
        d = Device(s)
        r, a = d.begin("v1")
        self.assertEqual(r, -escape.ERR_UPDATE_STORAGE)
        self.assertEqual(d.u.last_error, boot.R_STORAGE)


class TestTamperAtBegin(unittest.TestCase):
    """Every update_images.jsonl metadata blob through BEGIN with the real verifier: refused for
    the vector's reason, and no storage operation before the metadata is verified."""

    def test_vectors(self):
        recs = read_jsonl("update_images.jsonl")
        keys = [r for r in recs if r["kind"] == "keys"][0]
        key_a = unhexlify(keys["public_key_a"])
        self.assertEqual(key_a, KEY_A)
        policy = keys["policy"]
        slot = boot.PAYLOAD_OFF + policy["max_img_size"]
        seen = {}
        finished = {}
        accepted = 0
        for rec in recs:
            if rec["kind"] != "image" or rec["meta"] is None:
                continue
            blob = unhexlify(rec["meta"]) if rec["meta"] else b""
            s = FakeStorage(slot)
            st = boot.State()
            st.floor = policy["floor"]
            st.save(s)
            ops = s.ops
            d = Device(s)
            r, a = d.cmd(escape.CMD_UPDATE_BEGIN, blob)
            if rec["parse"] != "ok":
                want = -escape.ERR_BAD_LENGTH if len(blob) < 32 or len(blob) > 1024 else -escape.ERR_UPDATE_FORMAT
                self.assertEqual(r, want, rec["name"])
                if want == -escape.ERR_UPDATE_FORMAT:
                    self.assertEqual(boot.reason_name(d.u.last_error), rec["parse"], rec["name"])
                why = rec["parse"]
            elif not rec["key_ok"]:
                self.assertEqual((r, d.u.last_error), (-escape.ERR_UPDATE_SIGNATURE, boot.R_KEY), rec["name"])
                why = "key"
            elif not rec["sig_ok"]:
                self.assertEqual((r, d.u.last_error), (-escape.ERR_UPDATE_SIGNATURE, boot.R_SIGNATURE), rec["name"])
                why = "signature"
            elif rec["check"] != "ok":
                want = escape.ERR_UPDATE_DOWNGRADE if rec["check"] == "rollback" else escape.ERR_UPDATE_BOARD
                self.assertEqual(r, -want, rec["name"])
                self.assertEqual(boot.reason_name(d.u.last_error), rec["check"], rec["name"])
                why = rec["check"]
            else:
                self.assertEqual(r, 9, rec["name"])
                accepted += 1
                if rec["image"]:  # the transfer, then FINISH decides on the digest
                    whole = unhexlify(rec["image"])
                    n = rec["fields"]["img_size"]
                    payload = whole[32:32 + n]
                    if len(whole) - n != len(blob):
                        continue  # a truncated image: its payload is not the one the blob describes
                    r, a = d.cmd(escape.CMD_UPDATE_WRITE, _le32(0) + payload)
                    self.assertEqual((r, _u32(a, 0)), (4, n), rec["name"])
                    r, a = d.cmd(escape.CMD_UPDATE_FINISH, b"\x00")
                    if rec["digest_ok"]:
                        self.assertEqual(r, 2, rec["name"])
                        finished["ok"] = finished.get("ok", 0) + 1
                    else:
                        self.assertEqual((r, d.u.last_error), (-escape.ERR_UPDATE_HASH, boot.R_DIGEST), rec["name"])
                        self.assertEqual(d.u.state.pending, boot.NONE, rec["name"])
                        finished["digest"] = finished.get("digest", 0) + 1
                continue
            self.assertEqual(s.ops, ops, rec["name"] + ": storage touched before verification")
            seen[why] = seen.get(why, 0) + 1
        for reason in ("bounds", "magic", "header", "tlv_info", "tlv_unknown", "tlv_dup", "tlv_len", "tlv_value",
                       "tlv_forbidden", "trailing", "missing", "payload_type", "hw_id", "compat", "size", "rollback",
                       "key", "signature"):
            self.assertTrue(reason in seen, reason)
        self.assertTrue(accepted >= 3)
        self.assertTrue(finished.get("ok", 0) >= 3 and finished.get("digest", 0) >= 10, finished)


class TestWithVerifyStub(unittest.TestCase):
    """UNIT TESTS WITH A VERIFY STUB (not the real Ed25519): only the updater's handling of the
    verifier's answer; every other test in this module runs the real cpsdi_fw.ed25519."""

    def test_stub_false_refuses_stub_true_accepts(self):
        calls = []

        def no(key, msg, sig):
            calls.append(bytes(msg))
            return False

        d = Device(FakeStorage(), verify=no)
        r, a = d.begin("v1")
        self.assertEqual((r, d.u.last_error, d.storage.ops), (-escape.ERR_UPDATE_SIGNATURE, boot.R_SIGNATURE, 0))
        self.assertEqual(calls, [unhexlify(IMAGES["v1"]["digest"])])
        d2 = Device(FakeStorage(), verify=lambda k, m, s: True)
        self.assertEqual(d2.begin("v1")[0], 9)

    def test_boot_checks_signature_of_trial_only(self):
        d = Device(FakeStorage())
        d.update("v1")
        d2 = Device(d.storage.reboot(), verify=lambda k, m, s: False)  # trial boot: signature checked
        self.assertEqual((d2.boot.running, d2.boot.reverted, d2.boot.reason), (boot.FACTORY, 0, boot.R_SIGNATURE))


if __name__ == "__main__":
    unittest.main()


def _tmp_folder(name):
    import os

    base = "/tmp"
    try:
        os.mkdir(base)
    except OSError:
        pass
    folder = base + "/cpsdi-" + name
    try:
        for f in os.listdir(folder):
            os.remove(folder + "/" + f)
    except OSError:
        pass
    return folder


class TestFileStorage(unittest.TestCase):
    """hal.FileStorage (littlefs-style files): the whole update flow, reboots included."""

    def test_update_trial_confirm_on_files(self):
        from cpsdi_fw.hal import FileStorage

        folder = _tmp_folder("filestorage")
        s = FileStorage(folder, BIG_SLOT)
        d = Device(s)
        self.assertEqual(d.boot.running, boot.FACTORY)
        r, a = d.begin("v1")
        self.assertEqual(r, 9)
        d.send("v1", 0, 3 * CHUNK)
        d = Device(FileStorage(folder, BIG_SLOT))  # power cycle mid-transfer: resume from the record
        r, a = d.begin("v1")
        self.assertEqual((r, _u32(a, 0)), (9, 0))  # resume point every 4 chunks: none saved yet
        d.send("v1", 0)
        self.assertEqual(d.finish(updater.FLAG_REBOOT)[0], 2)
        d = Device(FileStorage(folder, BIG_SLOT))
        self.assertEqual((d.boot.running, d.boot.trial, d.u.state.active, d.u.state.floor), (0, True, 0, 5))
        buf = bytearray(8)
        self.assertEqual(s.read_into(1, 0, buf, 0, 8), 8)
        self.assertEqual(bytes(buf), b"\xff" * 8)  # never-written slot reads erased
