"""Host end of the update channel: push a signed image to a reader over vendor Escapes CD 10..16
(protocol/README.md §3.1, docs/update-channel.md).

:func:`update` refuses before sending any byte of the image whatever the host can tell from
the image and the reader's STATUS (malformed image, digest mismatch, unknown key, bad
signature, wrong board, FW_COMPAT, too large, security counter below the reader's floor, a
trial still pending), then BEGIN (the metadata: the reader verifies it before erasing
anything), WRITE chunks stop-and-wait from the offset the reader gives (a resumed transfer
continues where the reader's durable resume point is), FINISH (the reader verifies the digest
and every file, switches to a trial and reboots), then waits for the trial boot and its
confirmation (by the device's self-test, or by the host with ``confirm="host"``); an image
that never confirms is reverted by the reader and raises ``UpdateError`` (reason
``reverted``).

Errors: one hierarchy (``cpsdi.exceptions``): ``ImageFormatError``, ``SignatureRejected``,
``IncompatibleImage``, ``RollbackRejected`` with the device's reason (the same reason names as
``cpsdi.update.image``), ``UpdateError`` for channel states (``pending``, ``state``,
``offset``, ``storage``, ``reverted``, ``timeout``, ``unsupported``), transport errors as
``TransportError`` / ``ReaderTimeoutError``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cpsdi_proto import escape as wire
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cpsdi.exceptions import (
    ImageFormatError,
    IncompatibleImage,
    NotSupportedError,
    ReaderError,
    ReaderProtocolError,
    RollbackRejected,
    SignatureRejected,
    TransportError,
    UpdateError,
    VendorCommandError,
)
from cpsdi.link import LinkClient
from cpsdi.reader import Reader
from cpsdi.update import image as img

log = logging.getLogger(__name__)

FACTORY = wire.UPDATE_SLOT_NONE
"""``running`` / ``active``: the factory image (frozen with the firmware), not a slot."""
NONE = wire.UPDATE_SLOT_NONE
"""``pending`` / ``session_slot``: none."""
SLOT_STATUS = ("empty", "receiving", "installed", "bad")
FLAG_REBOOT = wire.UPDATE_FLAG_REBOOT
ST_SESSION, ST_TRIAL, ST_REBOOT = wire.UPDATE_ST_SESSION, wire.UPDATE_ST_TRIAL, wire.UPDATE_ST_REBOOT
STATUS_FIXED = wire.UPDATE_STATUS_FIXED
WRITE_OVERHEAD = wire.UPDATE_WRITE_OVERHEAD

BEGIN_TIMEOUT_S = 60.0
"""BEGIN verifies an Ed25519 signature (≈ 1–2 s on a Cortex-M0+) and erases a slot."""
FINISH_TIMEOUT_S = 60.0
"""FINISH hashes the whole slot twice (image digest, then every file)."""
CONFIRM_TIMEOUT_S = 60.0
"""How long :func:`update` waits for the reboot and the trial's confirmation (or revert)."""
MAX_RESUMES = 3
"""Transport failures during the transfer that :func:`update` recovers from by BEGIN again."""

# The device's reason codes (cpsdi_fw.mcuboot.ERR_* and cpsdi_fw.boot.R_*), by name
REASONS: dict[int, str] = {
    1: "bounds", 2: "magic", 3: "header", 4: "tlv_info", 5: "tlv_unknown", 6: "tlv_dup", 7: "tlv_len",
    8: "tlv_value", 9: "tlv_forbidden", 10: "trailing", 11: "missing", 16: "payload_type", 17: "hw_id",
    18: "compat", 19: "size", 20: "rollback",
    32: "key", 33: "signature", 34: "digest", 35: "manifest", 36: "file_digest", 37: "storage", 38: "state",
    39: "offset", 40: "length", 41: "pending", 42: "no_slot", 43: "empty",
}

Progress = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)``, after every acknowledged chunk."""


@dataclass(frozen=True)
class SlotState:
    """One slot as STATUS reports it."""

    status: str  # empty | receiving | installed | bad
    version: img.ImageVersion | None  # None when the slot holds no parseable image
    sec_cnt: int
    img_size: int


@dataclass(frozen=True)
class UpdateStatus:
    """The reader's update state (STATUS, CD 13)."""

    flags: int
    running: int  # 0, 1 or FACTORY
    active: int
    pending: int  # NONE if no trial is pending
    tries: int
    last_error: str  # reason of the last refused command ("" if none)
    last_command: int
    floor: int
    next_off: int  # open session: bytes received; else the durable resume point
    img_size: int  # of the open session, 0 otherwise
    max_img_size: int
    session_slot: int
    trial_tries: int
    session_digest: bytes
    slots: tuple[SlotState, SlotState]
    fw_compat: str
    keys: tuple[bytes, ...] = field(default=())  # trusted Ed25519 public keys (raw 32 bytes)

    @property
    def session_open(self) -> bool:
        return bool(self.flags & ST_SESSION)

    @property
    def trial(self) -> bool:
        """The running image is an unconfirmed trial."""
        return bool(self.flags & ST_TRIAL)

    @property
    def reboot_pending(self) -> bool:
        return bool(self.flags & ST_REBOOT)

    @property
    def running_version(self) -> img.ImageVersion | None:
        """Version of the running image (None: the factory image)."""
        return None if self.running == FACTORY else self.slots[self.running].version


