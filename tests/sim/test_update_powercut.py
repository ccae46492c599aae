"""Power-cut sweep of the update channel (update-channel.md §4.8 item 1, issue #9 acceptance).

The reader runs v1 (confirmed, slot 0). A scenario — a full update to v2 with its trial boot
and self-confirmation, or an update to a bad v2 that never confirms and is reverted — is run
once to count its storage operations (erase / write / record), then again for every k with
the power cut after operation k (cleanly, or ``torn``: operation k+1 half applied). After each
cut the reader powers up over what survived, and:

* it boots a valid image: v1 or v2, verified by the selector (digest; signature on a trial);
  never the factory fallback, never a half-written slot;
* the rollback floor is 5 (v1) or 6 (v2 confirmed), never raised by an unconfirmed image;
* the update can then be completed (resumed from the durable point) or restarted, and ends
  with v2 confirmed (or, for the bad image, reverted to v1).
"""

from __future__ import annotations

import pytest
from _update_sim import PowerOff, SimDevice, make_image, running_version

from cpsdi.exceptions import ReaderError
from cpsdi.update.client import UpdateClient, update
from cpsdi_boards.sim.storage import SimStorage
from cpsdi_fw import boot

SLOT_SIZE = boot.PAYLOAD_OFF + 16384
V1 = make_image("1.0.0", 5, 3000)
V2 = make_image("1.1.0", 6, 9000)  # 9 chunks of 1018 bytes: resume points after chunks 4, 8 and the last
RESULTS: dict[str, list[str]] = {}


def base_device() -> SimDevice:
    dev = SimDevice(SimStorage(SLOT_SIZE))
    update(dev.link(), V1)
    assert running_version(dev) == "1.0.0+0"
    return dev


BASE = base_device()


SNAPSHOT = BASE.storage.reboot()


def fresh(cut_after: int | None, torn: bool = False, bad: bool = False) -> SimDevice:
    """The reader back at v1 (the same port and host link: no reconnection per cut point)."""
    BASE.bad_versions = {"1.1.0"} if bad else set()
    BASE.reboot(SNAPSHOT.reboot(cut_after=cut_after, torn=torn))
    return BASE


def scenario(dev: SimDevice) -> None:
    update(dev.link(), V2, chunk_size=1018)


def count_ops(bad: bool) -> int:
    dev = fresh(None, bad=bad)
    if bad:
        with pytest.raises(ReaderError, match="reverted"):
            scenario(dev)
    else:
        scenario(dev)
    return dev.storage.ops


def after_cut(dev: SimDevice, bad: bool) -> tuple[str, int, str]:
    """Power up again over the surviving storage; check the invariants; finish the update."""
    survived = dev.storage.reboot()
    dev.reboot(survived)
    first = dev.boots[0]
    assert first.running in (0, 1), f"booted {first.running}: a valid slot must always boot"
    version = running_version(dev)
    assert version in ("1.0.0+0", "1.1.0+0"), version
    st = UpdateClient(dev.link()).status()
    assert st.floor in (5, 6)
    if st.floor == 6:
        assert version == "1.1.0+0" and st.pending == 0xFF, "the floor rose before v2 confirmed itself"
    if bad:
        assert version == "1.0.0+0" or any(b.trial for b in dev.boots), "a bad image ran without being a trial"
    # complete or restart
    outcome = "already"
    if not (version == "1.1.0+0" and st.active == dev.boots[-1].running and st.pending == 0xFF):
        link = dev.link()
        if st.pending != 0xFF:  # a trial recorded but never run (cut right after FINISH): reboot into it
            dev.reboot(dev.storage.reboot())
            version = running_version(dev)
            st = UpdateClient(link).status()
        if bad:
            if version != "1.0.0+0" or st.pending != 0xFF:
                raise AssertionError(f"bad image still around: {version}, pending {st.pending}")
            with pytest.raises(ReaderError, match="reverted"):
                update(link, V2)
            outcome = "reverted"
        elif version == "1.1.0+0" and st.pending == 0xFF:
            outcome = "confirmed-after-reboot"
        else:
            result = update(link, V2)
            assert result.confirmed
            outcome = "resumed" if result.resumed_from else "restarted"
    final = running_version(dev)
    st = UpdateClient(dev.link()).status()
    if bad:
        assert (final, st.floor, st.active) == ("1.0.0+0", 5, 0), (final, st)
    else:
        assert (final, st.floor, st.pending) == ("1.1.0+0", 6, 0xFF), (final, st)
    return version, first.running, outcome


@pytest.mark.parametrize("torn", [False, True], ids=["clean", "torn"])
@pytest.mark.parametrize("bad", [False, True], ids=["update-confirm", "bad-revert"])
def test_power_cut_after_every_storage_operation(torn: bool, bad: bool) -> None:
    total = count_ops(bad)
    assert total > 10
    outcomes: dict[str, int] = {}
    for k in range(total):
        dev = fresh(k, torn=torn, bad=bad)
        with pytest.raises((PowerOff, ReaderError)):
            scenario(dev)
        assert dev.storage.dead, f"cut {k}: the scenario ended without reaching the cut"
        _, _, outcome = after_cut(dev, bad)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    RESULTS[f"{'bad' if bad else 'good'}-{'torn' if torn else 'clean'}"] = [f"{total} cut points", str(outcomes)]
    print(f"\n{'bad' if bad else 'good'} {'torn' if torn else 'clean'}: {total} cut points, outcomes {outcomes}")
    if not bad:
        assert outcomes.get("resumed", 0) > 0, outcomes


def test_cut_during_boot_tries_decrement_keeps_trial_budget() -> None:
    """A cut while the selector saves tries - 1: the next boot tries again, never more than TRIAL_TRIES."""
    dev = fresh(None, bad=True)
    link = dev.link()
    client = UpdateClient(link)
    client.begin(_meta(V2))
    off = 0
    payload = V2[32:32 + _img_size(V2)]
    while off < len(payload):
        off = client.write(off, payload[off:off + 1018])
    client.finish(reboot=False)
    trials = 0
    storage = dev.storage.reboot()
    for _ in range(2 * boot.TRIAL_TRIES + 2):
        storage = storage.reboot(cut_after=0)  # power fails at the first storage operation of the boot
        chosen = boot.select(storage, dev.updater.keys, b"sim", b"mpy6.3 armv6m")
        assert chosen.running in (boot.FACTORY, 0, 1)
        storage = storage.reboot()
        chosen = boot.select(storage, dev.updater.keys, b"sim", b"mpy6.3 armv6m")
        trials += 1 if chosen.trial else 0
        if not chosen.trial:
            break
    assert trials == boot.TRIAL_TRIES
    assert chosen.running == 0 and chosen.reverted == 1


def _img_size(image: bytes) -> int:
    return int.from_bytes(image[12:16], "little")


def _meta(image: bytes) -> bytes:
    return image[:32] + image[32 + _img_size(image):]
