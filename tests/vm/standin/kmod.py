"""Kernel modules of an unpacked kernel tree: their .modinfo fields and a load order for insmod.

The guest has no modprobe database, so the builder works out here, on the host, which
``.ko`` files a feature needs and in which order ``insmod`` must load them. Names come from
each module's own ``.modinfo`` ELF section (``name=``, ``depends=``, ``softdep=``,
``alias=``), because file names mix ``_`` and ``-`` (``crc64-rocksoft.ko`` is
``crc64_rocksoft``) and ``modinfo`` (kmod) may not be installed on the host.
"""

from __future__ import annotations

import gzip
import lzma
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.gz")


class ModuleError(Exception):
    """A module that cannot be read, or a feature whose modules the tree lacks."""


def canonical(name: str) -> str:
    """The kernel's spelling of a module name: ``-`` and ``_`` are the same, ``_`` wins."""
    return name.replace("-", "_")


def module_bytes(path: Path) -> bytes:
    """The ELF object of a module file, decompressed (busybox insmod wants plain ELF)."""
    raw = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(raw)
    if path.name.endswith(".gz"):
        return gzip.decompress(raw)
    return raw


def elf_section(elf: bytes, wanted: str) -> bytes | None:
    """The bytes of the named section of a 64-bit little-endian ELF object, or None."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ModuleError("not a 64-bit little-endian ELF object")
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names_offset = sections[shstrndx][4]
    for name_at, _type, _flags, _addr, offset, size in sections:
        start = names_offset + name_at
        if elf[start:elf.index(b"\0", start)].decode() == wanted:
            return elf[offset:offset + size]
    return None


@dataclass(frozen=True)
class ModuleInfo:
    """What a module says about itself: its name, hard dependencies, soft pre-deps, aliases."""

    name: str
    path: Path
    depends: tuple[str, ...]
    softdep_pre: tuple[str, ...]
    aliases: tuple[str, ...]

    @staticmethod
    def read(path: Path) -> ModuleInfo:
        section = elf_section(module_bytes(path), ".modinfo")
        if section is None:
            raise ModuleError(f"{path}: no .modinfo section")
        fields: dict[str, list[str]] = {}
        for item in section.split(b"\0"):
            key, sep, value = item.decode(errors="replace").partition("=")
            if sep:
                fields.setdefault(key, []).append(value)
        stem = path.name.split(".ko")[0]
        name = canonical(fields.get("name", [stem])[0])
        depends = tuple(canonical(d) for d in ",".join(fields.get("depends", [])).split(",") if d)
        pre: list[str] = []
        for soft in fields.get("softdep", []):
            # "pre: a b post: c": only the "pre:" names must be loaded first
            part = None
            for word in soft.split():
                if word.endswith(":"):
                    part = word[:-1]
                elif part == "pre":
                    pre.append(word)
        return ModuleInfo(name, path, depends, tuple(pre), tuple(fields.get("alias", [])))


class ModuleTree:
    """The modules found below one ``lib/modules/<release>`` folder, indexed by name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: dict[str, ModuleInfo] = {}
        for path in sorted(root.rglob("*.ko*")):
            if path.name.endswith(MODULE_SUFFIXES):
                info = ModuleInfo.read(path)
                self.modules[info.name] = info
        # Drivers compiled into the kernel need no loading (another kernel build may do so).
        builtin = root / "modules.builtin"
        self.builtin = {canonical(Path(line).name.split(".ko")[0])
                        for line in (builtin.read_text().split() if builtin.is_file() else [])}

    def provider(self, name_or_alias: str) -> ModuleInfo | None:
        """The module with that name, else one declaring it as an alias (generic C first).

        Architecture-specific providers (``crct10dif-pclmul``) refuse to load on a CPU that
        lacks the instructions, as QEMU's default TCG CPU does; the ``_generic`` one always
        loads.
        """
        found = self.modules.get(canonical(name_or_alias))
        if found is not None:
            return found
        candidates = [m for m in self.modules.values() if name_or_alias in m.aliases]
        candidates.sort(key=lambda m: ("generic" not in m.name, m.name))
        return candidates[0] if candidates else None

    def load_order(self, wanted: Iterable[str], optional: Iterable[str] = ()) -> list[ModuleInfo]:
        """``wanted`` and everything they need, each after its dependencies and soft pre-deps.

        Names in ``optional`` are skipped when the tree lacks them; built-in ones always are.
        """
        skippable = {canonical(name) for name in optional} | self.builtin
        order: list[ModuleInfo] = []
        done: set[str] = set()
        visiting: set[str] = set()

        def visit(name: str, required_by: str | None) -> None:
            info = self.provider(name)
            if info is None:
                if required_by is None and canonical(name) not in skippable:
                    raise ModuleError(f"module {name!r} is not in {self.root}")
                return  # optional, built in, or an unresolvable soft dependency
            if info.name in done:
                return
            if info.name in visiting:
                raise ModuleError(f"dependency cycle through {info.name}")
            visiting.add(info.name)
            for dep in info.depends:
                if self.provider(dep) is None and dep not in self.builtin:
                    raise ModuleError(f"{info.name} depends on {dep}, which is missing")
                visit(dep, info.name)
            for soft in info.softdep_pre:
                visit(soft, info.name)
            visiting.discard(info.name)
            done.add(info.name)
            order.append(info)

        for name in wanted:
            visit(name, None)
        return order

