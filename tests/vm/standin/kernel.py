"""The guest's kernel: Debian's ``linux-image-*-amd64`` package, downloaded and unpacked once.

``apt-get download`` + ``dpkg -x`` need no root and install nothing. The unpacked tree is
cached by package name and version, pruned to the kernel image and the module folders a
stand-in guest can use (about 45 MB of the package's 400 MB), so CI and repeated runs
download once.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

META_PACKAGE = "linux-image-amd64"

# Module folders (below lib/modules/<release>/kernel) kept in the cache: disks (IDE, AHCI,
# virtio, SCSI), the CRC helpers sd_mod pulls in, FUSE, FAT and its code pages.
KEPT_MODULE_DIRS = ("arch/x86/crypto", "block", "crypto", "lib", "drivers/ata", "drivers/block",
                    "drivers/scsi", "drivers/virtio", "drivers/cdrom", "fs/fuse", "fs/fat",
                    "fs/nls", "fs/isofs")


class StandinUnavailable(Exception):
    """The stand-in guest cannot be built here (no apt, no package, no QEMU): tests skip."""


def cache_root(cache_dir: Path | None = None) -> Path:
    """Where kernels and initrds are cached: the argument, ``$WIMCORE_STANDIN_CACHE``, or
    ``~/.cache/wimcore/standin``."""
    if cache_dir is not None:
        return cache_dir
    env = os.environ.get("WIMCORE_STANDIN_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "wimcore" / "standin"


@contextmanager
def cache_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the cache: several test sessions on one machine share it."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class KernelTree:
    """An unpacked kernel: its image, its release string and its module folder."""

    root: Path
    package: str
    version: str

    @property
    def release(self) -> str:
        return self.package.removeprefix("linux-image-")

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.release


@functools.cache
def candidate_package() -> tuple[str, str]:
    """The versioned kernel package (name, version) that ``linux-image-amd64`` points to now.

    Asked once per process: ``apt-cache`` takes a second or two to load its lists.
    """
    if shutil.which("apt-cache") is None:
        raise StandinUnavailable("apt-cache is not available (not a Debian-like host)")
    proc = subprocess.run(["apt-cache", "show", "--no-all-versions", META_PACKAGE],
                          capture_output=True, text=True, check=False)
    match = re.search(r"^Depends:.*?\b(linux-image-[\w.+-]+-amd64) \(= ([^)]+)\)",
                      proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise StandinUnavailable(f"apt-cache knows no {META_PACKAGE} (run apt-get update): "
                                 f"{proc.stderr.strip()[:200]}")
    return match.group(1), match.group(2)


def _cached_trees(kernels: Path) -> list[KernelTree]:
    trees = []
    for entry in sorted(kernels.glob("linux-image-*_*")):
        package, _, version = entry.name.partition("_")
        tree = KernelTree(entry, package, version)
        if tree.vmlinuz.is_file() and tree.modules.is_dir():
            trees.append(tree)
    return trees


def _unpack(package: str, version: str, dest: Path) -> None:
    """Download the .deb into a temporary folder beside ``dest``, unpack, prune, rename."""
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise StandinUnavailable(f"{tool} is not available")
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=dest.parent) as tmp:
        work = Path(tmp)
        proc = subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=work,
                              capture_output=True, text=True, check=False)
        debs = list(work.glob("*.deb"))
        if proc.returncode != 0 or len(debs) != 1:
            raise StandinUnavailable(f"apt-get download {package}={version} failed: "
                                     f"{proc.stderr.strip()[-300:]}")
        full = work / "full"
        subprocess.run(["dpkg", "-x", str(debs[0]), str(full)], check=True)
        tree = KernelTree(work / "kept", package, version)
        source = KernelTree(full, package, version)
        tree.vmlinuz.parent.mkdir(parents=True)
        shutil.move(source.vmlinuz, tree.vmlinuz)
        for name in ("modules.builtin", "modules.order"):
            if (source.modules / name).is_file():
                tree.modules.mkdir(parents=True, exist_ok=True)
                shutil.move(source.modules / name, tree.modules / name)
        for sub in KEPT_MODULE_DIRS:
            if (source.modules / "kernel" / sub).is_dir():
                (tree.modules / "kernel" / sub).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(source.modules / "kernel" / sub, tree.modules / "kernel" / sub)
        os.rename(tree.root, dest)


def obtain_kernel(cache_dir: Path | None = None) -> KernelTree:
    """The kernel apt offers now, from the cache or downloaded into it.

    Without apt (or without its lists) a previously cached kernel is used, newest name first;
    with neither, ``StandinUnavailable``.
    """
    kernels = cache_root(cache_dir) / "kernels"
    kernels.mkdir(parents=True, exist_ok=True)
    try:
        package, version = candidate_package()
    except StandinUnavailable:
        cached = _cached_trees(kernels)
        if cached:
            return cached[-1]
        raise
    tree = KernelTree(kernels / f"{package}_{version}", package, version)
    if tree.vmlinuz.is_file():
        return tree
    with cache_lock(kernels.parent):
        if not tree.vmlinuz.is_file():  # another session may have unpacked it meanwhile
            for stale in kernels.glob(".unpack-*"):  # left by a killed session; we hold the lock
                shutil.rmtree(stale, ignore_errors=True)
            if tree.root.exists():  # incomplete (renames are atomic, so only if tampered with)
                shutil.rmtree(tree.root)
            _unpack(package, version, tree.root)
            for old in _cached_trees(kernels):  # apt moved on: older kernels go
                if old.root != tree.root:
                    shutil.rmtree(old.root, ignore_errors=True)
    return tree
