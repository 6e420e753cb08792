"""The MSDelta encoder's parts checked against the fact sheet's own bytes and rules.

Round trips through the decoder live in test_msdelta_roundtrip.py; these tests pin the
bit-level conventions (bit order, integer format, buffers, canonical codes, headers), the
LZMS container (decoded here by libwimlib's real decompressor), the E8 transform and the
PSF writer (read back by wimcore's own CIX parser and RAW expansion).
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wimcore.compression import Decompressor
from wimcore.packages import msdelta_encode as enc
from wimcore.packages.express import apply_psf, parse_cix
from wimcore.packages.psf_writer import FIRST_STREAM, PsfWriter, Storage


def _read_bits(data: bytes) -> tuple[list[int], int]:
    """All bits of a stream LSB-first, and the unused-bit count its first 3 bits give."""
    bits = [(b >> i) & 1 for b in data for i in range(8)]
    return bits, data[0] & 7


def test_bitwriter_lsb_first_and_unused_count() -> None:
    w = enc.BitWriter()
    w.write(0b101, 3)   # bits 3..5
    w.write(1, 1)       # bit 6
    w.write(0x3, 2)     # bits 7..8: crosses into the second byte
    # 9 bits used: 7 unused in the last byte; first byte = 3-bit count 7 | 101 << 3 | 1 << 6 | 1<<7
    assert w.getvalue() == bytes([7 | 0b101 << 3 | 1 << 6 | 1 << 7, 0x01])


def test_bitwriter_code_is_msb_first() -> None:
    w = enc.BitWriter()
    w.write_code(0b10011, 5)
    bits, unused = _read_bits(w.getvalue())
    assert unused == 0
    assert bits[3:8] == [1, 0, 0, 1, 1]


@pytest.mark.parametrize(("value", "z"), [(0, 0), (15, 0), (16, 1), (255, 1), (256, 2),
                                          (65536, 4), (18025, 3), (2**64 - 1, 15)])
def test_integer_format(value: int, z: int) -> None:
    w = enc.BitWriter()
    w.write_int(value)
    bits, _ = _read_bits(w.getvalue())
    body = bits[3:]
    assert body[:z + 1] == [0] * z + [1]
    nbits = 4 * (z + 1)
    assert sum(b << i for i, b in enumerate(body[z + 1:z + 1 + nbits])) == value


def test_integer_out_of_range() -> None:
    with pytest.raises(ValueError):
        enc.BitWriter().write_int(2**64)
    with pytest.raises(ValueError):
        enc.BitWriter().write_int(-1)


def test_fact_sheet_header_example() -> None:
    """§4.2: FTS 1, FT 1, flags 0, size 65536, no hash, empty preprocess, 18025-byte patch."""
    patch = bytes(range(256)) * 70 + bytes(105)
    assert len(patch) == 18025
    delta = enc.header(magic="PA30", file_type_set=1, file_type=1, flags=0,
                       target_size=65536, hash_alg=0, target_hash=b"", patch=patch)
    assert delta[:4] == b"PA30"
    assert delta[4:12] == bytes(8)
    assert delta[12:23] == bytes.fromhex("18 23 40 00 80 08 01 01 98 66 04")
    assert delta[23:] == patch


def test_pa31_header_nests_the_items_in_one_buffer() -> None:
    digest = hashlib.sha256(b"x").digest()
    delta = enc.header(magic="PA31", file_type_set=1, file_type=1, flags=1, target_size=1,
                       hash_alg=0x800C, target_hash=digest, patch=b"PATCH")
    inner = enc.BitWriter()
    for v in (1, 1, 1, 1, 0x800C):
        inner.write_int(v)
    inner.write_buffer(digest)
    for v in (0x88, 1, 0):
        inner.write_int(v)
    inner.write_buffer(b"")
    outer = enc.BitWriter()
    outer.write_buffer(inner.getvalue())
    outer.write_buffer(b"")
    outer.write_buffer(b"PATCH")
    assert delta == b"PA31" + bytes(8) + outer.getvalue()
    assert delta.endswith(b"PATCH")


def test_crc_prefix_is_zlib_crc_of_the_rest() -> None:
    delta = enc.encode(b"hello hello hello", crc_prefix=True)
    assert delta[4:8] == b"PA30"
    assert struct.unpack("<I", delta[:4])[0] == zlib.crc32(delta[4:])


def test_canonical_codes_longest_smallest() -> None:
    # lengths 1,2,3,3: the 3-bit codes take 000/001, the 2-bit one 01, the 1-bit one 1.
    assert enc.canonical_codes([1, 2, 3, 3]) == [0b1, 0b01, 0b000, 0b001]
    # within one length codes rise with the symbol index
    assert enc.canonical_codes([2, 2, 2, 2]) == [0, 1, 2, 3]


def _is_prefix_free_and_complete(lengths: list[int]) -> bool:
    codes = enc.canonical_codes(lengths)
    words = [format(c, f"0{n}b") for c, n in zip(codes, lengths, strict=True) if n]
    kraft = sum(2.0 ** -n for n in lengths if n)
    prefix_free = not any(a != b and b.startswith(a) for a in words for b in words)
    return prefix_free and kraft == 1.0 and len(set(words)) == len(words)


def test_flat_tables_are_complete() -> None:
    for table in (enc.FLAT_MAIN, enc.FLAT_LENGTH, enc.FLAT_ALIGNED):
        assert _is_prefix_free_and_complete(list(table))


@given(st.lists(st.integers(0, 10**6), min_size=2, max_size=300))
@settings(max_examples=60, deadline=None)
def test_huffman_lengths_limited_and_complete(freqs: list[int]) -> None:
    lengths = enc.huffman_lengths(freqs, 16)
    assert max(lengths) <= 16
    assert all(n > 0 for n, f in zip(lengths, freqs, strict=True) if f)
    assert _is_prefix_free_and_complete(lengths)


def test_huffman_skewed_frequencies_hit_the_limit() -> None:
    freqs = [2**i for i in range(40)]  # a plain Huffman code would be 39 bits deep
    lengths = enc.huffman_lengths(freqs, 16)
    assert max(lengths) == 16
    assert _is_prefix_free_and_complete(lengths)


def test_execute_ops_repeat_queue_move_to_front() -> None:
    src = b"ABCDEFGH"
    ops: list[enc.Op] = [
        enc.Literal(ord("x")),
        enc.Match(2, "distance", 1),    # queue [1,0,0]
        enc.Match(3, "same"),           # window index 3 = 'D'; queue [8,1,0]
        enc.Match(2, "repeat", 1),      # distance 1 again -> queue [1,8,0]
        enc.Match(2, "reference", 6),   # o = 8: window index 8-6 = 2 ('C'); distance 14
        enc.Match(2, "repeat", 2),      # queue [14,1,8]: distance 8 from window 18 -> index 10
    ]
    out = enc.execute_ops(ops, src)
    assert out == b"xxx" + b"DEF" + b"FF" + b"CD" + b"xD"


def test_lzms_container_decodes_with_libwimlib() -> None:
    data = (b"The quick brown fox jumps over the lazy dog. " * 300)[:12000]
    box = enc.lzms_container(data)
    magic, hsize, crc, alg, total, chunk, flags = struct.unpack_from("<IHBBQII", box)
    assert (magic, hsize, alg, total, chunk, flags) == (0xC0E5510A, 0x18, 5, 12000, 12000, 0)
    assert crc == zlib.crc32(box[:6] + box[7:24]) & 0xFF
    (size,) = struct.unpack_from("<I", box, 24)
    assert size < len(data) and len(box) == 28 + size
    out = bytearray(len(data))
    Decompressor("lzms", chunk).decompress_into(box[28:], out)
    assert bytes(out) == data


def test_lzms_container_stores_incompressible_chunk_raw() -> None:
    data = hashlib.sha256(b"seed").digest() * 1
    noise = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(64))
    box = enc.lzms_container(data + noise)
    (size,) = struct.unpack_from("<I", box, 24)
    assert size == len(data + noise) and box[28:] == data + noise


def _undo_e8(data: bytes) -> bytes:
    """§4.5's undo, written here from the fact sheet as the oracle for the forward transform."""
    out = bytearray(data)
    size, i = len(out), 0
    while i < size - 10:
        if out[i] == 0xE8:
            v = struct.unpack_from("<i", out, i + 1)[0]
            if -i <= v < size:
                struct.pack_into("<i", out, i + 1, v - i if v >= 0 else v + size)
            i += 5
        else:
            i += 1
    return bytes(out)


