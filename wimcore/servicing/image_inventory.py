"""Mount-free inventory of an image's servicing state: type, build, packages, CBS states.

Reads only the WIM's metadata and a handful of files (one extraction call): the
``*.mum`` files of ``Windows/servicing/Packages``, ``Sessions.xml``, the ``SOFTWARE``
hive and the image's answer file. Paths are matched case-insensitively, as Windows does.
Missing pieces are reported in the result (``problems``), never raised.
"""

from __future__ import annotations

import enum
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore import ledger
from wimcore.errors import PathNotFoundError, WimcoreError
from wimcore.packages.model import Identity, PackageKind, classify, parse_mum
from wimcore.xmlsafe import local, parse_xml

if TYPE_CHECKING:
    from wimcore.image import Image

SOFTWARE_HIVE = "/Windows/System32/config/SOFTWARE"
PACKAGES_DIR = "/Windows/servicing/Packages"
SESSIONS_XML = "/Windows/servicing/Sessions/Sessions.xml"
UNATTEND_XML = "/Windows/Panther/unattend.xml"
PENDING_XML = "/Windows/WinSxS/pending.xml"
CURRENT_VERSION = "Microsoft\\Windows NT\\CurrentVersion"
CBS_PACKAGES = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"

#: CBS ``CurrentState`` values and the names wimcore reports them by.
CBS_STATES: dict[int, str] = {
    0x00: "absent", 0x05: "uninstall-pending", 0x10: "resolving", 0x20: "resolved",
    0x30: "staging", 0x40: "staged", 0x50: "superseded", 0x60: "install-pending",
    0x70: "installed", 0x80: "permanent",
}
INSTALLED_STATES = frozenset({"installed", "permanent"})
PENDING_STATES = frozenset({"install-pending", "uninstall-pending"})


class ImageType(enum.Enum):
    """What kind of Windows image this is, which decides what servicing can do to it."""

    CLIENT = "client"
    SERVER = "server"
    WINPE = "winpe"
    SETUP = "setup"
    WINRE = "winre"
    UNKNOWN = "unknown-windows"
    NOT_WINDOWS = "not-windows"

    @property
    def is_install(self) -> bool:
        """True for images Windows Setup installs (Client, Server): the ones we can stage into."""
        return self in (ImageType.CLIENT, ImageType.SERVER)


@dataclass(frozen=True)
class InstalledPackage:
    """A package the image knows: from its ``.mum`` and/or its CBS registry state."""

    key: str
    name: str
    version: str
    arch: str
    kb: str | None
    release_type: str | None
    kind: PackageKind
    state: str | None  # CBS state name; None when the hive has no entry for it
    has_mum: bool = True

    @property
    def identity(self) -> Identity:
        """The package's identity, rebuilt from its fields."""
        parts = self.key.split("~")
        token = parts[1] if len(parts) > 1 else ""
        lang = parts[3] if len(parts) > 3 else ""
        return Identity(self.name, self.version, self.arch, lang, token)

    @property
    def is_installed(self) -> bool:
        """Installed or permanent per its CBS key: a ``.mum`` alone is not an installation
        (DISM writes the ``.mum`` before CBS records the package installed)."""
        return self.state in INSTALLED_STATES

    @property
    def appears_installed(self) -> bool:
        """For planning only: installed per CBS, or a ``.mum`` with no CBS state at all (a
        hive that could not be read leaves servicing/Packages as the only evidence)."""
        return self.is_installed or (self.state is None and self.has_mum)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"key": self.key, "name": self.name, "version": self.version, "arch": self.arch,
                "kb": self.kb, "release_type": self.release_type, "kind": self.kind.value,
                "state": self.state, "has_mum": self.has_mum}


