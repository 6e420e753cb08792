"""Fixtures for the VM backend's tests: the stand-in guest, built once per session.

``standin_guest`` is the guest running the VM backend's agent (``standin/agent.sh``);
``build_standin(agent)`` builds one around any other agent script. Both skip, saying why,
when QEMU or the kernel package cannot be had here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.vm.standin.build import DEFAULT_AGENT, StandinGuest, build_guest
from tests.vm.standin.kernel import StandinUnavailable
from tests.vm.standin.qemu import QEMU

BuildStandin = Callable[[Path], StandinGuest]


@pytest.fixture(scope="session")
def build_standin() -> BuildStandin:
    """Build (or take from the cache) a stand-in guest running the given agent script."""
    if shutil.which(QEMU) is None:
        pytest.skip(f"{QEMU} is not installed (apt-get install qemu-system-x86)")

    def build(agent: Path) -> StandinGuest:
        try:
            return build_guest(agent)
        except StandinUnavailable as exc:
            pytest.skip(f"the stand-in guest cannot be built here: {exc}")

    return build


@pytest.fixture(scope="session")
def standin_guest(build_standin: BuildStandin) -> StandinGuest:
    """The stand-in guest with the VM backend's agent, ``tests/vm/standin/agent.sh``."""
    return build_standin(DEFAULT_AGENT)
