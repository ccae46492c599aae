"""Boot selector and the update state record (update-channel.md §4.4, §4.6; docs/update-channel.md).

**Slots.** ``hal.Storage`` has two slots; each holds one update image, laid out as::

    0      meta_len u16 LE | ~meta_len u16 LE     (0xFFFF 0xFFFF: erased, no image)
    4      metadata blob (meta_len <= 1024 bytes: header ‖ protected TLVs ‖ TLVs, mcuboot.py)
    1280   payload (img_size bytes: the application bundle)          PAYLOAD_OFF

The slot's image digest is recomputed from ``header ‖ payload ‖ protected TLVs`` and compared
with the signed SHA256 TLV (``verify_slot``). Besides the two slots there is the **factory**
image (``FACTORY``): the application frozen into the firmware with the updater, the selector
and the keys; it runs when no slot is usable.

**State record** (``State``), 64 bytes, little-endian, two copies (``Storage.RECORD_COPIES``)::

    0   magic "CPUS"      4   format u8 = 1    5   active u8 (0, 1, FACTORY 0xFF)
    6   pending u8 (0, 1, NONE 0xFF)           7   tries u8 (trial boots left)
    8   seq u32 (+1 at every save)             12  floor u32 (rollback floor: highest confirmed SEC_CNT)
    16  status of slot 0 u8, 17 of slot 1 u8   (EMPTY 0, RECEIVING 1, INSTALLED 2, BAD 3)
    18  session slot u8 (NONE: no transfer)    19  0
    20  next_off u32 (resume point: payload bytes durable in the session slot)
    24  session digest [32] (SHA256 TLV of the image being received)
    56  0 u32                                  60  CRC-32 of bytes 0..59

``State.load`` reads both copies and keeps the valid one (magic, format, CRC) with the highest
seq; ``State.save`` writes seq + 1 into the *other* copy. A power cut during a save leaves the
old copy intact and the new one invalid (bad CRC) or absent, so the next boot sees either the
whole old record or the whole new one: every state change of the update channel is one save,
hence atomic. No valid copy: a fresh device (active FACTORY, slots EMPTY, floor 0).

**Selection** (``select``), before the application runs:

1. a pending slot with tries > 0: tries - 1 is **saved before** the slot runs (a trial that
   hangs or resets still uses up its tries); the slot must verify (policy, KEYHASH, Ed25519
   signature — TOCTOU — and digest), else it is marked BAD and the pending mark dropped;
2. a pending slot with tries = 0 (the trial never confirmed itself): marked BAD, pending
   dropped (the automatic revert);
3. the active slot, if it verifies (policy and digest); else it is marked BAD and the
   factory image becomes active;
4. the factory image.

The application then runs; a trial confirms itself (``updater.Updater.start`` after its
self-test) or leaves the decision to the next boot.
"""

import hashlib

from cpsdi_proto.compat import const

from cpsdi_fw import mcuboot
from cpsdi_fw.byteorder import put_u32, u32

FACTORY = const(0xFF)  # "active": the image frozen into the firmware
NONE = const(0xFF)  # no pending slot / no session

EMPTY = const(0)
RECEIVING = const(1)
INSTALLED = const(2)
BAD = const(3)
STATUS_NAMES = ("empty", "receiving", "installed", "bad")

PAYLOAD_OFF = const(1280)
RECORD_SIZE = const(64)
TRIAL_TRIES = const(2)  # boots a trial image gets to confirm itself

# Reasons beyond mcuboot.ERR_* (1..20): what failed, for STATUS and the boot report
R_KEY = const(32)  # KEYHASH of no trusted key
R_SIGNATURE = const(33)  # Ed25519 signature does not verify
R_DIGEST = const(34)  # recomputed SHA-256 != the signed digest
R_MANIFEST = const(35)  # the bundle table is malformed
R_FILE = const(36)  # a file's SHA-256 does not match the bundle table
R_STORAGE = const(37)  # the storage failed (OSError)
R_STATE = const(38)  # command not allowed in this state
R_OFFSET = const(39)  # data past img_size, or FINISH before all data
R_LENGTH = const(40)  # payload length wrong for the command
R_PENDING = const(41)  # a trial is pending: confirm or roll back first
R_NO_SLOT = const(42)  # no installed image to roll back to
R_EMPTY = const(43)  # the slot holds no image (meta header erased / inconsistent)

REASON_NAMES = {
    R_KEY: "key", R_SIGNATURE: "signature", R_DIGEST: "digest", R_MANIFEST: "manifest", R_FILE: "file_digest",
    R_STORAGE: "storage", R_STATE: "state", R_OFFSET: "offset", R_LENGTH: "length", R_PENDING: "pending",
    R_NO_SLOT: "no_slot", R_EMPTY: "empty",
}

_MAGIC = b"CPUS"
_FORMAT = const(1)
_CRC_OFF = const(60)
_CHUNK = const(512)


