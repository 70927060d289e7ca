"""The README and docs/ stay true: the targets they name, the links they give, the settings table;
and they describe the code, not its history: no commit hashes, no story of runs."""

from __future__ import annotations

import re
import subprocess

import pytest

from app.config import settings
from tests.processes import PROJECT

README = (PROJECT / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in sorted((PROJECT / "docs").glob("*.md"))}
PAGES = {"README.md": README, **{f"docs/{name}": text for name, text in DOCS.items()}}
# A hex word of 7 to 12 characters, with at least two letters and a digit, that is not part of
# a longer word, a dotted name or a number (the reviewer's heuristic for a commit's hash).
HEX_WORD = re.compile(r"(?<![\w.])[0-9a-f]{7,12}(?![\w.])")
URL = re.compile(r"https?://\S+")
# Words that tell the story of runs rather than state what is measured and its bounds.
NARRATIVE = re.compile(
    r"\b(?:last|earlier|previous) (?:runs?|sessions?)\b|\(missed\)|in most runs|this (?:2-core )?machine",
    flags=re.IGNORECASE,
)
# The generated report marks each target it measures as met or missed.
VERDICT = re.compile(r"\((?:met|missed)\)")


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


def commit_like(text: str) -> list[str]:
    """The hex words in `text`, outside URLs, that could be a commit's hash."""
    words = HEX_WORD.findall(URL.sub(" ", text))
    return [w for w in words if sum(c.isalpha() for c in w) >= 2 and any(c.isdigit() for c in w)]


def test_commit_like_words() -> None:
    assert commit_like("the code at 0291cc1, in the same run") == ["0291cc1"]
    assert commit_like("(fixed in 86ec6a7)") == ["86ec6a7"]
    innocent = "12345678 bytes, deadbeef, 0x1f2e3d4c, v1.2.3abcd, cafe12ab_x, https://example.org/b2a1c9d0e3f"
    assert commit_like(innocent) == []


@pytest.mark.parametrize("page", PAGES)
def test_no_commit_hashes(page: str) -> None:
    """Pages describe the code as it is; git keeps which commit did what."""
    assert commit_like(PAGES[page]) == []


@pytest.mark.parametrize("page", PAGES)
def test_no_story_of_runs(page: str) -> None:
    """Figures are stated with their command, machine and bounds, not as a story of runs; only the
    generated report marks targets met or missed."""
    text = VERDICT.sub("", PAGES[page]) if page == "docs/benchmark.md" else PAGES[page]
    assert NARRATIVE.findall(text) == []
