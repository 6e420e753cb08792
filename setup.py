"""Build hook for the one compiled part of wimcore: the MSDelta decoding loops (cffi API mode).

Everything else is declared in pyproject.toml; this file adds ``cffi_modules`` and makes the
module optional: on a host without a C compiler (or Python headers) the install still
succeeds, wimcore works, and decoding a delta raises DeltaDecoderUnavailableError saying
how to build it. Set ``WIMCORE_REQUIRE_NATIVE=1`` to make a failed build fail the install.
"""

import os

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that reports, instead of failing on, a module that cannot be compiled."""

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # a missing or failing compiler, missing headers
            if os.environ.get("WIMCORE_REQUIRE_NATIVE"):
                raise
            print(f"wimcore: WARNING: {ext.name} (the MSDelta decoder) was not built: {exc}. "
                  "Install gcc and the Python headers (python3-dev), then reinstall.")


setup(cffi_modules=["native/msdelta_build.py:ffibuilder"],
      cmdclass={"build_ext": OptionalBuildExt})
