"""The text wimlib-imagex prints for ``info`` and ``dir``, field for field.

Scripts grep these lines (``Image Count:``, ``Boot Index:``, ``Compression:    LZX``,
``Full Path           = ...``), so the labels, spacing and value spellings follow
wimlib-imagex 1.13 exactly. Values come from libwimlib (header facts and the image
properties it parsed), never from a second XML parser.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from wimcore.direntry import DirEntry, FileAttribute, ResourceEntry

if TYPE_CHECKING:
    from wimcore.wim import Wim, WimInfo

COMPRESSION_NAMES = {0: "None", 1: "XPRESS", 2: "LZX", 3: "LZMS"}
_ARCH_NAMES = {0: "x86", 1: "MIPS", 5: "ARM", 6: "ia64", 9: "x86_64", 12: "ARM64"}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ATTRIBUTE_NAMES = ("READONLY", "HIDDEN", "SYSTEM", "DIRECTORY", "ARCHIVE", "DEVICE", "NORMAL",
                    "TEMPORARY", "SPARSE_FILE", "REPARSE_POINT", "COMPRESSED", "OFFLINE",
                    "NOT_CONTENT_INDEXED", "ENCRYPTED", "VIRTUAL")


def c_time(moment: dt.datetime | None) -> str:
    """``Thu Jan 01 00:00:00 1970 UTC``: strftime's C-locale ``%a %b %d %H:%M:%S %Y UTC``."""
    m = moment or _UNIX_EPOCH
    return (f"{_DAYS[m.weekday()]} {_MONTHS[m.month - 1]} {m.day:02d} "
            f"{m.hour:02d}:{m.minute:02d}:{m.second:02d} {m.year} UTC")


def number(text: str | None, base: int = 10) -> int:
    """A property as libwimlib reads numbers: the whole text must parse, else 0."""
    if text is None:
        return 0
    value = text.strip()
    try:
        if base == 16 and value.lower().startswith("0x"):
            value = value[2:]
        return int(value, base) if value and value.lstrip("+").isalnum() else 0
    except ValueError:
        return 0


def wim_information(path: str, info: WimInfo) -> list[str]:
    """The ``WIM Information:`` block (wimlib-imagex info without an image)."""
    attrs = [label for on, label in ((info.pipable, "Pipable"),
                                      (info.has_integrity_table, "Integrity info"),
                                      (info.has_rpfix, "Relative path junction"),
                                      (info.resource_only, "Resource only"),
                                      (info.metadata_only, "Metadata only"),
                                      (info.is_marked_readonly, "Readonly")) if on]
    return ["WIM Information:", "----------------",
            f"Path:           {path}",
            f"GUID:           0x{info.guid}",
            f"Version:        {info.wim_version}",
            f"Image Count:    {info.image_count}",
            f"Compression:    {COMPRESSION_NAMES.get(int(info.compression), 'Invalid')}",
            f"Chunk Size:     {info.chunk_size} bytes",
            f"Part Number:    {info.part_number}/{info.total_parts}",
            f"Boot Index:     {info.boot_index}",
            f"Size:           {info.total_bytes} bytes",
            f"Attributes:     {', '.join(attrs)}", ""]


def _timestamp(get: Callable[[str], str | None], path: str) -> dt.datetime:
    value = (number(get(f"{path}/HIGHPART"), 16) << 32) | number(get(f"{path}/LOWPART"), 16)
    seconds = (value - 116444736000000000) // 10_000_000
    return _UNIX_EPOCH + dt.timedelta(seconds=seconds)


