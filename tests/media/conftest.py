"""Fixtures for the media tests (the sample media itself comes from ``tests/conftest.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def serviced_master(sample_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample media after one run of the routine (with an ISO beside it)."""
    from wimcore.media.pipeline import ServiceOptions, service

    root = tmp_path_factory.mktemp("serviced")
    dest = root / "media"
    shutil.copytree(sample_master, dest, copy_function=shutil.copy2)
    report = service(dest, dest / "updates", ServiceOptions(
        iso=root / "out.iso", report=root / "report.json", backend="staged"))
    # staged backend: install images staged; WinRE and both boot images not serviced
    assert report.status == "incomplete", report.summary()
    return dest
