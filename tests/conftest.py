"""Shared fixtures: small generated trees and WIMs captured with the real libwimlib."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A file of the project's shared data (``../shared``); skip when it is absent (a skip
    that fails the run in CI, see :func:`pytest_runtest_makereport`)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (clone the project's shared folder "
                    f"beside the repository)")
    return path


# -- skips in CI ------------------------------------------------------------------------------
# Locally a test may skip when something it needs is missing (and says what). In CI (the
# environment variable CI set, as .ci/run does) scripts/setup.sh has installed everything, so
# a skip means part of the suite silently did not run: it fails instead, unless it is one of
# these, each a condition no set-up can provide. (node id prefix, text in the reason, why)
CI_ALLOWED_SKIPS: tuple[tuple[str, str, str], ...] = (
    ("tests/reliability/test_nothing_lost.py::test_tmpfs_full", "needs root",
     "mounting a small tmpfs needs root; CI runs as root, where the test runs"),
)


def in_ci() -> bool:
    """True when the environment variable CI is set to anything but "", 0, false or no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def ci_allows_skip(nodeid: str, reason: str) -> bool:
    """Whether a skip with this reason is one of the named exceptions of CI_ALLOWED_SKIPS."""
    return any(nodeid.startswith(prefix) and text in reason
               for prefix, text, _why in CI_ALLOWED_SKIPS)


def _fail_skip_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report.longrepr)
    if ci_allows_skip(report.nodeid, reason):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped in CI: {reason}\n(CI={os.environ.get('CI')}: scripts/setup.sh "
                       f"provides what the suite needs, so a skip here is a failure; see "
                       f"CI_ALLOWED_SKIPS in tests/conftest.py and docs/guide/testing.md)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, Any, None]:
    """In CI, a test that skips (outside CI_ALLOWED_SKIPS) is reported as failed."""
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    """In CI, a module that skips as a whole (outside CI_ALLOWED_SKIPS) fails to collect."""
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


def make_tree(root: Path, *, seed: int = 1, files: int = 24, max_size: int = 40_000) -> Path:
    """A deterministic tree of text, random and duplicate files in a few folders."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    dirs = [root, root / "Windows", root / "Windows" / "System32", root / "Program Files" / "App",
            root / "empty"]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    shared_blob = rng.randbytes(5000)
    for i in range(files):
        d = dirs[i % 4]
        kind = i % 3
        if kind == 0:
            data = (f"line {i} of a text file\n" * rng.randint(1, 200)).encode()
        elif kind == 1:
            data = rng.randbytes(rng.randint(0, max_size))
        else:
            data = shared_blob  # duplicates: one blob in the WIM
        (d / f"file{i:03d}.{['txt', 'bin', 'dll'][kind]}").write_bytes(data)
    (root / "zero.txt").write_bytes(b"")
    return root


def tree_digest(root: Path) -> dict[str, str | None]:
    """Relative path -> sha1 (None for directories)."""
    out: dict[str, str | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for d in dirnames:
            out[str(rel / d)] = None
        for f in filenames:
            out[str(rel / f)] = hashlib.sha1((Path(dirpath) / f).read_bytes()).hexdigest()
    return out


def imagex(*args: str | os.PathLike[str], check: bool = True) -> str:
    """Run wimlib-imagex (the independent C tool) and return its stdout."""
    exe = shutil.which("wimlib-imagex")
    if exe is None:
        pytest.skip("wimlib-imagex is not installed (apt-get install wimtools)")
    proc = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"wimlib-imagex {args} failed: {proc.stderr}")
    return proc.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small generated source tree."""
    return make_tree(tmp_path / "tree")


@pytest.fixture
def make_wim(tmp_path: Path) -> Callable[..., Path]:
    """Capture trees into a new WIM with the real libwimlib (through wimcore)."""
    import wimcore

    def _make(name: str = "test.wim", *, images: int = 1, compression: str = "lzx",
              seed: int = 1, files: int = 24) -> Path:
        path = tmp_path / name
        with wimcore.create(compression) as wim:
            for i in range(images):
                src = make_tree(tmp_path / f"src-{name}-{i}", seed=seed + i, files=files)
                wim.add_image(src, f"Image {i + 1}", description=f"test image {i + 1}")
            wim.write(path)
        return path

    return _make


def sha256(path: str | Path) -> str:
    """Digest of a whole file, to prove it is byte-identical."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def sample_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample media, built once (read-only by convention: copy it before changing)."""
    from wimcore.media.sample import create_sample

    return create_sample(tmp_path_factory.mktemp("sample") / "media", seed=0)


@pytest.fixture
def media(sample_master: Path, tmp_path: Path) -> Path:
    """A private copy of the sample media (timestamps kept)."""
    dest = tmp_path / "media"
    shutil.copytree(sample_master, dest, copy_function=shutil.copy2)
    return dest


def tree_hashes(root: Path) -> dict[str, tuple[str, int]]:
    """{relative path: (sha1, mtime_ns)} of every file under root."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = (hashlib.sha1(p.read_bytes()).hexdigest(),
                                                  p.stat().st_mtime_ns)
    return out
