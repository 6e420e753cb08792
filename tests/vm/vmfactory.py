"""Helpers of the vm backend's tests: synthetic images, WinPE WIMs, stand-in backends.

Images and packages come from the servicing tests' builders (real WIMs, hives, CABs and
MSUs); a WinPE gets a ``dism.exe`` added with wimcore itself. The stand-in backend is
the real ``VmBackend`` booting the test guest (``tests/vm/standin``) instead of a WinPE
ISO; the guest's behaviour is chosen on its kernel command line.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "servicing"))

import winfactory as wf

import wimcore
from tests.vm.standin.build import StandinGuest
from wimcore.servicing.backend import BackendOptions
from wimcore.servicing.vm.backend import VmBackend
from wimcore.servicing.vm.qemu import KernelBoot

__all__ = ["pe_bytes", "standin_backend", "standin_boot", "standin_options",
           "tree_digest", "wf", "winpe_wim"]


def pe_bytes(machine: int = 0x8664, subsystem: int = 3, size: int = 4096) -> bytes:
    """A minimal PE32+ header (MZ, PE signature, machine, optional header, subsystem)."""
    data = bytearray(size)
    data[:2] = b"MZ"
    struct.pack_into("<I", data, 0x3C, 0x80)
    data[0x80:0x84] = b"PE\x00\x00"
    struct.pack_into("<H", data, 0x84, machine)
    struct.pack_into("<H", data, 0x98, 0x20B)  # PE32+ magic
    struct.pack_into("<H", data, 0x98 + 68, subsystem)
    return bytes(data)


def winpe_wim(path: Path, *, arch: str = "9", build: int = 19045, dism: bool = True,
              kind: str = "winpe") -> Path:
    """A WinPE WIM (one image) of the given WINDOWS/ARCH code and build, with dism.exe."""
    wf.make_wim(path, [wf.WinSpec(kind=kind, arch=arch, build=build)])
    if dism:
        exe = path.parent / f".{path.name}.dism.exe"
        exe.write_bytes(pe_bytes())
        with wimcore.open(path, writable=True) as wim:
            with wim.images[1].edit() as edit:
                edit.add(exe, "/Windows/System32/dism.exe")
            wim.commit()
        exe.unlink()
    return path


def standin_boot(guest: StandinGuest, *, modes: str = "", timeout: float = 240.0
                 ) -> KernelBoot:
    """The boot source of the stand-in guest (``modes``: the agent's modes)."""
    append = f"{guest.cmdline} standin.timeout={int(timeout) + 60}"
    if modes:
        append += f" wimcore.standin={modes}"
    return KernelBoot(guest.kernel, guest.initrd, append)


def standin_options(*, timeout: float = 240.0, **options: object) -> BackendOptions:
    """The vm backend's options for the stand-in guest: TCG, 512 MiB, one processor."""
    return BackendOptions(accel="tcg", memory_mib=512, cpus=1, timeout=timeout,
                          **options)  # type: ignore[arg-type]


def standin_backend(guest: StandinGuest, *, modes: str = "", timeout: float = 240.0,
                    **options: object) -> VmBackend:
    """The vm backend booting the stand-in guest under TCG (``modes``: the agent's modes)."""
    return VmBackend(standin_options(timeout=timeout, **options),
                     guest=standin_boot(guest, modes=modes, timeout=timeout))


def tree_digest(wim_path: Path, index: int) -> dict[str, str | None]:
    """path -> SHA-1 of every entry of one image (None for directories and empty files)."""
    with wimcore.open(wim_path) as wim:
        return {e.path: e.sha1 for e in wim.images[index].walk("/")}


def file_digest(path: Path) -> str:
    """SHA-256 of a file (inputs must stay byte-identical)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` that wimcore's temporary files or bundles would leave."""
    return sorted(p.name for p in folder.iterdir() if ".wimcore-tmp" in p.name
                  or p.name.startswith("wimcore-vm-")) if folder.is_dir() else []


def no_qemu_path(tmp: Path) -> str:
    """A PATH with the usual tools but no qemu-system-x86_64 (a host without QEMU)."""
    bin_dir = tmp / "bin-without-qemu"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("mkntfs", "wimlib-imagex"):
        for folder in [*os.environ.get("PATH", "").split(":"), "/usr/sbin", "/sbin"]:
            if folder and (Path(folder) / tool).exists() and not (bin_dir / tool).exists():
                (bin_dir / tool).symlink_to(Path(folder) / tool)
    return str(bin_dir)
