"""Round trips: deltas made by wimcore's encoder, applied by wimcore's decoder.

Every offset class (reference slots 0/1/2 at each width, slot 3, repeats, distances 1–3,
general slots with and without the aligned tree, the three escape prefixes), every length
class (short, tree, long form), flat and composite tables with several segments, PA30 and
PA31, PseudoLzx and LZMS, each hash algorithm, the CRC prefix, the E8 transform, and
hypothesis-driven random targets and sources. The encoder counts the classes it used, so
each test also proves that it exercised what it names.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wimcore.packages import msdelta
from wimcore.packages import msdelta_encode as enc
from wimcore.packages.express import parse_cix
from wimcore.packages.psf_writer import PsfWriter, Storage

pytestmark = pytest.mark.skipif(not msdelta.native_available(),
                                reason="the compiled MSDelta module is not built")


def _data(seed: int, size: int, alphabet: int = 256) -> bytes:
    rnd = random.Random(seed)
    return bytes(rnd.randrange(alphabet) for _ in range(size))


def _mixed_target(seed: int, source: bytes, size: int) -> bytes:
    """Text-like data with repeats and copies from ``source``: every kind of match occurs."""
    rnd = random.Random(seed)
    words = [_data(seed + k, rnd.randint(2, 9), 26) for k in range(40)]
    out = bytearray()
    while len(out) < size:
        pick = rnd.random()
        if source and pick < 0.3:
            at = rnd.randrange(len(source))
            out += source[at:at + rnd.randint(3, 400)]
        elif pick < 0.5:
            out += bytes([rnd.randrange(256)])
        elif pick < 0.55 and out:
            at = rnd.randrange(len(out))
            out += out[at:at + rnd.randint(100, 1500)]
        else:
            out += rnd.choice(words) + b" "
    return bytes(out[:size])


def _check(delta: bytes, target: bytes, source: bytes = b"") -> None:
    assert msdelta.apply(delta, source) == target


SOURCE = _mixed_target(7, b"", 40_000)


@pytest.mark.parametrize("magic", ["PA30", "PA31"])
@pytest.mark.parametrize("tables", ["flat", "composite"])
@pytest.mark.parametrize("with_source", [False, True])
def test_pseudolzx_roundtrip(magic: str, tables: str, with_source: bool) -> None:
    source = SOURCE if with_source else b""
    target = _mixed_target(11, source, 30_000)
    stats: Counter[str] = Counter()
    delta = enc.encode(target, source, magic=magic, tables=tables, stats=stats)
    assert delta[:4] == magic.encode()
    _check(delta, target, source)
    assert stats["literal"] and stats["kind-distance"]
    if not with_source:
        assert stats["kind-repeat"]
    else:
        assert stats["kind-reference"] or stats["kind-same"]
        assert len(delta) < len(target) // 2


@pytest.mark.parametrize("magic", ["PA30", "PA31"])
@pytest.mark.parametrize("size", [0, 1, 5, 4096, 70_000])
def test_lzms_roundtrip(magic: str, size: int) -> None:
    target = _mixed_target(size, b"", size)
    delta = enc.encode(target, magic=magic, codec="lzms")
    assert enc.LZMS_MAGIC.to_bytes(4, "little") in delta
    _check(delta, target)


def test_lzms_incompressible_chunk_roundtrip() -> None:
    target = b"".join(hashlib.sha256(bytes([i, j])).digest() for i in range(4) for j in range(40))
    delta = enc.encode(target, magic="PA31", codec="lzms")
    assert target in delta  # stored raw: compression did not help
    _check(delta, target)


@pytest.mark.parametrize("segments", [2, 3, 7])
@pytest.mark.parametrize("with_source", [False, True])
def test_composite_segments_roundtrip(segments: int, with_source: bool) -> None:
    source = SOURCE if with_source else b""
    target = _mixed_target(segments, source, 25_000)
    stats: Counter[str] = Counter()
    delta = enc.encode(target, source, tables="composite", segments=segments, stats=stats)
    _check(delta, target, source)
    assert stats["pretree31"] + stats["pretree38"] > 0  # lengths copied from a segment


def test_pretree_symbols_all_used_across_segments() -> None:
    """Lengths coded against the previous segment: deltas ±1..3, repeats, copies, long runs."""
    union: Counter[str] = Counter()
    for seed in range(6):
        stats: Counter[str] = Counter()
        # Segments with different statistics so lengths move by small steps between them.
        target = b"".join(_mixed_target(seed * 10 + k, b"", 6000) if k % 2 else
                          _data(seed * 10 + k, 6000, 16 + 40 * k) for k in range(5))
        delta = enc.encode(target, tables="composite", segments=5, stats=stats)
        _check(delta, target)
        union.update(stats)
    missing = [s for s in range(17, 39) if not union[f"pretree{s}"]]
    assert not missing, f"pre-tree symbols never used: {missing}"


# ---------------------------------------------------------------- every offset class

def _ops_roundtrip(ops: list[enc.Op], source: bytes, **kw: object) -> Counter[str]:
    stats: Counter[str] = Counter()
    for tables in ("flat", "composite"):
        stats = Counter()
        delta, target = enc.encode_ops(ops, source, tables=tables, stats=stats, **kw)  # type: ignore[arg-type]
        _check(delta, target, source)
    return stats


@pytest.mark.parametrize(("d", "slot"), [
    (0, 0), (-0x2000, 0), (0x1FFF, 0), (5, 0),
    (-0x2001, 1), (-0xA000, 1), (0x2000, 1), (0x9FFF, 1),
    (-0xA001, 2), (-0x2A000, 2), (0xA000, 2), (0x29FFF, 2),
])
def test_reference_slots(d: int, slot: int) -> None:
    """Slots 0/1/2 at 14/16/18 bits, both signs, the ends of each range."""
    source = _data(1, 0x60000)
    o = 0x2B000  # enough literals before the match that o - d stays inside the reference
    prefix = [enc.Match(0x2B000, "same")]
    ops: list[enc.Op] = [*prefix, enc.Match(40, "reference", d), enc.Literal(7)]
    stats = _ops_roundtrip(ops, source)
    assert stats[f"slot{slot}"] == 1
    assert o - d >= 0


def test_same_offset_repeat_and_short_distances() -> None:
    source = _data(2, 5000)
    ops: list[enc.Op] = [enc.Literal(1), enc.Literal(2), enc.Literal(3),
                         enc.Match(10, "same"),            # slot 3
                         enc.Match(4, "distance", 1),      # slot 8
                         enc.Match(5, "distance", 2),      # slot 9
                         enc.Match(6, "distance", 3),      # slot 10
                         enc.Match(7, "repeat", 0),        # slot 4
                         enc.Match(8, "repeat", 1),        # slot 5 (distance 2)
                         enc.Match(9, "repeat", 2),        # slot 6 (distance 1, queue [2,3,1])
                         enc.Literal(9), enc.Match(3, "repeat", 2)]
    stats = _ops_roundtrip(ops, source)
    for slot in (3, 4, 5, 6, 8, 9, 10):
        assert stats[f"slot{slot}"] >= 1, slot


@pytest.mark.parametrize("dist", [4, 5, 7, 8, 12, 31, 32, 47, 48, 1000, 65535, 196608, 262143])
def test_general_slots(dist: int) -> None:
    """Slots 11–42: extra bits only (h < 4) or extra bits plus the aligned tree (h >= 4)."""
    source = _data(3, 300_000)
    ops: list[enc.Op] = [enc.Literal(0), enc.Match(20, "distance", dist), enc.Literal(1)]
    stats = _ops_roundtrip(ops, source)
    assert stats["kind-distance"] == 1
    assert bool(stats["aligned"]) == (dist >= 32)


@pytest.mark.parametrize(("dist", "prefix"), [
    (262144, "0"), (400_000, "0"), (1 << 20, "10"), (3 << 20, "10"), (1 << 24, "11"),
    ((3 << 23) + 12345, "11"),
])
def test_escape_slots(dist: int, prefix: str) -> None:
    """Slots 43–70 through slot 7's escape: 2, 3 and 4 bits after the prefix."""
    source = bytes(dist + 64)
    source = source[:dist - 100] + _data(4, 200) + source[dist + 100:]
    ops: list[enc.Op] = [enc.Literal(5), enc.Match(30, "distance", dist), enc.Literal(6)]
    stats = _ops_roundtrip(ops, source)
    assert stats["slot7"] == 1 and stats["aligned"] == 1


