"""Crash-safe outputs: write beside the target under a temporary name, rename when complete,
and an advisory lock that keeps two writers off the same WIM."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wimcore import interrupts, ledger, stagehook
from wimcore.errors import DestinationExistsError, LockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

TEMP_MARK = ".wimcore-tmp"

#: A temporary name of ours: ``.NAME[.PID][.RANDOM].wimcore-tmp`` (``-part``, ``-split``
#: for partial files and split work folders): NAME is the final name the user asked for.
_TEMP_NAME = re.compile(r"(?:(?<=/)|(?<![^\s'\"(]))\.(?P<name>[^/'\"]+?)\.(?:\d+\.)?"
                        r"(?:[0-9A-Za-z_]{6,16}\.)?wimcore-(?:tmp|part|split)\b")


def final_names(text: str) -> str:
    """``text`` with each temporary name of ours replaced by the final name it stands for
    (users never see ``.adir.4711.0a1b2c3d.wimcore-tmp``, only ``adir``)."""
    return _TEMP_NAME.sub(lambda m: m.group("name"), text)


def name_paths(exc: BaseException, replacements: list[tuple[str, str]]) -> None:
    """Tell the error handler to show ``new`` wherever ``exc``'s message names ``old``
    (a temporary name, a folder already removed); kept on ``exc.path_names``."""
    try:
        known: list[tuple[str, str]] = getattr(exc, "path_names", [])
        exc.path_names = [*known, *replacements]  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # pragma: no cover - exceptions without a __dict__
        pass


def sweep_stale(dest: Path) -> list[Path]:
    """Remove temporary files for ``dest`` left by processes that no longer exist (killed).

    Only names of our own pattern, whose writer PID is gone, are touched.
    """
    removed: list[Path] = []
    prefix = f".{dest.name}."
    try:
        candidates = [p for p in dest.parent.iterdir()
                      if p.name.startswith(prefix) and p.name.endswith(TEMP_MARK)]
    except OSError:
        return removed
    for path in candidates:
        pid_text = path.name[len(prefix):-len(TEMP_MARK)].split(".")[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this host (ours included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_path_for(dest: Path) -> Path:
    """A unique hidden temporary name in the target's folder (same file system: rename works)."""
    return dest.parent / f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_MARK}"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish(tmp: Path, dest: Path, *, overwrite: bool, fsync: bool = True) -> None:
    """Move a complete temporary file to its final name (no-clobber unless overwrite).

    ``fsync=False`` (the callers' ``fsync=False``, as wimlib-imagex) skips flushing the
    file's data first; the rename itself stays atomic.
    """
    if fsync:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    stagehook.stage("publish")
    with interrupts.deferred():  # the rename and its record in the ledger: both or neither
        _rename_into_place(tmp, dest, overwrite=overwrite)
    _fsync_dir(dest.parent)


def _rename_into_place(tmp: Path, dest: Path, *, overwrite: bool) -> None:
    existed = overwrite and dest.exists()
    if overwrite:
        os.replace(tmp, dest)
    else:
        try:
            os.link(tmp, dest)  # atomic no-clobber on POSIX file systems
        except FileExistsError:
            raise DestinationExistsError(str(dest)) from None
        except OSError:
            if dest.exists():
                raise DestinationExistsError(str(dest)) from None
            os.replace(tmp, dest)
        else:
            os.unlink(tmp)
    ledger.note_changed(dest, how="replaced" if existed else "written")


@contextmanager
def atomic_output(dest: str | os.PathLike[str], *, overwrite: bool = False,
                  fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; publish it as ``dest`` only if the block succeeds."""
    target = Path(dest).absolute()
    if not overwrite and target.exists():
        raise DestinationExistsError(str(target))
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent}: the destination folder does not exist")
    sweep_stale(target)
    tmp = temp_path_for(target)
    try:
        yield tmp
        publish(tmp, target, overwrite=overwrite, fsync=fsync)
    except BaseException as exc:
        name_paths(exc, [(str(tmp), str(target))])
        raise
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _mark_partial(exc: BaseException, where: Path) -> None:
    try:
        exc.partial_output = str(where)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # pragma: no cover - exceptions without a __dict__
        pass


@contextmanager
def staged_directory(dest: str | os.PathLike[str], *, stage: bool = True) -> Iterator[Path]:
    """Yield the directory to extract into, so that a failure leaves nothing half-made.

    When ``dest`` does not exist, the files go into a hidden sibling
    (``.NAME.PID.RANDOM.wimcore-tmp``) renamed to ``dest`` only on success; a failure,
    cancel or Ctrl-C removes it, and one left by a killed process is swept by the next
    run. With ``stage=False`` (extractions that must know their final path) ``dest`` is
    created and removed again on failure, which a SIGKILL cannot do. When ``dest``
    already exists, files are written into it and an exception gets ``partial_output``
    naming the directory, because what was extracted before the failure remains.
    """
    target = Path(dest).absolute()
    if target.is_dir():
        try:
            yield target
        except BaseException as exc:
            _mark_partial(exc, target)
            ledger.note_maybe_changed(target, how="partial files may remain")
            raise
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if not stage:
        target.mkdir()
        try:
            yield target
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return
    sweep_stale(target)
    tmp = temp_path_for(target)
    tmp.mkdir()
    try:
        yield tmp
        stagehook.stage("publish-dir")
        with interrupts.deferred():
            os.rename(tmp, target)
            ledger.note_changed(target, how="written")
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        name_paths(exc, [(str(tmp), str(target))])
        raise
    _fsync_dir(target.parent)


class WriterLock:
    """An exclusive advisory lock (flock) on a WIM file, held while it is open for writing."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise LockedError at once (never waits)."""
        if fcntl is None or self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LockedError(1, "The WIM is already locked for writing by another process",
                              path=self.path) from None
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None
