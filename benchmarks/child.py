"""The wimcore side of a case, run in a child process of its own.

``python -m benchmarks.child '{"op": "capture", ...}'`` performs one operation with
the public wimcore API and prints one JSON line of in-process figures, so the report
can show the operation alone next to the whole process (interpreter start, imports,
library load and teardown included):

* ``import_s``: importing wimcore and loading libwim (after the interpreter started);
* ``op_wall_s`` / ``op_cpu_s``: the API call itself (CPU from RUSAGE_SELF, all threads);
* ``rss_before_op_kib``: peak RSS before the call (interpreter + wimcore floor);
* ``events``: progress events the Python callback received.

Nothing here may import the orchestrator's modules: the child must stay light.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Counter:
    """The progress callback under test: as cheap as a useful one (it counts events)."""

    def __init__(self) -> None:
        self.events = 0
        self.last_done = 0

    def __call__(self, event: Any) -> None:
        self.events += 1
        self.last_done = event.done_bytes


def _compress_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """The same loop as harness/compress_bench.c, through wimcore.Compressor.compress_into."""
    import wimcore

    with open(spec["sample"], "rb") as handle:
        sample = handle.read()
    block = int(spec["block"])
    size = len(sample)
    view = memoryview(sample)
    out = bytearray(block - 1)
    comp = wimcore.Compressor(spec["codec"], block, int(spec.get("level", 0)))
    compress_into = comp.compress_into
    min_seconds = float(spec["min_seconds"])
    for pos in range(0, size, block):  # untimed pass: page in the compressor's memory
        compress_into(view[pos:pos + block], out)
    passes = calls = out_bytes = 0
    start = time.perf_counter()
    while True:
        out_bytes = 0
        for pos in range(0, size, block):
            chunk = view[pos:pos + block]
            got = compress_into(chunk, out)
            out_bytes += got if got else len(chunk)
            calls += 1
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    comp.close()
    return {"bytes_in": size * passes, "bytes_out": out_bytes, "seconds": elapsed,
            "passes": passes, "calls": calls}


def _operate(spec: dict[str, Any], progress: Any) -> None:
    import wimcore

    op = spec["op"]
    threads = int(spec.get("threads", 0))
    if op == "capture":
        wimcore.capture(spec["src"], spec["wim"], spec["name"], compression=spec["compression"],
                        solid=bool(spec.get("solid")), threads=threads,
                        fsync=bool(spec.get("fsync")), progress=progress)
    elif op == "append":
        # In place, as wimlib-imagex append does (wimcore's default rewrites the WIM).
        wimcore.capture(spec["src"], spec["wim"], spec["name"], append=True, in_place=True,
                        threads=threads, fsync=bool(spec.get("fsync")), progress=progress)
    elif op == "export":
        wimcore.export(spec["src"], spec.get("image", 1), spec["dst"],
                       compression=spec.get("compression"), solid=bool(spec.get("solid")),
                       recompress=bool(spec.get("recompress")), threads=threads,
                       fsync=bool(spec.get("fsync")), progress=progress)
    elif op == "noop":  # the start-up baseline: interpreter, imports, library load only
        pass
    elif op == "apply":
        with wimcore.open(spec["wim"]) as wim:
            wim.images[int(spec.get("image", 1))].apply(spec["dst"], progress=progress)
    else:
        raise SystemExit(f"unknown op {op!r}")


def main(argv: list[str]) -> int:
    """Run the operation described by the JSON in ``argv[0]``; print the figures."""
    spec = json.loads(argv[0])
    import wimcore

    wimcore.libwimlib_version()  # loads libwim: counted as import, not as the operation
    # wimcore imports its modules lazily; resolve the API now so the operation's time
    # holds the operation only.
    for name in ("capture", "export", "open", "Compressor", "ProgressEvent"):
        getattr(wimcore, name)
    import_s = time.perf_counter() - _T0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counter = _Counter() if spec.get("progress", True) else None
    cpu0, wall0 = _cpu(), time.perf_counter()
    extra: dict[str, Any] = {}
    if spec["op"] == "compress":
        extra = _compress_loop(spec)
    else:
        _operate(spec, counter)
    result = {"import_s": import_s, "op_wall_s": time.perf_counter() - wall0,
              "op_cpu_s": _cpu() - cpu0, "rss_before_op_kib": rss_before,
              "events": counter.events if counter else 0, **extra}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