@dataclass(frozen=True)
class Session:
    """One servicing session of ``Sessions.xml``: who ran it, how it ended, what it targeted."""

    id: str
    client: str | None
    status: str | None
    last_successful_state: str | None
    packages: tuple[tuple[str, str], ...]  # (package id, target state)
    attributes: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"id": self.id, "client": self.client, "status": self.status,
                "last_successful_state": self.last_successful_state,
                "packages": [{"id": p, "target_state": s} for p, s in self.packages],
                "attributes": dict(self.attributes)}


@dataclass(frozen=True)
class StagedByWimcore:
    """A package that an earlier wimcore run staged (listed in the image's answer file)."""

    key: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"key": self.key, "source": self.source}


@dataclass(frozen=True)
class Inventory:
    """What one image holds, read without mounting or extracting it; None where unknown."""

    image_index: int
    image_name: str
    image_type: ImageType
    type_reason: str
    arch: str | None
    installation_type: str | None
    build: int | None
    ubr: int | None
    edition_id: str | None
    display_version: str | None
    product_name: str | None
    languages: tuple[str, ...] = ()
    hive_status: str = "not-read"  # ok | missing | corrupt | not-windows
    packages: tuple[InstalledPackage, ...] = ()
    sessions: tuple[Session, ...] = ()
    staged: tuple[StagedByWimcore, ...] = ()
    netfx3: str = "unknown"  # enabled | pending | staged | absent | unknown
    pending_operations: bool = False
    problems: tuple[str, ...] = ()
    seconds: float = 0.0
    package_listing: bool = field(default=False)  # True when servicing/Packages was read

    @property
    def is_windows(self) -> bool:
        """False when the image has no ``Windows/`` tree."""
        return self.image_type is not ImageType.NOT_WINDOWS

    @property
    def version(self) -> str | None:
        """``10.0.BUILD.UBR`` when the build is known."""
        if self.build is None:
            return None
        return f"10.0.{self.build}.{self.ubr or 0}"

    def package(self, key: str) -> InstalledPackage | None:
        """The installed package with this identity key (case-insensitive), or None."""
        want = key.lower()
        return next((p for p in self.packages if p.key.lower() == want), None)

    def by_name(self, name: str) -> list[InstalledPackage]:
        """Every known package with this identity name (case-insensitive)."""
        want = name.lower()
        return [p for p in self.packages if p.name.lower() == want]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "image": {"index": self.image_index, "name": self.image_name,
                      "type": self.image_type.value, "type_reason": self.type_reason},
            "windows": self.is_windows, "arch": self.arch,
            "installation_type": self.installation_type, "build": self.build,
            "ubr": self.ubr, "version": self.version, "edition_id": self.edition_id,
            "display_version": self.display_version, "product_name": self.product_name,
            "languages": list(self.languages), "hive": self.hive_status,
            "netfx3": self.netfx3, "pending_operations": self.pending_operations,
            "packages": [p.to_dict() for p in self.packages],
            "sessions": [s.to_dict() for s in self.sessions],
            "staged_by_wimcore": [s.to_dict() for s in self.staged],
            "problems": list(self.problems), "seconds": round(self.seconds, 3),
        }

    def summary(self) -> list[str]:
        """Readable lines, as ``wimcore package list`` prints them."""
        lines = [f"Image {self.image_index}: {self.image_name}",
                 f"  type:      {self.image_type.value} ({self.type_reason})"]
        if self.is_windows:
            lines += [f"  arch:      {self.arch or '-'}",
                      f"  version:   {self.version or '-'}"
                      + (f" ({self.display_version})" if self.display_version else ""),
                      f"  edition:   {self.edition_id or '-'}  product: {self.product_name or '-'}",
                      f"  hive:      {self.hive_status}",
                      f"  NetFX3:    {self.netfx3}"
                      + ("   pending operations: yes" if self.pending_operations else ""),
                      f"  packages:  {len(self.packages)}   sessions: {len(self.sessions)}"
                      f"   staged by wimcore: {len(self.staged)}"]
            for p in self.packages:
                lines.append(f"    {p.state or 'present':<17} {p.kind.value:<19} "
                             f"{p.kb or '-':<10} {p.key}")
            for s in self.staged:
                lines.append(f"    {'staged (wimcore)':<17} {'':<19} {'':<10} {s.key}")
        lines += [f"  problem:   {p}" for p in self.problems]
        return lines


