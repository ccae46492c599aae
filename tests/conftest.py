"""Suite-wide pytest hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

_MICROPYTHON_SUMMARY = pytest.StashKey[str]()


@pytest.fixture(scope="session", autouse=True)
def cps_test_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Virtual-card keys go to a session tmp dir (CPSDI_TEST_PKI_DIR, inherited by the `cpsdi sim`
    subprocesses), never to the user's cache."""
    path = tmp_path_factory.mktemp("test-pki")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CPSDI_TEST_PKI_DIR", str(path))
        yield path


@pytest.fixture
def record_micropython_summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Keep the runner's `MICROPYTHON-WASM: ...` line for the end-of-session summary."""

    def record(line: str) -> None:
        request.config.stash[_MICROPYTHON_SUMMARY] = line

    return record


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    line = config.stash.get(_MICROPYTHON_SUMMARY, None)
    if line is not None:
        terminalreporter.write_sep("-", "device tests on MicroPython (WebAssembly)")
        terminalreporter.write_line(line)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cpsdi hardware")
    group.addoption("--reader-port", default=None, metavar="PORT",
                    help="serial port of a real cpsdi reader board: runs the tests marked hw (tests/hw)")
    group.addoption("--reader-card", default="any", choices=("any", "t0", "t1"),
                    help="card in slot 0 for tests/hw: its first protocol (default: any)")