@pytest.mark.parametrize("length", [2, 3, 8, 9, 10, 100, 263, 264, 265, 519, 520, 1031, 1032,
                                    70_000, 600_000])
def test_length_classes(length: int) -> None:
    """Slots 1–7, the length tree (9–263) and the long form (264 and up)."""
    source = _data(5, 1000)
    ops: list[enc.Op] = [enc.Literal(1), enc.Literal(2), enc.Literal(3),
                         enc.Match(length, "distance", 3), enc.Literal(4)]
    stats = _ops_roundtrip(ops, source)
    kind = "len-short" if length <= 8 else "len-tree" if length <= 263 else "len-long"
    assert stats[kind] == 1


def test_match_overlapping_reference_and_output() -> None:
    source = _data(6, 100)
    ops: list[enc.Op] = [enc.Literal(1), enc.Match(50, "distance", 30),  # 29 from the reference
                         enc.Match(200, "reference", -60)]  # from index 111: output, overlapping
    _ops_roundtrip(ops, source)


# ---------------------------------------------------------------- header options

@pytest.mark.parametrize("hash_alg", ["none", "md5", "sha1", "sha256"])
@pytest.mark.parametrize("codec", ["pseudolzx", "lzms"])
def test_hash_algorithms(hash_alg: str, codec: str) -> None:
    target = _mixed_target(21, b"", 5000)
    delta = enc.encode(target, magic="PA31" if codec == "lzms" else "PA30", codec=codec,
                       hash_alg=hash_alg)
    _check(delta, target)
    _, name = enc.HASH_ALGS[hash_alg]
    if name:
        digest = hashlib.new(name, target).digest()
        assert digest in delta
        # the decoder checks the hash: a target differing by one byte is refused
        bad = bytearray(delta)
        at = bytes(bad).index(digest)
        bad[at] ^= 1
        with pytest.raises(msdelta.DeltaError):
            msdelta.apply(bytes(bad))


