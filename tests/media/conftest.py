"""Fixtures for the media tests: the sample media is built once per session and copied."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from wimcore.media.sample import create_sample


@pytest.fixture(scope="session")
def sample_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample media, built once (read-only by convention: copy it before changing)."""
    return create_sample(tmp_path_factory.mktemp("sample") / "media", seed=0)


@pytest.fixture
def media(sample_master: Path, tmp_path: Path) -> Path:
    """A private copy of the sample media (timestamps kept)."""
    dest = tmp_path / "media"
    shutil.copytree(sample_master, dest, copy_function=shutil.copy2)
    return dest


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


def tree_hashes(root: Path) -> dict[str, tuple[str, int]]:
    """{relative path: (sha1, mtime_ns)} of every file under root."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = (hashlib.sha1(p.read_bytes()).hexdigest(),
                                                  p.stat().st_mtime_ns)
    return out
