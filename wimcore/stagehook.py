"""Named stages of long operations, for the interruption tests; inert unless a test sets it.

``stage(name)`` marks a point a long operation passes (a step begins, a file is
published). It does nothing unless the environment names a hook when wimcore is
imported:

- ``WIMCORE_STAGE_TRACE=FILE``: append ``name#N`` (the N-th time this process passed
  ``name``) and the process id to FILE, one line per stage;
- ``WIMCORE_STAGE_PAUSE=name#N``: on reaching it, print ``wimcore-stage: paused at
  name#N pid P`` on stderr and sleep (``WIMCORE_STAGE_PAUSE_SECONDS``, default 5, or
  until a signal arrives) so that a test can deliver a signal at exactly that point.
"""

from __future__ import annotations

import os
import sys
import time

_TRACE = os.environ.get("WIMCORE_STAGE_TRACE") or None
_PAUSE = os.environ.get("WIMCORE_STAGE_PAUSE") or None
_COUNTS: dict[str, int] = {}


def enabled() -> bool:
    """True when a test set a hook (the stages cost one comparison otherwise)."""
    return _TRACE is not None or _PAUSE is not None


def stage(name: str) -> None:
    """Mark that the operation reached stage ``name`` (see the module docstring)."""
    if _TRACE is None and _PAUSE is None:
        return
    n = _COUNTS[name] = _COUNTS.get(name, 0) + 1
    point = f"{name}#{n}"
    if _TRACE is not None:
        with open(_TRACE, "a", encoding="utf-8") as fh:
            fh.write(f"{point} {os.getpid()}\n")
    if _PAUSE == point:
        print(f"wimcore-stage: paused at {point} pid {os.getpid()}", file=sys.stderr,
              flush=True)
        end = time.monotonic() + float(os.environ.get("WIMCORE_STAGE_PAUSE_SECONDS", "5"))
        from wimcore import interrupts

        seen = interrupts.received
        while time.monotonic() < end and interrupts.received is seen:
            time.sleep(0.05)
