"""Plan: for one image, which packages apply, which are installed or superseded, and the order.

A plan is data made before anything changes: frozen, printable (``str(plan)`` is a
table) and JSON-ready (``plan.to_dict()``). Its states are honest: a plan never says
"installed" for something wimcore placed in an image, only for what the image's own
servicing records show installed.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore import ledger
from wimcore.packages.model import Package, PackageKind, Parent, cu_target
from wimcore.servicing.image_inventory import ImageType, InstalledPackage, Inventory, inventory

if TYPE_CHECKING:
    from wimcore.image import Image

#: cu_target lives in the package model now; it stays importable from here.
__all__ = ["PackageInput", "Plan", "PlanEntry", "PlanState", "cu_target", "load_inputs", "plan"]


class PlanState(enum.Enum):
    """What a plan says about one package for one image."""

    APPLICABLE = "applicable"
    NOT_APPLICABLE = "not-applicable"
    INSTALLED = "installed"
    SUPERSEDED = "superseded"
    NEEDS_SERVICING_STACK = "needs-servicing-stack"
    STAGED = "staged"  # already staged (by an earlier wimcore run, or pending in CBS)


#: Order of kinds when applying (servicing stack first, .NET after the cumulative update).
_KIND_ORDER = {
    PackageKind.SERVICING_STACK: 0, PackageKind.LANGUAGE_PACK: 1,
    PackageKind.FEATURE_ON_DEMAND: 2, PackageKind.CUMULATIVE_UPDATE: 3,
    PackageKind.SAFE_OS: 4, PackageKind.DOTNET: 5, PackageKind.OTHER: 6,
    PackageKind.SETUP_DYNAMIC_UPDATE: 7,
}
_ARCH_OF_IMAGE = {"x86": {"x86"}, "x64": {"amd64", "wow64", "x64"}, "arm": {"arm"},
                  "arm64": {"arm64", "arm64.x86", "arm64.arm"}, "ia64": {"ia64"}}
_NEUTRAL_ARCH = {"", "neutral", "msil", "*"}


@dataclass(frozen=True)
class PlanEntry:
    """One package in a plan: its state for the image, why, and its place in the order."""

    key: str
    name: str
    version: str
    arch: str
    kb: str | None
    kind: str
    release_type: str | None
    state: PlanState
    reason: str
    order: int | None = None
    target: str = "image"  # image | media
    superseded_by: str | None = None
    after: tuple[str, ...] = ()
    source: str | None = None
    package: Package | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"order": self.order, "key": self.key, "name": self.name,
                "version": self.version, "arch": self.arch, "kb": self.kb, "kind": self.kind,
                "release_type": self.release_type, "state": self.state.value,
                "reason": self.reason, "target": self.target,
                "superseded_by": self.superseded_by, "after": list(self.after),
                "source": self.source}


@dataclass(frozen=True)
class Plan:
    """The plan for one image: entries in apply order (then the rest) and warnings."""

    image_index: int
    image_name: str
    image_type: ImageType
    image_version: str | None
    arch: str | None
    entries: tuple[PlanEntry, ...]
    warnings: tuple[str, ...] = ()

    @property
    def applicable(self) -> tuple[PlanEntry, ...]:
        """The entries to stage, in apply order."""
        return tuple(e for e in self.entries if e.state is PlanState.APPLICABLE)

    @property
    def to_apply(self) -> tuple[PlanEntry, ...]:
        """Every entry the plan numbered, in apply order: applicable ones, and those that
        apply but need a servicing stack (which only a backend that runs one can install)."""
        return tuple(e for e in self.entries if e.order is not None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"image": {"index": self.image_index, "name": self.image_name,
                          "type": self.image_type.value, "version": self.image_version,
                          "arch": self.arch},
                "entries": [e.to_dict() for e in self.entries],
                "warnings": list(self.warnings)}

    def to_json(self) -> str:
        """The plan as a JSON document."""
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        head = (f"Plan for image {self.image_index} \"{self.image_name}\" "
                f"({self.image_type.value}, {self.arch or '?'}, {self.image_version or '?'})")
        rows = [("#", "STATE", "KIND", "KB", "PACKAGE", "WHY")]
        for e in self.entries:
            rows.append((str(e.order) if e.order is not None else "-", e.state.value, e.kind,
                         e.kb or "-", f"{e.name} {e.version}", e.reason))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [head]
        for r in rows:
            lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5])
        if not self.entries:
            lines.append("  (no packages)")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# -- loading packages given as paths ---------------------------------------------------------

PackageInput = Package | str | os.PathLike[str]


def load_inputs(packages: Iterable[PackageInput]) -> list[tuple[Package, str | None]]:
    """(package, source) pairs from Package objects, expanded folders, .mum, CAB or MSU paths.

    Paths go through :func:`wimcore.packages.intake.prepare_inputs` (classified,
    expanded into a temporary folder and verified against their catalogs and
    manifests; an input that is not an update raises ``NotAnUpdateError``). Packages
    read from files can be planned, not staged: their expanded folder is gone afterwards.
    """
    import tempfile

    from wimcore.packages.intake import prepare_inputs

    out: list[tuple[Package, str | None]] = []
    paths: list[str | os.PathLike[str]] = []
    for item in packages:
        if isinstance(item, Package):
            out.append((item, str(Path(item.path).parent) if item.path else None))
        else:
            paths.append(item)
    if paths:
        with tempfile.TemporaryDirectory(prefix="wimcore-plan-") as tmp:
            ledger.note_ignore(tmp)  # scratch: expansions here are not changes
            intake = prepare_inputs(paths, tmp)
        by_key = {pkg.key: pkg for pkg in intake.packages}
        for record in intake.records:
            for key, folder in zip(record.keys, record.folders, strict=True):
                source = folder if record.input.format == "folder" else str(record.input.path)
                out.append((by_key[key], source))
    return out


# -- comparisons ---------------------------------------------------------------------------

def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split(".") if p) or (0,)


def _cmp(op: str | None, a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    op = (op or "").upper()
    return {"EQ": a == b, "NE": a != b, "GE": a >= b, "GT": a > b, "LE": a <= b,
            "LT": a < b}.get(op, True)


def _arch_ok(pkg_arch: str, image_arch: str | None) -> bool:
    if pkg_arch.lower() in _NEUTRAL_ARCH or image_arch is None:
        return True
    return pkg_arch.lower() in _ARCH_OF_IMAGE.get(image_arch.lower(), {image_arch.lower()})


def _parent_check(parent: Parent, versions: dict[str, tuple[tuple[int, ...], str | None]],
                  arch: str | None) -> tuple[bool, str, str | None]:
    """(satisfied, explanation, provider) for one <parent> against known package versions."""
    reasons = []
    for ident in parent.identities:
        want = _vt(ident.version)
        have = versions.get(ident.name.lower())
        if have is None or not _arch_ok(ident.arch, arch):
            reasons.append(f"parent {ident.name} is not in the image")
            continue
        got, provider = have
        ok = True
        if parent.build_compare:
            ok = _cmp(parent.build_compare, got[:3], want[:3])
        if ok and (parent.service_compare or parent.revision_compare):
            if parent.build_compare and parent.build_compare.upper() == "EQ":
                ok = _cmp(parent.revision_compare or parent.service_compare, got, want)
            else:
                ok = _cmp(parent.revision_compare or parent.service_compare, got, want)
        shown = ".".join(map(str, got))
        if ok:
            return True, f"parent {ident.name} {shown} satisfies {ident.version}", provider
        cmp_ = "/".join(x for x in (parent.build_compare, parent.service_compare,
                                    parent.revision_compare) if x)
        reasons.append(f"needs {ident.name} {cmp_} {ident.version}, image has {shown}")
    return False, "; ".join(reasons) or "no parent identity", None


# -- the plan --------------------------------------------------------------------------------

@dataclass
class _Work:
    pkg: Package
    source: str | None
    state: PlanState | None = None
    reason: str = ""
    target: str = "image"
    superseded_by: str | None = None
    after: list[str] = field(default_factory=list)
    checkpoint: bool = False


def plan(image_or_inventory: Image | Inventory, packages: Iterable[PackageInput], *,
         staged: Iterable[str] = ()) -> Plan:
    """Plan ``packages`` for one image (an :class:`Image`, or its :class:`Inventory`).

    ``packages``: :class:`Package` objects or paths (expanded folders, .mum, CAB, MSU).
    ``staged``: identity keys an earlier run staged (from the WIM's history sidecar);
    the image's own answer file is consulted too. Returns a frozen :class:`Plan`.
    """
    inv = image_or_inventory if isinstance(image_or_inventory, Inventory) else inventory(
        image_or_inventory)
    work = [_Work(p, s) for p, s in load_inputs(packages)]
    staged_keys = {k.lower() for k in staged} | {s.key.lower() for s in inv.staged}
    seen: dict[str, _Work] = {}
    safe_os = any(w.pkg.kind is PackageKind.SAFE_OS for w in work)
    for w in work:
        if w.pkg.key.lower() in seen:
            w.state, w.reason = PlanState.NOT_APPLICABLE, "duplicate of another input"
            continue
        seen[w.pkg.key.lower()] = w
        _static(w, inv, staged_keys, safe_os)
    _parents(work, inv)
    _supersede_in_set(work)
    entries = _ordered(work, inv)
    return Plan(inv.image_index, inv.image_name, inv.image_type, inv.version, inv.arch,
                tuple(entries), tuple(_warnings(entries, inv)))


def _static(w: _Work, inv: Inventory, staged_keys: set[str], safe_os: bool) -> None:
    """Checks that need no other package: image type, architecture, installed, staged.

    ``safe_os``: the set holds a SafeOS Dynamic Update, which WinRE takes instead of the
    cumulative update (Microsoft's Dynamic Update order: WinRE gets SSU + SafeOS DU).
    """
    pkg, kind = w.pkg, w.pkg.kind
    if kind is PackageKind.SETUP_DYNAMIC_UPDATE:
        w.state, w.target = PlanState.NOT_APPLICABLE, "media"
        w.reason = "Setup Dynamic Update: copy it into the media's sources/ folder, " \
                   "not into an image"
        return
    if not inv.is_windows:
        w.state, w.reason = PlanState.NOT_APPLICABLE, "not a Windows image (no Windows/ folder)"
        return
    if kind is PackageKind.SAFE_OS and inv.image_type is not ImageType.WINRE:
        w.state = PlanState.NOT_APPLICABLE
        w.reason = f"SafeOS updates apply only to WinRE, this is a {inv.image_type.value} image"
        return
    if kind is PackageKind.CUMULATIVE_UPDATE and inv.image_type is ImageType.WINRE and safe_os:
        w.state = PlanState.NOT_APPLICABLE
        w.reason = ("WinRE takes the SafeOS Dynamic Update in this set instead of the "
                    "cumulative update (WinRE: servicing stack, then SafeOS DU)")
        return
    if not _arch_ok(pkg.identity.arch, inv.arch):
        w.state = PlanState.NOT_APPLICABLE
        w.reason = f"architecture {pkg.identity.arch} does not match the image ({inv.arch})"
        return
    mine = inv.package(pkg.key)
    if mine is not None and mine.state == "superseded":
        w.state, w.reason = PlanState.SUPERSEDED, "the image's CBS records it superseded"
        return
    if mine is not None and mine.appears_installed:
        w.state = PlanState.INSTALLED
        w.reason = f"already installed (CBS state {mine.state})" if mine.state else \
            "already installed (its .mum is in servicing/Packages)"
        return
    if mine is not None and mine.state in ("install-pending", "staged"):
        w.state, w.reason = PlanState.STAGED, f"already in the image, CBS state {mine.state}"
        return
    if pkg.key.lower() in staged_keys:
        w.state = PlanState.STAGED
        w.reason = "already staged by an earlier wimcore run (Windows installs it at Setup)"
        return
    newer = _newer_installed(pkg, inv)
    if newer is not None:
        w.state, w.superseded_by, w.reason = PlanState.SUPERSEDED, newer[0], newer[1]


def _newer_installed(pkg: Package, inv: Inventory) -> tuple[str, str] | None:
    """An installed package of the same line that is newer: (its key, the reason)."""
    installed = [p for p in inv.packages if p.appears_installed]
    if pkg.kind is PackageKind.CUMULATIVE_UPDATE:
        target = cu_target(pkg.identity, pkg.custom_information)
        if target is None:
            return None
        for p in installed:
            if p.kind is PackageKind.CUMULATIVE_UPDATE:
                have = cu_target(p.identity)
                if have and have[0] == target[0] and have[1] >= target[1]:
                    return p.key, (f"superseded by the installed cumulative update "
                                   f"{p.kb or p.key} (10.0.{have[0]}.{have[1]})")
        if inv.build == target[0] and inv.ubr is not None and inv.ubr > target[1]:
            return "image", (f"the image is already at 10.0.{inv.build}.{inv.ubr}, newer than "
                             f"this update's 10.0.{target[0]}.{target[1]}")
        return None
    same: list[InstalledPackage] = [p for p in installed
                                    if p.name.lower() == pkg.identity.name.lower()]
    if pkg.kind is PackageKind.SERVICING_STACK:
        same = [p for p in installed if p.kind is PackageKind.SERVICING_STACK] or same
    mine = _vt(pkg.identity.version)
    for p in same:
        if _vt(p.version) >= mine and p.key.lower() != pkg.key.lower():
            return p.key, f"superseded by installed {p.name} {p.version}"
    return None


def _installed_versions(inv: Inventory) -> dict[str, tuple[tuple[int, ...], str | None]]:
    out: dict[str, tuple[tuple[int, ...], str | None]] = {}
    for p in inv.packages:
        if p.appears_installed:
            v = _vt(p.version)
            if p.name.lower() not in out or v > out[p.name.lower()][0]:
                out[p.name.lower()] = (v, None)
    return out


def _parents(work: list[_Work], inv: Inventory) -> None:
    """Check parents; a cumulative update planned earlier may provide a later one's parent."""
    base = _installed_versions(inv)
    versions = dict(base)
    pending = [w for w in work if w.state in (None, PlanState.STAGED)]

    def sort_key(w: _Work) -> tuple[int, tuple[int, int]]:
        t = cu_target(w.pkg.identity, w.pkg.custom_information) or (0, 0)
        return _KIND_ORDER.get(w.pkg.kind, 9), t

    for w in sorted(pending, key=sort_key):
        if w.state is None and w.pkg.parents:
            ok, why, provider = False, "", None
            for table in (base, versions):  # the image as it is first, then as planned
                for parent in w.pkg.parents:
                    ok, why, provider = _parent_check(parent, table, inv.arch)
                    if ok:
                        break
                if ok:
                    break
            if not ok and not inv.package_listing:
                ok, why, provider = _build_fallback(w.pkg, inv)
            if not ok:
                w.state, w.reason = PlanState.NOT_APPLICABLE, why
                continue
            w.state, w.reason = PlanState.APPLICABLE, why
            if provider is not None:
                w.after.append(provider)
                prov = next(x for x in work if x.pkg.key == provider)
                prov.checkpoint = True
                w.reason = f"{why} once {prov.pkg.kb or provider} is applied first (checkpoint)"
        elif w.state is None:
            w.state, w.reason = PlanState.APPLICABLE, "no parent condition"
        if w.pkg.kind is PackageKind.CUMULATIVE_UPDATE:
            target = cu_target(w.pkg.identity, w.pkg.custom_information)
            if target is not None:
                for name, (v, _) in list(versions.items()):
                    if len(v) >= 4 and v[2] == target[0] and v[3] < target[1]:
                        versions[name] = ((*v[:3], target[1]), w.pkg.key)


def _build_fallback(pkg: Package, inv: Inventory) -> tuple[bool, str, str | None]:
    """Without a package listing, compare the parents' build with the image build."""
    builds = {_vt(i.version)[2] for p in pkg.parents for i in p.identities
              if len(_vt(i.version)) >= 3}
    if inv.build is not None and builds and inv.build not in builds:
        return False, f"built for {sorted(builds)}, image build is {inv.build}", None
    return True, "parent not verifiable (image lists no packages); build matches", None


def _supersede_in_set(work: list[_Work]) -> None:
    """Older cumulative updates and servicing stacks are superseded by newer ones in the set."""
    for kind in (PackageKind.CUMULATIVE_UPDATE, PackageKind.SERVICING_STACK):
        live = [w for w in work if w.state is PlanState.APPLICABLE and w.pkg.kind is kind]
        for w in live:
            if w.checkpoint:
                continue
            mine = cu_target(w.pkg.identity, w.pkg.custom_information) \
                if kind is PackageKind.CUMULATIVE_UPDATE else None
            for other in live:
                if other is w:
                    continue
                if kind is PackageKind.CUMULATIVE_UPDATE:
                    theirs = cu_target(other.pkg.identity, other.pkg.custom_information)
                    newer = bool(mine and theirs and theirs[0] == mine[0] and theirs > mine)
                else:
                    newer = _vt(other.pkg.identity.version) > _vt(w.pkg.identity.version)
                if newer:
                    w.state, w.superseded_by = PlanState.SUPERSEDED, other.pkg.key
                    w.reason = f"superseded by {other.pkg.kb or other.pkg.key} in this set"
                    break


def _ordered(work: list[_Work], inv: Inventory) -> list[PlanEntry]:
    """Entries in apply order (numbered), then the others; WinRE/WinPE/Setup honestly marked."""
    def key(w: _Work) -> tuple[int, tuple[int, ...]]:
        t = cu_target(w.pkg.identity, w.pkg.custom_information)
        return _KIND_ORDER.get(w.pkg.kind, 9), (t if t else _vt(w.pkg.identity.version))

    active = sorted((w for w in work if w.state is PlanState.APPLICABLE), key=key)
    rest = [w for w in work if w.state is not PlanState.APPLICABLE]
    out = []
    for n, w in enumerate(active, start=1):
        state, reason = w.state, w.reason
        if not inv.image_type.is_install:
            state = PlanState.NEEDS_SERVICING_STACK
            reason = (f"applies ({reason}), but a {inv.image_type.value} image needs a "
                      "servicing stack (DISM), not available on this host: staging only "
                      "works for images that Windows Setup installs")
        out.append(_entry(w, state or PlanState.APPLICABLE, reason, n))
    out += [_entry(w, w.state or PlanState.NOT_APPLICABLE, w.reason, None) for w in rest]
    return out


def _entry(w: _Work, state: PlanState, reason: str, order: int | None) -> PlanEntry:
    p = w.pkg
    return PlanEntry(p.key, p.identity.name, p.identity.version, p.identity.arch, p.kb,
                     p.kind.value, p.release_type, state, reason, order, w.target,
                     w.superseded_by, tuple(w.after), w.source, p)


def _warnings(entries: Sequence[PlanEntry], inv: Inventory) -> list[str]:
    out: list[str] = []
    live = [e for e in entries if e.state in (PlanState.APPLICABLE,
                                              PlanState.NEEDS_SERVICING_STACK,
                                              PlanState.STAGED)]
    cus = [e for e in live if e.kind == PackageKind.CUMULATIVE_UPDATE.value]
    ssus = [e for e in live if e.kind == PackageKind.SERVICING_STACK.value]
    if cus and not ssus:
        have = [p for p in inv.packages if p.kind is PackageKind.SERVICING_STACK
                and p.appears_installed]
        installed = max((p.version for p in have), key=_vt, default=None)
        out.append(f"cumulative update {cus[-1].kb or cus[-1].key} is planned without a "
                   f"servicing stack update (image SSU: {installed or 'none found'}); if it "
                   "needs a newer SSU, Windows reports success and installs nothing: add the "
                   "SSU (often inside the same MSU)")
    if inv.netfx3 in ("enabled", "pending"):
        out.append(f"NetFX3 is {inv.netfx3}: component cleanup (/ResetBase) is impossible with "
                   "it pending, and the cumulative update must be re-applied after NetFX3 is "
                   "enabled")
    if inv.pending_operations:
        out.append("the image has pending servicing operations (WinSxS/pending.xml): cleanup "
                   "is impossible until they complete at first boot")
    if inv.is_windows and inv.hive_status != "ok":
        out.append(f"SOFTWARE hive {inv.hive_status}: build/UBR and CBS states unknown; "
                   "installed/superseded checks rely on servicing/Packages only")
    if not inv.is_windows:
        out.append("not a Windows image: nothing can be applied")
    return out
