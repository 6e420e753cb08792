"""Raw compressor throughput: wimcore.Compressor against libwimlib driven from C.

Both sides compress the same in-memory sample, block by block, in the same loop
(``harness/compress_bench.c`` and ``child._compress_loop``), each in a child
process of its own, alternating C and Python. The figure compared is the
in-process throughput (uncompressed bytes per second of compression calls), so
the difference is the cost of calling libwimlib through cffi from Python.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.corpus import Corpus
from benchmarks.runner import run

CODEC_NUMBER = {"xpress": 1, "lzx": 2, "lzms": 3}
# Largest block each codec accepts in libwimlib (bigger ones are skipped).
MAX_BLOCK = {"xpress": 1 << 16, "lzx": 1 << 21, "lzms": 1 << 30}
BLOCK_SIZES = (4096, 32768, 65536, 1 << 20)


@dataclass
class CompressorResult:
    """Throughput of one codec and block size on both sides (medians of the runs)."""

    codec: str
    block: int
    c_mb_s: list[float]
    py_mb_s: list[float]
    ratio: float  # compressed / uncompressed, from the last pass

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping with medians and the Python/C percentage."""
        c, py = statistics.median(self.c_mb_s), statistics.median(self.py_mb_s)
        return {"codec": self.codec, "block": self.block, "c_mb_s": self.c_mb_s,
                "py_mb_s": self.py_mb_s, "c_median_mb_s": c, "py_median_mb_s": py,
                "py_percent_of_c": 100.0 * py / c if c else None,
                "compression_ratio": self.ratio}


def make_sample(corpus: Corpus, path: Path, size: int) -> Path:
    """A deterministic sample of the corpus: slices of binaries, text and gzip files in turn."""
    if path.is_file() and path.stat().st_size == size:
        return path
    kinds = {k: sorted((corpus.root / k).iterdir()) for k in ("bin", "text", "gz")
             if (corpus.root / k).is_dir()}
    pattern = [k for k in ("bin", "bin", "text", "gz") if kinds.get(k)]
    cursor = dict.fromkeys(kinds, 0)
    data = bytearray()
    step = 0
    while len(data) < size and pattern:
        kind = pattern[step % len(pattern)]
        files = kinds[kind]
        data += files[cursor[kind] % len(files)].read_bytes()[:256 * 1024]
        cursor[kind] += 1
        step += 1
    path.write_bytes(bytes(data[:size]))
    return path


def bench(*, python: str, c_binary: Path, sample: Path, work: Path, env: dict[str, str],
          launcher: Path | None, runs: int, min_seconds: float,
          log: Callable[[str], None] = print) -> list[CompressorResult]:
    """Alternate C and Python runs for every codec and block size."""
    results: list[CompressorResult] = []
    work.mkdir(parents=True, exist_ok=True)
    out = work / "compress.out"
    for codec, number in CODEC_NUMBER.items():
        for block in BLOCK_SIZES:
            if block > MAX_BLOCK[codec]:
                continue
            c_cmd = [str(c_binary), str(number), str(block), "0", str(sample), str(min_seconds)]
            spec = {"op": "compress", "sample": str(sample), "codec": codec, "block": block,
                    "level": 0, "min_seconds": min_seconds}
            py_cmd = [python, "-m", "benchmarks.child", json.dumps(spec)]
            c_rates: list[float] = []
            py_rates: list[float] = []
            ratio = 0.0
            for _ in range(runs):
                for cmd, rates in ((c_cmd, c_rates), (py_cmd, py_rates)):
                    inner = run(cmd, stdout_path=out, env=env, launcher=launcher).inner
                    rates.append(inner["bytes_in"] / inner["seconds"] / 1e6)
                    ratio = inner["bytes_out"] / (inner["bytes_in"] / inner["passes"])
            result = CompressorResult(codec, block, c_rates, py_rates, ratio)
            results.append(result)
            d = result.to_dict()
            log(f"  compressor {codec:6s} {block:>8d} B: C {d['c_median_mb_s']:7.1f} MB/s, "
                f"wimcore {d['py_median_mb_s']:7.1f} MB/s ({d['py_percent_of_c']:.1f} %)")
    return results
