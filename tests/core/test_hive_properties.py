"""Property test: random key trees with random values survive build, commit and re-read."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import regipy.registry as regipy_registry  # the independent hive reader ([test] extra)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wimcore.hive import Hive, ValueType, build_hive, encode_value
from wimcore.hive_minimal import minimal_hive

MINIMAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hives" / "minimal"
T = ValueType

# ASCII names keep regipy usable as an oracle (it misreads Latin-1 compressed names);
# the case-folding of non-ASCII names is covered by the example tests.
_name = st.text(st.sampled_from("abcXYZ019 _-.{}"), min_size=1, max_size=12)
_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"),
                max_size=40)
_value = st.one_of(
    _text,
    st.lists(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"),
                     min_size=1, max_size=10), max_size=5),
    st.integers(0, 2**32 - 1),
    st.integers(2**32, 2**64 - 1),
    st.binary(max_size=200),
    st.tuples(st.just(T.REG_EXPAND_SZ), _text),
    st.tuples(st.just(T.REG_DWORD_BIG_ENDIAN), st.integers(0, 2**32 - 1)),
    st.none(),
)


def _unique(names: list[str]) -> bool:
    return len({n.upper() for n in names}) == len(names)


def _node(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    values = st.dictionaries(_name.map(lambda n: "v" + n), _value, max_size=4)
    if depth == 0:
        return values
    children = st.dictionaries(_name.map(lambda n: "k" + n), _node(depth - 1), max_size=3)
    return st.tuples(values, children).map(lambda vc: {**vc[0], **vc[1]})


_tree = _node(3).filter(lambda t: _all_unique(t))


def _all_unique(tree: dict[str, Any]) -> bool:
    if not _unique(list(tree)):
        return False
    return all(_all_unique(v) for v in tree.values() if isinstance(v, dict))


def _expected(tree: dict[str, Any], prefix: str = "") -> tuple[dict[str, dict[str, Any]], ...]:
    """Model: key path -> {value name (upper) -> (type, decoded data)}."""
    keys: dict[str, dict[str, Any]] = {prefix: {}}
    for name, item in tree.items():
        if isinstance(item, dict):
            path = f"{prefix}\\{name}" if prefix else name
            (sub,) = _expected(item, path)
            keys.update(sub)
        else:
            type_, data = item if isinstance(item, tuple) else (None, item)
            t, _ = encode_value(data, type_)
            if t == T.REG_NONE:
                data = b""
            keys[prefix][name] = (t, data)
    return (keys,)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_tree, shared=st.booleans())
def test_random_trees_round_trip(tree: dict[str, Any], shared: bool) -> None:
    base = MINIMAL.read_bytes() if shared and MINIMAL.is_file() else minimal_hive()
    data = build_hive(tree, base=base)
    (model,) = _expected(tree)
    with Hive.from_bytes(data) as hive:
        seen = {key.path: {v.name: (v.type, v.data) for v in key.values()}
                for key in hive.walk()}
    assert seen == model
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hive"
        path.write_bytes(data)
        oracle = regipy_registry.RegistryHive(str(path))
        paths = {sk.path.strip("\\"): sk for sk in oracle.recurse_subkeys(as_json=False)}
        assert set(paths) == set(model)
        for key_path, values in model.items():
            got = {v.name: v for v in paths[key_path].values}
            assert set(got) == set(values)
            for name, (t, value) in values.items():
                assert got[name].value_type == T(t).name
                if t in (T.REG_SZ, T.REG_EXPAND_SZ, T.REG_DWORD, T.REG_QWORD,
                         T.REG_MULTI_SZ):
                    assert got[name].value == value
