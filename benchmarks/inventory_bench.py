"""Benchmark: mount-free inventory of a large generated Windows-like image.

Builds (once, cached in --work) a WIM whose single image holds the servicing layout of
an install image (``.mum`` files, Sessions.xml, a SOFTWARE hive with CBS states) plus
``--size-mb`` of incompressible filler, stored uncompressed so building stays fast.
Then times :func:`wimcore.servicing.image_inventory.inventory` over ``--rounds`` fresh opens and
reports the median; the target is under 3 s whatever the image size, because inventory
reads only metadata and a handful of files.

    python benchmarks/inventory_bench.py                    # 1100 MiB, 400 packages, 5 rounds
    python benchmarks/inventory_bench.py --size-mb 8 --rounds 1 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(path: Path, size_mb: int, packages: int) -> Path:
    """Write the benchmark WIM (filler + servicing layout) unless it is already there."""
    sys.path.insert(0, str(ROOT / "tests" / "servicing"))
    import winfactory as wf  # type: ignore[import-not-found,unused-ignore]

    if path.exists():
        return path
    installed = wf.win10_base() + [
        wf.Installed(f"Package_{n:04d}_for_KB50{n:05d}", f"10.0.19041.{1000 + n}",
                     kb=f"KB50{n:05d}") for n in range(max(0, packages - 4))]
    spec = wf.WinSpec(installed=installed, filler=size_mb * 1024 * 1024)
    wf.make_wim(path, [spec], compression="none")
    return path


def run(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Build (or reuse) the WIM and time inventory; return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1100)
    parser.add_argument("--packages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import wimcore
    from wimcore.servicing.image_inventory import inventory

    work = args.work or Path(tempfile.gettempdir()) / "wimcore-inventory-bench"
    work.mkdir(parents=True, exist_ok=True)
    wim_path = work / f"install-{args.size_mb}m-{args.packages}p.wim"
    t = time.monotonic()
    fresh = not wim_path.exists()
    build(wim_path, args.size_mb, args.packages)
    build_s = time.monotonic() - t
    times = []
    inv = None
    for _ in range(args.rounds):
        start = time.monotonic()
        with wimcore.open(wim_path) as wim:
            inv = inventory(wim.images[1])
        times.append(time.monotonic() - start)
    assert inv is not None
    return {"wim": str(wim_path), "wim_bytes": wim_path.stat().st_size,
            "built_now": fresh, "build_seconds": round(build_s, 2),
            "packages_found": len(inv.packages), "hive": inv.hive_status,
            "rounds": args.rounds, "median_seconds": round(statistics.median(times), 3),
            "max_seconds": round(max(times), 3), "target_seconds": 3.0, "json": args.json}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the result (text or --json)."""
    result = run(argv)
    if result.pop("json"):
        print(json.dumps(result, indent=2))
    else:
        print(f"inventory of {result['wim']} ({int(result['wim_bytes']) / 2**20:.0f} MiB, "  # type: ignore[call-overload]
              f"{result['packages_found']} packages): median {result['median_seconds']} s, "
              f"max {result['max_seconds']} s over {result['rounds']} rounds (target < 3 s)")
    return 0 if float(result["max_seconds"]) < 3.0 else 1  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
