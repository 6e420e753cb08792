"""cffi build script (API mode, out-of-line) for wimcore's own MSDelta decoding loops.

``setup.py`` names it in ``cffi_modules``, so ``pip install .`` (editable or not) and a
wheel build compile ``native/msdelta.c`` into the extension ``wimcore._native._msdelta``.
By hand, from the repository root: ``python native/msdelta_build.py`` (builds in place).
"""

from __future__ import annotations

from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent

#: The C declarations Python sees (a subset of msdelta.h, in cffi's dialect).
CDEF = """
#define MSD_OK 0
#define MSD_ERR_ARGS 1
#define MSD_ERR_TRUNCATED 2
#define MSD_ERR_RIFT 3
#define MSD_ERR_TABLE 4
#define MSD_ERR_SEGMENTS 5
#define MSD_ERR_DISTANCE 6
#define MSD_ERR_OVERRUN 7
#define MSD_ERR_SYMBOL 8
#define MSD_ERR_LENGTH 9
#define MSD_ERR_NOMEM 10
#define MSD_MAX_SEGMENTS ...

typedef struct msd_stats {
    uint64_t bits_total;
    uint64_t bits_read;
    uint64_t literals;
    uint64_t matches;
    uint32_t segments;
    uint32_t flat;
} msd_stats;

int msd_pseudolzx_decode(const uint8_t *patch, size_t patch_len, uint8_t *window,
                         size_t window_len, size_t ref_len, size_t target_len,
                         msd_stats *stats);
size_t msd_e8_undo(uint8_t *buf, size_t len);
const char *msd_strerror(int code);
"""

ffibuilder = cffi.FFI()
ffibuilder.cdef(CDEF)
# Paths relative to the project root (where setup.py runs), as setuptools requires.
ffibuilder.set_source(
    "wimcore._native._msdelta",
    '#include "msdelta.h"',
    sources=["native/msdelta.c"],
    include_dirs=["native"],
    extra_compile_args=["-std=c99", "-O2"],
)

if __name__ == "__main__":
    import os

    os.chdir(HERE.parent)
    ffibuilder.compile(tmpdir=str(HERE.parent), verbose=True)
