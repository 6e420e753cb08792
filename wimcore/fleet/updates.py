"""The content library of updates: what ``fleet updates add`` does.

Every input goes through wimcore's one classification and intake
(:mod:`wimcore.packages.classify`, :func:`wimcore.packages.intake.prepare_inputs`), so a
file is the same thing here as to ``package plan``/``stage`` and ``media service``:

- a servicing package (MSU, CAB, WIM container) is expanded into a scratch folder,
  verified against its own catalogs and manifests, and its file copied into
  ``<library>/updates/<sha256>/`` once (an express ``.psf`` beside it goes with it);
- a Setup Dynamic Update is skipped with the intake's own reason: it belongs to a
  media's ``sources/``, not to an image;
- an input that is not an update, or a package that fails its check, is refused with the
  intake's typed error (:class:`~wimcore.packages.errors.NotAnUpdateError`,
  :class:`~wimcore.packages.errors.PackageTamperedError`, ...) and nothing of it is stored.

A file whose content is already in the library is not expanded again (it was checked at
its import), unless it was imported with ``skip_verify`` and this import verifies: then
it is checked now and its record updated. ``skip_verify`` stores packages unchecked and
says so in the catalog (``verification.state == "skipped"``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore import ledger
from wimcore.fleet.catalog import Catalog, now_iso
from wimcore.fleet.errors import LibraryError
from wimcore.fleet.library import file_hashes

if TYPE_CHECKING:
    from wimcore.packages.classify import ClassifiedInput
    from wimcore.packages.intake import InputRecord, Intake
    from wimcore.progress import ProgressCallback

#: Formats stored as one file; expanded folders (and a bare .mum) are not.
STORED_FORMATS = frozenset({"msu", "cab", "wim"})
#: Import states of one input.
IMPORT_STATES = ("imported", "already-present", "verified-now", "skipped", "companion",
                 "refused")


@dataclass
class UpdateImport:
    """What happened to one input of ``updates add``, and why."""

    source: str
    status: str  # one of IMPORT_STATES
    reason: str = ""
    input_class: str | None = None
    sha256: str | None = None
    stored_path: str | None = None
    packages: list[dict[str, Any]] = field(default_factory=list)
    verification: dict[str, Any] | None = None
    #: The typed error of a refused input (the intake's own), for callers to raise.
    error: BaseException | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"source": self.source, "status": self.status, "reason": self.reason,
                "class": self.input_class, "sha256": self.sha256,
                "stored_path": self.stored_path, "packages": self.packages,
                "verification": self.verification,
                "error_type": type(self.error).__name__ if self.error is not None else None}


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def verification_record(record: InputRecord, skip_verify: bool) -> dict[str, Any]:
    """What the catalog keeps of an input's check: its state, counts and unchecked files."""
    from wimcore.packages.verify import SIGNATURE_NOTE

    checks = record.verification
    if skip_verify:
        state = "skipped"
    elif checks and all(v.state == "verified" for v in checks):
        state = "verified"
    elif any(v.verified for v in checks):
        state = "partly-verified"
    else:
        state = "unverified"
    return {"state": state, "skip_verify": skip_verify, "summary": record.detail,
            "packages": len(checks), "verified": sum(len(v.verified) for v in checks),
            "unverified": [{"package": v.key, **u.to_dict()} for v in checks
                           for u in v.unverified],
            "signatures": SIGNATURE_NOTE, "checked_at": now_iso()}


class _Import:
    """One ``updates add``: the classified rows, what is known, what was done."""

    def __init__(self, catalog: Catalog, skip_verify: bool) -> None:
        self.catalog = catalog
        self.skip_verify = skip_verify
        self.results: dict[Path, UpdateImport] = {}
        self.hashes: dict[Path, tuple[str, str]] = {}

    def hash_of(self, path: Path) -> tuple[str, str]:
        """SHA-256 and SHA-1 of an input file (read once per import)."""
        if path not in self.hashes:
            self.hashes[path] = file_hashes(path)
        return self.hashes[path]

    def known(self, row: ClassifiedInput) -> dict[str, Any] | None:
        """The library's record of this file's content, when it needs no new check."""
        found = self.catalog.update_file(self.hash_of(row.path)[0])
        if found is None:
            return None
        unchecked = found["verification"].get("state") == "skipped"
        return None if unchecked and not self.skip_verify else found

    def package_rows(self, row: ClassifiedInput, record: InputRecord,
                     intake: Intake) -> list[dict[str, Any]]:
        """The catalog rows of the packages an input holds (kinds from the classification)."""
        kinds = {p.key: p.kind for p in row.packages}
        out = []
        for pkg in intake.packages:
            if pkg.key in record.keys:
                out.append({"key": pkg.key, "name": pkg.identity.name,
                            "version": pkg.identity.version, "arch": pkg.identity.arch,
                            "kb": pkg.kb, "kind": kinds.get(pkg.key, pkg.kind.value),
                            "release_type": pkg.release_type})
        return out

    def store(self, row: ClassifiedInput, record: InputRecord, intake: Intake) -> UpdateImport:
        """Copy a verified package file into the library (once by hash) and record it."""
        from wimcore.atomic import atomic_output

        sha256, sha1 = self.hash_of(row.path)
        check = verification_record(record, self.skip_verify)
        packages = self.package_rows(row, record, intake)
        found = self.catalog.update_file(sha256)
        if found is not None:
            if found["verification"].get("state") != "skipped" or self.skip_verify:
                return UpdateImport(str(row.path), "already-present",  # twice in one import
                                    f"same content as {found['name']}", row.input_class.value,
                                    sha256, found["stored_path"], packages,
                                    found["verification"])
            self.catalog.set_file_verification(sha256, check)  # imported unchecked before
            return UpdateImport(str(row.path), "verified-now",
                                f"same content as {found['name']}, imported with "
                                "--skip-verify; checked now", row.input_class.value, sha256,
                                found["stored_path"], packages, check)
        dest_dir = self.catalog.library_dir() / "updates" / sha256[:2] / sha256
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / row.path.name
        if not dest.exists():
            with atomic_output(dest) as tmp:
                shutil.copyfile(row.path, tmp)
        self.catalog.add_update_file({"sha256": sha256, "sha1": sha1,
                                      "size": row.path.stat().st_size, "name": row.path.name,
                                      "format": row.format, "stored_path": str(dest),
                                      "verification": check}, packages)
        return UpdateImport(str(row.path), "imported", record.detail, row.input_class.value,
                            sha256, str(dest), packages, check)

    def companion(self, row: ClassifiedInput, record: InputRecord | None) -> UpdateImport:
        """An express payload: copied beside its package's stored file, if that is stored."""
        from wimcore.atomic import atomic_output

        reason = row.reason if record is None else f"{record.detail} ({row.reason})"
        owner = next((r for p, r in self.results.items()
                      if p.parent == row.path.parent and p.stem == row.path.stem
                      and r.stored_path), None)
        if owner is None or owner.stored_path is None:
            return UpdateImport(str(row.path), "companion", reason + "; its package is not "
                                "in the library", row.input_class.value)
        dest = Path(owner.stored_path).with_name(row.path.name)
        if not dest.exists():
            with atomic_output(dest) as tmp:
                shutil.copyfile(row.path, tmp)
        return UpdateImport(str(row.path), "companion", reason + f"; stored beside "
                            f"{Path(owner.stored_path).name}", row.input_class.value,
                            stored_path=str(dest))


