"""Fleet scaling and overhead: 8 images of 200 MB+, one worker vs two; fleet vs service_wim.

    python benchmarks/fleet_bench.py [--images 8] [--size-mb 200] [--rounds 2] [--keep DIR]

Images: the sample media's Pro edition exported alone, grown by ``--size-mb`` of
incompressible file data (generated once, copied for every round, not timed).

- Scaling: ``run_fleet`` with ``--remove-superseded`` (stage, commit, export to shrink)
  on a LocalCluster of one worker, then of two, compression threads one per task in
  both; whole-run wall time (cluster start included), medians of ``--rounds``, ratio.
- Overhead: one image, ``run_fleet --remove-superseded`` on an already running
  one-worker cluster against ``service_wim`` then the same export to shrink called
  directly (same packages, one compression thread), alternating after one
  warm-up of each, medians; the fleet run also plans, checks the worker, records in
  the catalog.

Prints a Markdown table; ``--json PATH`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def build_image(root: Path, size_mb: int) -> tuple[Path, Path]:
    """One single-index image of ``size_mb`` MB+ and the sample's updates folder."""
    import wimcore
    from wimcore.media.sample import create_sample

    media = create_sample(root / "media")
    base = root / "base.wim"
    wimcore.export(media / "sources/install.wim", 1, base)
    bulk = root / "bulk"
    (bulk / "DriverStore").mkdir(parents=True)
    chunk = 32 * 1024 * 1024
    for n in range(max(1, -(-size_mb // 32))):  # incompressible: the WIM is size_mb+
        (bulk / f"DriverStore/pack{n:03d}.bin").write_bytes(os.urandom(chunk))
    with wimcore.open(base, writable=True) as wim:
        with wim.images[1].edit() as edit:
            edit.add(bulk / "DriverStore", "/Windows/System32/DriverStore")
        wim.commit(fsync=False)
    shutil.rmtree(bulk)
    return base, media / "updates"


def fresh_catalog(work: Path, base: Path, updates: Path, n: int) -> Path:
    """A new catalog with ``n`` copies of the image registered and the updates imported."""
    from wimcore.fleet.catalog import Catalog
    from wimcore.fleet.library import add_images
    from wimcore.fleet.updates import add_updates

    if work.exists():
        shutil.rmtree(work)
    (work / "images").mkdir(parents=True)
    with Catalog(work / "catalog.sqlite3") as cat:
        cat.set_setting("library", str(work / "library"))
        for i in range(n):
            copy = work / "images" / f"image{i}.wim"
            shutil.copyfile(base, copy)
            add_images(cat, copy)
        add_updates(cat, [updates], sources=updates.parent / "sources")
    return work / "catalog.sqlite3"


def fleet_run(catalog: Path, **options: Any) -> tuple[float, dict[str, Any]]:
    """Seconds of one ``run_fleet`` call, and its result."""
    from wimcore.fleet.catalog import Catalog
    from wimcore.fleet.runner import RunOptions, run_fleet

    with Catalog(catalog) as cat:
        t0 = time.perf_counter()
        result = run_fleet(cat, RunOptions(**options))
        seconds = time.perf_counter() - t0
    if result.status != "successful":
        raise SystemExit(f"fleet run {result.status}: {result.note}")
    return seconds, result.to_dict()


def direct_run(work: Path, base: Path, updates: Path) -> float:
    """Seconds of ``service_wim`` and the export to shrink on a fresh copy."""
    import wimcore
    from wimcore.atomic import atomic_output
    from wimcore.fleet.catalog import Catalog
    from wimcore.fleet.planning import plan_images
    from wimcore.servicing.run import service_wim

    catalog = fresh_catalog(work, base, updates, 1)
    with Catalog(catalog) as cat:
        files = plan_images(cat, cat.images())[0].files
    path = work / "images" / "image0.wim"
    t0 = time.perf_counter()
    report = service_wim(path, files, images=[1], threads=1)
    with atomic_output(path, overwrite=True) as tmp:  # the export to shrink
        wimcore.export(path, 1, tmp, threads=1)
    seconds = time.perf_counter() - t0
    if report.status != "ok":
        raise SystemExit(f"service_wim: {report.status}")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print (and optionally write) the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="Work here and keep it (default: a temp dir).")
    ap.add_argument("--json", type=Path, help="Write the figures here.")
    args = ap.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="wimcore-fleet-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        base, updates = build_image(root / "gen", args.size_mb)
        size = base.stat().st_size
        scaling: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.rounds):
            for workers in (1, 2):
                cat = fresh_catalog(root / "run", base, updates, args.images)
                seconds, _doc = fleet_run(cat, workers=workers, threads=1,
                                          remove_superseded=True)
                scaling[workers].append(seconds)
                print(f"scaling: {workers} worker(s): {seconds:.2f} s", file=sys.stderr)
        from distributed import Client, LocalCluster

        fleet_s: list[float] = []
        direct_s: list[float] = []
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            warm = fresh_catalog(root / "run", base, updates, 1)  # worker imports, connections
            fleet_run(warm, scheduler=client.scheduler.address, threads=1,
                      remove_superseded=True)
            direct_run(root / "run", base, updates)
            for _ in range(args.rounds):
                cat = fresh_catalog(root / "run", base, updates, 1)
                seconds, _doc = fleet_run(cat, scheduler=client.scheduler.address, threads=1,
                                          remove_superseded=True)
                fleet_s.append(seconds)
                direct_s.append(direct_run(root / "run", base, updates))
                print(f"overhead: fleet {fleet_s[-1]:.3f} s, direct {direct_s[-1]:.3f} s",
                      file=sys.stderr)
        one, two = statistics.median(scaling[1]), statistics.median(scaling[2])
        f, d = statistics.median(fleet_s), statistics.median(direct_s)
        figures = {"images": args.images, "image_bytes": size, "rounds": args.rounds,
                   "cores": os.cpu_count(), "one_worker_s": one, "two_workers_s": two,
                   "speedup": one / two, "fleet_one_image_s": f, "direct_one_image_s": d,
                   "overhead": f / d - 1, "raw": {"scaling": scaling, "fleet": fleet_s,
                                                  "direct": direct_s}}
        print(f"| {args.images} images of {size / 1e6:.0f} MB, stage + export to shrink "
              f"| 1 worker {one:.2f} s | 2 workers {two:.2f} s | speed-up {one / two:.2f}x |")
        print(f"| one image: fleet run {f:.3f} s | service_wim + export {d:.3f} s "
              f"| overhead {100 * (f / d - 1):+.1f} % |")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
