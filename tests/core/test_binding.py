"""The raw binding: the whole libwim API is declared, the library loads, errors are complete."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wimcore
from wimcore import _lib, errors
from wimcore._native import libwim_cdef

LIBWIM_SONAME = "libwim.so.15"


def _exported_functions() -> set[str]:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    import ctypes.util

    for cand in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                 "/usr/lib"):
        path = Path(cand) / LIBWIM_SONAME
        if path.exists():
            break
    else:
        found = ctypes.util.find_library("wim")
        if not found:
            pytest.skip("libwim.so.15 not found on disk")
        path = Path(found)
    out = subprocess.run([nm, "-D", "--defined-only", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if " T " in line}


def test_every_exported_function_is_declared() -> None:
    exported = {name for name in _exported_functions() if name.startswith("wimlib_")}
    assert len(exported) >= 71
    declared = set(re.findall(r"\b(wimlib_\w+)\s*\(", libwim_cdef.CDEF))
    missing = exported - declared
    assert not missing, f"exported by libwim but not declared: {sorted(missing)}"
    lib = _lib.lib()
    for name in exported:
        assert callable(getattr(lib, name))


def test_version_is_supported() -> None:
    major, minor, _patch = _lib.version()
    assert (major, minor) >= (1, 13)
    assert wimcore.libwimlib_version().startswith(f"{major}.{minor}")


def test_struct_layouts_match_the_c_header(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not Path("/usr/include/wimlib.h").exists():
        pytest.skip("needs a C compiler and libwim-dev's wimlib.h")
    probes = {
        "sizeof(struct wimlib_dir_entry)": ("struct wimlib_dir_entry", None),
        "sizeof(struct wimlib_wim_info)": ("struct wimlib_wim_info", None),
        "sizeof(union wimlib_progress_info)": ("union wimlib_progress_info", None),
        "sizeof(struct wimlib_update_command)": ("struct wimlib_update_command", None),
        "sizeof(struct wimlib_resource_entry)": ("struct wimlib_resource_entry", None),
        "offsetof(struct wimlib_dir_entry, streams)": ("struct wimlib_dir_entry", "streams"),
        "offsetof(struct wimlib_dir_entry, hard_link_group_id)":
            ("struct wimlib_dir_entry", "hard_link_group_id"),
        "offsetof(struct wimlib_progress_info_scan, num_bytes_scanned)":
            ("struct wimlib_progress_info_scan", "num_bytes_scanned"),
    }
    src = tmp_path / "probe.c"
    body = "".join(f'  printf("%zu\\n", (size_t){expr});\n' for expr in probes)
    src.write_text("#include <stdio.h>\n#include <stddef.h>\n#include <wimlib.h>\n"
                   f"int main(void) {{\n{body}  return 0;\n}}\n")
    exe = tmp_path / "probe"
    subprocess.run([cc, str(src), "-o", str(exe)], check=True)
    c_values = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True,
                                               check=True).stdout.split()]
    ffi = _lib.ffi()
    py_values = [ffi.sizeof(t) if f is None else ffi.offsetof(t, f) for t, f in probes.values()]
    assert py_values == c_values


def test_every_error_code_has_name_class_and_message() -> None:
    assert max(errors.ERROR_NAMES) == 91
    for code, name in errors.ERROR_NAMES.items():
        if code == 0:
            continue
        with pytest.raises(errors.WimlibError) as info:
            _lib.raise_for(code, path="/x.wim", image=2)
        err = info.value
        assert err.code == code
        assert err.name == f"WIMLIB_ERR_{name}"
        assert err.message and err.message != "Unknown error"
        assert "/x.wim" in str(err) and "image 2" in str(err) and err.name in str(err)
        assert isinstance(err, errors.error_class(code))
        assert type(err) is not errors.WimlibError, f"code {code} has no specific class"


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)


def test_missing_library_keeps_import_working_and_names_the_fix() -> None:
    proc = _run(
        "import wimcore\n"
        "try:\n"
        "    wimcore.create()\n"
        "except wimcore.LibraryNotFoundError as e:\n"
        "    print('ERR', e)\n",
        WIMCORE_LIBWIM="/nonexistent/libwim.so.15",
    )
    assert proc.returncode == 0, proc.stderr
    assert "ERR" in proc.stdout
    assert "apt-get install libwim15" in proc.stdout
    assert "WIMCORE_LIBWIM" in proc.stdout


def test_import_does_not_load_the_library() -> None:
    proc = _run("import sys, wimcore; print('wimcore._native.libwim' in sys.modules, "
                "'cffi' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_env_override_loads_the_named_library() -> None:
    import ctypes.util

    found = ctypes.util.find_library("wim")
    if not found:
        pytest.skip("cannot locate libwim for the override test")
    proc = _run("import wimcore; print(wimcore.libwimlib_version())", WIMCORE_LIBWIM=found)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("1.")
