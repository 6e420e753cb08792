"""Raw cffi (ABI mode) bindings to libwim, libmspack and libhivex.

Installed as ``wimcore._native``. Nothing here is friendly: declarations, library
loading and nothing else. Only the core (``wimcore``) and the package layer's own
binding modules import from here.
"""
