"""Property tests: random trees and random add/delete/rename sequences against a plain model."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wimcore
from tests.conftest import tree_digest

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=12).filter(
    lambda n: n not in {".", ".."})

# A tree: mapping of relative path -> bytes (files) or None (directories).
TREES = st.dictionaries(
    keys=st.lists(NAMES, min_size=1, max_size=3).map(tuple),
    values=st.one_of(st.none(), st.binary(max_size=3000)),
    max_size=12,
)

Model = dict[str, "bytes | None"]


def normalise(raw: dict[tuple[str, ...], bytes | None]) -> Model:
    """Make a consistent tree: parents are directories; a path is either a file or a dir."""
    model: Model = {}
    for parts, data in sorted(raw.items(), key=lambda kv: len(kv[0])):
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if any(p in model and model[p] is not None for p in parents):
            continue
        path = "/".join(parts)
        if path in model:
            continue
        for p in parents:
            model[p] = None
        model[path] = data
    return model


def materialise(model: Model, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for path, data in sorted(model.items()):
        target = root / path
        if data is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def image_model(image: wimcore.Image) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for entry in image.walk():
        if entry.path == "/":
            continue
        out[entry.path.lstrip("/")] = None if entry.is_dir else (entry.sha1 or "")
    return out


def size_model(image: wimcore.Image) -> dict[str, int | None]:
    """Paths and sizes (files added in memory have no SHA-1 until the WIM is written)."""
    return {e.path.lstrip("/"): None if e.is_dir else e.size for e in image.walk() if e.path != "/"}


def sizes(model: Model) -> dict[str, int | None]:
    return {p: None if d is None else len(d) for p, d in model.items()}


def digest_model(model: Model) -> dict[str, str | None]:
    return {p: None if d is None else (hashlib.sha1(d).hexdigest() if d else "")
            for p, d in model.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=TREES, compression=st.sampled_from(["none", "xpress", "lzx", "lzms"]))
def test_random_trees_round_trip(tree: dict[tuple[str, ...], bytes | None],
                                 compression: str) -> None:
    model = normalise(tree)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        materialise(model, root / "src")
        wimcore.capture(root / "src", root / "t.wim", "T", compression=compression)
        with wimcore.open(root / "t.wim") as wim:
            assert image_model(wim.images[1]) == digest_model(model)
            wim.images[1].apply(root / "out")
        assert tree_digest(root / "out") == tree_digest(root / "src")


OPS = st.lists(
    st.tuples(st.sampled_from(["add", "delete", "rename"]), st.integers(0, 1000),
              NAMES, st.binary(max_size=2000)),
    min_size=1, max_size=8,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=TREES, ops=OPS)
def test_random_edit_sequences_match_the_model(tree: dict[tuple[str, ...], bytes | None],
                                               ops: list[tuple[str, int, str, bytes]]) -> None:
    model = normalise(tree)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        materialise(model, root / "src")
        wimcore.capture(root / "src", root / "t.wim", "T", compression="xpress")
        with wimcore.open(root / "t.wim", writable=True) as wim:
            image = wim.images[1]
            for n, (op, pick, name, data) in enumerate(ops):
                dirs = ["", *sorted(p for p, d in model.items() if d is None)]
                paths = sorted(model)
                if op == "add":
                    parent = dirs[pick % len(dirs)]
                    target = f"{parent}/{name}".lstrip("/")
                    if target in model and model[target] is None:
                        continue  # adding a file over a directory: not a model case
                    host = root / f"add{n}"
                    host.write_bytes(data)
                    with image.edit() as edit:
                        edit.add(host, "/" + target)
                    model[target] = data
                elif op == "delete" and paths:
                    victim = paths[pick % len(paths)]
                    with image.edit() as edit:
                        edit.delete("/" + victim, recursive=True)
                    for p in [p for p in model if p == victim or p.startswith(victim + "/")]:
                        del model[p]
                elif op == "rename" and paths:
                    source = paths[pick % len(paths)]
                    parent = source.rpartition("/")[0]
                    target = f"{parent}/{name}".lstrip("/")
                    if target in model or target == source:
                        continue
                    with image.edit() as edit:
                        edit.rename("/" + source, "/" + target)
                    for p in [p for p in model if p == source or p.startswith(source + "/")]:
                        model[target + p[len(source):]] = model.pop(p)
                assert size_model(image) == sizes(model)
            wim.commit()
        with wimcore.open(root / "t.wim") as wim:
            assert image_model(wim.images[1]) == digest_model(model)
            wim.images[1].apply(root / "out")
        shutil.rmtree(root / "src")
        materialise(model, root / "src")
        assert tree_digest(root / "out") == tree_digest(root / "src")


def test_batched_edit_is_all_or_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "keep").mkdir(parents=True)
    (src / "keep" / "a.txt").write_text("a")
    wimcore.capture(src, tmp_path / "t.wim", "T")
    new = tmp_path / "new.txt"
    new.write_text("new")
    with wimcore.open(tmp_path / "t.wim", writable=True) as wim:
        image = wim.images[1]
        try:
            with image.edit() as edit:
                edit.add(new, "/new.txt")
                edit.rename("/keep/a.txt", "/keep/b.txt")
                edit.delete("/missing")  # fails: the whole batch must be rolled back
        except wimcore.PathNotFoundError:
            pass
        else:
            raise AssertionError("deleting a missing path should fail")
        assert image.exists("/keep/a.txt") and not image.exists("/new.txt")
        with image.edit() as edit:
            edit.delete("/missing", force=True)
            edit.add(new, "/new.txt")
        assert image.read_bytes("/new.txt") == b"new"


def test_parse_wimlib_imagex_update_commands(tmp_path: Path) -> None:
    cmds = wimcore.parse_commands(
        "# comment\n"
        "add --no-acls 'my dir' /Target\n"
        "delete --force --recursive /Windows/Temp\n"
        "rename /a.txt /b.txt\n")
    assert cmds == [
        wimcore.AddCommand("my dir", "/Target", no_acls=True),
        wimcore.DeleteCommand("/Windows/Temp", recursive=True, force=True),
        wimcore.RenameCommand("/a.txt", "/b.txt"),
    ]
    import pytest

    for bad in ("copy a b", "add onlyone", "delete --bogus /x", "rename a"):
        with pytest.raises(wimcore.InvalidParameterError):
            wimcore.parse_commands(bad)
