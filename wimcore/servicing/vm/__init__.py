"""The ``vm`` backend: install with the image's own DISM in WinPE under QEMU, mount-free.

``VmBackend`` (the servicing backend) and ``vm_usable(options)`` (None when ``auto`` may
choose it, else the reason). The modules: ``winpe`` (the servicing stack source and its
checks), ``bootfiles`` and ``bootmedium`` (the boot ISO), ``disks`` (NTFS volume files
and VMDK disks), ``guestjob`` (the job, the Windows batch, the launcher), ``jobdisk``,
``qemu`` (accelerator probe, command line, supervised run), ``results`` (strict parsing),
``capture`` (back into the WIM), ``bundle`` (prepare only, ``resume_bundle``), ``errors``.
"""

from __future__ import annotations

from typing import Any

from wimcore import lazy

_LAZY = lazy.exports({"backend": ("VmBackend", "vm_usable"), "bundle": ("resume_bundle",)})

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    return lazy.load(__name__, _LAZY, globals(), name)
