"""MSDelta deltas (PA30, PA31; PA19 and DCM recognised): read the header, apply RAW deltas.

Written from ``../shared/docs/update-formats.md`` §4. The PseudoLzx codec and the i386 E8
undo run in wimcore's own C (``native/msdelta.c``, compiled through cffi when the package
is installed and loaded only when a delta is decoded); LZMS payloads go through
libwimlib's LZMS decompressor. What the decoder cannot do faithfully it refuses with
:class:`DeltaUnsupportedError` naming the feature, and a decoded target is returned only
after its header hash (when there is one) matched.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from wimcore.packages.errors import (
    DeltaCorruptError,
    DeltaDecoderUnavailableError,
    DeltaError,
    DeltaHashMismatchError,
    DeltaUnsupportedError,
)

#: Largest target decoded when the caller gives no expected size (the caller that knows the
#: size, e.g. from a PSF index, passes ``expected_size`` and may go beyond it).
MAX_TARGET_SIZE = 1 << 30
#: Largest target decoded at all, whatever the caller says.
HARD_MAX_TARGET_SIZE = 1 << 36

MAGICS = {b"PA30": "PA30", b"PA31": "PA31", b"PA19": "PA19", b"DCM\x01": "DCM"}
LZMS_MAGIC = b"\x0a\x51\xe5\xc0"
LZMS_MAX_CHUNK = 64 << 20

FILE_TYPES = {1: "RAW", 2: "I386", 4: "IA64", 8: "AMD64", 0x10: "CLI4_I386",
              0x20: "CLI4_AMD64", 0x40: "CLI4_ARM", 0x80: "CLI4_ARM64"}
FILE_TYPE_REVERSE = 0x100
FLAG_NAMES = {
    0x1: "E8", 0x2: "MARK", 0x4: "IMPORTS", 0x8: "EXPORTS", 0x10: "RESOURCES",
    0x20: "RELOCS", 0x40: "I386_SMASHLOCK", 0x80: "I386_JMPS", 0x100: "I386_CALLS",
    0x200: "AMD64_DISASM", 0x400: "AMD64_PDATA", 0x800: "IA64_DISASM", 0x1000: "IA64_PDATA",
    0x2000: "UNBIND", 0x4000: "CLI_DISASM", 0x8000: "CLI_METADATA", 0x10000: "HEADERS",
    0x20000: "IGNORE_FILE_SIZE_LIMIT", 0x40000: "IGNORE_OPTIONS_SIZE_LIMIT",
    0x80000: "ARM_DISASM", 0x100000: "ARM_PDATA", 0x200000: "CLI4_METADATA",
    0x400000: "CLI4_DISASM", 0x800000: "ARM64_DISASM", 0x1000000: "ARM64_PDATA",
}
#: CALG ids of the target hash -> (name, hashlib name)
HASHES = {0x8003: ("MD5", "md5"), 0x8004: ("SHA-1", "sha1"), 0x800C: ("SHA-256", "sha256")}
MAX_HASH_SIZE = 32


def flag_names(flags: int) -> list[str]:
    """The names of the set flag bits (unknown bits as hex), lowest bit first."""
    names = []
    bit = 1
    while bit <= flags:
        if flags & bit:
            names.append(FLAG_NAMES.get(bit, f"0x{bit:X}"))
        bit <<= 1
    return names


def file_type_names(value: int) -> list[str]:
    """The names of the file-type bits of a FileType or FileTypeSet value."""
    names = [name for bit, name in FILE_TYPES.items() if value & bit]
    if value & FILE_TYPE_REVERSE:
        names.append("REVERSE_ANY")
    rest = value & ~(sum(FILE_TYPES) | FILE_TYPE_REVERSE)
    if rest:
        names.append(f"0x{rest:X}")
    return names


@dataclass(frozen=True)
class Pa31Extras:
    """The PA31 header's extra fields, parsed and not validated (sources disagree on them)."""

    header_info_size: int
    is_pa31: int
    client_min_version: int
    additional_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"header_info_size": self.header_info_size, "is_pa31": self.is_pa31,
                "client_min_version": self.client_min_version,
                "additional_hash": self.additional_hash.hex()}


