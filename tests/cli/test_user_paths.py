"""No internal temporary name, and no folder already removed, reaches a user's message.

Errors raised while writing under a temporary name (``.NAME.PID.RANDOM.wimcore-tmp``)
are shown with the final name the user asked for; a media run's work folder, removed
after a failed run, is named as such.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wimcore.atomic import atomic_output, final_names, staged_directory, temp_path_for
from wimcore.cli.errors import describe


def test_staged_directory_error_names_the_final_folder(tmp_path: Path) -> None:
    dest = tmp_path / "adir"
    with pytest.raises(IsADirectoryError) as err:
        with staged_directory(dest) as tmp:
            assert tmp != dest and ".wimcore-tmp" in tmp.name
            open(tmp, "rb")  # a real error that names the temporary folder
    assert ".wimcore-tmp" in str(err.value)  # the raw error does name it...
    message, _ = describe(err.value)
    assert ".wimcore-tmp" not in message  # ...the user's line does not
    assert message.startswith(f"{dest}: Is a directory")
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_atomic_output_error_names_the_final_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.wim"
    with pytest.raises(FileNotFoundError) as err:
        with atomic_output(dest) as tmp:
            (tmp / "x").write_bytes(b"")  # the temporary file is no folder: ENOENT
    message, _ = describe(err.value)
    assert ".wimcore-tmp" not in message and str(dest) in message


def test_final_names_of_every_temporary_shape(tmp_path: Path) -> None:
    for name in ("adir", "install.wim", "my media.iso"):
        tmp = temp_path_for(tmp_path / name)
        assert final_names(f"{tmp}: Is a directory") == f"{tmp_path / name}: Is a directory"
    assert final_names("/m/sources/.boot.wim.0a1b2c3d.wimcore-tmp: x") == "/m/sources/boot.wim: x"
    assert final_names("/v/.winpe.iso.k2_x9q1z.wimcore-tmp") == "/v/winpe.iso"
    assert final_names("nothing temporary here") == "nothing temporary here"
    assert final_names("/x/.a.cab.7f3a9c2b1d0e.wimcore-part: No space left on device") == \
        "/x/a.cab: No space left on device"
    assert final_names("/x/.b.psf.4711.wimcore-part") == "/x/b.psf"
    assert final_names("/x/.p.swm.ab_cd123.wimcore-split/p2.swm") == "/x/p.swm/p2.swm"


def test_removed_work_folder_is_named_as_removed(media: Path, tmp_path: Path) -> None:
    """A media run that fails after its work folder was made: the message does not send
    the user to a folder that no longer exists."""
    from wimcore.media.pipeline import ServiceOptions, service

    bad = tmp_path / "updates"
    bad.mkdir()
    (bad / "broken.cab").write_bytes(b"MSCF" + b"\x00" * 60)
    work = tmp_path / "w"
    with pytest.raises(Exception) as err:
        service(media, bad, ServiceOptions(work_dir=work, backend="staged"))
    names = dict(getattr(err.value, "path_names", []))
    runs = [Path(p) for p in names if Path(p).parent == work]
    assert len(runs) == 1 and not runs[0].exists() and not work.exists()
    from wimcore.cli.errors import _user_paths

    shown = _user_paths(err.value, f"{runs[0]}/install.wim: Is a directory")
    assert str(work) not in shown and "removed after the run" in shown
    assert "--keep-work keeps it" in shown
