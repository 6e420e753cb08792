"""Take update inputs in: classify each one, expand it, verify it, load its packages.

``prepare_inputs(inputs, work, ...) -> Intake`` is what plan, stage, install and the
media routine run before they use any package: every input gets a record (its class
from :func:`~wimcore.packages.classify.classify_inputs` and what happens to it), every
servicing package is expanded into ``work`` and checked against its own catalogs and
manifests (:mod:`wimcore.packages.verify`), and an input that is not an update is
refused with :class:`NotAnUpdateError`. Nothing of a refused or failed input is used.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.errors import Cancelled, WimcoreError
from wimcore.packages.classify import ClassifiedInput, InputClass, InputClassifier
from wimcore.packages.errors import NotAnUpdateError, PackageError
from wimcore.packages.model import Package, load_package
from wimcore.packages.verify import (
    SIGNATURE_NOTE,
    PackageVerification,
    UnverifiedFile,
    skipped_verification,
    verify_expanded_package,
)
from wimcore.progress import ProgressCallback, ProgressEvent, ProgressKind

SKIP_VERIFY_WARNING = ("--skip-verify: packages are used WITHOUT checking their files against "
                       "their catalogs and manifests; a changed or incomplete package would "
                       "not be noticed")
SETUP_DU_SKIP = "Setup Dynamic Update: belongs to the media's sources/"
#: Files of a manifest-based Setup update that describe it and are not Setup files.
_PACKAGE_METADATA = (".mum", ".cat", ".manifest")


@dataclass
class InputRecord:
    """One input: what it is, what happens to it, and what its check found."""

    input: ClassifiedInput
    action: str  # use | copy-to-sources | skip | ignore | refuse | failed
    detail: str
    folders: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    verification: list[PackageVerification] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def unverified_lines(self, limit: int = 5) -> list[str]:
        """Readable lines for the files whose bytes could not be checked (the first few)."""
        files = [u for v in self.verification for u in v.unverified]
        lines = [f"unverified: {u.path}: {u.reason}" for u in files[:limit]]
        if len(files) > limit:
            lines.append(f"unverified: ... and {len(files) - limit} more (see the JSON report)")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**self.input.to_dict(), "action": self.action, "detail": self.detail,
                "folders": self.folders, "keys": self.keys,
                "verification": [v.to_dict() for v in self.verification],
                "error": self.error, "seconds": round(self.seconds, 3)}


@dataclass
class SetupDynamicUpdate:
    """A Setup Dynamic Update ready to copy into ``sources/``: its files, extracted."""

    source: Path
    folder: Path
    files: list[str]
    evidence: str


@dataclass
class Intake:
    """All inputs of a run: records, the verified packages, the Setup Dynamic Updates."""

    records: list[InputRecord] = field(default_factory=list)
    packages: list[Package] = field(default_factory=list)
    setup_dus: list[SetupDynamicUpdate] = field(default_factory=list)
    skip_verify: bool = False

    @property
    def verifications(self) -> list[PackageVerification]:
        """Every package check (one per package folder)."""
        return [v for r in self.records for v in r.verification]

    @property
    def unverified(self) -> list[tuple[str, UnverifiedFile]]:
        """(package folder, file) for every file whose bytes could not be checked."""
        return [(v.folder, u) for v in self.verifications for u in v.unverified]

    @property
    def warnings(self) -> list[str]:
        """What the run must say loudly: verification skipped, files left unverified."""
        out = [SKIP_VERIFY_WARNING] if self.skip_verify else []
        if not self.skip_verify:
            for v in self.verifications:
                if v.unverified:
                    out.append(f"{v.key or v.folder}: {len(v.unverified)} file(s) unverified "
                               f"({v.unverified[0].path}: {v.unverified[0].reason}"
                               + (", ..." if len(v.unverified) > 1 else "") + ")")
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"inputs": [r.to_dict() for r in self.records],
                "skip_verify": self.skip_verify,
                "verification": "skipped (--skip-verify)" if self.skip_verify else
                "file hashes and contents checked against each package's own catalogs and "
                "manifests",
                "signatures": SIGNATURE_NOTE}

    def table(self) -> str:
        """A readable table: one row per input with its class, kinds and what happens."""
        rows = [("INPUT", "CLASS", "KIND", "ACTION")]
        details: list[str] = []
        for r in self.records:
            kinds = ", ".join(dict.fromkeys(r.input.kinds)) or "-"
            rows.append((r.input.path.name, r.input.input_class.value, kinds, r.action))
            details.append(r.detail + (f" ({r.input.reason})" if r.action != "use" else ""))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["Inputs:"]
        for n, row in enumerate(rows):
            text = "  " + "  ".join(row[i].ljust(widths[i]) for i in range(4))
            lines.append(text + (f"  {details[n - 1]}" if n else "  WHAT"))
            if n:
                lines += [f"      {line}" for line in self.records[n - 1].unverified_lines()]
        lines.append(f"  note: {SIGNATURE_NOTE}")
        return "\n".join(lines)


def _tell(progress: ProgressCallback | None, message: str) -> None:
    if progress is not None and progress(ProgressEvent(ProgressKind.STEP,
                                                       message=message)) is False:
        raise Cancelled(f"cancelled at: {message}")


def _outermost_mum_folders(root: Path) -> list[Path]:
    """Folders holding a .mum under ``root``, without those nested in another one."""
    found = sorted({p.parent for p in root.rglob("*.mum")})
    keep: list[Path] = []
    for f in found:
        if not any(k in f.parents for k in keep):
            keep.append(f)
    return keep


class _Intake:
    """One intake run: where to expand, how to verify, what to do with errors."""

    def __init__(self, work: Path, skip_verify: bool, keep_setup_du: bool,
                 progress: ProgressCallback | None,
                 on_error: Callable[[InputRecord, BaseException], None] | None) -> None:
        self.work = work
        self.skip_verify = skip_verify
        self.keep_setup_du = keep_setup_du
        self.progress = progress
        self.on_error = on_error
        self.result = Intake(skip_verify=skip_verify)
        self.count = 0

    def take(self, row: ClassifiedInput) -> None:
        """Act on one classified input; refuse it or record its failure."""
        record = InputRecord(row, "pending", "")
        self.result.records.append(record)
        start = time.monotonic()
        try:
            _tell(self.progress, f"input {row.path.name}: {row.input_class.value}")
            if row.input_class is InputClass.NOT_AN_UPDATE:
                record.action, record.detail = "refuse", "not an update"
                raise NotAnUpdateError(f"{row.path}: not an update: {row.reason}; nothing was "
                                       "copied from it (remove it from the inputs)",
                                       path=str(row.path), reason=row.reason)
            if row.input_class is InputClass.COMPANION:
                record.action, record.detail = "ignore", "read with its package"
            elif row.input_class is InputClass.SETUP_DYNAMIC_UPDATE:
                self._setup_du(record)
            else:
                self._package(record)
        except (Cancelled, KeyboardInterrupt):
            raise
        except (WimcoreError, OSError) as exc:
            if record.action not in ("refuse",):
                record.action = "failed"
            record.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            record.detail = record.detail or "failed"
            if self.on_error is None:
                raise
            self.on_error(record, exc)
        finally:
            record.seconds = time.monotonic() - start

    def _dest(self, path: Path) -> Path:
        self.count += 1
        return self.work / f"{self.count:02d}-{path.stem[:60]}"

    def _package(self, record: InputRecord) -> None:
        from wimcore.packages.expand import expand

        row = record.input
        props: dict[str, str] = {}
        if row.format in ("folder", "mum"):
            base = row.path if row.format == "folder" else row.path.parent
            folders = _outermost_mum_folders(base) if row.format == "folder" else [base]
            record.detail = "used in place"
        else:
            _tell(self.progress, f"input {row.path.name}: expanding")
            result = expand(row.path, self._dest(row.path), progress=self.progress)
            props = dict(result.msu.properties) if result.msu else {}
            folders = _outermost_mum_folders(result.dest)
            record.detail = f"expanded ({result.files} files)"
        if not folders:
            raise PackageError(f"{row.path}: no update.mum found in it")
        if row.format == "folder" and not (row.path / "update.mum").is_file() and any(
                row.path.glob("*-pkgProperties.txt")):
            from wimcore.packages.msu import parse_pkg_properties

            for f in sorted(row.path.glob("*-pkgProperties.txt")):
                props.update(parse_pkg_properties(f.read_bytes()))
        loaded: list[tuple[Package, PackageVerification]] = []
        for folder in folders:
            ssu = folder.name.casefold().startswith("ssu-")
            pkg = load_package(folder, properties={} if ssu else props)
            _tell(self.progress, f"input {row.path.name}: verifying {pkg.key}")
            check = (skipped_verification(folder, pkg) if self.skip_verify
                     else verify_expanded_package(folder, pkg))
            loaded.append((pkg, check))
        for pkg, check in loaded:  # only once every package of the input passed
            self.result.packages.append(pkg)
            record.folders.append(str(Path(pkg.path or "").parent))
            record.keys.append(pkg.key)
            record.verification.append(check)
        record.action = "use"
        if len(record.verification) == 1:
            record.detail += "; " + record.verification[0].summary()
        else:
            record.detail += "; " + "; ".join(f"{Path(v.folder).name}: {v.summary()}"
                                              for v in record.verification)

    def _setup_du(self, record: InputRecord) -> None:
        row = record.input
        if not self.keep_setup_du:
            record.action, record.detail = "skip", SETUP_DU_SKIP
            return
        from wimcore.packages.cab import Cabinet
        from wimcore.packages.expand import expand

        dest = self._dest(row.path)
        check: PackageVerification
        if row.packages:  # a manifest-based Setup update: expand and verify it as a package
            if row.format in ("folder", "mum"):
                folder = row.path if row.format == "folder" else row.path.parent
            else:
                folder = expand(row.path, dest, progress=self.progress).dest
            pkg = load_package(_outermost_mum_folders(folder)[0])
            check = (skipped_verification(folder, pkg) if self.skip_verify
                     else verify_expanded_package(folder, pkg))
        else:
            _tell(self.progress, f"input {row.path.name}: extracting")
            with Cabinet(row.path) as cab:
                cab.extract(dest, progress=self.progress)
            folder = dest
            check = skipped_verification(folder) if self.skip_verify else PackageVerification(
                str(folder), None, unverified=[UnverifiedFile(
                    f, "a Setup Dynamic Update cabinet carries no catalog (its Authenticode "
                       "signature is not checked)") for f in _relative_files(folder)])
        check.key = row.path.name
        files = [f for f in _relative_files(folder)
                 if not f.casefold().endswith(_PACKAGE_METADATA)]
        self.result.setup_dus.append(SetupDynamicUpdate(row.path, folder, files, row.reason))
        record.folders.append(str(folder))
        record.verification.append(check)
        record.action = "copy-to-sources"
        record.detail = f"{len(files)} file(s) for the media's sources/; {check.summary()}"


def _relative_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and not p.is_symlink())


def prepare_inputs(inputs: Iterable[str | os.PathLike[str]], work: str | os.PathLike[str], *,
                   sources: str | os.PathLike[str] | None = None,
                   setup_du: Sequence[str | os.PathLike[str]] = (),
                   exclude: Sequence[str | os.PathLike[str]] = (),
                   skip_verify: bool = False, keep_setup_du: bool = False,
                   progress: ProgressCallback | None = None,
                   on_error: Callable[[InputRecord, BaseException], None] | None = None
                   ) -> Intake:
    """Classify, expand (into ``work``), verify and load every input; see the module docstring.

    ``sources``/``setup_du``/``exclude`` feed the Setup Dynamic Update rule of
    :mod:`wimcore.packages.classify`. ``keep_setup_du`` extracts Setup Dynamic Updates
    for the media's ``sources/`` (the media routine); otherwise they are skipped with
    their reason. ``skip_verify`` uses packages unchecked (recorded, and loud in
    :attr:`Intake.warnings`). Without ``on_error`` the first refused or failed input
    raises its typed error (:class:`NotAnUpdateError`, :class:`PackageTamperedError`,
    :class:`PackageIncompleteError`, ...); with it, the input is recorded as failed and
    the rest go on. Cancels (a progress callback returning False, Ctrl-C) always raise.
    """
    root = Path(work)
    root.mkdir(parents=True, exist_ok=True)
    classifier = InputClassifier(sources=sources, setup_du=setup_du, exclude=exclude)
    run = _Intake(root, skip_verify, keep_setup_du, progress, on_error)
    rows: list[ClassifiedInput] = []
    for item in inputs:
        path = Path(item)
        try:
            rows.extend(classifier.classify(path))
        except (WimcoreError, OSError) as exc:
            record = InputRecord(ClassifiedInput(path, InputClass.NOT_AN_UPDATE, "unreadable",
                                                 str(exc).splitlines()[0] if str(exc) else
                                                 type(exc).__name__), "failed", "unreadable",
                                 error=str(exc).splitlines()[0] if str(exc) else
                                 type(exc).__name__)
            run.result.records.append(record)
            if on_error is None:
                raise
            on_error(record, exc)
    for row in classifier.finish(rows):
        run.take(row)
    return run.result
