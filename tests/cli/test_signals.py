"""SIGTERM cancels like Ctrl-C; a second signal during the cleanup is reported and ignored,
a third stops it; a signal inside ``deferred()`` waits for the block's end."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, signal, time
    from wimcore import interrupts

    def wait():
        end = time.monotonic() + 10
        while time.monotonic() < end:
            time.sleep(0.01)

    interrupts.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        wait()
    except interrupts.Interrupted as exc:
        print("first", signal.Signals(exc.signum).name, flush=True)
        os.kill(os.getpid(), signal.SIGINT)  # the second: reported, not raised
        time.sleep(0.2)
        print("cleanup finished", flush=True)
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the third stops the cleanup too
            wait()
        except interrupts.Interrupted as again:
            print("third", signal.Signals(again.signum).name, flush=True)
    interrupts.install()
    order = []
    try:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            order.append("block finished")
    except interrupts.Interrupted:
        order.append("then raised")
    print(order, flush=True)
""")


def test_second_signal_is_reported_third_stops_and_deferred_holds() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["first SIGTERM", "cleanup finished", "third SIGINT",
                                       "['block finished', 'then raised']"]
    assert out.stderr.count("wimcore: stopping: finishing the record") == 1
