"""Hardware tests: a real reader board on ``--reader-port`` (skipped without it).

Options (declared in tests/conftest.py, so they work from the repository root too):
  --reader-port PORT   the reader's protocol port (pyserial URL or device, e.g. /dev/ttyUSB0:
                       the board's host UART, not the MicroPython REPL)
  --reader-card KIND   what is in slot 0: "any" (default), "t0" or "t1" — the protocol the card's
                       ATR offers first, for the protocol-specific checks
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reader-port"):
        return
    skip = pytest.mark.skip(reason="needs a real reader board: pass --reader-port PORT (see tests/hw/conftest.py)")
    for item in items:
        if "hw" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def reader_port(request: pytest.FixtureRequest) -> str:
    port = request.config.getoption("--reader-port")
    if not port:
        pytest.skip("no --reader-port")
    return str(port)


@pytest.fixture(scope="session")
def card_kind(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--reader-card"))


@pytest.fixture
def reader(reader_port: str) -> Iterator[Any]:
    from cpsdi.reader import Reader

    with Reader.open(reader_port) as r:
        yield r
