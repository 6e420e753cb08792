"""Builders of synthetic Windows-like images and update packages for the servicing tests.

Images are real WIMs captured with libwimlib: the folder layout of a Windows image,
installed packages' ``.mum`` files, ``Sessions.xml`` and a ``SOFTWARE`` hive grown with
``build_hive`` (CurrentVersion values and CBS package states). Packages are expanded
folders (or CABs) whose ``update.mum`` follows the real schema (via ``pkgfactory``).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "packages"))

import pkgfactory
from pkgfactory import TOKEN, make_cab, update_mum

import wimcore
from wimcore.hive import ValueType, build_hive
from wimcore.media.sample_packages import component_manifest

CBS = ("Microsoft", "Windows", "CurrentVersion", "Component Based Servicing", "Packages")


@dataclass
class Installed:
    """A package the synthetic image has installed: identity, KB and CBS state."""

    name: str
    version: str
    kb: str = ""
    state: int | None = 0x70
    arch: str = "amd64"
    mum: bool = True

    @property
    def key(self) -> str:
        return f"{self.name}~{TOKEN}~{self.arch}~~{self.version}"


def win10_base(ubr: int = 3803) -> list[Installed]:
    """Foundation, edition, an SSU and an LCU of a 19045 (22H2) image."""
    return [
        Installed("Microsoft-Windows-Foundation-Package", "10.0.19041.1", state=0x80),
        Installed("Microsoft-Windows-ProfessionalEdition", f"10.0.19041.{ubr}"),
        Installed("Package_for_ServicingStack_3800", "19041.3800.1.2", kb="KB5031539"),
        Installed("Package_for_RollupFix", f"19041.{ubr}.1.7", kb="KB5033372"),
    ]


def win11_24h2_base(rev: int = 1) -> list[Installed]:
    """Foundation and edition packages of a 26100 (24H2) image at revision ``rev``."""
    return [
        Installed("Microsoft-Windows-Foundation-Package", "10.0.26100.1", state=0x80),
        Installed("Microsoft-Windows-ProfessionalEdition", f"10.0.26100.{rev}"),
    ]


@dataclass
class WinSpec:
    """What one synthetic image holds."""

    kind: str = "client"  # client | server | winpe | setup | winre | plain
    name: str | None = None
    build: int = 19045
    ubr: int = 3803
    arch: str = "9"
    edition: str = "Professional"
    installed: list[Installed] = field(default_factory=win10_base)
    hive: str = "ok"  # ok | missing | corrupt
    sessions: bool = True
    netfx3: int | None = None  # CBS state of the NetFx3 on-demand package
    unattend: bytes | None = None
    setupcomplete: bytes | None = None
    pending: bool = False
    filler: int = 0  # bytes of incompressible filler data (benchmarks)


def digest(path: Path) -> str:
    """SHA-256 of a file: proves a WIM was left byte-identical."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mum(p: Installed) -> bytes:
    return update_mum(name=p.name, version=p.version, kb=p.kb or "KB0000000",
                      release_type="Update")


def hive_bytes(spec: WinSpec) -> bytes:
    """A SOFTWARE hive with CurrentVersion values and CBS package states."""
    states: dict[str, Any] = {p.key: {"CurrentState": (ValueType.REG_DWORD, p.state)}
                              for p in spec.installed if p.state is not None}
    if spec.netfx3 is not None:
        key = f"Microsoft-Windows-NetFx3-OnDemand-Package~{TOKEN}~amd64~~10.0.19041.1"
        states[key] = {"CurrentState": (ValueType.REG_DWORD, spec.netfx3)}
    tree: dict[str, Any] = {"Microsoft": {
        "Windows NT": {"CurrentVersion": {
            "CurrentBuild": str(spec.build), "CurrentBuildNumber": str(spec.build),
            "UBR": (ValueType.REG_DWORD, spec.ubr), "EditionID": spec.edition,
            "DisplayVersion": "22H2" if spec.build == 19045 else "24H2",
            "ProductName": f"Windows 10 {spec.edition}",
        }},
        "Windows": {"CurrentVersion": {"Component Based Servicing": {"Packages": states}}},
    }}
    return build_hive(tree)


def sessions_xml(spec: WinSpec) -> bytes:
    """A Sessions.xml with one completed DISM session per installed KB."""
    body = "".join(
        f'<Session version="15" id="3107{i}_339023" client="DISM Package Manager Provider" '
        f'options="1" currentPhase="1" lastSuccessfulState="Complete" pendingFollowup="false" '
        f'status="0x0" Queued="2023/12/12/10:00:00" Started="2023/12/12/10:00:01" '
        f'Complete="2023/12/12/10:05:00"><Tasks><Phase seq="1"><package id="{p.key}" '
        f'name="{p.kb}" targetState="Installed" options="3"/></Phase></Tasks><Actions>'
        f'<Phase seq="1" rebootRequired="false" Action="Install"/></Actions></Session>'
        for i, p in enumerate(spec.installed) if p.kb)
    return (f'<?xml version="1.0" encoding="utf-8"?><Sessions version="2" '
            f'lastSequence="{len(spec.installed)}">{body}</Sessions>').encode()