def reason_name(code: int) -> str:
    """Name of a reason code (mcuboot.ERR_* or R_*), as the host's UpdateError.reason spells it."""
    if code in REASON_NAMES:
        return REASON_NAMES[code]
    return mcuboot.ERROR_NAMES.get(code, "code%d" % code)


def _crc32(buf, n: int) -> int:
    from cpsdi_proto.native import crc32

    return crc32(buf, 0, n)


class State:
    """The update state record (module docstring); ``load`` / ``save`` against a Storage."""

    def __init__(self) -> None:
        self._buf = bytearray(RECORD_SIZE)
        self.copy = -1  # copy holding the current record (-1: none yet)
        self.reset()

    def reset(self) -> None:
        """A fresh device's state (nothing saved)."""
        self.active = FACTORY
        self.pending = NONE
        self.tries = 0
        self.seq = 0
        self.floor = 0
        self.status = bytearray(2)
        self.session = NONE
        self.next_off = 0
        self.digest = bytearray(32)

    def clear_session(self) -> None:
        self.session = NONE
        self.next_off = 0
        for i in range(32):
            self.digest[i] = 0

    def _decode(self, b) -> bool:
        if b[0:4] != _MAGIC or b[4] != _FORMAT:
            return False
        if _crc32(b, _CRC_OFF) != u32(b, _CRC_OFF):
            return False
        if b[5] not in (0, 1, FACTORY) or b[6] not in (0, 1, NONE) or b[18] not in (0, 1, NONE):
            return False
        self.active = b[5]
        self.pending = b[6]
        self.tries = b[7]
        self.seq = u32(b, 8)
        self.floor = u32(b, 12)
        self.status[0] = b[16] if b[16] <= BAD else BAD
        self.status[1] = b[17] if b[17] <= BAD else BAD
        self.session = b[18]
        self.next_off = u32(b, 20)
        self.digest[0:32] = b[24:56]
        return True

    def encode(self, b) -> None:
        """The record bytes (64) of this state into ``b``."""
        for i in range(RECORD_SIZE):
            b[i] = 0
        b[0:4] = _MAGIC
        b[4] = _FORMAT
        b[5] = self.active
        b[6] = self.pending
        b[7] = self.tries
        put_u32(b, 8, self.seq)
        put_u32(b, 12, self.floor)
        b[16] = self.status[0]
        b[17] = self.status[1]
        b[18] = self.session
        put_u32(b, 20, self.next_off)
        b[24:56] = self.digest
        put_u32(b, _CRC_OFF, _crc32(b, _CRC_OFF))

    def load(self, storage) -> bool:
        """Read both copies and keep the newest valid one; False (and a fresh state) if none.
        Raises OSError if the storage fails."""
        self.reset()
        self.copy = -1
        best_seq = -1
        b = self._buf
        for copy in range(2):
            for i in range(RECORD_SIZE):
                b[i] = 0
            n = storage.read_record(copy, b)
            if n < RECORD_SIZE:
                continue
            seq = u32(b, 8)
            if b[0:4] == _MAGIC and b[4] == _FORMAT and _crc32(b, _CRC_OFF) == u32(b, _CRC_OFF) and seq > best_seq:
                best_seq = seq
                self.copy = copy
        if self.copy < 0:
            return False
        storage.read_record(self.copy, b)
        if not self._decode(b):
            self.reset()
            self.copy = -1
            return False
        return True

    def save(self, storage) -> None:
        """Write this state, seq + 1, over the older copy (atomic, module docstring). Raises OSError."""
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        target = 0 if self.copy != 0 else 1
        self.encode(self._buf)
        storage.write_record(target, self._buf, RECORD_SIZE)
        self.copy = target


def read_meta(storage, slot: int, blob, meta) -> int:
    """Read slot ``slot``'s metadata blob into ``blob`` (>= 1024 bytes) and parse it into ``meta``.
    Returns OK, R_EMPTY or an mcuboot ERR_*. Raises OSError."""
    hdr = bytearray(4)
    storage.read_into(slot, 0, hdr, 0, 4)
    n = hdr[0] | (hdr[1] << 8)
    if n != (~(hdr[2] | (hdr[3] << 8))) & 0xFFFF or n < mcuboot.HEADER_SIZE or n > mcuboot.MAX_METADATA:
        meta.clear()
        return R_EMPTY
    storage.read_into(slot, 4, blob, 0, n)
    return meta.parse(blob, n)


def write_meta(storage, slot: int, blob, n: int) -> None:
    """Write the slot header and metadata blob ``blob[0:n]`` into an erased slot. Raises OSError."""
    hdr = bytearray(4)
    hdr[0] = n & 0xFF
    hdr[1] = n >> 8
    hdr[2] = ~n & 0xFF
    hdr[3] = (~n >> 8) & 0xFF
    storage.write(slot, 0, hdr, 0, 4)
    storage.write(slot, 4, blob, 0, n)


