"""Simulator test fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def cps_test_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Test-card keys go to a session tmp dir, never to the user's cache (CPSDI_TEST_PKI_DIR)."""
    path = tmp_path_factory.mktemp("test-pki")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CPSDI_TEST_PKI_DIR", str(path))
        yield path
