"""The update channel, device side: vendor Escapes CD 10..16 (protocol/README.md §3.1).

``Updater.handle(cmd, req, off, n, resp, p, room, now_ms)`` serves one command whose payload
is ``req[off:off+n]`` and writes the answer payload at ``resp[p:]`` (at most ``room`` bytes);
it returns the answer length, or ``-bError`` (``escape.ERR_*``) on failure, and never raises
on host input (a storage failure is ERR_UPDATE_STORAGE). The reason of the last refusal (an
``mcuboot.ERR_*`` or ``boot.R_*`` code) is kept for STATUS (``last_error``).

* **BEGIN** (metadata blob): parse (``mcuboot.ImageMeta``), KEYHASH among the trusted keys,
  Ed25519 over the signed digest, policy (board, FW_COMPAT, size, SEC_CNT >= floor) —
  **before anything is written**. A trial still pending refuses (confirm or roll back first).
  Then, for the inactive slot: the same image already received in part (the state record's
  session digest) resumes: the written prefix is hashed again from storage and the answer
  gives the resume offset; the same image already installed there answers img_size (only
  FINISH is left); otherwise a new session: one state save (slot RECEIVING, session digest,
  next_off 0), the slot erased, the metadata written to it.
* **WRITE** (u32 offset, data): only at ``offset == next_off`` (else nothing is written and
  the answer names the expected offset); the data are programmed and hashed, then answered
  (durable: ``Storage.write`` returns after the data are); every ``resume_every`` chunks and
  at the last one, next_off is saved in the state record (the resume point).
* **FINISH** (flags): every byte received; SHA-256 of header ‖ payload ‖ protected TLVs must
  equal the signed digest; the bundle table must parse and every file's SHA-256 match; then
  ONE state save: slot INSTALLED, pending = slot, tries = TRIAL_TRIES, session closed. Flag
  01: reboot once the answer is out (``reboot_requested``; the board resets).
* **STATUS**: slots, state, session, limits, trusted keys (protocol/README.md §3.1).
* **CONFIRM**: the running trial becomes active, floor = max(floor, its SEC_CNT) — the only
  place the floor rises. Idempotent once confirmed; refused while the pending image has not
  booted yet (confirming an untested image could brick, smpmgr's warning).
* **ROLLBACK** (flags): a pending trial is marked BAD and dropped (the next boot runs the
  active image); with no trial pending, the other slot, if INSTALLED and SEC_CNT >= floor,
  becomes a trial (it must confirm itself). Flag 01: reboot after the answer.
* **ABORT**: the session is dropped and its slot marked EMPTY.

Inactivity: a session without a command for ``session_timeout_ms`` is closed (the RAM part:
the running hash); its resume point stays in the state record, so a later BEGIN resumes.

``start()`` runs once the application is up: a trial image runs its self-test (the board's
``self_test`` hook) and confirms itself, or asks for a reboot (the next boot uses up a try).
"""

import hashlib

from cpsdi_proto import escape
from cpsdi_proto.compat import const

from cpsdi_fw import boot, bundle_manifest, mcuboot
from cpsdi_fw.byteorder import put_u32, u32
from cpsdi_fw.hal import ticks_diff

STATUS_FORMAT = escape.UPDATE_STATUS_FORMAT
STATUS_FIXED = escape.UPDATE_STATUS_FIXED  # bytes before fw_compat / keys in the STATUS answer
FLAG_REBOOT = escape.UPDATE_FLAG_REBOOT  # FINISH / ROLLBACK: reboot once the answer is out
# STATUS flags
ST_SESSION = escape.UPDATE_ST_SESSION  # a transfer session is open (BEGIN accepted, RAM hash running)
ST_TRIAL = escape.UPDATE_ST_TRIAL  # the running image is an unconfirmed trial
ST_REBOOT = escape.UPDATE_ST_REBOOT  # a reboot is pending (after this answer)
ST_STATE_OK = escape.UPDATE_ST_STATE_OK  # a valid state record exists (else: fresh device)
MAX_TABLE = const(16384)  # largest bundle table FINISH reads into RAM
SESSION_TIMEOUT_MS = const(60000)
RESUME_EVERY = const(16)  # chunks between resume-point saves

_CHUNK = const(512)


def _put_version(b, o: int, meta) -> None:
    b[o] = meta.major
    b[o + 1] = meta.minor
    b[o + 2] = meta.revision & 0xFF
    b[o + 3] = meta.revision >> 8
    put_u32(b, o + 4, meta.build)


