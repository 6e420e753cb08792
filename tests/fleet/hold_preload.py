"""Dask worker preload (``dask worker --preload tests/fleet/hold_preload.py``): the worker
freezes at the first wimcore task it is about to execute.

Just before the task would start, the worker writes the task's key to ``held-task`` in its
working directory and then blocks its event loop for good (as SIGSTOP would, but at a
known point): it can neither run nor report the task, so a test that waits for the file
and then kills the worker knows that the kill landed while the worker held that task.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from distributed import Worker, WorkerPlugin

MARKER = "held-task"


class HoldFirstTask(WorkerPlugin):
    """Name the first ``wimcore-`` task that reaches "executing", then never return."""

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish != "executing" or not str(key).startswith("wimcore-"):
            return
        tmp = Path(f"{MARKER}.tmp")
        tmp.write_text(str(key))
        os.replace(tmp, MARKER)
        while True:  # the test kills this worker here
            time.sleep(3600)


async def dask_setup(worker: Worker) -> None:
    """Install the plugin on the worker that was started with this preload."""
    await worker.plugin_add(HoldFirstTask(), name="wimcore-test-hold")
