"""Shared fixtures for the package tests: the factory module, oracles and third-party CABs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SHARED_CABS = Path(__file__).parents[2] / ".." / "shared" / "data" / "cab"


@pytest.fixture
def shared_cabs() -> Path:
    """The third-party CAB fixtures (LZX, Quantum, a 5-part set); skip when absent."""
    if not SHARED_CABS.is_dir():
        pytest.skip(f"third-party CAB fixtures not found at {SHARED_CABS}")
    return SHARED_CABS


@pytest.fixture
def cabextract() -> str:
    """Path of the cabextract oracle; skip when it is not installed."""
    path = shutil.which("cabextract")
    if path is None:
        pytest.skip("cabextract is not installed (apt-get install cabextract)")
    return path
