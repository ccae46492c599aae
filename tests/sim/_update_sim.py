"""The reader firmware with its update channel in process, for the update tests: boot selector +
updater + ``cpsdi_fw.main.Reader`` over a :class:`SimStorage`, behind a pyserial-like port that
reboots the firmware when it asks (FINISH / ROLLBACK / a failed self-test) and raises
:class:`PowerOff` as soon as the storage lost power (a simulated power cut)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim.host_port import MemoryHostPort
from cpsdi_boards.sim.storage import SIM_FW_COMPAT, SIM_HW_ID, TEST_KEYS, SimStorage
from cpsdi_fw import FIRMWARE_VERSION, boot
from cpsdi_fw.main import Reader as Firmware
from cpsdi_fw.updater import Updater

from cpsdi.link import LinkClient
from cpsdi.transport import Transport
from cpsdi.update import image as img
from cpsdi.update.bundle import BundleFile, build_bundle

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vectors"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))
from _firmware_port import InProcessPort  # noqa: E402
from make_update_vectors import KEY_A  # noqa: E402  (TEST key A: never for production)

MAX_BOOTS = 10


class PowerOff(Exception):
    """The simulated reader lost power (its storage was cut)."""


def make_image(version: str, sec_cnt: int, size: int, *, files: int = 4, hw_id: str = "sim") -> bytes:
    """A signed image (TEST key A) of a synthetic bundle of about ``size`` bytes."""
    per = max(1, size // files)
    parts = []
    for i in range(files):
        seed = hashlib.sha256(f"{version} {i}".encode()).digest()
        parts.append(BundleFile(f"cpsdi_fw/m{i}.mpy", (b"M\x06\x00\x1f" + seed * (per // 32 + 1))[:per]))
    return img.build_image(build_bundle(parts), version=img.ImageVersion.parse(version), sec_cnt=sec_cnt,
                           hw_id=hw_id, fw_compat=SIM_FW_COMPAT.decode(), key=KEY_A)


class SimDevice(InProcessPort):
    """A pyserial-like port with the updatable firmware behind it (module docstring)."""

    def __init__(self, storage: SimStorage, bad_versions: tuple[str, ...] = (), resume_every: int = 4) -> None:
        super().__init__()
        self.storage = storage
        self.bad_versions = set(bad_versions)
        self.boots: list[boot.BootResult] = []
        self.resume_every = resume_every
        self._link: LinkClient | None = None
        self.power_up()

    def link(self) -> LinkClient:
        """One host link for this port (opened once: it survives the reader's reboots)."""
        if self._link is None:
            self._link = open_link(self)
        return self._link

    def self_test(self, version: str) -> bool:
        return version.split("+")[0] not in self.bad_versions

    def power_up(self) -> None:
        """Boot: select + updater + firmware; repeated while the firmware asks for a reboot."""
        for _ in range(MAX_BOOTS):
            chosen = boot.select(self.storage, TEST_KEYS, SIM_HW_ID, SIM_FW_COMPAT)
            self._check_power()
            self.boots.append(chosen)
            version = chosen.version_text(FIRMWARE_VERSION)
            updater = Updater(self.storage, chosen, keys=TEST_KEYS, hw_id=SIM_HW_ID, fw_compat=SIM_FW_COMPAT,
                              self_test=lambda: self.self_test(version), resume_every=self.resume_every)
            self.firmware = Firmware(self.hp, [SimCardPort(None)], board="sim", firmware_version=version,
                                     updater=updater)
            self._check_power()
            if not updater.reboot_requested:
                return
        raise AssertionError("boot loop")

    @property
    def updater(self) -> Updater:
        u = self.firmware.updater
        assert u is not None
        return u

    def _check_power(self) -> None:
        if self.storage.dead:
            raise PowerOff(f"power cut after operation {self.storage.cut_after}")

    def reboot(self, storage: SimStorage | None = None) -> None:
        """Power the reader up again (over ``storage``, e.g. the surviving contents after a cut)."""
        if storage is not None:
            self.storage = storage
        self.hp = MemoryHostPort()
        self.out.clear()
        self.boots = []
        self.power_up()

    def after_step(self) -> None:
        self._check_power()
        if self.updater.reboot_requested:
            self.power_up()


def open_link(device: SimDevice, **options: Any) -> LinkClient:
    link = LinkClient(Transport(device), timeout_s=options.pop("timeout_s", 0.5), retries=options.pop("retries", 1),
                      **options)
    link.open()
    return link


def running_version(device: SimDevice) -> str:
    return device.boots[-1].version_text(FIRMWARE_VERSION)

