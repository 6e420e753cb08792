"""Media routine vs the same file-level steps done with wimlib-imagex, on a 1 GB+ install.wim.

    python benchmarks/media_bench.py [--size-mb 1100] [--rounds 1] [--keep DIR]

The media is the sample media whose install.wim images also carry ``--size-mb`` of
file data. Each round copies it twice (not timed) and times, alternating:
wimcore's ``service()`` (no ISO) and the wimlib-imagex commands for the file-level
steps (extract WinRE, export it, ``update`` it back into every index, export
install.wim, export boot.wim 1 then 2 --boot). Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

WINRE = "/Windows/System32/Recovery/Winre.wim"


def build_media(root: Path, size_mb: int) -> Path:
    """The sample media, with install.wim grown by ``size_mb`` of half-compressible data."""
    import wimcore
    from wimcore.media.sample import create_sample

    media = create_sample(root / "media")
    bulk = root / "bulk"
    (bulk / "Windows/System32/DriverStore").mkdir(parents=True)
    chunk = 64 * 1024 * 1024
    for n in range(max(1, size_mb // 64)):
        data = os.urandom(chunk // 2) + bytes(chunk // 2)
        (bulk / f"Windows/System32/DriverStore/pack{n:03d}.bin").write_bytes(data)
    install = media / "sources/install.wim"
    with wimcore.open(install, writable=True) as wim:
        for image in wim.images:
            with image.edit() as edit:
                edit.add(bulk, "/")
        wim.commit()
    shutil.rmtree(bulk)
    return media


def run_wimcore(media: Path, work: Path) -> float:
    """Wall time of the whole routine (no ISO)."""
    from wimcore.media.pipeline import ServiceOptions, service

    start = time.perf_counter()
    report = service(media, media / "updates", ServiceOptions(work_dir=work, backend="staged"))
    elapsed = time.perf_counter() - start
    # staged backend: install images staged, WinRE and boot.wim not serviced -> incomplete
    if report.status not in ("ok", "incomplete") or report.errors:
        raise SystemExit(f"wimcore run: {report.status}")
    return elapsed


def run_imagex(media: Path, work: Path) -> float:
    """Wall time of the file-level steps with wimlib-imagex commands."""
    work.mkdir(parents=True, exist_ok=True)
    install, boot = media / "sources/install.wim", media / "sources/boot.wim"

    def wi(*args: str) -> None:
        subprocess.run(["wimlib-imagex", *args], check=True, stdout=subprocess.DEVNULL)

    start = time.perf_counter()
    wi("extract", str(install), "1", WINRE, f"--dest-dir={work}", "--no-acls")
    wi("export", str(work / "Winre.wim"), "all", str(work / "Winre.new.wim"), "--boot")
    count = int(subprocess.run(["wimlib-imagex", "info", str(install)], check=True,
                               capture_output=True, text=True).stdout.split(
        "Image Count:")[1].split()[0])
    for index in range(1, count + 1):
        wi("update", str(install), str(index),
           f"--command=add {work / 'Winre.new.wim'} {WINRE}")
    wi("export", str(install), "all", str(work / "install.wim"))
    wi("export", str(boot), "1", str(work / "boot.wim"))
    wi("export", str(boot), "2", str(work / "boot.wim"), "--boot")
    os.replace(work / "install.wim", install)
    os.replace(work / "boot.wim", boot)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    """Build the media, time both ways in alternation, print medians and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1100)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="Build and keep the media here.")
    args = ap.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="wimcore-media-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        master = build_media(root, args.size_mb)
        size = (master / "sources/install.wim").stat().st_size
        print(f"media built in {time.perf_counter() - t:.1f} s; install.wim {size:,} bytes")
        ours: list[float] = []
        theirs: list[float] = []
        for r in range(args.rounds):
            for name, fn, out in (("wimcore", run_wimcore, ours),
                                  ("wimlib-imagex", run_imagex, theirs)):
                copy = root / f"copy-{name}-{r}"
                shutil.copytree(master, copy)
                out.append(fn(copy, root / f"work-{name}-{r}"))
                print(f"round {r + 1}: {name:<14} {out[-1]:.2f} s", flush=True)
                shutil.rmtree(copy)
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"median wimcore {a:.2f} s, wimlib-imagex {b:.2f} s, ratio {a / b:.3f} "
              f"(target <= 1.10)")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
