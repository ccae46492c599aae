"""``cpsdi_boards.device_boot.run`` on CPython with a fake ``machine``: the real-board power-up
(select, install the trial slot's bundle, watchdog, self-test, confirm or reset)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Iterator

import pytest

from cpsdi_fw import app_loader, boot, mcuboot
from cpsdi_fw.hal import FileStorage, HostPort

DEVICE_TESTS = Path(__file__).resolve().parent.parent / "device"


class Stop(Exception):
    """Ends a main loop that would run forever."""


class FakeHost(HostPort):
    def __init__(self, idle_limit: int) -> None:
        self.ms = 0
        self.idle = 0
        self.idle_limit = idle_limit
        self.flushes = 0

    def read_into(self, buf: Any, start: int, count: int) -> int:
        return 0

    def write(self, buf: Any, start: int, end: int) -> None:
        pass

    def ticks_ms(self) -> int:
        self.ms += 1
        return self.ms

    def wait_ms(self, ms: int) -> None:
        self.idle += 1
        if self.idle >= self.idle_limit:
            raise Stop()

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture
def device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    monkeypatch.syspath_prepend(str(DEVICE_TESTS))
    import test_updater as tu

    events: dict[str, Any] = {"feeds": 0, "resets": 0, "wdt": []}
    machine = types.ModuleType("machine")

    class WDT:
        def __init__(self, timeout: int) -> None:
            events["wdt"].append(timeout)

        def feed(self) -> None:
            events["feeds"] += 1

    def reset() -> None:
        events["resets"] += 1

    machine.WDT = WDT  # type: ignore[attr-defined]
    machine.reset = reset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "machine", machine)
    keys = types.ModuleType("cpsdi_keys")
    keys.KEYS = (tu.KEY_A,)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cpsdi_keys", keys)
    storage = FileStorage(str(tmp_path / "update"), tu.BIG_SLOT)
    host = FakeHost(idle_limit=5)
    board = types.ModuleType("cpsdi_boards.fakeboard")
    board.NAME = "sim"  # type: ignore[attr-defined]  # the test images' HW_ID
    board.storage = lambda: storage  # type: ignore[attr-defined]
    board.host_port = lambda: host  # type: ignore[attr-defined]
    board.card_ports = lambda: []  # type: ignore[attr-defined]
    board.self_test = lambda: events.get("self_test", True)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cpsdi_boards.fakeboard", board)
    monkeypatch.setattr(mcuboot, "fw_compat", lambda: tu.COMPAT)
    monkeypatch.setattr(app_loader, "PACKAGES", ("fakeboard_nothing",))  # keep this process's modules
    monkeypatch.setattr(sys, "path", list(sys.path))
    from cpsdi_boards import device_boot

    monkeypatch.setattr(device_boot, "APP_ROOT", str(tmp_path / "app"))
    monkeypatch.setattr(device_boot, "machine", machine)  # bound at its first import
    tu.Device(storage).update("v1")  # v1 received and pending: the next boot is its trial
    events.update(storage=storage, host=host, tu=tu, run=device_boot.run, app=tmp_path / "app")
    yield events


def test_a_trial_that_fails_its_self_test_resets_under_the_watchdog(device: dict[str, Any]) -> None:
    device["self_test"] = False
    device["run"]("fakeboard")
    assert device["wdt"] == [8000]  # a trial runs under the watchdog
    assert device["resets"] == 1 and device["host"].flushes == 1  # reset once the answer has left
    assert device["feeds"] >= 1
    slot_dirs = [p.name for p in device["app"].iterdir()]
    assert len(slot_dirs) == 1 and sys.path[0] == str(device["app"] / slot_dirs[0])
    state = boot.State()
    assert state.load(device["storage"]) and state.pending != boot.NONE and state.tries == boot.TRIAL_TRIES - 1


def test_a_trial_that_passes_confirms_itself_and_the_watchdog_keeps_being_fed(device: dict[str, Any]) -> None:
    with pytest.raises(Stop):
        device["run"]("fakeboard")
    assert device["wdt"] == [8000] and device["resets"] == 0
    assert device["feeds"] >= 4  # fed after every step, also after the confirmation
    state = boot.State()
    assert state.load(device["storage"])
    assert state.pending == boot.NONE and state.active != boot.FACTORY
    assert (device["app"] / str(state.active) / app_loader.MARKER).read_bytes() == bytes.fromhex(
        device["tu"].IMAGES["v1"]["digest"])


def test_the_factory_image_runs_without_a_watchdog(device: dict[str, Any]) -> None:
    sys.modules["cpsdi_keys"].KEYS = ()  # type: ignore[attr-defined]  # no trusted key: the trial cannot verify
    with pytest.raises(Stop):
        device["run"]("fakeboard")
    assert device["wdt"] == [] and device["resets"] == 0
    assert not device["app"].exists()  # nothing installed, nothing on sys.path
    state = boot.State()
    assert state.load(device["storage"])
    assert state.pending == boot.NONE and state.active == boot.FACTORY
    assert boot.BAD in state.status  # the unverifiable trial was given up at this boot



def test_recovery_runs_the_factory_image_and_leaves_the_record_alone(device: dict[str, Any]) -> None:
    sys.modules["cpsdi_boards.fakeboard"].recovery_requested = lambda: True  # type: ignore[attr-defined]
    with pytest.raises(Stop):
        device["run"]("fakeboard")
    assert device["wdt"] == [] and device["resets"] == 0
    assert not device["app"].exists()
    state = boot.State()
    assert state.load(device["storage"])
    assert state.pending != boot.NONE and state.tries == boot.TRIAL_TRIES  # the trial still waits, no try used