def _slot_name(value: int) -> str:
    return "factory" if value == FACTORY else "none" if value == NONE else str(value)


def parse_status(payload: bytes) -> UpdateStatus:
    """Decode a STATUS answer payload (protocol/README.md §3.1)."""
    if len(payload) < STATUS_FIXED + 2 or payload[0] != wire.UPDATE_STATUS_FORMAT:
        raise ReaderProtocolError(f"malformed UPDATE_STATUS answer ({len(payload)} bytes)")
    def u32(o: int) -> int:
        return int.from_bytes(payload[o:o + 4], "little")

    slots = []
    for i in range(2):
        o = 60 + 19 * i
        status = payload[o]
        has = payload[o + 17] == 1
        version = img.ImageVersion(payload[o + 1], payload[o + 2], int.from_bytes(payload[o + 3:o + 5], "little"),
                                   u32(o + 5)) if has else None
        slots.append(SlotState(SLOT_STATUS[status] if status < 4 else f"status{status}", version, u32(o + 9),
                               u32(o + 13)))
    q = STATUS_FIXED
    n = payload[q]
    compat = payload[q + 1:q + 1 + n].decode("ascii", "replace")
    q += 1 + n
    if q >= len(payload):
        raise ReaderProtocolError("UPDATE_STATUS answer ends before its key list")
    count = payload[q]
    keys = tuple(payload[q + 1 + 32 * i:q + 33 + 32 * i] for i in range(count))
    if q + 1 + 32 * count != len(payload):
        raise ReaderProtocolError("UPDATE_STATUS answer: key list length mismatch")
    return UpdateStatus(
        flags=payload[1], running=payload[2], active=payload[3], pending=payload[4], tries=payload[5],
        last_error=REASONS.get(payload[6], f"code{payload[6]}") if payload[6] else "", last_command=payload[7],
        floor=u32(8), next_off=u32(12), img_size=u32(16), max_img_size=u32(20), session_slot=payload[24],
        trial_tries=payload[25], session_digest=bytes(payload[28:60]), slots=(slots[0], slots[1]),
        fw_compat=compat, keys=keys,
    )


@dataclass(frozen=True)
class UpdateResult:
    """What :func:`update` did."""

    version: img.ImageVersion
    sec_cnt: int
    slot: int
    image_bytes: int  # payload bytes of the image
    sent_bytes: int  # payload bytes sent in this call (less when resumed)
    resumed_from: int  # offset the first BEGIN answered (0: from the start)
    seconds: float  # BEGIN to the last chunk's acknowledgement
    confirmed: bool
    status: UpdateStatus

    @property
    def bytes_per_second(self) -> float:
        return self.sent_bytes / self.seconds if self.seconds > 0 else 0.0


