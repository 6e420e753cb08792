"""The vm backend's host-side steps vs wimlib-imagex, and the stand-in guest's boot time.

    python benchmarks/vm_bench.py [--size-mb 1100] [--rounds 3] [--compress lzx]
                                  [--boot-rounds 3] [--keep DIR]

Host side, on a generated image of ``--size-mb`` (default 1100 MB of files, some
compressible, some not): each round, alternating which side goes first, both sides
format a sparse NTFS volume file with mkntfs, apply the image to it, get the same
changes written into it (untimed: a tree of new files, as an update would add), and
capture it back, both ways:

- wimcore: ``Image.apply(volume)``, then ``capture_volume()`` (the vm backend's capture
  back: the image's tree replaced by the volume's at the same index, properties kept)
  and ``Wim.commit()`` of a copy of the WIM (made and synced before the timing), without
  (``full``: every file read and compressed again) and with the file's image as the
  template (``template``, what the backend does: unchanged files keep their stored data);
- wimlib-imagex: ``wimlib-imagex apply WIM 1 vol.img``, then ``wimlib-imagex capture
  vol.img out.wim --compress=...`` (``full``) and the same with ``--update-of=WIM:1``
  (its own way to reuse an earlier image's data: ``template``).

Reported: medians per step and of apply + capture back, and the ratios
wimcore / wimlib-imagex (the goal: at most 1.05).

Guest: the vm backend's whole run with the stand-in guest (``tests/vm/standin``) under
TCG on a small image (one target, SSU + LCU + cleanup): the QEMU boot-to-power-off time
and the run's total. Needs QEMU and the stand-in's kernel package; skipped otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def make_tree(root: Path, size_mb: int, seed: int = 7) -> int:
    """A Windows-like tree of ``size_mb`` MiB: mixed compressibility, many file sizes."""
    rng = random.Random(seed)
    total, n = 0, 0
    target = size_mb * MIB
    while total < target:
        folder = root / "Windows" / ("System32", "WinSxS", "SysWOW64", "Fonts")[n % 4] / \
            f"d{n // 200:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.choice((4096, 65536, 300_000, 1_500_000, 6_000_000))
        half = size // 2
        data = rng.randbytes(half) + (b"wimcore-bench " * (half // 14 + 1))[:size - half]
        (folder / f"f{n:05d}.dll").write_bytes(data)
        total += size
        n += 1
    return n


def make_changes(root: Path, size_mb: int) -> None:
    """New files as an update adds them (the same on both sides): about 6% of the image."""
    make_tree(root / "changes", min(64, max(1, size_mb // 16)), seed=11)


def fresh_volume(path: Path, size: int) -> Path:
    """A new sparse NTFS volume file (mkntfs), the same way on both sides."""
    from wimcore.servicing.vm.disks import format_volume

    if path.exists():
        path.unlink()
    return format_volume(path, size, "BENCH")


def apply_changes(changes: Path, volume: Path) -> None:
    """Write the change tree into the volume through libwimlib (untimed)."""
    import wimcore

    with wimcore.create("none") as wim:
        wim.add_image([(str(changes), "/Servicing-Bench")], "changes").apply(volume)


def run_wimcore(wim: Path, work: Path, changes: Path, volume_size: int) -> dict[str, float]:
    """Seconds of the vm backend's host steps: apply, then capture back both ways."""
    import wimcore
    from wimcore.servicing.vm.capture import capture_config_text, capture_volume, template_for

    config = work / "capture.ini"
    config.write_text(capture_config_text())
    out: dict[str, float] = {}
    os.sync()
    t0 = time.perf_counter()
    volume = fresh_volume(work / "wimcore-vol.img", volume_size)
    with wimcore.open(wim) as src:  # the same file wimlib-imagex applies from
        src.images[1].apply(volume)
    out["apply"] = time.perf_counter() - t0
    apply_changes(changes, volume)
    for route, by_template in (("full", False), ("template", True)):
        copy = work / "wimcore.wim"  # the WIM the capture commits into (untimed copy)
        shutil.copyfile(wim, copy)
        os.sync()  # the copy's dirty pages must not slow the timed step down
        t0 = time.perf_counter()
        with wimcore.open(copy, writable=True) as dst:
            capture_volume(dst, 1, volume, config,
                           template=template_for(dst) if by_template else None)
            dst.commit(fsync=False)
        out[route] = time.perf_counter() - t0
        copy.unlink()
    volume.unlink()
    return out


def run_imagex(wim: Path, work: Path, changes: Path, volume_size: int,
               compress: str) -> dict[str, float]:
    """Seconds of wimlib-imagex doing the same: apply, capture, capture --update-of."""
    result = work / "imagex.wim"
    out: dict[str, float] = {}
    os.sync()
    t0 = time.perf_counter()
    volume = fresh_volume(work / "imagex-vol.img", volume_size)
    subprocess.run(["wimlib-imagex", "apply", str(wim), "1", str(volume)], check=True,
                   stdout=subprocess.DEVNULL)
    out["apply"] = time.perf_counter() - t0
    apply_changes(changes, volume)
    for route, extra in (("full", []), ("template", [f"--update-of={wim}:1"])):
        os.sync()
        t0 = time.perf_counter()
        subprocess.run(["wimlib-imagex", "capture", str(volume), str(result), "bench",
                        f"--compress={compress}", *extra], check=True,
                       stdout=subprocess.DEVNULL)
        out[route] = time.perf_counter() - t0
        result.unlink()
    volume.unlink()
    return out


STEPS = (("apply", "apply to the NTFS volume file"),
         ("full", "capture back, full (every file read and compressed again)"),
         ("template", "capture back by template (peer: capture --update-of)"))