def build_tree(root: Path, spec: WinSpec) -> Path:
    """Lay out a Windows-like folder tree for ``spec`` under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if spec.kind == "plain":
        (root / "data").mkdir()
        (root / "data" / "readme.txt").write_text("not windows\n")
        return root
    win = root / "Windows"
    for d in ("System32/config", "servicing/Packages", "servicing/Sessions", "Panther",
              "WinSxS", "Setup/Scripts", "Logs"):
        (win / d).mkdir(parents=True, exist_ok=True)
    (win / "System32" / "ntoskrnl.exe").write_bytes(b"MZ" + os.urandom(4096))
    (win / "explorer.exe").write_bytes(b"MZ" + b"\0" * 1024)
    for p in spec.installed:
        if p.mum:
            (win / "servicing" / "Packages" / f"{p.key}.mum").write_bytes(_mum(p))
            (win / "servicing" / "Packages" / f"{p.key}.cat").write_bytes(b"0\x03\x02\x01\x00")
    if spec.sessions:
        (win / "servicing" / "Sessions" / "Sessions.xml").write_bytes(sessions_xml(spec))
    if spec.hive == "ok":
        (win / "System32" / "config" / "SOFTWARE").write_bytes(hive_bytes(spec))
    elif spec.hive == "corrupt":
        (win / "System32" / "config" / "SOFTWARE").write_bytes(b"regf" + b"\xff" * 8000)
    if spec.unattend is not None:
        (win / "Panther" / "unattend.xml").write_bytes(spec.unattend)
    if spec.setupcomplete is not None:
        (win / "Setup" / "Scripts" / "SetupComplete.cmd").write_bytes(spec.setupcomplete)
    if spec.pending:
        (win / "WinSxS" / "pending.xml").write_bytes(b"<PendingTransaction/>")
    if spec.kind == "setup":
        (root / "sources").mkdir()
        (root / "sources" / "setup.exe").write_bytes(b"MZ setup")
    if spec.kind == "winre":
        (win / "System32" / "winpeshl.ini").write_text(
            "[LaunchApps]\r\n%SYSTEMDRIVE%\\sources\\recovery\\recenv.exe\r\n")
        (root / "sources" / "recovery").mkdir(parents=True)
        (root / "sources" / "recovery" / "RecEnv.exe").write_bytes(b"MZ recenv")
    if spec.filler:
        _filler(root / "Program Files" / "Filler", spec.filler)
    return root


def _filler(folder: Path, total: int, chunk: int = 64 * 1024 * 1024) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    while total > 0:
        size = min(chunk, total)
        (folder / f"blob{n:04d}.bin").write_bytes(os.urandom(size))
        total -= size
        n += 1


_TYPE = {"client": "Client", "server": "Server", "winpe": "WindowsPE", "setup": "WindowsPE",
         "winre": "WindowsPE"}
_NAME = {"client": "Windows 10 Pro", "server": "Windows Server 2022 SERVERSTANDARD",
         "winpe": "Microsoft Windows PE (x64)", "setup": "Microsoft Windows Setup (x64)",
         "winre": "Microsoft Windows Recovery Environment (x64)", "plain": "Data"}


def make_wim(path: Path, specs: list[WinSpec], *, compression: str = "xpress") -> Path:
    """Capture one image per spec into a new WIM and set its Windows XML properties."""
    work = path.parent / f".{path.name}-trees"
    with wimcore.create(compression) as wim:
        for i, spec in enumerate(specs, start=1):
            tree = build_tree(work / str(i), spec)
            name = spec.name or _NAME[spec.kind]
            if name in wim.images.names():
                name = f"{name} #{i}"
            wim.add_image(tree, name)
        wim.write(path)
    with wimcore.open(path, writable=True) as wim:
        for i, spec in enumerate(specs, start=1):
            if spec.kind == "plain":
                continue
            img = wim.images[i]
            img.set_property("WINDOWS/ARCH", spec.arch)
            img.set_property("WINDOWS/INSTALLATIONTYPE", _TYPE[spec.kind])
            img.set_property("WINDOWS/EDITIONID", "WindowsPE" if spec.kind in (
                "winpe", "setup", "winre") else spec.edition)
            img.set_property("WINDOWS/VERSION/MAJOR", "10")
            img.set_property("WINDOWS/VERSION/MINOR", "0")
            img.set_property("WINDOWS/VERSION/BUILD", str(spec.build))
            img.set_property("WINDOWS/VERSION/SPBUILD", str(spec.ubr))
            img.set_property("WINDOWS/SYSTEMROOT", "WINDOWS")
        wim.commit()
    return path


# -- packages ----------------------------------------------------------------------------

def foundation_parent(version: str = "10.0.19041.1") -> str:
    """A legacy parent: the Foundation package, same build, service level at least."""
    return ('<parent buildCompare="EQ" serviceCompare="GE" revisionCompare="GE" '
            'disposition="detect">'
            f'<assemblyIdentity name="Microsoft-Windows-Foundation-Package" version="{version}" '
            f'processorArchitecture="amd64" language="neutral" publicKeyToken="{TOKEN}"/>'
            '</parent>')


def edition_parent(version: str) -> str:
    """A 24H2-style parent: the edition package at a checkpoint revision or later."""
    return pkgfactory.rollup_parent(version)


@dataclass
class PkgSpec:
    """A synthetic update package."""

    name: str
    version: str
    kb: str
    parent: str = ""
    release_type: str = "Update"
    arch: str = "amd64"
    custom: str = ""
    payload: dict[str, bytes] = field(default_factory=dict)


def ssu(version: str = "19041.3920.1.3", kb: str = "KB5034224", arch: str = "amd64") -> PkgSpec:
    """A servicing stack update for 19041/19045."""
    rev = version.split(".")[1]
    return PkgSpec(f"Package_for_ServicingStack_{rev}", version, kb, foundation_parent(),
                   arch=arch)


def lcu(version: str = "19041.3930.1.5", kb: str = "KB5034122", *, parent: str | None = None,
        arch: str = "amd64", release_type: str = "Security Update") -> PkgSpec:
    """A cumulative update (Package_for_RollupFix)."""
    return PkgSpec("Package_for_RollupFix", version, kb,
                   foundation_parent() if parent is None else parent,
                   release_type=release_type, arch=arch)


def safeos(kb: str = "KB5034232") -> PkgSpec:
    """A SafeOS dynamic update (WinRE only)."""
    return PkgSpec("Package_for_SafeOSDU", "19041.3920.1.1", kb, foundation_parent())


def setupdu(kb: str = "KB5034200") -> PkgSpec:
    """A Setup dynamic update (media only)."""
    return PkgSpec("Package_for_SetupUpdate", "19041.3920.1.1", kb)


NOTEPAD = "Microsoft-Windows-Notepad"
NOTEPAD_VERSION = "10.0.19041.3920"
NOTEPAD_KEYFORM = f"amd64_microsoft-windows-notepad_{TOKEN}_{NOTEPAD_VERSION}_none_0123456789abcdef"


def package_members(spec: PkgSpec) -> dict[str, bytes]:
    """The files of an expanded package, as Microsoft's are: update.mum naming a component,
    the component's manifest (with the payload's SHA-256), the payload, and a catalog
    covering update.mum and the manifest."""
    mum = update_mum(name=spec.name, version=spec.version, kb=spec.kb,
                     release_type=spec.release_type, parent=spec.parent, custom=spec.custom,
                     components=[(NOTEPAD, NOTEPAD_VERSION)])
    if spec.arch != "amd64":
        mum = mum.replace(b'processorArchitecture="amd64" language="neutral" publicKeyToken'
                          b'="31bf3856ad364e35"/><package',
                          f'processorArchitecture="{spec.arch}" language="neutral" '
                          f'publicKeyToken="{TOKEN}"/><package'.encode())
    payload = b"payload of " + spec.kb.encode() + b"\n" * 200
    manifest = component_manifest(NOTEPAD, NOTEPAD_VERSION, {"notepad.txt": payload})
    members = {"update.mum": mum, f"{NOTEPAD_KEYFORM}.manifest": manifest,
               f"{NOTEPAD_KEYFORM}/notepad.txt": payload}
    members.update(spec.payload)
    members["update.cat"] = pkgfactory.make_catalog({
        "update.mum": mum, f"{NOTEPAD_KEYFORM}.manifest": manifest})
    return members


def package_folder(dest: Path, spec: PkgSpec) -> Path:
    """Write an expanded package folder and return it."""
    for rel, data in package_members(spec).items():
        pkgfactory.write(dest / rel, data)
    return dest


def package_cab_file(path: Path, spec: PkgSpec) -> Path:
    """Write the package as a CAB (backslash member names, as Microsoft's)."""
    members = {k.replace("/", "\\"): v for k, v in package_members(spec).items()}
    path.write_bytes(make_cab(members))
    return path


def msu_file(path: Path, specs: list[PkgSpec]) -> Path:
    """An MSU holding one package CAB per spec (SSU CABs named SSU-*), plus WSUSSCAN.cab."""
    members: dict[str, bytes] = {"WSUSSCAN.cab": make_cab({"package.xml": b"<x/>"})}
    for spec in specs:
        inner = {k.replace("/", "\\"): v for k, v in package_members(spec).items()}
        stem = (f"SSU-{spec.version}-x64" if "ServicingStack" in spec.name
                else f"Windows10.0-{spec.kb}-x64")
        members[f"{stem}.cab"] = make_cab(inner)
    path.write_bytes(make_cab(members))
    return path