def image_information(index: int, get: Callable[[str], str | None]) -> list[str]:
    """One image's block, as libwimlib's image printer lays it out."""
    def line(label: str, value: object) -> str:
        return f"{label + ':':<24}{value}"

    out = [line("Index", index), line("Name", get("NAME") or ""),
           line("Description", get("DESCRIPTION") or "")]
    for label, key in (("Display Name", "DISPLAYNAME"),
                       ("Display Description", "DISPLAYDESCRIPTION")):
        value = get(key)
        if value is not None:
            out.append(line(label, value))
    out += [line("Directory Count", number(get("DIRCOUNT"))),
            line("File Count", number(get("FILECOUNT"))),
            line("Total Bytes", number(get("TOTALBYTES"))),
            line("Hard Link Bytes", number(get("HARDLINKBYTES"))),
            line("Creation Time", c_time(_timestamp(get, "CREATIONTIME"))),
            line("Last Modification Time", c_time(_timestamp(get, "LASTMODIFICATIONTIME")))]
    if _has_windows(get):
        out.append(line("Architecture", _ARCH_NAMES.get(number(get("WINDOWS/ARCH")),
                                                        "unknown")))
        for label, key in (("Product Name", "PRODUCTNAME"), ("Edition ID", "EDITIONID"),
                           ("Installation Type", "INSTALLATIONTYPE"), ("HAL", "HAL"),
                           ("Product Type", "PRODUCTTYPE"), ("Product Suite", "PRODUCTSUITE")):
            value = get(f"WINDOWS/{key}")
            if value is not None:
                out.append(line(label, value))
        languages = list(_languages(get))
        default = get("WINDOWS/LANGUAGES/DEFAULT")
        if languages or default is not None:
            out.append(line("Languages", "".join(f"{lang} " for lang in languages)))
            if default is not None:
                out.append(line("Default Language", default))
        root = get("WINDOWS/SYSTEMROOT")
        if root is not None:
            out.append(line("System Root", root))
        if any(get(f"WINDOWS/VERSION/{k}") is not None
               for k in ("MAJOR", "MINOR", "BUILD", "SPBUILD", "SPLEVEL")):
            for label, key in (("Major Version", "MAJOR"), ("Minor Version", "MINOR"),
                               ("Build", "BUILD"), ("Service Pack Build", "SPBUILD"),
                               ("Service Pack Level", "SPLEVEL")):
                out.append(line(label, number(get(f"WINDOWS/VERSION/{key}"))))
    flags = get("FLAGS")
    if flags is not None:
        out.append(line("Flags", flags))
    out.append(line("WIMBoot compatible", "yes" if number(get("WIMBOOT")) else "no"))
    out.append("")
    return out


def _has_windows(get: Callable[[str], str | None]) -> bool:
    return any(get(f"WINDOWS/{key}") is not None for key in (
        "ARCH", "PRODUCTNAME", "EDITIONID", "INSTALLATIONTYPE", "HAL", "PRODUCTTYPE",
        "PRODUCTSUITE", "LANGUAGES/LANGUAGE", "LANGUAGES/DEFAULT", "SYSTEMROOT",
        "VERSION/MAJOR", "VERSION/BUILD"))


def _languages(get: Callable[[str], str | None]) -> Iterator[str]:
    for n in range(1, 257):
        value = get(f"WINDOWS/LANGUAGES/LANGUAGE[{n}]")
        if value is None:
            return
        if value:
            yield value


def available_images(wim: Wim, indexes: list[int], all_images: bool) -> list[str]:
    """``Available Images:`` (or ``Information for Image N``) and the image blocks."""
    title = "Available Images:" if all_images else f"Information for Image {indexes[0]}"
    out = [title, "-" * len(title)]
    for index in indexes:
        image = wim.images[index]
        out += image_information(index, image.get_property)
    return out


def header_lines(raw: bytes) -> list[str]:
    """``info --header``: the header fields as libwimlib's header printer shows them."""
    import struct

    def u(fmt: str, offset: int) -> int:
        return int(struct.unpack_from(fmt, raw, offset)[0])

    def reshdr(offset: int) -> tuple[int, int, int, int]:
        size_flags = u("<Q", offset)
        return (size_flags & 0x00FF_FFFF_FFFF_FFFF, size_flags >> 56, u("<Q", offset + 8),
                u("<Q", offset + 16))

    magic = "".join(chr(b) if chr(b).isalpha() else f"\\{b:o}" for b in raw[:8])
    flags = u("<I", 16)
    names = ((0x1, "RESERVED"), (0x2, "COMPRESSION"), (0x4, "READONLY"), (0x8, "SPANNED"),
             (0x10, "RESOURCE_ONLY"), (0x20, "METADATA_ONLY"), (0x40, "WRITE_IN_PROGRESS"),
             (0x80, "RP_FIX"), (0x10000, "COMPRESS_RESERVED"), (0x20000, "COMPRESS_XPRESS"),
             (0x40000, "COMPRESS_LZX"), (0x80000, "COMPRESS_LZMS"),
             (0x200000, "COMPRESS_XPRESS_2"))
    # libwimlib lists its flag table in this order: COMPRESS_LZX before COMPRESS_XPRESS.
    order = ("RESERVED", "COMPRESSION", "READONLY", "SPANNED", "RESOURCE_ONLY", "METADATA_ONLY",
             "WRITE_IN_PROGRESS", "RP_FIX", "COMPRESS_RESERVED", "COMPRESS_LZX",
             "COMPRESS_XPRESS", "COMPRESS_LZMS", "COMPRESS_XPRESS_2")
    by_name = {name: bit for bit, name in names}
    out = [f"Magic Characters            = {magic}",
           f"Header Size                 = {u('<I', 8)}",
           f"Version                     = {u('<I', 12):#x}",
           f"Flags                       = {flags:#x}"]
    out += [f"    WIM_HDR_FLAG_{name} is set" for name in order if flags & by_name[name]]
    out += [f"Chunk Size                  = {u('<I', 20)}",
            f"GUID                        = {raw[24:40].hex()}",
            f"Part Number                 = {u('<H', 40)}",
            f"Total Parts                 = {u('<H', 42)}",
            f"Image Count                 = {u('<I', 44)}"]
    blob, xml, boot, integ = reshdr(48), reshdr(72), reshdr(96), reshdr(124)
    out += [f"Blob Table Size             = {blob[0]}",
            f"Blob Table Flags            = {blob[1]:#x}",
            f"Blob Table Offset           = {blob[2]}",
            f"Blob Table Original_size    = {blob[3]}",
            f"XML Data Size               = {xml[0]}",
            f"XML Data Flags              = {xml[1]:#x}",
            f"XML Data Offset             = {xml[2]}",
            f"XML Data Original Size      = {xml[3]}",
            f"Boot Metadata Size          = {boot[0]}",
            f"Boot Metadata Flags         = {boot[1]:#x}",
            f"Boot Metadata Offset        = {boot[2]}",
            f"Boot Metadata Original Size = {boot[3]}",
            f"Boot Index                  = {u('<I', 120)}",
            f"Integrity Size              = {integ[0]}",
            f"Integrity Flags             = {integ[1]:#x}",
            f"Integrity Offset            = {integ[2]}",
            f"Integrity Original_size     = {integ[3]}"]
    return out


