"""Exceptions of the package layer (CAB expansion, package model, catalogs), all WimcoreErrors."""

from __future__ import annotations

from typing import ClassVar

from wimcore.errors import WimcoreError, WimcoreWarning

MSPACK_ERROR_NAMES: dict[int, str] = {
    0: "OK",
    1: "ARGS",
    2: "OPEN",
    3: "READ",
    4: "WRITE",
    5: "SEEK",
    6: "NOMEMORY",
    7: "SIGNATURE",
    8: "DATAFORMAT",
    9: "CHECKSUM",
    10: "CRUNCH",
    11: "DECRUNCH",
}


class CabinetError(WimcoreError):
    """A cabinet could not be opened, read or extracted; carries libmspack's code when known."""

    codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, message: str, *, code: int | None = None, path: str | None = None,
                 member: str | None = None, detail: str | None = None) -> None:
        self.code = code
        self.name = (f"MSPACK_ERR_{MSPACK_ERROR_NAMES.get(code, f'UNKNOWN_{code}')}"
                     if code is not None else None)
        self.path = path
        self.member = member
        #: What libmspack itself printed during the failed call (its own words), if anything.
        self.detail = detail
        where = ": ".join(str(p) for p in (path, member) if p)
        text = f"{where + ': ' if where else ''}{message}"
        if self.name is not None:
            text += f" [{self.name} ({code})]"
        if detail:
            text += f"; libmspack: {detail}"
        super().__init__(text)


class CabinetWarning(WimcoreWarning):
    """A message libmspack printed about a cabinet it could still read (an odd version,
    a merged set whose parts disagree, data it salvaged).

    Raised through Python's :mod:`warnings` machinery instead of reaching the terminal;
    the CLI prints it as ``wimcore: warning: ...`` and lists it in ``--json`` output.
    """

    def __init__(self, message: str, path: str | None = None,
                 member: str | None = None) -> None:
        where = ": ".join(str(p) for p in (path, member) if p)
        super().__init__(f"{where + ': ' if where else ''}libmspack: {message}")
        self.path = path
        self.member = member
        self.message = message

    def __reduce__(self) -> tuple[type[CabinetWarning], tuple[str, str | None, str | None]]:
        return type(self), (self.message, self.path, self.member)


class CorruptCabinetError(CabinetError):
    """Not a cabinet, or its headers or compressed data are damaged or truncated."""

    codes = frozenset({3, 5, 7, 8, 9, 11})


class CabinetIOError(CabinetError, OSError):
    """The host file system refused an open or a write."""

    codes = frozenset({2, 4})


class CabinetArgumentError(CabinetError, ValueError):
    """libmspack refused a parameter or argument (e.g. a tunable this build lacks)."""

    codes = frozenset({1, 10})


class CabinetMemoryError(CabinetError, MemoryError):
    """libmspack ran out of memory."""

    codes = frozenset({6})


class MissingCabinetPartError(CabinetError, FileNotFoundError):
    """A cabinet belongs to a set and the previous or next part is not beside it."""


class PackageError(WimcoreError):
    """An update package (MSU, CAB, express, WIM container) is malformed or unsupported."""


class PackageShapeError(PackageError):
    """A package whose shape wimcore does not understand (never expanded as if it were fine).

    ``found`` says what was found instead (e.g. "a PSF without an index").
    """

    def __init__(self, message: str, *, found: str | None = None) -> None:
        super().__init__(message)
        self.found = found


class PsfIndexError(PackageShapeError):
    """A PSF index (``*.psf.cix.xml``) that is malformed or lacks what checking needs."""


class DeltaError(PackageError):
    """An MSDelta (PA30/PA31/PA19/DCM) delta could not be read or applied; nothing was produced."""


class DeltaCorruptError(DeltaError):
    """A delta is damaged, truncated or hostile (bad sizes, bad tables, matches out of range)."""


class DeltaUnsupportedError(DeltaError):
    """A delta uses a feature wimcore's decoder refuses; ``feature`` names it (e.g. "rift")."""

    def __init__(self, message: str, *, feature: str) -> None:
        super().__init__(message)
        self.feature = feature


class DeltaHashMismatchError(DeltaError):
    """The decoded target does not have the hash its delta header records."""

    def __init__(self, message: str, *, algorithm: str, expected: str, actual: str) -> None:
        super().__init__(message)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class DeltaDecoderUnavailableError(DeltaError):
    """wimcore's compiled MSDelta module is missing; the message says how to build it."""


class ManifestError(PackageError):
    """An update.mum or component manifest lacks what a package manifest must have."""


class CatalogError(PackageError):
    """A .cat catalog is not a PKCS#7 certificate trust list we can read."""


class HashMismatchError(CatalogError):
    """An expanded file's hash is not the one its catalog lists."""


class PackageVerificationError(PackageError):
    """A package failed its check against its own catalogs and manifests; nothing used it.

    ``file`` names the file (or sub-package) at fault, ``package`` the package folder.
    """

    def __init__(self, message: str, *, file: str | None = None,
                 package: str | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.package = package


class PackageTamperedError(PackageVerificationError, HashMismatchError):
    """A file's bytes do not match the hash its catalog or component manifest lists."""


class PackageIncompleteError(PackageVerificationError):
    """A file, component or sub-package that the package's manifests name is not in it."""


class NotAnUpdateError(PackageError):
    """An input is not an update wimcore can use (e.g. a text file, an unknown cabinet).

    ``path`` is the input and ``reason`` why it was refused; nothing was copied from it.
    """

    def __init__(self, message: str, *, path: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


_BY_CODE: dict[int, type[CabinetError]] = {
    code: cls
    for cls in (CorruptCabinetError, CabinetIOError, CabinetArgumentError, CabinetMemoryError)
    for code in cls.codes
}


def cabinet_error_class(code: int) -> type[CabinetError]:
    """The exception class for a libmspack MSPACK_ERR_* code (CabinetError when unknown)."""
    return _BY_CODE.get(code, CabinetError)
