"""Fixtures of the fleet tests: sample images in a catalog, and real Dask clusters.

Clusters are real ``dask scheduler`` / ``dask worker`` processes on 127.0.0.1 with free
ports, each in its own session so that a finalizer can kill the whole process group.
One two-worker cluster is shared by the tests that do not harm it; tests that kill or
freeze workers start their own. The vm backend's tests boot the stand-in guest of the
vm tests (``standin_guest``, a test fixture: the fleet takes it as ``RunOptions.vm_guest``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import wimcore
from tests.conftest import sha256
from tests.vm.conftest import build_standin, standin_guest
from wimcore.fleet.catalog import Catalog
from wimcore.fleet.library import add_images
from wimcore.fleet.updates import add_updates
from wimcore.servicing import inventory

BIN = Path(sys.executable).parent

#: the sample updates' package identities
LCU = "Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.2033.1.6"
SSU = "Package_for_ServicingStack_2032~31bf3856ad364e35~amd64~~26100.2032.1.2"


digest = sha256  # "byte-identical" in the fleet tests


def staged_keys(path: Path) -> set[str]:
    """The package keys staged in image 1 of a WIM, from the mount-free inventory."""
    with wimcore.open(path) as wim:
        return {s.key for s in inventory(wim.images[1]).staged}

__all__ = ["build_standin", "standin_guest"]  # the vm tests' fixtures, shared here


def free_port() -> int:
    """A TCP port nobody listens on at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DaskCluster:
    """A scheduler and workers as subprocesses; ``kill()`` ends every one of them."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path | None = None

    def kill(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=30)


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=log.parent)


def start_cluster(folder: Path, n_workers: int, *, resources: list[str | None] | None = None,
                  preloads: list[str | None] | None = None) -> DaskCluster:
    """``dask scheduler`` and ``n_workers`` ``dask worker`` (one thread, 2 GiB each);
    ``resources`` and ``preloads`` (a ``--preload`` script) per worker."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = _spawn([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                    "--no-dashboard", "--no-show"], folder / "scheduler.log")
    cluster = DaskCluster(address, sched, logs=folder)
    try:
        for n in range(n_workers):
            extra = (resources or [None] * n_workers)[n]
            args = [str(BIN / "dask"), "worker", address, "--nthreads", "1",
                    "--memory-limit", "2GiB", "--host", "127.0.0.1", "--no-dashboard",
                    "--name", f"w{n}"]
            if extra:
                args += ["--resources", extra]
            preload = (preloads or [None] * n_workers)[n]
            if preload:
                args += ["--preload", preload]
            cluster.workers.append(_spawn(args, folder / f"worker{n}.log"))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=90)
    except BaseException:
        cluster.kill()
        raise
    return cluster


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """Two workers shared by the tests that neither kill nor freeze them."""
    cluster = start_cluster(tmp_path_factory.mktemp("dask-shared"), 2)
    yield cluster
    cluster.kill()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Callable[..., DaskCluster]]:
    """Start a cluster for this test only (killed at its end, whatever happens)."""
    started: list[DaskCluster] = []

    def _start(n_workers: int, **kwargs: list[str | None]) -> DaskCluster:
        cluster = start_cluster(tmp_path / f"dask{len(started)}", n_workers, **kwargs)
        started.append(cluster)
        return cluster
    yield _start
    for c in started:
        c.kill()


@pytest.fixture(scope="session")
def sample4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample media with four install.wim editions (built once)."""
    from wimcore.media.sample import create_sample

    return create_sample(tmp_path_factory.mktemp("fleet-sample") / "media", editions=4)


@dataclass
class FleetEnv:
    """A catalog with the four sample editions (single-index WIMs) and the sample updates."""

    root: Path
    catalog_path: Path
    library: Path
    source_wim: Path
    updates: Path

    def open(self) -> Catalog:
        return Catalog(self.catalog_path)

    def wims(self) -> list[Path]:
        with self.open() as cat:
            return [Path(i["wim_path"]) for i in cat.images()]

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "wimcore"), "fleet", "--catalog",
                               str(self.catalog_path), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.root)


@pytest.fixture
def fleet(tmp_path: Path, sample4: Path) -> FleetEnv:
    """Register the four editions (exported alone) and import the updates."""
    src = tmp_path / "src" / "install.wim"
    src.parent.mkdir()
    shutil.copyfile(sample4 / "sources" / "install.wim", src)
    env = FleetEnv(tmp_path, tmp_path / "catalog.sqlite3", tmp_path / "library", src,
                   sample4 / "updates")
    with env.open() as cat:
        add_images(cat, src, index="all", library=env.library)
        results = add_updates(cat, [env.updates], sources=sample4 / "sources")
    # SSU, LCU, SafeOS imported; the Setup Dynamic Update skipped (it belongs to sources/)
    assert sorted(r.status for r in results) == ["imported"] * 3 + ["skipped"]
    return env


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until true (fails the test after ``timeout`` seconds)."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
