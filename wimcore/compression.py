"""Compression types and libwimlib's raw compressor/decompressor API (XPRESS, LZX, LZMS)."""

from __future__ import annotations

import enum
from typing import Any

from wimcore import _lib
from wimcore.errors import InvalidParameterError, WimcoreError
from wimcore.owner import HandleOwner


class Compression(enum.IntEnum):
    """WIM compression types, with the names wimlib-imagex's --compress accepts."""

    NONE = 0
    XPRESS = 1
    LZX = 2
    LZMS = 3

    @classmethod
    def parse(cls, value: Compression | str | int) -> Compression:
        """Accept an enum, a number, or a name (none/xpress/lzx/lzms; fast/maximum/recovery)."""
        if isinstance(value, Compression):
            return value
        if isinstance(value, int):
            return cls(value)
        aliases = {"fast": "XPRESS", "maximum": "LZX", "recovery": "LZMS", "max": "LZX"}
        key = str(value).strip()
        key = aliases.get(key.lower(), key.upper())
        try:
            return cls[key]
        except KeyError:
            raise InvalidParameterError(
                16, f"unknown compression type {value!r} (use none, xpress, lzx or lzms)"
            ) from None


def libwimlib_name(compression: Compression | str) -> str:
    """libwimlib's own name for a compression type (as wimlib-imagex prints it)."""
    ptr = _lib.lib().wimlib_get_compression_type_string(int(Compression.parse(compression)))
    return _lib.string(ptr) or "Invalid"


def set_default_level(compression: Compression | str, level: int) -> None:
    """Set libwimlib's process-wide default compression level (0 resets; 50 is default)."""
    ctype = Compression.parse(compression)
    _lib.check(_lib.lib().wimlib_set_default_compression_level(int(ctype), level))


def needed_memory(compression: Compression | str, max_block_size: int, level: int = 0) -> int:
    """Bytes a compressor with these parameters would need (0 when the parameters are invalid)."""
    return int(_lib.lib().wimlib_get_compressor_needed_memory(
        int(Compression.parse(compression)), max_block_size, level))


class Compressor(HandleOwner):
    """A libwimlib compressor for blocks of up to ``max_block_size`` bytes."""

    def __init__(self, compression: Compression | str, max_block_size: int, level: int = 0,
                 *, destructive: bool = False) -> None:
        lib, ffi = _lib.lib(), _lib.ffi()
        self.compression = Compression.parse(compression)
        if self.compression is Compression.NONE:
            raise InvalidParameterError(16, "a compressor needs xpress, lzx or lzms")
        self.max_block_size = max_block_size
        out = ffi.new("struct wimlib_compressor **")
        flags = level | (lib.WIMLIB_COMPRESSOR_FLAG_DESTRUCTIVE if destructive else 0)
        _lib.check(lib.wimlib_create_compressor(int(self.compression), max_block_size, flags, out))
        self._ptr: Any = ffi.gc(out[0], lib.wimlib_free_compressor)
        # Bound once: compress_into is a hot path (one call per block).
        self._from_buffer = ffi.from_buffer
        self._compress = lib.wimlib_compress

    def compress_into(self, data: Any, out: Any) -> int:
        """Compress a buffer into a writable buffer; return the size (0: did not fit)."""
        src = self._from_buffer(data)
        dst = self._from_buffer(out, require_writable=True)
        size = len(src)
        if size > self.max_block_size:
            raise InvalidParameterError(24, f"block of {size} bytes exceeds max_block_size "
                                            f"{self.max_block_size}")
        ptr = self._ptr
        if ptr is None:
            raise ValueError("compress on a closed Compressor")
        return int(self._compress(src, size, dst, len(dst), ptr))

    def compress(self, data: bytes | bytearray | memoryview) -> bytes | None:
        """Compress one block; None when it does not compress to less than its size."""
        size = len(memoryview(data).cast("B"))
        if size == 0:
            return None
        out = bytearray(max(size - 1, 1))
        n = self.compress_into(data, out)
        return bytes(out[:n]) if n else None

    def close(self) -> None:
        """Free the compressor now (otherwise when garbage collected)."""
        if self._ptr is not None:
            _lib.ffi().release(self._ptr)
            self._ptr = None


class Decompressor(HandleOwner):
    """A libwimlib decompressor for blocks of up to ``max_block_size`` bytes."""

    def __init__(self, compression: Compression | str, max_block_size: int) -> None:
        lib, ffi = _lib.lib(), _lib.ffi()
        self.compression = Compression.parse(compression)
        self.max_block_size = max_block_size
        out = ffi.new("struct wimlib_decompressor **")
        _lib.check(lib.wimlib_create_decompressor(int(self.compression), max_block_size, out))
        self._ptr: Any = ffi.gc(out[0], lib.wimlib_free_decompressor)

    def decompress_into(self, data: Any, out: Any) -> None:
        """Decompress into a buffer whose length is exactly the uncompressed size."""
        ffi = _lib.ffi()
        src = ffi.from_buffer(data)
        dst = ffi.from_buffer(out, require_writable=True)
        if len(dst) > self.max_block_size:
            raise InvalidParameterError(24, "uncompressed size exceeds max_block_size")
        if self._ptr is None:
            raise ValueError("decompress on a closed Decompressor")
        if _lib.lib().wimlib_decompress(src, len(src), dst, len(dst), self._ptr) != 0:
            raise DecompressionError("the data did not decompress to the expected size")

    def decompress(self, data: bytes | bytearray | memoryview, uncompressed_size: int) -> bytes:
        """Decompress one block whose uncompressed size is known (as WIM chunks are)."""
        out = bytearray(uncompressed_size)
        self.decompress_into(data, out)
        return bytes(out)

    def close(self) -> None:
        """Free the decompressor now (otherwise when garbage collected)."""
        if self._ptr is not None:
            _lib.ffi().release(self._ptr)
            self._ptr = None


class DecompressionError(WimcoreError, ValueError):
    """Compressed data is invalid or does not match the declared size."""
