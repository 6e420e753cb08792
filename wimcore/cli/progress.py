"""Progress display for the command line: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from wimcore.progress import ProgressEvent, ProgressKind

_BYTE_KINDS = {
    ProgressKind.WRITE_STREAMS, ProgressKind.EXTRACT_STREAMS, ProgressKind.VERIFY_STREAMS,
    ProgressKind.VERIFY_INTEGRITY, ProgressKind.CALC_INTEGRITY, ProgressKind.SPLIT_BEGIN_PART,
    ProgressKind.SPLIT_END_PART, ProgressKind.EXPAND,
}
_LABELS = {
    ProgressKind.WRITE_STREAMS: "writing", ProgressKind.EXTRACT_STREAMS: "extracting",
    ProgressKind.VERIFY_STREAMS: "verifying", ProgressKind.VERIFY_INTEGRITY: "checking integrity",
    ProgressKind.CALC_INTEGRITY: "integrity table", ProgressKind.SPLIT_BEGIN_PART: "splitting",
    ProgressKind.SPLIT_END_PART: "splitting", ProgressKind.EXPAND: "expanding",
    ProgressKind.SCAN_BEGIN: "scanning", ProgressKind.SCAN_END: "scanned",
}


def human(n: float) -> str:
    """Bytes as a short human-readable figure (KiB, MiB, GiB)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class PlainReporter:
    """Periodic one-line reports on stderr, for logs and pipes."""

    def __init__(self, title: str, interval: float = 2.0) -> None:
        self.title = title
        self.interval = interval
        self.start = time.monotonic()
        self.last_print = 0.0
        self.last_label = ""

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind not in _BYTE_KINDS or not event.total_bytes:
            return
        now = time.monotonic()
        label = _LABELS.get(event.kind, event.kind.name.lower())
        done = event.done_bytes >= event.total_bytes
        if label == self.last_label and not done and now - self.last_print < self.interval:
            return
        self.last_print, self.last_label = now, label
        elapsed = max(now - self.start, 1e-6)
        rate = event.done_bytes / elapsed
        pct = 100.0 * event.done_bytes / event.total_bytes
        eta = (event.total_bytes - event.done_bytes) / rate if rate > 0 else 0.0
        print(f"{self.title}: {label} {pct:5.1f}% {human(event.done_bytes)}/"
              f"{human(event.total_bytes)} {human(rate)}/s ETA {eta:.0f}s",
              file=sys.stderr, flush=True)


class RichReporter:
    """A rich progress bar with bytes done, rate and ETA."""

    def __init__(self, progress: Any, title: str) -> None:
        self.progress = progress
        self.title = title
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind not in _BYTE_KINDS or not event.total_bytes:
            return
        label = f"{self.title}: {_LABELS.get(event.kind, event.kind.name.lower())}"
        task = self.tasks.get(label)
        if task is None:
            task = self.progress.add_task(label, total=event.total_bytes)
            self.tasks[label] = task
        self.progress.update(task, completed=event.done_bytes, total=event.total_bytes)


@contextmanager
def reporter(title: str, *, quiet: bool = False) -> Iterator[Any]:
    """Yield a progress callback suited to where output goes (None when quiet)."""
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        yield PlainReporter(title)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        yield RichReporter(bar, title)
