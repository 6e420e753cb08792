"""A small, structurally faithful Windows 11 installation media, made entirely by wimcore.

``create_sample(dest, seed=0)`` writes an extracted-ISO folder: ``sources/install.wim``
(two editions, each with WinRE inside), ``sources/boot.wim`` (WinPE + Setup, boot
index 2), Setup's files in ``sources/``, the boot files, and an ``updates/`` folder: the
monthly LCU as a 24H2-style WIM-form MSU (KB ``.wim`` with the index
``<KB>.psf.cix.xml``, the ``.psf`` beside it with RAW, PA30/PseudoLzx and PA31/LZMS spans
made by wimcore's own encoder, the SSU cabinet, DesktopDeployment and AggregatedMetadata
inside), the checkpoint LCU it builds on (the same shape), a SafeOS CAB and a Setup
Dynamic Update CAB. Same seed, same bytes.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import random
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wimcore.errors import DestinationExistsError
from wimcore.media.reproducible import (
    filetime,
    pin_hive_times,
    pin_tree_times,
    pin_wim_xml_times,
    unix_seconds,
)
from wimcore.media.sample_packages import (
    PA30,
    PA31_LZMS,
    ExpressPackage,
    MumSpec,
    PackageCab,
    ParentRef,
    cab_bytes,
    catalog_bytes,
    msu_metadata_members,
    mum_bytes,
    package_key,
)

UTC = dt.timezone.utc
T_RTM = dt.datetime(2024, 9, 6, 12, 0, 0, tzinfo=UTC)     # images at 26100.1742
T_OLD = dt.datetime(2024, 8, 2, 12, 0, 0, tzinfo=UTC)     # stale copies in media sources/
T_NEWER = dt.datetime(2024, 9, 20, 12, 0, 0, tzinfo=UTC)  # media copies newer than images'
T_DU = dt.datetime(2024, 10, 1, 10, 0, 0, tzinfo=UTC)     # Setup Dynamic Update files
T_ISO = dt.datetime(2024, 9, 6, 14, 0, 0, tzinfo=UTC)     # media folder itself

BUILD = 26100
UBR = 1742
VERSION = f"10.0.{BUILD}.{UBR}"
LCU_UBR = 2033
SSU_VERSION = f"{BUILD}.2032.1.2"
LCU_VERSION = f"{BUILD}.{LCU_UBR}.1.6"
SAFEOS_VERSION = f"{BUILD}.2030.1.1"
KB_BASE_LCU = "KB5043080"
KB_BASE_SSU = "KB5043936"
KB_SSU = "KB5047621"
KB_LCU = "KB5044284"
KB_SAFEOS = "KB5044615"
KB_SETUPDU = "KB5044618"
VOLUME_LABEL = "CCCOMA_X64FRE_EN-US_DV9"
WINRE_NAME = "Microsoft Windows Recovery Environment (x64)"
WINPE_NAME = "Microsoft Windows PE (x64)"
SETUP_NAME = "Microsoft Windows Setup (x64)"
WINRE_PATH = "/Windows/System32/Recovery/Winre.wim"


@dataclass(frozen=True)
class Edition:
    """One install.wim edition: image name, edition id and display name."""

    name: str
    edition_id: str
    package: str


EDITIONS = (
    Edition("Windows 11 Pro", "Professional", "Microsoft-Windows-ProfessionalEdition"),
    Edition("Windows 11 Enterprise", "Enterprise", "Microsoft-Windows-EnterpriseEdition"),
)
#: Further editions for ``create_sample(editions=N)`` (fleet tests want more images).
MORE_EDITIONS = (
    Edition("Windows 11 Education", "Education", "Microsoft-Windows-EducationEdition"),
    Edition("Windows 11 Pro for Workstations", "ProfessionalWorkstation",
            "Microsoft-Windows-ProfessionalWorkstationEdition"),
    Edition("Windows 11 Home", "Core", "Microsoft-Windows-CoreEdition"),
    Edition("Windows 11 Pro Education", "ProfessionalEducation",
            "Microsoft-Windows-ProfessionalEducationEdition"),
)


def editions_of(count: int) -> tuple[Edition, ...]:
    """The first ``count`` editions (the default two, then MORE_EDITIONS)."""
    every = EDITIONS + MORE_EDITIONS
    if not 1 <= count <= len(every):
        raise ValueError(f"the sample has 1 to {len(every)} editions, not {count}")
    return every[:count]

# Setup's files: (name in sources/, size, media copy's time, Setup image copy's time,
# same content?). They drive the sources sync the routine must perform.
SETUP_FILES: tuple[tuple[str, int, dt.datetime, dt.datetime, bool], ...] = (
    ("setup.exe", 96_000, T_RTM, T_RTM, True),            # identical: nothing to do
    ("setuphost.exe", 120_000, T_OLD, T_RTM, False),      # image newer: copied
    ("SetupPlatform.dll", 160_000, T_OLD, T_RTM, False),  # image newer: copied
    ("SetupCore.dll", 80_000, T_RTM, T_RTM, True),
    ("setupprep.exe", 64_000, T_RTM, T_RTM, True),
    ("dismcore.dll", 48_000, T_NEWER, T_RTM, False),      # media newer: kept
    ("wimgapi.dll", 56_000, T_RTM, T_RTM, True),
    ("en-us/setup.exe.mui", 8_000, T_OLD, T_RTM, False),  # sub-folder, image newer: copied
)
SETUP_ONLY_IN_IMAGE = ("SetupMgr.dll",)                   # not on the media: never copied
MEDIA_ONLY = ("ei.cfg", "lang.ini", "idwbinfo.txt")       # not in images: left alone
# Files of install.wim's System32 that also sit in media sources/ (the DEVINV case).
SYSTEM32_SHARED: tuple[tuple[str, int, dt.datetime], ...] = (
    ("devinv.dll", 40_000, T_OLD),                        # image newer: copied
    ("appraiser.dll", 72_000, T_OLD),                     # image newer: copied
)
WINPE_DISM_FILES = ("DismCore.dll", "DismProv.dll", "CbsProvider.dll", "DmiProvider.dll")
# Windows/Boot of a WinPE image: what the boot ISO of the vm backend is built from.
WINPE_BOOT_FILES: tuple[tuple[str, int], ...] = (
    ("PCAT/bootmgr", 40_000), ("DVD/PCAT/BCD", 16_384), ("DVD/PCAT/boot.sdi", 8_192),
    ("DVD/PCAT/etfsboot.com", 4_096), ("EFI/bootmgfw.efi", 40_000), ("DVD/EFI/BCD", 16_384),
    ("DVD/EFI/en-US/efisys.bin", 8_192), ("DVD/EFI/en-US/efisys_noprompt.bin", 8_192),
)
SETUPDU_FILES: tuple[tuple[str, int], ...] = (
    ("setuphost.exe", 124_000),
    ("SetupCore.dll", 82_000),
    ("appraiserres.dll", 30_000),
)


def _data(seed: int, tag: str, size: int) -> bytes:
    """Deterministic, PE-looking, half-compressible bytes for ``tag``."""
    rng = random.Random(f"{seed}:{tag}")
    head = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + tag.encode()[:48]
    noise = rng.randbytes(max(0, size // 2))
    pattern = (tag.encode() + b"\x00" * 7) * (size // max(1, len(tag) + 7) + 1)
    return (head + noise + pattern)[:size]


def _put(root: Path, rel: str, data: bytes, when: dt.datetime) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = unix_seconds(when)
    os.utime(path, (stamp, stamp))
    return path


# -- servicing state of an image (packages, Sessions.xml, SOFTWARE hive) ------------------

@dataclass(frozen=True)
class _Installed:
    name: str
    version: str
    kb: str
    release_type: str
    parent: str | None = None


def _installed_packages(kind: str, edition: Edition | None) -> list[_Installed]:
    pkgs = [
        _Installed("Package_for_ServicingStack_1738", f"{BUILD}.1738.1.3", KB_BASE_SSU, "Update"),
        _Installed("Package_for_RollupFix", f"{BUILD}.{UBR}.1.10", KB_BASE_LCU,
                   "Security Update"),
    ]
    if kind == "client":
        assert edition is not None
        pkgs += [
            _Installed("Microsoft-Windows-Foundation-Package", f"10.0.{BUILD}.1", "KB0",
                       "Foundation"),
            _Installed("Microsoft-Windows-Client-Features-Package", VERSION, "KB0",
                       "Feature Pack"),
            _Installed(edition.package, VERSION, "KB0", "Product"),
        ]
    else:
        pkgs += [_Installed("Microsoft-Windows-WinPE-Package", VERSION, "KB0", "Foundation")]
        if kind == "winre":
            pkgs.append(_Installed("WinPE-Rejuv-Package", VERSION, "KB0", "Feature Pack"))
        if kind == "setup":
            pkgs.append(_Installed("WinPE-Setup-Package", VERSION, "KB0", "Feature Pack"))
    return pkgs


def _servicing_files(root: Path, kind: str, edition: Edition | None) -> list[str]:
    """Write servicing/Packages (*.mum, *.cat) and Sessions.xml; return the package keys."""
    keys = []
    for pkg in _installed_packages(kind, edition):
        key = package_key(pkg.name, pkg.version)
        keys.append(key)
        kb = pkg.kb if pkg.kb != "KB0" else f"{pkg.name}"
        mum = mum_bytes(MumSpec(name=pkg.name, version=pkg.version, kb=kb,
                                release_type=pkg.release_type))
        _put(root, f"Windows/servicing/Packages/{key}.mum", mum, T_RTM)
        _put(root, f"Windows/servicing/Packages/{key}.cat",
             catalog_bytes({f"{key}.mum": mum}), T_RTM)
    sessions = ['<?xml version="1.0" encoding="utf-8"?>',
                '<Sessions version="3" lastSession="30371234_1">']
    for n, key in enumerate(keys, start=1):
        sessions.append(
            f'  <Session version="15" id="30371234_{n}" client="DISM Package Manager Provider" '
            f'options="1" currentPhase="1" lastSuccessfulState="Complete" pendingFollower="" '
            f'status="0x0"><Tasks><Phase seq="1"><package id="{key}" '
            f'name="{key.split("~")[0]}" targetState="Installed" options="1"/></Phase></Tasks>'
            f'<Actions><Phase seq="1" rebootRequired="false"><Resolve package="{key}"/>'
            f'<Install package="{key}"/></Phase></Actions></Session>')
    sessions.append("</Sessions>")
    _put(root, "Windows/servicing/Sessions/Sessions.xml",
         "\r\n".join(sessions).encode("utf-8"), T_RTM)
    return keys


def _software_hive(kind: str, edition: Edition | None, keys: list[str]) -> bytes:
    from wimcore.hive import ValueType, build_hive
    from wimcore.hive_minimal import minimal_hive

    if kind == "client":
        assert edition is not None
        edition_id, product, itype = edition.edition_id, f"Windows 10 {edition.name[11:]}", \
            "Client"
    else:
        edition_id, product, itype = "WindowsPE", "Microsoft Windows PE", "WindowsPE"
    cbs = {key: {"CurrentState": (ValueType.REG_DWORD, 0x70), "InstallName": f"{key}.mum",
                 "InstallLocation": "\\\\?\\C:\\Windows\\Servicing\\Packages",
                 "Visibility": (ValueType.REG_DWORD, 1)} for key in keys}
    tree = {"Microsoft": {
        "Windows NT": {"CurrentVersion": {
            "CurrentBuild": str(BUILD), "CurrentBuildNumber": str(BUILD),
            "UBR": (ValueType.REG_DWORD, UBR), "EditionID": edition_id, "DisplayVersion": "24H2",
            "ProductName": product, "InstallationType": itype,
            "CurrentMajorVersionNumber": (ValueType.REG_DWORD, 10),
            "CurrentMinorVersionNumber": (ValueType.REG_DWORD, 0),
            "BuildLabEx": f"{BUILD}.1.amd64fre.ge_release.240331-1435",
        }},
        "Windows": {"CurrentVersion": {"Component Based Servicing": {"Packages": cbs}}},
    }}
    data = build_hive(tree, base=minimal_hive(filetime=filetime(T_RTM)))
    return pin_hive_times(data, T_RTM)


def _windows_tree(root: Path, kind: str, seed: int, edition: Edition | None = None) -> None:
    """A Windows/ tree for ``kind``: client, winre, winpe or setup."""
    common = [("ntdll.dll", 200_000), ("kernel32.dll", 120_000), ("cmd.exe", 60_000),
              ("dismcore.dll", 48_000), ("wimgapi.dll", 56_000), ("dismapi.dll", 40_000)]
    if kind == "client":
        files = [*common, ("notepad.exe", 40_000), ("shell32.dll", 900_000),
                 ("Windows.UI.Xaml.dll", 600_000), ("en-US/notepad.exe.mui", 6_000)]
        for name, size, _media_time in SYSTEM32_SHARED:
            files.append((name, size))
    else:
        # What a real Windows PE carries for servicing and for its own boot: DISM and its
        # providers, the shell helpers, the launcher (startnet.cmd runs wpeinit) and, in
        # Windows/Boot, the boot files media tools copy. All stand-ins: none is a real PE
        # file or BCD store, so the vm backend's "real boot files" rule rejects them.
        files = [*common, ("winpeshl.exe", 24_000), ("wpeinit.exe", 30_000),
                 ("wpeutil.exe", 20_000), ("diskpart.exe", 60_000), ("dism.exe", 36_000),
                 *((f"Dism/{n}", 30_000) for n in WINPE_DISM_FILES)]
        if kind == "winre":
            files += [("recenv.exe", 70_000), ("winpeshl.ini", 120)]
        _put(root, "Windows/System32/startnet.cmd", b"wpeinit\r\n", T_RTM)
        if kind in ("winpe", "setup"):
            for rel, size in WINPE_BOOT_FILES:
                _put(root, f"Windows/Boot/{rel}", _data(seed, f"boot/{rel}", size), T_RTM)
    for name, size in files:
        _put(root, f"Windows/System32/{name}", _data(seed, f"sys32/{name}", size), T_RTM)
    if kind == "winre":
        _put(root, "Windows/System32/Recovery/ReAgent.xml",
             b'<?xml version="1.0" encoding="utf-8"?><WindowsRE version="2.0"/>', T_RTM)
        _put(root, "sources/recovery/RecEnv.exe", _data(seed, "recovery/RecEnv.exe", 50_000),
             T_RTM)
    for name in ("Microsoft-Windows-Foundation", "Microsoft-Windows-Kernel"):
        _put(root, f"Windows/WinSxS/Manifests/amd64_{name.lower()}_31bf3856ad364e35_"
                   f"{VERSION}_none_{hashlib.sha1(name.encode()).hexdigest()[:16]}.manifest",
             _data(seed, f"manifest/{name}", 3_000), T_RTM)
    keys = _servicing_files(root, kind, edition)
    _put(root, "Windows/System32/config/SOFTWARE", _software_hive(kind, edition, keys), T_RTM)
    _put(root, "Windows/System32/config/SYSTEM", _data(seed, "hive/SYSTEM", 32_768), T_RTM)
    (root / "Windows/Temp").mkdir(parents=True, exist_ok=True)


# -- WIM writing -----------------------------------------------------------------------------

def _guid(seed: int, label: str) -> bytes:
    return random.Random(f"{seed}:guid:{label}").randbytes(16)


def _set_windows_props(image: object, *, name: str, edition_id: str, itype: str,
                       flags: str, display: str | None, product: str) -> None:
    from wimcore.image import Image

    assert isinstance(image, Image)
    ft = filetime(T_RTM)
    props = {
        "CREATIONTIME/HIGHPART": f"0x{ft >> 32:08X}",
        "CREATIONTIME/LOWPART": f"0x{ft & 0xFFFFFFFF:08X}",
        "WINDOWS/ARCH": "9", "WINDOWS/PRODUCTNAME": product,
        "WINDOWS/EDITIONID": edition_id, "WINDOWS/INSTALLATIONTYPE": itype,
        "WINDOWS/PRODUCTTYPE": "WinNT", "WINDOWS/PRODUCTSUITE": "Terminal Server",
        "WINDOWS/HAL": "acpiapic",
        "WINDOWS/LANGUAGES/LANGUAGE": "en-US", "WINDOWS/LANGUAGES/DEFAULT": "en-US",
        "WINDOWS/VERSION/MAJOR": "10", "WINDOWS/VERSION/MINOR": "0",
        "WINDOWS/VERSION/BUILD": str(BUILD), "WINDOWS/VERSION/SPBUILD": str(UBR),
        "WINDOWS/VERSION/SPLEVEL": "0", "WINDOWS/SYSTEMROOT": "WINDOWS",
    }
    for key, value in props.items():
        image.set_property(key, value)
    image.flags = flags
    image.description = name if display is None else display
    if display is not None:
        image.set_property("DISPLAYNAME", display)
        image.set_property("DISPLAYDESCRIPTION", display)


def _write_wim(path: Path, images: list[tuple[Path, str, dict[str, str | None]]], *,
               seed: int, boot_index: int = 0, scratch: int = 0) -> None:
    """Capture trees into a new LZX WIM; ``scratch`` bytes of dead data are left inside."""
    import wimcore

    with wimcore.create("lzx") as wim:
        for tree, name, props in images:
            if scratch:
                _put(tree, "Windows/Temp/dism-scratch.bin", _data(seed, f"scratch/{name}",
                                                                  scratch), T_RTM)
                pin_tree_times(tree / "Windows/Temp", T_RTM)
            image = wim.add_image(tree, name)
            _set_windows_props(image, name=name, edition_id=props["edition_id"] or "",
                               itype=props["itype"] or "", flags=props["flags"] or "",
                               display=props.get("display"), product=props["product"] or "")
        if boot_index:
            wim.boot_index = boot_index
        wim._set_info(guid=_guid(seed, path.name))
        wim.write(path, threads=1, retain_guid=True)
    if scratch:  # a serviced-but-not-exported WIM: the deleted scratch data stays in the file
        with wimcore.open(path, writable=True) as wim:
            for image in wim.images:
                with image.edit() as edit:
                    edit.delete("/Windows/Temp/dism-scratch.bin")
            wim.commit(in_place=True, threads=1)
        for tree, _name, _props in images:
            (tree / "Windows/Temp/dism-scratch.bin").unlink()
    pin_wim_xml_times(path, T_RTM)


_PE = {"edition_id": "WindowsPE", "itype": "WindowsPE",
       "product": "Microsoft® Windows® Operating System"}


def _efisys(seed: int) -> bytes:
    """A 1.44 MB FAT12 floppy image stand-in with a valid-looking boot sector."""
    del seed
    bpb = struct.pack("<3s8sHBHBHHBHHHII", b"\xeb\x3c\x90", b"MSDOS5.0", 512, 1, 1, 2, 224,
                      2880, 0xF0, 9, 18, 2, 0, 0)
    ebpb = struct.pack("<BBBI11s8s", 0, 0, 0x29, 0x5EF1B007, b"EFISECTORS ", b"FAT12   ")
    sector = bytearray(512)
    sector[:len(bpb)] = bpb
    sector[len(bpb):len(bpb) + len(ebpb)] = ebpb
    sector[510:512] = b"\x55\xaa"
    image = bytearray(1_474_560)
    image[:512] = sector
    for fat in (512, 512 + 9 * 512):
        image[fat:fat + 3] = b"\xf0\xff\xff"
    return bytes(image)


def _etfsboot() -> bytes:
    """A 2048-byte BIOS no-emulation boot sector stand-in (ends with the 0x55AA mark)."""
    sector = bytearray(2048)
    code = b"\xfa\x33\xc0\x8e\xd0\xbc\x00\x7c\xfb" + b"wimcore sample etfsboot"
    sector[:len(code)] = code
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


# -- updates/ -----------------------------------------------------------------------------

def _container_wim(path: Path, members: dict[str, bytes], *, seed: int, work: Path) -> None:
    """A WIM (no compression, one image) holding ``members`` at its root: a 24H2-style KB
    package or MSU. Times and GUID are pinned, so the same seed gives the same bytes."""
    import wimcore

    tree = Path(tempfile.mkdtemp(prefix=".tree-", dir=work))
    try:
        for rel, data in members.items():
            _put(tree, rel.replace("\\", "/"), data, T_DU)
        pin_tree_times(tree, T_DU)
        with wimcore.create("none") as wim:
            image = wim.add_image(tree, path.stem)
            ft = filetime(T_DU)
            image.set_property("CREATIONTIME/HIGHPART", f"0x{ft >> 32:08X}")
            image.set_property("CREATIONTIME/LOWPART", f"0x{ft & 0xFFFFFFFF:08X}")
            wim._set_info(guid=_guid(seed, path.name))
            path.parent.mkdir(parents=True, exist_ok=True)
            wim.write(path, threads=1, retain_guid=True)
        pin_wim_xml_times(path, T_DU)
        _touch(path, T_DU)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def _lcu_msu(folder: Path, work: Path, seed: int, *, kb: str, spec: MumSpec,
             package: PackageCab, storage: dict[str, str],
             deltas: dict[tuple[str, str, str], bytes], extra: dict[str, bytes]) -> None:
    """A 24H2-style LCU MSU in WIM form: the KB package WIM (metadata and the index
    ``<KB>.psf.cix.xml``), the ``.psf`` beside it, ``extra`` members (the SSU cabinet,
    DesktopDeployment, AggregatedMetadata) and the MSU's own metadata."""
    stem = f"Windows11.0-{kb}-x64"
    express = ExpressPackage(package, f"{stem}.psf", storage, deltas, time=filetime(T_DU))
    kb_members, psf = express.build()
    kb_wim = work / f"{stem}.wim"
    _container_wim(kb_wim, kb_members, seed=seed, work=work)
    members = {f"{stem}.wim": kb_wim.read_bytes(), f"{stem}.psf": psf, **extra,
               **msu_metadata_members(kb, spec, f"{stem}.wim", package_type="Security Update",
                                      applies_to="Security Update")}
    kb_wim.unlink()
    _container_wim(folder / f"{stem}.msu", members, seed=seed, work=work)


