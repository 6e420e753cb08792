"""``pip install`` of the built wheel into a fresh venv outside the repository gives a working
``wimcore``. Offline: the wheel is built with this environment's setuptools, and the new venv
takes its dependencies (cffi, click, ...) from this environment's site-packages."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import REPO, make_tree


def test_wheel_installs_and_runs_outside_the_repository(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(REPO)], check=True,
                   capture_output=True, cwd=tmp_path)
    wheel = next(wheels.glob("wimcore-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   cwd=tmp_path)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True,
                          cwd=tmp_path).stdout.strip()
    # Dependencies from this environment, after the wheel's own files in the search path.
    (Path(site) / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    exe = venv / "bin" / "wimcore"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                             cwd=tmp_path, env=env, check=False)
    assert version.returncode == 0 and "libwimlib 1." in version.stdout, version.stderr
    where = subprocess.run([str(python), "-c", "import wimcore; print(wimcore.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert where.stdout.startswith(str(venv)), where.stdout
    src = make_tree(tmp_path / "src", files=6)
    cap = subprocess.run([str(exe), "capture", str(src), "t.wim", "--compress=xpress"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert cap.returncode == 0, cap.stderr
    info = subprocess.run([str(exe), "info", "t.wim"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, check=False)
    assert "Image Count:    1" in info.stdout and "Name:                   src" in info.stdout
    # The wheel carries wimcore's own compiled MSDelta loops (cffi API mode, built by pip).
    native = subprocess.run([str(python), "-c", "from wimcore.packages import msdelta; "
                             "print(msdelta.native_available(), msdelta._native().__file__)"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert native.stdout.startswith(f"True {venv}"), (native.stdout, native.stderr)