def add_updates(catalog: Catalog, paths: Sequence[str | os.PathLike[str]], *,
                sources: str | os.PathLike[str] | None = None,
                setup_du: Sequence[str | os.PathLike[str]] = (),
                skip_verify: bool = False, work_dir: str | os.PathLike[str] | None = None,
                progress: ProgressCallback | None = None) -> list[UpdateImport]:
    """Import update files (and the files in folders) into the content library.

    One result per input, in order (see the module docstring for the rules);
    ``sources``/``setup_du`` are the Setup Dynamic Update evidence of
    :mod:`wimcore.packages.classify`, ``skip_verify`` stores packages unchecked
    (recorded). Refused inputs carry their typed error in ``.error``; the others are
    stored even when one is refused. ``work_dir``: where packages are expanded to be
    checked (a temporary folder by default, removed afterwards). A cancel (progress
    callback returning False, Ctrl-C) raises before anything is stored.
    """
    from wimcore.errors import WimcoreError
    from wimcore.packages.classify import InputClass, InputClassifier
    from wimcore.packages.intake import prepare_inputs

    run = _Import(catalog, skip_verify)
    classifier = InputClassifier(sources=sources, setup_du=setup_du)
    rows: list[ClassifiedInput] = []
    order: list[Path] = []  # every input (or folder entry), in the order given
    for item in map(Path, paths):
        try:
            found = classifier.classify(item)
        except (WimcoreError, OSError) as exc:  # unreadable: refused as the intake does
            run.results[item] = UpdateImport(str(item), "refused", _first_line(exc),
                                             error=exc)
            order.append(item)
            continue
        rows.extend(found)
        order.extend(r.path for r in found)
    rows = classifier.finish(rows)  # set-wide rules: checkpoint kinds, --setup-du named
    todo: list[ClassifiedInput] = []
    for row in rows:
        if row.input_class is InputClass.SERVICING_PACKAGE:
            if row.format not in STORED_FORMATS:
                error = LibraryError(
                    f"{row.path}: {row.reason}: the content library stores update files "
                    "(MSU, CAB, WIM container), not expanded folders; give the file it came "
                    "from")
                run.results[row.path] = UpdateImport(str(row.path), "refused", str(error),
                                                     row.input_class.value, error=error)
                continue
            known = run.known(row)
            if known is not None:
                run.results[row.path] = UpdateImport(
                    str(row.path), "already-present", f"same content as {known['name']}",
                    row.input_class.value, known["sha256"], known["stored_path"],
                    [p.to_dict() for p in row.packages], known["verification"])
                continue
        todo.append(row)
    failures: dict[int, BaseException] = {}
    work = Path(ledger.scratch_dir(prefix="wimcore-fleet-updates-", dir=work_dir))
    try:
        wanted = {r.path.absolute() for r in todo}
        intake = prepare_inputs(
            [r.path for r in todo], work, sources=sources,
            setup_du=[p for p in setup_du if Path(p).absolute() in wanted],
            skip_verify=skip_verify, progress=progress,
            on_error=lambda record, exc: failures.__setitem__(id(record), exc))
        records = {r.input.path.absolute(): r for r in intake.records}
        for row in todo:
            record = records.get(row.path.absolute())
            if record is None or row.input_class is InputClass.COMPANION:
                continue
            if record.action == "use":
                run.results[row.path] = run.store(row, record, intake)
            elif record.action == "skip":  # a Setup Dynamic Update: the intake's words
                run.results[row.path] = UpdateImport(
                    str(row.path), "skipped", f"{record.detail} ({row.reason})",
                    row.input_class.value)
            else:
                run.results[row.path] = UpdateImport(
                    str(row.path), "refused", record.error or record.detail,
                    row.input_class.value, error=failures.get(id(record)))
        for row in todo:
            if row.input_class is InputClass.COMPANION:
                run.results[row.path] = run.companion(row, records.get(row.path.absolute()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [run.results[p] for p in dict.fromkeys(order) if p in run.results]