@pytest.mark.parametrize("magic", ["PA30", "PA31"])
@pytest.mark.parametrize("codec", ["pseudolzx", "lzms"])
def test_crc_prefix(magic: str, codec: str) -> None:
    target = _mixed_target(22, b"", 3000)
    delta = enc.encode(target, magic=magic, codec=codec, crc_prefix=True)
    assert delta[4:8] == magic.encode()
    _check(delta, target)


def _pe_with_calls(seed: int) -> bytes:
    from test_msdelta_encode import i386_pe

    rnd = random.Random(seed)
    body = bytearray()
    while len(body) < 6000:
        if rnd.random() < 0.2:
            body += b"\xE8" + struct.pack("<i", rnd.randint(-3000, 3000))
        else:
            body += bytes([rnd.choice([0x90, 0x55, 0x8B, 0xEC, 0x33, 0xC0, 0xC3, 0xE8])])
    return i386_pe(bytes(body))


@pytest.mark.parametrize(("codec", "with_source"),
                         [("pseudolzx", False), ("pseudolzx", True), ("lzms", False)])
def test_e8_flag_roundtrip(codec: str, with_source: bool) -> None:
    target = _pe_with_calls(1)
    source = _pe_with_calls(2) if with_source else b""
    assert enc.is_native_i386_pe(target) and enc.e8_forward(target) != target
    delta = enc.encode(target, source, magic="PA31", codec=codec, flags=enc.FLAG_E8)
    _check(delta, target, source)


