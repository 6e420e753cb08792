"""The MSDelta decoder (wimcore.packages.msdelta + native/msdelta.c): headers, hand-built
PseudoLzx streams, LZMS containers, refusals, hash checks, hostile input, E8 undo, CLI.

The streams here are built bit by bit from the fact sheet (update-formats.md §4) by this
file's own little writer, independently of the encoder on branch ``enc`` (whose round
trips live in test_msdelta_roundtrip.py).
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import REPO
from wimcore.packages import msdelta
from wimcore.packages.errors import (
    DeltaCorruptError,
    DeltaError,
    DeltaHashMismatchError,
    DeltaUnsupportedError,
    PackageError,
)

pytestmark = pytest.mark.skipif(not msdelta.native_available(),
                                reason="the compiled MSDelta module is not built")


# --------------------------------------------------------------------------- a bit writer

class Bits:
    """LSB-first bits; integers and buffers as §4.2 describes; MSB-first Huffman codes."""

    def __init__(self) -> None:
        self.bits: list[int] = [0, 0, 0]  # the 3-bit unused-bits field, filled by done()

    def put(self, value: int, n: int) -> Bits:
        self.bits += [(value >> i) & 1 for i in range(n)]
        return self

    def code(self, value: int, n: int) -> Bits:
        """A Huffman code: its most significant bit first."""
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def integer(self, value: int) -> Bits:
        nib = max(1, -(-value.bit_length() // 4))
        self.bits += [0] * (nib - 1) + [1]
        return self.put(value, 4 * nib)

    def buffer(self, data: bytes) -> Bits:
        self.integer(len(data))
        while len(self.bits) % 8:
            self.bits.append(0)
        for byte in data:
            self.put(byte, 8)
        return self

    def done(self) -> bytes:
        unused = -len(self.bits) % 8
        self.bits[:3] = [(unused >> i) & 1 for i in range(3)]
        bits = self.bits + [0] * unused
        return bytes(sum(bits[i + k] << k for k in range(8)) for i in range(0, len(bits), 8))


def flat_main(b: Bits, sym: int) -> Bits:
    """A main-tree symbol with the flat tables: codes 88.. (9 bits) for 0–423, 0.. (10 bits)
    for 424–599 (longest codes take the smallest values)."""
    return b.code(88 + sym, 9) if sym < 424 else b.code(sym - 424, 10)


def match_sym(offset_slot: int, length_slot: int) -> int:
    return 256 + offset_slot * 8 + length_slot


def pa30(patch: bytes, target_size: int, *, fts: int = 1, ft: int = 1, flags: int = 0,
         alg: int = 0, digest: bytes = b"", preprocess: bytes = b"") -> bytes:
    b = Bits()
    for value in (fts, ft, flags, target_size, alg):
        b.integer(value)
    b.buffer(digest).buffer(preprocess).buffer(patch)
    return b"PA30" + bytes(8) + b.done()


def pa31(patch: bytes, target_size: int, extras: tuple[int, int, int] = (0x88, 1, 0),
         extra_hash: bytes = b"\x01\x02") -> bytes:
    inner = Bits()
    for value in (1, 1, 0, target_size, 0):
        inner.integer(value)
    inner.buffer(b"")
    for value in extras:
        inner.integer(value)
    inner.buffer(extra_hash)
    outer = Bits().buffer(inner.done()).buffer(b"").buffer(patch)
    return b"PA31" + struct.pack("<Q", 0x01DA0000_00000000) + outer.done()


def flat_stream(*symbols: tuple[str, int] | tuple[str, int, int], rift: int = 0) -> bytes:
    """A flat-table PseudoLzx patch: ('lit', byte) or ('sym', symbol) or ('bits', v, n)."""
    b = Bits().put(rift, 1).put(1, 1)
    for item in symbols:
        if item[0] == "lit" or item[0] == "sym":
            flat_main(b, item[1])
        elif item[0] == "bits":
            b.put(item[1], item[2])  # type: ignore[misc]
        elif item[0] == "len8":  # a length-tree symbol with the flat tables (all 8 bits)
            b.code(item[1], 8)
        elif item[0] == "code4":  # an aligned-tree symbol with the flat tables (all 4 bits)
            b.code(item[1], 4)
    return b.done()


# --------------------------------------------------------------------------- headers

def test_fact_sheet_header_example() -> None:
    body = bytes.fromhex("18234000800801019866 04".replace(" ", ""))
    delta = b"PA30" + bytes(8) + body + bytes(18025)
    info = msdelta.info(delta)
    assert (info.magic, info.file_type_set, info.file_type, info.flags) == ("PA30", 1, 1, 0)
    assert info.target_size == 65536
    assert info.hash_algorithm == "none" and info.target_hash == b""
    assert info.preprocess_size == 0 and info.patch_size == 18025
    assert info.patch_offset == 23 and info.codec == "pseudolzx" and not info.crc_prefix
    d = info.to_dict()
    assert d["file_type_names"] == ["RAW"] and d["flag_names"] == []
    json.dumps(d)


def test_flags_by_name_and_pa31_extras_and_crc_prefix() -> None:
    delta = pa30(b"", 0, fts=0xF, flags=0xE1FE | 0x2000000)
    assert msdelta.info(delta).flag_names == [
        "MARK", "IMPORTS", "EXPORTS", "RESOURCES", "RELOCS", "I386_SMASHLOCK", "I386_JMPS",
        "I386_CALLS", "UNBIND", "CLI_DISASM", "CLI_METADATA", "0x2000000"]
    info = msdelta.info(pa31(b"\x00", 0, extras=(0x88, 1, 7), extra_hash=b"\xab"))
    assert info.magic == "PA31" and info.filetime == 0x01DA0000_00000000
    assert info.pa31 == msdelta.Pa31Extras(0x88, 1, 7, b"\xab")
    blob = pa30(flat_stream(), 0)
    prefixed = struct.pack("<I", zlib.crc32(blob)) + blob
    assert msdelta.info(prefixed).crc_prefix and msdelta.apply(prefixed) == b""
    broken = bytearray(prefixed)
    broken[0] ^= 1
    with pytest.raises(DeltaCorruptError, match="CRC-32"):
        msdelta.info(bytes(broken))
    with pytest.raises(DeltaCorruptError, match="not an MSDelta"):
        msdelta.info(b"MZ\x90\x00" + bytes(40))


# --------------------------------------------------------------------------- PseudoLzx

def test_literals_and_distance_matches_flat() -> None:
    # "ab", then distance 2 (slot 9) length 4 (length slot 3), then 'c', then repeat 0
    # (slot 4, distance 2 again... from the queue) length 2 (length slot 1).
    patch = flat_stream(("lit", 0x61), ("lit", 0x62), ("sym", match_sym(9, 3)),
                        ("lit", 0x63), ("sym", match_sym(4, 1)))
    out = msdelta.apply(pa30(patch, 9))
    assert out == b"ababab" + b"c" + b"bc"


def test_reference_slots_and_same_offset_copy() -> None:
    source = bytes(range(200))
    # slot 3: the reference byte at the same offset (o = 0 -> source[0:5]);
    # slot 0 with r = 0x2000 + 3: d = 3, copy from o - 3 = 5 - 3 = 2 -> source[2:8];
    # slot 1 with r = 0x8000 + 0x2000 - 0x2000... : r = 0x8000 gives d = 0x2000 (too far
    # back for a 200-byte reference) -> use slot 0 again with a negative d: r = 0x2000 - 20,
    # d = -20, copy from o + 20 = 11 + 20 = 31 -> source[31:34].
    patch = flat_stream(("sym", match_sym(3, 4)),                   # length 5
                        ("sym", match_sym(0, 5)), ("bits", 0x2003, 14),  # length 6
                        ("sym", match_sym(0, 2)), ("bits", 0x2000 - 20, 14))  # length 3
    out = msdelta.apply(pa30(patch, 14), source)
    assert out == source[0:5] + source[2:8] + source[31:34]


def test_reference_slots_1_and_2_both_halves() -> None:
    ref = random.Random(4).randbytes(0x40000)
    # slot 1: d = r - 0xA000 (r < 0x8000) or r - 0x6000; slot 2: d = r - 0x2A000 (r < 0x20000)
    # or r - 0x16000; the copy reads window index o - d (o = output offset).
    patch = flat_stream(
        ("sym", match_sym(1, 2)), ("bits", 0x100, 16),          # o 0: d -0x9F00, 3 bytes
        ("sym", match_sym(2, 2)), ("bits", 0x100, 18),          # o 3: d -0x29F00, 3 bytes
        ("sym", match_sym(3, 0)), ("len8", 0), ("bits", 0b10000000, 8),
        ("bits", 16376, 15),                                    # o 6: same offset, 49152 bytes
        ("sym", match_sym(1, 2)), ("bits", 0x9000, 16),         # o 49158: d 0x3000
        ("sym", match_sym(2, 2)), ("bits", 0x20005, 18))        # o 49161: d 0xA005
    out = bytearray()
    for o, d, n in ((0, -0x9F00, 3), (3, -0x29F00, 3), (6, 0, 49152), (49158, 0x3000, 3),
                    (49161, 0xA005, 3)):
        assert len(out) == o
        out += ref[o - d:o - d + n]
    assert msdelta.apply(pa30(patch, len(out)), ref) == bytes(out)


def test_repeat_queue_moves_to_front_after_every_match() -> None:
    data = b"0123456789"
    # distance 10 (slot 13: 8 + 2 bits = 2), distance 3 (slot 10), then repeat 1 (slot 5:
    # distance 10 again, moved to the front), then repeat 1 again (now distance 3).
    patch = flat_stream(*[("lit", c) for c in data],
                        ("sym", match_sym(13, 1)), ("bits", 2, 2),  # d 10, len 2: "01"
                        ("sym", match_sym(10, 1)),                   # d 3, len 2: "90"
                        ("sym", match_sym(5, 1)),                    # d 10, len 2
                        ("sym", match_sym(5, 1)))                    # d 3, len 2
    out = msdelta.apply(pa30(patch, 18))
    expect = bytearray(data)
    for dist in (10, 3, 10, 3):
        for _ in range(2):
            expect.append(expect[-dist])
    assert out == bytes(expect)


def test_escape_slots_aligned_tree_and_long_length() -> None:
    size = 70000
    rnd = random.Random(5)
    head = bytes(rnd.randrange(256) for _ in range(65600))
    # Escape (slot 7): bits 1,1 then 4 bits -> a = 48 + v; slot = a + 7. Distance 65536
    # is slot 39 (a = 32, h = 15, top 2: (2 << 11 + 11 bits) * 16 + aligned): instead take
    # a distance through the escape: slot 43 (a = 36: h = 17, top 2): 2 << 13 = 16384 * 16
    # = 262144 > the window. Use slot 33 (a = 26, h = 12, top 2): (2 << 8 + 8 bits) * 16
    # + aligned = 8192 + ...; bits 5, aligned 3 -> (512 + 5) * 16 + 3 = 8275.
    dist = (512 + 5) * 16 + 3
    long_len = size - len(head)  # 4400 = 2^12 + 296 + 8 -> z = 4 zeros, a one, 12 bits
    assert long_len == (1 << 12) + 296 + 8
    syms: list = [("lit", c) for c in head]
    syms += [("sym", match_sym(33, 0)), ("bits", 5, 8), ("code4", 3),
             ("len8", 0), ("bits", 0b10000, 5), ("bits", 296, 12)]
    b = Bits().put(0, 1).put(1, 1)
    for item in syms:
        if item[0] in ("lit", "sym"):
            flat_main(b, item[1])
        elif item[0] == "bits":
            b.put(item[1], item[2])
        elif item[0] == "code4":
            b.code(item[1], 4)
        else:
            b.code(item[1], 8)
    out = msdelta.apply(pa30(b.done(), size))
    expect = bytearray(head)
    for _ in range(long_len):
        expect.append(expect[-dist])
    assert out == bytes(expect)
    # The escape itself: slot 7 with bits "0" + 2 bits v gives slot 43 + v.
    patch = flat_stream(*[("lit", 1)] * 4, ("sym", match_sym(7, 1)), ("bits", 0, 1),
                        ("bits", 0, 2), ("bits", 0, 13), ("code4", 0))
    with pytest.raises(DeltaCorruptError, match="outside the window"):
        msdelta.apply(pa30(patch, 6))


def test_each_escape_form_reaches_its_slot() -> None:
    # Slot 7 escapes: "0" + 2 bits -> 36 + v, "10" + 3 bits -> 40 + v, "11" + 4 bits -> 48 + v,
    # giving offset slot a + 7. Worked by hand from §4.4 item 6:
    #   v=1: slot 44, h 17, top 3: (3 * 2^13 + 5) * 16 + aligned 7 = 393303
    #   v=0: slot 47, h 19, top 2: (2 * 2^15 + 3) * 16 + aligned 1 = 1048625
    #   v=0: slot 55, h 23, top 2: (2 * 2^19 + 0) * 16 + aligned 0 = 16777216
    ref = random.Random(9).randbytes(17_000_000)
    patch = flat_stream(
        ("sym", match_sym(7, 3)), ("bits", 0, 1), ("bits", 1, 2), ("bits", 5, 13), ("code4", 7),
        ("sym", match_sym(7, 3)), ("bits", 1, 1), ("bits", 0, 1), ("bits", 0, 3),
        ("bits", 3, 15), ("code4", 1),
        ("sym", match_sym(7, 3)), ("bits", 1, 1), ("bits", 1, 1), ("bits", 0, 4),
        ("bits", 0, 19), ("code4", 0))
    window = bytearray(ref)
    for dist in (393303, 1048625, 16777216):
        for _ in range(4):
            window.append(window[-dist])
    assert msdelta.apply(pa30(patch, 12), ref) == bytes(window[len(ref):])


PRE_LENS = [5] * 25 + [6] * 14  # complete: 25/32 + 14/64 == 1


def pre_code(sym: int) -> tuple[int, int]:
    """Canonical pre-tree code (longest codes first: 6-bit codes 0..13, 5-bit from 7)."""
    return (sym - 25, 6) if sym >= 25 else (7 + sym, 5)


def test_composite_tables_two_segments() -> None:
    # Segment 1 (from window position 0): main tree = literals 'x' (len 1) and 'y' (len 2)
    # and match symbol slot 9/len-slot 1 (len 2); length and aligned trees empty.
    # Segment 2 (from position 3): 'x' and 'y' swap lengths, coded against segment 1 with
    # symbols 17 (+1) and 20 (-1), the rest copied by runs of symbol 38 (copy previous).
    seg1 = [0] * 872
    seg1[ord("x")], seg1[ord("y")], seg1[match_sym(9, 1)] = 1, 2, 2
    b = Bits().put(0, 1).put(0, 1)
    b.integer(2).integer(0).integer(3)          # two segments, starts 0 and 0 + 3
    for n in PRE_LENS:
        b.put(n, 4)

    def send(sym: int, extra: tuple[int, int] | None = None) -> None:
        b.code(*pre_code(sym))
        if extra:
            b.put(*extra)

    def zeros(count: int) -> None:  # runs of "repeat the last length" (symbols 23–30)
        while count:
            k = min(count, 127)
            if k >= 4:
                slot = k.bit_length()  # count in [2^(slot-1), 2^slot)
                send(23 + slot, (k - (1 << (slot - 1)), slot - 1))
            else:
                send(23 + k - 1)
            count -= k

    # Segment 1: 0 at index 0, then runs; literal positions set explicitly.
    i = 0
    for pos, val in sorted([(ord("x"), 1), (ord("y"), 2), (match_sym(9, 1), 2)]):
        if pos > i:
            send(0)
            zeros(pos - i - 1)
        send(val)
        i = pos + 1
    send(0)
    zeros(872 - i - 1)
    # Segment 2 against segment 1.
    i = 0

    def copy(count: int) -> None:  # symbols 31–38: copy the previous segment's lengths
        while count:
            k = min(count, 127)
            if k >= 4:
                slot = k.bit_length()
                send(31 + slot, (k - (1 << (slot - 1)), slot - 1))
            else:
                send(31 + k - 1)
            count -= k

    copy(ord("x"))
    send(17)            # x: 1 -> 2
    send(20)            # y: 2 -> 1
    copy(872 - ord("y") - 1)
    # Data. Segment 1 main codes (longest first): len 2: 'y' = 00, match = 01; len 1: 'x' = 1.
    b.code(1, 1).code(0, 2).code(1, 1)             # x y x
    # Segment 2: len 2: 'x' = 00, match = 01; len 1: 'y' = 1.
    b.code(1, 1).code(0, 2).code(1, 2)             # y x, then distance 2 length 2: "yx"
    out = msdelta.apply(pa30(b.done(), 7))
    assert out == b"xyxyxyx"
    r = msdelta.decode(pa30(b.done(), 7))
    assert r.bits_left == 0 and not r.verified


def test_pa31_decodes_like_pa30() -> None:
    patch = flat_stream(("lit", 0x41), ("sym", match_sym(8, 7)))  # 'A' x 9
    assert msdelta.apply(pa31(patch, 9)) == b"A" * 9


# --------------------------------------------------------------------------- hashes

@pytest.mark.parametrize("name,alg", [("md5", 0x8003), ("sha1", 0x8004), ("sha256", 0x800C)])
def test_target_hash_verified_and_mismatch_is_an_error(name: str, alg: int) -> None:
    patch = flat_stream(("lit", 0x41), ("lit", 0x42))
    good = hashlib.new(name, b"AB").digest()
    result = msdelta.decode(pa30(patch, 2, alg=alg, digest=good))
    assert result.data == b"AB" and result.verified
    bad = bytes([good[0] ^ 1]) + good[1:]
    with pytest.raises(DeltaHashMismatchError) as err:
        msdelta.apply(pa30(patch, 2, alg=alg, digest=bad))
    assert err.value.expected == bad.hex() and err.value.actual == good.hex()
    with pytest.raises(DeltaCorruptError, match="hash"):
        msdelta.apply(pa30(patch, 2, alg=0, digest=good))


def test_no_hash_needs_a_clean_end_of_stream() -> None:
    patch = flat_stream(("lit", 0x41), ("lit", 0x42), ("bits", 0, 5))
    with pytest.raises(DeltaCorruptError, match="bits are left"):
        msdelta.apply(pa30(patch, 2))
    # With a hash the verified target decides (Windows' tolerance of trailing bits is unknown).
    digest = hashlib.sha256(b"AB").digest()
    assert msdelta.decode(pa30(patch, 2, alg=0x800C, digest=digest)).bits_left == 5


# --------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("delta,feature", [
    (pa30(flat_stream(("lit", 1)), 1, ft=8, fts=0xF), "PE file type"),
    (pa30(flat_stream(("lit", 1)), 1, ft=2, fts=0xF), "PE file type"),
    (pa30(flat_stream(("lit", 1)), 1, preprocess=b"\x01\x02"), "preprocess"),
    (pa30(flat_stream(("lit", 1), rift=1), 1), "rift"),
    (pa30(flat_stream(("lit", 1)), 1, alg=0x8009, digest=b"x" * 16), "hash algorithm"),
    (b"PA19" + bytes(40), "PA19"),
    (b"DCM\x01" + pa30(flat_stream(("lit", 1)), 1), "DCM without base"),
])
def test_refusals_name_the_feature(delta: bytes, feature: str) -> None:
    with pytest.raises(DeltaUnsupportedError) as err:
        msdelta.apply(delta)
    assert err.value.feature == feature
    assert isinstance(err.value, DeltaError) and isinstance(err.value, PackageError)


def test_reverse_delta_refused() -> None:
    b = Bits()
    for value in (1 | 0x100, 1, 0, 10, 0):
        b.integer(value)
    b.buffer(b"").buffer(b"PRSM" + bytes(12))
    delta = b"PA30" + bytes(8) + b.done()
    info = msdelta.info(delta)
    assert info.reverse and info.reverse_size == 16
    with pytest.raises(DeltaUnsupportedError) as err:
        msdelta.apply(delta)
    assert err.value.feature == "reverse"


def test_dcm_with_its_base_decodes() -> None:
    base = b"<assembly>old</assembly>"
    patch = flat_stream(("sym", match_sym(3, 7)), ("lit", ord("X")))  # base[0:8] + "X"
    delta = b"DCM\x01" + pa30(patch, 9)
    assert msdelta.info(delta).magic == "DCM"
    assert msdelta.apply(delta, base) == base[:8] + b"X"


def test_target_size_caps() -> None:
    patch = flat_stream(("lit", 1))
    with pytest.raises(DeltaUnsupportedError) as err:
        msdelta.apply(pa30(patch, msdelta.MAX_TARGET_SIZE + 1))
    assert err.value.feature == "target size"
    with pytest.raises(DeltaUnsupportedError):
        msdelta.apply(pa30(patch, 1 << 60), expected_size=1 << 60)
    with pytest.raises(DeltaCorruptError, match="expected"):
        msdelta.apply(pa30(patch, 1), expected_size=2)
    assert msdelta.apply(pa30(patch, 1), expected_size=1) == b"\x01"


# --------------------------------------------------------------------------- hostile input

@pytest.mark.parametrize("patch,size,match", [
    (flat_stream(("lit", 1), ("sym", match_sym(8, 7))), 5, "past the end"),      # overrun
    (flat_stream(("lit", 1), ("sym", match_sym(10, 1))), 3, "outside the window"),  # d 3 > 1
    (flat_stream(("sym", match_sym(4, 1))), 2, "outside the window"),            # rep 0 = 0
    (flat_stream(("sym", match_sym(3, 1))), 2, "outside the window"),            # no reference
    (flat_stream(("lit", 1)), 5, "ends before"),                                 # truncated
    (flat_stream(("lit", 1), ("sym", match_sym(8, 0)), ("len8", 0), ("bits", 0, 30)), 9,
     "long match length"),
])
def test_hostile_streams_are_typed_errors(patch: bytes, size: int, match: str) -> None:
    with pytest.raises(DeltaCorruptError, match=match):
        msdelta.apply(pa30(patch, size))


def test_bad_huffman_tables_are_refused() -> None:
    # Pre-tree with every symbol at 4 bits: 39/16 > 1, oversubscribed.
    b = Bits().put(0, 1).put(0, 1).integer(1).integer(0)
    for _ in range(39):
        b.put(4, 4)
    with pytest.raises(DeltaCorruptError, match="Huffman"):
        msdelta.apply(pa30(b.done() + bytes(200), 1))
    # Pre-tree of one 1-bit symbol: incomplete.
    b = Bits().put(0, 1).put(0, 1).integer(1).integer(0).put(1, 4)
    for _ in range(38):
        b.put(0, 4)
    with pytest.raises(DeltaCorruptError, match="Huffman"):
        msdelta.apply(pa30(b.done() + bytes(200), 1))
    # A complete pre-tree, but a main tree of one 1-bit literal: incomplete.
    b = Bits().put(0, 1).put(0, 1).integer(1).integer(0)
    for n in PRE_LENS:
        b.put(n, 4)
    b.code(*pre_code(1))
    for _ in range(871 // 127):
        b.code(*pre_code(38)).put(127 - 64, 6)      # 127 zeros copied from "previous"
    rest = 871 - 127 * (871 // 127)
    slot = rest.bit_length()
    b.code(*pre_code(31 + slot)).put(rest - (1 << (slot - 1)), slot - 1)
    with pytest.raises(DeltaCorruptError, match="Huffman"):
        msdelta.apply(pa30(b.done(), 1))


def test_overflowing_segment_starts_and_absurd_counts_refused() -> None:
    b = Bits().put(0, 1).put(0, 1).integer(70000)
    with pytest.raises(DeltaCorruptError, match="segment"):
        msdelta.apply(pa30(b.done() + bytes(64), 1))
    b = Bits().put(0, 1).put(0, 1).integer(2).integer((1 << 64) - 1).integer(5)
    with pytest.raises(DeltaCorruptError, match="segment"):
        msdelta.apply(pa30(b.done() + bytes(64), 1))


def test_every_truncation_and_many_flips_give_typed_errors() -> None:
    enc = pytest.importorskip("wimcore.packages.msdelta_encode")
    rnd = random.Random(3)
    source = bytes(rnd.randrange(256) for _ in range(3000))
    target = source[:1000] + b"new stuff" * 50 + source[1500:]
    deltas = [enc.encode(target, source, tables="composite", segments=3, hash_alg="none"),
              enc.encode(target, b"", codec="lzms", hash_alg="sha1"),
              enc.encode(target, source, magic="PA31", hash_alg="sha256", crc_prefix=True)]
    for delta in deltas:
        assert msdelta.apply(delta, source) == target  # (LZMS ignores the source)
        for cut in range(0, len(delta), max(1, len(delta) // 97)):
            with pytest.raises(DeltaError):
                msdelta.apply(delta[:cut], source)
        for _ in range(150):
            broken = bytearray(delta)
            broken[rnd.randrange(len(broken))] ^= 1 << rnd.randrange(8)
            try:
                out = msdelta.apply(bytes(broken), source)
            except DeltaError:
                continue
            # Accepted only when nothing checkable was hurt: a hashed target is the target.
            if msdelta.info(bytes(broken)).hash_alg_id:
                assert out == target


# --------------------------------------------------------------------------- LZMS

def lzms_container(data: bytes, *, chunk: int | None = None, raw: bool = False) -> bytes:
    from wimcore.compression import Compressor

    chunk = chunk or max(1, len(data))
    head = bytearray(struct.pack("<IHBBQII", 0xC0E5510A, 0x18, 0, 5, len(data), chunk, 0))
    head[6] = zlib.crc32(bytes(head[:6] + head[7:])) & 0xFF
    parts = [bytes(head)]
    comp = Compressor("lzms", chunk)
    for at in range(0, len(data), chunk):
        piece = data[at:at + chunk]
        packed = None if raw else comp.compress(piece)
        body = packed or piece
        parts += [struct.pack("<I", len(body)), body]
    return b"".join(parts)


def test_lzms_payloads_chunked_raw_and_checked() -> None:
    data = b"".join(b"line %d of the file\r\n" % i for i in range(3000))
    for container in (lzms_container(data), lzms_container(data, chunk=7000),
                      lzms_container(data, chunk=5000, raw=True)):
        delta = pa30(container, len(data), alg=0x800C, digest=hashlib.sha256(data).digest())
        info = msdelta.info(delta)
        assert info.codec == "lzms"
        assert msdelta.apply(delta) == data
    good = lzms_container(data, chunk=7000)
    for broken, match in [
        (good[:6] + bytes([good[6] ^ 1]) + good[7:], "CRC"),
        (good[:-1], "does not fit|truncated"),
        (good + b"\0", "follow the last"),
        (good[:30] + bytes([good[30] ^ 0x55]) + good[31:], "decompress|SHA-256"),
    ]:
        with pytest.raises(DeltaError, match=match):
            msdelta.apply(pa30(broken, len(data), alg=0x800C,
                               digest=hashlib.sha256(data).digest()))
    with pytest.raises(DeltaCorruptError, match="holds"):
        msdelta.apply(pa30(good, len(data) + 1))


# --------------------------------------------------------------------------- E8

def i386_pe(code: bytes, *, il_only: bool = False) -> bytes:
    """A small PE32 image for machine 0x14C: headers, one section holding ``code``."""
    pe = 0x80
    opt_size = 0xE0
    head = bytearray(0x200)
    head[:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, pe)
    head[pe:pe + 4] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", head, pe + 4, 0x14C, 1, 0, 0, 0, opt_size, 0x102)
    opt = pe + 24
    struct.pack_into("<H", head, opt, 0x10B)
    struct.pack_into("<I", head, opt + 92, 16)
    if il_only:
        struct.pack_into("<II", head, opt + 96 + 14 * 8, 0x1000, 72)
    sect = opt + opt_size
    head[sect:sect + 8] = b".text\0\0\0"
    struct.pack_into("<IIII", head, sect + 8, len(code), 0x1000, len(code), 0x200)
    body = bytearray(code)
    if il_only:
        struct.pack_into("<I", body, 16, 1)  # COR20 flags: ILONLY
    return bytes(head) + bytes(body)


def e8_sites(image: bytes) -> bytes:
    """The E8 forward translation of §4.5 (absolute operands), written here by hand."""
    out = bytearray(image)
    size, i = len(out), 0
    while i < size - 10:
        if out[i] == 0xE8:
            rel = struct.unpack_from("<i", out, i + 1)[0]
            target = i + rel
            if 0 <= target < size:            # the undo turns v >= 0 back into v - i
                struct.pack_into("<i", out, i + 1, target)
            elif -i <= rel - size < 0:        # the undo turns v < 0 into v + size
                struct.pack_into("<i", out, i + 1, rel - size)
            i += 5
        else:
            i += 1
    return bytes(out)


def test_e8_undo_on_a_synthetic_i386_pe() -> None:
    code = bytearray(b"\x90" * 400)
    for at, rel in ((10, 100), (40, -30), (80, 0x7FFF0000), (200, 5)):
        code[at] = 0xE8
        struct.pack_into("<i", code, at + 1, rel)
    code[-8] = 0xE8  # in the last 10 bytes: never touched
    image = i386_pe(bytes(code))
    coded = e8_sites(image)
    assert coded != image
    native = msdelta._native()
    buf = bytearray(coded)
    changed = native.lib.msd_e8_undo(native.ffi.from_buffer(buf, require_writable=True),
                                     len(buf))
    assert bytes(buf) == image and changed >= 3
    # Through a delta with flag bit 0: literals carry the coded bytes, the undo restores.
    patch = flat_stream(*[("lit", c) for c in coded])
    result = msdelta.decode(pa30(patch, len(coded), flags=1, alg=0x800C,
                                 digest=hashlib.sha256(image).digest()))
    assert result.data == image and result.verified and result.e8_sites >= 3
    # Flag bit 0 clear: the bytes stay as coded. Not a native i386 PE: no undo either.
    assert msdelta.apply(pa30(patch, len(coded))) == coded
    managed = e8_sites(i386_pe(bytes(code), il_only=True))
    assert not msdelta.is_native_i386_pe(managed) and msdelta.is_native_i386_pe(image)
    patch = flat_stream(*[("lit", c) for c in managed])
    assert msdelta.apply(pa30(patch, len(managed), flags=1)) == managed


# --------------------------------------------------------------------------- build, import

def test_import_is_lazy_and_missing_module_is_a_typed_error() -> None:
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'wimcore._native._msdelta':\n"
        "            raise ImportError('blocked for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import wimcore\n"
        "from wimcore.packages import msdelta, errors\n"
        "assert 'wimcore._native._msdelta' not in sys.modules\n"
        "assert msdelta.apply(bytes.fromhex(sys.argv[2])) == b'lzms' * 50\n"
        "try:\n"
        "    msdelta.apply(bytes.fromhex(sys.argv[1]))\n"
        "except errors.DeltaDecoderUnavailableError as exc:\n"
        "    print('UNAVAILABLE', exc)\n"
    )
    delta = pa30(flat_stream(("lit", 1)), 1)
    lzms = pa30(lzms_container(b"lzms" * 50), 200)  # LZMS needs libwimlib only
    proc = subprocess.run([sys.executable, "-c", script, delta.hex(), lzms.hex()],
                          capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("UNAVAILABLE") and "pip install" in proc.stdout


# --------------------------------------------------------------------------- CLI

def _group():  # type: ignore[no-untyped-def]
    from wimcore.cli.package_cmds import package_group

    return package_group


def test_cli_delta_info_and_apply(tmp_path: Path) -> None:
    source = bytes(range(256)) * 4
    target = source[:300] + b"patched!" + source[308:]
    # Same-offset copies (slot 3) of 256 and 44 bytes, 8 literals, then 716 bytes through
    # the long length form: one zero, a one, 9 bits: 2^9 + 196 + 8.
    patch = flat_stream(("sym", match_sym(3, 0)), ("len8", 256 - 8),
                        ("sym", match_sym(3, 0)), ("len8", 44 - 8),
                        *[("lit", c) for c in b"patched!"],
                        ("sym", match_sym(3, 0)), ("len8", 0), ("bits", 0b10, 2),
                        ("bits", 196, 9))
    digest = hashlib.sha1(target).digest()
    delta_path = tmp_path / "d.pa30"
    delta_path.write_bytes(pa30(patch, len(target), alg=0x8004, digest=digest))
    (tmp_path / "src.bin").write_bytes(source)
    runner = CliRunner()
    res = runner.invoke(_group(), ["delta", "info", str(delta_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["magic"] == "PA30" and doc["target_size"] == len(target)
    assert doc["hash_algorithm"] == "SHA-1" and doc["target_hash"] == digest.hex()
    res = runner.invoke(_group(), ["delta", "info", str(delta_path)])
    assert res.exit_code == 0 and "SHA-1" in res.output and "pseudolzx" in res.output
    out = tmp_path / "out.bin"
    res = runner.invoke(_group(), ["delta", "apply", str(delta_path), str(out),
                                   "--source", str(tmp_path / "src.bin"), "--json"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == target and json.loads(res.output)["verified"] is True
    # A wrong source: hash mismatch, exit 1, no output, no temporary left behind.
    (tmp_path / "other.bin").write_bytes(bytes(len(source)))
    bad = tmp_path / "bad.bin"
    res = runner.invoke(_group(), ["delta", "apply", str(delta_path), str(bad),
                                   "--source", str(tmp_path / "other.bin")])
    assert res.exit_code == 1 and not bad.exists()
    assert "SHA-1" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "d.pa30", "other.bin", "out.bin", "src.bin"]
    # A refusal names the feature.
    pe_delta = tmp_path / "pe.pa30"
    pe_delta.write_bytes(pa30(patch, len(target), ft=8, fts=0xF))
    res = runner.invoke(_group(), ["delta", "apply", str(pe_delta),
                                   str(tmp_path / "x.bin")])
    assert res.exit_code == 1 and "PE transforms" in res.output
    assert not (tmp_path / "x.bin").exists()
    res = runner.invoke(_group(), ["delta", "info", str(tmp_path / "src.bin")])
    assert res.exit_code == 1 and "not an MSDelta" in res.output
