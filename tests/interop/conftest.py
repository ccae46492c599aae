"""Fixtures of the pcscd interop tests (issue #6): stock pcscd + libccidtwin.so driving
``cpsdi sim`` on a pty, with a private reader.conf directory and a private socket
(``_pcscd_stack.py``).

Every test module starts one simulator + pcscd pair per reader configuration in a module
fixture, ``with pcsc_stack(config) as stack``; both are stopped by PID when it ends. When a test
fails, the end of pcscd's log (libccid at ``LIBCCID_ifdLogLevel=0x0007``: every frame and
keep-alive byte) and the simulator's stderr are added to its report.

Skips, with the reason: not root, pcscd or libccid's serial driver missing, no private
mount namespace possible (``pcscd_available``); pyscard missing (``pyscard_available``);
one of pcsc_scan / opensc-tool / scriptor missing (``need_tool``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager

import pytest

from _pcscd_stack import PcscStack, StackConfig, StackFactory, pyscard_skip_reason, skip_reason

TOOL_PACKAGES = {"pcsc_scan": "pcsc-tools", "scriptor": "pcsc-tools", "opensc-tool": "opensc",
                 "pkcs15-tool": "opensc", "iasecc-tool": "opensc", "pkcs11-tool": "opensc"}


@pytest.fixture(scope="session")
def pcscd_available() -> None:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pyscard_available() -> None:
    reason = pyscard_skip_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def need_tool() -> Callable[[str], None]:
    """``need_tool(name)``: skip the calling test when the command-line tool is missing."""

    def need(name: str) -> None:
        if shutil.which(name) is None:
            pytest.skip(f"{name} missing (Debian package {TOOL_PACKAGES.get(name, name)})")

    return need


@pytest.fixture(scope="session")
def pcsc_stack(pcscd_available: None, pyscard_available: None,
               tmp_path_factory: pytest.TempPathFactory) -> StackFactory:
    """``with pcsc_stack(config) as stack``: a simulator + pcscd pair, both stopped by PID at
    the end of the block (test modules hold one per configuration in a module fixture)."""

    @contextmanager
    def running(config: StackConfig) -> Iterator[PcscStack]:
        base = tmp_path_factory.mktemp("pcscd-" + "".join(c if c.isalnum() else "-" for c in config.friendly_name))
        stack = PcscStack.start(base, config)
        try:
            yield stack
        finally:
            stack.stop()

    return running


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed or call.when == "teardown":
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, PcscStack):
            report.sections.append((f"pcscd log ({value.config.friendly_name}, {value.run})", value.log_tail()))
