"""Worker resources: VM tasks go only to workers that declare VM capacity.

The vm backend has not landed yet, so the routing is checked with the staged backend:
the fleet task submitted with the resources a VM task asks for (``vm=1``, ``MEMORY``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fleet.conftest import DaskCluster, FleetEnv
from wimcore.fleet.errors import ClusterError
from wimcore.fleet.planning import plan_images
from wimcore.fleet.runner import VM_OVERHEAD_MIB, RunOptions, run_fleet
from wimcore.fleet.task import ImageTask, service_image


def test_vm_tasks_run_only_on_the_worker_that_declares_it(fleet: FleetEnv, own_cluster: Any,
                                                          tmp_path: Path) -> None:
    from distributed import Client

    memory = (4096 + VM_OVERHEAD_MIB) * 2**20
    cluster: DaskCluster = own_cluster(2, resources=[f"vm=1 MEMORY={memory}", None])
    with fleet.open() as cat:
        plans = plan_images(cat, cat.images())
    with Client(cluster.address) as client:
        vm_worker = next(a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
                         if w["resources"].get("vm") == 1)
        futures = [client.submit(service_image, ImageTask(
            run_id="r", image_id=p.image["id"], wim_path=p.image["wim_path"], wim_index=1,
            packages=tuple(p.files), outputs=str(tmp_path / "out")), pure=False,
            resources={"vm": 1, "MEMORY": memory}) for p in plans]
        records = client.gather(futures)
    assert [r["status"] for r in records] == ["staged"] * 4
    assert {r["worker"] for r in records} == {vm_worker}


def test_vm_run_without_vm_capacity_fails_clearly(fleet: FleetEnv,
                                                  shared_cluster: DaskCluster) -> None:
    with fleet.open() as cat:
        with pytest.raises(ClusterError, match="no worker declares VM capacity"):
            run_fleet(cat, RunOptions(scheduler=shared_cluster.address, backend="vm",
                                      images=["1"]))
        assert [r["status"] for r in cat.runs()] == ["failed"]
