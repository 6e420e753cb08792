"""Fixtures of the servicing tests: synthetic Windows WIMs and update packages."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import winfactory as wf


@pytest.fixture
def win_wim(tmp_path: Path) -> Callable[..., Path]:
    """Build a WIM of synthetic Windows images from WinSpec values."""
    def _make(*specs: wf.WinSpec, name: str = "install.wim") -> Path:
        return wf.make_wim(tmp_path / name, list(specs))
    return _make


@pytest.fixture
def pkgs(tmp_path: Path) -> dict[str, Path]:
    """Expanded synthetic packages: SSU, LCU, an older LCU, arm64 LCU, SafeOS, Setup DU."""
    root = tmp_path / "pkgs"
    return {
        "ssu": wf.package_folder(root / "ssu", wf.ssu()),
        "lcu": wf.package_folder(root / "lcu", wf.lcu()),
        "old_lcu": wf.package_folder(root / "old", wf.lcu("19041.3700.1.1", "KB5031356")),
        "arm_lcu": wf.package_folder(root / "arm", wf.lcu(arch="arm64", kb="KB5034999")),
        "safeos": wf.package_folder(root / "safeos", wf.safeos()),
        "setupdu": wf.package_folder(root / "setupdu", wf.setupdu()),
    }
