"""A prepared VM bundle (``--prepare-only DIR``) and finishing it (``--resume DIR``).

The bundle holds everything one boot needs (boot ISO, VMDK descriptors, header and
volume files, the job disk, ``qemu.sh`` with the exact command line), ``job.txt``,
``inputs/`` (the packages as they were given: MSU/CAB files, hard-linked when the file
system allows, or expanded folders) and ``bundle.json``: the WIM it was made from, the
target indexes and the options. Every path inside the bundle is relative to it, so the
bundle can be moved to a KVM host and back. The WIM is found by its fingerprint (size,
modification time and a SHA-256 of its header and XML data), not by its path: ``--wim
PATH`` names it when it is neither where the bundle expects it (the same relative path
as at preparation) nor where it was. Resuming re-plans the same packages (from
``inputs/``, classified and verified again) for the same images, checks that the plan
gives the same steps, reads the guest's results from the bundle's job disk, captures the
volumes back and commits.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore.servicing.vm.errors import BundleError
from wimcore.servicing.vm.guestjob import GuestJob

if TYPE_CHECKING:
    from wimcore.progress import ProgressCallback
    from wimcore.servicing.report import ServicingReport

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 2
#: The WIM header's XML resource: its stored size (7 bytes) at 0x48, its offset at 0x50.
_XML_RESHDR = 0x48
_HEADER_BYTES = 208
_MAX_XML_BYTES = 256 * 1024 * 1024
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
    if isinstance(data, dict) and isinstance(data.get("format"), int) \
            and data["format"] != BUNDLE_FORMAT:
        raise BundleError(f"{path}: bundle format {data['format']} (this wimcore reads "
                          f"{BUNDLE_FORMAT}): prepare the bundle again")
    need = {"format": int, "job_id": str, "wim": str, "wim_size": int, "wim_mtime_ns": int,
            "wim_fingerprint": str, "targets": list}
    if not isinstance(data, dict) or any(not isinstance(data.get(k), t)
                                         for k, t in need.items()):
        raise BundleError(f"{path}: a bundle manifest lacks required fields")
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


def wim_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a WIM's header and its XML data (which names every image and its
    sizes): cheap to compute, and a changed or different WIM gives another one."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        header = fh.read(_HEADER_BYTES)
        h.update(header)
        if len(header) == _HEADER_BYTES:
            size = int.from_bytes(header[_XML_RESHDR:_XML_RESHDR + 7], "little")
            offset = struct.unpack_from("<Q", header, _XML_RESHDR + 8)[0]
            if 0 < size <= _MAX_XML_BYTES:
                fh.seek(offset)
                h.update(fh.read(size))
    return h.hexdigest()


def _matches(path: Path, manifest: dict[str, Any]) -> str | None:
    """None when ``path`` is the bundle's WIM (size, mtime, fingerprint), else why not."""
    try:
        stat = path.stat()
    except OSError as exc:
        return f"{path}: not there ({exc.strerror or exc})"
    if stat.st_size != manifest["wim_size"]:
        return f"{path}: its size differs from the bundle's WIM"
    if stat.st_mtime_ns != manifest["wim_mtime_ns"]:
        return f"{path}: modified since the bundle was prepared"
    try:
        if wim_fingerprint(path) != manifest["wim_fingerprint"]:
            return f"{path}: its header or XML differ from the bundle's WIM"
    except OSError as exc:
        return f"{path}: unreadable ({exc})"
    return None


def find_wim(bundle: Path, manifest: dict[str, Any],
             given: str | os.PathLike[str] | None = None) -> Path:
    """The bundle's WIM: ``given``, else the same relative path from the bundle as at
    preparation, else where it was then; each must match the fingerprint (BundleError
    saying what was tried otherwise)."""
    tried: list[str] = []
    candidates = [Path(given)] if given is not None else [
        bundle / manifest["wim"], Path(str(manifest.get("wim_prepared_at") or ""))]
    for path in candidates:
        if not str(path) or str(path) == ".":
            continue
        why = _matches(path, manifest)
        if why is None:
            return path.absolute()
        tried.append(why)
    changed = any("modified since" in t or "differ" in t for t in tried)
    raise BundleError(("the bundle's WIM changed since the bundle was prepared; its volumes "
                       "no longer describe it: prepare a new bundle" if changed else
                       "the bundle's WIM was not found; give it with --wim PATH")
                      + " (" + "; ".join(tried) + ")")