def i386_pe(body: bytes, *, machine: int = 0x14C, magic: int = 0x10B) -> bytes:
    """A minimal PE32 image header followed by ``body`` (a test input, not a loadable program)."""
    e = 0x40
    head = bytearray(e + 24 + 224)
    head[:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, e)
    head[e:e + 4] = b"PE\0\0"
    struct.pack_into("<HH", head, e + 4, machine, 0)
    struct.pack_into("<H", head, e + 20, 224)
    struct.pack_into("<H", head, e + 24, magic)
    return bytes(head) + body


@given(st.binary(max_size=400),
       st.lists(st.tuples(st.integers(0, 399), st.integers(-2**31, 2**31 - 1)), max_size=20))
@settings(max_examples=80, deadline=None)
def test_e8_forward_inverts_the_undo(body: bytes, calls: list[tuple[int, int]]) -> None:
    data = bytearray(i386_pe(body))
    for at, rel in calls:
        at += 0x40
        if at + 5 <= len(data):
            data[at] = 0xE8
            struct.pack_into("<i", data, at + 1, rel)
    assert _undo_e8(enc.e8_forward(bytes(data))) == bytes(data)


def test_e8_forward_at_the_range_edges() -> None:
    """Operands at the edges of the converted range: -i, size-i-1, size-i, size-1, size."""
    pe = bytearray(i386_pe(bytes(400)))
    size = len(pe)
    sites = range(0x60, size - 40, 7)
    edges = []
    for n, at in enumerate(sites):
        pick = [-at - 1, -at, size - at - 1, size - at, size - 1, size, 0, -1][n % 8]
        pe[at] = 0xE8
        struct.pack_into("<i", pe, at + 1, pick)
        edges.append((at, pick))
    fwd = enc.e8_forward(bytes(pe))
    assert _undo_e8(fwd) == bytes(pe)
    for at, x in edges:
        v = struct.unpack_from("<i", fwd, at + 1)[0]
        want = x if not -at <= x < size else x + at if x < size - at else x - size
        assert v == want, (at, x)