def _updates(folder: Path, seed: int, chosen: tuple[Edition, ...] = EDITIONS,
             work: Path | None = None) -> None:
    from wimcore.packages.msdelta_encode import encode

    editions = tuple(e.package for e in chosen)
    scratch = Path(tempfile.mkdtemp(prefix=".wimcore-updates-", dir=work or folder.parent))
    try:
        _express_updates(folder, scratch, seed, editions, encode)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _other_updates(folder, seed)


def _express_updates(folder: Path, work: Path, seed: int, editions: tuple[str, ...],
                     encode: Any) -> None:
    """The checkpoint LCU MSU and the monthly LCU MSU (with the SSU inside), 24H2-style."""
    ssu = MumSpec(name=f"Package_for_ServicingStack_{SSU_VERSION.split('.')[1]}",
                  version=SSU_VERSION, kb=KB_SSU, release_type="Update",
                  parent=ParentRef(("Microsoft-Windows-Foundation-Package",
                                    "Microsoft-Windows-WinPE-Package"), f"10.0.{BUILD}.1"),
                  components=[("Microsoft-Windows-ServicingStack", f"10.0.{BUILD}.2032")])
    ssu_cab = PackageCab(ssu, component_files={"Microsoft-Windows-ServicingStack": {
        "CbsCore.dll": _data(seed, "ssu/CbsCore.dll", 60_000),
        "TiWorker.exe": _data(seed, "ssu/TiWorker.exe", 30_000)}},
        component_version=f"10.0.{BUILD}.2032").build()
    desktop = cab_bytes({name: _data(seed, f"dd/{name}", 6_000) for name in (
        "dpx.dll", "ReserveManager.dll", "TurboStack.dll", "UpdateAgent.dll", "wcp.dll",
        "UpdateCompression.dll")})

    # The checkpoint (26100.1742): the images already have it, so plan says installed.
    cp_v = VERSION
    checkpoint = MumSpec(name="Package_for_RollupFix", version=f"{BUILD}.{UBR}.1.10",
                         kb=KB_BASE_LCU, release_type="Security Update", restart="required",
                         parent=ParentRef((*editions, "Microsoft-Windows-WinPE-Package"),
                                          f"10.0.{BUILD}.1"),
                         components=[("Microsoft-Windows-Notepad", cp_v)], psfx_version=cp_v)
    cp_notepad = _data(seed, "sys32/notepad.exe", 40_000)
    cp_pkg = PackageCab(checkpoint, component_files={
        "Microsoft-Windows-Notepad": {"notepad.exe": cp_notepad,
                                     "notepad.exe.mui": _data(seed, "cp/notepad.mui", 6_000)}},
        component_version=cp_v)
    _lcu_msu(folder, work, seed, kb=KB_BASE_LCU, spec=checkpoint, package=cp_pkg,
             storage={"notepad.exe": PA30}, deltas={}, extra={})

    lcu_v = f"10.0.{BUILD}.{LCU_UBR}"
    subs = [(f"Package_{n}_for_{KB_LCU}", lcu_v) for n in (1, 2)]
    lcu = MumSpec(name="Package_for_RollupFix", version=LCU_VERSION, kb=KB_LCU,
                  release_type="Security Update", restart="required",
                  parent=ParentRef((*editions, "Microsoft-Windows-WinPE-Package"), VERSION),
                  packages=subs, psfx_version=lcu_v)
    sub_mums = {f"{n}~31bf3856ad364e35~amd64~~{v}.mum": mum_bytes(MumSpec(
        name=n, version=v, kb=KB_LCU, release_type="Security Update",
        parent=ParentRef(editions, VERSION),
        components=[("Microsoft-Windows-Notepad", lcu_v)])) for n, v in subs}
    notepad = _data(seed, "lcu/notepad.exe", 42_000)
    lcu_pkg = PackageCab(lcu, sub_mums=sub_mums, component_files={
        "Microsoft-Windows-Notepad": {"notepad.exe": notepad},
        "Microsoft-Windows-DeviceInventory": {
            "devinv.dll": _data(seed, "lcu/devinv.dll", 41_000)},
        "Microsoft-Windows-Kernel32": {
            "kernel32.dll": _data(seed, "lcu/kernel32.dll", 120_000)}},
        component_version=lcu_v)
    # The forward differential against the checkpoint's notepad.exe, as Windows stages it
    # (a CRC-32 prefix, then PA30), stored in the PSF as it is.
    forward = encode(notepad, cp_notepad, magic="PA30", codec="pseudolzx", crc_prefix=True)
    compdb = cab_bytes({f"LCUCompDB_{KB_LCU}.xml": b'<?xml version="1.0"?><CompDB/>'})
    _lcu_msu(folder, work, seed, kb=KB_LCU, spec=lcu, package=lcu_pkg,
             storage={"devinv.dll": PA30, "kernel32.dll": PA31_LZMS},
             deltas={("Microsoft-Windows-Notepad", "f", "notepad.exe"): forward},
             extra={f"SSU-{BUILD}.2032-x64.cab": ssu_cab, "DesktopDeployment.cab": desktop,
                    "onepackage.AggregatedMetadata.cab": cab_bytes(
                        {f"LCUCompDB_{KB_LCU}.xml.cab": compdb})})


