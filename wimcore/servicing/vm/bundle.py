"""A prepared VM bundle (``--prepare-only DIR``) and finishing it (``--resume DIR``).

The bundle holds everything one boot needs (boot ISO, VMDK descriptors, header and
volume files, the job disk, ``qemu.sh`` with the exact command line), ``job.txt``,
``inputs/`` (the packages as they were given: MSU/CAB files, hard-linked when the file
system allows, or expanded folders) and ``bundle.json``: the WIM it was made from (path,
size and modification time, which must not change until the resume), the target indexes
and the options. Resuming re-plans the same packages (from ``inputs/``, classified and
verified again) for the same images, checks that the plan gives the same steps, reads
the guest's results from the bundle's job disk, captures the volumes back and commits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore.servicing.vm.errors import BundleError
from wimcore.servicing.vm.guestjob import GuestJob

if TYPE_CHECKING:
    from wimcore.progress import ProgressCallback
    from wimcore.servicing.report import ServicingReport

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 1
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def read_bundle(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """The bundle's manifest, checked for the fields ``--resume`` relies on."""
    path = Path(bundle) / BUNDLE_FILE
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise BundleError(f"{path}: too large for a bundle manifest")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a wimcore VM bundle ({exc})") from None
    need = {"format": int, "job_id": str, "wim": str, "wim_size": int, "wim_mtime_ns": int,
            "targets": list}
    if not isinstance(data, dict) or any(not isinstance(data.get(k), t)
                                         for k, t in need.items()):
        raise BundleError(f"{path}: a bundle manifest lacks required fields")
    if data["format"] != BUNDLE_FORMAT:
        raise BundleError(f"{path}: bundle format {data['format']} (this wimcore reads "
                          f"{BUNDLE_FORMAT})")
    if not data["targets"]:
        raise BundleError(f"{path}: the bundle has no target image")
    for t in data["targets"]:
        names_ok = isinstance(t, dict) and all(
            isinstance(t.get(k), str) and t[k] and "/" not in t[k] and "\\" not in t[k]
            and not t[k].startswith(".") for k in ("volume", "disk"))
        if not names_ok or not isinstance(t.get("index"), int) \
                or not isinstance(t.get("label"), str):
            raise BundleError(f"{path}: a malformed target entry (volume and disk files are "
                              "plain names inside the bundle)")
    return data


def check_unchanged(manifest: dict[str, Any]) -> None:
    """BundleError unless the bundle's WIM is still the file it was prepared from."""
    wim = Path(manifest["wim"])
    try:
        stat = wim.stat()
    except OSError as exc:
        raise BundleError(f"{wim}: the bundle's WIM is not there ({exc})") from None
    if (stat.st_size, stat.st_mtime_ns) != (manifest["wim_size"], manifest["wim_mtime_ns"]):
        raise BundleError(f"{wim} changed since the bundle was prepared; its volumes no "
                          "longer describe it: prepare a new bundle")


def bundle_readme(job: GuestJob, targets: int, fakes: Sequence[str], dest: Path) -> str:
    """``README.txt`` of a bundle: what is in it, the steps, how to finish."""
    lines = ["wimcore VM bundle", "",
             f"job {job.job_id}: {targets} target image(s), {len(job.steps)} DISM step(s)", "",
             "Files: boot.iso (WinPE with the job launcher), job.vmdk/job.hdr/job.img (the job "
             "disk), target-N.vmdk/.hdr/.img (each target image on an NTFS volume), job.txt "
             "(the job), inputs/ (the packages as given, for --resume), qemu.sh (the exact "
             "QEMU command), bundle.json (what --resume checks).", "", "Steps:"]
    lines += [f"  {s.number:>2}  target {s.target}  {s.title}" for s in job.steps]
    if fakes:
        lines += ["", "WARNING: the boot files are not real Windows boot files; this bundle "
                      "will not boot:"] + [f"  {f}" for f in fakes]
    lines += ["", f"Run ./qemu.sh on a KVM host, then: wimcore package install --resume {dest}",
              ""]
    return "\n".join(lines)


def resume_bundle(bundle: str | os.PathLike[str], *,
                  progress: ProgressCallback | None = None,
                  report_path: str | os.PathLike[str] | None = None,
                  log_path: str | os.PathLike[str] | None = None,
                  continue_on_error: bool = False) -> ServicingReport:
    """Finish a bundle that was booted elsewhere: results, capture back, post-check, commit.

    The WIM named in the bundle must be unchanged since it was prepared (BundleError
    otherwise); the run is an ordinary servicing run of the ``vm`` backend otherwise, with
    its report, log and history.
    """
    from wimcore.servicing.backend import BackendOptions
    from wimcore.servicing.run import service_wim

    root = Path(bundle).absolute()
    manifest = read_bundle(root)
    check_unchanged(manifest)
    folder = root / "inputs"
    inputs = sorted(folder.iterdir()) if folder.is_dir() else []
    if not inputs:
        raise BundleError(f"{folder}: the bundle holds no packages")
    opts = manifest.get("options") if isinstance(manifest.get("options"), dict) else {}
    assert isinstance(opts, dict)
    options = BackendOptions(resume=str(root), cleanup=bool(opts.get("cleanup")),
                             reset_base=bool(opts.get("reset_base")))
    return service_wim(manifest["wim"], inputs,
                       images=[int(t["index"]) for t in manifest["targets"]], backend="vm",
                       options=options, progress=progress, report_path=report_path,
                       log_path=log_path, continue_on_error=continue_on_error)