@dataclass(frozen=True)
class DeltaInfo:
    """What a delta's header says (see :func:`info`)."""

    magic: str
    crc_prefix: bool
    filetime: int = 0
    file_type_set: int = 0
    file_type: int = 0
    flags: int = 0
    target_size: int | None = None
    hash_alg_id: int = 0
    target_hash: bytes = b""
    codec: str | None = None
    preprocess_size: int = 0
    patch_size: int = 0
    pa31: Pa31Extras | None = None
    reverse_size: int | None = None
    pa19_options: int | None = None
    #: offset of the patch buffer in the delta (internal, for apply)
    patch_offset: int = field(default=0, repr=False, compare=False)

    @property
    def flag_names(self) -> list[str]:
        """The flags by name (§4.2 table)."""
        return flag_names(self.flags)

    @property
    def reverse(self) -> bool:
        """True for a reverse (FileTypeSet & 0x100, PRSM) delta."""
        return bool(self.file_type_set & FILE_TYPE_REVERSE)

    @property
    def hash_algorithm(self) -> str:
        """"none", "MD5", "SHA-1", "SHA-256" or "unknown 0x…"."""
        if self.hash_alg_id == 0:
            return "none"
        known = HASHES.get(self.hash_alg_id)
        return known[0] if known else f"unknown 0x{self.hash_alg_id:X}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "magic": self.magic, "crc_prefix": self.crc_prefix, "filetime": self.filetime,
            "file_type_set": self.file_type_set,
            "file_type_set_names": file_type_names(self.file_type_set),
            "file_type": self.file_type, "file_type_names": file_type_names(self.file_type),
            "flags": self.flags, "flag_names": self.flag_names,
            "target_size": self.target_size, "hash_algorithm": self.hash_algorithm,
            "hash_alg_id": self.hash_alg_id, "target_hash": self.target_hash.hex(),
            "codec": self.codec, "preprocess_size": self.preprocess_size,
            "patch_size": self.patch_size, "reverse": self.reverse,
            "reverse_size": self.reverse_size,
            "pa31": self.pa31.to_dict() if self.pa31 else None,
            "pa19_options": self.pa19_options,
        }

    def summary(self) -> list[str]:
        """Readable lines for the CLI."""
        lines = [f"magic:          {self.magic}" + ("  (CRC-32 prefix checked)"
                                                    if self.crc_prefix else "")]
        if self.magic == "PA19":
            lines.append(f"options:        0x{self.pa19_options or 0:08X}")
            return lines
        lines += [
            f"file type set:  0x{self.file_type_set:X} "
            f"({', '.join(file_type_names(self.file_type_set)) or '-'})",
            f"file type:      0x{self.file_type:X} "
            f"({', '.join(file_type_names(self.file_type)) or '-'})",
            f"flags:          0x{self.flags:X} ({', '.join(self.flag_names) or 'none'})",
            f"target size:    {self.target_size}",
            f"hash:           {self.hash_algorithm}"
            + (f" {self.target_hash.hex()}" if self.target_hash else ""),
            f"codec:          {self.codec or '-'}",
            f"preprocess:     {self.preprocess_size} bytes",
            f"patch:          {self.patch_size} bytes",
        ]
        if self.reverse:
            lines.append(f"reverse data:   {self.reverse_size} bytes (PRSM)")
        if self.pa31:
            lines.append(f"PA31 extras:    {self.pa31.to_dict()}")
        return lines


