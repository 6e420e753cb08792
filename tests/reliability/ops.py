"""Child-process operations for the kill and out-of-space tests: ``python -m
tests.reliability.ops OP ARGS...``. Each prints READY once it has begun writing."""

from __future__ import annotations

import resource
import signal
import sys

import wimcore


def _announce(event: wimcore.ProgressEvent) -> None:
    if event.kind is wimcore.ProgressKind.WRITE_STREAMS and event.done_bytes == 0:
        print("READY", flush=True)


def main() -> None:
    op, *args = sys.argv[1:]
    if args and args[0].startswith("fsize="):
        limit = int(args.pop(0).split("=", 1)[1])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
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
            print("READY", flush=True)
            service_wim(path, packages, images="all", history=False)
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
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
