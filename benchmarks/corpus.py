"""The benchmark corpus: a deterministic directory tree shaped like the data WIMs hold.

Windows images are mostly executables and DLLs, some text (INF, manifests, XML),
data that is already compressed (CAB payloads, media) and many duplicated files
(WinSxS), which WIM stores once. The corpus mixes the same kinds from the host:

* ``bin/``   ELF executables and shared libraries from /usr/bin and /usr/lib;
* ``text/``  text files from /usr/include and /usr/share (topped up with generated text);
* ``gz/``    gzip files from /usr/share (topped up with gzip'd generated text);
* ``dup/``   byte-identical copies of files chosen above (WIM dedup);
* ``rand/``  a little seeded random data (incompressible, no dedup).

Selection is deterministic for a host, a size and a seed: candidates are sorted by
path, shuffled with ``random.Random(seed)`` and taken until each kind's quota is
full; when the host runs out of a kind, further passes copy the same files with a
pass-specific header so they no longer deduplicate. The tree is cached under the
output directory, keyed by size and seed, and reused while its manifest matches.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
CORPUS_VERSION = 1
# Share of the corpus per kind (sums to 1).
SHARES: dict[str, float] = {"bin": 0.50, "text": 0.20, "gz": 0.15, "dup": 0.10, "rand": 0.05}
BIN_ROOTS = ("/usr/bin", "/usr/lib")
TEXT_ROOTS = ("/usr/include", "/usr/share")
GZ_ROOTS = ("/usr/share",)


@dataclass(frozen=True)
class Corpus:
    """A built corpus: where its tree is, how big it is and what it holds."""

    root: Path
    total_bytes: int
    file_count: int
    bytes_by_kind: dict[str, int]
    seed: int

    @property
    def unique_bytes(self) -> int:
        """Bytes WIM must store once dedup has dropped the ``dup/`` copies."""
        return self.total_bytes - self.bytes_by_kind.get("dup", 0)


def _walk_sorted(root: str) -> Iterator[Path]:
    """Every regular, non-symlink file under ``root``, in sorted path order (lazily)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            try:
                if path.is_symlink() or not path.is_file():
                    continue
            except OSError:
                continue
            yield path


def _head(path: Path, size: int = 512) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _candidates(kind: str, max_file: int, quota: int) -> list[tuple[Path, int]]:
    """Host files of one kind, (path, size) of at most ``max_file`` bytes, sorted by path."""
    enough = max(8 * MiB, 20 * quota)
    enough = 1 << (enough - 1).bit_length()  # few distinct scan sizes: the cache is reused
    return [item for item in _scan(kind, enough) if item[1] <= max_file]


@functools.cache
def _scan(kind: str, enough: int) -> tuple[tuple[Path, int], ...]:
    """Host files of one kind up to 32 MiB, walking in path order until ``enough`` bytes.

    Stopping early keeps a small corpus fast to build (no walk of all of /usr/lib)
    while staying deterministic: the walk order is sorted.
    """
    max_file = 32 * MiB
    total = 0
    roots = {"bin": BIN_ROOTS, "text": TEXT_ROOTS, "gz": GZ_ROOTS}[kind]
    out: list[tuple[Path, int]] = []
    seen: set[tuple[int, int]] = set()
    for root in roots:
        if not os.path.isdir(root):
            continue
        for path in _walk_sorted(root):
            try:
                st = path.stat()
            except OSError:
                continue
            if not 1024 <= st.st_size <= max_file or (st.st_dev, st.st_ino) in seen:
                continue
            if not os.access(path, os.R_OK):
                continue
            if kind == "gz":
                ok = path.suffix == ".gz" and _head(path, 2) == b"\x1f\x8b"
            elif kind == "bin":
                ok = _head(path, 4) == b"\x7fELF"
            else:
                head = _head(path)
                ok = (path.suffix != ".gz" and b"\x00" not in head
                      and head[:4] != b"\x7fELF" and _is_texty(head))
            if ok:
                seen.add((st.st_dev, st.st_ino))
                out.append((path, st.st_size))
                total += st.st_size
                if total >= enough:
                    break
        if total >= enough:
            break
    out.sort(key=lambda item: str(item[0]))
    return tuple(out)


def _is_texty(head: bytes) -> bool:
    if not head:
        return False
    printable = sum(1 for b in head if 32 <= b < 127 or b in (9, 10, 13))
    return printable >= 0.95 * len(head)


def _generated_text(rng: random.Random, size: int) -> bytes:
    """Seeded text with a realistic vocabulary (manifest-like lines), ``size`` bytes."""
    words = [rng.randbytes(rng.randint(2, 7)).hex() for _ in range(2000)]
    lines: list[str] = []
    total = 0
    while total < size:
        line = (f'<file name="{rng.choice(words)}.dll" version="10.0.{rng.randint(1, 30000)}" '
                + " ".join(rng.choices(words, k=rng.randint(3, 12))) + "/>\r\n")
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def _dest_name(src: Path, pass_no: int) -> str:
    flat = str(src).strip("/").replace("/", "__")
    return flat if pass_no == 0 else f"p{pass_no}__{flat}"