class _Bits:
    """The header's LSB-first bit-stream (small: a few dozen bits and byte-aligned buffers)."""

    def __init__(self, data: bytes | memoryview, start: int, end: int) -> None:
        self.data = data
        self.start = start
        self.end = end
        self.pos = start * 8
        if end <= start:
            raise DeltaCorruptError("the delta header is truncated")
        self.bits(3)  # unused bits in the stream's last byte (the patch buffer says its own)

    def bits(self, n: int) -> int:
        value = 0
        for i in range(n):
            byte = self.pos >> 3
            if byte >= self.end:
                raise DeltaCorruptError("the delta header is truncated")
            value |= ((self.data[byte] >> (self.pos & 7)) & 1) << i
            self.pos += 1
        return value

    def integer(self) -> int:
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 15:
                raise DeltaCorruptError("a header integer has more than 15 prefix bits")
        return self.bits(4 * (zeros + 1))

    def buffer(self) -> tuple[int, int]:
        """(offset, size) of a buffer: an integer length, alignment, then the bytes."""
        size = self.integer()
        self.pos = (self.pos + 7) & ~7
        offset = self.pos >> 3
        if size > self.end - offset:
            raise DeltaCorruptError(f"a header buffer of {size} bytes runs past the end of "
                                    f"the delta ({self.end - offset} bytes left)")
        self.pos += size * 8
        return offset, size


def _locate(delta: bytes | memoryview) -> tuple[str, int, bool]:
    """(magic name, offset of the magic, CRC prefix?) sniffed at offsets 0 and 4."""
    head = bytes(delta[:4])
    if head in MAGICS:
        return MAGICS[head], 0, False
    if len(delta) >= 8 and bytes(delta[4:8]) in MAGICS:
        stored = struct.unpack_from("<I", delta, 0)[0]
        actual = zlib.crc32(delta[4:]) & 0xFFFFFFFF
        if stored != actual:
            raise DeltaCorruptError(f"the delta's CRC-32 prefix is {stored:08x}, its bytes "
                                    f"give {actual:08x}")
        return MAGICS[bytes(delta[4:8])], 4, True
    raise DeltaCorruptError(f"not an MSDelta delta (no PA30/PA31/PA19/DCM magic at offset 0 or "
                            f"4; starts {head.hex() or 'empty'})")


def _parse_pa3x(delta: bytes | memoryview, base: int, magic: str, crc: bool) -> DeltaInfo:
    if len(delta) < base + 12:
        raise DeltaCorruptError("the delta header is truncated")
    version = bytes(delta[base:base + 4])
    if version not in (b"PA30", b"PA31"):
        raise DeltaCorruptError(f"a {magic} wrapper must hold a PA30 delta, not "
                                f"{version.hex()}")
    filetime = struct.unpack_from("<Q", delta, base + 4)[0]
    outer = _Bits(delta, base + 12, len(delta))
    fields = outer
    if version == b"PA31":
        off, size = outer.buffer()
        fields = _Bits(delta, off, off + size)
    fts = fields.integer()
    ftype = fields.integer()
    flags = fields.integer()
    target_size = fields.integer()
    alg = fields.integer()
    hoff, hsize = fields.buffer()
    if hsize > MAX_HASH_SIZE:
        raise DeltaCorruptError(f"the target hash is {hsize} bytes (at most {MAX_HASH_SIZE})")
    target_hash = bytes(delta[hoff:hoff + hsize])
    extras = None
    if version == b"PA31":
        a, b, c = fields.integer(), fields.integer(), fields.integer()
        xoff, xsize = fields.buffer()
        extras = Pa31Extras(a, b, c, bytes(delta[xoff:xoff + xsize]))
    common: dict[str, Any] = dict(
        magic=magic, crc_prefix=crc, filetime=filetime, file_type_set=fts, file_type=ftype,
        flags=flags, target_size=target_size, hash_alg_id=alg, target_hash=target_hash,
        pa31=extras)
    if fts & FILE_TYPE_REVERSE:
        roff, rsize = outer.buffer()
        return DeltaInfo(**common, reverse_size=rsize, codec=None, patch_offset=roff)
    _, psize = outer.buffer()
    off, size = outer.buffer()
    if off + size != len(delta):
        raise DeltaCorruptError(f"{len(delta) - off - size} bytes follow the patch buffer")
    codec = "lzms" if bytes(delta[off:off + 4]) == LZMS_MAGIC else "pseudolzx"
    return DeltaInfo(**common, codec=codec, preprocess_size=psize, patch_size=size,
                     patch_offset=off)


