"""Write seed inputs for the libFuzzer harness (fuzz_msdelta.c) from the project's encoder.

Each seed is: reference length (1 byte), target length (2 bytes LE), patch buffer, reference.
Run from the repository root: ``python native/fuzz/make_corpus.py``
(writes native/fuzz/build/corpus).
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

from wimcore.packages import msdelta, msdelta_encode


def main() -> None:
    out = Path(__file__).parent / "build" / "corpus"
    out.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(11)
    n = 0
    for ref_len in (0, 40, 200):
        for tables, segments in (("flat", 1), ("composite", 1), ("composite", 3)):
            source = rnd.randbytes(ref_len)
            target = (source[10:150] + b"seed " * 40 + rnd.randbytes(60)) * 3
            delta = msdelta_encode.encode(target, source, tables=tables, segments=segments,
                                          hash_alg="none")
            info = msdelta.info(delta)
            patch = delta[info.patch_offset:info.patch_offset + info.patch_size]
            seed = struct.pack("<BH", ref_len, len(target)) + patch + source
            (out / f"seed{n:02d}").write_bytes(seed)
            n += 1
    print(f"wrote {n} seeds to {out}")


if __name__ == "__main__":
    main()
