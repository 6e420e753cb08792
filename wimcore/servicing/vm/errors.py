"""Typed errors of the ``vm`` backend (all ``VmError``, a ``ServicingError``)."""

from __future__ import annotations

from wimcore.servicing.errors import ServicingError


class VmError(ServicingError):
    """Base class: the image's own servicing stack could not be run (or its answer used)."""


class WinPEError(VmError):
    """The servicing stack source is not usable: not WinPE, no dism.exe, wrong arch or build."""


class NotWinPEError(WinPEError):
    """The image given as the servicing stack is not Windows PE with ``dism.exe``."""


class WinPEArchError(WinPEError):
    """The WinPE's architecture cannot service the target (x64 WinPE: x64 targets only)."""


class WinPEBuildError(WinPEError):
    """The WinPE (and so its DISM) is older than the target image."""


class BootFilesError(VmError):
    """The boot files needed for the boot ISO are missing, or are not real Windows boot files."""


class QemuNotFoundError(VmError):
    """``qemu-system-x86_64`` is not installed (``apt-get install qemu-system-x86``)."""


class AccelUnavailableError(VmError):
    """KVM was asked for explicitly and is not usable on this host."""


class NotEnoughSpaceError(VmError):
    """The work folder's file system lacks the room the volume files will need."""

    def __init__(self, message: str, *, needed: int, free: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.free = free


class DiskToolError(VmError):
    """``mkntfs`` (ntfs-3g) is missing or failed to format a volume file."""


class TooManyTargetsError(VmError):
    """More target images than the VM's disk controller can present in one boot."""


class GuestTimeoutError(VmError):
    """The guest did not power off before the wall-clock timeout; QEMU was killed."""


class GuestStalledError(GuestTimeoutError):
    """The guest wrote no progress line for the stall timeout; QEMU was killed."""


class NetFx3SourceError(VmError):
    """The ``--enable-netfx3`` folder does not hold the NetFX3 feature-on-demand CAB."""


class GuestFailedError(VmError):
    """QEMU failed to start, or the guest stopped without writing its results."""


class ResultsError(VmError):
    """The guest's results are malformed, too large, or do not match the job (untrusted input)."""


class DismStepError(VmError):
    """A DISM step failed; the message quotes the tail of that step's ``dism.log``."""

    def __init__(self, message: str, *, step: int, exit_code: int, log_tail: str = "") -> None:
        super().__init__(message)
        self.step = step
        self.exit_code = exit_code
        self.log_tail = log_tail


class BundleError(VmError):
    """A prepared VM bundle cannot be written, or does not match what ``--resume`` is given."""