# -- reading paths out of the image ------------------------------------------------------

def resolve_path(image: Image, path: str) -> str | None:
    """The real spelling of ``path`` in the image (matched case-insensitively), or None."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    try:
        found = image.stat("/" + "/".join(parts)).path  # libwimlib's own spelling
        if found.casefold() == ("/" + "/".join(parts)).casefold():
            return found
    except PathNotFoundError:
        pass
    current = ""
    for part in parts:
        try:
            children = image.listdir(current or "/")
        except PathNotFoundError:
            return None
        want = part.casefold()
        match = next((c.name for c in children if c.name == part), None) or next(
            (c.name for c in children if c.name.casefold() == want), None)
        if match is None:
            return None
        current = f"{current}/{match}"
    return current or "/"


def _extract(image: Image, paths: Sequence[str], dest: Path) -> None:
    """Extract a few files in one libwimlib call, keeping their folders under ``dest``."""
    if paths:
        image.extract(list(paths), dest, no_acls=True)  # contents only: no ACL warnings


def _local(dest: Path, image_path: str) -> Path:
    return dest / image_path.lstrip("/")


# -- pieces ------------------------------------------------------------------------------

def _classify(image: Image, info_name: str, inst_type: str | None, flags: str | None,
              edition: str | None, has_windows: bool) -> tuple[ImageType, str]:
    """Decide the image type from the XML (name, flags, INSTALLATIONTYPE) and the tree."""
    if not has_windows:
        return ImageType.NOT_WINDOWS, "no Windows/ folder in the image"
    name = info_name.lower()
    itype = (inst_type or "").lower()
    flag = (flags or "").lower()
    if "recovery" in name or "winre" in name or flag == "windowsre":
        return ImageType.WINRE, f"image name/flags ({info_name!r})"
    if (resolve_path(image, "/Windows/System32/winpeshl.ini")
            and (resolve_path(image, "/sources/recovery")
                 or resolve_path(image, "/Windows/System32/Recovery/ReAgent.xml"))):
        return ImageType.WINRE, "winpeshl.ini with the recovery tools in sources/recovery"
    if resolve_path(image, "/sources/setup.exe"):
        return ImageType.SETUP, "has sources/setup.exe (boot.wim Setup image)"
    if itype == "windowspe" or "windows pe" in name or (edition or "").lower() == "windowspe":
        return ImageType.WINPE, "INSTALLATIONTYPE WindowsPE" if itype == "windowspe" \
            else f"image name/edition ({info_name!r})"
    if itype.startswith("server") or "server" in (edition or "").lower():
        return ImageType.SERVER, f"INSTALLATIONTYPE {inst_type}" if itype else \
            f"edition {edition}"
    if itype == "client" or (edition and not itype):
        return ImageType.CLIENT, f"INSTALLATIONTYPE {inst_type}" if itype else \
            f"edition {edition}"
    return ImageType.UNKNOWN, "Windows/ tree present but no INSTALLATIONTYPE or edition"


def _sessions(data: bytes) -> list[Session]:
    root = parse_xml(data, source="Sessions.xml", max_bytes=64 * 1024 * 1024)
    out = []
    for s in root.iter():
        if local(s.tag) != "Session":
            continue
        pkgs = tuple((p.get("id", ""), p.get("targetState", "")) for p in s.iter()
                     if local(p.tag) == "package")
        out.append(Session(s.get("id", ""), s.get("client"), s.get("status"),
                           s.get("lastSuccessfulState"), pkgs,
                           tuple(sorted((str(k), str(v)) for k, v in s.attrib.items()))))
    return out


def _identity_from_key(key: str) -> tuple[str, str, str]:
    """(name, arch, version) of a ``Name~Token~Arch~Lang~Version`` string."""
    parts = key.split("~")
    while len(parts) < 5:
        parts.append("")
    return parts[0], parts[2], parts[4]


@dataclass
class _HiveFacts:
    status: str = "missing"
    values: dict[str, Any] = field(default_factory=dict)
    cbs: dict[str, int] = field(default_factory=dict)
    problem: str | None = None


def _read_hive(path: Path | None) -> _HiveFacts:
    from wimcore.hive import Hive

    facts = _HiveFacts()
    if path is None or not path.is_file():
        facts.problem = f"SOFTWARE hive not found at {SOFTWARE_HIVE}: build, UBR, edition " \
                        "and CBS package states are unknown"
        return facts
    try:
        with Hive.open(path) as hive:
            cv = hive.get(CURRENT_VERSION)
            if cv is not None:
                for name in ("CurrentBuild", "CurrentBuildNumber", "UBR", "EditionID",
                             "DisplayVersion", "ReleaseId", "ProductName", "InstallationType"):
                    if cv.has_value(name):
                        facts.values[name] = cv.get_value(name)
            cbs = hive.get(CBS_PACKAGES)
            if cbs is not None:
                for sub in cbs.subkeys():
                    state = sub.get_value("CurrentState")
                    if isinstance(state, int):
                        facts.cbs[sub.name] = state
        facts.status = "ok"
    except WimcoreError as exc:
        facts.status = "corrupt"
        facts.problem = f"SOFTWARE hive unreadable ({str(exc).splitlines()[0]}): build, UBR, " \
                        "edition and CBS package states are unknown"
    return facts


def _int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# -- the inventory ---------------------------------------------------------------------------

def inventory(image: Image) -> Inventory:
    """Read an image's servicing state without mounting it (see the module docstring).

    Never raises for a non-Windows image or a missing/corrupt hive: those show in
    ``image_type``, ``hive_status`` and ``problems``. Errors of the WIM itself (a closed
    WIM, corrupt data) propagate as the core's typed errors.
    """
    start = time.monotonic()
    info = image.info
    name = image.name
    problems: list[str] = []
    windows = resolve_path(image, "/Windows")
    arch = info.arch_label
    base: dict[str, Any] = dict(
        image_index=image.index, image_name=name, arch=arch,
        installation_type=info.installation_type, languages=info.languages)
    if windows is None:
        itype, why = _classify(image, name, info.installation_type, info.flags,
                               info.edition_id, False)
        return Inventory(**base, image_type=itype, type_reason=why, build=None, ubr=None,
                         edition_id=None, display_version=None, product_name=None,
                         hive_status="not-windows",
                         problems=("not a Windows image: there is no Windows/ folder",),
                         seconds=time.monotonic() - start)

    hive_path = resolve_path(image, SOFTWARE_HIVE)
    sessions_path = resolve_path(image, SESSIONS_XML)
    unattend_path = resolve_path(image, UNATTEND_XML)
    pending = resolve_path(image, PENDING_XML) is not None
    pkg_dir = resolve_path(image, PACKAGES_DIR)
    mums: list[str] = []
    if pkg_dir is not None:
        mums = [f"{pkg_dir}/{e.name}" for e in image.listdir(pkg_dir)
                if not e.is_dir and e.name.lower().endswith(".mum")]
    else:
        problems.append(f"no {PACKAGES_DIR.lstrip('/')} folder: installed packages unknown")

    tmp = Path(ledger.scratch_dir(prefix="wimcore-inventory-"))
    try:
        wanted = [p for p in (hive_path, sessions_path, unattend_path) if p] + mums
        _extract(image, wanted, tmp)
        hive = _read_hive(_local(tmp, hive_path) if hive_path else None)
        if hive.problem:
            problems.append(hive.problem)
        packages = _packages(tmp, mums, hive.cbs, problems)
        sessions: list[Session] = []
        if sessions_path:
            try:
                sessions = _sessions(_local(tmp, sessions_path).read_bytes())
            except WimcoreError as exc:
                problems.append(f"Sessions.xml unreadable: {str(exc).splitlines()[0]}")
        staged: list[StagedByWimcore] = []
        if unattend_path:
            from wimcore.servicing.unattend import read_servicing

            try:
                entries = read_servicing(_local(tmp, unattend_path).read_bytes(),
                                         source=unattend_path)
                staged = [StagedByWimcore(e.key, e.source or "") for e in entries
                          if e.by_wimcore and e.action.lower() == "install"]
            except WimcoreError as exc:
                problems.append(f"answer file unreadable: {str(exc).splitlines()[0]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    v = hive.values
    edition = v.get("EditionID") if isinstance(v.get("EditionID"), str) else info.edition_id
    itype, why = _classify(image, name, info.installation_type, info.flags, edition, True)
    build = _int(v.get("CurrentBuild")) or _int(v.get("CurrentBuildNumber")) or info.build
    ubr = _int(v.get("UBR"))
    if ubr is None:
        ubr = info.sp_build
    display = v.get("DisplayVersion") or v.get("ReleaseId")
    product = v.get("ProductName") if isinstance(v.get("ProductName"), str) \
        else info.product_name
    return Inventory(
        **base, image_type=itype, type_reason=why, build=build, ubr=ubr,
        edition_id=edition if isinstance(edition, str) else None,
        display_version=display if isinstance(display, str) else None,
        product_name=product, hive_status=hive.status, packages=tuple(packages),
        sessions=tuple(sessions), staged=tuple(staged), netfx3=_netfx3(packages, hive.status),
        pending_operations=pending, problems=tuple(problems),
        seconds=time.monotonic() - start, package_listing=pkg_dir is not None)


def _packages(tmp: Path, mums: list[str], cbs: dict[str, int],
              problems: list[str]) -> list[InstalledPackage]:
    """Join the ``.mum`` files with the CBS states (packages known only to CBS included)."""
    out: dict[str, InstalledPackage] = {}
    states = {k.lower(): CBS_STATES.get(v, f"0x{v:02x}") for k, v in cbs.items()}
    bad = 0
    for mum in mums:
        try:
            pkg = parse_mum(_local(tmp, mum).read_bytes(), source=mum)
        except (WimcoreError, OSError):
            bad += 1
            continue
        key = pkg.key
        out[key.lower()] = InstalledPackage(key, pkg.identity.name, pkg.identity.version,
                                            pkg.identity.arch, pkg.kb, pkg.release_type,
                                            pkg.kind, states.get(key.lower()))
    if bad:
        problems.append(f"{bad} .mum file(s) in servicing/Packages could not be parsed")
    for key, value in cbs.items():
        if key.lower() in out:
            continue
        pname, parch, pver = _identity_from_key(key)
        ident = Identity(pname, pver, parch)
        out[key.lower()] = InstalledPackage(key, pname, pver, parch, None, None,
                                            classify(ident, None),
                                            CBS_STATES.get(value, f"0x{value:02x}"),
                                            has_mum=False)
    return sorted(out.values(), key=lambda p: p.key.lower())


def _netfx3(packages: list[InstalledPackage], hive_status: str) -> str:
    """enabled / pending / staged / absent from the NetFx3 on-demand package's CBS state."""
    netfx = [p for p in packages if p.name.lower().startswith("microsoft-windows-netfx3")]
    if not netfx:
        return "absent" if hive_status == "ok" else "unknown"
    states = {p.state for p in netfx}
    if states & PENDING_STATES:
        return "pending"
    if states & INSTALLED_STATES:
        return "enabled"
    if None in states:
        return "unknown"
    return "staged" if "staged" in states else "absent"