def test_e8_operands_at_range_edges_roundtrip() -> None:
    from test_msdelta_encode import i386_pe

    pe = bytearray(i386_pe(bytes(range(256)) * 4))
    size = len(pe)
    for n, at in enumerate(range(0x60, size - 40, 9)):
        pe[at] = 0xE8
        struct.pack_into("<i", pe, at + 1, [-at - 1, -at, size - at - 1, size - at,
                                             size - 1, size, 0, -1][n % 8])
    for codec in ("pseudolzx", "lzms"):
        _check(enc.encode(bytes(pe), codec=codec, flags=enc.FLAG_E8), bytes(pe))


def test_e8_flag_on_a_non_pe_target_changes_nothing() -> None:
    target = b"\xE8\x10\x00\x00\x00" * 400
    delta = enc.encode(target, flags=enc.FLAG_E8)
    assert delta == enc.encode(target, flags=enc.FLAG_E8) and b"\xE8" in target
    _check(delta, target)


@pytest.mark.parametrize("magic", ["PA30", "PA31"])
@pytest.mark.parametrize("codec", ["pseudolzx", "lzms"])
@pytest.mark.parametrize("crc", [False, True])
def test_info_reads_back_what_the_encoder_wrote(magic: str, codec: str, crc: bool) -> None:
    target = _pe_with_calls(3)
    delta = enc.encode(target, magic=magic, codec=codec, crc_prefix=crc, hash_alg="sha1",
                       flags=enc.FLAG_E8 | 0x20000, filetime=0x01DC000012345678)
    got = msdelta.info(delta)
    assert (got.magic, got.crc_prefix, got.codec) == (magic, crc, codec)
    assert (got.file_type_set, got.file_type, got.flags) == (1, 1, 0x20001)
    assert (got.target_size, got.hash_alg_id) == (len(target), 0x8004)
    assert got.target_hash == hashlib.sha1(target).digest()
    assert got.filetime == 0x01DC000012345678 and got.preprocess_size == 0
    assert (got.pa31 is not None) == (magic == "PA31")
    _check(delta, target)


# ---------------------------------------------------------------- random inputs

@given(source=st.binary(max_size=3000), pieces=st.lists(
    st.one_of(st.binary(min_size=1, max_size=40),
              st.tuples(st.integers(0, 3000), st.integers(1, 600))), max_size=30),
    magic=st.sampled_from(["PA30", "PA31"]), tables=st.sampled_from(["flat", "composite"]),
    segments=st.integers(1, 4))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_roundtrip(source: bytes, pieces: list[bytes | tuple[int, int]], magic: str,
                          tables: str, segments: int) -> None:
    target = bytearray()
    for piece in pieces:
        if isinstance(piece, bytes):
            target += piece
        else:
            at, n = piece
            pool = source + bytes(target)
            if pool:
                at %= len(pool)
                target += pool[at:at + n]
    segs = segments if tables == "composite" else 1
    delta = enc.encode(bytes(target), source, magic=magic, tables=tables, segments=segs)
    _check(delta, bytes(target), source)


@given(target=st.binary(max_size=5000), magic=st.sampled_from(["PA30", "PA31"]))
@settings(max_examples=40, deadline=None)
def test_random_lzms_roundtrip(target: bytes, magic: str) -> None:
    _check(enc.encode(target, magic=magic, codec="lzms"), target)


# ---------------------------------------------------------------- PSF spans

def test_psf_spans_decode_to_their_files() -> None:
    files = {f"amd64_c{k}\\f\\file{k}.bin": _mixed_target(100 + k, b"", 2000 + 500 * k)
             for k in range(6)}
    storages = [Storage.RAW, Storage.PA30, Storage.PA31_LZMS, Storage.PA30,
                Storage.PA31_LZMS, Storage.RAW]
    buf = io.BytesIO()
    w = PsfWriter(buf)
    for (name, data), storage in zip(files.items(), storages, strict=True):
        w.add(name, data, storage, crc_prefix=storage is Storage.PA31_LZMS and "3" in name)
    psf = buf.getvalue()
    for span in parse_cix(w.cix("Windows11.0-KB5099999-x64.psf")):
        blob = psf[span.offset:span.offset + span.length]
        data = blob if span.type == "RAW" else msdelta.apply(blob)
        assert data == files[span.name]
