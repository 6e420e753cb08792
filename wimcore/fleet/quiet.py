"""Worker processes of wimcore's own LocalCluster leave Ctrl-C to their client.

A Ctrl-C on a terminal reaches every process of the foreground group: the client and
the LocalCluster's worker processes. A worker that took it would die with a traceback
in the middle of its task; these workers ignore SIGINT, so the client alone decides:
it asks the tasks to stop at their next safe point, records what each image became and
closes the cluster quietly. This module imports Dask; the runner loads it only when it
starts a LocalCluster.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed import Nanny, Worker


class QuietWorker(Worker):
    """A Dask worker that ignores SIGINT (its client handles Ctrl-C for it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        super().__init__(*args, **kwargs)


class QuietNanny(Nanny):
    """A nanny whose worker process is a :class:`QuietWorker`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("worker_class", QuietWorker)
        super().__init__(*args, **kwargs)