class Updater:
    """Device end of the update channel (module docstring).

    ``keys``: trusted Ed25519 public keys (32 bytes each); ``hw_id`` / ``fw_compat``: bytes
    (the board's NAME, ``mcuboot.fw_compat()``); ``boot_result``: what ``boot.select`` chose;
    ``verify``: the signature verifier (``ed25519.verify``; tests may pass a stub);
    ``self_test``: a callable returning True when the application works (None: True).
    """

    def __init__(self, storage, boot_result, *, keys, hw_id, fw_compat, verify=None, self_test=None,
                 session_timeout_ms: int = SESSION_TIMEOUT_MS, resume_every: int = RESUME_EVERY,
                 trial_tries: int = boot.TRIAL_TRIES) -> None:
        self.storage = storage
        self.boot = boot_result
        self.keys = list(keys)
        self.keyhashes = boot.keyhashes_of(self.keys)
        self.hw_id = bytes(hw_id)
        self.fw_compat = bytes(fw_compat)
        if verify is None:
            from cpsdi_fw import ed25519

            verify = ed25519.verify
        self.verify = verify
        self.self_test = self_test
        self.session_timeout_ms = session_timeout_ms
        self.resume_every = resume_every if resume_every > 0 else 1
        self.trial_tries = trial_tries if trial_tries > 0 else 1
        self.max_img_size = storage.slot_size - boot.PAYLOAD_OFF
        self.state = boot.State()
        self.meta = mcuboot.ImageMeta()  # the open session's image
        self._blob = bytearray(mcuboot.MAX_METADATA)
        self._in_meta = mcuboot.ImageMeta()  # a BEGIN being checked (swapped in when accepted)
        self._in_blob = bytearray(mcuboot.MAX_METADATA)
        self._slot_meta = [mcuboot.ImageMeta(), mcuboot.ImageMeta()]
        self._scratch = bytearray(mcuboot.MAX_METADATA)  # slot metadata (the session's blob is _blob)
        self._buf = bytearray(_CHUNK)
        self._hash = None  # running SHA-256 of the open session (None: no session)
        self._slot = boot.NONE
        self._next_off = 0
        self._chunks = 0
        self._last_ms = 0
        self.last_error = 0
        self.last_cmd = 0
        self.reboot_requested = False
        self.confirmed_at_start = False
        self._reload()

    # -- state --------------------------------------------------------------------------
    def _reload(self) -> None:
        try:
            self.state.load(self.storage)
        except OSError:
            self.state.reset()
        for slot in range(2):
            self._refresh_slot(slot)

    def _refresh_slot(self, slot: int) -> None:
        m = self._slot_meta[slot]
        try:
            if boot.read_meta(self.storage, slot, self._scratch, m) != mcuboot.OK:
                m.clear()
        except OSError:
            m.clear()

    def _close(self) -> None:
        self._hash = None
        self._slot = boot.NONE
        self._next_off = 0
        self._chunks = 0

    def session_open(self, now_ms: int) -> bool:
        """True if a session is open; closes it first if it was idle for too long."""
        if self._hash is None:
            return False
        if ticks_diff(now_ms, self._last_ms) > self.session_timeout_ms:
            self._close()
            return False
        return True

    def inactive_slot(self) -> int:
        """The slot a new image goes to: the one that is not active (slot 0 under the factory image)."""
        a = self.state.active
        return 0 if a == boot.FACTORY else 1 - a

    # -- dispatch -------------------------------------------------------------------------
    def handle(self, cmd: int, req, off: int, n: int, resp, p: int, room: int, now_ms: int = 0) -> int:
        """Serve CD ``cmd`` (module docstring); answer length or -bError. Never raises."""
        self.session_open(now_ms)  # expire an idle session
        self.last_cmd = cmd
        try:
            if cmd == escape.CMD_UPDATE_WRITE:
                r = self._write(req, off, n, resp, p)
            elif cmd == escape.CMD_UPDATE_BEGIN:
                r = self._begin(req, off, n, resp, p)
            elif cmd == escape.CMD_UPDATE_FINISH:
                r = self._finish(req, off, n, resp, p)
            elif cmd == escape.CMD_UPDATE_STATUS:
                r = self._status(n, resp, p, room, now_ms)
            elif cmd == escape.CMD_UPDATE_CONFIRM:
                r = self._confirm_cmd(n, resp, p)
            elif cmd == escape.CMD_UPDATE_ROLLBACK:
                r = self._rollback(req, off, n, resp, p)
            elif cmd == escape.CMD_UPDATE_ABORT:
                r = self._abort(n)
            else:
                return -escape.ERR_UNKNOWN_COMMAND
        except OSError:
            self._close()
            self._reload()
            self.last_error = boot.R_STORAGE
            return -escape.ERR_UPDATE_STORAGE
        if self._hash is not None:
            self._last_ms = now_ms
        return r

    def _refuse(self, reason: int, error: int) -> int:
        self.last_error = reason
        return -error

    # -- BEGIN ------------------------------------------------------------------------------
    def _begin(self, req, off: int, n: int, resp, p: int) -> int:
        if n < mcuboot.HEADER_SIZE or n > mcuboot.MAX_METADATA:
            return self._refuse(boot.R_LENGTH, escape.ERR_BAD_LENGTH)
        st = self.state
        if st.pending != boot.NONE:
            return self._refuse(boot.R_PENDING, escape.ERR_BAD_STATE)
        blob = self._in_blob
        for i in range(n):
            blob[i] = req[off + i]
        meta = self._in_meta
        err = meta.parse(blob, n)
        if err != mcuboot.OK:
            return self._refuse(err, escape.ERR_UPDATE_FORMAT)
        key = boot.find_key(self.keys, self.keyhashes, meta)
        if key is None:
            return self._refuse(boot.R_KEY, escape.ERR_UPDATE_SIGNATURE)
        if not self.verify(key, meta.digest, meta.signature):
            return self._refuse(boot.R_SIGNATURE, escape.ERR_UPDATE_SIGNATURE)
        err = mcuboot.check(meta, self.hw_id, self.fw_compat, st.floor, self.max_img_size)
        if err == mcuboot.ERR_ROLLBACK:
            return self._refuse(err, escape.ERR_UPDATE_DOWNGRADE)
        if err != mcuboot.OK:
            return self._refuse(err, escape.ERR_UPDATE_BOARD)
        # verified: from here on storage may change
        slot = self.inactive_slot()
        if self._hash is not None and self._slot == slot and st.digest == meta.digest:
            nxt = self._next_off  # the same session, still open (a host that reconnected)
            self.last_error = 0
            put_u32(resp, p, nxt)
            put_u32(resp, p + 4, meta.img_size)
            resp[p + 8] = slot
            return 9
        self._close()
        self._blob, self._in_blob = blob, self._blob
        self.meta, self._in_meta = meta, self.meta
        h = hashlib.sha256(meta.header_view(blob))
        self._refresh_slot(slot)  # what the slot holds now (its metadata went in right after the erase)
        if st.session == slot and st.status[slot] == boot.RECEIVING and st.digest == meta.digest \
                and st.next_off <= meta.img_size and self._slot_meta[slot].digest == meta.digest:
            nxt = st.next_off
            boot.hash_payload(self.storage, slot, h, 0, nxt, self._buf)  # re-hash the durable prefix
        elif st.status[slot] == boot.INSTALLED and self._slot_meta[slot].digest == meta.digest:
            nxt = meta.img_size  # already here: only FINISH is left (it verifies everything again)
            boot.hash_payload(self.storage, slot, h, 0, nxt, self._buf)
            st.status[slot] = boot.RECEIVING
            st.session = slot
            st.digest[0:32] = meta.digest
            st.next_off = nxt
            st.save(self.storage)
        else:
            nxt = 0
            st.status[slot] = boot.RECEIVING
            st.session = slot
            st.digest[0:32] = meta.digest
            st.next_off = 0
            st.save(self.storage)
            self._slot_meta[slot].clear()
            self.storage.erase(slot)
            boot.write_meta(self.storage, slot, blob, n)
        self._hash = h
        self._slot = slot
        self._next_off = nxt
        self._chunks = 0
        self.last_error = 0
        put_u32(resp, p, nxt)
        put_u32(resp, p + 4, meta.img_size)
        resp[p + 8] = slot
        return 9

    # -- WRITE ------------------------------------------------------------------------------
    def _write(self, req, off: int, n: int, resp, p: int) -> int:
        if n < 4:
            return self._refuse(boot.R_LENGTH, escape.ERR_BAD_LENGTH)
        h = self._hash
        if h is None:
            return self._refuse(boot.R_STATE, escape.ERR_BAD_STATE)
        at = u32(req, off)
        count = n - 4
        nxt = self._next_off
        if at == nxt and count > 0:
            if nxt + count > self.meta.img_size:
                return self._refuse(boot.R_OFFSET, escape.ERR_UPDATE_OFFSET)
            start = off + 4
            self.storage.write(self._slot, boot.PAYLOAD_OFF + nxt, req, start, start + count)
            h.update(memoryview(req)[start:start + count])
            nxt += count
            self._next_off = nxt
            self._chunks += 1
            if self._chunks >= self.resume_every or nxt == self.meta.img_size:
                self._chunks = 0
                st = self.state
                st.next_off = nxt
                st.save(self.storage)
        put_u32(resp, p, nxt)
        return 4

    # -- FINISH -----------------------------------------------------------------------------
    def _finish(self, req, off: int, n: int, resp, p: int) -> int:
        if n != 1:
            return self._refuse(boot.R_LENGTH, escape.ERR_BAD_LENGTH)
        flags = req[off]
        h = self._hash
        if h is None:
            return self._refuse(boot.R_STATE, escape.ERR_BAD_STATE)
        meta = self.meta
        if self._next_off != meta.img_size:
            return self._refuse(boot.R_OFFSET, escape.ERR_UPDATE_OFFSET)
        slot = self._slot
        st = self.state
        h.update(meta.protected_view(self._blob))
        self._hash = None  # digest() finalises it
        err = 0
        if h.digest() != meta.digest:
            err = boot.R_DIGEST
        else:
            err = self._check_files(slot, meta.img_size)
        if err:
            self._close()
            st.status[slot] = boot.EMPTY
            st.clear_session()
            st.save(self.storage)
            self._slot_meta[slot].clear()
            self.last_error = err
            return -(escape.ERR_UPDATE_FORMAT if err == boot.R_MANIFEST else escape.ERR_UPDATE_HASH)
        st.status[slot] = boot.INSTALLED
        st.pending = slot
        st.tries = self.trial_tries
        st.clear_session()
        st.save(self.storage)  # the one atomic switch to the trial
        self._close()
        self._refresh_slot(slot)
        self.last_error = 0
        if flags & FLAG_REBOOT:
            self.reboot_requested = True
        resp[p] = slot
        resp[p + 1] = st.tries
        return 2

    def _check_files(self, slot: int, total: int) -> int:
        """Bundle table and per-file SHA-256 of the payload in ``slot``: 0 or R_MANIFEST / R_FILE."""
        head = self._buf
        if total < bundle_manifest.HEADER_SIZE:
            return boot.R_MANIFEST
        self.storage.read_into(slot, boot.PAYLOAD_OFF, head, 0, bundle_manifest.HEADER_SIZE)
        table = u32(head, 8)
        if table < bundle_manifest.HEADER_SIZE or table > MAX_TABLE or table > total:
            return boot.R_MANIFEST
        tbl = bytearray(table)
        self.storage.read_into(slot, boot.PAYLOAD_OFF, tbl, 0, table)
        m = bundle_manifest.Manifest()
        if m.parse(tbl, table, total) != bundle_manifest.OK:
            return boot.R_MANIFEST
        for i in range(m.count):
            h = hashlib.sha256()
            start = m.data_offset(i)
            boot.hash_payload(self.storage, slot, h, start, start + m.size(i), self._buf)
            if h.digest() != m.sha256(i):
                return boot.R_FILE
        return 0

    # -- STATUS -----------------------------------------------------------------------------
    def _status(self, n: int, resp, p: int, room: int, now_ms: int) -> int:
        if n != 0:
            return self._refuse(boot.R_LENGTH, escape.ERR_BAD_LENGTH)
        st = self.state
        size = STATUS_FIXED + 1 + len(self.fw_compat) + 1 + 32 * len(self.keys)
        if size > room:
            return self._refuse(boot.R_LENGTH, escape.ERR_BAD_LENGTH)
        for i in range(STATUS_FIXED):
            resp[p + i] = 0
        flags = 0
        open_ = self.session_open(now_ms)
        if open_:
            flags |= ST_SESSION
        if self.boot.trial and st.pending == self.boot.running:
            flags |= ST_TRIAL
        if self.reboot_requested:
            flags |= ST_REBOOT
        if st.copy >= 0:
            flags |= ST_STATE_OK
        resp[p] = STATUS_FORMAT
        resp[p + 1] = flags
        resp[p + 2] = self.boot.running
        resp[p + 3] = st.active
        resp[p + 4] = st.pending
        resp[p + 5] = st.tries
        resp[p + 6] = self.last_error
        resp[p + 7] = self.last_cmd
        put_u32(resp, p + 8, st.floor)
        put_u32(resp, p + 12, self._next_off if open_ else st.next_off)
        put_u32(resp, p + 16, self.meta.img_size if open_ else 0)
        put_u32(resp, p + 20, self.max_img_size)
        resp[p + 24] = st.session
        resp[p + 25] = self.trial_tries
        resp[p + 28:p + 60] = st.digest
        for slot in range(2):
            o = p + 60 + 19 * slot
            m = self._slot_meta[slot]
            resp[o] = st.status[slot]
            _put_version(resp, o + 1, m)
            put_u32(resp, o + 9, m.sec_cnt)
            put_u32(resp, o + 13, m.img_size)
            resp[o + 17] = 1 if m.size else 0
        q = p + STATUS_FIXED
        c = self.fw_compat
        resp[q] = len(c)
        resp[q + 1:q + 1 + len(c)] = c
        q += 1 + len(c)
        resp[q] = len(self.keys)
        q += 1
        for k in self.keys:
            resp[q:q + 32] = k
            q += 32
        return q - p

    # -- CONFIRM / ROLLBACK / ABORT ----------------------------------------------------------
    def confirm(self) -> int:
        """Make the running trial the active image and raise the floor; 0 or a reason (R_*)."""
        st = self.state
        running = self.boot.running
        if st.pending == boot.NONE:
            return 0 if running == st.active else boot.R_STATE
        if not self.boot.trial or st.pending != running:
            return boot.R_STATE  # the pending image has not run yet
        sec_cnt = self.boot.sec_cnt
        st.active = running
        st.pending = boot.NONE
        st.tries = 0
        if sec_cnt > st.floor:
            st.floor = sec_cnt
        st.save(self.storage)
        return 0

    def _confirm_cmd(self, n: int, resp, p: int) -> int:
        if n != 0:
            return self._refuse(boot.R_LENGTH, escape.ERR_BAD_LENGTH)
        err = self.confirm()
        if err:
            return self._refuse(err, escape.ERR_BAD_STATE)
        resp[p] = self.state.active
        put_u32(resp, p + 1, self.state.floor)
        return 5

    def _rollback(self, req, off: int, n: int, resp, p: int) -> int:
        if n != 1:
            return self._refuse(boot.R_LENGTH, escape.ERR_BAD_LENGTH)
        flags = req[off]
        st = self.state
        if st.pending != boot.NONE:
            st.status[st.pending] = boot.BAD
            st.pending = boot.NONE
            st.tries = 0
            st.save(self.storage)
        else:
            if self._hash is not None:
                return self._refuse(boot.R_STATE, escape.ERR_BAD_STATE)
            other = self.inactive_slot()
            m = self._slot_meta[other]
            if st.active == boot.FACTORY or st.status[other] != boot.INSTALLED or not m.size:
                return self._refuse(boot.R_NO_SLOT, escape.ERR_BAD_STATE)
            if m.sec_cnt < st.floor:
                return self._refuse(mcuboot.ERR_ROLLBACK, escape.ERR_UPDATE_DOWNGRADE)
            st.pending = other
            st.tries = self.trial_tries
            st.save(self.storage)
        if flags & FLAG_REBOOT:
            self.reboot_requested = True
        resp[p] = st.active
        resp[p + 1] = st.pending
        return 2

    def _abort(self, n: int) -> int:
        if n != 0:
            return self._refuse(boot.R_LENGTH, escape.ERR_BAD_LENGTH)
        self._close()
        st = self.state
        if st.session != boot.NONE:
            slot = st.session
            st.status[slot] = boot.EMPTY
            st.clear_session()
            st.save(self.storage)
        return 0

    # -- after boot ------------------------------------------------------------------------------
    def start(self) -> None:
        """Once the application is up: a trial runs its self-test, then confirms or asks for a reboot."""
        if not self.boot.trial:
            return
        ok = True
        if self.self_test is not None:
            try:
                ok = bool(self.self_test())
            except Exception:
                ok = False
        if not ok:
            self.reboot_requested = True
            return
        try:
            if self.confirm() == 0:
                self.confirmed_at_start = True
        except OSError:
            self._reload()
