#!/usr/bin/env python3
"""Wait (bounded) until no other apt-get/dpkg holds the package locks, then exit 0.

Fresh Ubuntu machines run unattended-upgrades at boot; apt-get fails at once when it
finds the dpkg lock held. setup.sh calls this first so that it waits instead, saying why
and for how long. A lock is "held" when a non-blocking exclusive fcntl lock on the file
(the kind apt and dpkg take) is refused. Exit 1 after the wait is over, naming the lock.

Environment: WIMCORE_APT_LOCKS (colon-separated lock files; default: dpkg's and apt's),
WIMCORE_APT_LOCK_WAIT (seconds, default 300), WIMCORE_APT_LOCK_POLL (seconds, default 2).
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import time

DEFAULT_LOCKS = ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock",
                 "/var/lib/apt/lists/lock", "/var/cache/apt/archives/lock")


def held(path: str) -> bool:
    """True when another process holds the lock file (absent or unopenable: not held)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EACCES, errno.EAGAIN)
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def main() -> int:
    """Wait for every lock to be free; 0 when free, 1 when the wait ran out."""
    locks = [p for p in os.environ.get("WIMCORE_APT_LOCKS", "").split(":") if p] \
        or list(DEFAULT_LOCKS)
    limit = float(os.environ.get("WIMCORE_APT_LOCK_WAIT", "300"))
    poll = float(os.environ.get("WIMCORE_APT_LOCK_POLL", "2"))
    end = time.monotonic() + limit
    told = False
    while True:
        busy = [p for p in locks if held(p)]
        if not busy:
            if told:
                print("setup: the package lock is free; going on", flush=True)
            return 0
        if time.monotonic() >= end:
            print(f"setup: error: {busy[0]} is still held by another apt-get/dpkg after "
                  f"{limit:.0f} s (unattended-upgrades?); wait for it to finish, then run "
                  "scripts/setup.sh again", file=sys.stderr, flush=True)
            return 1
        if not told:
            print(f"setup: another apt-get/dpkg holds {busy[0]} (unattended-upgrades runs "
                  f"at boot); waiting up to {limit:.0f} s for it to finish", flush=True)
            told = True
        time.sleep(poll)


if __name__ == "__main__":
    sys.exit(main())
