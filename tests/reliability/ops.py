"""Child-process operations for the kill and out-of-space tests: ``python -m
tests.reliability.ops [fsize=N] [hold=K] OP ARGS...``.

Each writing op prints READY once it has begun writing streams. With ``hold=K`` it prints
``HOLD K DONE/TOTAL`` at its K-th stream-write progress event and then sleeps until it is
killed, so a parent's kill lands mid-write by construction, not by timing. A run that
finishes prints ``EVENTS N PARTIAL`` (stream-write events, and how many of them came before
the last byte) and then DONE.
"""

from __future__ import annotations

import resource
import signal
import sys
import time

import wimcore


class _Writes:
    """Progress callback: announce the first stream write, count them, hold at one."""

    def __init__(self, hold: int | None) -> None:
        self.hold = hold
        self.events = 0
        self.partial = 0

    def __call__(self, event: wimcore.ProgressEvent) -> None:
        if event.kind is not wimcore.ProgressKind.WRITE_STREAMS:
            return
        self.events += 1
        if event.done_bytes < event.total_bytes:
            self.partial += 1
        if self.events == 1:
            print("READY", flush=True)
        if self.events == self.hold:
            print(f"HOLD {self.events} {event.done_bytes}/{event.total_bytes}", flush=True)
            while True:  # the parent kills us here, in the middle of the write
                time.sleep(3600)


def main() -> None:
    args = sys.argv[1:]
    hold: int | None = None
    while args and "=" in args[0]:
        key, value = args.pop(0).split("=", 1)
        if key == "fsize":
            limit = int(value)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of dying
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        elif key == "hold":
            hold = int(value)
        else:
            raise SystemExit(f"unknown option {key}")
    op, *args = args
    _announce = _Writes(hold)
    try:
        if op == "export":
            src, dest = args
            wimcore.export(src, 1, dest, compression="lzms", recompress=True, threads=1,
                           progress=_announce)
        elif op == "commit":
            (path,) = args
            with wimcore.open(path, writable=True) as wim:
                wim.images[1].name = "Committed"
                wim.commit(recompress=True, threads=1, progress=_announce)
        elif op == "optimize":
            (path,) = args
            wimcore.optimize(path, compression="lzms", threads=1, progress=_announce)
        elif op == "stage":
            from wimcore.servicing import service_wim

            path, *packages = args
            service_wim(path, packages, images="all", history=False, threads=1,
                        progress=_announce)
        elif op == "lock-and-commit":
            path, name, *hold = args
            with wimcore.open(path, writable=True) as wim:
                print("LOCKED", flush=True)
                if hold:  # keep the lock until the parent says go (no race with a slow start)
                    import os
                    import time

                    deadline = time.monotonic() + 60
                    while not os.path.exists(hold[0]) and time.monotonic() < deadline:
                        time.sleep(0.02)
                wim.images[1].name = name
                wim.commit(recompress=True, threads=1)
        else:
            raise SystemExit(f"unknown op {op}")
    except wimcore.WimcoreError as exc:
        print(f"ERROR {type(exc).__name__} {exc}", flush=True)
        raise SystemExit(3) from None
    if _announce.events:
        print(f"EVENTS {_announce.events} {_announce.partial}", flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
