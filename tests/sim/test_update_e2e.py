"""End to end over the paced pseudo-terminal (issue #9 acceptance): ``cpsdi sim --storage DIR``
at 115 200 bd 8N2, the host library and the ``cpsdi fw`` update commands.

* update N -> N+1: transfer, FINISH, reboot into the trial, self-confirmation, floor raised;
* N+1 -> a bad N+2 that never confirms itself: the reader reboots, uses up its tries and
  reverts to N+1 on its own; the host reports ``reverted``;
* a downgrade and a wrong board are refused by the host before any byte is sent;
* the storage survives a restart of the simulator (same running image, same floor).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _update_sim import make_image
from click.testing import CliRunner

from cpsdi.exceptions import IncompatibleImage, RollbackRejected, UpdateError
from cpsdi.fw_update_cli import fw_confirm, fw_rollback, fw_status, fw_update
from cpsdi.reader import Reader
from cpsdi.update.client import UpdateClient, update

SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]
N1 = make_image("1.1.0", 6, 4000)
N2 = make_image("1.2.0", 7, 32 * 1024, files=8)
BAD = make_image("1.3.0", 8, 4000)
OLD = make_image("1.0.0", 5, 2000)
OTHER_BOARD = make_image("1.4.0", 9, 2000, hw_id="rp2040")
EQUAL = make_image("1.5.0", 7, 2000)  # same counter as N2: a rollback to N2 stays allowed


def start_sim(storage: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*SIM, "--storage", str(storage), "--fail-selftest", "1.3.0", "--duration", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop_sim(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim-storage")


@pytest.fixture(scope="module")
def sim(storage: Path) -> Iterator[str]:
    proc, path = start_sim(storage)
    try:
        yield path
    finally:
        stop_sim(proc)


def test_update_n_to_n1_trial_confirm(sim: str) -> None:
    with Reader.open(sim) as reader:
        assert reader.native
        result = update(reader, N1)
        assert result.confirmed and str(result.version) == "1.1.0+0"
        st = UpdateClient(reader).status()
        assert (st.running, st.active, st.pending, st.floor) == (result.slot, result.slot, 0xFF, 6)
        assert reader.link.open().firmware_version == "1.1.0+0"  # GET_INFO after the reboot


def test_update_over_the_cli_with_throughput(sim: str, tmp_path: Path) -> None:
    path = tmp_path / "n2.img"
    path.write_bytes(N2)
    r = CliRunner().invoke(fw_update, [str(path), "--port", sim, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["confirmed"] and out["version"] == "1.2.0+0" and out["status"]["floor"] == 7
    assert out["sent_bytes"] == len(N2) - 32 - (len(N2) - 32 - out["image_bytes"])
    # the line is 115 200 bd 8N2: 10 473 B/s; stop-and-wait 1018-byte chunks reach about 90-95 %
    print(f"\n{out['sent_bytes']} bytes in {out['seconds']} s: {out['bytes_per_second']} B/s, "
          f"{out['line_percent']} % of 10 473 B/s")
    assert out["line_percent"] > 60


def test_bad_image_reverts_automatically(sim: str) -> None:
    with Reader.open(sim) as reader:
        with pytest.raises(UpdateError) as exc:
            update(reader, BAD)
        assert exc.value.reason == "reverted"
        st = UpdateClient(reader).status()
        assert str(st.running_version) == "1.2.0+0" and st.pending == 0xFF and st.floor == 7
        bad_slot = 1 - st.running
        assert st.slots[bad_slot].status == "bad"


def test_refused_before_sending(sim: str) -> None:
    with Reader.open(sim) as reader:
        before = reader.counters()["frames"]
        with pytest.raises(RollbackRejected):
            update(reader, OLD)
        with pytest.raises(IncompatibleImage) as exc:
            update(reader, OTHER_BOARD)
        assert exc.value.reason == "hw_id"
        # only STATUS requests went out (one per attempt) plus the counters request itself
        assert reader.counters()["frames"] - before <= 3


def test_rollback_and_confirm_cli(sim: str, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(fw_rollback, ["--port", sim])  # the other slot holds the bad 1.3.0: nothing to go back to
    assert r.exit_code == 1 and "no_slot" in r.output, r.output
    image = tmp_path / "equal.img"
    image.write_bytes(EQUAL)
    r = runner.invoke(fw_update, [str(image), "--port", sim])  # the human output: progress, summary
    assert r.exit_code == 0 and "confirmed" in r.output and "1.5.0+0" in r.output, r.output
    r = runner.invoke(fw_rollback, ["--port", sim])  # back to 1.2.0 (counter 7 = floor): as a trial
    assert r.exit_code == 0, r.output
    with Reader.open(sim) as reader:
        st = UpdateClient(reader).status()
        assert str(st.running_version) == "1.2.0+0" and st.pending == 0xFF  # booted and confirmed itself
    r = runner.invoke(fw_confirm, ["--port", sim])  # idempotent
    assert r.exit_code == 0 and "rollback floor 7" in r.output, r.output


def test_status_cli_and_persistence(sim: str, storage: Path) -> None:
    r = CliRunner().invoke(fw_status, ["--port", sim, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["floor"] == 7 and out["pending"] == "–"
    proc, path = start_sim(storage)  # a second simulator over the same storage: a restart
    try:
        with Reader.open(path) as reader:
            assert reader.info.firmware_version == "1.2.0+0"
            assert UpdateClient(reader).status().floor == 7
    finally:
        stop_sim(proc)
