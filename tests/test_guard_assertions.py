"""A guard for the suite itself: every test function checks something.

Each module under tests/ is parsed with ``ast``; a test function (``test_*``) must contain
an ``assert``, a ``raise AssertionError``, a ``pytest.raises``/``pytest.warns``/``pytest.fail``
call, or a call to a helper that checks. A helper checks when its name starts with
``assert_`` or ``check_`` (the suite's convention for checking helpers), or when it is a
function defined at module level in tests/ (called by name, through ``from tests... import``
or through an imported tests module) whose own body checks by the same rule, followed to any
depth. What fails that rule is listed, unless it is one of ALLOWED, each with its reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

# Test functions that legitimately assert nothing themselves, and why.
ALLOWED: dict[str, str] = {
    "tests/reliability/fuzz_targets.py::test_fuzz_wim_xml":
        "crash-only fuzz oracle: a crash or an untyped exception fails it; test_fuzz.py runs "
        "it in a child and checks the counted outcomes",
    "tests/reliability/fuzz_targets.py::test_fuzz_update_mum":
        "crash-only fuzz oracle (as test_fuzz_wim_xml)",
    "tests/reliability/fuzz_targets.py::test_fuzz_hive":
        "crash-only fuzz oracle (as test_fuzz_wim_xml)",
}

PYTEST_CHECKS = {"raises", "warns", "fail", "deprecated_call"}
HELPER_PREFIXES = ("assert_", "check_")


@dataclass
class Module:
    """One parsed module: its functions and the names it imports from tests modules."""

    name: str
    path: Path
    tree: ast.Module
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # local -> (module, name)
    modules: dict[str, str] = field(default_factory=dict)  # local alias -> tests module


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def load_modules() -> dict[str, Module]:
    """Every .py file under tests/, parsed, with its module-level functions and imports."""
    found: dict[str, Module] = {}
    for path in sorted(TESTS.rglob("*.py")):
        mod = Module(_module_name(path), path, ast.parse(path.read_text(), str(path)))
        for node in mod.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                mod.functions[node.name] = node
        found[mod.name] = mod
    for mod in found.values():
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in found:  # from tests.x import module
                        mod.modules[alias.asname or alias.name] = full
                    elif node.module in found:  # from tests.x.y import function
                        mod.imported[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in found and alias.asname:
                        mod.modules[alias.asname] = alias.name
    return found


def _direct_check(node: ast.AST) -> bool:
    """An assert, a raise of AssertionError, or a pytest.raises/warns/fail call in ``node``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert):
            return True
        if isinstance(sub, ast.Raise) and sub.exc is not None:
            target = sub.exc.func if isinstance(sub.exc, ast.Call) else sub.exc
            if isinstance(target, ast.Name) and target.id == "AssertionError":
                return True
        if isinstance(sub, ast.Call):
            func = sub.func
            if (isinstance(func, ast.Attribute) and func.attr in PYTEST_CHECKS
                    and isinstance(func.value, ast.Name) and func.value.id == "pytest"):
                return True
    return False


def _callees(mod: Module, node: ast.AST) -> tuple[list[str], list[tuple[str, str]]]:
    """Names called in ``node``, and the (module, function) pairs they resolve to in tests/."""
    names: list[str] = []
    targets: list[tuple[str, str]] = []
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        if isinstance(func, ast.Name):
            names.append(func.id)
            if func.id in mod.functions:
                targets.append((mod.name, func.id))
            elif func.id in mod.imported:
                targets.append(mod.imported[func.id])
        elif isinstance(func, ast.Attribute):
            names.append(func.attr)
            if isinstance(func.value, ast.Name) and func.value.id in mod.modules:
                targets.append((mod.modules[func.value.id], func.attr))
    return names, targets


class Checker:
    """Decides, with memory, whether a function of tests/ checks something."""

    def __init__(self, modules: dict[str, Module]) -> None:
        self.modules = modules
        self.memo: dict[tuple[str, str], bool] = {}

    def checks(self, mod: Module, node: ast.AST, key: tuple[str, str]) -> bool:
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False  # a cycle that finds no check does not check
        names, targets = _callees(mod, node)
        result = (_direct_check(node) or any(n.startswith(HELPER_PREFIXES) for n in names)
                  or any(self._helper_checks(t) for t in targets))
        self.memo[key] = result
        return result

    def _helper_checks(self, target: tuple[str, str]) -> bool:
        module = self.modules.get(target[0])
        if module is None or target[1] not in module.functions:
            return False
        return self.checks(module, module.functions[target[1]], target)


def find_test_functions(modules: dict[str, Module]
                   ) -> list[tuple[str, Module, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(id, module, node) of every ``test_*`` function, in modules and in classes."""
    out = []
    for mod in modules.values():
        rel = mod.path.relative_to(REPO).as_posix()
        for node in mod.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                candidates = [(node.name, node)]
            elif isinstance(node, ast.ClassDef):
                candidates = [(f"{node.name}::{f.name}", f) for f in node.body
                              if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
            else:
                continue
            for name, func in candidates:
                if name.rsplit("::", 1)[-1].startswith("test_"):
                    out.append((f"{rel}::{name}", mod, func))
    return out


def unchecked_tests() -> list[str]:
    """Ids of the test functions that check nothing by the rule of this module."""
    modules = load_modules()
    checker = Checker(modules)
    return sorted(test_id for test_id, mod, func in find_test_functions(modules)
                  if not checker.checks(mod, func, (mod.name, f"<test>{test_id}")))


def test_every_test_checks_something() -> None:
    unchecked = unchecked_tests()
    new = [t for t in unchecked if t not in ALLOWED]
    assert new == [], ("test functions that assert nothing (add a check, or, for a crash-only "
                       "oracle, name it in ALLOWED with its reason): " + ", ".join(new))
    stale = sorted(set(ALLOWED) - set(unchecked))
    assert stale == [], f"ALLOWED names tests that now check something or are gone: {stale}"


def test_the_guard_sees_what_it_must() -> None:
    """The rule itself, on small known modules: what checks and what does not."""
    source = '''
import pytest
def helper_that_checks(x):
    assert x
def helper_that_does_not(x):
    return x
def test_assert():
    assert 1
def test_raises():
    with pytest.raises(ValueError):
        int("x")
def test_helper():
    helper_that_checks(1)
def test_named_helper():
    check_something(1)
def test_nothing():
    helper_that_does_not(1)
def test_raise_assertion():
    raise AssertionError("no")
class TestGroup:
    def test_in_class(self):
        print("nothing")
'''
    mod = Module("tests.fake", TESTS / "fake.py", ast.parse(source))
    for node in mod.tree.body:
        if isinstance(node, ast.FunctionDef):
            mod.functions[node.name] = node
    checker = Checker({mod.name: mod})
    verdicts = {test_id.split("::", 1)[1]: checker.checks(mod, func, (mod.name, test_id))
                for test_id, _, func in find_test_functions({mod.name: mod})}
    assert verdicts == {"test_assert": True, "test_raises": True, "test_helper": True,
                        "test_named_helper": True, "test_nothing": False,
                        "test_raise_assertion": True, "TestGroup::test_in_class": False}