def _copy_kind(kind: str, dest: Path, quota: int, rng: random.Random,
               max_file: int) -> list[Path]:
    """Copy host files of ``kind`` into ``dest`` until ``quota`` bytes; return what was written."""
    pool = _candidates(kind, max_file, quota)
    order = list(range(len(pool)))
    rng.shuffle(order)
    written: list[Path] = []
    total = 0
    pass_no = 0
    dest.mkdir(parents=True, exist_ok=True)
    while total < quota and pool:
        chosen = []
        for index in order:
            if total >= quota:
                break
            size = pool[index][1]
            if total + size > quota and total > 0 and size > quota // 4:
                continue
            chosen.append(index)
            total += size
        if not chosen:
            break
        for index in sorted(chosen, key=lambda i: str(pool[i][0])):
            src = pool[index][0]
            target = dest / _dest_name(src, pass_no)
            if pass_no == 0:
                shutil.copyfile(src, target)
            else:  # a pass-specific header keeps later passes from deduplicating
                header = hashlib.sha256(f"{pass_no}:{src}".encode()).digest()
                target.write_bytes(header + src.read_bytes())
            written.append(target)
        if total < quota and len(chosen) == len(pool):
            pass_no += 1
        else:
            break
    return written


def _top_up(kind: str, dest: Path, have: int, quota: int, rng: random.Random) -> list[Path]:
    """Generated files (text, or gzip'd text) for what the host could not supply."""
    written: list[Path] = []
    number = 0
    while have < quota:
        size = min(quota - have, max(4096, min(4 * MiB, quota // 8)))
        data = _generated_text(rng, size if kind == "text" else size * 4)
        if kind == "gz":
            data = gzip.compress(data, compresslevel=6, mtime=0)[:max(size, 64)]
        path = dest / f"generated-{number:05d}.{'txt' if kind == 'text' else 'gz'}"
        path.write_bytes(data)
        written.append(path)
        have += len(data)
        number += 1
    return written


def _file_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def build(out_dir: Path, size_mb: float, seed: int = 1) -> Corpus:
    """Build (or reuse) the corpus of about ``size_mb`` MiB for ``seed`` under ``out_dir``."""
    key = f"corpus-{size_mb:g}mb-seed{seed}-v{CORPUS_VERSION}"
    base = Path(out_dir) / key
    manifest = base / "manifest.json"
    root = base / "tree"
    if manifest.is_file() and root.is_dir():
        data = json.loads(manifest.read_text())
        return Corpus(root=root, total_bytes=data["total_bytes"], file_count=data["file_count"],
                      bytes_by_kind=data["bytes_by_kind"], seed=seed)
    if base.exists():
        shutil.rmtree(base)
    root.mkdir(parents=True)
    target = int(size_mb * MiB)
    max_file = max(64 * 1024, min(32 * MiB, target // 6))
    rng = random.Random(seed)
    by_kind: dict[str, list[Path]] = {}
    for kind in ("bin", "text", "gz"):
        quota = int(target * SHARES[kind])
        files = _copy_kind(kind, root / kind, quota, rng, max_file)
        if kind in ("text", "gz"):
            files += _top_up(kind, root / kind, _file_bytes(files), quota, rng)
        by_kind[kind] = files
    # Duplicates of files already in the tree, in a different folder (dedup, not hard links).
    dup_quota = int(target * SHARES["dup"])
    pool = sorted(by_kind["bin"] + by_kind["text"], key=str)
    rng.shuffle(pool)
    dup_dir = root / "dup"
    dup_dir.mkdir()
    dups: list[Path] = []
    have = 0
    for src in pool:
        if have >= dup_quota:
            break
        size = src.stat().st_size
        if have + size > dup_quota * 1.1 and have > 0:
            continue
        target_path = dup_dir / f"{src.parent.name}__{src.name}"
        shutil.copyfile(src, target_path)
        dups.append(target_path)
        have += size
    by_kind["dup"] = dups
    rand_dir = root / "rand"
    rand_dir.mkdir()
    rand_quota = int(target * SHARES["rand"])
    rands: list[Path] = []
    left, number = rand_quota, 0
    while left > 0:
        size = min(left, 8 * MiB)
        path = rand_dir / f"random-{number:04d}.bin"
        path.write_bytes(rng.randbytes(size))
        rands.append(path)
        left -= size
        number += 1
    by_kind["rand"] = rands
    bytes_by_kind = {kind: _file_bytes(files) for kind, files in by_kind.items()}
    corpus = Corpus(root=root, total_bytes=sum(bytes_by_kind.values()),
                    file_count=sum(len(f) for f in by_kind.values()),
                    bytes_by_kind=bytes_by_kind, seed=seed)
    manifest.write_text(json.dumps({"total_bytes": corpus.total_bytes,
                                    "file_count": corpus.file_count,
                                    "bytes_by_kind": bytes_by_kind, "seed": seed,
                                    "size_mb": size_mb}, indent=1))
    return corpus