class UpdateClient:
    """The CD 10..16 commands on a link, with the device's refusals mapped to typed errors."""

    def __init__(self, target: Reader | LinkClient) -> None:
        self.link = target.link if isinstance(target, Reader) else target

    @property
    def board(self) -> str | None:
        """The reader's board name (GET_INFO), the image's expected hw_id."""
        return self.link.info.board if self.link.info is not None else None

    @property
    def chunk_size(self) -> int:
        """Data bytes per WRITE: the whole message the framing allows (1018 in native mode, 255 in compat)."""
        return self.link.max_data - WRITE_OVERHEAD

    def _call(self, command: int, payload: bytes = b"", timeout_s: float | None = None) -> bytes:
        try:
            return self.link.vendor(command, payload, timeout_s=timeout_s)
        except NotSupportedError as exc:
            raise UpdateError("the reader has no update channel [unsupported]", "unsupported") from exc
        except VendorCommandError as exc:
            if exc.code == wire.ERR_UNKNOWN_COMMAND:
                raise UpdateError("the reader has no update channel [unsupported]", "unsupported") from exc
            raise self._refusal(command, exc.code) from exc

    def _refusal(self, command: int, code: int) -> UpdateError:
        reason = ""
        if command != wire.CMD_UPDATE_STATUS:
            try:
                reason = self.status().last_error
            except ReaderError:
                reason = ""
        what = {wire.CMD_UPDATE_BEGIN: "BEGIN", wire.CMD_UPDATE_WRITE: "WRITE", wire.CMD_UPDATE_FINISH: "FINISH",
                wire.CMD_UPDATE_CONFIRM: "CONFIRM", wire.CMD_UPDATE_ROLLBACK: "ROLLBACK",
                wire.CMD_UPDATE_ABORT: "ABORT"}.get(command, f"CD {command:02X}")
        text = f"the reader refused {what}: {reason or f'error 0x{code:02X}'} [{reason or code}]"
        if code == wire.ERR_UPDATE_SIGNATURE or (code == wire.ERR_UPDATE_HASH and reason == "digest"):
            return SignatureRejected(text, reason or "signature")
        if code == wire.ERR_UPDATE_BOARD:
            return IncompatibleImage(text, reason or "hw_id")
        if code == wire.ERR_UPDATE_DOWNGRADE:
            return RollbackRejected(text, reason or "rollback")
        if code in (wire.ERR_UPDATE_FORMAT, wire.ERR_UPDATE_HASH):
            return ImageFormatError(text, reason or "format")
        if code == wire.ERR_UPDATE_OFFSET:
            return UpdateError(text, "offset")
        if code == wire.ERR_UPDATE_STORAGE:
            return UpdateError(text, "storage")
        return UpdateError(text, reason or "state")

    def status(self) -> UpdateStatus:
        """STATUS (CD 13)."""
        return parse_status(self._call(wire.CMD_UPDATE_STATUS))

    def begin(self, metadata: bytes) -> tuple[int, int, int]:
        """BEGIN (CD 10): (next offset, img_size, slot)."""
        a = self._call(wire.CMD_UPDATE_BEGIN, metadata, timeout_s=BEGIN_TIMEOUT_S)
        if len(a) != 9:
            raise ReaderProtocolError(f"UPDATE_BEGIN answer of {len(a)} bytes")
        return int.from_bytes(a[0:4], "little"), int.from_bytes(a[4:8], "little"), a[8]

    def write(self, offset: int, data: bytes) -> int:
        """WRITE (CD 11): the reader's next expected offset."""
        a = self._call(wire.CMD_UPDATE_WRITE, offset.to_bytes(4, "little") + data)
        if len(a) != 4:
            raise ReaderProtocolError(f"UPDATE_WRITE answer of {len(a)} bytes")
        return int.from_bytes(a, "little")

    def finish(self, reboot: bool = True) -> tuple[int, int]:
        """FINISH (CD 12): (slot, tries); with ``reboot`` the reader resets into the trial."""
        a = self._call(wire.CMD_UPDATE_FINISH, bytes([FLAG_REBOOT if reboot else 0]), timeout_s=FINISH_TIMEOUT_S)
        if len(a) != 2:
            raise ReaderProtocolError(f"UPDATE_FINISH answer of {len(a)} bytes")
        return a[0], a[1]

    def confirm(self) -> tuple[int, int]:
        """CONFIRM (CD 14): the running trial becomes permanent; (active slot, floor)."""
        a = self._call(wire.CMD_UPDATE_CONFIRM)
        if len(a) != 5:
            raise ReaderProtocolError(f"UPDATE_CONFIRM answer of {len(a)} bytes")
        return a[0], int.from_bytes(a[1:5], "little")

    def rollback(self, reboot: bool = True) -> tuple[int, int]:
        """ROLLBACK (CD 15): drop the pending trial, or try the previous image; (active, pending)."""
        a = self._call(wire.CMD_UPDATE_ROLLBACK, bytes([FLAG_REBOOT if reboot else 0]))
        if len(a) != 2:
            raise ReaderProtocolError(f"UPDATE_ROLLBACK answer of {len(a)} bytes")
        return a[0], a[1]

    def abort(self) -> None:
        """ABORT (CD 16): drop the transfer session and its resume point."""
        self._call(wire.CMD_UPDATE_ABORT)

    def wait_reboot(self, slot: int, timeout_s: float = CONFIRM_TIMEOUT_S) -> UpdateStatus:
        """Poll STATUS until the reader came back from the reboot into ``slot``'s trial, or gave it up."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                st = self.status()
                if not st.reboot_pending and (st.running == slot or st.pending == NONE):
                    return st
            except (TransportError, ReaderProtocolError) as exc:  # rebooting: no or garbled answer
                log.debug("waiting for the reboot: %s", exc)
            if time.monotonic() > deadline:
                raise UpdateError(f"the reader did not come back within {timeout_s:.0f} s [timeout]", "timeout")
            time.sleep(0.05)


def check_image(image: bytes, st: UpdateStatus, board: str | None) -> img.ImageInfo:
    """The reader's checks, on the host, before any byte is sent (raises the typed errors)."""
    info = img.inspect(image)
    if not info.digest_ok:
        raise SignatureRejected("the image does not match its signed SHA-256 digest [digest]", "digest")
    keys = [Ed25519PublicKey.from_public_bytes(k) for k in st.keys]
    return img.verify(image, keys, hw_id=board, fw_compat=st.fw_compat, floor=st.floor,
                      max_img_size=st.max_img_size)


