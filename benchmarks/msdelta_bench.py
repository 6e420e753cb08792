"""Benchmark: PseudoLzx decoding (wimcore's own C) against libwimlib's LZX decompression.

Both decode the same bytes in the same run, alternating, and the medians are compared:
PseudoLzx decodes one baseless delta of the whole target (as a PSF delta span is decoded);
LZX decompresses the same target as libwimlib's chunks of up to 2 MiB (LZX's largest
window), the practical ceiling for a codec of the same family. The delta is made by the
project's encoder (``wimcore.packages.msdelta_encode``, pure Python and slow: a few MB is
enough; the input is cached under ``--cache``). The goal is a ratio of at least 0.5.

    python benchmarks/msdelta_bench.py                    # 2 MiB target, 15 rounds
    python benchmarks/msdelta_bench.py --size-kb 8192 --rounds 25 --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

LZX_CHUNK = 2 << 20


def sample_data(size: int, seed: int = 1) -> bytes:
    """Deterministic data shaped like a system file: code-like records with near repeats,
    tables of small integers, text, and some incompressible bytes."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 10)).hex().encode() for _ in range(600)]
    records = [rng.randbytes(rng.randint(8, 48)) for _ in range(300)]
    out = bytearray()
    while len(out) < size:
        kind = rng.random()
        if kind < 0.45:  # instruction-like records, often repeated with a changed byte
            rec = bytearray(rng.choice(records))
            if rng.random() < 0.5:
                rec[rng.randrange(len(rec))] = rng.randrange(256)
            out += rec
        elif kind < 0.65:  # tables of little-endian integers
            base = rng.randrange(1 << 20)
            out += b"".join((base + 4 * k).to_bytes(4, "little") for k in range(rng.randint(4, 40)))
        elif kind < 0.9:  # text (strings, resources)
            out += b" ".join(rng.choices(words, k=rng.randint(4, 30))) + b"\r\n"
        else:  # compressed or random material
            out += rng.randbytes(rng.randint(16, 256))
    return bytes(out[:size])


def make_delta(data: bytes, cache: Path | None) -> bytes:
    """A baseless PA30 delta with composite tables (4 segments) for ``data``, cached."""
    key = hashlib.sha256(data).hexdigest()[:16]
    path = cache / f"msdelta-bench-{key}.pa30" if cache else None
    if path is not None and path.exists():
        return path.read_bytes()
    from wimcore.packages import msdelta_encode as enc

    delta = enc.encode(data, b"", tables="composite", segments=4, hash_alg="sha256")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(delta)
    return delta


def run(size: int, rounds: int, cache: Path | None) -> dict[str, Any]:
    """Measure both decoders on ``size`` bytes; returns the report."""
    from wimcore.compression import Compressor, Decompressor
    from wimcore.packages import msdelta

    data = sample_data(size)
    t0 = time.perf_counter()
    delta = make_delta(data, cache)
    encode_s = time.perf_counter() - t0
    info = msdelta.info(delta)
    patch = delta[info.patch_offset:info.patch_offset + info.patch_size]
    if msdelta.apply(delta) != data:
        raise SystemExit("the delta does not decode to the data")
    native = msdelta._native()
    ffi, lib = native.ffi, native.lib
    window = bytearray(size)
    stats = ffi.new("msd_stats *")
    patch_p = ffi.from_buffer(patch)
    window_p = ffi.from_buffer(window, require_writable=True)

    chunk = min(size, LZX_CHUNK)
    comp = Compressor("lzx", chunk)
    lzx_chunks = []
    for at in range(0, size, chunk):
        piece = data[at:at + chunk]
        packed = comp.compress(piece)
        lzx_chunks.append((packed, len(piece)) if packed is not None else (None, len(piece)))
    comp.close()
    dec = Decompressor("lzx", chunk)
    out = bytearray(size)
    view = memoryview(out)

    def plzx() -> float:
        t = time.perf_counter()
        rc = lib.msd_pseudolzx_decode(patch_p, len(patch), window_p, size, 0, size, stats)
        elapsed = time.perf_counter() - t
        if rc != 0:
            raise SystemExit(f"PseudoLzx decode failed: {rc}")
        return elapsed

    def lzx() -> float:
        t = time.perf_counter()
        at = 0
        for packed, n in lzx_chunks:
            if packed is None:
                view[at:at + n] = data[at:at + n]
            else:
                dec.decompress_into(packed, view[at:at + n])
            at += n
        return time.perf_counter() - t

    def apply_api() -> float:
        t = time.perf_counter()
        msdelta.apply(delta)
        return time.perf_counter() - t

    plzx()
    lzx()
    times: dict[str, list[float]] = {"pseudolzx": [], "lzx": [], "apply": []}
    for _ in range(rounds):
        times["pseudolzx"].append(plzx())
        times["lzx"].append(lzx())
        times["apply"].append(apply_api())
    if bytes(window) != data or bytes(out) != data:
        raise SystemExit("a decoder produced different bytes")
    view.release()
    dec.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    mbps = {k: size / v / 1e6 for k, v in med.items()}
    return {
        "size": size, "rounds": rounds, "encode_seconds": round(encode_s, 2),
        "pseudolzx_patch_bytes": len(patch), "segments": int(stats.segments),
        "lzx_bytes": sum(len(p) if p is not None else n for p, n in lzx_chunks),
        "median_seconds": {k: round(v, 6) for k, v in med.items()},
        "mb_per_s": {k: round(v, 1) for k, v in mbps.items()},
        "ratio_pseudolzx_to_lzx": round(med["lzx"] / med["pseudolzx"], 3),
        "ratio_apply_to_lzx": round(med["lzx"] / med["apply"], 3),
        "goal": 0.5,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: measure and print the medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-kb", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = run(args.size_kb * 1024, args.rounds, None if args.no_cache else args.cache)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = report["mb_per_s"]
    print(f"target {report['size']} bytes, {report['rounds']} alternating rounds (medians)")
    print(f"  PseudoLzx (native/msdelta.c): {m['pseudolzx']:8.1f} MB/s  "
          f"(patch {report['pseudolzx_patch_bytes']} bytes, {report['segments']} segments)")
    print(f"  LZX (libwimlib):              {m['lzx']:8.1f} MB/s  "
          f"(compressed {report['lzx_bytes']} bytes)")
    print(f"  msdelta.apply (end to end):   {m['apply']:8.1f} MB/s")
    print(f"  ratio PseudoLzx / LZX: {report['ratio_pseudolzx_to_lzx']:.2f}x "
          f"(goal >= {report['goal']}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