def _other_updates(folder: Path, seed: int) -> None:
    """The SafeOS Dynamic Update (a package cabinet) and the Setup Dynamic Update."""
    safeos = MumSpec(name="Package_for_SafeOSDU", version=SAFEOS_VERSION, kb=KB_SAFEOS,
                     release_type="Update",
                     parent=ParentRef(("Microsoft-Windows-WinPE-Package",), VERSION),
                     components=[("Microsoft-Windows-WinRE-RecEnv", f"10.0.{BUILD}.2030")])
    safeos_cab = PackageCab(safeos, component_files={"Microsoft-Windows-WinRE-RecEnv": {
        "recenv.exe": _data(seed, "safeos/recenv.exe", 71_000)}},
        component_version=f"10.0.{BUILD}.2030").build()
    _put(folder, f"Windows11.0-{KB_SAFEOS}-x64.cab", safeos_cab, T_DU)

    # Setup Dynamic Update: plain files for sources/ (no update.mum), as Microsoft ships it.
    du = {name: _data(seed, f"setupdu/{name}", size) for name, size in SETUPDU_FILES}
    _put(folder, f"Windows11.0-{KB_SETUPDU}-x64.cab", cab_bytes(du), T_DU)


# -- the media -----------------------------------------------------------------------------

def _setup_tree(root: Path, seed: int) -> None:
    """The Setup image: the WinPE tree plus setup.exe and Setup's sources/."""
    _windows_tree(root, "setup", seed)
    _put(root, "setup.exe", _data(seed, "setup/setup.exe", 96_000), T_RTM)
    for name, size, _media_t, image_t, same in SETUP_FILES:
        tag = f"setup/{name}" if same else f"setup/{name}/new"
        _put(root, f"sources/{name}", _data(seed, tag, size), image_t)
    for name in SETUP_ONLY_IN_IMAGE:
        _put(root, f"sources/{name}", _data(seed, f"setup/{name}", 20_000), T_RTM)


