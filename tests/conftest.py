"""Suite-wide pytest hooks."""

from __future__ import annotations

from typing import Callable

import pytest

_MICROPYTHON_SUMMARY = pytest.StashKey[str]()


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
