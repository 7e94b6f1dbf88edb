"""Shared test helpers.

Real gait data live outside the repository in ``../shared/data`` (relative to the repo root; see
its README.md). They are never copied into the repo: tests that need them skip when absent.
Set ``KINTWIN_SHARED_DATA`` to use another location.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KINTWIN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_data_path() -> Path:
    """The shared real-data folder, or ``pytest.skip`` with the reason when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"../shared/data not found: {SHARED_DATA} is absent, so the tests on real "
                    "OpenSim gait data are skipped (the data are never copied into the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when the folder is absent."""
    return shared_data_path()