def _media_sources(media: Path, seed: int) -> None:
    for name, size, media_t, _image_t, _same in SETUP_FILES:
        _put(media, f"sources/{name}", _data(seed, f"setup/{name}", size), media_t)
    for name, size, media_t in SYSTEM32_SHARED:
        _put(media, f"sources/{name}", _data(seed, f"media/{name}/old", size), media_t)
    _put(media, "sources/ei.cfg", b"[Channel]\r\nRetail\r\n", T_RTM)
    _put(media, "sources/lang.ini",
         b"[Available UI Languages]\r\nen-US = 3\r\n\r\n[Fallback Languages]\r\n"
         b"en-US = en-us\r\n", T_RTM)
    _put(media, "sources/idwbinfo.txt",
         b"[BUILDINFO]\r\nBuildArch=amd64\r\nBuildBranch=ge_release\r\n"
         b"BuildString=26100.1742.amd64fre.ge_release_svc_refresh.240906-0331\r\n", T_RTM)


def create_sample(dest: str | Path, *, seed: int = 0, editions: int = 2) -> Path:
    """Write the sample media into ``dest`` (absent or empty) and return its path.

    ``editions``: how many install.wim editions (1 to 6; the default two give the same
    bytes as before the option existed).
    """
    chosen = editions_of(editions)
    media = Path(dest)
    if media.exists() and (not media.is_dir() or any(media.iterdir())):
        raise DestinationExistsError(str(media))
    media.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".wimcore-sample-", dir=media.parent))
    try:
        _build(media, work, seed, chosen)
    except BaseException as exc:
        shutil.rmtree(media, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        if _no_space(exc):  # name the folder the user gave, not a temporary one
            raise OSError(errno.ENOSPC, "No space left on device while writing the sample "
                          f"media (the file system of {media.parent} is full; nothing was "
                          "left behind)", str(media)) from None
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return media


def _no_space(exc: BaseException) -> bool:
    """True when ``exc`` is a full file system (an OSError, or libwimlib's write error)."""
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return "No space left on device" in f"{exc} {getattr(exc, 'detail', '') or ''}"


def _build(media: Path, work: Path, seed: int, chosen: tuple[Edition, ...] = EDITIONS) -> None:
    # WinRE first: it goes inside every install image.
    winre_tree = work / "winre"
    _windows_tree(winre_tree, "winre", seed)
    pin_tree_times(winre_tree, T_RTM)
    winre = work / "Winre.wim"
    _write_wim(winre, [(winre_tree, WINRE_NAME, {**_PE, "flags": "9", "display": None})],
               seed=seed, boot_index=1, scratch=600_000)
    _touch(winre, T_RTM)

    trees: list[tuple[Path, str, dict[str, str | None]]] = []
    for edition in chosen:
        tree = work / edition.edition_id
        _windows_tree(tree, "client", seed, edition)
        (tree / "Windows/System32/Recovery").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(winre, tree / "Windows/System32/Recovery/Winre.wim")
        _touch(tree / "Windows/System32/Recovery/Winre.wim", T_RTM)
        _put(tree, "Windows/System32/Recovery/ReAgent.xml",
             b'<?xml version="1.0" encoding="utf-8"?><WindowsRE version="2.0"/>', T_RTM)
        for name in ("Program Files/Common Files/placeholder.txt", "Users/Public/desktop.ini"):
            _put(tree, name, b"[.ShellClassInfo]\r\n", T_RTM)
        pin_tree_times(tree / "Program Files", T_RTM)
        pin_tree_times(tree / "Users", T_RTM)
        _pin_dirs(tree)
        trees.append((tree, edition.name, {
            "edition_id": edition.edition_id, "itype": "Client", "flags": edition.edition_id,
            "display": edition.name, "product": "Microsoft® Windows® Operating System"}))
    sources = media / "sources"
    sources.mkdir(parents=True)
    _write_wim(sources / "install.wim", trees, seed=seed, scratch=400_000)

    pe_tree, setup_tree = work / "winpe", work / "setup"
    _windows_tree(pe_tree, "winpe", seed)
    _setup_tree(setup_tree, seed)
    _pin_dirs(pe_tree)
    _pin_dirs(setup_tree)
    _write_wim(sources / "boot.wim", [
        (pe_tree, WINPE_NAME, {**_PE, "flags": "9", "display": None}),
        (setup_tree, SETUP_NAME, {**_PE, "flags": "2", "display": None}),
    ], seed=seed, boot_index=2, scratch=300_000)

    _media_sources(media, seed)
    _put(media, "setup.exe", _data(seed, "setup/setup.exe", 96_000), T_RTM)
    _put(media, "bootmgr", _data(seed, "boot/bootmgr", 80_000), T_RTM)
    _put(media, "bootmgr.efi", _data(seed, "boot/bootmgr.efi", 120_000), T_RTM)
    _put(media, "autorun.inf", b"[AutoRun.Amd64]\r\nopen=setup.exe\r\nicon=setup.exe,0\r\n",
         T_RTM)
    _put(media, "boot/etfsboot.com", _etfsboot(), T_RTM)
    _put(media, "boot/bcd", _data(seed, "boot/bcd", 16_384), T_RTM)
    _put(media, "boot/boot.sdi", b"$SDI0001" + bytes(8_184), T_RTM)
    _put(media, "efi/boot/bootx64.efi", _data(seed, "efi/bootx64.efi", 100_000), T_RTM)
    _put(media, "efi/microsoft/boot/efisys.bin", _efisys(seed), T_RTM)
    _put(media, "efi/microsoft/boot/bcd", _data(seed, "efi/bcd", 16_384), T_RTM)
    _updates(media / "updates", seed, chosen, work)
    for wim in ("install.wim", "boot.wim"):
        _touch(sources / wim, T_RTM)
    _pin_dirs(media)


def _touch(path: Path, when: dt.datetime) -> None:
    stamp = unix_seconds(when)
    os.utime(path, (stamp, stamp))


def _pin_dirs(root: Path) -> None:
    """Pin every directory's time (files keep their own, chosen, times)."""
    stamp = unix_seconds(T_ISO if root.name != "Windows" else T_RTM)
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        os.utime(dirpath, (stamp, stamp))
