"""The README and docs/ stay true: the targets they name, the links they give, the settings table."""

from __future__ import annotations

import re
import subprocess

import pytest

from app.config import settings
from tests.processes import PROJECT

README = (PROJECT / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in sorted((PROJECT / "docs").glob("*.md"))}
PAGES = {"README.md": README, **{f"docs/{name}": text for name, text in DOCS.items()}}


def make_targets() -> set[str]:
    """The targets `make help` lists."""
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=PROJECT, capture_output=True, text=True
    )
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


def anchor(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_named_targets_exist() -> None:
    named = {name for text in PAGES.values() for name in re.findall(r"`make ([a-z-]+)", text)}
    assert named <= make_targets()


def test_every_target_in_readme() -> None:
    assert {target for target in make_targets() if f"make {target}`" not in README} == set()


@pytest.mark.parametrize("page", PAGES)
def test_links_resolve(page: str) -> None:
    base = (PROJECT / page).parent
    for target in re.findall(r"\]\(([^)#\s]+\.md)?(?:#([^)\s]+))?\)", PAGES[page]):
        path, fragment = target
        linked = (base / path).resolve() if path else PROJECT / page
        assert linked.is_file(), f"{page} links to {path}"
        if fragment:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.MULTILINE)
            assert fragment in {anchor(heading) for heading in headings}, f"{page} links to {path}#{fragment}"


def test_settings_table() -> None:
    """The README's table is every setting Config declares, in order, with its default and meaning."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| (.+) \|$", README, flags=re.MULTILINE)
    expected = [(s.name, f"`{s.default}`" if s.default else "unset", s.meaning) for s in settings()]
    assert rows == expected