def info(delta: bytes | bytearray | memoryview) -> DeltaInfo:
    """Read a delta's header: magic, CRC prefix, file types, flags, target size and hash, codec.

    Raises :class:`DeltaCorruptError` when the header is not one (§4.2).
    """
    view = memoryview(delta).cast("B")
    magic, base, crc = _locate(view)
    if magic == "PA19":
        if len(view) < base + 8:
            raise DeltaCorruptError("the PA19 header is truncated")
        return DeltaInfo(magic="PA19", crc_prefix=crc,
                         pa19_options=struct.unpack_from("<I", view, base + 4)[0])
    if magic == "DCM":
        return _parse_pa3x(view, base + 4, "DCM", crc)
    return _parse_pa3x(view, base, magic, crc)


@dataclass(frozen=True)
class DeltaResult:
    """A decoded, checked target and how it was checked."""

    data: bytes
    info: DeltaInfo
    verified: bool          #: the header's hash matched (False: the header has none)
    bits_left: int          #: unread bits at the end of a PseudoLzx stream (0: clean end)
    e8_sites: int           #: CALL operands the E8 undo changed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the data)."""
        return {"info": self.info.to_dict(), "size": len(self.data),
                "verified": self.verified, "bits_left": self.bits_left,
                "e8_sites": self.e8_sites}


_NATIVE: Any = None


def _native() -> Any:
    """The compiled decoding loops, imported on first use."""
    global _NATIVE
    if _NATIVE is None:
        try:
            from wimcore._native import _msdelta  # type: ignore[attr-defined]
        except ImportError as exc:
            raise DeltaDecoderUnavailableError(
                "wimcore's MSDelta decoder (the compiled module wimcore._native._msdelta) is "
                "not built; install a C compiler and the Python headers (bash "
                "scripts/setup.sh does) and reinstall wimcore (pip install -e .), or run "
                f"python native/msdelta_build.py in the source tree ({exc})") from None
        _NATIVE = _msdelta
    return _NATIVE


def native_available() -> bool:
    """True when the compiled decoder can be loaded."""
    try:
        _native()
    except DeltaDecoderUnavailableError:
        return False
    return True


def _refuse(dinfo: DeltaInfo, source_len: int) -> None:
    if dinfo.magic == "PA19":
        raise DeltaUnsupportedError("PA19 (legacy PatchAPI) deltas are not decoded",
                                    feature="PA19")
    if dinfo.magic == "DCM" and source_len == 0:
        raise DeltaUnsupportedError("a DCM manifest delta needs its base manifest (from the "
                                    "servicing stack's wcp.dll) as the source",
                                    feature="DCM without base")
    if dinfo.reverse:
        raise DeltaUnsupportedError("reverse (PRSM) deltas are not decoded", feature="reverse")
    if dinfo.file_type != 1:
        raise DeltaUnsupportedError(
            f"file type 0x{dinfo.file_type:X} ({', '.join(file_type_names(dinfo.file_type))}) "
            "needs the PE transforms, which are not implemented", feature="PE file type")
    if dinfo.preprocess_size:
        raise DeltaUnsupportedError(f"a non-empty preprocess buffer ({dinfo.preprocess_size} "
                                    "bytes) is not supported", feature="preprocess")
    if dinfo.hash_alg_id and dinfo.hash_alg_id not in HASHES:
        raise DeltaUnsupportedError(f"unknown target hash algorithm 0x{dinfo.hash_alg_id:X}",
                                    feature="hash algorithm")
    if dinfo.hash_alg_id == 0 and dinfo.target_hash:
        raise DeltaCorruptError("the header has a target hash but no hash algorithm")