def test_e8_forward_changes_call_operands() -> None:
    body = b"\x90" * 16 + b"\xE8" + struct.pack("<i", 100) + b"\x90" * 200
    pe = i386_pe(body)
    at = pe.index(b"\xE8")
    fwd = enc.e8_forward(pe)
    assert struct.unpack_from("<i", fwd, at + 1)[0] == 100 + at
    assert enc.is_native_i386_pe(pe)
    assert not enc.is_native_i386_pe(i386_pe(body, machine=0x8664, magic=0x20B))
    assert not enc.is_native_i386_pe(b"MZ" + bytes(100))


def test_encode_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="source"):
        enc.encode(b"abc", b"src", codec="lzms")
    with pytest.raises(ValueError, match="codec"):
        enc.encode(b"abc", codec="zip")
    with pytest.raises(ValueError, match="hash_alg"):
        enc.encode(b"abc", hash_alg="crc")
    with pytest.raises(ValueError, match="one segment"):
        enc.encode(b"abc" * 10, tables="flat", segments=2)
    with pytest.raises(ValueError, match="outside"):
        enc.encode_ops([enc.Match(3, "distance", 1)])
    with pytest.raises(ValueError):
        enc.encode_ops([enc.Match(3, "same")])
    with pytest.raises(ValueError, match="slots 0-2"):
        enc.encode_ops([enc.Literal(1), enc.Match(2, "reference", -0x2A001)], bytes(0x30000))


def test_psf_writer_layout_and_cix(tmp_path: Path) -> None:
    files = {
        "amd64_x\\f\\a.dll": b"A" * 3000 + bytes(range(256)),
        "amd64_x\\n\\b.mui": b"mui text " * 100,
        "wow64_y\\c.txt": b"some text data " * 50,
        "x86_z\\d.bin": bytes(range(256)) * 8,
    }
    buf = io.BytesIO()
    w = PsfWriter(buf)
    w.add("amd64_x\\f\\a.dll", files["amd64_x\\f\\a.dll"], time=133000000000000000)
    w.add("amd64_x\\n\\b.mui", files["amd64_x\\n\\b.mui"], Storage.PA30)
    w.add("wow64_y\\c.txt", files["wow64_y\\c.txt"], Storage.PA31_LZMS, crc_prefix=True)
    w.add("x86_z\\d.bin", files["x86_z\\d.bin"], "pa30", tables="flat")
    psf = buf.getvalue()
    assert psf[:12] == b"PSTREAM\0\x02\x00\x02\x00" and w.size == len(psf)
    assert w.entries[0].offset == FIRST_STREAM
    cix = w.cix()
    assert b'xmlns="urn:ContainerIndex"' in cix
    spans = parse_cix(cix)
    assert [s.name for s in spans] == list(files)
    assert [s.type for s in spans] == ["RAW", "PA30", "PA30", "PA30"]
    blobs = [psf[s.offset:s.offset + s.length] for s in spans]
    assert blobs[0] == files["amd64_x\\f\\a.dll"]
    assert blobs[1][:4] == b"PA30" and blobs[3][:4] == b"PA30"
    assert blobs[2][4:8] == b"PA31"  # labelled PA30 in the index, sniffed by content
    for e, blob in zip(w.entries, blobs, strict=True):
        assert hashlib.sha256(blob).hexdigest() == e.span_sha256
        assert hashlib.sha256(files[e.name]).hexdigest() == e.file_sha256
        assert f'value="{e.file_sha256.upper()}"'.encode() in cix
    # RAW spans come back through wimcore's own expansion
    (tmp_path / "x.psf").write_bytes(psf)
    raw = [s for s in spans if s.type == "RAW"]
    apply_psf(raw, tmp_path / "x.psf", tmp_path / "out")
    assert (tmp_path / "out" / "amd64_x" / "f" / "a.dll").read_bytes() == blobs[0]


def test_psf_writer_streams_raw_chunks() -> None:
    buf = io.BytesIO()
    w = PsfWriter(buf)
    chunks = [bytes([i]) * 1000 for i in range(5)]
    e = w.add_raw_chunks("big\\file.bin", iter(chunks))
    assert e.length == 5000 and buf.getvalue()[e.offset:] == b"".join(chunks)
    assert e.file_sha256 == e.span_sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()
