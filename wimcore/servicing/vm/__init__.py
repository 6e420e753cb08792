"""The ``vm`` backend: install with the image's own DISM in WinPE under QEMU, mount-free.

``VmBackend`` (the servicing backend) and ``vm_usable(options)`` (None when ``auto`` may
choose it, else the reason). The modules: ``winpe`` (the servicing stack source and its
checks), ``bootfiles`` and ``bootmedium`` (the boot ISO), ``disks`` (NTFS volume files
and VMDK disks), ``guestjob`` (the job, the Windows batch, the launcher), ``jobdisk``,
``qemu`` (accelerator probe, command line, supervised run), ``results`` (strict parsing),
``capture`` (back into the WIM), ``errors``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wimcore.servicing.vm.backend import VmBackend, vm_usable

__all__ = ["VmBackend", "vm_usable"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from wimcore.servicing.vm import backend

        value = getattr(backend, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wimcore.servicing.vm' has no attribute {name!r}")