def _check_size(dinfo: DeltaInfo, expected_size: int | None) -> int:
    size = dinfo.target_size or 0
    if expected_size is not None:
        if size != expected_size:
            raise DeltaCorruptError(f"the delta's target size is {size} bytes, "
                                    f"{expected_size} were expected")
        limit = HARD_MAX_TARGET_SIZE
    else:
        limit = MAX_TARGET_SIZE
    if size > limit:
        raise DeltaUnsupportedError(
            f"the target size {size} exceeds the limit of {limit} bytes"
            + ("" if expected_size is not None else
               " (pass expected_size when the size is known from elsewhere)"),
            feature="target size")
    return size


_CODE_ERRORS = {
    2: "truncated", 4: "bad Huffman table", 5: "bad segment list", 6: "match out of window",
    7: "match past the target", 8: "undecodable symbol", 9: "bad long length",
}


def _pseudolzx(patch: memoryview, source: memoryview, size: int) -> tuple[bytearray, int]:
    native = _native()
    ffi, lib = native.ffi, native.lib
    ref = len(source)
    window = bytearray(ref + size)
    window[:ref] = source
    stats = ffi.new("msd_stats *")
    rc = lib.msd_pseudolzx_decode(ffi.from_buffer(patch), len(patch),
                                  ffi.from_buffer(window, require_writable=True), len(window),
                                  ref, size, stats)
    if rc != lib.MSD_OK:
        text = ffi.string(lib.msd_strerror(rc)).decode()
        if rc == lib.MSD_ERR_RIFT:
            raise DeltaUnsupportedError(f"PseudoLzx: {text} (PE rift tables are not supported)",
                                        feature="rift")
        if rc == lib.MSD_ERR_NOMEM:
            raise DeltaError(f"PseudoLzx: {text}")
        if rc in _CODE_ERRORS:
            raise DeltaCorruptError(f"PseudoLzx: {text}")
        raise DeltaError(f"PseudoLzx: {text} (code {rc})")
    del window[:ref]
    return window, int(stats.bits_total - stats.bits_read)


def _lzms(patch: memoryview, size: int) -> bytearray:
    """The Compression-API LZMS container (§4.6), chunk by chunk through libwimlib."""
    if len(patch) < 24:
        raise DeltaCorruptError("the LZMS container header is truncated")
    _magic, hsize, crc8, alg, total, chunk, flags = struct.unpack_from("<IHBBQII", patch, 0)
    if hsize != 0x18 or alg != 5:
        raise DeltaUnsupportedError(f"LZMS container header size {hsize}, algorithm {alg} "
                                    "(expected 24 and 5)", feature="LZMS container")
    head = bytes(patch[:24])
    if zlib.crc32(head[:6] + head[7:24]) & 0xFF != crc8:
        raise DeltaCorruptError("the LZMS container header fails its CRC")
    if flags:
        raise DeltaUnsupportedError(f"LZMS container flags 0x{flags:X}",
                                    feature="LZMS container flags")
    if total != size:
        raise DeltaCorruptError(f"the LZMS container holds {total} bytes, the delta's target "
                                f"is {size}")
    if size and not 0 < chunk <= LZMS_MAX_CHUNK:
        raise DeltaCorruptError(f"LZMS chunk size {chunk} (1 to {LZMS_MAX_CHUNK} allowed)")
    out = bytearray(size)
    view = memoryview(out)
    pos, done = 24, 0
    decompressor = None
    try:
        while done < size:
            want = min(chunk, size - done)
            if pos + 4 > len(patch):
                raise DeltaCorruptError("the LZMS container is truncated")
            csize = struct.unpack_from("<I", patch, pos)[0]
            pos += 4
            if csize > len(patch) - pos or csize > want:
                raise DeltaCorruptError(f"an LZMS chunk of {csize} bytes does not fit")
            data = patch[pos:pos + csize]
            if csize == want:
                view[done:done + want] = data
            else:
                from wimcore.compression import Compression, DecompressionError, Decompressor

                if decompressor is None:
                    decompressor = Decompressor(Compression.LZMS, chunk)
                try:
                    decompressor.decompress_into(data, view[done:done + want])
                except DecompressionError as exc:
                    raise DeltaCorruptError(f"an LZMS chunk does not decompress: {exc}") \
                        from None
            pos += csize
            done += want
    finally:
        if decompressor is not None:
            decompressor.close()
        view.release()
    if pos != len(patch):
        raise DeltaCorruptError(f"{len(patch) - pos} bytes follow the last LZMS chunk")
    return out


