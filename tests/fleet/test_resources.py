"""Worker resources: VM tasks run only on workers that declare VM capacity.

The vm backend runs for real: each task boots QEMU (TCG) with the stand-in guest of the
vm tests (``tests/vm/standin``, handed to the run as ``RunOptions.vm_guest``: a test
fixture, never offered to users), which speaks the Windows guest's job protocol. The
cluster is real ``dask worker`` processes, of which only one declares ``vm=1``. Two
images: two boots, one after the other on that worker (it has one ``vm`` slot).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import wimcore
from tests.fleet.conftest import DaskCluster, FleetEnv
from tests.vm.standin.build import StandinGuest
from tests.vm.vmfactory import file_digest, standin_boot, standin_options
from wimcore.fleet.errors import ClusterError, RunOptionsError
from wimcore.fleet.runner import VM_OVERHEAD_MIB, RunOptions, run_fleet
from wimcore.servicing import inventory
from wimcore.servicing.backend import BackendOptions

LCU_UBR = 2033  # the sample LCU's revision (26100.2033)


def _vm_worker(cluster: DaskCluster) -> str:
    from distributed import Client

    with Client(cluster.address) as client:
        [address] = [a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
                     if w["resources"].get("vm") == 1]
    return str(address)


def test_vm_run_services_images_only_on_the_worker_that_declares_vm(
        fleet: FleetEnv, own_cluster: Any, standin_guest: StandinGuest) -> None:
    options = standin_options()
    memory = (options.memory_mib + VM_OVERHEAD_MIB) * 2**20
    cluster: DaskCluster = own_cluster(2, resources=[None, f"vm=1 MEMORY={memory}"])
    vm_worker = _vm_worker(cluster)
    wims = fleet.wims()
    others = {w: file_digest(w) for w in wims[2:]}
    with fleet.open() as cat:
        result = run_fleet(cat, RunOptions(
            scheduler=cluster.address, backend="vm", images=["1", "2"],
            backend_options=options, vm_guest=standin_boot(standin_guest)))
        assert result.status == "successful", result.images
        assert sorted(r["image_id"] for r in result.images) == [1, 2]
        assert {r["worker"] for r in result.images} == {vm_worker}  # never the other one
        assert all(r["status"] == "installed" and r["wim_changed"] and r["backend"] == "vm"
                   for r in result.images)
        # the same images again: the plan finds the packages installed, nothing boots
        again = run_fleet(cat, RunOptions(scheduler=cluster.address, backend="vm",
                                          images=["1", "2"], backend_options=options,
                                          vm_guest=standin_boot(standin_guest)))
        assert again.status == "nothing-to-do" and again.run_id is None
    # the catalog's own rows (read with sqlite3): installed, with the post-check's verdict
    db = sqlite3.connect(fleet.catalog_path)
    try:
        run = db.execute("SELECT status, backend, options FROM runs WHERE id=?",
                         (result.run_id,)).fetchone()
        images = db.execute("SELECT image_id, status, worker, wim_changed FROM run_images "
                            "WHERE run_id=? ORDER BY image_id", (result.run_id,)).fetchall()
        packages = db.execute("SELECT image_id, kind, state, verdict FROM run_packages "
                              "WHERE run_id=? ORDER BY image_id, seq",
                              (result.run_id,)).fetchall()
    finally:
        db.close()
    assert run[:2] == ("successful", "vm")
    recorded = json.loads(run[2])
    assert recorded["memory_mib"] == 512 and recorded["accel"] == "tcg"
    assert recorded["vm_guest"] == f"kernel {standin_guest.kernel}"
    assert images == [(1, "installed", vm_worker, 1), (2, "installed", vm_worker, 1)]
    assert [(i, k) for i, k, _s, _v in packages] == [
        (i, k) for i in (1, 2) for k in ("servicing-stack", "cumulative-update")]
    for _image, kind, state, verdict in packages:
        assert state == "installed" and verdict.startswith("CBS state installed")
        if kind == "cumulative-update":
            assert verdict.endswith(f"UBR {LCU_UBR}")
    # the WIMs themselves: serviced images 1 and 2, the two others byte-identical
    for wim_path in wims[:2]:
        with wimcore.open(wim_path) as wim:
            assert inventory(wim.images[1]).ubr == LCU_UBR
            assert not wim.images[1].exists("/$wimcore")
    assert {w: file_digest(w) for w in wims[2:]} == others


def test_vm_run_without_vm_capacity_fails_clearly(fleet: FleetEnv,
                                                  shared_cluster: DaskCluster) -> None:
    before = {w: file_digest(w) for w in fleet.wims()}
    with fleet.open() as cat:
        with pytest.raises(ClusterError, match="no worker declares VM capacity"):
            run_fleet(cat, RunOptions(scheduler=shared_cluster.address, backend="vm",
                                      images=["1"]))
        [api_run] = cat.runs()
        assert api_run["status"] == "failed"
    # the command line: the guest memory asked for sizes the MEMORY a worker must declare
    proc = fleet.cli("run", "--scheduler", shared_cluster.address, "--backend", "vm",
                     "--vm-memory", "512", "--image", "1")
    assert proc.returncode == 1, proc.stderr
    assert ("no worker declares VM capacity (start one with --resources "
            f"\"vm=1 MEMORY={(512 + VM_OVERHEAD_MIB) * 2**20}\"") in proc.stderr
    with fleet.open() as cat:
        [cli_run] = [r for r in cat.runs() if r["id"] != api_run["id"]]
        assert cli_run["status"] == "failed" and cli_run["options"]["memory_mib"] == 512
    assert {w: file_digest(w) for w in fleet.wims()} == before


def test_run_options_that_do_not_go_together_are_refused(fleet: FleetEnv,
                                                         tmp_path: Path) -> None:
    from wimcore.servicing.vm.qemu import KernelBoot

    guest = KernelBoot(tmp_path / "vmlinuz", tmp_path / "initrd", "")
    with fleet.open() as cat:
        with pytest.raises(RunOptionsError, match="for the vm backend only"):
            run_fleet(cat, RunOptions(backend="staged", vm_guest=guest))
        with pytest.raises(RunOptionsError, match="for one WIM"):
            run_fleet(cat, RunOptions(backend="vm", backend_options=BackendOptions(
                prepare_only=str(tmp_path / "bundle"))))
        assert cat.runs() == []  # refused before anything was recorded
