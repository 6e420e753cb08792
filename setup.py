"""Build hook for the one compiled part of wimcore: the MSDelta decoding loops (cffi API mode).

Everything else is declared in pyproject.toml; this file only adds ``cffi_modules``.
"""

from setuptools import setup

setup(cffi_modules=["native/msdelta_build.py:ffibuilder"])