def host_bench(root: Path, size_mb: int, rounds: int, compress: str) -> dict[str, float]:
    """Medians per step and side (``wc_STEP``/``ix_STEP``) and of apply + each capture."""
    import wimcore

    tree = root / "tree"
    files = make_tree(tree, size_mb)
    changes = root / "changes-src"
    make_changes(changes, size_mb)
    wim = root / "image.wim"
    print(f"host: capturing {size_mb} MiB ({files} files) into a {compress} WIM ...",
          flush=True)
    wimcore.capture(tree, wim, "Bench", compression=compress)
    shutil.rmtree(tree)
    with wimcore.open(wim) as w:
        total = w.images[1].info.total_bytes or 0
    volume_size = total * 2 + 1024 * MIB
    work = root / "work"
    work.mkdir()
    runs: dict[str, list[dict[str, float]]] = {"wc": [], "ix": []}
    # a warm-up of each side (page cache, first-run costs), not counted
    run_wimcore(wim, work, changes, volume_size)
    run_imagex(wim, work, changes, volume_size, compress)
    for n in range(rounds):
        order = ("wc", "ix") if n % 2 == 0 else ("ix", "wc")
        for side in order:
            runs[side].append(run_wimcore(wim, work, changes, volume_size) if side == "wc"
                              else run_imagex(wim, work, changes, volume_size, compress))
        print(f"  round {n + 1}: " + "; ".join(
            f"{side} " + " ".join(f"{k} {runs[side][-1][k]:.2f}" for k, _ in STEPS)
            for side in ("wc", "ix")), flush=True)
    med: dict[str, float] = {"image_bytes": float(total)}
    for side in ("wc", "ix"):
        for key, _label in STEPS:
            med[f"{side}_{key}"] = statistics.median(r[key] for r in runs[side])
        for route in ("full", "template"):
            med[f"{side}_apply+{route}"] = statistics.median(
                r["apply"] + r[route] for r in runs[side])
    return med


def guest_bench(root: Path, rounds: int) -> dict[str, float] | None:
    """The vm backend with the stand-in guest under TCG: boot-to-power-off and run times."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests" / "servicing"))
    try:
        import winfactory as wf

        from tests.vm.standin.build import DEFAULT_AGENT, build_guest
        from tests.vm.standin.kernel import StandinUnavailable
    except ImportError as exc:
        print(f"guest: skipped ({exc})")
        return None
    from wimcore.servicing import service_wim
    from wimcore.servicing.backend import BackendOptions
    from wimcore.servicing.vm.backend import VmBackend
    from wimcore.servicing.vm.qemu import KernelBoot

    if shutil.which("qemu-system-x86_64") is None:
        print("guest: skipped (no qemu-system-x86_64)")
        return None
    try:
        guest = build_guest(DEFAULT_AGENT)
    except StandinUnavailable as exc:
        print(f"guest: skipped ({exc})")
        return None
    boots, runs = [], []
    for n in range(rounds):
        folder = root / f"guest{n}"
        folder.mkdir(parents=True)
        wim = wf.make_wim(folder / "install.wim", [wf.WinSpec()])
        msu = wf.msu_file(folder / "w.msu", [wf.ssu(), wf.lcu()])
        backend = VmBackend(BackendOptions(accel="tcg", memory_mib=512, cpus=1, timeout=300,
                                           cleanup=True),
                            guest=KernelBoot(guest.kernel, guest.initrd, guest.cmdline))
        start = time.perf_counter()
        report = service_wim(wim, [msu], backend=backend)
        runs.append(time.perf_counter() - start)
        if report.images[0].status != "installed":
            raise SystemExit(f"guest run: {report.images[0].status}")
        boots.append(float(report.images[0].outcome["details"]["boot_seconds"]))
        print(f"  guest round {n + 1}: boot-to-power-off {boots[-1]:.1f} s, whole run "
              f"{runs[-1]:.1f} s", flush=True)
    return {"boot": statistics.median(boots), "boot_min": min(boots), "boot_max": max(boots),
            "run": statistics.median(runs)}


def main(argv: list[str] | None = None) -> None:
    """Run both benchmarks and print a Markdown summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compress", default="lzx", choices=["none", "xpress", "lzx"])
    ap.add_argument("--boot-rounds", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="Work here and keep the files.")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="wimcore-vm-bench-", dir=args.keep))
    try:
        host = host_bench(root / "host", args.size_mb, args.rounds, args.compress) \
            if args.rounds > 0 else None
        guest = guest_bench(root / "guest", args.boot_rounds) if args.boot_rounds > 0 \
            else None
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"machine: {os.cpu_count()} cores; wimlib-imagex "
          + subprocess.run(["wimlib-imagex", "--version"], capture_output=True, text=True)
          .stdout.splitlines()[0])
    if host:
        print(f"\nhost side, image {host['image_bytes'] / MIB:,.0f} MiB ({args.compress}), "
              f"median of {args.rounds}:\n")
        print("| step | wimcore (s) | wimlib-imagex (s) | ratio |")
        print("| --- | --- | --- | --- |")
        rows = [(label, f"wc_{key}", f"ix_{key}") for key, label in STEPS]
        rows += [(f"apply + capture back ({route})", f"wc_apply+{route}", f"ix_apply+{route}")
                 for route in ("full", "template")]
        for label, w, i in rows:
            print(f"| {label} | {host[w]:.2f} | {host[i]:.2f} | {host[w] / host[i]:.3f} |")
    if guest:
        print(f"\nstand-in guest under TCG, median of {args.boot_rounds}: boot to power-off "
              f"{guest['boot']:.1f} s (min {guest['boot_min']:.1f}, max "
              f"{guest['boot_max']:.1f}); whole vm run {guest['run']:.1f} s")


if __name__ == "__main__":
    main()
