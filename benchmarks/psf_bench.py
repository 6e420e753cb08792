"""Benchmark: a synthetic express payload (PSF + CIX) of a given size, then its expansion.

The generator writes the PSF streamed through :class:`wimcore.packages.psf_writer.PsfWriter`
(memory stays flat however large the PSF): 95 % RAW spans of random data and 5 % delta
spans, half PA30/PseudoLzx (composite tables) and half PA31/LZMS as 24H2 ships them (all
labelled ``PA30`` in the index). The pure-Python encoder is slow, so a small pool of
distinct deltas is encoded once and written again for every delta file; each span is still
decoded on its own at expansion. Expansion runs in a child process (wall time, peak RSS
from ``os.wait4``) through ``wimcore.packages.express`` (``parse_index`` + ``expand_psf``,
every span and file checked); when the expansion fails, the generator's output is kept
and the report says so.

    python benchmarks/psf_bench.py                     # 1 GiB, expand once
    python benchmarks/psf_bench.py --size-mb 64 --keep out/ --json
    python benchmarks/psf_bench.py --wimcore-path ../wt-shapes   # another branch's expander
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PSF_NAME = "Windows11.0-KB5099999-x64.psf"
CIX_NAME = "express.psf.cix.xml"
FILETIME_2026 = 134_120_000_000_000_000

EXPAND_CHILD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from wimcore.packages import express\n"
    "psf, cix, out = map(Path, sys.argv[1:4])\n"
    "t = time.perf_counter()\n"
    "files = express.parse_index(cix.read_bytes())\n"
    "express.expand_psf(files, psf, out)\n"
    "print(f'operation-seconds {time.perf_counter() - t:.6f}', file=sys.stderr)\n"
)


def _text(rng: random.Random, size: int) -> bytes:
    words = [rng.randbytes(rng.randint(2, 9)).hex().encode() for _ in range(400)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=64)) + b"\r\n"
    return bytes(out[:size])


def delta_pool(rng: random.Random, n: int = 8) -> list[tuple[bytes, int, str]]:
    """``n`` distinct delta blobs (blob, target length, target SHA-256), half of each codec."""
    from wimcore.packages import msdelta_encode as enc

    pool = []
    for k in range(n):
        if k % 2:
            target = _text(rng, 1024 * 1024)
            blob = enc.encode(target, magic="PA31", codec="lzms", crc_prefix=k % 4 == 3)
        else:
            target = _text(rng, 96 * 1024)
            blob = enc.encode(target, magic="PA30", tables="composite", segments=2)
        pool.append((blob, len(target), hashlib.sha256(target).hexdigest()))
    return pool


def generate(folder: Path, size: int, *, delta_share: float = 0.05,
             seed: int = 20260101) -> dict[str, Any]:
    """Write ``folder/PSF_NAME`` of about ``size`` bytes and ``folder/CIX_NAME``."""
    from wimcore.packages.psf_writer import PsfWriter

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pool = delta_pool(rng)
    psf_path = folder / PSF_NAME
    tmp = psf_path.with_suffix(".tmp")
    raw_bytes = delta_out = delta_files = raw_files = 0
    start = time.perf_counter()
    with open(tmp, "wb") as f:
        w = PsfWriter(f)
        while w.size < size:
            n = len(w.entries)
            comp = f"amd64_component{n % 97:02d}_31bf3856ad364e35_10.0.26100.{n % 5000}_none"
            if delta_out < delta_share * max(w.size, 1):
                blob, length, sha = pool[n % len(pool)]
                w.add_encoded(f"{comp}\\f\\delta{n:06d}.dll", blob, length, sha,
                              time=FILETIME_2026)
                delta_out += len(blob)
                delta_files += 1
            else:
                length = min(rng.randint(16 * 1024, 4 * 1024 * 1024), size - w.size + 1)
                chunks = (rng.randbytes(min(1 << 20, length - at))
                          for at in range(0, length, 1 << 20))
                w.add_raw_chunks(f"{comp}\\n\\file{n:06d}.bin", chunks, time=FILETIME_2026)
                raw_bytes += length
                raw_files += 1
        cix = w.cix(PSF_NAME)
    os.replace(tmp, psf_path)
    (folder / CIX_NAME).write_bytes(cix)
    return {"psf": str(psf_path), "psf_bytes": psf_path.stat().st_size,
            "raw_files": raw_files, "raw_bytes": raw_bytes, "delta_files": delta_files,
            "delta_span_bytes": delta_out, "generate_seconds": time.perf_counter() - start}


def expand_once(folder: Path, out: Path, wimcore_path: Path | None = None) -> dict[str, Any]:
    """Expand in a child: wall time, peak RSS, or why expansion could not run.

    ``wimcore_path``: a checkout whose ``wimcore`` the child imports (another branch's).
    """
    argv = [sys.executable, "-c", EXPAND_CHILD, str(folder / PSF_NAME),
            str(folder / CIX_NAME), str(out)]
    env = dict(os.environ)
    if wimcore_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(wimcore_path),
                                                          env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                cwd=folder)  # not this checkout: "-c" puts the cwd first
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        text = err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    if code != 0:
        last = text.strip().splitlines()[-1] if text.strip() else f"exit {code}"
        return {"expanded": False, "reason": last[:300]}
    op = next((float(line.split()[1]) for line in text.splitlines()
               if line.startswith("operation-seconds ")), None)
    missing, wrong = verify(folder, out)
    if missing or wrong:  # an expander that skips deltas must not be timed as if it worked
        return {"expanded": False, "wall_seconds": wall, "peak_rss_bytes": rss,
                "reason": f"{missing} file(s) missing, {wrong} with a wrong SHA-256"}
    return {"expanded": True, "wall_seconds": wall, "operation_seconds": op,
            "peak_rss_bytes": rss}


def verify(folder: Path, out: Path) -> tuple[int, int]:
    """Count the index's files missing under ``out`` and those whose SHA-256 differs."""
    from wimcore.xmlsafe import local, parse_xml

    missing = wrong = 0
    for node in parse_xml((folder / CIX_NAME).read_bytes(), source=CIX_NAME).iter():
        if local(node.tag) != "File":
            continue
        path = out.joinpath(*(node.get("name") or "").split("\\"))
        want = next(h.get("value") for h in node if local(h.tag) == "Hash")
        if not path.is_file():
            missing += 1
            continue
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        wrong += h.hexdigest().upper() != (want or "").upper()
    return missing, wrong


def main(argv: list[str] | None = None) -> int:
    """Command line: generate, expand, report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=float, default=1024.0)
    ap.add_argument("--delta-share", type=float, default=0.05)
    ap.add_argument("--keep", type=Path, help="write here and keep (default: a temp dir)")
    ap.add_argument("--no-expand", action="store_true", help="only generate")
    ap.add_argument("--wimcore-path", type=Path,
                    help="expand with the wimcore package of this checkout")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="psf-bench-"))
    try:
        report = generate(work, int(args.size_mb * 1024 * 1024), delta_share=args.delta_share)
        if not args.no_expand:
            out = work / "expanded"
            shutil.rmtree(out, ignore_errors=True)
            report["expand"] = expand_once(work, out, args.wimcore_path)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