def update(
    target: Reader | LinkClient,
    image: bytes,
    *,
    progress: Progress | None = None,
    resume: bool = True,
    confirm: Literal["device", "host", "none"] = "device",
    chunk_size: int | None = None,
    confirm_timeout_s: float = CONFIRM_TIMEOUT_S,
) -> UpdateResult:
    """Push ``image`` to the reader and see it confirmed (module docstring).

    Args:
        target: an open :class:`~cpsdi.reader.Reader` or :class:`~cpsdi.link.LinkClient`.
        image: the signed image (``cpsdi fw build``).
        progress: called as ``progress(done, total)`` after every acknowledged chunk.
        resume: continue a transfer the reader recorded (False: ABORT it first, start over).
        confirm: ``device`` waits for the trial to confirm itself after its self-test;
            ``host`` sends CONFIRM once the trial runs; ``none`` stops after FINISH, without
            a reboot (the trial starts at the reader's next reset).
        chunk_size: data bytes per WRITE (default: the largest the framing allows).
        confirm_timeout_s: how long to wait for the reboot and the confirmation.

    Raises:
        ImageFormatError, SignatureRejected, IncompatibleImage, RollbackRejected: refused (by the
            host before sending, or by the reader, with its reason).
        UpdateError: reason ``pending`` (a trial is waiting for confirmation), ``reverted`` (the
            new image did not confirm itself and the reader went back), ``timeout``, ``storage``…
        TransportError: the link failed more than ``MAX_RESUMES`` times.
    """
    client = UpdateClient(target)
    image = bytes(image)
    st = client.status()
    info = check_image(image, st, client.board)
    if st.pending != NONE:
        raise UpdateError(f"slot {st.pending} holds a trial image waiting for confirmation: confirm or roll back "
                          "first [pending]", "pending")
    meta = img.metadata(image)
    payload = image[img.HEADER_SIZE:img.HEADER_SIZE + info.img_size]
    size = chunk_size or client.chunk_size
    if not 0 < size <= client.chunk_size:
        raise ValueError(f"chunk_size must be 1..{client.chunk_size}")
    if not resume:
        client.abort()
    log.info("update: %s (%d bytes, sec_cnt %d) to %s, chunks of %d", info.version, info.img_size, info.sec_cnt,
             client.board, size)
    t0 = time.monotonic()
    off, total, slot = client.begin(meta)
    first = off
    sent = 0
    resumes = 0
    stalls = 0
    if progress:
        progress(off, total)
    while off < total:
        n = min(size, total - off)
        try:
            nxt = client.write(off, payload[off:off + n])
        except TransportError:
            resumes += 1
            if resumes > MAX_RESUMES:
                raise
            log.warning("update: link failure at offset %d, resuming", off)
            off, total, slot = client.begin(meta)
            continue
        if nxt == off + n:
            sent += n
            stalls = 0
        else:
            stalls += 1
            log.info("update: the reader expects offset %d, not %d", nxt, off + n)
            if stalls > 3 or not 0 <= nxt <= total:
                raise UpdateError(f"the reader keeps asking for offset {nxt} [offset]", "offset")
        off = nxt
        if progress:
            progress(off, total)
    seconds = time.monotonic() - t0
    slot, _tries = client.finish(reboot=confirm != "none")
    confirmed = False
    if confirm == "none":
        st = client.status()
    else:
        st = client.wait_reboot(slot, confirm_timeout_s)
        deadline = time.monotonic() + confirm_timeout_s
        while True:
            if st.running != slot or st.slots[slot].status == "bad":
                raise UpdateError(f"the new image in slot {slot} did not confirm itself; the reader went back to "
                                  f"{_slot_name(st.running)} [reverted]", "reverted")
            if st.pending == NONE and st.active == slot:
                confirmed = True
                break
            if confirm == "host" and st.trial:
                client.confirm()
            elif time.monotonic() > deadline:
                raise UpdateError("the trial image did not confirm itself in time [timeout]", "timeout")
            else:
                time.sleep(0.05)
            st = client.status()
    log.info("update: %s in slot %d, %s", info.version, slot, "confirmed" if confirmed else "pending")
    return UpdateResult(version=info.version, sec_cnt=info.sec_cnt, slot=slot, image_bytes=total, sent_bytes=sent,
                        resumed_from=first, seconds=seconds, confirmed=confirmed, status=st)


__all__ = ["UpdateClient", "UpdateResult", "UpdateStatus", "check_image", "parse_status", "update"]
