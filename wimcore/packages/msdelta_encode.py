"""MSDelta encoder (PA30/PA31 headers, PseudoLzx and LZMS payloads), written from the fact sheet.

Pure Python and meant for small inputs: it makes the sample media's delta spans and the
test vectors the decoder (:mod:`wimcore.packages.msdelta`) is checked against. The layout
follows ``update-formats.md`` §4.2–§4.6: an LSB-first bit-stream, PA30/PA31 headers, the
PseudoLzx codec with an empty rift (flat or composite tables), the LZMS Compression-API
container compressed by libwimlib, and the i386 E8 forward transform.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import struct
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal as TLiteral

# The decoder decides when its E8 undo runs; the encoder asks the same question.
from wimcore.packages.msdelta import is_native_i386_pe

__all__ = [
    "FLAT_ALIGNED",
    "FLAT_LENGTH",
    "FLAT_MAIN",
    "HASH_ALGS",
    "BitWriter",
    "Literal",
    "Match",
    "canonical_codes",
    "e8_forward",
    "encode",
    "encode_ops",
    "execute_ops",
    "header",
    "is_native_i386_pe",
    "lzms_container",
    "pseudolzx_encode",
    "pseudolzx_ops",
]

# §4.2 hash identifiers, and their hashlib names.
HASH_ALGS: dict[str, tuple[int, str | None]] = {
    "none": (0, None), "md5": (0x8003, "md5"), "sha1": (0x8004, "sha1"),
    "sha256": (0x800C, "sha256"),
}
FILE_TYPE_RAW = 1
FLAG_E8 = 0x1
MAIN_SYMBOLS, LENGTH_SYMBOLS, ALIGNED_SYMBOLS = 600, 256, 16
TABLE_LENGTHS = MAIN_SYMBOLS + LENGTH_SYMBOLS + ALIGNED_SYMBOLS  # 872
PRETREE_SYMBOLS = 39
MAX_CODE_LEN = 16
# Flat (default) tables, §4.4 item 2: shorter lengths on the lower symbols.
FLAT_MAIN = (9,) * 424 + (10,) * 176
FLAT_LENGTH = (8,) * 256
FLAT_ALIGNED = (4,) * 16
LZMS_MAGIC = 0xC0E5510A
LZMS_MAX_CHUNK = 64 * 1024 * 1024
_REF_RANGE = 0x2A000  # slots 0-2 reach d in [-0x2A000, 0x2A000)
_MIN_MATCH = 3


class BitWriter:
    """An LSB-first bit-stream whose first 3 bits count the unused bits in its last byte."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._nacc = 0
        self.write(0, 3)  # placeholder for the unused-bit count, filled by getvalue()

    @property
    def bit_length(self) -> int:
        """Bits written so far, the 3-bit count included."""
        return len(self._out) * 8 + self._nacc

    def write(self, value: int, nbits: int) -> None:
        """Write ``nbits`` bits of ``value``, low bit first."""
        if nbits <= 0:
            return
        if value < 0 or value >> nbits:
            raise ValueError(f"{value} does not fit in {nbits} bits")
        self._acc |= value << self._nacc
        self._nacc += nbits
        if self._nacc >= 32:
            n = self._nacc // 8
            self._out += (self._acc & ((1 << (8 * n)) - 1)).to_bytes(n, "little")
            self._acc >>= 8 * n
            self._nacc -= 8 * n

    def write_code(self, code: int, length: int) -> None:
        """Write a Huffman code, most significant bit first."""
        self.write(int(format(code, f"0{length}b")[::-1], 2), length)

    def write_int(self, value: int) -> None:
        """The integer format: z zero bits, a one, then 4·(z+1) value bits (z = 0…15)."""
        if value < 0 or value >> 64:
            raise ValueError(f"integer {value} out of range 0..2^64-1")
        z = max(0, (value.bit_length() + 3) // 4 - 1)
        self.write(1 << z, z + 1)
        self.write(value, 4 * (z + 1))

    def align(self) -> None:
        """Pad with zero bits to the next byte boundary."""
        self.write(0, -self.bit_length % 8)

    def write_buffer(self, data: bytes) -> None:
        """A buffer: its length as an integer, a byte boundary, the raw bytes."""
        self.write_int(len(data))
        self.align()
        self._flush_bytes()
        self._out += data

    def _flush_bytes(self) -> None:
        n = self._nacc // 8
        if n:
            self._out += (self._acc & ((1 << (8 * n)) - 1)).to_bytes(n, "little")
            self._acc >>= 8 * n
            self._nacc -= 8 * n

    def getvalue(self) -> bytes:
        """The finished stream: padded to a byte, the unused-bit count in its first 3 bits."""
        unused = -self.bit_length % 8
        out = bytearray(self._out)
        acc, nacc = self._acc, self._nacc + unused
        out += acc.to_bytes(nacc // 8, "little")
        out[0] |= unused
        return bytes(out)


# --------------------------------------------------------------------------- Huffman

def huffman_lengths(freqs: Sequence[int], limit: int = MAX_CODE_LEN) -> list[int]:
    """Code lengths (<= ``limit``) for ``freqs``; a complete code, at least two symbols used."""
    freqs = list(freqs)
    used = [i for i, f in enumerate(freqs) if f > 0]
    for i in range(len(freqs)):  # a complete code needs two symbols
        if len(used) >= 2:
            break
        if freqs[i] == 0:
            freqs[i] = 1
            used.append(i)
    while True:
        lengths = _plain_huffman(freqs)
        if max(lengths) <= limit:
            return lengths
        freqs = [(f + 1) // 2 if f else 0 for f in freqs]  # flatten and retry


def _plain_huffman(freqs: Sequence[int]) -> list[int]:
    heap: list[tuple[int, int, list[int]]] = [(f, i, [i]) for i, f in enumerate(freqs) if f]
    heapq.heapify(heap)
    lengths = [0] * len(freqs)
    tie = len(freqs)
    while len(heap) > 1:
        f1, _, s1 = heapq.heappop(heap)
        f2, _, s2 = heapq.heappop(heap)
        for s in s1:
            lengths[s] += 1
        for s in s2:
            lengths[s] += 1
        heapq.heappush(heap, (f1 + f2, tie, s1 + s2))
        tie += 1
    return lengths


def canonical_codes(lengths: Sequence[int]) -> list[int]:
    """Codes for ``lengths`` as §4.4 item 4 assigns them: longest codes take the smallest values."""
    maxlen = max(lengths, default=0)
    count = Counter(lengths)
    first = [0] * (maxlen + 2)
    running = 0
    for length in range(maxlen, 0, -1):
        first[length] = running
        running = (running + count[length]) >> 1
    codes = [0] * len(lengths)
    nxt = list(first)
    for sym, length in enumerate(lengths):
        if length:
            codes[sym] = nxt[length]
            nxt[length] += 1
    return codes


# --------------------------------------------------------------------------- operations

OffsetKind = TLiteral["reference", "same", "repeat", "distance"]


@dataclass(frozen=True)
class Literal:
    """One literal byte."""

    byte: int


@dataclass(frozen=True)
class Match:
    """A copy of ``length`` bytes; ``kind`` forces the offset class.

    - ``reference``: slots 0–2, copy from window index o − ``value`` (o = output offset);
    - ``same``: slot 3, the reference byte at the same offset;
    - ``repeat``: slots 4–6, repeat-queue entry ``value`` (0–2);
    - ``distance``: slots 8+ (escape 43–70 included), ``value`` bytes back from the position.
    """

    length: int
    kind: OffsetKind
    value: int = 0


Op = Literal | Match


def execute_ops(ops: Iterable[Op], source: bytes = b"") -> bytes:
    """The target a list of operations produces (the encoder's own model of the window)."""
    window = bytearray(source)
    ref = len(source)
    queue = [0, 0, 0]
    for op in ops:
        if isinstance(op, Literal):
            window.append(op.byte)
            continue
        pos = len(window)
        dist = _effective_distance(op, pos - ref, ref, queue)
        if not 1 <= dist <= pos:
            raise ValueError(f"match at output offset {pos - ref} reaches outside the window")
        _update_queue(queue, dist)
        start = pos - dist
        for k in range(op.length):  # byte by byte: overlap allowed
            window.append(window[start + k])
    return bytes(window[ref:])


def _effective_distance(op: Match, o: int, ref: int, queue: list[int]) -> int:
    if op.kind == "reference":
        return ref + op.value
    if op.kind == "same":
        return ref
    if op.kind == "repeat":
        return queue[op.value]
    return op.value


def _update_queue(queue: list[int], dist: int) -> None:
    """§4.4 item 8: move to front, without duplicates."""
    if queue[0] == dist:
        return
    if queue[1] == dist:
        queue[0], queue[1] = dist, queue[0]
    else:
        queue[0], queue[1], queue[2] = dist, queue[0], queue[1]


# An encoded symbol stream: ("m", main) / ("a", aligned) / ("l", length) / ("b", value, n).
_Item = tuple[str, int, int]


def _offset_items(op: Match, o: int, ref: int,
                  stats: Counter[str] | None) -> tuple[int, list[_Item]]:
    """The offset slot and the items that follow the main symbol for one match."""
    if op.kind == "reference":
        d = op.value
        if -0x2000 <= d < 0x2000:
            slot, items = 0, [("b", d + 0x2000, 14)]
        elif -0xA000 <= d < 0xA000:
            slot, items = 1, [("b", d + (0xA000 if d < 0 else 0x6000), 16)]
        elif -_REF_RANGE <= d < _REF_RANGE:
            slot, items = 2, [("b", d + (0x2A000 if d < 0 else 0x16000), 18)]
        else:
            raise ValueError(f"reference offset {d} outside slots 0-2")
        if o - d < 0:
            raise ValueError(f"reference copy before the window at output offset {o}")
    elif op.kind == "same":
        if ref == 0:
            raise ValueError("slot 3 needs a non-empty reference")
        slot, items = 3, []
    elif op.kind == "repeat":
        if op.value not in (0, 1, 2):
            raise ValueError(f"repeat index {op.value} not in 0..2")
        slot, items = 4 + op.value, []
    else:
        slot, items = _distance_items(op.value)
    if stats is not None:
        stats[f"slot{slot}"] += 1  # slot 7: an escape to slots 43-70
        stats[f"kind-{op.kind}"] += 1
        if any(kind == "a" for kind, _, _ in items):
            stats["aligned"] += 1
    return slot, items


def _distance_items(dist: int) -> tuple[int, list[_Item]]:
    if not 1 <= dist < 1 << 32:
        raise ValueError(f"distance {dist} out of range")
    if dist <= 3:
        return 7 + dist, []
    h = dist.bit_length() - 2
    top = dist >> h
    a = 2 * (h + 1) + (top - 2)
    rest = dist - (top << h)
    items: list[_Item] = []
    slot = a + 7
    if a >= 36:  # escape: slot 7 then a prefix naming a
        slot = 7
        if a < 40:
            items += [("b", 0, 1), ("b", a - 36, 2)]
        elif a < 48:
            items += [("b", 1, 1), ("b", 0, 1), ("b", a - 40, 3)]
        else:
            items += [("b", 1, 1), ("b", 1, 1), ("b", a - 48, 4)]
    if h < 4:
        items.append(("b", rest, h))
    else:
        items += [("b", rest >> 4, h - 4), ("a", rest & 15, 0)]
    return slot, items


def _length_items(length: int, stats: Counter[str] | None) -> tuple[int, list[_Item]]:
    if length < 2:
        raise ValueError(f"match length {length} < 2")
    if length <= 8:
        if stats is not None:
            stats["len-short"] += 1
        return length - 1, []
    if length <= 263:
        if stats is not None:
            stats["len-tree"] += 1
        return 0, [("l", length - 8, 0)]
    v = length - 8
    z = v.bit_length() - 9
    if stats is not None:
        stats["len-long"] += 1
    return 0, [("l", 0, 0), ("b", 1 << z, z + 1), ("b", v - (1 << (z + 8)), z + 8)]


# --------------------------------------------------------------------------- PseudoLzx

def pseudolzx_ops(target: bytes, source: bytes = b"", *, chain: int = 24,
                  max_len: int = 1 << 20) -> list[Op]:
    """A greedy hash-chain parse of ``target`` against ``source`` into operations."""
    window = source + target
    ref, end = len(source), len(source) + len(target)
    heads: dict[bytes, list[int]] = {}
    queue = [0, 0, 0]
    ops: list[Op] = []

    def match_len(src: int, pos: int) -> int:
        # The whole target is known, so comparing overlapping ranges is exact.
        limit = min(max_len, end - pos)
        n, step = 0, 16
        while n < limit:
            s = min(step, limit - n)
            if window[src + n:src + n + s] == window[pos + n:pos + n + s]:
                n += s
                step = min(step * 2, 4096)
                continue
            while window[src + n] == window[pos + n]:
                n += 1
            break
        return n

    def insert(p: int) -> None:
        if p + 3 <= end:
            heads.setdefault(window[p:p + 3], []).append(p)

    for p in range(0, ref):
        insert(p)
    pos = ref
    while pos < end:
        o = pos - ref
        best: tuple[int, Match] | None = None
        for i, d in enumerate(queue):
            if 1 <= d <= pos:
                n = match_len(pos - d, pos)
                if n >= 2 and (best is None or n > best[0]):
                    best = (n, Match(n, "repeat", i))
        if ref and o < pos:
            n = match_len(o, pos)
            if n >= _MIN_MATCH and (best is None or n > best[0]):
                best = (n, Match(n, "same"))
        for cand in reversed(heads.get(window[pos:pos + 3], [])[-chain:]):
            if best is not None:  # cheap reject: must beat the best length so far
                k = best[0]
                if pos + k >= end or window[cand + k] != window[pos + k]:
                    continue
            n = match_len(cand, pos)
            if n >= _MIN_MATCH and (best is None or n > best[0]):
                d = o - cand
                if cand < ref and -_REF_RANGE <= d < _REF_RANGE and ref + d >= 1:
                    best = (n, Match(n, "reference", d))
                else:
                    best = (n, Match(n, "distance", pos - cand))
        if best is None:
            ops.append(Literal(window[pos]))
            insert(pos)
            pos += 1
            continue
        n, m = best
        ops.append(m)
        _update_queue(queue, _effective_distance(m, o, ref, queue))
        # Index every position of a short match; of a long one only its ends (speed).
        inside = range(pos, pos + n) if n <= 256 else \
            itertools.chain(range(pos, pos + 32), range(pos + n - 32, pos + n))
        for p in inside:
            insert(p)
        pos += n
    return ops


def pseudolzx_encode(ops: Sequence[Op], source: bytes = b"", *, tables: str = "flat",
                     segments: Sequence[int] = (0,), stats: Counter[str] | None = None) -> bytes:
    """The PseudoLzx bit-stream (a patch buffer's content) for ``ops`` against ``source``.

    ``segments``: output offsets where composite-table segments start (first 0);
    ``stats`` (optional) counts the classes used, so tests can check their coverage.
    """
    ref = len(source)
    if tables not in ("flat", "composite"):
        raise ValueError(f"tables must be 'flat' or 'composite', not {tables!r}")
    starts = list(segments)
    if not starts or starts[0] != 0 or any(b <= a for a, b in itertools.pairwise(starts)):
        raise ValueError("segment starts must begin at 0 and rise strictly")
    if tables == "flat" and len(starts) != 1:
        raise ValueError("flat tables have exactly one segment")
    # Pass 1: symbols, the segment each falls in, frequencies per segment.
    queue = [0, 0, 0]
    o = 0
    seg = 0
    per_seg: list[list[_Item]] = [[] for _ in starts]
    for op in ops:
        while seg + 1 < len(starts) and o >= starts[seg + 1]:
            seg += 1
        out = per_seg[seg]
        if isinstance(op, Literal):
            if not 0 <= op.byte < 256:
                raise ValueError(f"literal {op.byte} is not a byte")
            out.append(("m", op.byte, 0))
            if stats is not None:
                stats["literal"] += 1
            o += 1
            continue
        dist = _effective_distance(op, o, ref, queue)
        if not 1 <= dist <= ref + o:
            raise ValueError(f"match at output offset {o} reaches outside the window")
        slot, oitems = _offset_items(op, o, ref, stats)
        lslot, litems = _length_items(op.length, stats)
        out.append(("m", 256 + slot * 8 + lslot, 0))
        out += oitems
        out += litems
        _update_queue(queue, dist)
        o += op.length

    w = BitWriter()
    w.write(0, 1)  # rift bit: no rift
    if tables == "flat":
        w.write(1, 1)
        lens = [(list(FLAT_MAIN), list(FLAT_LENGTH), list(FLAT_ALIGNED))]
    else:
        w.write(0, 1)
        lens = [_segment_lengths(items) for items in per_seg]
        _write_composite(w, [ref + s for s in starts], lens, stats)
    for items, (main, length, aligned) in zip(per_seg, lens, strict=True):
        codes = (canonical_codes(main), canonical_codes(length), canonical_codes(aligned))
        for kind, value, n in items:
            if kind == "b":
                w.write(value, n)
                continue
            table = 0 if kind == "m" else 1 if kind == "l" else 2
            ln = (main, length, aligned)[table][value]
            if ln == 0:
                raise AssertionError("symbol without a code")  # pragma: no cover
            w.write_code(codes[table][value], ln)
    return w.getvalue()


def _segment_lengths(items: list[_Item]) -> tuple[list[int], list[int], list[int]]:
    main = [0] * MAIN_SYMBOLS
    length = [0] * LENGTH_SYMBOLS
    aligned = [0] * ALIGNED_SYMBOLS
    for kind, value, _ in items:
        if kind == "m":
            main[value] += 1
        elif kind == "l":
            length[value] += 1
        elif kind == "a":
            aligned[value] += 1
    return huffman_lengths(main), huffman_lengths(length), huffman_lengths(aligned)


def _write_composite(w: BitWriter, starts: list[int],
                     lens: list[tuple[list[int], list[int], list[int]]],
                     stats: Counter[str] | None) -> None:
    """Segment count, cumulative starts, pre-tree lengths, then each segment's 872 lengths."""
    w.write_int(len(starts))
    prev_start = 0
    for s in starts:
        w.write_int(s - prev_start)
        prev_start = s
    prev = [0] * TABLE_LENGTHS
    coded: list[list[tuple[int, int, int]]] = []
    freq = [0] * PRETREE_SYMBOLS
    for main, length, aligned in lens:
        cur = main + length + aligned
        syms = _pretree_symbols(cur, prev)
        for sym, _, _ in syms:
            freq[sym] += 1
            if stats is not None:
                stats[f"pretree{sym}"] += 1
        coded.append(syms)
        prev = cur
    plens = huffman_lengths(freq, 15)
    for ln in plens:
        w.write(ln, 4)
    pcodes = canonical_codes(plens)
    for syms in coded:
        for sym, extra, nbits in syms:
            w.write_code(pcodes[sym], plens[sym])
            w.write(extra, nbits)


def _pretree_symbols(cur: list[int], prev: list[int]) -> list[tuple[int, int, int]]:
    """Code one table's lengths against the previous segment's (§4.4 item 3)."""
    out: list[tuple[int, int, int]] = []
    i = 0
    total = len(cur)
    while i < total:
        c = 0
        while i + c < total and c < 127 and cur[i + c] == prev[i + c]:
            c += 1
        r = 0
        if i > 0:
            while i + r < total and r < 127 and cur[i + r] == cur[i - 1]:
                r += 1
        if c and c >= r:
            out.append(_run_symbol(31, c))
            i += c
        elif r:
            out.append(_run_symbol(23, r))
            i += r
        else:
            diff = cur[i] - prev[i]
            if 1 <= diff <= 3:
                out.append((16 + diff, 0, 0))
            elif -3 <= diff <= -1:
                out.append((19 - diff, 0, 0))
            else:
                out.append((cur[i], 0, 0))
            i += 1
    return out


def _run_symbol(base: int, count: int) -> tuple[int, int, int]:
    if count <= 3:
        return base + count - 1, 0, 0
    k = count.bit_length()
    return base + k, count - (1 << (k - 1)), k - 1


# --------------------------------------------------------------------------- LZMS, E8

def lzms_container(data: bytes) -> bytes:
    """The Compression-API container (§4.6) around LZMS chunks made by libwimlib."""
    total = len(data)
    chunk = min(total, LZMS_MAX_CHUNK)
    head = bytearray(struct.pack("<IHBBQII", LZMS_MAGIC, 0x18, 0, 5, total, chunk, 0))
    head[6] = zlib.crc32(bytes(head[:6] + head[7:])) & 0xFF
    out = [bytes(head)]
    if total:
        from wimcore.compression import Compressor

        comp = Compressor("lzms", chunk)
        try:
            for at in range(0, total, chunk):
                piece = data[at:at + chunk]
                packed = comp.compress(piece)
                body = packed if packed is not None and len(packed) < len(piece) else piece
                out.append(struct.pack("<I", len(body)))
                out.append(body)
        finally:
            comp.close()
    return b"".join(out)


def e8_forward(data: bytes) -> bytes:
    """The inverse of §4.5's E8 undo: make call operands absolute so the undo restores them."""
    size = len(data)
    out = bytearray(data)
    i = 0
    while i < size - 10:
        if out[i] != 0xE8:
            i += 1
            continue
        x = struct.unpack_from("<i", out, i + 1)[0]
        if -i <= x < size:
            v = x + i if x < size - i else x - size
            struct.pack_into("<i", out, i + 1, v)
        i += 5
    return bytes(out)


# --------------------------------------------------------------------------- headers

def header(*, magic: str, file_type_set: int, file_type: int, flags: int, target_size: int,
           hash_alg: int, target_hash: bytes, patch: bytes, preprocess: bytes = b"",
           filetime: int = 0, pa31_extra: tuple[int, int, int] = (0x88, 1, 0),
           additional_hash: bytes = b"") -> bytes:
    """A whole PA30/PA31 delta around a patch buffer (§4.2)."""
    if magic not in ("PA30", "PA31"):
        raise ValueError(f"magic must be PA30 or PA31, not {magic!r}")
    outer = BitWriter()
    items = BitWriter() if magic == "PA31" else outer
    for value in (file_type_set, file_type, flags, target_size, hash_alg):
        items.write_int(value)
    items.write_buffer(target_hash)
    if magic == "PA31":
        for value in pa31_extra:
            items.write_int(value)
        items.write_buffer(additional_hash)
        outer.write_buffer(items.getvalue())
    outer.write_buffer(preprocess)
    outer.write_buffer(patch)
    return magic.encode() + struct.pack("<Q", filetime) + outer.getvalue()


def _target_hash(target: bytes, hash_alg: str) -> tuple[int, bytes]:
    try:
        alg_id, name = HASH_ALGS[hash_alg]
    except KeyError:
        raise ValueError(f"hash_alg must be one of {', '.join(HASH_ALGS)}") from None
    return alg_id, (hashlib.new(name, target).digest() if name else b"")


def _finish(blob: bytes, crc_prefix: bool) -> bytes:
    return struct.pack("<I", zlib.crc32(blob)) + blob if crc_prefix else blob


def encode_ops(ops: Sequence[Op], source: bytes = b"", *, magic: str = "PA30",
               tables: str = "flat", segments: Sequence[int] = (0,), hash_alg: str = "sha256",
               flags: int = 0, crc_prefix: bool = False, file_type_set: int = 1,
               stats: Counter[str] | None = None) -> tuple[bytes, bytes]:
    """A PseudoLzx delta from explicit operations; returns (delta, the target it makes).

    No E8 transform here: the operations describe the stream as coded.
    """
    target = execute_ops(ops, source)
    patch = pseudolzx_encode(ops, source, tables=tables, segments=segments, stats=stats)
    alg_id, digest = _target_hash(target, hash_alg)
    blob = header(magic=magic, file_type_set=file_type_set, file_type=FILE_TYPE_RAW,
                  flags=flags, target_size=len(target), hash_alg=alg_id, target_hash=digest,
                  patch=patch)
    return _finish(blob, crc_prefix), target


def encode(target: bytes, source: bytes = b"", *, magic: str = "PA30",
           codec: str = "pseudolzx", tables: str = "flat", segments: int = 1,
           hash_alg: str = "sha256", flags: int = 0, crc_prefix: bool = False,
           file_type_set: int = 1, filetime: int = 0,
           stats: Counter[str] | None = None) -> bytes:
    """An MSDelta (RAW file type) that turns ``source`` into ``target``.

    ``codec``: ``pseudolzx`` (any source) or ``lzms`` (empty source only, as 24H2 PSFs);
    ``segments``: composite tables split the output in that many equal segments;
    ``flags`` bit 0 applies the E8 transform when ``target`` is a native i386 PE;
    ``crc_prefix`` puts the zlib CRC-32 of the delta in front of the magic.
    """
    coded = e8_forward(target) if flags & FLAG_E8 and is_native_i386_pe(target) else target
    if codec == "lzms":
        if source:
            raise ValueError("the LZMS codec takes no source")
        patch = lzms_container(coded)
    elif codec == "pseudolzx":
        if segments < 1:
            raise ValueError("segments must be >= 1")
        if tables == "flat" and segments != 1:
            raise ValueError("flat tables have exactly one segment")
        step = -(-len(coded) // segments) if coded else 1
        starts = sorted({min(k * step, max(len(coded) - 1, 0)) for k in range(segments)})
        patch = pseudolzx_encode(pseudolzx_ops(coded, source), source, tables=tables,
                                 segments=starts, stats=stats)
    else:
        raise ValueError(f"codec must be 'pseudolzx' or 'lzms', not {codec!r}")
    alg_id, digest = _target_hash(target, hash_alg)
    blob = header(magic=magic, file_type_set=file_type_set, file_type=FILE_TYPE_RAW,
                  flags=flags, target_size=len(target), hash_alg=alg_id, target_hash=digest,
                  patch=patch, filetime=filetime)
    return _finish(blob, crc_prefix)
