"""Host end of the update channel (cpsdi.update.client) against the real firmware in process
(boot selector + updater + reader over simulated storage): refusals before sending, the
device's refusals as typed errors, compat framing, resume after a host crash and after a reboot,
--no-resume, STATUS decoding."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vectors"))

from _update_sim import SimDevice, make_image, open_link, running_version  # noqa: E402
from make_update_vectors import KEY_B  # noqa: E402

from cpsdi.exceptions import (  # noqa: E402
    ImageFormatError,
    IncompatibleImage,
    RollbackRejected,
    SignatureRejected,
    UpdateError,
)
from cpsdi.update import image as img  # noqa: E402
from cpsdi.update.client import REASONS, UpdateClient, parse_status, update  # noqa: E402
from cpsdi_boards.sim.storage import TEST_KEY_A, SimStorage, derive_test_key  # noqa: E402
from cpsdi_fw import boot, mcuboot  # noqa: E402
from cpsdi_proto import escape  # noqa: E402

SLOT = boot.PAYLOAD_OFF + 64 * 1024
V1 = make_image("1.0.0", 5, 3000)
V2 = make_image("1.1.0", 6, 20000)


def device() -> SimDevice:
    return SimDevice(SimStorage(SLOT))


def test_reason_names_match_the_firmware() -> None:
    device_names = {**{k: v for k, v in mcuboot.ERROR_NAMES.items() if k}, **boot.REASON_NAMES}
    assert REASONS == device_names
    assert derive_test_key() == TEST_KEY_A


def test_update_and_status() -> None:
    dev = device()
    link = open_link(dev)
    assert link.info is not None and link.info.has(escape.FEATURE_UPDATE)
    seen: list[tuple[int, int]] = []
    result = update(link, V1, progress=lambda d, t: seen.append((d, t)))
    assert result.confirmed and result.slot == 0 and result.resumed_from == 0
    assert seen[0] == (0, result.image_bytes) and seen[-1] == (result.image_bytes, result.image_bytes)
    st = UpdateClient(link).status()
    assert (st.running, st.active, st.pending, st.floor, st.trial) == (0, 0, 0xFF, 5, False)
    assert st.slots[0].status == "installed" and str(st.slots[0].version) == "1.0.0+0"
    assert st.keys == (TEST_KEY_A,) and st.fw_compat == "mpy6.3 armv6m"
    assert st.max_img_size == SLOT - boot.PAYLOAD_OFF
    with pytest.raises(Exception):
        parse_status(b"\x02" + bytes(120))


def test_refusals_before_any_byte() -> None:
    dev = device()
    link = open_link(dev)
    update(link, V2)
    ops = dev.storage.ops
    key_b = img.build_image(b"x" * 100, version=img.ImageVersion(2, 0), sec_cnt=9, hw_id="sim",
                            fw_compat="mpy6.3 armv6m", key=KEY_B)
    tampered = bytearray(make_image("2.0.0", 9, 3000))
    tampered[100] ^= 1
    cases: list[tuple[bytes, type[Exception], str]] = [
        (V1, RollbackRejected, "rollback"),
        (make_image("2.0.0", 9, 3000, hw_id="rp2040"), IncompatibleImage, "hw_id"),
        (make_image("2.0.0", 9, 200 * 1024), IncompatibleImage, "size"),
        (key_b, SignatureRejected, "key"),
        (bytes(tampered), SignatureRejected, "digest"),
        (b"not an image" * 4, ImageFormatError, "magic"),
    ]
    for data, exc_type, reason in cases:
        with pytest.raises(exc_type) as exc:
            update(link, data)
        assert exc.value.reason == reason  # type: ignore[attr-defined]
        assert dev.updater.last_cmd == escape.CMD_UPDATE_STATUS  # nothing but STATUS went out
    assert dev.storage.ops == ops


def test_device_refusals_are_typed() -> None:
    dev = device()
    link = open_link(dev)
    client = UpdateClient(link)
    key_b = img.build_image(b"x" * 100, version=img.ImageVersion(2, 0), sec_cnt=9, hw_id="sim",
                            fw_compat="mpy6.3 armv6m", key=KEY_B)
    with pytest.raises(SignatureRejected) as sig:
        client.begin(img.metadata(key_b))
    assert sig.value.reason == "key"
    update(link, V2)
    with pytest.raises(RollbackRejected):
        client.begin(img.metadata(V1))
    with pytest.raises(UpdateError) as state:
        client.finish()
    assert state.value.reason == "state"
    assert dev.storage.ops > 0


def test_compat_framing_uses_255_byte_chunks() -> None:
    dev = device()
    link = open_link(dev, native=False)
    client = UpdateClient(link)
    assert client.chunk_size == 255
    result = update(link, V1)
    assert result.confirmed and running_version(dev) == "1.0.0+0"


class Crash(Exception):
    pass


def test_resume_after_host_crash_and_after_reboot() -> None:
    dev = device()
    link = open_link(dev)

    def crash_at(limit: int):  # type: ignore[no-untyped-def]
        def progress(done: int, total: int) -> None:
            if done >= limit:
                raise Crash

        return progress

    with pytest.raises(Crash):
        update(link, V2, progress=crash_at(10000))
    # host restarts, reader still up: the open session continues where it was
    with pytest.raises(Crash):
        update(open_link(dev), V2, progress=crash_at(15000))
    # reader power cycle: the durable resume point (every 4 chunks in this harness) is used
    dev.reboot(dev.storage.reboot())
    result = update(dev.link(), V2)
    assert result.confirmed
    assert result.resumed_from == 4 * 1018 * (15000 // (4 * 1018)), result.resumed_from
    assert result.sent_bytes == result.image_bytes - result.resumed_from


def test_no_resume_starts_over() -> None:
    dev = device()
    link = open_link(dev)
    with pytest.raises(Crash):
        update(link, V2, progress=lambda d, t: (_ for _ in ()).throw(Crash) if d > 8000 else None)
    erases = dev.storage.erases
    result = update(link, V2, resume=False)
    assert result.resumed_from == 0 and dev.storage.erases == erases + 1


def test_confirm_host_and_none() -> None:
    dev = device()
    link = open_link(dev)
    result = update(link, V1, confirm="none")
    assert not result.confirmed and result.status.pending == 0
    with pytest.raises(UpdateError) as exc:
        update(link, V2)
    assert exc.value.reason == "pending"
    client = UpdateClient(link)
    with pytest.raises(UpdateError):
        client.confirm()  # the trial has not booted yet
    dev.reboot(dev.storage.reboot())
    st = client.status()
    assert st.running == 0 and st.active == 0  # booted as a trial and confirmed itself
    dev.updater.self_test = None
    result = update(link, V2, confirm="host")
    assert result.confirmed and result.status.floor == 6


def test_device_vectors_are_fresh() -> None:
    import make_update_channel_vectors as gen

    text = "".join(__import__("json").dumps(r, sort_keys=True) + "\n" for r in gen.records())
    assert gen.OUT.read_text() == text, "run tests/vectors/make_update_channel_vectors.py"


def test_fw_group_has_the_update_commands() -> None:
    from click.testing import CliRunner

    from cpsdi.cli import main

    for command in ("update", "status", "confirm", "rollback"):
        r = CliRunner().invoke(main, ["fw", command, "--help"])
        assert r.exit_code == 0 and "--port" in r.output, (command, r.output)