_EMPTY = ResourceEntry("0" * 40, 0, 0, 0, 0, 0, False, False, False, False, False, False, 0, 0, 0)


def resource_lines(res: ResourceEntry | None) -> list[str]:
    """One blob as wimlib-imagex prints it (``info --blobs`` and ``dir --detailed``)."""
    r = res or _EMPTY
    out = [f"Hash              = 0x{r.sha1}"]
    if not r.is_missing:
        out.append(f"Uncompressed size = {r.uncompressed_size} bytes")
        if r.packed:
            out += [f"Solid resource    = {r.raw_resource_uncompressed_size} => "
                    f"{r.raw_resource_compressed_size} bytes @ offset {r.raw_resource_offset}",
                    f"Solid offset      = {r.offset} bytes"]
        else:
            out += [f"Compressed size   = {r.compressed_size} bytes",
                    f"Offset in WIM     = {r.offset} bytes"]
        out += [f"Part Number       = {r.part_number}",
                f"Reference Count   = {r.reference_count}"]
        flags = "".join(f"WIM_RESHDR_FLAG_{name}  " for on, name in (
            (r.is_compressed, "COMPRESSED"), (r.is_metadata, "METADATA"), (r.is_free, "FREE"),
            (r.is_spanned, "SPANNED"), (r.packed, "SOLID")) if on)
        out.append(f"Flags             = {flags}")
    out.append("")
    return out


def dentry_detailed(e: DirEntry) -> list[str]:
    """One file as ``wimlib-imagex dir --detailed`` prints it."""
    out = ["-" * 76, f'Full Path           = "{e.path}"']
    if e.dos_name is not None:
        out.append(f'Short Name          = "{e.dos_name}"')
    attrs = int(e.attributes)
    out.append(f"Attributes          = 0x{attrs:08x}")
    for name in _ATTRIBUTE_NAMES:
        if attrs & FileAttribute[name]:
            out.append(f"    FILE_ATTRIBUTE_{name} is set")
    if e.security_descriptor:
        out.append(f"Security Descriptor = {e.security_descriptor.hex()}")
    for label, moment in (("Creation Time", e.creation_time),
                          ("Last Write Time", e.last_write_time),
                          ("Last Access Time", e.last_access_time)):
        out.append(f"{label:<20}= {c_time(moment)}")
    if attrs & FileAttribute.REPARSE_POINT:
        out.append(f"Reparse Tag         = {e.reparse_tag:#x}")
    out.append(f"Link Group ID       = 0x{e.hard_link_group_id:016x}")
    out.append(f"Link Count          = {e.link_count}")
    if e.unix_mode:
        out.append(f"UNIX Data           = uid:{e.unix_uid} gid:{e.unix_gid} "
                   f"mode:0{e.unix_mode:o} rdev:{e.unix_rdev:#x}")
    if e.object_id:
        out.append(f"{'Object ID':<20}= 0x{e.object_id.hex()}")
    for stream in e.streams:
        if stream.name is not None:
            out.append(f'\tNamed data stream "{stream.name}":')
        elif attrs & FileAttribute.ENCRYPTED:
            out.append("\tRaw encrypted data stream:")
        elif attrs & FileAttribute.REPARSE_POINT:
            out.append("\tReparse point stream:")
        else:
            out.append("\tUnnamed data stream:")
        out += resource_lines(stream.resource)
    return out