def is_native_i386_pe(data: bytes | bytearray | memoryview) -> bool:
    """A native (not IL-only) 32-bit i386 PE: the outputs the E8 undo applies to (§4.5)."""
    try:
        if bytes(data[:2]) != b"MZ":
            return False
        pe = struct.unpack_from("<I", data, 0x3C)[0]
        if bytes(data[pe:pe + 4]) != b"PE\0\0":
            return False
        machine, nsections = struct.unpack_from("<HH", data, pe + 4)
        opt_size = struct.unpack_from("<H", data, pe + 20)[0]
        opt = pe + 24
        if machine != 0x14C or struct.unpack_from("<H", data, opt)[0] != 0x10B:
            return False
        ndirs = struct.unpack_from("<I", data, opt + 92)[0]
        if ndirs <= 14 or 96 + 15 * 8 > opt_size:
            return True
        clr_rva = struct.unpack_from("<I", data, opt + 96 + 14 * 8)[0]
        if clr_rva == 0:
            return True
        table = opt + opt_size
        for i in range(nsections):
            vsize, vaddr, _, raw = struct.unpack_from("<IIII", data, table + 40 * i + 8)
            if vaddr <= clr_rva < vaddr + vsize:
                flags = struct.unpack_from("<I", data, raw + clr_rva - vaddr + 16)[0]
                return not flags & 1
        return True
    except struct.error:
        return False


def decode(delta: bytes | bytearray | memoryview, source: bytes | bytearray | memoryview = b"",
           *, expected_size: int | None = None) -> DeltaResult:
    """Apply a RAW delta to ``source`` and check the result; see :func:`apply`."""
    view = memoryview(delta).cast("B")
    src = memoryview(source).cast("B")
    dinfo = info(view)
    _refuse(dinfo, len(src))
    size = _check_size(dinfo, expected_size)
    patch = view[dinfo.patch_offset:dinfo.patch_offset + dinfo.patch_size]
    bits_left = 0
    if dinfo.codec == "lzms":
        out = _lzms(patch, size)
    else:
        out, bits_left = _pseudolzx(patch, src, size)
    e8 = 0
    if dinfo.flags & 1 and is_native_i386_pe(out):
        native = _native()
        e8 = int(native.lib.msd_e8_undo(native.ffi.from_buffer(out, require_writable=True),
                                        len(out)))
    verified = False
    if dinfo.hash_alg_id:
        name, algo = HASHES[dinfo.hash_alg_id]
        actual = hashlib.new(algo, out).digest()
        if actual != dinfo.target_hash:
            raise DeltaHashMismatchError(
                f"the decoded target's {name} is {actual.hex()}, the delta expects "
                f"{dinfo.target_hash.hex()}", algorithm=name,
                expected=dinfo.target_hash.hex(), actual=actual.hex())
        verified = True
    elif bits_left:
        # Without a hash, a clean end of stream is the only sign the decode was right.
        raise DeltaCorruptError(f"PseudoLzx: {bits_left} bits are left after the target and "
                                "the delta has no hash to prove it")
    return DeltaResult(bytes(out), dinfo, verified, bits_left, e8)


def apply(delta: bytes | bytearray | memoryview, source: bytes | bytearray | memoryview = b"",
          *, expected_size: int | None = None) -> bytes:
    """The target made from ``source`` by a PA30/PA31 (or DCM, with its base) RAW delta.

    ``expected_size``, when given, must equal the header's target size (and lifts the
    :data:`MAX_TARGET_SIZE` cap). Returns only a target whose header hash matched or, for a
    delta without a hash, whose stream ended cleanly; otherwise raises a
    :class:`~wimcore.packages.errors.DeltaError` subclass and returns nothing.
    """
    return decode(delta, source, expected_size=expected_size).data