def find_key(keys, keyhashes, meta):
    """The trusted key whose KEYHASH is the image's, or None."""
    for i in range(len(keys)):
        if keyhashes[i] == meta.keyhash:
            return keys[i]
    return None


def hash_payload(storage, slot: int, h, start: int, end: int, buf) -> None:
    """Feed payload bytes [start, end) of ``slot`` to hash ``h``, through ``buf``. Raises OSError."""
    mv = memoryview(buf)
    size = len(buf)
    off = start
    while off < end:
        n = end - off
        if n > size:
            n = size
        storage.read_into(slot, PAYLOAD_OFF + off, buf, 0, n)
        h.update(mv[0:n])
        off += n


def verify_slot(storage, slot: int, blob, meta, keys, keyhashes, hw_id, fw_compat, floor: int, max_img_size: int,
                check_signature: bool, verify=None) -> int:
    """Check the image in ``slot``: metadata, policy, [KEYHASH + Ed25519,] digest. OK or a reason.
    Never raises (a storage failure is R_STORAGE)."""
    try:
        err = read_meta(storage, slot, blob, meta)
        if err != mcuboot.OK:
            return err
        err = mcuboot.check(meta, hw_id, fw_compat, floor, max_img_size)
        if err != mcuboot.OK:
            return err
        if check_signature:
            key = find_key(keys, keyhashes, meta)
            if key is None:
                return R_KEY
            if verify is None:
                from cpsdi_fw import ed25519

                verify = ed25519.verify
            if not verify(key, meta.digest, meta.signature):
                return R_SIGNATURE
        h = hashlib.sha256(meta.header_view(blob))
        hash_payload(storage, slot, h, 0, meta.img_size, bytearray(_CHUNK))
        h.update(meta.protected_view(blob))
        if h.digest() != meta.digest:
            return R_DIGEST
    except OSError:
        return R_STORAGE
    return mcuboot.OK


class BootResult:
    """What ``select`` decided: the slot that runs and why."""

    def __init__(self) -> None:
        self.running = FACTORY  # 0, 1 or FACTORY
        self.trial = False  # running a pending (unconfirmed) image
        self.version = (0, 0, 0, 0)  # of the running slot's image; zeros for FACTORY
        self.sec_cnt = 0
        self.digest = b""
        self.reverted = NONE  # slot given up at this boot (trial exhausted or failed verification)
        self.reason = 0  # why (R_* / mcuboot ERR_*; 0: trial exhausted)
        self.state_ok = False  # a valid state record was found
        self.install_error = 0  # app_loader.start: why the slot's files could not be put in place

    def version_text(self, factory: str) -> str:
        """``major.minor.revision+build`` of the running image, or ``factory`` for the factory image."""
        if self.running == FACTORY:
            return factory
        v = self.version
        return "%d.%d.%d+%d" % (v[0], v[1], v[2], v[3])


def keyhashes_of(keys) -> list:
    """KEYHASH of each trusted key (computed once)."""
    out = []
    for k in keys:
        out.append(mcuboot.keyhash(k))
    return out


def select(storage, keys, hw_id, fw_compat, verify=None, state=None) -> BootResult:
    """Choose the image to run (module docstring); never raises. ``hw_id`` / ``fw_compat`` are bytes."""
    result = BootResult()
    if state is None:
        state = State()
    try:
        result.state_ok = state.load(storage)
    except OSError:
        state.reset()
        return result  # storage unreadable: factory image
    hashes = keyhashes_of(keys)
    blob = bytearray(mcuboot.MAX_METADATA)
    meta = mcuboot.ImageMeta()
    max_img = storage.slot_size - PAYLOAD_OFF
    try:
        if state.pending != NONE:
            slot = state.pending
            if state.tries == 0 or state.status[slot] != INSTALLED:
                state.status[slot] = BAD
                state.pending = NONE
                result.reverted = slot
                result.reason = 0 if state.tries == 0 else R_STATE
                state.save(storage)
            else:
                state.tries -= 1
                state.save(storage)  # before the trial runs
                err = verify_slot(storage, slot, blob, meta, keys, hashes, hw_id, fw_compat, state.floor, max_img,
                                  True, verify)
                if err == mcuboot.OK:
                    _running(result, slot, meta, True)
                    return result
                state.status[slot] = BAD
                state.pending = NONE
                state.tries = 0
                result.reverted = slot
                result.reason = err
                state.save(storage)
        slot = state.active
        if slot != FACTORY:
            err = verify_slot(storage, slot, blob, meta, keys, hashes, hw_id, fw_compat, state.floor, max_img,
                              False, verify)
            if err == mcuboot.OK:
                _running(result, slot, meta, False)
                return result
            state.status[slot] = BAD
            state.active = FACTORY
            result.reverted = slot
            result.reason = err
            state.save(storage)
    except OSError:
        pass
    return result


def _running(result: BootResult, slot: int, meta, trial: bool) -> None:
    result.running = slot
    result.trial = trial
    result.version = meta.version()
    result.sec_cnt = meta.sec_cnt
    result.digest = meta.digest