def check_unchanged(manifest: dict[str, Any], wim: Path) -> None:
    """BundleError unless ``wim`` is still the file the bundle was prepared from."""
    why = _matches(wim, manifest)
    if why is not None:
        raise BundleError(f"{wim} changed since the bundle was prepared; its volumes no "
                          f"longer describe it: prepare a new bundle ({why})")


def bundle_readme(job: GuestJob, targets: int, fakes: Sequence[str], timeout: float) -> str:
    """``README.txt`` of a bundle: what is in it, the steps, how to move it, how to finish."""
    lines = ["wimcore VM bundle", "",
             f"job {job.job_id}: {targets} target image(s), {len(job.steps)} DISM step(s)", "",
             "Files: boot.iso (WinPE with the job launcher), job.vmdk/job.hdr/job.img (the job "
             "disk), target-N.vmdk/.hdr/.img (each target image on an NTFS volume), job.txt "
             "(the job), inputs/ (the packages as given, for --resume), qemu.sh (the exact "
             "QEMU command), bundle.json (what --resume checks). Every path is relative to "
             "this folder.", "", "Steps:"]
    lines += [f"  {s.number:>2}  target {s.target}  {s.title}" for s in job.steps]
    if fakes:
        lines += ["", "WARNING: the boot files are not real Windows boot files; this bundle "
                      "will not boot:"] + [f"  {f}" for f in fakes]
    lines += ["", "Moving the bundle: the .img volume files are sparse (mostly holes); a plain",
              "copy writes every hole out in full. Keep them sparse:",
              "  cp -r --sparse=always BUNDLE DEST",
              "  tar -cSf bundle.tar BUNDLE      (and tar -xSf bundle.tar on the other side)",
              "  rsync -aS BUNDLE/ HOST:DEST/",
              "", f"Run ./qemu.sh on a KVM host (it stops the VM after {int(timeout)} s; set",
              "WIMCORE_TIMEOUT to change that). Bring the bundle back (sparse, as above) and",
              "finish on the host that has the WIM:",
              "  wimcore package install --resume BUNDLE [--wim PATH-OF-THE-WIM]",
              "(--wim only when the WIM is not at the same place relative to the bundle as",
              "when it was prepared; it is matched by size, mtime and a hash of its header",
              "and XML, and must not have changed.)", ""]
    return "\n".join(lines)


def resume_bundle(bundle: str | os.PathLike[str], *,
                  wim_path: str | os.PathLike[str] | None = None,
                  progress: ProgressCallback | None = None,
                  report_path: str | os.PathLike[str] | None = None,
                  log_path: str | os.PathLike[str] | None = None,
                  continue_on_error: bool = False) -> ServicingReport:
    """Finish a bundle that was booted elsewhere: results, capture back, post-check, commit.

    The bundle's WIM (``wim_path``, or found as :func:`find_wim` says) must be unchanged
    since it was prepared (BundleError otherwise); the run is an ordinary servicing run
    of the ``vm`` backend otherwise, with its report, log and history.
    """
    from wimcore.servicing.backend import BackendOptions
    from wimcore.servicing.run import service_wim

    root = Path(bundle).absolute()
    manifest = read_bundle(root)
    wim = find_wim(root, manifest, wim_path)
    folder = root / "inputs"
    inputs = sorted(folder.iterdir()) if folder.is_dir() else []
    if not inputs:
        raise BundleError(f"{folder}: the bundle holds no packages")
    opts = manifest.get("options") if isinstance(manifest.get("options"), dict) else {}
    assert isinstance(opts, dict)
    options = BackendOptions(resume=str(root), resume_wim=str(wim),
                             cleanup=bool(opts.get("cleanup")),
                             reset_base=bool(opts.get("reset_base")))
    return service_wim(wim, inputs,
                       images=[int(t["index"]) for t in manifest["targets"]], backend="vm",
                       options=options, progress=progress, report_path=report_path,
                       log_path=log_path, continue_on_error=continue_on_error)
