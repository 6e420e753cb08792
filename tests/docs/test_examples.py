"""The documentation's code examples run: every ```python block of README.md and
docs/**/*.md preceded by ``<!-- runnable -->`` is executed, page by page, in a fresh
folder that holds the sample media as ``demo/`` (``wimcore sample create demo``).

The blocks of one page share one namespace and run in order, as a reader would run them.
An example that no longer matches the code (a renamed function, a changed result) fails
here instead of drifting.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from wimcore.media import create_sample

MARK = "<!-- runnable -->"
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])


def runnable_blocks(page: Path) -> list[tuple[int, str]]:
    """(first line number, code) of each block the page marks runnable."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == MARK:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j == len(lines) or lines[j].strip() != "```python":
                raise ValueError(f"{page}:{i + 1}: {MARK} must come right before a ```python block")
            end = j + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise ValueError(f"{page}:{j + 1}: the block never ends")
            blocks.append((j + 2, "\n".join(lines[j + 1:end]) + "\n"))
            i = end
        i += 1
    return blocks


RUNNABLE = {page: runnable_blocks(page) for page in PAGES}


@pytest.fixture(scope="session")
def sample_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample media the examples use, made once."""
    return create_sample(tmp_path_factory.mktemp("docs-sample") / "demo", seed=0)


def test_the_guides_carry_runnable_examples() -> None:
    pages = {page.relative_to(REPO).as_posix() for page, blocks in RUNNABLE.items() if blocks}
    assert {"README.md", "docs/guide/imagex.md", "docs/guide/packages.md",
            "docs/guide/servicing.md", "docs/guide/media.md", "docs/guide/hives.md"} <= pages


def test_a_marker_without_a_block_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Page\n\n{MARK}\n\n```sh\nls\n```\n")
    with pytest.raises(ValueError, match="must come right before"):
        runnable_blocks(page)


@pytest.mark.parametrize("page", [p for p in PAGES if RUNNABLE[p]],
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_examples_run(page: Path, sample_media: Path, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                      ) -> None:
    shutil.copytree(sample_media, tmp_path / "demo")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs_example__"}
    for line, code in RUNNABLE[page]:
        exec(compile(code, f"{page}:{line}", "exec"), namespace)  # running it is the point
    # Every example prints what it shows; an example that printed nothing ran nothing.
    assert capsys.readouterr().out.strip()
