"""The raw libmspack binding: loading, self-test, constants and the one error gate."""

from __future__ import annotations

import pytest

from wimcore.packages import _mspack
from wimcore.packages.errors import (
    CabinetArgumentError,
    CabinetError,
    CabinetIOError,
    CorruptCabinetError,
    cabinet_error_class,
)


def test_library_loads_and_self_tests() -> None:
    ffi, lib = _mspack.binding()
    assert lib.mspack_sys_selftest_internal(ffi.sizeof("off_t")) == lib.MSPACK_ERR_OK
    assert lib.mspack_version(lib.MSPACK_VER_MSCABD) >= 1
    assert lib.MSCAB_ATTRIB_UTF_NAME == 0x80
    assert lib.MSCABD_PARAM_SALVAGE == 3


@pytest.mark.parametrize("name", ["_libwim_abi", "_mspack_abi", "_hivex_abi", "_libxml2_abi"])
def test_generated_ffi_is_current(name: str) -> None:
    from pathlib import Path

    from wimcore._native import prebuild

    def body(text: str) -> list[str]:  # the cffi format version line may differ by release
        return [ln for ln in text.splitlines() if "_version" not in ln]

    committed = Path(prebuild.__file__).with_name(f"{name}.py").read_text()
    assert body(committed) == body(prebuild.generate(name)), "run: python native/prebuild.py"


@pytest.mark.parametrize(("code", "cls"), [
    (7, CorruptCabinetError), (8, CorruptCabinetError), (11, CorruptCabinetError),
    (2, CabinetIOError), (4, CabinetIOError), (1, CabinetArgumentError), (99, CabinetError),
])
def test_error_gate_maps_codes(code: int, cls: type[CabinetError]) -> None:
    assert cabinet_error_class(code) is cls
    with pytest.raises(cls) as info:
        _mspack.check(code, path="x.cab", member="m")
    assert info.value.code == code
    assert "x.cab: m:" in str(info.value)
    assert _mspack.check(0) == 0


def test_missing_library_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import cffi

    from wimcore._native.loader import NativeLibraryError, open_library
    from wimcore._native.mspack import INSTALL_HINT

    monkeypatch.setenv("WIMCORE_LIBMSPACK", "/nonexistent/libmspack.so.0")
    with pytest.raises(NativeLibraryError) as info:
        open_library(cffi.FFI(), env_var="WIMCORE_LIBMSPACK", names={"linux": []},
                     find_name="mspack", install_hint=INSTALL_HINT)
    assert "apt-get install libmspack0" in str(info.value)
    assert "WIMCORE_LIBMSPACK" in str(info.value)
